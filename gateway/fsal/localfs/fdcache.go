package localfs

import (
	"hash/maphash"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fdCache keeps O_PATH descriptors of recently used handles, so that
// Getattr — the most frequent NFS request — costs one statx instead of
// open_by_handle_at + statx + close. An entry is reference counted: the
// cache holds one reference and each user one more, and the descriptor is
// closed with the last, so eviction can never close a descriptor under a
// statx (a reused descriptor number would describe another file).
//
// A cached descriptor keeps working after its file is unlinked, so users
// treat a link count of zero as a miss and go the slow way, which reports
// ESTALE exactly as before.
type fdCache struct {
	seed     maphash.Seed
	perShard int
	lim      *dentLimit // of the entry caches of the directories
	shards   [fdShards]fdShard
}

const fdShards = 64

type fdShard struct {
	mu sync.Mutex
	m  map[string]*cachedFD
}

type cachedFD struct {
	fd   int
	refs atomic.Int32
	lim  *dentLimit
	ents atomic.Pointer[dirEnts] // of a directory, once a Lookup in it filled some (dents.go)
}

func (e *cachedFD) release() {
	if e.refs.Add(-1) == 0 {
		if d := e.ents.Load(); d != nil {
			d.drop(e.lim)
		}
		unix.Close(e.fd)
	}
}

// entries returns the entry cache of the directory e describes, making it
// on first use, watched by n when n can. The caller must hold a reference.
func (e *cachedFD) entries(n *notifier) *dirEnts {
	if d := e.ents.Load(); d != nil {
		return d
	}
	d := new(dirEnts)
	watched := n.watch(d, e.fd)
	if !e.ents.CompareAndSwap(nil, d) && watched {
		n.unwatch(d)
	}
	return e.ents.Load()
}

// newFDCache sizes the cache to at most max descriptors, whose directory
// entry caches hold at most maxEnts entries together.
func newFDCache(max, maxEnts int) *fdCache {
	c := &fdCache{seed: maphash.MakeSeed(), perShard: max / fdShards, lim: &dentLimit{max: int64(maxEnts)}}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*cachedFD)
	}
	return c
}

func (c *fdCache) shard(h []byte) *fdShard {
	return &c.shards[maphash.Bytes(c.seed, h)%fdShards]
}

// get returns a referenced entry for h, or nil.
func (c *fdCache) get(h []byte) *cachedFD {
	if c == nil || c.perShard == 0 {
		return nil
	}
	sh := c.shard(h)
	sh.mu.Lock()
	e := sh.m[string(h)]
	if e != nil {
		e.refs.Add(1)
	}
	sh.mu.Unlock()
	return e
}

// put hands fd to the cache; the caller must not close it afterwards.
func (c *fdCache) put(h []byte, fd int) {
	if c == nil || c.perShard == 0 {
		unix.Close(fd)
		return
	}
	e := &cachedFD{fd: fd, lim: c.lim}
	e.refs.Store(1)
	c.insert(h, e)
}

// add hands fd to the cache and returns its entry referenced for the
// caller, who must release it. With the cache disabled it returns nil and
// the caller keeps fd.
func (c *fdCache) add(h []byte, fd int) *cachedFD {
	if c == nil || c.perShard == 0 {
		return nil
	}
	e := &cachedFD{fd: fd, lim: c.lim}
	e.refs.Store(2)
	c.insert(h, e)
	return e
}

func (c *fdCache) insert(h []byte, e *cachedFD) {
	sh := c.shard(h)
	sh.mu.Lock()
	var evicted []*cachedFD
	if old := sh.m[string(h)]; old != nil {
		evicted = append(evicted, old)
	}
	for k, v := range sh.m {
		if len(sh.m) < c.perShard {
			break
		}
		// Map order is random enough to evict by.
		delete(sh.m, k)
		evicted = append(evicted, v)
	}
	sh.m[string(h)] = e
	sh.mu.Unlock()
	for _, v := range evicted {
		v.release()
	}
}

// drop removes e if it is still the entry for h.
func (c *fdCache) drop(h []byte, e *cachedFD) {
	sh := c.shard(h)
	sh.mu.Lock()
	if sh.m[string(h)] == e {
		delete(sh.m, string(h))
	} else {
		e = nil
	}
	sh.mu.Unlock()
	if e != nil {
		e.release()
	}
}

// close drops every entry.
func (c *fdCache) close() {
	if c == nil {
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		m := sh.m
		sh.m = make(map[string]*cachedFD)
		sh.mu.Unlock()
		for _, e := range m {
			e.release()
		}
	}
}
