//go:build !noceph

package cephfsal

import (
	"context"
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
	var st cephll.Statx
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
		var in cephll.Inode
		var more bool
		if withAttrs {
			in, more, err = fs.ll.ReaddirPlus(ctx, d, &de, &st, attrWant, lookupFlags|cephll.DontSync, true)
		} else {
			more, err = fs.ll.Readdir(ctx, d, &de)
		}
		if err != nil {
			return false, err
		}
		if !more {
			return true, nil
		}
		name := de.Name()
		if name == "." || name == ".." {
			if in.Valid() {
				fs.ll.Put(in)
			}
			continue
		}
		off := de.Off()
		if off <= 2 {
			if in.Valid() {
				fs.ll.Put(in)
			}
			return false, syscall.EIO // a position NFS cannot carry
		}
		e := fsal.DirEntry{Name: name, Cookie: uint64(off)}
		if withAttrs {
			e.Handle = fs.adopt(r, in, st.Ino())
			e.Attr = fs.attrOf(&st)
		}
		if !fn(&e) {
			return false, nil
		}
	}
}
