package store

import (
	"github.com/broadcast-dev/broadcast/internal/broadcast"
	"github.com/broadcast-dev/broadcast/internal/redisclient"
)

// Keyspace builds every key the store, and the packages that keep state
// beside it (engage, the console), write: each under one prefix
// (REDIS_PREFIX), so that applications sharing a Redis never meet. The
// prefix comes before a key's hash tag, so it never moves a key to another
// slot: all keys of one tag stay in one slot whatever the prefix.
//
// Keys of one broadcast share {b:<id>}, of a tenant's pacing {t:<tenant>},
// of its directory {d:<tenant>}, of its unreachable users {u:<tenant>}, of
// a user's engagement {e:<tenant>:<user>}: every script and MULTI keeps to
// the keys of one tag (registry.go says how an operation that must also
// touch the registries, keys of their own, is split).
type Keyspace struct{ prefix string }

// NewKeyspace returns the keyspace under prefix, which
// redisclient.CheckPrefix must accept.
func NewKeyspace(prefix string) (Keyspace, error) {
	if err := redisclient.CheckPrefix(prefix); err != nil {
		return Keyspace{}, err
	}
	return Keyspace{prefix: prefix}, nil
}

// Prefix is the keyspace's prefix.
func (ks Keyspace) Prefix() string { return ks.prefix }

// Key is name under the prefix.
func (ks Keyspace) Key(name string) string { return ks.prefix + name }

// The registries: sorted sets of broadcast ids (registry.go).
const (
	keyAll             = "broadcasts"                  // by creation time: every broadcast
	keyExpanding       = "broadcasts:expanding"        // by registration time: expansions to run or resume
	keyScheduled       = "broadcasts:scheduled"        // by sendAt (ms): DueScheduled, StartScheduled
	keyPendingApproval = "broadcasts:pending_approval" // by creation time: what the approvals page lists
	keyCanceling       = "broadcasts:canceling"        // by registration time: cancels to sweep
	keyChanging        = "broadcasts:changing"         // by registration time: <id>:<edit|recall> to run or resume
)

// bkeys are the keys of one broadcast, in the order the scripts expect them.
type bkeys struct {
	id                       string
	meta, counts, rec, users string
	idx                      map[broadcast.State]string
	// ops records the answers of fenced calls (fence.go).
	ops string
	// expander is the lease of the dispatcher expanding it (expansion.go).
	expander string
	// outcomes counts the recipients reaching sent, blocked or failed per
	// minute (series.go).
	outcomes string
}

// tag is the start of every key of broadcast id: its hash tag.
func (ks Keyspace) tag(id string) string { return ks.prefix + "{b:" + id + "}:" }

func (ks Keyspace) keysOf(id string) bkeys {
	p := ks.tag(id)
	k := bkeys{id: id, meta: ks.MetaKey(id), counts: p + "counts", rec: ks.RecordKey(id), users: p + "users", ops: p + "ops",
		expander: p + "expander", outcomes: p + "outcomes",
		idx: make(map[broadcast.State]string, len(broadcast.States))}
	for _, s := range broadcast.States {
		k.idx[s] = p + "idx:" + string(s)
	}
	return k
}

// script returns the KEYS list every recipient script takes: record hash,
// counters, meta, then one index per state in broadcast.States order.
func (k bkeys) script() []string {
	out := []string{k.rec, k.counts, k.meta}
	for _, s := range broadcast.States {
		out = append(out, k.idx[s])
	}
	return out
}

// RecordKey and MetaKey name a broadcast's recipient records and meta, for
// the packages that keep state beside them under the same hash tag
// (engage): their scripts check a recipient in the same slot.
func (ks Keyspace) RecordKey(id string) string { return ks.tag(id) + "rec" }
func (ks Keyspace) MetaKey(id string) string   { return ks.tag(id) + "meta" }

// ExpanderKey names a broadcast's expansion lease (its holder's name), for
// the packages whose scripts write only while the caller holds it (wave).
func (ks Keyspace) ExpanderKey(id string) string { return ks.keysOf(id).expander }

// DirectoryTag is the hash tag of a tenant's directory cache, under the
// prefix, for the packages that cache beside it (wave: mailbox time zones).
func (ks Keyspace) DirectoryTag(tenant string) string { return ks.prefix + "{d:" + tenant + "}" }

// BroadcastKey is a key of the broadcast's named name, beside its records
// (engage's keys).
func (ks Keyspace) BroadcastKey(id, name string) string { return ks.tag(id) + name }

// UserKey is a key of the user's named name, under the hash tag
// {e:<tenant>:<user>} (engage's keys).
func (ks Keyspace) UserKey(tenant, user, name string) string {
	return ks.prefix + "{e:" + tenant + ":" + user + "}:" + name
}

