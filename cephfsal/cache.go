//go:build !noceph

package cephfsal

import (
	"sync"
	"sync/atomic"
)

// refCache is a bounded, sharded map of reference-counted C resources
// (libcephfs inode references, UserPerms). It exists because libcephfs
// objects must not be freed while a concurrent call still uses them: the
// cache holds one reference, every user takes another for the duration of
// its call, and whoever drops the last one frees the resource. Lookups take
// only a shard's read lock and one atomic add, so the hot path never
// serializes on a global lock, and no lock is ever held across a cgo call.
type refCache[K comparable, V any] struct {
	perShard int
	hash     func(K) uint64
	free     func(V)
	shards   [cacheShards]refShard[K, V]
}

const cacheShards = 64

type refShard[K comparable, V any] struct {
	mu sync.RWMutex
	m  map[K]*ref[V]
	_  [32]byte // keep shards on separate cache lines
}

// ref is one cached resource. refs counts the cache's reference (while the
// entry is in the map) plus one per user.
type ref[V any] struct {
	v    V
	refs atomic.Int32
	free func(V)
}

func newRefCache[K comparable, V any](size int, hash func(K) uint64, free func(V)) *refCache[K, V] {
	c := &refCache[K, V]{perShard: max(1, size/cacheShards), hash: hash, free: free}
	for i := range c.shards {
		c.shards[i].m = make(map[K]*ref[V])
	}
	return c
}

func (c *refCache[K, V]) shard(k K) *refShard[K, V] {
	return &c.shards[c.hash(k)%cacheShards]
}

// get returns the entry for k with a reference the caller must release, or
// nil.
func (c *refCache[K, V]) get(k K) *ref[V] {
	s := c.shard(k)
	s.mu.RLock()
	r := s.m[k]
	if r != nil {
		// Safe under the read lock: the entry is in the map, so the
		// cache's own reference keeps refs above zero.
		r.refs.Add(1)
	}
	s.mu.RUnlock()
	return r
}

// add caches v under k and returns it with a caller reference. If k is
// already cached, the existing entry is returned instead and v is freed, so
// that concurrent resolutions of one key converge on one resource.
func (c *refCache[K, V]) add(k K, v V) *ref[V] {
	s := c.shard(k)
	s.mu.Lock()
	if r := s.m[k]; r != nil {
		r.refs.Add(1)
		s.mu.Unlock()
		c.free(v)
		return r
	}
	var evicted *ref[V]
	if len(s.m) >= c.perShard {
		for ek, er := range s.m { // an arbitrary victim
			delete(s.m, ek)
			evicted = er
			break
		}
	}
	r := &ref[V]{v: v, free: c.free}
	r.refs.Store(2) // the cache's and the caller's
	s.m[k] = r
	s.mu.Unlock()
	if evicted != nil {
		evicted.release()
	}
	return r
}

// remove drops k's entry if it is still r (a newer entry for the same key
// is left alone).
func (c *refCache[K, V]) remove(k K, r *ref[V]) {
	s := c.shard(k)
	s.mu.Lock()
	if s.m[k] != r {
		s.mu.Unlock()
		return
	}
	delete(s.m, k)
	s.mu.Unlock()
	r.release()
}

// clear drops every entry.
func (c *refCache[K, V]) clear() {
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		old := s.m
		s.m = make(map[K]*ref[V])
		s.mu.Unlock()
		for _, r := range old {
			r.release()
		}
	}
}

// len counts the cached entries (for tests and metrics).
func (c *refCache[K, V]) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// release drops one reference, freeing the resource with the last.
func (r *ref[V]) release() {
	if r.refs.Add(-1) == 0 {
		r.free(r.v)
	}
}

// mix spreads consecutive integers (inode numbers are allocated in runs)
// over the shards.
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	return x
}

// inoSet is a bounded, sharded set of inode numbers: the non-directories an
// export handed out, which stay provably inside it after their inode
// references were evicted (a proof costs 8 bytes, a reference far more).
type inoSet struct {
	perShard int
	shards   [cacheShards]inoShard
}

type inoShard struct {
	mu sync.RWMutex
	m  map[uint64]struct{}
	_  [32]byte
}

func newInoSet(size int) *inoSet {
	s := &inoSet{perShard: max(1, size/cacheShards)}
	for i := range s.shards {
		s.shards[i].m = make(map[uint64]struct{})
	}
	return s
}

func (s *inoSet) has(ino uint64) bool {
	sh := &s.shards[mix(ino)%cacheShards]
	sh.mu.RLock()
	_, ok := sh.m[ino]
	sh.mu.RUnlock()
	return ok
}

func (s *inoSet) add(ino uint64) {
	sh := &s.shards[mix(ino)%cacheShards]
	sh.mu.Lock()
	if _, ok := sh.m[ino]; !ok {
		if len(sh.m) >= s.perShard {
			for k := range sh.m { // an arbitrary victim
				delete(sh.m, k)
				break
			}
		}
		sh.m[ino] = struct{}{}
	}
	sh.mu.Unlock()
}
