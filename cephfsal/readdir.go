//go:build !noceph

package cephfsal

import (
	"context"
	"errors"
	"sync"
	"syscall"

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
// Each call opens its own directory stream as the caller (reading a
// directory needs read permission) and seeks to the cookie; the client's
// directory cache usually answers without the MDS.
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
	if withAttrs {
		return fs.readdirPlus(ctx, r, d, fn)
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

// dirBatchSize is how many entries one libcephfs call reads. The entries a
// full reply leaves unused are released: the next READDIR seeks by cookie.
const dirBatchSize = 64

var dirBatches = sync.Pool{New: func() any { return cephll.NewDirBatch(dirBatchSize) }}

func (fs *FS) readdirPlus(ctx context.Context, r *ref[*node], d cephll.Dir, fn func(e *fsal.DirEntry) bool) (bool, error) {
	b := dirBatches.Get().(*cephll.DirBatch)
	defer dirBatches.Put(b)
	for {
		if ctx.Err() != nil {
			return false, syscall.EINTR
		}
		got, more, err := fs.ll.ReaddirPlusBatch(ctx, d, b, attrWant, lookupFlags|cephll.DontSync)
		for i := 0; i < got; i++ {
			in := b.Inodes[i]
			b.Inodes[i] = cephll.Inode{}
			if err != nil {
				fs.ll.Put(in)
				continue
			}
			de, st := &b.Dirents[i], &b.Statx[i]
			name := de.Name()
			if name == "." || name == ".." {
				fs.ll.Put(in)
				continue
			}
			off := de.Off()
			if off <= 2 {
				err = syscall.EIO // a position NFS cannot carry
				fs.ll.Put(in)
				continue
			}
			e := fsal.DirEntry{Name: name, Cookie: uint64(off), Handle: fs.adopt(r, in, st.Ino()), Attr: fs.attrOf(st)}
			if !fn(&e) {
				err, more = errStop, false
			}
		}
		if err == errStop {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if !more {
			return true, nil
		}
	}
}

// errStop ends a listing whose reply is full.
var errStop = errors.New("reply full")
