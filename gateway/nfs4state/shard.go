package nfs4state

import (
	"hash/maphash"
	"sync"
)

const shardCount = 64

// shardMap spreads a map over independently locked shards so that no lock
// is shared by all clients: two clients only contend when their keys hash
// to the same shard, and then only for a map access.
type shardMap[K comparable, V any] struct {
	seed   maphash.Seed
	shards [shardCount]shard[K, V]
}

type shard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]V
}

func newShardMap[K comparable, V any]() *shardMap[K, V] {
	s := &shardMap[K, V]{seed: maphash.MakeSeed()}
	for i := range s.shards {
		s.shards[i].m = make(map[K]V)
	}
	return s
}

func (s *shardMap[K, V]) shard(k K) *shard[K, V] {
	return &s.shards[maphash.Comparable(s.seed, k)%shardCount]
}

func (s *shardMap[K, V]) get(k K) (V, bool) {
	sh := s.shard(k)
	sh.mu.RLock()
	v, ok := sh.m[k]
	sh.mu.RUnlock()
	return v, ok
}

func (s *shardMap[K, V]) put(k K, v V) {
	sh := s.shard(k)
	sh.mu.Lock()
	sh.m[k] = v
	sh.mu.Unlock()
}

func (s *shardMap[K, V]) del(k K) {
	sh := s.shard(k)
	sh.mu.Lock()
	delete(sh.m, k)
	sh.mu.Unlock()
}

// delIf removes k only while it still maps to a value for which keep is
// false, so a concurrent replacement is not undone.
func (s *shardMap[K, V]) delIf(k K, match func(V) bool) {
	sh := s.shard(k)
	sh.mu.Lock()
	if v, ok := sh.m[k]; ok && match(v) {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}

// rangeAll calls fn for a snapshot of every value, shard by shard, without
// holding a lock while fn runs.
func (s *shardMap[K, V]) rangeAll(fn func(V)) {
	var buf []V
	for i := range s.shards {
		sh := &s.shards[i]
		buf = buf[:0]
		sh.mu.RLock()
		for _, v := range sh.m {
			buf = append(buf, v)
		}
		sh.mu.RUnlock()
		for _, v := range buf {
			fn(v)
		}
	}
}

func (s *shardMap[K, V]) len() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// update runs fn on k's value under the shard's write lock; fn returns the
// new value and whether to keep it.
func (s *shardMap[K, V]) update(k K, fn func(v V, ok bool) (V, bool)) {
	sh := s.shard(k)
	sh.mu.Lock()
	v, ok := sh.m[k]
	nv, keep := fn(v, ok)
	if keep {
		sh.m[k] = nv
	} else if ok {
		delete(sh.m, k)
	}
	sh.mu.Unlock()
}
