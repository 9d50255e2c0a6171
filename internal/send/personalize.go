package send

import (
	"context"

	"go.uber.org/zap"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/message"
)

// personalize fills the activity's placeholders with the recipient's
// profile from the directory cache (one HMGET on the tenant's directory
// hash). Resolving the audience caches every recipient's profile; one not
// found (evicted, or a user added since) gets empty values, and a warning
// says so, rather than the message being held back. A Redis error is
// returned: the job is released and redelivered.
func (s *Sender) personalize(ctx context.Context, job broadcast.Job, activity []byte, log *zap.Logger) ([]byte, error) {
	profiles, err := s.store.Profiles(ctx, job.TenantID, []string{job.UserID})
	if err != nil {
		return nil, err
	}
	p, ok := profiles[job.UserID]
	if !ok {
		log.Warn("no cached profile for a personalised message: its placeholders are left empty")
		p = broadcast.Profile{ID: job.UserID}
	}
	return message.Personalize(activity, p), nil
}
