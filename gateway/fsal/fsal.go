// Package fsal is the filesystem abstraction the NFS engine talks to. It is
// handle based, shaped after libcephfs' ll API: every object is named by an
// opaque, restart-stable Handle, and every call carries the caller's
// credentials. Backends (gateway/fsal/localfs, cephfsal) implement FS; the
// engine never sees a path.
//
// Errors are syscall.Errno values (ENOENT, ESTALE, EACCES, ...). The engine
// maps them to NFS status codes in one place, so backends need no NFS
// knowledge and CephFS's negative errnos map directly.
package fsal

import (
	"context"
	"syscall"
	"time"
)

// MaxHandleSize bounds a backend handle: the NFS file handle adds a 5-byte
// header and must fit NFS4_FHSIZE (128).
const MaxHandleSize = 120

// Handle names one filesystem object. It is opaque to the engine, stable
// across restarts of the gateway, and at most MaxHandleSize bytes.
type Handle []byte

// Cred is the identity a request runs as.
type Cred struct {
	UID    uint32
	GID    uint32
	Groups []uint32 // supplementary groups, at most 16 from AUTH_SYS
}

// Root is the superuser credential, used by the gateway for its own work.
var Root = &Cred{}

// FileType is the type of an object.
type FileType uint8

// File types.
const (
	TypeRegular FileType = iota + 1
	TypeDirectory
	TypeBlock
	TypeChar
	TypeSymlink
	TypeSocket
	TypeFIFO
)

// Time is a point in time as seconds and nanoseconds since the epoch.
type Time struct {
	Sec  int64
	Nsec uint32
}

// Attr is what GETATTR needs from the backend. Change must increase on every
// modification of data or metadata (CephFS: the statx version; local: ctime
// in nanoseconds).
type Attr struct {
	Type      FileType
	Mode      uint32 // permission bits, including setuid/setgid/sticky (07777)
	Nlink     uint32
	UID       uint32
	GID       uint32
	Size      uint64
	SpaceUsed uint64
	RdevMajor uint32
	RdevMinor uint32
	Fileid    uint64
	FsidMajor uint64
	FsidMinor uint64
	Change    uint64
	Atime     Time
	Mtime     Time
	Ctime     Time
	Btime     Time // zero if unknown
}

// SetAttr mask bits.
const (
	SetMode uint32 = 1 << iota
	SetUID
	SetGID
	SetSize
	SetAtime
	SetMtime
	SetAtimeNow // set atime to the server's clock
	SetMtimeNow // set mtime to the server's clock
)

// SetAttr is a set of attribute changes; Mask says which fields apply.
type SetAttr struct {
	Mask  uint32
	Mode  uint32
	UID   uint32
	GID   uint32
	Size  uint64
	Atime Time
	Mtime Time
}

// CreateMode selects the semantics of Create.
type CreateMode uint8

// Create modes, as in OPEN's createmode4.
const (
	Unchecked CreateMode = iota // create or open an existing file
	Guarded                     // fail with EEXIST if the name exists
	Exclusive                   // create once; a retry with the same verifier succeeds
)

// DirEntry is one READDIR entry. Cookie is the position after this entry:
// passing it to Readdir resumes with the next one.
type DirEntry struct {
	Name   string
	Cookie uint64
	Handle Handle
	Attr   Attr
}

// Statfs describes the filesystem holding an object.
type Statfs struct {
	TotalBytes uint64
	FreeBytes  uint64
	AvailBytes uint64
	TotalFiles uint64
	FreeFiles  uint64
	AvailFiles uint64
}

// Open flags for FS.Open.
const (
	OpenRead  = 1
	OpenWrite = 2
)

// File is an open regular file. Its methods may be called concurrently.
// ctx is the request's: a backend that queues calls (cephfsal admits a
// bounded number at a time) gives up waiting when it ends, with its error.
type File interface {
	// ReadAt reads up to len(p) bytes at off; eof reports that the read
	// reached the end of the file.
	ReadAt(ctx context.Context, p []byte, off uint64) (n int, eof bool, err error)
	WriteAt(ctx context.Context, p []byte, off uint64) (n int, err error)
	// Sync makes written data stable; dataOnly allows skipping metadata.
	Sync(ctx context.Context, dataOnly bool) error
	// Close closes the file. It takes no context: the state model closes
	// files after the request that opened them is long gone.
	Close() error
}

