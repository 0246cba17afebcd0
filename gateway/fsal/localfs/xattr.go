package localfs

import (
	"context"
	"math"
	"syscall"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

var (
	_ fsal.Xattrer   = (*FS)(nil)
	_ fsal.Allocator = (*File)(nil)
)

// The *xattr calls go through the /proc/self/fd magic link of the handle's
// O_PATH descriptor: f*xattr refuse O_PATH descriptors, and the magic link
// reaches the inode itself without a path walk (no rename race). They run
// as the caller, so the kernel applies its rules for the user namespace:
// read permission to get, write permission to set or remove, only on
// regular files and directories, sticky directories only by their owner.

// GetXattr returns the value of user.name.
func (fs *FS) GetXattr(_ context.Context, c *fsal.Cred, h fsal.Handle, name string) ([]byte, error) {
	full, err := fsal.UserXattrName(name, verfXattr)
	if err == syscall.EPERM {
		return nil, syscall.ENODATA // invisible, like in ListXattrs
	}
	if err != nil {
		return nil, err
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	path := procPath(fd)
	// Ask for the size, then read; a value that grew in between makes
	// the read fail with ERANGE, and the loop asks again.
	for range 3 {
		var n int
		if err := runAs(c, func() (err error) {
			n, err = unix.Getxattr(path, full, nil)
			return err
		}); err != nil {
			return nil, err
		}
		if n > fsal.MaxXattrValue {
			return nil, syscall.E2BIG
		}
		buf := make([]byte, n)
		err := runAs(c, func() (err error) {
			n, err = unix.Getxattr(path, full, buf)
			return err
		})
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, syscall.EAGAIN
}

// SetXattr sets user.name to value.
func (fs *FS) SetXattr(_ context.Context, c *fsal.Cred, h fsal.Handle, name string, value []byte, mode fsal.XattrSetMode) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	full, err := fsal.UserXattrName(name, verfXattr)
	if err != nil {
		return err
	}
	if len(value) > fsal.MaxXattrValue {
		return syscall.E2BIG
	}
	var flags int
	switch mode {
	case fsal.XattrEither:
	case fsal.XattrCreate:
		flags = unix.XATTR_CREATE
	case fsal.XattrReplace:
		flags = unix.XATTR_REPLACE
	default:
		return syscall.EINVAL
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	path := procPath(fd)
	return runAs(c, func() error { return unix.Setxattr(path, full, value, flags) })
}

// ListXattrs returns the names of the user namespace, in the order the
// filesystem keeps them.
func (fs *FS) ListXattrs(_ context.Context, c *fsal.Cred, h fsal.Handle) ([]string, error) {
	fd, err := fs.resolve(h)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	path := procPath(fd)
	var buf []byte
	for range 3 {
		var n int
		if err := runAs(c, func() (err error) {
			n, err = unix.Listxattr(path, nil)
			return err
		}); err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		// The kernel bounds a list by XATTR_LIST_MAX (64 KiB); so do we,
		// whatever the filesystem claims.
		if n > 1<<16 {
			return nil, syscall.E2BIG
		}
		buf = make([]byte, n)
		err := runAs(c, func() (err error) {
			n, err = unix.Listxattr(path, buf)
			return err
		})
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return fsal.UserXattrNames(buf[:n], verfXattr), nil
	}
	return nil, syscall.EAGAIN
}

// RemoveXattr removes user.name.
func (fs *FS) RemoveXattr(_ context.Context, c *fsal.Cred, h fsal.Handle, name string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	full, err := fsal.UserXattrName(name, verfXattr)
	if err != nil {
		return err
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	path := procPath(fd)
	return runAs(c, func() error { return unix.Removexattr(path, full) })
}

// Allocate reserves [off, off+length) with fallocate mode 0, as the opener
// (whose quota and resource limits apply).
func (f *File) Allocate(_ context.Context, off, length uint64) error {
	if off > math.MaxInt64 || length > math.MaxInt64-off {
		return syscall.EFBIG
	}
	if length == 0 {
		return syscall.EINVAL
	}
	return runAs(&f.cred, func() error {
		return f.control(func(fd int) error { return unix.Fallocate(fd, 0, int64(off), int64(length)) })
	})
}
