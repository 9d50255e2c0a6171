package demo

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/broadcast-dev/broadcast/internal/teamsim"
)

// The demo runs at Teams' latency unless told otherwise; NoLatency is the
// zero-latency variant.
func TestTiming(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                     string
		o                        Options
		latency, jitter, network time.Duration
	}{
		{"default: realistic", Options{}, teamsim.DefaultLatency, teamsim.DefaultLatencyJitter, teamsim.DefaultNetworkJitter},
		{"none", Options{NoLatency: true, Latency: time.Second}, 0, 0, 0},
		{"latency alone: as much jitter", Options{Latency: 20 * time.Millisecond}, 20 * time.Millisecond, 20 * time.Millisecond, teamsim.DefaultNetworkJitter},
		{"both", Options{Latency: 10 * time.Millisecond, LatencyJitter: 5 * time.Millisecond}, 10 * time.Millisecond, 5 * time.Millisecond, teamsim.DefaultNetworkJitter},
	} {
		var c teamsim.Config
		tc.o.timing(&c)
		require.Equal(t, tc.latency, c.Latency, tc.name)
		require.Equal(t, tc.jitter, c.LatencyJitter, tc.name)
		require.Equal(t, tc.network, c.NetworkJitter, tc.name)
		if tc.o.Latency == 0 && !tc.o.NoLatency {
			require.Equal(t, teamsim.DefaultChatReadyDelay, c.ChatReadyDelay, tc.name)
			require.Equal(t, teamsim.DefaultChatReadyJitter, c.ChatReadyJitter, tc.name)
		} else {
			require.Zero(t, c.ChatReadyDelay+c.ChatReadyJitter, tc.name, "with the realistic profile only")
		}
	}
}
