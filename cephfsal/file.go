//go:build !noceph

package cephfsal

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"syscall"
	"time"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// Open opens the regular file h for I/O with c's permissions. The owner of
// a file may open it regardless of its permission bits ("owner override",
// as knfsd and localfs do): NFS checks access at OPEN, and a client that
// created a file with mode 0444 and then writes to it must not be refused
// halfway. Other types fail: EISDIR, ELOOP for a symlink, EINVAL otherwise.
func (fs *FS) Open(ctx context.Context, c *fsal.Cred, h fsal.Handle, flags int) (fsal.File, error) {
	acc, err := accessMode(flags)
	if err != nil {
		return nil, err
	}
	if fs.readOnly && flags&fsal.OpenWrite != 0 {
		return nil, syscall.EROFS
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return nil, err
	}
	switch st.Mode() & syscall.S_IFMT {
	case syscall.S_IFREG:
	case syscall.S_IFDIR:
		err = syscall.EISDIR
	case syscall.S_IFLNK:
		err = syscall.ELOOP
	default:
		err = syscall.EINVAL
	}
	if err != nil {
		r.release()
		return nil, err
	}
	p := fs.m.perm(c)
	fh, err := fs.ll.Open(ctx, r.v.in, acc, p.p)
	p.release()
	if errors.Is(err, syscall.EACCES) && c != nil && st.UID() == c.UID {
		fh, err = fs.ll.Open(ctx, r.v.in, acc, fs.m.root)
	}
	if err != nil {
		r.release()
		return nil, err
	}
	r.v.opens.Add(1)
	return newFile(fs.ll, r, fh, fs.m.opts.DelegationTimeout, fs.m.root), nil
}

// accessMode maps fsal open flags to an O_ access mode.
func accessMode(flags int) (int, error) {
	switch flags {
	case fsal.OpenRead:
		return syscall.O_RDONLY, nil
	case fsal.OpenWrite:
		return syscall.O_WRONLY, nil
	case fsal.OpenRead | fsal.OpenWrite:
		return syscall.O_RDWR, nil
	}
	return 0, syscall.EINVAL
}

// File is an open CephFS file. It implements fsal.File, fsal.Locker and
// fsal.Delegator.
type File struct {
	ll     *cephll.Mount
	node   *ref[*node] // keeps the inode for size checks
	fh     cephll.Fh
	root   *cephll.Perm
	deleg  atomic.Uint64 // cephll.DelegID of a granted delegation, or 0
	delegs time.Duration // the mount's delegation timeout (0: none)

	// state counts calls in flight, plus closedBit once Close began: a
	// libcephfs Fh must not be closed while another call still uses it,
	// and no Go lock may be held across those (blocking) calls.
	state atomic.Int64
	done  chan struct{}
}

const closedBit = 1 << 62

var (
	_ fsal.File               = (*File)(nil)
	_ fsal.Locker             = (*File)(nil)
	_ fsal.Delegator          = (*File)(nil)
	_ fsal.LockTester         = (*File)(nil)
	_ fsal.DelegationDeadline = (*File)(nil)
)

func newFile(ll *cephll.Mount, r *ref[*node], fh cephll.Fh, delegs time.Duration, root *cephll.Perm) *File {
	return &File{ll: ll, node: r, fh: fh, delegs: delegs, root: root, done: make(chan struct{})}
}

