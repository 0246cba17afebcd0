//go:build !noceph

package cephfsal

import (
	"context"
	"errors"
	"math"
	"sync"
	"syscall"
	"time"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// verfXattr holds the verifier of an exclusive create (as in localfs): an
// xattr leaves the file's times alone, so create attributes, times
// included, apply at once.
const verfXattr = "user.nfsgw.verf"

// Getattr returns h's attributes: one libcephfs call when the inode is
// cached, served from the client's caps without an MDS round trip while it
// holds them. Attributes need no permission, so it runs as root.
func (fs *FS) Getattr(ctx context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Attr, error) {
	r, ino, err := fs.resolve(ctx, h)
	if err != nil {
		return fsal.Attr{}, err
	}
	st := statxPool.Get().(*cephll.Statx)
	defer statxPool.Put(st)
	err = fs.ll.Getattr(ctx, r.v.in, st, attrWant, lookupFlags, fs.m.root)
	if err == nil && st.Nlink() == 0 && r.v.opens.Load() == 0 {
		fs.nodes.remove(ino, r)
		err = syscall.ESTALE
	}
	r.release()
	if err != nil {
		return fsal.Attr{}, staleIfGone(err)
	}
	return fs.attrOf(st), nil
}

// statxPool spares GETATTR, the hottest call, an allocation: a Statx passed
// to C escapes to the heap.
var statxPool = sync.Pool{New: func() any { return new(cephll.Statx) }}

func (fs *FS) getattr(ctx context.Context, in cephll.Inode) (fsal.Attr, error) {
	var st cephll.Statx
	if err := fs.ll.Getattr(ctx, in, &st, attrWant, lookupFlags, fs.m.root); err != nil {
		return fsal.Attr{}, staleIfGone(err)
	}
	return fs.attrOf(&st), nil
}

// Setattr applies sa as c; libcephfs enforces ownership and permission
// rules (chmod by owner, chown by root, chgrp to own groups, truncate needs
// write access).
func (fs *FS) Setattr(ctx context.Context, c *fsal.Cred, h fsal.Handle, sa *fsal.SetAttr) (fsal.Attr, error) {
	if fs.readOnly {
		return fsal.Attr{}, syscall.EROFS
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return fsal.Attr{}, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	if err := fs.setattr(ctx, r.v.in, st.Mode(), sa, p.p); err != nil {
		return fsal.Attr{}, err
	}
	return fs.getattr(ctx, r.v.in)
}

// setattr applies sa to in (whose mode, type included, is mode). Order
// matters as in localfs: size first (it needs write access that the other
// changes may take away), owner next (a chown clears set-id bits, so an
// explicit mode must follow it), then mode and times together (truncation
// sets mtime, so explicit times come last).
//
// The change attribute must move with every change, and libcephfs does not
// always move it: a client holding exclusive caps extends a file locally
// without bumping change_attr (measured on 16.2.15, after a chown; other
// clients then see the new size with the old change attribute for good).
// So the change attribute is compared before and after, and if it stood
// still, ctime is set to now, which does bump it.
func (fs *FS) setattr(ctx context.Context, in cephll.Inode, mode uint32, sa *fsal.SetAttr, p *cephll.Perm) error {
	if sa == nil || sa.Mask == 0 {
		return nil
	}
	var st cephll.Statx
	if err := fs.ll.Getattr(ctx, in, &st, cephll.StatxVersion, 0, fs.m.root); err != nil {
		return staleIfGone(err)
	}
	before := st.Version()
	if err := fs.applySetattr(ctx, in, mode, sa, p); err != nil {
		return err
	}
	if err := fs.ll.Getattr(ctx, in, &st, cephll.StatxVersion, 0, fs.m.root); err != nil {
		return staleIfGone(err)
	}
	if st.Version() != before {
		return nil
	}
	now := time.Now()
	st.SetCtimeField(now.Unix(), uint32(now.Nanosecond()))
	return fs.ll.Setattr(ctx, in, &st, cephll.SetCtime, fs.m.root)
}

func (fs *FS) applySetattr(ctx context.Context, in cephll.Inode, mode uint32, sa *fsal.SetAttr, p *cephll.Perm) error {
	var st cephll.Statx
	if sa.Mask&fsal.SetSize != 0 {
		switch mode & syscall.S_IFMT {
		case syscall.S_IFREG:
		case syscall.S_IFDIR:
			return syscall.EISDIR
		default:
			return syscall.EINVAL
		}
		if sa.Size > math.MaxInt64 {
			return syscall.EFBIG
		}
		st.SetFields(0, 0, 0, sa.Size, [2]int64{}, [2]int64{})
		if err := fs.ll.Setattr(ctx, in, &st, cephll.SetSize, p); err != nil {
			return err
		}
	}
	if sa.Mask&(fsal.SetUID|fsal.SetGID) != 0 {
		mask := 0
		if sa.Mask&fsal.SetUID != 0 {
			mask |= cephll.SetUID
		}
		if sa.Mask&fsal.SetGID != 0 {
			mask |= cephll.SetGID
		}
		st.SetFields(0, sa.UID, sa.GID, 0, [2]int64{}, [2]int64{})
		if err := fs.ll.Setattr(ctx, in, &st, mask, p); err != nil {
			return err
		}
	}
	mask := 0
	// Symlinks have no mode of their own on Linux; like knfsd, ignore one.
	if sa.Mask&fsal.SetMode != 0 && mode&syscall.S_IFMT != syscall.S_IFLNK {
		mask |= cephll.SetMode
	}
	var at, mt [2]int64
	now := time.Now()
	switch {
	case sa.Mask&fsal.SetAtimeNow != 0:
		// Both bits: the _NOW bit selects "set to now" permission rules
		// (write access suffices), and the time is filled in for
		// libcephfs versions that take it from the request.
		mask |= cephll.SetAtime | cephll.SetAtimeNow
		at = [2]int64{now.Unix(), int64(now.Nanosecond())}
	case sa.Mask&fsal.SetAtime != 0:
		mask |= cephll.SetAtime
		at = [2]int64{sa.Atime.Sec, int64(sa.Atime.Nsec)}
	}
	switch {
	case sa.Mask&fsal.SetMtimeNow != 0:
		mask |= cephll.SetMtime | cephll.SetMtimeNow
		mt = [2]int64{now.Unix(), int64(now.Nanosecond())}
	case sa.Mask&fsal.SetMtime != 0:
		mask |= cephll.SetMtime
		mt = [2]int64{sa.Mtime.Sec, int64(sa.Mtime.Nsec)}
	}
	if mask == 0 {
		return nil
	}
	st.SetFields(sa.Mode&0o7777, 0, 0, 0, at, mt)
	return fs.ll.Setattr(ctx, in, &st, mask, p)
}

// Lookup returns name in dir, needing search permission on dir. Snapshot
// directories (".snap") are not exported: their inodes carry a snapshot id
// that this export's handles never do, so they look absent.
func (fs *FS) Lookup(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, fsal.Attr, error) {
	var st cephll.Statx
	h, err := fs.lookup(ctx, c, dir, name, &st, attrWant)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	return h, fs.attrOf(&st), nil
}

// LookupHandle is Lookup without attributes, for LOOKUP. It asks
// libcephfs for the inode number only: the full attribute set needs the
// file caps, and without them (another client writing the file, e.g.
// through another gateway) every lookup would wait for an MDS getattr.
func (fs *FS) LookupHandle(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, error) {
	var st cephll.Statx
	return fs.lookup(ctx, c, dir, name, &st, cephll.StatxIno)
}

func (fs *FS) lookup(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, st *cephll.Statx, want uint) (fsal.Handle, error) {
	if err := fsal.ValidName(name); err != nil {
		return nil, err
	}
	// No resolveDir: its getattr was a quarter of a LOOKUP's CPU, and
	// ceph_ll_lookup fails in a non-directory itself. Only a failed
	// lookup asks whether dir is gone (ESTALE rather than ENOENT) or not
	// a directory (ENOTDIR rather than the EACCES of a file's mode).
	r, _, err := fs.resolve(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	in, err := fs.ll.Lookup(ctx, r.v.in, name, st, want, lookupFlags, p.p)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EACCES) {
			d, derr := fs.resolveDir(ctx, dir)
			if derr != nil {
				return nil, derr
			}
			d.release()
		}
		return nil, err
	}
	if st.Dev() != cephll.NoSnap {
		fs.ll.Put(in)
		return nil, syscall.ENOENT
	}
	return fs.adopt(r, in, st.Ino()), nil
}

// Parent returns dir's parent, or ENOENT at the export root so that ".."
// never leads out of the export. Looking up ".." needs search permission on
// dir, as for any lookup.
func (fs *FS) Parent(ctx context.Context, c *fsal.Cred, dir fsal.Handle) (fsal.Handle, fsal.Attr, error) {
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, dir, &st)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	defer r.release()
	if st.Ino() == fs.rootIno {
		return nil, fsal.Attr{}, syscall.ENOENT
	}
	if st.Mode()&syscall.S_IFMT != syscall.S_IFDIR {
		return nil, fsal.Attr{}, syscall.ENOTDIR
	}
	p := fs.m.perm(c)
	defer p.release()
	in, err := fs.ll.Lookup(ctx, r.v.in, "..", &st, attrWant, lookupFlags, p.p)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	return fs.adopt(r, in, st.Ino()), fs.attrOf(&st), nil
}

