//go:build !noceph

package cephfsal

import (
	"context"
	"math"
	"syscall"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

var (
	_ fsal.Xattrer   = (*FS)(nil)
	_ fsal.Allocator = (*File)(nil)
)

// Extended attributes go through ceph_ll_*xattr with the caller's UserPerm:
// libcephfs applies the user-namespace permission rules itself (read
// permission to get or list, write permission to change).

// Flags of ceph_ll_setxattr, as setxattr(2)'s.
const (
	xattrCreate  = 1
	xattrReplace = 2
)

// GetXattr returns the value of user.name.
func (fs *FS) GetXattr(ctx context.Context, c *fsal.Cred, h fsal.Handle, name string) ([]byte, error) {
	full, err := fsal.UserXattrName(name, verfXattr)
	if err == syscall.EPERM {
		return nil, syscall.ENODATA // invisible, like in ListXattrs
	}
	if err != nil {
		return nil, err
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return nil, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	// Ask for the size, then read; a value that grew in between makes
	// the read fail with ERANGE, and the loop asks again.
	for range 3 {
		n, err := fs.ll.Getxattr(ctx, r.v.in, full, nil, p.p)
		if err != nil {
			return nil, err
		}
		if n > fsal.MaxXattrValue {
			return nil, syscall.E2BIG
		}
		if n == 0 {
			return []byte{}, nil
		}
		buf := make([]byte, n)
		n, err = fs.ll.Getxattr(ctx, r.v.in, full, buf, p.p)
		if err == syscall.ERANGE {
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
func (fs *FS) SetXattr(ctx context.Context, c *fsal.Cred, h fsal.Handle, name string, value []byte, mode fsal.XattrSetMode) error {
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
		flags = xattrCreate
	case fsal.XattrReplace:
		flags = xattrReplace
	default:
		return syscall.EINVAL
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	return fs.ll.Setxattr(ctx, r.v.in, full, value, flags, p.p)
}

// ListXattrs returns the names of the user namespace.
func (fs *FS) ListXattrs(ctx context.Context, c *fsal.Cred, h fsal.Handle) ([]string, error) {
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return nil, err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	for range 3 {
		n, err := fs.ll.Listxattr(ctx, r.v.in, nil, p.p)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		// As the kernel (XATTR_LIST_MAX), whatever the MDS allows.
		if n > 1<<16 {
			return nil, syscall.E2BIG
		}
		buf := make([]byte, n)
		n, err = fs.ll.Listxattr(ctx, r.v.in, buf, p.p)
		if err == syscall.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return fsal.UserXattrNames(buf[:min(n, len(buf))], verfXattr), nil
	}
	return nil, syscall.EAGAIN
}

// RemoveXattr removes user.name.
func (fs *FS) RemoveXattr(ctx context.Context, c *fsal.Cred, h fsal.Handle, name string) error {
	if fs.readOnly {
		return syscall.EROFS
	}
	full, err := fsal.UserXattrName(name, verfXattr)
	if err != nil {
		return err
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return err
	}
	defer r.release()
	p := fs.m.perm(c)
	defer p.release()
	return fs.ll.Removexattr(ctx, r.v.in, full, p.p)
}

// Allocate reserves [off, off+length) with fallocate mode 0 through
// ceph_ll_fallocate, which extends the size when the range ends past it.
func (f *File) Allocate(ctx context.Context, off, length uint64) error {
	if off > math.MaxInt64 || length > math.MaxInt64-off {
		return syscall.EFBIG
	}
	if length == 0 {
		return syscall.EINVAL
	}
	if !f.acquire() {
		return syscall.EBADF
	}
	defer f.release()
	return f.ll.Fallocate(ctx, f.fh, 0, int64(off), int64(length))
}
