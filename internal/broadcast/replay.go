package broadcast

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ReplayRequest is the body of POST /v1/broadcasts/{id}/replay; every
// field is optional, and an empty body replays every failure that may pass
// except blocked and disabled users.
type ReplayRequest struct {
	// Reasons replays only the recipients that ended with one of them.
	// Naming blocked_by_user or bot_disabled asks for those users too.
	Reasons []Reason `json:"reasons,omitempty"`
	// UserIDs replays only these recipients.
	UserIDs []string `json:"userIds,omitempty"`
	// IncludeBlocked adds the users who blocked the bot and those whose
	// admin disabled it to the default reasons.
	IncludeBlocked bool `json:"includeBlocked,omitempty"`
}

// DecodeReplayRequest reads a replay request strictly and validates it.
func DecodeReplayRequest(r io.Reader) (*ReplayRequest, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var req ReplayRequest
	if len(bytes.TrimSpace(body)) > 0 {
		if err := decodeStrict(bytes.NewReader(body), &req); err != nil {
			return nil, err
		}
	}
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Normalize validates the request, lowercases and deduplicates its user
// ids and reasons.
func (q *ReplayRequest) Normalize() error {
	v := &ValidationError{}
	seen := make(map[Reason]bool)
	reasons := q.Reasons[:0:0]
	for i, r := range q.Reasons {
		r = Reason(strings.ToLower(strings.TrimSpace(string(r))))
		switch {
		case !r.known():
			v.add(fmt.Sprintf("reasons[%d]", i), "unknown reason %q; one of %s", clip(string(r)), reasonNames())
		case !r.Replayable():
			v.add(fmt.Sprintf("reasons[%d]", i), "%s cannot be replayed: Teams would refuse the same message again", r)
		case !seen[r]:
			seen[r] = true
			reasons = append(reasons, r)
		}
	}
	q.Reasons = reasons
	if len(q.UserIDs) > MaxExplicitUsers {
		v.add("userIds", "at most %d users, not %d", MaxExplicitUsers, len(q.UserIDs))
	} else {
		q.UserIDs = userIDs(v, "userIds", q.UserIDs)
	}
	return v.orNil()
}

// Allowed returns the reasons the request replays.
func (q *ReplayRequest) Allowed() []Reason {
	if len(q.Reasons) > 0 {
		return q.Reasons
	}
	var out []Reason
	for _, r := range Reasons {
		if r.ReplayedByDefault() || (q.IncludeBlocked && r.Replayable()) {
			out = append(out, r)
		}
	}
	return out
}

// ReplayResult is the answer of a replay.
type ReplayResult struct {
	BroadcastID string `json:"broadcastId"`
	// Round numbers the replay: recipients it queued carry it as their
	// replayRound.
	Round int `json:"round"`
	// Queued recipients were reopened and their jobs queued again.
	Queued int `json:"queued"`
	// Skipped failures did not match the request, or their recipient is no
	// longer failed (sent by an earlier replay, or queued already).
	Skipped int `json:"skipped"`
	// Incomplete says the replay stopped before it had gone through every
	// failure kept (the store or the queue stopped answering): what it
	// queued stays queued, and a replay again queues the rest, never a
	// recipient twice.
	Incomplete bool `json:"incomplete,omitempty"`
}

func (r Reason) known() bool {
	for _, k := range Reasons {
		if k == r {
			return true
		}
	}
	return false
}

func reasonNames() string {
	var names []string
	for _, r := range Reasons {
		if r.Replayable() {
			names = append(names, string(r))
		}
	}
	return strings.Join(names, ", ")
}
