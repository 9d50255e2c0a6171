package send

import (
	"context"
	"sync"

	"github.com/broadcast-dev/broadcast/internal/message"
	"github.com/broadcast-dev/broadcast/internal/store"
)

// versioned is a broadcast's activity as read at one version: the edit
// round that stored it (0: as created).
type versioned struct {
	json     []byte
	version  int
	personal bool // it has placeholders to fill per recipient
}

// activities caches each broadcast's activity, read once per process and
// version: an edit stores a new one, which a send's follow-up
// (Sender.follow) or an edit job of its round makes this process read.
type activities struct {
	store *store.Store

	mu sync.Mutex
	m  map[string]versioned // by broadcast id, for the broadcasts in flight
}

func newActivities(st *store.Store) *activities {
	return &activities{store: st, m: make(map[string]versioned)}
}

// get returns the broadcast's activity, of version atLeast or later.
func (a *activities) get(ctx context.Context, id string, atLeast int) (versioned, error) {
	a.mu.Lock()
	v, ok := a.m[id]
	a.mu.Unlock()
	if ok && v.version >= atLeast {
		return v, nil
	}
	raw, version, err := a.store.ActivityVersion(ctx, id)
	if err != nil {
		return versioned{}, err
	}
	raw = message.ForBroadcast(raw, id)
	v = versioned{json: raw, version: version, personal: message.Personal(raw)}
	a.mu.Lock()
	if len(a.m) >= 1024 { // a bound: the broadcasts in flight are few
		clear(a.m)
	}
	if cur, ok := a.m[id]; !ok || cur.version <= v.version {
		a.m[id] = v
	}
	a.mu.Unlock()
	return v, nil
}

// saw drops the cached activity of a broadcast if it is older than version.
func (a *activities) saw(id string, version int) {
	a.mu.Lock()
	if v, ok := a.m[id]; ok && v.version < version {
		delete(a.m, id)
	}
	a.mu.Unlock()
}