func createMode(sa *fsal.SetAttr, def uint32) uint32 {
	if sa != nil && sa.Mask&fsal.SetMode != 0 {
		return sa.Mode & 0o7777
	}
	return def
}

// Create makes (or, for Unchecked, opens) the regular file name in dir.
// Exclusive stores verf in the "user.nfsgw.verf" xattr; Unchecked on an
// existing file applies only a size of 0 from sa.
//
// The file is made with ceph_ll_create and closed at once, although the
// FSAL opens files separately: a regular file made with ceph_ll_mknod
// instead stays unreadable by other clients for about 5 s (measured: a
// GETATTR through another gateway waited that long for the creator's caps),
// while the creator's close hands its caps back at once.
func (fs *FS) Create(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte) (fsal.Handle, fsal.Attr, bool, error) {
	h, a, existed, _, err := fs.create(ctx, c, dir, name, mode, sa, verf, -1)
	return h, a, existed, err
}

// CreateOpen is Create that hands over the file it created open with
// flags (fsal.CreateOpener): closing it and opening it again, as OPEN did,
// was a second MDS request per new file. The File is nil when the file
// existed.
func (fs *FS) CreateOpen(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte, flags int) (fsal.Handle, fsal.Attr, bool, fsal.File, error) {
	acc, err := accessMode(flags)
	if err != nil {
		return nil, fsal.Attr{}, false, nil, err
	}
	return fs.create(ctx, c, dir, name, mode, sa, verf, acc)
}

