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

// inoEntry is what the cache holds for an inode number: the rest of the
// identity, checked on every hit, and the handle. Keying the map by the
// number alone keeps lookups on the fast uint64 map path (a struct key was
// 12 % of a READDIR); two objects with one number (btrfs subvolumes share
// a mount) just replace each other.
type inoEntry struct {
	major, minor uint32
	bnsec        uint32
	bsec         int64
	h            fsal.Handle
}

func (e *inoEntry) is(st *unix.Statx_t) bool {
	return e.major == st.Dev_major && e.minor == st.Dev_minor && e.bsec == st.Btime.Sec && e.bnsec == st.Btime.Nsec
}

// inoCache maps inode numbers to tagged handles. It is sharded and
// read-locked like handleCache; handles are immutable, so callers copy
// them out.
type inoCache struct {
	perShard int
	minAge   time.Duration // minAge but in tests
	shards   [cacheShards]inoShard
}

type inoShard struct {
	mu sync.RWMutex
	m  map[uint64]inoEntry
	_  [40]byte
}

func newInoCache(size int) *inoCache {
	c := &inoCache{perShard: max(1, size/cacheShards), minAge: minAge}
	for i := range c.shards {
		c.shards[i].m = make(map[uint64]inoEntry)
	}
	return c
}

// cacheable reports whether st can be cached: it has a birth time and a
// mount id, and lies on mountID.
func cacheable(st *unix.Statx_t, mountID int) bool {
	return st.Mask&(unix.STATX_BTIME|unix.STATX_MNT_ID) == unix.STATX_BTIME|unix.STATX_MNT_ID &&
		st.Mnt_id == uint64(mountID)
}

func (c *inoCache) shard(ino uint64) *inoShard {
	return &c.shards[ino%cacheShards]
}

// get returns the cached handle of st's object, nil if unknown. The
// result must not be modified.
func (c *inoCache) get(st *unix.Statx_t, mountID int) fsal.Handle {
	if !cacheable(st, mountID) {
		return nil
	}
	s := c.shard(st.Ino)
	s.mu.RLock()
	e, ok := s.m[st.Ino]
	s.mu.RUnlock()
	if !ok || !e.is(st) {
		return nil
	}
	return e.h
}

// add remembers h as the handle of st's object if it is old enough (see
// minAge). h is copied.
func (c *inoCache) add(st *unix.Statx_t, mountID int, h fsal.Handle, now time.Time) {
	if !cacheable(st, mountID) {
		return
	}
	born := time.Unix(st.Btime.Sec, int64(st.Btime.Nsec))
	if now.Sub(born) < c.minAge {
		return
	}
	e := inoEntry{major: st.Dev_major, minor: st.Dev_minor, bsec: st.Btime.Sec, bnsec: st.Btime.Nsec,
		h: append(fsal.Handle(nil), h...)}
	s := c.shard(st.Ino)
	s.mu.Lock()
	if _, ok := s.m[st.Ino]; !ok && len(s.m) >= c.perShard {
		for old := range s.m { // evict an arbitrary entry
			delete(s.m, old)
			break
		}
	}
	s.m[st.Ino] = e
	s.mu.Unlock()
}
