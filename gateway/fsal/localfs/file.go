package localfs

import (
	"context"
	"io"
	"math"
	"os"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Open opens the regular file h for I/O with c's permissions (plus owner
// override, see reopen). Other types fail: EISDIR, ELOOP for a symlink,
// EINVAL otherwise (devices and FIFOs are never opened on the server).
func (fs *FS) Open(_ context.Context, c *fsal.Cred, h fsal.Handle, flags int) (fsal.File, error) {
	var acc int
	switch flags {
	case fsal.OpenRead:
		acc = unix.O_RDONLY
	case fsal.OpenWrite:
		acc = unix.O_WRONLY
	case fsal.OpenRead | fsal.OpenWrite:
		acc = unix.O_RDWR
	default:
		return nil, syscall.EINVAL
	}
	if fs.readOnly && flags&fsal.OpenWrite != 0 {
		return nil, syscall.EROFS
	}
	// The O_PATH descriptor comes from the cache GETATTR fills (a file
	// is usually stat'ed before it is opened); a cached one of a removed
	// file is dropped and the handle resolved afresh, for ESTALE.
	var d fdRef
	var st unix.Statx_t
	for cached := true; ; cached = false {
		var hit bool
		var err error
		if d, hit, err = fs.resolveDir(h, cached); err != nil {
			return nil, err
		}
		err = statFD(d.fd, &st)
		if err == nil && st.Nlink == 0 && hit {
			fs.fds.drop(h, d.e)
			d.release()
			continue
		}
		if err != nil {
			d.release()
			return nil, err
		}
		break
	}
	defer d.release()
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
	case unix.S_IFDIR:
		return nil, syscall.EISDIR
	case unix.S_IFLNK:
		return nil, syscall.ELOOP
	default:
		return nil, syscall.EINVAL
	}
	nfd, err := fs.reopenHandle(c, h, d.fd, &st, acc)
	if err != nil {
		return nil, err
	}
	f := &File{f: os.NewFile(uintptr(nfd), procPath(nfd))}
	if c != nil {
		f.cred = *c
		f.cred.Groups = slices.Clone(c.Groups)
	}
	return f, nil
}

// File is an open regular file. It implements fsal.File and fsal.Locker.
//
// It wraps an *os.File because that reference-counts the descriptor: a
// Close racing with a ReadAt cannot make the read hit a reused fd number.
type File struct {
	f    *os.File
	cred fsal.Cred // the opener; writes run as it
}

var (
	_ fsal.File       = (*File)(nil)
	_ fsal.Locker     = (*File)(nil)
	_ fsal.LockTester = (*File)(nil)
)

// control runs fn on the descriptor while holding a reference to it.
func (f *File) control(fn func(fd int) error) error {
	rc, err := f.f.SyscallConn()
	if err != nil {
		return errnoOf(err)
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return errnoOf(err)
	}
	return ferr
}

// ReadAt reads at off. eof is set when the read reaches the end of the
// file, including a read that exactly fills p up to the last byte (which
// costs an fstat, so that clients need no extra round trip to see EOF).
func (f *File) ReadAt(_ context.Context, p []byte, off uint64) (int, bool, error) {
	if off > math.MaxInt64 {
		return 0, true, nil
	}
	n, err := f.f.ReadAt(p, int64(off))
	if err == io.EOF {
		return n, true, nil
	}
	if err != nil {
		return n, false, errnoOf(err)
	}
	var st unix.Stat_t
	if err := f.control(func(fd int) error { return unix.Fstat(fd, &st) }); err != nil {
		return n, false, err
	}
	return n, off+uint64(n) >= uint64(st.Size), nil
}

// WriteAt writes p at off as the opener, so that the kernel clears set-id
// bits on a write by a non-owner (as root it would not, and a user with
// write access to a set-uid binary could then plant code in it) and applies
// the opener's resource limits.
func (f *File) WriteAt(_ context.Context, p []byte, off uint64) (int, error) {
	if off > math.MaxInt64 || uint64(len(p)) > math.MaxInt64-off {
		return 0, syscall.EFBIG
	}
	var n int
	err := runAs(&f.cred, func() (err error) {
		n, err = f.f.WriteAt(p, int64(off))
		return err
	})
	return n, errnoOf(err)
}

// Sync flushes written data (fdatasync) or data and metadata (fsync).
func (f *File) Sync(_ context.Context, dataOnly bool) error {
	return f.control(func(fd int) error {
		if dataOnly {
			return unix.Fdatasync(fd)
		}
		return unix.Fsync(fd)
	})
}

// Close closes the file, releasing its locks.
func (f *File) Close() error { return errnoOf(f.f.Close()) }

// SetLock takes a byte-range lock without waiting (EAGAIN on conflict).
//
// These are OFD locks: they belong to this File (its open file
// description), not to owner, which is informational. Locks through two
// Files conflict with each other and with other processes; locks through
// one File never conflict among themselves, so the engine must use one
// File per lock owner. A range reaching past 2^63-1 is taken to mean "to
// the end of the file", which is what NFS clients mean by it.
func (f *File) SetLock(_ context.Context, _ uint64, t fsal.LockType, off, length uint64) error {
	var typ int16
	switch t {
	case fsal.ReadLock:
		typ = unix.F_RDLCK
	case fsal.WriteLock:
		typ = unix.F_WRLCK
	default:
		return syscall.EINVAL
	}
	return f.lock(typ, off, length)
}

// Unlock releases a byte-range lock (or part of one).
func (f *File) Unlock(_ context.Context, _ uint64, off, length uint64) error {
	return f.lock(unix.F_UNLCK, off, length)
}

// TestLock reports whether t on the range would conflict with a lock held
// through another open file description (another File, another process),
// with F_OFD_GETLK; locks held through this File never conflict. A
// conflicting lock is described as the kernel reports it (length 0: to the
// end of the file); its owner, an OFD lock's, is not known.
func (f *File) TestLock(_ context.Context, _ uint64, t fsal.LockType, off, length uint64) (conflict bool, ct fsal.LockType, coff, clen uint64, err error) {
	var typ int16
	switch t {
	case fsal.ReadLock:
		typ = unix.F_RDLCK
	case fsal.WriteLock:
		typ = unix.F_WRLCK
	default:
		return false, 0, 0, 0, syscall.EINVAL
	}
	if off > math.MaxInt64 {
		return false, 0, 0, 0, syscall.EINVAL
	}
	if length > math.MaxInt64-off {
		length = 0
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: int64(off), Len: int64(length)}
	if err := f.control(func(fd int) error { return unix.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &lk) }); err != nil {
		return false, 0, 0, 0, err
	}
	switch lk.Type {
	case unix.F_UNLCK:
		return false, 0, 0, 0, nil
	case unix.F_RDLCK:
		ct = fsal.ReadLock
	default:
		ct = fsal.WriteLock
	}
	return true, ct, uint64(lk.Start), uint64(lk.Len), nil
}

func (f *File) lock(typ int16, off, length uint64) error {
	if off > math.MaxInt64 {
		return syscall.EINVAL
	}
	if length > math.MaxInt64-off {
		length = 0
	}
	lk := unix.Flock_t{Type: typ, Whence: io.SeekStart, Start: int64(off), Len: int64(length)}
	err := f.control(func(fd int) error { return unix.FcntlFlock(uintptr(fd), unix.F_OFD_SETLK, &lk) })
	if err == unix.EACCES { // POSIX allows either for a conflict
		err = unix.EAGAIN
	}
	return err
}