// FS is one exported filesystem subtree. Every method is safe for concurrent
// use and must not hold locks across blocking backend calls that would stall
// unrelated requests.
type FS interface {
	// Root returns the handle of the export's root directory.
	Root() Handle
	// Check validates a handle that arrived from a client: EBADF if it is
	// malformed, EACCES if it is not one this export handed out or names
	// an object outside the export, ESTALE if the object is gone. It may
	// leave ESTALE to the next call that uses the handle, to keep PUTFH
	// cheap.
	Check(ctx context.Context, h Handle) error

	Getattr(ctx context.Context, c *Cred, h Handle) (Attr, error)
	Setattr(ctx context.Context, c *Cred, h Handle, sa *SetAttr) (Attr, error)
	Lookup(ctx context.Context, c *Cred, dir Handle, name string) (Handle, Attr, error)
	// Parent returns the parent of dir; ENOENT at the export root.
	Parent(ctx context.Context, c *Cred, dir Handle) (Handle, Attr, error)

	// Create makes a regular file. With Exclusive, verf is stored with the
	// file so that a retransmitted create with the same verifier succeeds
	// and returns existed=true.
	Create(ctx context.Context, c *Cred, dir Handle, name string, mode CreateMode, sa *SetAttr, verf [8]byte) (h Handle, a Attr, existed bool, err error)
	Mkdir(ctx context.Context, c *Cred, dir Handle, name string, sa *SetAttr) (Handle, Attr, error)
	Symlink(ctx context.Context, c *Cred, dir Handle, name, target string, sa *SetAttr) (Handle, Attr, error)
	// Mknod makes a device, FIFO or socket.
	Mknod(ctx context.Context, c *Cred, dir Handle, name string, t FileType, major, minor uint32, sa *SetAttr) (Handle, Attr, error)
	Readlink(ctx context.Context, c *Cred, h Handle) (string, error)
	// Remove unlinks a name, file or empty directory alike.
	Remove(ctx context.Context, c *Cred, dir Handle, name string) error
	Rename(ctx context.Context, c *Cred, srcDir Handle, srcName string, dstDir Handle, dstName string) error
	Link(ctx context.Context, c *Cred, h Handle, dir Handle, name string) error

	// Readdir calls fn for entries after cookie (0 = start), excluding "."
	// and "..", until fn returns false or the directory ends. eof reports
	// that the directory ended.
	Readdir(ctx context.Context, c *Cred, dir Handle, cookie uint64, withAttrs bool, fn func(e *DirEntry) bool) (eof bool, err error)

	// Open opens a regular file for I/O with the caller's permissions.
	Open(ctx context.Context, c *Cred, h Handle, flags int) (File, error)
	Statfs(ctx context.Context, c *Cred, h Handle) (Statfs, error)
}

// Common errors, for backends and tests.
const (
	ErrStale  = syscall.ESTALE
	ErrNoEnt  = syscall.ENOENT
	ErrAccess = syscall.EACCES
	ErrExist  = syscall.EEXIST
	ErrBadFH  = syscall.EBADF
)

// LockType is the type of a byte-range lock.
type LockType uint8

// Lock types.
const (
	ReadLock LockType = iota + 1
	WriteLock
)

// HandleLookuper is implemented by backends that can name an entry's
// handle more cheaply than describe it (localfs answers from a directory
// entry cache): LOOKUP, which returns no attributes, uses it. Errors are
// Lookup's. The handle may be shared with the backend's cache: callers
// must not modify it.
type HandleLookuper interface {
	LookupHandle(ctx context.Context, c *Cred, dir Handle, name string) (Handle, error)
}

// CreateOpener is implemented by backends for which opening a file they
// have just created costs more than keeping it open (CephFS: a second MDS
// request): OPEN with create uses it. flags are Open's. The File is the
// new file open with flags, whatever its mode (as for the creator of a
// file in POSIX), and nil when the file existed already (existed true);
// the caller then opens it as usual.
type CreateOpener interface {
	CreateOpen(ctx context.Context, c *Cred, dir Handle, name string, mode CreateMode, sa *SetAttr, verf [8]byte, flags int) (Handle, Attr, bool, File, error)
}

// Locker is implemented by File values of backends that can enforce
// byte-range locks themselves (OFD locks locally, ceph_ll_setlk on CephFS),
// so that locks taken through one gateway conflict with locks taken through
// another or by local processes. Length 0 means "to the end of the file".
// A conflicting lock yields EAGAIN.
type Locker interface {
	SetLock(ctx context.Context, owner uint64, t LockType, off, length uint64) error
	Unlock(ctx context.Context, owner uint64, off, length uint64) error
}

// Delegator is implemented by File values of backends that can grant NFSv4
// delegations backed by the filesystem itself (ceph_ll_delegation on
// CephFS), so that a conflicting access through another gateway or client
// of the same filesystem recalls a delegation granted through this one.
//
// Delegate asks for a read (ReadLock) or write (WriteLock) delegation on the
// open file; EAGAIN means a conflicting open exists, EOPNOTSUPP that the
// backend or its configuration does not offer delegations. recall runs on
// its own goroutine when the delegation must be given back; the holder must
// then call ReturnDelegation promptly (CephFS evicts a gateway that does not
// within its delegation timeout). Closing the File ends its delegation.
type Delegator interface {
	Delegate(t LockType, recall func()) error
	ReturnDelegation() error
}

// DelegationDeadline is implemented by Delegator files whose backend
// punishes a delegation returned late (libcephfs forcibly unmounts the
// whole client): ReturnTimeout is how long after the recall callback the
// holder has to call ReturnDelegation.
type DelegationDeadline interface {
	ReturnTimeout() time.Duration
}

// LockTester is implemented by Locker files that can test for a
// conflicting byte-range lock held in the backend (through another gateway,
// another CephFS client, or a local process), for NFS LOCKT. It reports
// whether taking t on the range for owner would conflict and, if so, one
// conflicting lock (length 0: to the end of the file). Locks held by owner
// through the same backend file do not conflict.
type LockTester interface {
	TestLock(ctx context.Context, owner uint64, t LockType, off, length uint64) (conflict bool, ct LockType, coff, clen uint64, err error)
}

// MaxNameLen is the longest directory entry name (NAME_MAX on Linux and
// CephFS).
const MaxNameLen = 255

// ValidName checks a single path component from a client: EINVAL for "",
// ".", "..", or a name holding '/' or NUL (which would address another
// object than the one named; the engine walks up with Parent, and ".."
// would let LOOKUP climb out of the export), ENAMETOOLONG beyond
// MaxNameLen.
func ValidName(name string) error {
	if name == "" || name == "." || name == ".." {
		return syscall.EINVAL
	}
	if len(name) > MaxNameLen {
		return syscall.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
