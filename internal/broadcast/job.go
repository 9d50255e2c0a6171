package broadcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Stage is the step of the pipeline a job is queued for.
type Stage string

const (
	StageInstall Stage = "install"
	StageSend    Stage = "send"
)

// Job carries one recipient of one broadcast through the pipeline. It holds
// ids only: the message itself is read from the store once per broadcast.
type Job struct {
	BroadcastID    string `json:"b"`
	TenantID       string `json:"t"`
	UserID         string `json:"u"`
	ConversationID string `json:"c,omitempty"`
	// Reinstall counts how often a send came back because the conversation was
	// gone or the app not installed; it is sent back to install once at most.
	Reinstall int `json:"ri,omitempty"`
}

// MsgID is the JetStream message id for the job at stage: republishing the
// same job (a resumed expansion, a retried hand-off) within the stream's
// duplicate window is dropped by the server.
func (j Job) MsgID(stage Stage) string {
	return j.BroadcastID + ":" + j.UserID + ":" + string(stage) + ":" + strconv.Itoa(j.Reinstall)
}

// Marshal encodes the job.
func (j Job) Marshal() []byte {
	b, _ := json.Marshal(j) // a struct of strings and ints cannot fail
	return b
}

// ErrBadJob marks a job that can never be processed; it is terminated, not
// redelivered.
var ErrBadJob = errors.New("malformed job")

// DecodeJob decodes and checks a job taken from a stream.
func DecodeJob(data []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return j, fmt.Errorf("%w: %v", ErrBadJob, err)
	}
	switch {
	case j.BroadcastID == "":
		return j, fmt.Errorf("%w: no broadcast id", ErrBadJob)
	case !IsGUID(j.TenantID):
		return j, fmt.Errorf("%w: tenant id %q is not a GUID", ErrBadJob, clip(j.TenantID))
	case !IsGUID(j.UserID):
		return j, fmt.Errorf("%w: user id %q is not a GUID", ErrBadJob, clip(j.UserID))
	case j.Reinstall < 0:
		return j, fmt.Errorf("%w: negative reinstall count", ErrBadJob)
	}
	return j, nil
}
