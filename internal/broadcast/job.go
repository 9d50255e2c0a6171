package broadcast

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
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
	// Round is the replay that queued the job (0: the broadcast's first
	// round). A job of a later round than the recipient's may reopen it
	// (failed or blocked -> pending or installing). At the edit and recall
	// stages it is the edit's (the recall's) round instead.
	Round int `json:"rd,omitempty"`
}

// MsgID is the JetStream message id for the job at stage: republishing the
// same job (a resumed expansion, a retried hand-off) within the stream's
// duplicate window is dropped by the server.
func (j Job) MsgID(stage Stage) string {
	id := j.BroadcastID + ":" + j.UserID + ":" + string(stage) + ":" + strconv.Itoa(j.Reinstall)
	if j.Round > 0 {
		id += ":r" + strconv.Itoa(j.Round)
	}
	return id
}

// Marshal encodes the job.
func (j Job) Marshal() []byte {
	b, _ := json.Marshal(j) // a struct of strings and ints cannot fail
	return b
}

// ErrBadJob marks a job that can never be processed; it is terminated, not
// redelivered.
var ErrBadJob = errors.New("malformed job")

// jobIDRE is what a broadcast id may hold in a job: it becomes a NATS
// subject token and part of consumer names, which refuse '.', wildcards,
// white space and slashes. Broadcast ids are UUIDs.
var jobIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// DecodeJob decodes and checks a job taken from a stream.
func DecodeJob(data []byte) (Job, error) {
	var j Job
	if err := json.Unmarshal(data, &j); err != nil {
		return j, fmt.Errorf("%w: %v", ErrBadJob, err)
	}
	switch {
	case j.BroadcastID == "":
		return j, fmt.Errorf("%w: no broadcast id", ErrBadJob)
	case !jobIDRE.MatchString(j.BroadcastID):
		// It names the job's subject and consumers when the job is handed on.
		return j, fmt.Errorf("%w: broadcast id %q is not a UUID-like token", ErrBadJob, clip(j.BroadcastID))
	case !IsGUID(j.TenantID):
		return j, fmt.Errorf("%w: tenant id %q is not a GUID", ErrBadJob, clip(j.TenantID))
	case !IsGUID(j.UserID):
		return j, fmt.Errorf("%w: user id %q is not a GUID", ErrBadJob, clip(j.UserID))
	case j.Reinstall < 0:
		return j, fmt.Errorf("%w: negative reinstall count", ErrBadJob)
	case j.Round < 0:
		return j, fmt.Errorf("%w: negative replay round", ErrBadJob)
	}
	return j, nil
}

// Failure is a recipient that ended failed or blocked for a reason that may
// pass, as kept in the failed-sends stream for replay.
type Failure struct {
	Job       Job       `json:"job"`
	Stage     Stage     `json:"stage"` // where it failed
	State     State     `json:"state"` // failed or blocked
	Reason    Reason    `json:"reason"`
	LastError string    `json:"error,omitempty"`
	At        time.Time `json:"at"`
}

// Marshal encodes the failure.
func (f Failure) Marshal() []byte {
	b, _ := json.Marshal(f) // strings, ints and a time cannot fail
	return b
}

// MsgID deduplicates a republished failure: one per recipient and round.
func (f Failure) MsgID() string {
	return f.Job.BroadcastID + ":" + f.Job.UserID + ":failed:" + strconv.Itoa(f.Job.Round)
}

// DecodeFailure decodes a failure read from the failed-sends stream.
func DecodeFailure(data []byte) (Failure, error) {
	var f Failure
	if err := json.Unmarshal(data, &f); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadJob, err)
	}
	if _, err := DecodeJob(f.Job.Marshal()); err != nil {
		return f, err
	}
	return f, nil
}