// create creates name; with acc >= 0 a new file stays open with that
// access mode and is returned as a File.
func (fs *FS) create(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte, acc int) (fsal.Handle, fsal.Attr, bool, fsal.File, error) {
	h, a, existed, fh, err := fs.createFh(ctx, c, dir, name, mode, sa, verf, max(acc, syscall.O_RDONLY))
	if err != nil || existed {
		return h, a, existed, nil, err
	}
	if acc < 0 {
		fs.ll.Close(ctx, fh)
		return h, a, false, nil, nil
	}
	r, _, err := fs.resolve(ctx, h)
	if err != nil {
		fs.ll.Close(ctx, fh)
		return nil, fsal.Attr{}, false, nil, err
	}
	r.v.opens.Add(1)
	return h, a, false, newFile(fs.ll, r, fh, fs.m.opts.DelegationTimeout, fs.m.root), nil
}

// createFh is Create keeping the libcephfs file handle of a new file open
// with access mode acc (the creator's, whatever the file's mode). fh is
// set only when the file was created and no error occurred.
func (fs *FS) createFh(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte, acc int) (_ fsal.Handle, _ fsal.Attr, _ bool, fh cephll.Fh, _ error) {
	if fs.readOnly {
		return nil, fsal.Attr{}, false, fh, syscall.EROFS
	}
	if mode > fsal.Exclusive {
		return nil, fsal.Attr{}, false, fh, syscall.EINVAL
	}
	if err := fsal.ValidName(name); err != nil {
		return nil, fsal.Attr{}, false, fh, err
	}
	r, err := fs.resolveDir(ctx, dir)
	if err != nil {
		return nil, fsal.Attr{}, false, fh, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	perm := createMode(sa, defaultFileMode)
	var st cephll.Statx
	in, nfh, err := fs.ll.Create(ctx, r.v.in, name, perm, syscall.O_CREAT|syscall.O_EXCL|acc, &st, attrWant, 0, p.p)
	if err == nil {
		if mode == fsal.Exclusive {
			// As root: the creator may have asked for a mode without
			// write permission.
			if err := fs.ll.Setxattr(ctx, in, verfXattr, verf[:], 0, fs.m.root); err != nil {
				// Without a stored verifier a retry could not be
				// recognised; undo the create.
				fs.ll.Close(ctx, nfh)
				fs.ll.Unlink(ctx, r.v.in, name, p.p)
				fs.ll.Put(in)
				return nil, fsal.Attr{}, false, fh, err
			}
		}
		h, a, err := fs.finishCreate(ctx, r, in, &st, sa, perm, p.p)
		if err != nil {
			fs.ll.Close(ctx, nfh)
			return nil, fsal.Attr{}, false, fh, err
		}
		return h, a, false, nfh, nil
	}
	if !errors.Is(err, syscall.EEXIST) || mode == fsal.Guarded {
		return nil, fsal.Attr{}, false, fh, err
	}

	// The name exists.
	in, err = fs.ll.Lookup(ctx, r.v.in, name, &st, attrWant, lookupFlags, p.p)
	if err != nil {
		return nil, fsal.Attr{}, false, fh, err
	}
	switch st.Mode() & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		fs.ll.Put(in)
		return nil, fsal.Attr{}, false, fh, existErr(mode, syscall.EISDIR)
	case syscall.S_IFLNK:
		fs.ll.Put(in)
		return nil, fsal.Attr{}, false, fh, existErr(mode, syscall.ELOOP)
	default:
		fs.ll.Put(in)
		return nil, fsal.Attr{}, false, fh, existErr(mode, syscall.EINVAL)
	}
	h := fs.adopt(r, in, st.Ino())
	nr, _, err := fs.resolve(ctx, h)
	if err != nil {
		return nil, fsal.Attr{}, false, fh, err
	}
	defer nr.release()
	if mode == fsal.Exclusive {
		var got [8]byte
		n, err := fs.ll.Getxattr(ctx, nr.v.in, verfXattr, got[:], fs.m.root)
		if err != nil || n != len(got) || got != verf {
			return nil, fsal.Attr{}, false, fh, syscall.EEXIST
		}
		return h, fs.attrOf(&st), true, fh, nil
	}
	if sa != nil && sa.Mask&fsal.SetSize != 0 && sa.Size == 0 {
		if err := fs.setattr(ctx, nr.v.in, st.Mode(), &fsal.SetAttr{Mask: fsal.SetSize}, p.p); err != nil {
			return nil, fsal.Attr{}, false, fh, err
		}
		a, err := fs.getattr(ctx, nr.v.in)
		return h, a, true, fh, err
	}
	return h, fs.attrOf(&st), true, fh, nil
}

