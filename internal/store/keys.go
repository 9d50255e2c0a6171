package store

import "github.com/broadcast-dev/broadcast/internal/broadcast"

const (
	keyAll       = "broadcasts"
	keyExpanding = "broadcasts:expanding"
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

func keysOf(id string) bkeys {
	p := "{b:" + id + "}:"
	k := bkeys{id: id, meta: MetaKey(id), counts: p + "counts", rec: RecordKey(id), users: p + "users", ops: p + "ops",
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

// jobFailuresKey is the hash of a broadcast's jobs that failed: job name
// (queue's: stream and sequence) -> failed attempts.
func jobFailuresKey(id string) string { return "{b:" + id + "}:jobfail" }

func convKey(tenant, user string) string { return "conv:" + tenant + ":" + user }

// A tenant's pause, slots and learned rate share the hash tag {t:<tenant>}:
// one script reads them all on Redis Cluster too.
func pauseKey(tenant string) string { return "{t:" + tenant + "}:pause" }
func rateKey(tenant string) string  { return "{t:" + tenant + "}:rate" }
func aimdKey(tenant string) string  { return "{t:" + tenant + "}:aimd" }

// RecordKey and MetaKey name a broadcast's recipient records and meta, for
// the packages that keep state beside them under the same hash tag
// (engage): their scripts check a recipient in the same slot.
func RecordKey(id string) string { return "{b:" + id + "}:rec" }
func MetaKey(id string) string   { return "{b:" + id + "}:meta" }

// ExpanderKey names a broadcast's expansion lease (its holder's name), for
// the packages whose scripts write only while the caller holds it (wave).
func ExpanderKey(id string) string { return keysOf(id).expander }

// DirectoryTag is the hash tag of a tenant's directory cache, for the
// packages that cache beside it (wave: mailbox time zones).
func DirectoryTag(tenant string) string { return "{d:" + tenant + "}" }
