package store

import (
	"context"
	"fmt"
)

// JobFailed counts one more failed attempt of the broadcast's job named
// job (a handler's error, not a wait it asked for) and returns how many it
// has had, whichever process ran them: the queue dead-letters a job that
// failed too often. Only failed jobs have an entry.
func (s *Store) JobFailed(ctx context.Context, id, job string) (int, error) {
	n, err := s.rdb.HIncrBy(ctx, s.jobFailuresKey(id), job, 1).Result()
	if err != nil {
		return 0, fmt.Errorf("count a failure of job %s of %s: %w", job, id, err)
	}
	return int(n), nil
}
