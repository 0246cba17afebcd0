package fsal

import "context"

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
