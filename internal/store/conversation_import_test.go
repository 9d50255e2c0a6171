package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

func importRows(n int, conv func(i int) string) []Conversation {
	out := make([]Conversation, n)
	for i := range out {
		out[i] = Conversation{User: userN(i), ID: conv(i)}
	}
	return out
}

// An import counts what it changed; run again it changes nothing.
func TestImportConversations(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := uuid.NewString()
	n := ImportBatch*2 + 500 // three pipelines
	require.NoError(t, s.SetConversation(ctx, tenant, userN(0), "a:1cached"))
	require.NoError(t, s.SetConversation(ctx, tenant, userN(1), "a:1user1"))

	got, err := s.ImportConversations(ctx, tenant, importRows(n, func(i int) string { return fmt.Sprintf("a:1user%d", i) }))
	require.NoError(t, err)
	require.Equal(t, ImportCounts{Imported: n - 2, Unchanged: 1, Replaced: 1}, got)
	users := make([]string, n)
	for i := range users {
		users[i] = userN(i)
	}
	convs, err := s.Conversations(ctx, tenant, users)
	require.NoError(t, err)
	require.Len(t, convs, n)
	require.Equal(t, "a:1user0", convs[userN(0)], "replaced")
	require.Equal(t, fmt.Sprintf("a:1user%d", n-1), convs[userN(n-1)])

	got, err = s.ImportConversations(ctx, tenant, importRows(n, func(i int) string { return fmt.Sprintf("a:1user%d", i) }))
	require.NoError(t, err)
	require.Equal(t, ImportCounts{Unchanged: n}, got, "idempotent")
}

// failPipeline fails the pipelines after the first `after`.
type failPipeline struct{ after, seen atomic.Int32 }

func (f *failPipeline) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (f *failPipeline) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (f *failPipeline) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if f.seen.Add(1) > f.after.Load() {
			return errors.New("connection reset (injected)")
		}
		return next(ctx, cmds)
	}
}

// Redis failing between two batches: the counts of the batches written
// come back with the error, and the same import run again completes it.
func TestImportConversationsFailsBetweenBatches(t *testing.T) {
	t.Parallel()
	s, ctx := newStore(t), context.Background()
	tenant := uuid.NewString()
	hook := &failPipeline{}
	hook.after.Store(1)
	s.rdb.AddHook(hook)
	rows := importRows(ImportBatch*2, func(i int) string { return fmt.Sprintf("a:1user%d", i) })
	got, err := s.ImportConversations(ctx, tenant, rows)
	require.ErrorContains(t, err, "injected")
	require.Equal(t, ImportCounts{Imported: ImportBatch}, got)

	hook.after.Store(1 << 30)
	got, err = s.ImportConversations(ctx, tenant, rows)
	require.NoError(t, err)
	require.Equal(t, ImportCounts{Imported: ImportBatch, Unchanged: ImportBatch}, got)
}
