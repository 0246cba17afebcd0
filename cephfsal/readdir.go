//go:build !noceph

package cephfsal

import (
	"context"
	"sync"
	"syscall"
	"time"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// Readdir cookies are libcephfs directory positions as telldir reports them
// (and as each entry's d_off carries them: the position after the entry).
// The MDS orders entries by the hash of their names, and a position is
// (0xff<<52 | name hash<<28 | collision index): it names a point in hash
// space, not an index, so resuming from it with seekdir yields exactly the
// entries after it even when entries before it were removed meanwhile, on
// any gateway (it is the same number on every client). "." and ".." take
// positions 1 and 2, so real entries' cookies are above 2, as NFSv4
// requires; cookies 1 and 2 are never issued and are refused.
//
// A listing's directory stream stays open from one reply to the next
// (dircont.go), so that libcephfs reads the directory start to end in one
// stream and can answer later listings from its cache; a READDIR for which
// no stream was kept opens one as the caller (reading a directory needs
// read permission) and seeks to the cookie.
//
// Attributes are the ones the readdir reply carried (AT_STATX_DONT_SYNC).
// Asking for them "as stat would" makes libcephfs send one getattr per entry
// whose caps it lacks, and each of those waits for the MDS to revoke caps
// from the client that wrote the entry: measured, 500 entries created by
// another client took minutes. NFS clients GETATTR what they need exact.
func (fs *FS) Readdir(ctx context.Context, c *fsal.Cred, dir fsal.Handle, cookie uint64, withAttrs bool, fn func(e *fsal.DirEntry) bool) (bool, error) {
	if cookie == 1 || cookie == 2 || cookie > 1<<63-1 {
		return false, syscall.EINVAL
	}
	r, err := fs.resolveDir(ctx, dir)
	if err != nil {
		return false, err
	}
	defer r.release()
	if withAttrs {
		ino, _ := fs.decode(dir)
		return fs.readdirPlus(ctx, c, r, ino, cookie, fn)
	}
	p := fs.m.perm(c)
	d, err := fs.ll.Opendir(ctx, r.v.in, p.p)
	p.release()
	if err != nil {
		return false, err
	}
	defer fs.ll.Releasedir(d)
	if cookie != 0 {
		fs.ll.Seekdir(d, int64(cookie))
	}
	var de cephll.Dirent
	for {
		if ctx.Err() != nil {
			return false, syscall.EINTR
		}
		more, err := fs.ll.Readdir(ctx, d, &de)
		if err != nil {
			return false, err
		}
		if !more {
			return true, nil
		}
		name := de.Name()
		if name == "." || name == ".." {
			continue
		}
		off := de.Off()
		if off <= 2 {
			return false, syscall.EIO // a position NFS cannot carry
		}
		if !fn(&fsal.DirEntry{Name: name, Cookie: uint64(off)}) {
			return false, nil
		}
	}
}

// dirBatchSize is how many entries one libcephfs call reads.
const dirBatchSize = 64

var dirBatches = sync.Pool{New: func() any { return cephll.NewDirBatch(dirBatchSize) }}

// readdirPlus serves a listing with attributes from the stream an earlier
// reply left for this cookie (dircont.go), or from a new one.
func (fs *FS) readdirPlus(ctx context.Context, c *fsal.Cred, r *ref[*node], ino, cookie uint64, fn func(e *fsal.DirEntry) bool) (bool, error) {
	var k *dirCont
	if cookie != 0 {
		k = fs.conts.take(contKeyOf(ino, cookie, c))
	}
	if k == nil {
		p := fs.m.perm(c)
		d, err := fs.ll.Opendir(ctx, r.v.in, p.p)
		p.release()
		if err != nil {
			return false, err
		}
		if cookie != 0 {
			fs.ll.Seekdir(d, int64(cookie))
		}
		k = &dirCont{d: d, b: dirBatches.Get().(*cephll.DirBatch), more: true}
	}
	last := cookie
	if e := k.pending; e != nil {
		if !fn(e) {
			fs.keep(ino, last, c, k)
			return false, nil
		}
		k.pending = nil
		last = e.Cookie
	}
	for {
		if k.next == k.got {
			if !k.more {
				fs.releaseCont(k)
				return true, nil
			}
			if ctx.Err() != nil {
				fs.releaseCont(k)
				return false, syscall.EINTR
			}
			got, more, err := fs.ll.ReaddirPlusBatch(ctx, k.d, k.b, attrWant, lookupFlags|cephll.DontSync)
			k.next, k.got, k.more = 0, got, more
			if err != nil {
				fs.releaseCont(k)
				return false, err
			}
			continue
		}
		i := k.next
		k.next++
		in := k.b.Inodes[i]
		k.b.Inodes[i] = cephll.Inode{}
		de, st := &k.b.Dirents[i], &k.b.Statx[i]
		name := de.Name()
		if name == "." || name == ".." {
			fs.ll.Put(in)
			continue
		}
		off := de.Off()
		if off <= 2 {
			fs.ll.Put(in)
			fs.releaseCont(k)
			return false, syscall.EIO // a position NFS cannot carry
		}
		e := &fsal.DirEntry{Name: name, Cookie: uint64(off), Handle: fs.adopt(r, in, st.Ino()), Attr: fs.attrOf(st)}
		if !fn(e) {
			// Not in this reply: the next READDIR, with the cookie of
			// the last entry that was, starts with it.
			k.pending = e
			fs.keep(ino, last, c, k)
			return false, nil
		}
		last = e.Cookie
	}
}

// keep leaves k for the READDIR that continues after cookie.
func (fs *FS) keep(ino, cookie uint64, c *fsal.Cred, k *dirCont) {
	for _, old := range fs.conts.put(contKeyOf(ino, cookie, c), k, time.Now()) {
		fs.releaseCont(old)
	}
}
