package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Conversation is a user's 1:1 conversation id with the bot.
type Conversation struct {
	User, ID string
}

// ImportCounts is what an import did to the conversation cache.
type ImportCounts struct {
	Imported  int `json:"imported"`  // the user had no cached conversation
	Unchanged int `json:"unchanged"` // the same one was cached
	Replaced  int `json:"replaced"`  // another one was cached
}

// Add adds o's counts to c.
func (c *ImportCounts) Add(o ImportCounts) {
	c.Imported += o.Imported
	c.Unchanged += o.Unchanged
	c.Replaced += o.Replaced
}

// ImportBatch is how many conversations one pipeline of an import writes.
const ImportBatch = 1000

// ImportConversations caches the conversations of tenant's users, a
// pipeline of ImportBatch "SET conv:<tenant>:<user> <id> GET" at a time:
// each key is set and its old value read in one step, so the counts say
// what each write changed. Writing the same file again changes nothing.
// A failure returns the counts of the batches written before it; the
// failed batch may be written in part (each key whole or not at all).
func (s *Store) ImportConversations(ctx context.Context, tenant string, convs []Conversation) (ImportCounts, error) {
	var done ImportCounts
	for len(convs) > 0 {
		batch := convs[:min(len(convs), ImportBatch)]
		convs = convs[len(batch):]
		cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range batch {
				p.SetArgs(ctx, s.convKey(tenant, c.User), c.ID, redis.SetArgs{Get: true})
			}
			return nil
		})
		if err != nil && !errors.Is(err, redis.Nil) {
			return done, fmt.Errorf("import conversations: %w", err)
		}
		var n ImportCounts
		for i, cmd := range cmds {
			old, err := cmd.(*redis.StatusCmd).Result()
			switch {
			case errors.Is(err, redis.Nil):
				n.Imported++
			case err != nil:
				return done, fmt.Errorf("import conversation of %s: %w", batch[i].User, err)
			case old == batch[i].ID:
				n.Unchanged++
			default:
				n.Replaced++
			}
		}
		done.Add(n)
	}
	return done, nil
}
