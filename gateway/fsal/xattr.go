package fsal

import (
	"bytes"
	"context"
	"syscall"
)

// Limits of user extended attributes, as Linux sets them (XATTR_NAME_MAX,
// XATTR_SIZE_MAX): a name, "user." prefix included, and a value.
const (
	MaxXattrName  = 255
	MaxXattrValue = 64 << 10
	// XattrPrefix is the namespace Xattrer names live in; the names
	// passed to and returned by Xattrer omit it.
	XattrPrefix = "user."
)

// XattrSetMode selects the semantics of SetXattr, as RFC 8276's
// setxattr_option4.
type XattrSetMode uint8

// SetXattr modes.
const (
	XattrEither  XattrSetMode = iota // create or replace
	XattrCreate                      // EEXIST if it exists
	XattrReplace                     // ENODATA if it does not exist
)

// Xattrer is implemented by FS values of backends that store user extended
// attributes (NFSv4.2 xattrs, RFC 8276). Names are those of the backend's
// "user." namespace without the prefix. Every call checks permissions as
// c, as the backend does for a local user (read access to get or list,
// write access to set or remove). A missing attribute is ENODATA, a value
// larger than MaxXattrValue E2BIG, an over-long name ENAMETOOLONG.
type Xattrer interface {
	GetXattr(ctx context.Context, c *Cred, h Handle, name string) ([]byte, error)
	SetXattr(ctx context.Context, c *Cred, h Handle, name string, value []byte, mode XattrSetMode) error
	// ListXattrs returns the names in the user namespace (the backend's
	// own bookkeeping attributes excepted), in a stable order.
	ListXattrs(ctx context.Context, c *Cred, h Handle) ([]string, error)
	RemoveXattr(ctx context.Context, c *Cred, h Handle, name string) error
}

// Allocator is implemented by File values of backends that can reserve
// space (fallocate mode 0): Allocate makes the range [off, off+length)
// allocated, extending the file's size if it ends past it.
type Allocator interface {
	Allocate(ctx context.Context, off, length uint64) error
}

// UserXattrName is the backend name (with XattrPrefix) of a client's
// attribute name: EINVAL for an empty name or one with a NUL byte,
// ENAMETOOLONG beyond MaxXattrName, EPERM for hidden, the backend's own
// bookkeeping attribute, which clients must neither see nor change.
func UserXattrName(name, hidden string) (string, error) {
	full := XattrPrefix + name
	switch {
	case name == "":
		return "", syscall.EINVAL
	case len(full) > MaxXattrName:
		return "", syscall.ENAMETOOLONG
	case full == hidden:
		return "", syscall.EPERM
	case bytes.IndexByte([]byte(name), 0) >= 0:
		return "", syscall.EINVAL
	}
	return full, nil
}

// UserXattrNames picks the user namespace out of a NUL-separated name list
// (listxattr's format) and strips the prefix, leaving hidden out.
func UserXattrNames(list []byte, hidden string) []string {
	var names []string
	for len(list) > 0 {
		i := bytes.IndexByte(list, 0)
		if i < 0 {
			i = len(list)
		}
		n := string(list[:i])
		list = list[min(i+1, len(list)):]
		if len(n) > len(XattrPrefix) && n[:len(XattrPrefix)] == XattrPrefix && n != hidden {
			names = append(names, n[len(XattrPrefix):])
		}
	}
	return names
}
