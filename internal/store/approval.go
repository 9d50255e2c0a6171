package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/broadcast-dev/broadcast/internal/broadcast"
)

// approvalFields are the meta fields of a broadcast the approval policy
// held back, as created.
func approvalFields(b *broadcast.Broadcast) []any {
	if b.Approval == nil {
		return nil
	}
	return []any{"approval_rule", b.Approval.Rule}
}

func readApprovalFields(b *broadcast.Broadcast, m map[string]string) {
	if m["approval_rule"] == "" {
		return
	}
	a := &broadcast.Approval{Rule: m["approval_rule"], Decision: broadcast.Decision(m["decision"]),
		By: m["decided_by"], Comment: m["decision_comment"], RequestID: m["approval_request"]}
	if v := m["decided_at"]; v != "" {
		t := msTime(v)
		a.At = &t
	}
	b.Approval = a
}

// decideScript records an approver's decision on a broadcast pending
// approval, in one step with its start: approved, it becomes scheduled
// when its sendAt is still ahead, else expanding; rejected, it ends
// rejected. It, cancel() and another decision each change the status in
// one script: of an approval and a cancel racing, one wins and the other
// sees its result. Decide then registers it in broadcasts:scheduled or
// broadcasts:expanding and takes it out of broadcasts:pending_approval
// (registry.go); PendingApproval settles one left there half-way.
//
// KEYS: meta (then the fence's record). ARGV: now (ms), id, decision
// (approved or rejected), the decider, the comment (then the fence's).
// Returns {verdict, status, sendAt}: verdict is done (status the new one),
// missing, own (the decider created it) or not_pending (status the one it
// has).
var decideScript = fencedScript(`
local function apply()
  local now, decision, by = tonumber(ARGV[1]), ARGV[3], ARGV[4]
  local m = redis.call('HMGET', KEYS[1], 'status', 'created_by', 'send_at')
  if not m[1] then return {'missing', '', ''} end
  if m[1] ~= 'pending_approval' then return {'not_pending', m[1], ''} end
  if m[2] and m[2] ~= '' and m[2] == by then return {'own', m[1], ''} end
  redis.call('HSET', KEYS[1], 'decision', decision, 'decided_by', by, 'decided_at', now, 'decision_comment', ARGV[5])
  if decision == 'rejected' then
    redis.call('HSET', KEYS[1], 'status', 'rejected', 'completed_at', now)
    return {'done', 'rejected', ''}
  end
  local at = tonumber(m[3])
  if at and at > now then
    redis.call('HSET', KEYS[1], 'status', 'scheduled')
    return {'done', 'scheduled', m[3]}
  end
  redis.call('HSET', KEYS[1], 'status', 'expanding', 'started_at', now)
  return {'done', 'expanding', ''}
end
`)

// Decide records an approver's decision on a broadcast pending approval
// and returns the status it has now: scheduled or expanding when
// approved (the caller starts an expanding one's expansion), rejected.
// The broadcast's creator is refused with a *broadcast.ForbiddenError
// (own_broadcast), a broadcast that is not pending with a
// *broadcast.ConflictError (not_pending). It is fenced (fence.go):
// another error is ErrNotApplied, a *broadcast.OutcomeUnknownError, or a
// failure before anything was sent.
func (s *Store) Decide(ctx context.Context, id string, d broadcast.Decision, by, comment string) (broadcast.Status, error) {
	keys := []string{s.keysOf(id).meta}
	op := "approve"
	if d == broadcast.DecisionRejected {
		op = "reject"
	}
	out, err := s.fenced(ctx, op, id, decideScript, s.keysOf(id).ops, keys, s.nowMS(), id, string(d), by, comment)
	if err != nil {
		return "", err
	}
	res, _ := out.([]any)
	if len(res) != 3 {
		return "", fmt.Errorf("%s %s: unexpected answer %v", op, id, out)
	}
	verdict, _ := res[0].(string)
	st, _ := res[1].(string)
	switch verdict {
	case "done":
		sendAt, _ := res[2].(string)
		// The decision stands whatever this answers: one left in
		// pending_approval is settled by PendingApproval.
		_ = s.settle(ctx, id, s.Key(keyPendingApproval), broadcast.Status(st), sendAt)
		return broadcast.Status(st), nil
	case "missing":
		return "", fmt.Errorf("broadcast %s: %w", id, ErrNotFound)
	case "own":
		return "", &broadcast.ForbiddenError{Code: "own_broadcast",
			Message: "nobody approves or rejects their own broadcast: " + by + " created it; another approver must decide"}
	}
	return "", &broadcast.ConflictError{Code: "not_pending",
		Message: "the broadcast is " + st + ", not pending approval: only a broadcast waiting for approval can be approved or rejected"}
}

// SetApprovalRequest records the broadcast that told the approvers about
// broadcast id.
func (s *Store) SetApprovalRequest(ctx context.Context, id, requestID string) error {
	if err := s.rdb.HSet(ctx, s.keysOf(id).meta, "approval_request", requestID).Err(); err != nil {
		return fmt.Errorf("record the approval request of %s: %w", id, err)
	}
	return nil
}

// PendingApproval lists up to n broadcasts waiting for an approver,
// oldest first. One registered there that is no longer pending (decided
// or canceled by a process that died before it unregistered it), or has
// no record, is settled (registry.go) and left out.
func (s *Store) PendingApproval(ctx context.Context, n int64) ([]string, error) {
	from := s.Key(keyPendingApproval)
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: from, Start: 0, Stop: n - 1}).Result()
	if err != nil {
		return nil, fmt.Errorf("list broadcasts pending approval: %w", err)
	}
	cmds := make([]*redis.SliceCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HMGet(ctx, s.keysOf(id).meta, "status", "send_at")
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list broadcasts pending approval: %w", err)
	}
	pending := ids[:0]
	for i, id := range ids {
		v := cmds[i].Val()
		st, _ := v[0].(string)
		if broadcast.Status(st) == broadcast.StatusPendingApproval {
			pending = append(pending, id)
			continue
		}
		sendAt, _ := v[1].(string)
		if err := s.settle(ctx, id, from, broadcast.Status(st), sendAt); err != nil {
			return nil, fmt.Errorf("list broadcasts pending approval: %w", err)
		}
	}
	return pending, nil
}
