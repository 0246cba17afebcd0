//go:build noceph

package cephfsal

import (
	"errors"
	"time"

	"nfsgw/gateway/fsal"
)

// The noceph build has the package's API without libcephfs, so that the
// gateway builds (serving local directories only) where libcephfs-dev is
// missing.

var errNoCeph = errors.New("cephfsal: built without CephFS support (noceph build tag; install libcephfs-dev and rebuild without it)")

// Mount is a CephFS client; this build cannot make one.
type Mount struct{}

// FS is an exported CephFS directory.
type FS struct{ fsal.FS }

// Close does nothing.
func (*FS) Close() error { return nil }

// RawFile is a file opened straight through libcephfs.
type RawFile struct{}

// NewMount fails: built without CephFS support.
func NewMount(MountOptions) (*Mount, error) { return nil, errNoCeph }

// Export fails: built without CephFS support.
func (*Mount) Export(string, bool) (*FS, error) { return nil, errNoCeph }

// ExportLazy fails: no CephFS support in this build.
func (*Mount) ExportLazy(string, bool) (*FS, error) { return nil, errNoCeph }

// Ready fails: no CephFS support in this build.
func (*FS) Ready() error { return errNoCeph }

// Close does nothing.
func (*Mount) Close() error { return nil }

// FSCID returns 0.
func (*Mount) FSCID() uint64 { return 0 }

// SessionUUID returns "".
func (*Mount) SessionUUID() string { return "" }

// RawOpen fails: built without CephFS support.
func (*Mount) RawOpen(string, int, uint32) (*RawFile, error) { return nil, errNoCeph }

// ReadAt fails.
func (*RawFile) ReadAt([]byte, int64) (int, error) { return 0, errNoCeph }

// WriteAt fails.
func (*RawFile) WriteAt([]byte, int64) (int, error) { return 0, errNoCeph }

// Sync fails.
func (*RawFile) Sync() error { return errNoCeph }

// Close does nothing.
func (*RawFile) Close() error { return nil }

// LibVersion returns "" (no libcephfs).
func LibVersion() string { return "" }

// Reset is a stub.
func (*Mount) Reset() ResetResult { return ResetNotTried }

// ResetSession is a stub.
func ResetSession(MountOptions, string) (ResetResult, error) { return ResetNotTried, errNoCeph }

// Abort is a stub.
func (*Mount) Abort() error { return nil }

// CallNames returns no names: no libcephfs calls in this build.
func CallNames() []string { return nil }

// SetCallObserver does nothing: no libcephfs calls in this build.
func SetCallObserver(func(call int, d time.Duration, err error)) {}
