//go:build !noceph

package cephfsal

import (
	"sync"
	"time"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// A listing that does not fit one READDIR reply keeps its libcephfs
// directory stream open for the client's next READDIR, keyed by the cookie
// that READDIR will carry. libcephfs marks a directory complete in its cache
// only when one stream reads it from start to end; a stream per reply
// (opendir + seekdir) never did, so every listing of a large directory went
// back to the MDS: 9 MDS readdir requests per 10,000-entry listing, and the
// MDS's CPU on the cores the gateway shares.
type dirCont struct {
	d         cephll.Dir
	b         *cephll.DirBatch // entries b[next:got) read but not yet served
	next, got int
	more      bool
	pending   *fsal.DirEntry // built for the last reply but did not fit
	at        time.Time
}

type contKey struct {
	ino, cookie uint64
	uid, gid    uint32
	groups      uint64 // hash of the supplementary groups
}

func contKeyOf(ino, cookie uint64, c *fsal.Cred) contKey {
	k := contKey{ino: ino, cookie: cookie}
	if c != nil {
		k.uid, k.gid = c.UID, c.GID
		for _, g := range c.Groups {
			k.groups = mix(k.groups ^ uint64(g))
		}
	}
	return k
}

const (
	maxDirConts = 64               // open streams kept per export
	dirContTTL  = 30 * time.Second // a client that stops listing leaves its stream this long
)

type dirConts struct {
	mu sync.Mutex // never held across cgo
	m  map[contKey]*dirCont
}

// take removes and returns the continuation for k, if any.
func (dc *dirConts) take(k contKey) *dirCont {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	c := dc.m[k]
	if c != nil {
		delete(dc.m, k)
	}
	return c
}

// put keeps c for k and returns the continuations it pushed out (expired,
// the oldest beyond maxDirConts, or an older one for the same key), which
// the caller releases.
func (dc *dirConts) put(k contKey, c *dirCont, now time.Time) (out []*dirCont) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.m == nil {
		dc.m = make(map[contKey]*dirCont)
	}
	if old := dc.m[k]; old != nil {
		out = append(out, old)
	}
	c.at = now
	dc.m[k] = c
	for key, v := range dc.m {
		if now.Sub(v.at) > dirContTTL {
			out = append(out, v)
			delete(dc.m, key)
		}
	}
	for len(dc.m) > maxDirConts {
		var oldest contKey
		var at time.Time
		for key, v := range dc.m {
			if at.IsZero() || v.at.Before(at) {
				oldest, at = key, v.at
			}
		}
		out = append(out, dc.m[oldest])
		delete(dc.m, oldest)
	}
	return out
}

// drain removes every continuation, for the export's close.
func (dc *dirConts) drain() (out []*dirCont) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	for k, v := range dc.m {
		out = append(out, v)
		delete(dc.m, k)
	}
	return out
}

// releaseCont closes c's stream and drops the references of its unserved
// entries.
func (fs *FS) releaseCont(c *dirCont) {
	for i := c.next; i < c.got; i++ {
		if in := c.b.Inodes[i]; in.Valid() {
			fs.ll.Put(in)
		}
		c.b.Inodes[i] = cephll.Inode{}
	}
	c.next, c.got = 0, 0
	dirBatches.Put(c.b)
	fs.ll.Releasedir(c.d)
}
