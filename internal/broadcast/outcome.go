package broadcast

import (
	"fmt"
	"time"
)

// OutcomeUnknownError says that a state-changing call may or may not have
// taken effect: its write was sent, no answer came back, and the store
// could not be asked within the call's time. It cannot take effect after
// NotAfter (the write is fenced: see store.Fence); GET the broadcast to
// learn what happened once the service answers again.
type OutcomeUnknownError struct {
	// Op names the call: create, cancel, replay, edit, recall.
	Op          string
	BroadcastID string
	NotAfter    time.Time
}

func (e *OutcomeUnknownError) Error() string {
	return fmt.Sprintf("the %s of broadcast %s may or may not have taken effect: the store did not answer in time; "+
		"it cannot take effect after %s", e.Op, e.BroadcastID, e.NotAfter.UTC().Format(time.RFC3339Nano))
}
