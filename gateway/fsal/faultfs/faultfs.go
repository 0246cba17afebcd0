// Package faultfs wraps an fsal.FS so that tests can make chosen backend
// calls block until released, as a slow or stuck backend would (a CephFS
// ceph_ll_setlk waiting on the MDS, a WRITE stuck on a full OSD). A held
// call returns when its hold is released, or with its context's error
// when the request is cancelled.
package faultfs

import (
	"context"
	"sync"

	"nfsgw/gateway/fsal"
)

// Op names a backend call that can be held.
type Op uint8

// Calls that can be held.
const (
	SetLock Op = iota + 1
	Unlock
	Write
	Sync
	Read
	Getattr
	numOps
)

// FS is an fsal.FS whose calls can be held. Files it opens implement
// fsal.Locker and fsal.LockTester when the wrapped backend's do.
type FS struct {
	fsal.FS

	mu    sync.Mutex
	holds [numOps]*Hold
}

// New wraps fs.
func New(fs fsal.FS) *FS { return &FS{FS: fs} }

// Hold makes every call of op block, from now until the returned hold is
// released.
func (f *FS) Hold(op Op) *Hold {
	h := &Hold{entered: make(chan struct{}), release: make(chan struct{})}
	f.mu.Lock()
	f.holds[op] = h
	f.mu.Unlock()
	return h
}

// Hold is one held call kind.
type Hold struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
	relOnce sync.Once
	n       int
	mu      sync.Mutex
}

// Entered is closed once a call has started waiting on the hold.
func (h *Hold) Entered() <-chan struct{} { return h.entered }

// Waiting reports how many calls are waiting on the hold now.
func (h *Hold) Waiting() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Release lets the held calls (and later ones) through.
func (h *Hold) Release() { h.relOnce.Do(func() { close(h.release) }) }

// wait blocks a call of op while it is held: nil once released, the
// context's error if the caller gives up first.
func (f *FS) wait(ctx context.Context, op Op) error {
	f.mu.Lock()
	h := f.holds[op]
	f.mu.Unlock()
	if h == nil {
		return nil
	}
	select {
	case <-h.release:
		return nil
	default:
	}
	h.mu.Lock()
	h.n++
	h.mu.Unlock()
	h.once.Do(func() { close(h.entered) })
	defer func() {
		h.mu.Lock()
		h.n--
		h.mu.Unlock()
	}()
	select {
	case <-h.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Getattr is the wrapped backend's, held by Getattr.
func (f *FS) Getattr(ctx context.Context, c *fsal.Cred, h fsal.Handle) (fsal.Attr, error) {
	if err := f.wait(ctx, Getattr); err != nil {
		return fsal.Attr{}, err
	}
	return f.FS.Getattr(ctx, c, h)
}

// Open opens a file of the wrapped backend whose calls can be held.
func (f *FS) Open(ctx context.Context, c *fsal.Cred, h fsal.Handle, flags int) (fsal.File, error) {
	inner, err := f.FS.Open(ctx, c, h, flags)
	if err != nil {
		return nil, err
	}
	ff := &file{File: inner, fs: f}
	lk, isLocker := inner.(fsal.Locker)
	lt, isTester := inner.(fsal.LockTester)
	if isLocker && isTester {
		return &lockFile{file: ff, lk: lk, lt: lt}, nil
	}
	return ff, nil
}

type file struct {
	fsal.File
	fs *FS
}

func (f *file) ReadAt(ctx context.Context, p []byte, off uint64) (int, bool, error) {
	if err := f.fs.wait(ctx, Read); err != nil {
		return 0, false, err
	}
	return f.File.ReadAt(ctx, p, off)
}

func (f *file) WriteAt(ctx context.Context, p []byte, off uint64) (int, error) {
	if err := f.fs.wait(ctx, Write); err != nil {
		return 0, err
	}
	return f.File.WriteAt(ctx, p, off)
}

func (f *file) Sync(ctx context.Context, dataOnly bool) error {
	if err := f.fs.wait(ctx, Sync); err != nil {
		return err
	}
	return f.File.Sync(ctx, dataOnly)
}

type lockFile struct {
	*file
	lk fsal.Locker
	lt fsal.LockTester
}

func (f *lockFile) SetLock(ctx context.Context, owner uint64, t fsal.LockType, off, length uint64) error {
	if err := f.fs.wait(ctx, SetLock); err != nil {
		return err
	}
	return f.lk.SetLock(ctx, owner, t, off, length)
}

func (f *lockFile) Unlock(ctx context.Context, owner uint64, off, length uint64) error {
	if err := f.fs.wait(ctx, Unlock); err != nil {
		return err
	}
	return f.lk.Unlock(ctx, owner, off, length)
}

func (f *lockFile) TestLock(ctx context.Context, owner uint64, t fsal.LockType, off, length uint64) (bool, fsal.LockType, uint64, uint64, error) {
	return f.lt.TestLock(ctx, owner, t, off, length)
}
