package broadcast

import (
	"bytes"
	"io"
)

// Change stages: the edit or the recall of a message already sent, one job
// per recipient who got it, through the senders' rate-limited pipeline.
const (
	StageEdit   Stage = "edit"
	StageRecall Stage = "recall"
)

// ChangeStatus is the lifecycle of an edit or a recall.
type ChangeStatus string

const (
	// ChangeRunning: recipients are being queued or their updates (deletes)
	// are not all final yet.
	ChangeRunning ChangeStatus = "running"
	// ChangeCompleted: every recipient queued is final (done, failed or
	// skipped). A send that was on its way when the change started may
	// still add one recipient, which makes it running again.
	ChangeCompleted ChangeStatus = "completed"
)

// ChangeProgress counts the recipients of a broadcast's edit or recall,
// exactly, as Counts does for the sends. Total = Pending + Done + Failed
// + Skipped; Pending includes the calls in flight.
type ChangeProgress struct {
	// Round is the edit's number (1 for the first edit, and for the recall).
	// A new edit supersedes the one before: the counters are the round's.
	Round   int          `json:"round,omitempty"`
	Status  ChangeStatus `json:"status"`
	Total   int64        `json:"total"`
	Pending int64        `json:"pending"`
	Done    int64        `json:"done"`    // updated (edit) or deleted (recall)
	Failed  int64        `json:"failed"`  // Teams refused: blocked, bad message, retries exhausted
	Skipped int64        `json:"skipped"` // the message or conversation is gone (404), or the edit was recalled
}

// ChangeResult is the answer of an edit or a recall: its round and how
// many recipients it is queued for (those sent when it started; a send on
// its way then adds its recipient later).
type ChangeResult struct {
	BroadcastID string `json:"broadcastId"`
	Round       int    `json:"round"`
	Queued      int64  `json:"queued"`
}

// EditRequest is the body of POST /v1/broadcasts/{id}/edit: the new
// message, validated as a create's.
type EditRequest struct {
	Message Message `json:"message"`
}

// DecodeEditRequest reads an edit request strictly and validates its
// message as a create request's.
func DecodeEditRequest(r io.Reader) (*EditRequest, error) {
	var req EditRequest
	if err := decodeStrict(r, &req); err != nil {
		return nil, err
	}
	if err := req.Normalize(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Normalize validates the request's message.
func (r *EditRequest) Normalize() error {
	v := &ValidationError{}
	r.Message.validate(v)
	return v.orNil()
}

// DecodeRecallRequest reads the body of POST /v1/broadcasts/{id}/recall:
// empty, or an empty JSON object (a recall has no options yet).
func DecodeRecallRequest(r io.Reader) error {
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	var none struct{}
	return decodeStrict(bytes.NewReader(body), &none)
}
