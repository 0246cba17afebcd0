package localfs

import (
	"bytes"
	"context"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Modes used when a create carries no mode attribute.
const (
	defaultFileMode = 0o644
	defaultDirMode  = 0o755
	defaultNodeMode = 0o644
)

// verfXattr holds the verifier of an exclusive create. An xattr (rather
// than knfsd's trick of storing it in atime/mtime) leaves the file's times
// alone, so create attributes, times included, can be applied at once.
const verfXattr = "user.nfsgw.verf"

// describe returns the handle and attributes of the object fd refers to. An
// object on another mount (a mount point below the export) cannot be named
// by a handle decoded through our mount fd: it gets EXDEV, with its
// attributes still filled in.
func (fs *FS) describe(fd int) (fsal.Handle, fsal.Attr, error) {
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return nil, fsal.Attr{}, err
	}
	a := attrOf(&st)
	fh, mid, err := unix.NameToHandleAt(fd, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return nil, a, err
	}
	if mid != fs.mountID {
		return nil, a, syscall.EXDEV
	}
	h, err := fs.encode(fh)
	return h, a, err
}

// openName opens name in dfd as an O_PATH descriptor under c (which needs
// search permission on the directory), without following a symlink.
func openName(c *fsal.Cred, dfd int, name string) (int, error) {
	fd := -1
	err := runAs(c, func() (err error) {
		fd, err = unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	return fd, err
}

// Getattr returns the attributes of h. Reading attributes needs no
// permission on the object itself, so it runs as root and skips the
// identity switch.
func (fs *FS) Getattr(_ context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Attr, error) {
	var st unix.Statx_t
	if e := fs.fds.get(h); e != nil {
		err := statFD(e.fd, &st)
		e.release()
		if err == nil && st.Nlink > 0 {
			return attrOf(&st), nil
		}
		// Unlinked (or failing): forget it and let the slow path say why.
		fs.fds.drop(h, e)
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return fsal.Attr{}, err
	}
	if err := statFD(fd, &st); err != nil {
		unix.Close(fd)
		return fsal.Attr{}, err
	}
	if st.Nlink > 0 {
		fs.fds.put(h, fd)
	} else {
		unix.Close(fd)
	}
	return attrOf(&st), nil
}

// Setattr applies sa as c and returns the resulting attributes.
func (fs *FS) Setattr(_ context.Context, c *fsal.Cred, h fsal.Handle, sa *fsal.SetAttr) (fsal.Attr, error) {
	if fs.readOnly {
		return fsal.Attr{}, syscall.EROFS
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return fsal.Attr{}, err
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return fsal.Attr{}, err
	}
	if err := fs.setattr(c, fd, &st, sa); err != nil {
		return fsal.Attr{}, err
	}
	if err := statFD(fd, &st); err != nil {
		return fsal.Attr{}, err
	}
	return attrOf(&st), nil
}

// setattr applies sa to the object behind fd, whose current attributes are
// st. Order matters: size first (truncation needs write access the other
// changes may take away), then owner (chown clears set-id bits, so an
// explicit mode must come after it), then mode, then times (truncation
// updates mtime, so explicit times must come last).
func (fs *FS) setattr(c *fsal.Cred, fd int, st *unix.Statx_t, sa *fsal.SetAttr) error {
	if sa == nil || sa.Mask == 0 {
		return nil
	}
	if sa.Mask&fsal.SetSize != 0 {
		if err := fs.truncate(c, fd, st, sa.Size); err != nil {
			return err
		}
	}
	isLink := st.Mode&unix.S_IFMT == unix.S_IFLNK
	return runAs(c, func() error {
		if sa.Mask&(fsal.SetUID|fsal.SetGID) != 0 {
			uid, gid := -1, -1
			if sa.Mask&fsal.SetUID != 0 {
				uid = int(sa.UID)
			}
			if sa.Mask&fsal.SetGID != 0 {
				gid = int(sa.GID)
			}
			// AT_EMPTY_PATH on the O_PATH fd is lchown on the object
			// itself, symlinks included.
			if err := unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		// Linux symlinks have no mode of their own (fchmodat refuses);
		// like knfsd, silently ignore a mode for them.
		if sa.Mask&fsal.SetMode != 0 && !isLink {
			// fchmod does not accept O_PATH descriptors; the /proc
			// magic link reaches the same inode without a path walk.
			if err := unix.Fchmodat(unix.AT_FDCWD, procPath(fd), sa.Mode&0o7777, 0); err != nil {
				return err
			}
		}
		if sa.Mask&(fsal.SetAtime|fsal.SetMtime|fsal.SetAtimeNow|fsal.SetMtimeNow) != 0 {
			ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
			switch {
			case sa.Mask&fsal.SetAtimeNow != 0:
				ts[0] = unix.Timespec{Nsec: unix.UTIME_NOW}
			case sa.Mask&fsal.SetAtime != 0:
				ts[0] = unix.Timespec{Sec: sa.Atime.Sec, Nsec: int64(sa.Atime.Nsec)}
			}
			switch {
			case sa.Mask&fsal.SetMtimeNow != 0:
				ts[1] = unix.Timespec{Nsec: unix.UTIME_NOW}
			case sa.Mask&fsal.SetMtime != 0:
				ts[1] = unix.Timespec{Sec: sa.Mtime.Sec, Nsec: int64(sa.Mtime.Nsec)}
			}
			if err := unix.UtimesNanoAt(fd, "", ts[:], unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return err
			}
		}
		return nil
	})
}

// truncate sets the size of a regular file. The ftruncate runs as the
// caller so that the kernel strips set-id bits when a non-owner shrinks or
// grows a set-id file, exactly as for a local user.
func (fs *FS) truncate(c *fsal.Cred, fd int, st *unix.Statx_t, size uint64) error {
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return syscall.EISDIR
	default:
		return syscall.EINVAL
	}
	if size > math.MaxInt64 {
		return syscall.EFBIG
	}
	wfd, err := reopen(c, fd, st, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer unix.Close(wfd)
	return runAs(c, func() error { return unix.Ftruncate(wfd, int64(size)) })
}

// reopen opens the object behind the O_PATH descriptor fd for I/O with c's
// permissions, through its /proc/self/fd magic link (no path walk, so no
// rename race).
//
// The owner of a file may open it regardless of its permission bits
// ("owner override", as knfsd does): NFS checks access at OPEN, so a client
// that created a file with mode 0444 and then writes to it (tar, cp -p,
// install -m 444) must not be refused halfway. The owner could chmod the
// file anyway, so this grants nothing new.
func reopen(c *fsal.Cred, fd int, st *unix.Statx_t, flags int) (int, error) {
	path := procPath(fd)
	flags |= unix.O_CLOEXEC | unix.O_NOCTTY
	nfd := -1
	err := runAs(c, func() (err error) {
		nfd, err = unix.Open(path, flags, 0)
		return err
	})
	if err == unix.EACCES && c != nil && st.Uid == c.UID {
		nfd, err = unix.Open(path, flags, 0)
	}
	if err != nil {
		return -1, err
	}
	return nfd, nil
}

// reopenHandle is reopen for the object of handle h, whose O_PATH
// descriptor is fd. Root, whom no permission check would stop, opens the
// handle directly: one open_by_handle_at instead of a walk through
// /proc/self/fd. The object's type was checked on fd, and an inode never
// changes type, so this cannot open a FIFO or a device.
func (fs *FS) reopenHandle(c *fsal.Cred, h fsal.Handle, fd int, st *unix.Statx_t, flags int) (int, error) {
	if !isRoot(c) {
		return reopen(c, fd, st, flags)
	}
	fh, err := fs.decode(h, false)
	if err != nil {
		return -1, err
	}
	nfd, err := unix.OpenByHandleAt(fs.mountFD, fh, flags|unix.O_CLOEXEC|unix.O_NOCTTY)
	if err == unix.ESTALE || err == unix.EINVAL {
		return -1, syscall.ESTALE
	}
	return nfd, err
}

// Lookup returns the object called name in dir, without following a
// symlink. Mount points of other filesystems give EXDEV.
func (fs *FS) Lookup(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, fsal.Attr, error) {
	return fs.lookup(ctx, c, dir, name, false)
}

// LookupHandle is Lookup for a caller that needs no attributes (LOOKUP):
// root callers get it from the directory's entry cache when they can
// (dents.go, notify.go).
func (fs *FS) LookupHandle(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, error) {
	h, _, err := fs.lookup(ctx, c, dir, name, isRoot(c))
	return h, err
}

func (fs *FS) lookup(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string, useEnts bool) (fsal.Handle, fsal.Attr, error) {
	if err := fsal.ValidName(name); err != nil {
		return nil, fsal.Attr{}, err
	}
	var cn cName
	p, err := cn.ptr(name)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	for cached := true; ; cached = false {
		d, hit, err := fs.resolveDir(dir, cached)
		if err != nil {
			return nil, fsal.Attr{}, err
		}
		var dst unix.Statx_t
		var ents *dirEnts
		var now time.Time
		var gen uint64
		if useEnts && d.e != nil {
			if e := d.e.entries(fs.notify); e.watched() {
				if fs.notify.fresh(ctx) {
					var h fsal.Handle
					if h, gen = e.getGen(name); h != nil {
						d.release()
						// Shared, not copied: the cache never changes a
						// handle's bytes, and HandleLookuper's callers
						// only read them.
						return h, fsal.Attr{}, nil
					}
					ents = e
				}
			} else if statFD(d.fd, &dst) == nil && dst.Nlink > 0 {
				ents = e
				if h := ents.get(name, &dst); h != nil {
					d.release()
					return h, fsal.Attr{}, nil
				}
				now = time.Now()
			}
		}
		h, a, err := fs.lookupAt(c, d.fd, p)
		if err == unix.ENOENT && d.e != nil && unlinked(d.fd) {
			fs.fds.drop(dir, d.e)
			d.release()
			if hit {
				continue // resolve afresh: ESTALE if it is gone for good
			}
			return nil, fsal.Attr{}, err
		}
		if err == nil && ents != nil {
			if ents.watched() {
				ents.addGen(name, h, gen, fs.fds.lim)
			} else {
				ents.add(name, h, &dst, fs.fds.lim, now, fs.inos.minAge)
			}
		}
		d.release()
		if err != nil {
			return nil, fsal.Attr{}, err
		}
		return h, a, nil
	}
}

// Parent returns the parent directory of dir, or ENOENT at the export root
// so that ".." never leads out of the export.
func (fs *FS) Parent(_ context.Context, c *fsal.Cred, dir fsal.Handle) (fsal.Handle, fsal.Attr, error) {
	for cached := true; ; cached = false {
		d, hit, err := fs.resolveDir(dir, cached)
		if err != nil {
			return nil, fsal.Attr{}, err
		}
		var st unix.Statx_t
		err = statFD(d.fd, &st)
		if err == nil && st.Nlink == 0 && hit {
			fs.fds.drop(dir, d.e)
			d.release()
			continue // resolve afresh: ESTALE if it is gone for good
		}
		var h fsal.Handle
		var a fsal.Attr
		if err == nil {
			h, a, err = fs.parentOf(c, d.fd, &st)
		}
		d.release()
		return h, a, err
	}
}

var dotdot = [...]byte{'.', '.', 0}

// parentOf describes the parent of the directory fd, whose attributes are
// st.
func (fs *FS) parentOf(c *fsal.Cred, fd int, st *unix.Statx_t) (fsal.Handle, fsal.Attr, error) {
	if devInoOf(st) == fs.rootDev {
		return nil, fsal.Attr{}, syscall.ENOENT
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fsal.Attr{}, syscall.ENOTDIR
	}
	h, a, err := fs.lookupAt(c, fd, &dotdot[0])
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	return h, a, nil
}

// Create makes (or, for Unchecked, opens) the regular file name in dir.
//
// Exclusive stores verf in the "user.nfsgw.verf" xattr; a later Exclusive
// create of the same name succeeds with existed=true only if the stored
// verifier matches. Unchecked on an existing file applies only a size of 0
// from sa (truncation, as knfsd does) and reports existed=true.
func (fs *FS) Create(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte) (fsal.Handle, fsal.Attr, bool, error) {
	if fs.readOnly {
		return nil, fsal.Attr{}, false, syscall.EROFS
	}
	if mode > fsal.Exclusive {
		return nil, fsal.Attr{}, false, syscall.EINVAL
	}
	if err := fsal.ValidName(name); err != nil {
		return nil, fsal.Attr{}, false, err
	}
	dfd, err := fs.resolve(dir)
	if err != nil {
		return nil, fsal.Attr{}, false, err
	}
	defer unix.Close(dfd)

	perm := createMode(sa, defaultFileMode)
	fd := -1
	err = runAs(c, func() (err error) {
		// O_RDONLY: a creating open is not permission checked, and
		// we only need the descriptor to name the new file.
		fd, err = unix.Openat(dfd, name, unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm)
		return err
	})
	if err == nil {
		defer unix.Close(fd)
		if mode == fsal.Exclusive {
			// As root: the creator may have asked for a mode without
			// write permission, which user xattrs require.
			if err := unix.Fsetxattr(fd, verfXattr, verf[:], 0); err != nil {
				// Without a stored verifier a retry could not be
				// recognised; undo the create.
				runAs(c, func() error { return unix.Unlinkat(dfd, name, 0) })
				return nil, fsal.Attr{}, false, err
			}
		}
		h, a, err := fs.finishCreate(c, fd, sa, perm)
		if err == nil {
			err = fs.commitDir(dfd)
		}
		return h, a, false, err
	}
	if err != unix.EEXIST || mode == fsal.Guarded {
		return nil, fsal.Attr{}, false, err
	}

	// The name exists.
	fd, err = openName(c, dfd, name)
	if err != nil {
		return nil, fsal.Attr{}, false, err
	}
	defer unix.Close(fd)
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return nil, fsal.Attr{}, false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, fsal.Attr{}, false, existErr(mode, syscall.EISDIR)
	case unix.S_IFLNK:
		return nil, fsal.Attr{}, false, existErr(mode, syscall.ELOOP)
	default:
		return nil, fsal.Attr{}, false, existErr(mode, syscall.EINVAL)
	}
	if mode == fsal.Exclusive {
		var got [8]byte
		n, err := unix.Getxattr(procPath(fd), verfXattr, got[:])
		if err != nil || n != len(got) || got != verf {
			return nil, fsal.Attr{}, false, syscall.EEXIST
		}
	} else if sa != nil && sa.Mask&fsal.SetSize != 0 && sa.Size == 0 {
		if err := fs.truncate(c, fd, &st, 0); err != nil {
			return nil, fsal.Attr{}, false, err
		}
	}
	h, a, err := fs.describe(fd)
	if err != nil {
		return nil, fsal.Attr{}, false, err
	}
	return h, a, true, nil
}

func existErr(mode fsal.CreateMode, err error) error {
	if mode == fsal.Exclusive {
		return syscall.EEXIST
	}
	return err
}

func createMode(sa *fsal.SetAttr, def uint32) uint32 {
	if sa != nil && sa.Mask&fsal.SetMode != 0 {
		return sa.Mode & 0o7777
	}
	return def
}

// finishCreate applies the create attributes to the new object fd and
// describes it. The mode was passed to the creating call, but the process
// umask may have masked it (the NFS client applies the user's umask; the
// server must not apply its own), so it is re-applied when it differs. A
// set-gid bit inherited from the parent directory is kept, as with knfsd.
func (fs *FS) finishCreate(c *fsal.Cred, fd int, sa *fsal.SetAttr, perm uint32) (fsal.Handle, fsal.Attr, error) {
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return nil, fsal.Attr{}, err
	}
	var rest fsal.SetAttr
	if sa != nil {
		rest = *sa
	}
	rest.Mask &^= fsal.SetMode
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		want := perm
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			want |= uint32(st.Mode) & unix.S_ISGID
		}
		if uint32(st.Mode)&0o7777 != want {
			rest.Mask |= fsal.SetMode
			rest.Mode = want
		}
	}
	if err := fs.setattr(c, fd, &st, &rest); err != nil {
		return nil, fsal.Attr{}, err
	}
	return fs.describe(fd)
}

