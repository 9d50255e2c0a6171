package teamsim

import "sync"

const shardCount = 64

// shardedMap is a string-keyed map split into independently locked
// shards, so that lookups from many request goroutines do not queue on one
// lock, and string keys are not boxed as they would be in a sync.Map.
type shardedMap[V any] struct {
	shards [shardCount]shard[V]
}

type shard[V any] struct {
	mu sync.RWMutex
	m  map[string]V
	_  [32]byte // keeps neighbouring shards' locks off one cache line
}

func (m *shardedMap[V]) shard(key string) *shard[V] {
	return &m.shards[hash64(key)%shardCount]
}

func (m *shardedMap[V]) load(key string) (V, bool) {
	s := m.shard(key)
	s.mu.RLock()
	v, ok := s.m[key]
	s.mu.RUnlock()
	return v, ok
}

func (m *shardedMap[V]) store(key string, v V) {
	s := m.shard(key)
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[string]V)
	}
	s.m[key] = v
	s.mu.Unlock()
}

// deleteIf removes every entry for which drop is true.
func (m *shardedMap[V]) deleteIf(drop func(V) bool) {
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		for k, v := range s.m {
			if drop(v) {
				delete(s.m, k)
			}
		}
		s.mu.Unlock()
	}
}