func (f *File) acquire() bool {
	for {
		s := f.state.Load()
		if s&closedBit != 0 {
			return false
		}
		if f.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (f *File) release() {
	if f.state.Add(-1) == closedBit {
		close(f.done) // the last call of a closing file: let Close proceed
	}
}

// ReadAt reads at off. eof is set when the read reaches the end of the
// file, also when it exactly fills p up to the last byte (which costs a
// getattr, normally answered from the client's caps).
func (f *File) ReadAt(ctx context.Context, p []byte, off uint64) (int, bool, error) {
	if !f.acquire() {
		return 0, false, syscall.EBADF
	}
	defer f.release()
	if off > math.MaxInt64 {
		return 0, true, nil
	}
	n, err := f.ll.Read(ctx, f.fh, int64(off), p)
	if err != nil {
		if n == 0 && (errors.Is(err, syscall.EFBIG) || errors.Is(err, syscall.EINVAL)) && f.size(ctx) <= off {
			return 0, true, nil // far past the end
		}
		return n, false, err
	}
	if n < len(p) {
		return n, true, nil
	}
	return n, off+uint64(n) >= f.size(ctx), nil
}

func (f *File) size(ctx context.Context) uint64 {
	var st cephll.Statx
	if f.ll.Getattr(ctx, f.node.v.in, &st, cephll.StatxSize, 0, f.root) != nil {
		return math.MaxUint64 // unknown: do not claim eof
	}
	return st.Size()
}

// WriteAt writes p at off.
func (f *File) WriteAt(ctx context.Context, p []byte, off uint64) (int, error) {
	if !f.acquire() {
		return 0, syscall.EBADF
	}
	defer f.release()
	if off > math.MaxInt64 || uint64(len(p)) > math.MaxInt64-off {
		return 0, syscall.EFBIG
	}
	return f.ll.Write(ctx, f.fh, int64(off), p)
}

// Sync makes written data (and, unless dataOnly, metadata) stable.
func (f *File) Sync(ctx context.Context, dataOnly bool) error {
	if !f.acquire() {
		return syscall.EBADF
	}
	defer f.release()
	return f.ll.Fsync(ctx, f.fh, dataOnly)
}

// Close waits for calls in flight, then closes the file, which releases its
// byte-range locks and ends its delegation.
func (f *File) Close() error {
	for {
		s := f.state.Load()
		if s&closedBit != 0 {
			return syscall.EBADF
		}
		if f.state.CompareAndSwap(s, s|closedBit) {
			if s != 0 {
				<-f.done
			}
			break
		}
	}
	if id := f.deleg.Swap(0); id != 0 {
		cephll.Forget(cephll.DelegID(id))
	}
	err := f.ll.Close(context.Background(), f.fh)
	f.node.v.opens.Add(-1)
	f.node.release()
	return err
}

// SetLock takes a byte-range lock for owner without waiting (EAGAIN on a
// conflict). The lock lives in the MDS, so it conflicts with locks taken
// through other gateways and CephFS clients; within this gateway, owners
// tell lock holders apart, and a File's locks go with its Close. A range
// reaching past 2^63-1 means "to the end of the file".
func (f *File) SetLock(ctx context.Context, owner uint64, t fsal.LockType, off, length uint64) error {
	var typ int16
	switch t {
	case fsal.ReadLock:
		typ = cephll.LockRead
	case fsal.WriteLock:
		typ = cephll.LockWrite
	default:
		return syscall.EINVAL
	}
	return f.lock(ctx, owner, typ, off, length)
}

// Unlock releases a byte-range lock (or part of one).
func (f *File) Unlock(ctx context.Context, owner uint64, off, length uint64) error {
	return f.lock(ctx, owner, cephll.LockUnlock, off, length)
}

func (f *File) lock(ctx context.Context, owner uint64, typ int16, off, length uint64) error {
	if off > math.MaxInt64 {
		return syscall.EINVAL
	}
	if length > math.MaxInt64-off {
		length = 0
	}
	if !f.acquire() {
		return syscall.EBADF
	}
	defer f.release()
	fl := cephll.Flock{Type: typ, Start: int64(off), Len: int64(length)}
	err := f.ll.Setlk(ctx, f.fh, &fl, owner, false)
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EWOULDBLOCK) {
		err = syscall.EAGAIN
	}
	return err
}

// TestLock reports whether taking t on the range for owner would conflict
// with a lock held by another owner, here or through any other CephFS
// client, and if so describes one such lock (for NFS LOCKT; length 0 means
// to the end of the file).
func (f *File) TestLock(ctx context.Context, owner uint64, t fsal.LockType, off, length uint64) (conflict bool, ct fsal.LockType, coff, clen uint64, err error) {
	var typ int16
	switch t {
	case fsal.ReadLock:
		typ = cephll.LockRead
	case fsal.WriteLock:
		typ = cephll.LockWrite
	default:
		return false, 0, 0, 0, syscall.EINVAL
	}
	if off > math.MaxInt64 {
		return false, 0, 0, 0, syscall.EINVAL
	}
	if length > math.MaxInt64-off {
		length = 0
	}
	if !f.acquire() {
		return false, 0, 0, 0, syscall.EBADF
	}
	defer f.release()
	fl := cephll.Flock{Type: typ, Start: int64(off), Len: int64(length)}
	if err := f.ll.Getlk(ctx, f.fh, &fl, owner); err != nil {
		return false, 0, 0, 0, err
	}
	switch fl.Type {
	case cephll.LockUnlock:
		return false, 0, 0, 0, nil
	case cephll.LockRead:
		ct = fsal.ReadLock
	default:
		ct = fsal.WriteLock
	}
	return true, ct, uint64(fl.Start), uint64(fl.Len), nil
}

// Delegate asks the MDS for a delegation on this file (see
// fsal.Delegator). A read delegation needs the file open for reading, a
// write delegation for writing. Asking again replaces the delegation.
func (f *File) Delegate(t fsal.LockType, recall func()) error {
	if f.delegs <= 0 {
		return syscall.EOPNOTSUPP
	}
	var cmd uint
	switch t {
	case fsal.ReadLock:
		cmd = cephll.DelegRead
	case fsal.WriteLock:
		cmd = cephll.DelegWrite
	default:
		return syscall.EINVAL
	}
	if !f.acquire() {
		return syscall.EBADF
	}
	defer f.release()
	// Delegate has no request context (fsal.Delegator).
	id, err := f.ll.Delegate(context.Background(), f.fh, cmd, recall)
	if err != nil {
		if errors.Is(err, syscall.ETIME) {
			err = syscall.EOPNOTSUPP
		}
		return err
	}
	if old := f.deleg.Swap(uint64(id)); old != 0 {
		cephll.Forget(cephll.DelegID(old))
	}
	return nil
}

// ReturnTimeout is the mount's delegation timeout: a recalled delegation
// not returned within it gets the whole client unmounted by libcephfs.
func (f *File) ReturnTimeout() time.Duration { return f.delegs }

// ReturnDelegation gives the delegation back (a no-op without one).
func (f *File) ReturnDelegation() error {
	if !f.acquire() {
		return syscall.EBADF
	}
	defer f.release()
	id := f.deleg.Swap(0)
	if id == 0 {
		return nil
	}
	return f.ll.ReturnDelegation(f.fh, cephll.DelegID(id))
}