// makeNode creates a non-regular object with mk (run as c), then opens and
// describes it.
func (fs *FS) makeNode(c *fsal.Cred, dir fsal.Handle, name string, sa *fsal.SetAttr, perm uint32, mk func(dfd int) error) (fsal.Handle, fsal.Attr, error) {
	if fs.readOnly {
		return nil, fsal.Attr{}, syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return nil, fsal.Attr{}, err
	}
	dfd, err := fs.resolve(dir)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	defer unix.Close(dfd)
	fd := -1
	err = runAs(c, func() (err error) {
		if err = mk(dfd); err != nil {
			return err
		}
		fd, err = unix.Openat(dfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	defer unix.Close(fd)
	h, a, err := fs.finishCreate(c, fd, sa, perm)
	if err == nil {
		err = fs.commitDir(dfd)
	}
	return h, a, err
}

// Mkdir creates a directory.
func (fs *FS) Mkdir(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	perm := createMode(sa, defaultDirMode)
	return fs.makeNode(c, dir, name, sa, perm, func(dfd int) error {
		return unix.Mkdirat(dfd, name, perm)
	})
}

// Symlink creates a symbolic link to target. A mode in sa is ignored.
func (fs *FS) Symlink(_ context.Context, c *fsal.Cred, dir fsal.Handle, name, target string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	return fs.makeNode(c, dir, name, sa, 0o777, func(dfd int) error {
		return unix.Symlinkat(target, dfd, name)
	})
}

// Mknod creates a block or character device, a FIFO or a socket. Devices
// need CAP_MKNOD, which only a root caller keeps.
func (fs *FS) Mknod(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, t fsal.FileType, major, minor uint32, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	var ftype uint32
	var dev uint64
	switch t {
	case fsal.TypeBlock:
		ftype, dev = unix.S_IFBLK, unix.Mkdev(major, minor)
	case fsal.TypeChar:
		ftype, dev = unix.S_IFCHR, unix.Mkdev(major, minor)
	case fsal.TypeFIFO:
		ftype = unix.S_IFIFO
	case fsal.TypeSocket:
		ftype = unix.S_IFSOCK
	default:
		return nil, fsal.Attr{}, syscall.EINVAL
	}
	perm := createMode(sa, defaultNodeMode)
	return fs.makeNode(c, dir, name, sa, perm, func(dfd int) error {
		return unix.Mknodat(dfd, name, ftype|perm, int(dev))
	})
}

// Readlink returns a symlink's target (EINVAL for other types). Reading a
// link needs no permission on it, so it runs as root.
func (fs *FS) Readlink(_ context.Context, _ *fsal.Cred, h fsal.Handle) (string, error) {
	fd, err := fs.resolve(h)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, "", buf)
		if err != nil {
			if err == unix.ENOENT {
				// An empty path on a non-symlink.
				return "", syscall.EINVAL
			}
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
		if size >= 1<<20 {
			return "", syscall.ENAMETOOLONG
		}
	}
}

// Remove unlinks a non-directory or removes an empty directory.
func (fs *FS) Remove(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) error {
	// This request's next LOOKUP must see the name gone (notify.go).
	defer fsal.ScopeOf(ctx).Reset()
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return err
	}
	dfd, err := fs.resolve(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	err = runAs(c, func() error {
		err := unix.Unlinkat(dfd, name, 0)
		if err == unix.EISDIR {
			err = unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
			if err == unix.EEXIST { // some filesystems say EEXIST for non-empty
				err = unix.ENOTEMPTY
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	return fs.commitDir(dfd)
}

// Rename moves srcName in srcDir to dstName in dstDir, replacing a
// compatible existing target.
func (fs *FS) Rename(ctx context.Context, c *fsal.Cred, srcDir fsal.Handle, srcName string, dstDir fsal.Handle, dstName string) error {
	defer fsal.ScopeOf(ctx).Reset() // as in Remove
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(srcName); err != nil {
		return err
	}
	if err := fsal.ValidName(dstName); err != nil {
		return err
	}
	sfd, err := fs.resolve(srcDir)
	if err != nil {
		return err
	}
	defer unix.Close(sfd)
	dfd := sfd
	if !bytes.Equal(srcDir, dstDir) {
		if dfd, err = fs.resolve(dstDir); err != nil {
			return err
		}
		defer unix.Close(dfd)
	}
	err = runAs(c, func() error {
		err := unix.Renameat(sfd, srcName, dfd, dstName)
		if err == unix.EEXIST {
			err = unix.ENOTEMPTY
		}
		return err
	})
	if err != nil {
		return err
	}
	if dfd != sfd {
		if err := fs.commitDir(sfd); err != nil {
			return err
		}
	}
	return fs.commitDir(dfd)
}

// Link makes name in dir a new hard link to h.
func (fs *FS) Link(_ context.Context, c *fsal.Cred, h fsal.Handle, dir fsal.Handle, name string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	if err := fsal.ValidName(name); err != nil {
		return err
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	dfd, err := fs.resolve(dir)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	err = runAs(c, func() error {
		// linkat(fd, "", AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH, which
		// the caller's identity lacks; following the /proc magic link
		// links the object itself (a symlink too, not its target) and
		// keeps the kernel's protected_hardlinks checks for the caller.
		return unix.Linkat(unix.AT_FDCWD, procPath(fd), dfd, name, unix.AT_SYMLINK_FOLLOW)
	})
	if err != nil {
		return err
	}
	return fs.commitDir(dfd)
}

// dirCommits counts commitDir calls, for tests.
var dirCommits atomic.Int64

// commitDir makes a directory's entries durable, as knfsd's
// commit_metadata does: a client may forget a create, remove, rename or
// link once it is acknowledged, and an fsync of the file alone does not
// write its name on every filesystem, so a power cut could undo an
// acknowledged operation. dfd may be an O_PATH descriptor (fsync needs a
// real one, so the directory is opened again).
func (fs *FS) commitDir(dfd int) error {
	if fs.async {
		return nil
	}
	dirCommits.Add(1)
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Fsync(fd)
}

// Statfs reports the capacity of the filesystem holding h. It needs no
// permission, so it runs as root.
func (fs *FS) Statfs(_ context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Statfs, error) {
	fd, err := fs.resolve(h)
	if err != nil {
		return fsal.Statfs{}, err
	}
	defer unix.Close(fd)
	var s unix.Statfs_t
	if err := unix.Fstatfs(fd, &s); err != nil {
		return fsal.Statfs{}, err
	}
	bs := uint64(s.Frsize)
	if bs == 0 {
		bs = uint64(s.Bsize)
	}
	return fsal.Statfs{
		TotalBytes: s.Blocks * bs,
		FreeBytes:  s.Bfree * bs,
		AvailBytes: s.Bavail * bs,
		TotalFiles: s.Files,
		FreeFiles:  s.Ffree,
		AvailFiles: s.Ffree,
	}, nil
}
