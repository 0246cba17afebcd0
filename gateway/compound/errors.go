package compound

import (
	"context"
	"errors"
	"syscall"

	"nfsgw/gateway/nfs4"
)

// statusOf maps a backend error to an NFS status. Backends speak errno
// (fsal's contract), so this is the only place that knows NFS codes for
// filesystem failures.
func statusOf(err error) nfs4.Status {
	if err == nil {
		return nfs4.OK
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nfs4.ErrDelay
		}
		return nfs4.ErrServerfault
	}
	switch errno {
	case syscall.EPERM:
		return nfs4.ErrPerm
	case syscall.ENOENT:
		return nfs4.ErrNoent
	case syscall.EIO:
		return nfs4.ErrIO
	case syscall.ENXIO, syscall.ENODEV:
		return nfs4.ErrNxio
	case syscall.EACCES:
		return nfs4.ErrAccess
	case syscall.EEXIST:
		return nfs4.ErrExist
	case syscall.EXDEV:
		return nfs4.ErrXdev
	case syscall.ENOTDIR:
		return nfs4.ErrNotdir
	case syscall.EISDIR:
		return nfs4.ErrIsdir
	case syscall.EINVAL:
		return nfs4.ErrInval
	case syscall.EFBIG:
		return nfs4.ErrFbig
	case syscall.ENOSPC:
		return nfs4.ErrNospc
	case syscall.EROFS:
		return nfs4.ErrRofs
	case syscall.EMLINK:
		return nfs4.ErrMlink
	case syscall.ENAMETOOLONG:
		return nfs4.ErrNametoolong
	case syscall.ENOTEMPTY:
		return nfs4.ErrNotempty
	case syscall.EDQUOT:
		return nfs4.ErrDquot
	case syscall.ESTALE:
		return nfs4.ErrStale
	case syscall.EBADF:
		return nfs4.ErrBadhandle
	case syscall.EAGAIN, syscall.EINTR, syscall.EBUSY, syscall.ETIMEDOUT:
		return nfs4.ErrDelay
	case syscall.ELOOP:
		return nfs4.ErrSymlink
	case syscall.ENOTSUP:
		return nfs4.ErrNotsupp
	case syscall.ENODATA:
		return nfs4.ErrNoxattr
	case syscall.ESHUTDOWN, syscall.ENOTCONN:
		return nfs4.ErrDelay
	}
	return nfs4.ErrIO
}
