package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
)

// keyCheck is a client hook that holds the store to the Cluster's rules
// and its own, whatever Redis the tests run on: every key of a script or a
// MULTI has the same hash tag (one slot), every script names its keys in
// KEYS (Redis checks the rest on a Cluster), and every key starts with
// the store's prefix.
type keyCheck struct {
	prefix string
	mu     sync.Mutex
	bad    []string
}

// keyless are the commands the store sends that name no key.
var keyless = map[string]bool{"time": true, "ping": true, "script": true, "hello": true, "client": true,
	"cluster": true, "info": true, "readonly": true, "select": true, "auth": true, "command": true, "multi": true, "exec": true}

// cmdKeys returns the keys cmd names.
func cmdKeys(cmd redis.Cmder) []string {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	switch {
	case keyless[name] || len(args) < 2:
		return nil
	case strings.HasPrefix(name, "eval"):
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		keys := make([]string, 0, n)
		for _, a := range args[3 : 3+n] {
			keys = append(keys, argString(a))
		}
		return keys
	}
	return []string{argString(args[1])}
}

func argString(a any) string {
	switch v := a.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// hashTag is what decides a key's slot: the part between the first { and
// the next }, when not empty, else the key.
func hashTag(key string) string {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			return key[i+1 : i+1+j]
		}
	}
	return key
}

func (c *keyCheck) check(what string, keys []string) {
	tags := map[string]bool{}
	for _, k := range keys {
		tags[hashTag(k)] = true
		if !strings.HasPrefix(k, c.prefix) {
			c.fail(what + ": key " + k + " lacks the prefix " + c.prefix)
		}
	}
	if len(tags) > 1 {
		c.fail(what + ": keys of more than one slot: " + strings.Join(keys, " "))
	}
}

func (c *keyCheck) fail(msg string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, msg)
}

func (c *keyCheck) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *keyCheck) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.check(cmd.Name(), cmdKeys(cmd))
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook checks a MULTI's keys together; a plain pipeline's
// commands may be of any slots (go-redis splits it by node).
func (c *keyCheck) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		tx := len(cmds) > 0 && strings.EqualFold(cmds[0].Name(), "multi")
		var all []string
		for _, cmd := range cmds {
			keys := cmdKeys(cmd)
			c.check(cmd.Name(), keys)
			all = append(all, keys...)
		}
		if tx {
			c.check("MULTI", all)
		}
		return next(ctx, cmds)
	}
}

// report fails t with what the hook saw.
func (c *keyCheck) report(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		t.Error(b)
	}
}

// The check itself tells a cross-slot script and an unprefixed key.
func TestKeyCheckSeesCrossSlotAndUnprefixedKeys(t *testing.T) {
	c := &keyCheck{prefix: "p:"}
	c.check("evalsha", []string{"p:{b:1}:meta", "p:{b:1}:rec"})
	c.check("get", []string{"p:conv:t:u"})
	if len(c.bad) != 0 {
		t.Fatalf("false alarms: %v", c.bad)
	}
	c.check("evalsha", []string{"p:{b:1}:meta", "p:broadcasts"})
	c.check("get", []string{"conv:t:u"})
	if len(c.bad) != 2 {
		t.Fatalf("want two violations, got %v", c.bad)
	}
	eval := redis.NewCmd(context.Background(), "evalsha", "sha", 2, "p:{b:1}:meta", "p:{b:2}:meta", "arg")
	if got := cmdKeys(eval); len(got) != 2 || got[1] != "p:{b:2}:meta" {
		t.Fatalf("script keys: %v", got)
	}
}