func existErr(mode fsal.CreateMode, err error) error {
	if mode == fsal.Exclusive {
		return syscall.EEXIST
	}
	return err
}

// finishCreate applies the create attributes to the new object in (whose
// attributes are st), takes over its reference and describes it. libcephfs
// applies no umask to ll calls, but the mode is still re-applied when it
// differs (e.g. set-id bits the MDS dropped); a set-gid bit a directory
// inherited from its parent is kept, as with knfsd.
func (fs *FS) finishCreate(ctx context.Context, parent *ref[*node], in cephll.Inode, st *cephll.Statx, sa *fsal.SetAttr, perm uint32, p *cephll.Perm) (fsal.Handle, fsal.Attr, error) {
	h := fs.adopt(parent, in, st.Ino())
	var rest fsal.SetAttr
	if sa != nil {
		rest = *sa
	}
	rest.Mask &^= fsal.SetMode
	mode := st.Mode()
	if mode&syscall.S_IFMT != syscall.S_IFLNK {
		want := perm
		if mode&syscall.S_IFMT == syscall.S_IFDIR {
			want |= mode & syscall.S_ISGID
		}
		if mode&0o7777 != want {
			rest.Mask |= fsal.SetMode
			rest.Mode = want
		}
	}
	if rest.Mask == 0 {
		return h, fs.attrOf(st), nil
	}
	r, _, err := fs.resolve(ctx, h)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	defer r.release()
	if err := fs.setattr(ctx, r.v.in, mode, &rest, p); err != nil {
		return nil, fsal.Attr{}, err
	}
	a, err := fs.getattr(ctx, r.v.in)
	return h, a, err
}

