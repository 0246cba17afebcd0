package localfs

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// The directory entry cache.
//
// LOOKUP returns only a handle, and a deep path is one LOOKUP per
// component: each was a statx(dirfd, name), a path walk of ~1 µs in the
// kernel. A directory whose descriptor is cached (fdcache.go) also keeps the
// handles of names looked up in it, valid for as long as the directory's
// ctime is what it was when they were found: adding, removing or renaming
// an entry, or changing the directory's owner, mode or ACL, sets a new
// ctime. A hit then costs one statx of the descriptor, without a walk.
//
// Timestamps come from a coarse clock, so a change in the same tick as the
// observation might leave the ctime as it was. Entries are therefore only
// cached while the directory's ctime is more than minAge old when it is
// observed: a later change is stamped at least minAge later. Busy
// directories (ctime younger than that) are not cached at all.
//
// Only root callers use it: root may search every directory, whereas for
// other callers the kernel's permission check (with ACLs and LSMs) would
// have to be redone here. A file system mounted on a cached name later,
// which does not change the directory's ctime, is not seen until the
// directory changes or leaves the descriptor cache; the handle returned
// then still names the covered directory of the export's own file system.

// dirEnts is the entry cache of one directory. It is validated either by
// the directory's ctime or, when n is set, by inotify (notify.go); the mode
// is chosen before the cache is published and never changes.
type dirEnts struct {
	n  *notifier // set with wd before publication
	wd int32

	mu    sync.RWMutex
	ctime unix.StatxTimestamp // of the directory, when m was valid (ctime mode)
	gen   uint64              // bumped by every event applied (inotify mode)
	m     map[string]fsal.Handle
	attrs map[string]attrRec // READDIR's (attrcache.go); inotify mode only
	dead  bool               // left the descriptor cache: nothing more is cached
}

func (d *dirEnts) watched() bool { return d.n != nil }

// dentLimit bounds the entries all directories of an FS cache together;
// past it nothing new is cached until entries go.
type dentLimit struct {
	n   atomic.Int64
	max int64
}

// get returns the cached handle of name if dir (the directory's statx,
// taken just now) still has the ctime the entry was found under. The
// result must not be modified.
func (d *dirEnts) get(name string, dir *unix.Statx_t) fsal.Handle {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.ctime != dir.Ctime {
		return nil
	}
	return d.m[name]
}

// add caches h for name under dir's ctime, observed before the lookup that
// found h; entries found under an older ctime are dropped.
func (d *dirEnts) add(name string, h fsal.Handle, dir *unix.Statx_t, lim *dentLimit, now time.Time, minAge time.Duration) {
	if now.Sub(time.Unix(dir.Ctime.Sec, int64(dir.Ctime.Nsec))) < minAge {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctime != dir.Ctime {
		lim.n.Add(-int64(len(d.m)))
		clear(d.m)
		d.ctime = dir.Ctime
	}
	d.put(name, h, lim)
}

// put caches a copy of h for name unless name is cached or lim is
// reached. d.mu must be held.
func (d *dirEnts) put(name string, h fsal.Handle, lim *dentLimit) {
	if _, ok := d.m[name]; ok {
		return
	}
	if lim.n.Add(1) > lim.max {
		lim.n.Add(-1)
		return
	}
	if d.m == nil {
		d.m = make(map[string]fsal.Handle)
	}
	d.m[name] = append(fsal.Handle(nil), h...)
}

// drop forgets every entry; the directory left the descriptor cache.
func (d *dirEnts) drop(lim *dentLimit) {
	d.mu.Lock()
	lim.n.Add(-int64(len(d.m)))
	d.m = nil
	d.mu.Unlock()
	if d.n != nil {
		d.n.unwatch(d)
	}
}

// getGen returns the cached handle of name (inotify mode), or nil and the
// generation a fill must present to addGen. The caller has made the cache
// fresh (notifier.fresh).
func (d *dirEnts) getGen(name string) (fsal.Handle, uint64) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.m[name], d.gen
}

// addGen caches h for name unless an event was applied since getGen
// returned gen: h may then describe what the event took away.
func (d *dirEnts) addGen(name string, h fsal.Handle, gen uint64, lim *dentLimit) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gen == gen {
		d.put(name, h, lim)
	}
}

// forget applies an event: name lost its inode, or with no name, the whole
// directory changed.
func (d *dirEnts) forget(name []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
	if len(name) == 0 {
		d.n.lim.n.Add(-int64(len(d.m)))
		clear(d.m)
		return
	}
	if _, ok := d.m[string(name)]; ok {
		delete(d.m, string(name))
		d.n.lim.n.Add(-1)
	}
}