type audienceKeys struct {
	aud, excl, upns, xids, xupns, unresUPNs, unresIDs, unresGroups string
}

func (ks Keyspace) audienceKeysOf(id string) audienceKeys {
	p := ks.tag(id)
	return audienceKeys{aud: p + "aud", excl: p + "excl", upns: p + "in:upns", xids: p + "in:xids", xupns: p + "in:xupns",
		unresUPNs: p + "unres:upns", unresIDs: p + "unres:ids", unresGroups: p + "unres:groups"}
}

type ckeys struct{ meta, counts, rec, sent, op, opc string }

func (ks Keyspace) changeKeys(id string, op broadcast.Stage) ckeys {
	k := ks.keysOf(id)
	p := ks.tag(id) + string(op)
	return ckeys{meta: k.meta, counts: k.counts, rec: k.rec, sent: k.idx[broadcast.StateSent], op: p, opc: p + ":counts"}
}

// jobFailuresKey is the hash of a broadcast's jobs that failed: job name
// (queue's: stream and sequence) -> failed attempts.
func (ks Keyspace) jobFailuresKey(id string) string { return ks.tag(id) + "jobfail" }

func (ks Keyspace) convKey(tenant, user string) string {
	return ks.prefix + "conv:" + tenant + ":" + user
}

// A tenant's pause, slots and learned rate share the hash tag {t:<tenant>}:
// one script reads them all on Redis Cluster too.
func (ks Keyspace) pauseKey(tenant string) string { return ks.prefix + "{t:" + tenant + "}:pause" }
func (ks Keyspace) rateKey(tenant string) string  { return ks.prefix + "{t:" + tenant + "}:rate" }
func (ks Keyspace) aimdKey(tenant string) string  { return ks.prefix + "{t:" + tenant + "}:aimd" }

// tenantListKey is a tenant's broadcasts by creation time (ms); keyAll
// holds every tenant's.
func (ks Keyspace) tenantListKey(tenant string) string {
	return ks.prefix + "{t:" + tenant + "}:broadcasts"
}

// uninstalledKey: who uninstalled the app is reinstalled by the next
// broadcast (the conversation is forgotten), so is only unreachable if
// that fails.
func (ks Keyspace) uninstalledKey(tenant string) string {
	return ks.prefix + "{u:" + tenant + "}:uninstalled"
}

// announcedKey is the install the bot endpoint heard of last for the user
// (the conversation), for AnnounceTTL: Teams announces one install twice,
// as a conversationUpdate and as an installationUpdate.
func (ks Keyspace) announcedKey(tenant, user string) string {
	return ks.prefix + "botinst:" + tenant + ":" + user
}

func (ks Keyspace) unreachableKey(tenant string) string {
	return ks.prefix + "{u:" + tenant + "}:unreachable"
}

func (ks Keyspace) unreachableAtKey(tenant string) string {
	return ks.prefix + "{u:" + tenant + "}:unreachable:at"
}

// idemKey is idem:<tenant>:<actor>:<key>: a tenant id and an actor name
// (auth.Key) have no ':', so no two scopes make one string.
func (ks Keyspace) idemKey(k IdempotencyKey) string {
	return ks.prefix + "idem:" + k.Tenant + ":" + k.Actor + ":" + k.Key
}

// installMarkKey belongs to one job (scope: its broadcast and round): an
// install another broadcast made may have been undone since.
func (ks Keyspace) installMarkKey(tenant, user, scope string) string {
	return ks.prefix + "inst:" + tenant + ":" + user + ":" + scope
}

// A tenant's directory cache and its sync share the hash tag {d:<tenant>}.
func (ks Keyspace) dirKey(tenant, name string) string {
	return ks.prefix + "{d:" + tenant + "}:" + name
}
func (ks Keyspace) dirUsersKey(tenant string) string   { return ks.dirKey(tenant, "users") }
func (ks Keyspace) dirUPNKey(tenant string) string     { return ks.dirKey(tenant, "upn") }
func (ks Keyspace) dirMembersKey(tenant string) string { return ks.dirKey(tenant, "members") }
func (ks Keyspace) dirGuestsKey(tenant string) string  { return ks.dirKey(tenant, "guests") }
func (ks Keyspace) dirSyncKey(tenant string) string    { return ks.dirKey(tenant, "sync") }
func (ks Keyspace) dirSeenKey(tenant string) string    { return ks.dirKey(tenant, "seen") }

// DirLeaseKey is the key of a tenant's directory sync lease.
func (ks Keyspace) DirLeaseKey(tenant string) string { return ks.dirKey(tenant, "lease") }

func (ks Keyspace) dirKeys(tenant string) []string {
	return []string{ks.dirUsersKey(tenant), ks.dirUPNKey(tenant), ks.dirMembersKey(tenant), ks.dirGuestsKey(tenant), ks.dirSeenKey(tenant)}
}