// makeNode creates a non-regular object with mk (as c) and finishes it.
func (fs *FS) makeNode(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, sa *fsal.SetAttr, perm uint32,
	mk func(parent cephll.Inode, st *cephll.Statx, p *cephll.Perm) (cephll.Inode, error)) (fsal.Handle, fsal.Attr, error) {
	if fs.readOnly {
		return nil, fsal.Attr{}, syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return nil, fsal.Attr{}, err
	}
	r, err := fs.resolveDir(ctx, dir)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	var st cephll.Statx
	in, err := mk(r.v.in, &st, p.p)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	return fs.finishCreate(ctx, r, in, &st, sa, perm, p.p)
}

// Mkdir creates a directory.
func (fs *FS) Mkdir(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	perm := createMode(sa, defaultDirMode)
	return fs.makeNode(ctx, c, dir, name, sa, perm, func(parent cephll.Inode, st *cephll.Statx, p *cephll.Perm) (cephll.Inode, error) {
		return fs.ll.Mkdir(ctx, parent, name, perm, st, attrWant, 0, p)
	})
}

// Symlink creates a symbolic link; a mode in sa is ignored.
func (fs *FS) Symlink(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name, target string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	if len(target) > maxSymlinkTarget || len(target) == 0 {
		return nil, fsal.Attr{}, syscall.EINVAL
	}
	return fs.makeNode(ctx, c, dir, name, sa, 0o777, func(parent cephll.Inode, st *cephll.Statx, p *cephll.Perm) (cephll.Inode, error) {
		return fs.ll.Symlink(ctx, parent, name, target, st, attrWant, 0, p)
	})
}

// Mknod creates a device, FIFO or socket. libcephfs does not restrict
// device creation, so the gateway does, as a local kernel would: only root
// (CAP_MKNOD) may make devices.
func (fs *FS) Mknod(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, t fsal.FileType, major, minor uint32, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	var ftype uint32
	var rdev uint64
	switch t {
	case fsal.TypeBlock:
		ftype, rdev = syscall.S_IFBLK, mkdev(major, minor)
	case fsal.TypeChar:
		ftype, rdev = syscall.S_IFCHR, mkdev(major, minor)
	case fsal.TypeFIFO:
		ftype = syscall.S_IFIFO
	case fsal.TypeSocket:
		ftype = syscall.S_IFSOCK
	default:
		return nil, fsal.Attr{}, syscall.EINVAL
	}
	if (t == fsal.TypeBlock || t == fsal.TypeChar) && c != nil && c.UID != 0 {
		return nil, fsal.Attr{}, syscall.EPERM
	}
	perm := createMode(sa, defaultNodeMode)
	return fs.makeNode(ctx, c, dir, name, sa, perm, func(parent cephll.Inode, st *cephll.Statx, p *cephll.Perm) (cephll.Inode, error) {
		return fs.ll.Mknod(ctx, parent, name, ftype|perm, rdev, st, attrWant, 0, p)
	})
}

// Readlink returns a symlink's target (EINVAL for other types).
func (fs *FS) Readlink(ctx context.Context, c *fsal.Cred, h fsal.Handle) (string, error) {
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return "", err
	}
	defer r.release()
	if st.Mode()&syscall.S_IFMT != syscall.S_IFLNK {
		return "", syscall.EINVAL
	}
	p := fs.m.perm(c)
	defer p.release()
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := fs.ll.Readlink(ctx, r.v.in, buf, p.p)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size > maxSymlinkTarget {
			return "", syscall.ENAMETOOLONG
		}
	}
}

// forget drops ino's cached reference. A referenced inode that was
// unlinked cannot be purged by the MDS, so its space would stay allocated
// for as long as the cache held it.
func (fs *FS) forget(ino uint64) {
	if r := fs.nodes.get(ino); r != nil {
		if r.v.opens.Load() == 0 {
			fs.nodes.remove(ino, r)
		}
		r.release()
	}
}

// victim looks name up in dir (as root, from the client's cache when it
// can) to learn the inode a removal or rename will unlink.
func (fs *FS) victim(ctx context.Context, dir cephll.Inode, name string) (uint64, uint32, bool) {
	var st cephll.Statx
	in, err := fs.ll.Lookup(ctx, dir, name, &st, cephll.StatxIno|cephll.StatxMode, cephll.DontSync, fs.m.root)
	if err != nil {
		return 0, 0, false
	}
	fs.ll.Put(in)
	return st.Ino(), st.Mode(), true
}

