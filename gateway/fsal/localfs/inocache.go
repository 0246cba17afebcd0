package localfs

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// The inode handle cache.
//
// LOOKUP and READDIR describe an entry with statx(dirfd, name) and then ask
// the kernel for its handle with name_to_handle_at(dirfd, name) and tag it
// with an HMAC: the second path walk and the HMAC are more than half of
// what a lookup costs. The statx answer already identifies the object, so
// the tagged handle is remembered under that identity and the second walk
// is skipped when it is known.
//
// The identity is (device, inode number, birth time). An inode number alone
// is reused after a removal, with a new generation and hence a new handle;
// the birth time tells the two apart, except when the old object was born
// in the same clock tick as its successor (timestamps are stamped from a
// coarse clock). So only objects born more than minAge before the lookup
// are remembered: anything reusing their inode number is born after they
// were removed, which is after that lookup, hence at least minAge later,
// and gets another key. Filesystems that report no birth time, and kernels
// that do not report the mount id in statx (the check that the entry lies
// on the export's mount rather than on one mounted over it), are not
// cached.
//
// A hit also skips name_to_handle_at's race with a rename between the two
// walks: the handle always belongs to the object statx described.

// minAge is how old an object must be to be cached; far above any clock
// tick.
const minAge = time.Second

type inoKey struct {
	major, minor uint32
	ino          uint64
	bsec         int64
	bnsec        uint32
}

// inoCache maps inoKey to the tagged handle. It is sharded and read-locked
// like handleCache; entries are immutable, so callers copy them out.
type inoCache struct {
	perShard int
	minAge   time.Duration // minAge but in tests
	shards   [cacheShards]inoShard
}

type inoShard struct {
	mu sync.RWMutex
	m  map[inoKey]fsal.Handle
	_  [40]byte
}

func newInoCache(size int) *inoCache {
	c := &inoCache{perShard: max(1, size/cacheShards), minAge: minAge}
	for i := range c.shards {
		c.shards[i].m = make(map[inoKey]fsal.Handle)
	}
	return c
}

// keyOf returns the cache key of what st describes, and false when st
// cannot be cached: no birth time or mount id reported, or not on mountID.
func keyOf(st *unix.Statx_t, mountID int) (inoKey, bool) {
	if st.Mask&(unix.STATX_BTIME|unix.STATX_MNT_ID) != unix.STATX_BTIME|unix.STATX_MNT_ID ||
		st.Mnt_id != uint64(mountID) {
		return inoKey{}, false
	}
	return inoKey{st.Dev_major, st.Dev_minor, st.Ino, st.Btime.Sec, st.Btime.Nsec}, true
}

func (c *inoCache) shard(k *inoKey) *inoShard {
	return &c.shards[k.ino%cacheShards]
}

// get returns the cached handle of st's object, nil if unknown. The
// result must not be modified.
func (c *inoCache) get(st *unix.Statx_t, mountID int) fsal.Handle {
	k, ok := keyOf(st, mountID)
	if !ok {
		return nil
	}
	s := c.shard(&k)
	s.mu.RLock()
	h := s.m[k]
	s.mu.RUnlock()
	return h
}

// add remembers h as the handle of st's object if it is old enough (see
// minAge). h is copied.
func (c *inoCache) add(st *unix.Statx_t, mountID int, h fsal.Handle, now time.Time) {
	k, ok := keyOf(st, mountID)
	if !ok {
		return
	}
	born := time.Unix(st.Btime.Sec, int64(st.Btime.Nsec))
	if now.Sub(born) < c.minAge {
		return
	}
	h = append(fsal.Handle(nil), h...)
	s := c.shard(&k)
	s.mu.Lock()
	if len(s.m) >= c.perShard {
		for old := range s.m { // evict an arbitrary entry
			delete(s.m, old)
			break
		}
	}
	s.m[k] = h
	s.mu.Unlock()
}
