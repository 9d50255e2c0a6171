package ratelimit

import (
	"context"
	"time"
)

// SetSleep replaces the gate's sleep, for tests that wake it late.
func (g *Gate) SetSleep(f func(ctx context.Context, d time.Duration) error) { g.sleep = f }

// Sleep is the package's sleep.
var Sleep = sleep

// RecheckAfter is how stale a ticket's look at the shared pause may be.
const RecheckAfter = recheckAfter