// Remove unlinks a non-directory or removes an empty directory.
func (fs *FS) Remove(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return err
	}
	r, err := fs.resolveDir(ctx, dir)
	if err != nil {
		return err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	ino, mode, found := fs.victim(ctx, r.v.in, name)
	if found && mode&syscall.S_IFMT == syscall.S_IFDIR {
		err = fs.ll.Rmdir(ctx, r.v.in, name, p.p)
	} else {
		err = fs.ll.Unlink(ctx, r.v.in, name, p.p)
		if errors.Is(err, syscall.EISDIR) { // changed type meanwhile
			err = fs.ll.Rmdir(ctx, r.v.in, name, p.p)
		}
	}
	if errors.Is(err, syscall.EEXIST) {
		err = syscall.ENOTEMPTY
	}
	if err == nil && found {
		fs.forget(ino)
	}
	return err
}

// Rename moves srcName in srcDir to dstName in dstDir, replacing a
// compatible existing target.
func (fs *FS) Rename(ctx context.Context, c *fsal.Cred, srcDir fsal.Handle, srcName string, dstDir fsal.Handle, dstName string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(srcName); err != nil {
		return err
	}
	if err := fsal.ValidName(dstName); err != nil {
		return err
	}
	sr, err := fs.resolveDir(ctx, srcDir)
	if err != nil {
		return err
	}
	defer sr.release()
	dr, err := fs.resolveDir(ctx, dstDir)
	if err != nil {
		return err
	}
	defer dr.release()
	p := fs.m.perm(c)
	defer p.release()
	// The MDS checks a non-empty target directory before the types, so
	// the type mismatches rename(2) reports first are checked here.
	ino, dmode, found := fs.victim(ctx, dr.v.in, dstName)
	if found {
		if _, smode, ok := fs.victim(ctx, sr.v.in, srcName); ok {
			sdir, ddir := smode&syscall.S_IFMT == syscall.S_IFDIR, dmode&syscall.S_IFMT == syscall.S_IFDIR
			switch {
			case !sdir && ddir:
				return syscall.EISDIR
			case sdir && !ddir:
				return syscall.ENOTDIR
			}
		}
	}
	err = fs.ll.Rename(ctx, sr.v.in, srcName, dr.v.in, dstName, p.p)
	if errors.Is(err, syscall.EEXIST) {
		err = syscall.ENOTEMPTY
	}
	if err == nil && found {
		// Harmless when the target was the source itself (a rename onto
		// itself): that only costs a later re-resolution.
		fs.forget(ino)
	}
	return err
}

// Link makes name in dir a new hard link to h. Directories cannot be
// linked (EPERM, as link(2) says).
func (fs *FS) Link(ctx context.Context, c *fsal.Cred, h fsal.Handle, dir fsal.Handle, name string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return err
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return err
	}
	defer r.release()
	if st.Mode()&syscall.S_IFMT == syscall.S_IFDIR {
		return syscall.EPERM
	}
	dr, err := fs.resolveDir(ctx, dir)
	if err != nil {
		return err
	}
	defer dr.release()
	p := fs.m.perm(c)
	defer p.release()
	return fs.ll.Link(ctx, r.v.in, dr.v.in, name, p.p)
}

// Statfs reports the filesystem's capacity (the data pools', as libcephfs
// sees it). CephFS has no inode limit and reports "free files" as all
// ones; that is turned into a large, consistent total.
func (fs *FS) Statfs(ctx context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Statfs, error) {
	r, _, err := fs.resolve(ctx, h)
	if err != nil {
		return fsal.Statfs{}, err
	}
	defer r.release()
	s, err := fs.ll.Statfs(ctx, r.v.in)
	if err != nil {
		return fsal.Statfs{}, err
	}
	bs := s.Frsize
	if bs == 0 {
		bs = s.Bsize
	}
	out := fsal.Statfs{
		TotalBytes: s.Blocks * bs,
		FreeBytes:  s.Bfree * bs,
		AvailBytes: s.Bavail * bs,
		TotalFiles: s.Files,
		FreeFiles:  s.Ffree,
		AvailFiles: s.Favail,
	}
	const unlimited = 1 << 62
	if out.FreeFiles > unlimited || out.FreeFiles > math.MaxUint64-out.TotalFiles {
		out.FreeFiles = unlimited
		out.TotalFiles += unlimited
	}
	out.AvailFiles = min(out.AvailFiles, out.FreeFiles)
	return out, nil
}
