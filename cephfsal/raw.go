//go:build !noceph

package cephfsal

import (
	"context"
	"path"
	"syscall"

	"nfsgw/cephfsal/internal/cephll"
)

// RawFile is a file opened straight through libcephfs by path, as root,
// bypassing handles, caches and credentials. Benchmarks use it to measure
// what the backend itself delivers in the same process ("raw" baselines).
type RawFile struct {
	ll *cephll.Mount
	in cephll.Inode
	fh cephll.Fh
}

// RawOpen opens name (an absolute CephFS path, within the mounted Root)
// with open(2) flags (O_CREAT creates with mode).
func (m *Mount) RawOpen(name string, flags int, mode uint32) (*RawFile, error) {
	ctx := context.Background() // no request: setup, teardown or the gateway's own I/O
	name, err := m.rel(name)
	if err != nil {
		return nil, err
	}
	var st cephll.Statx
	f := &RawFile{ll: m.ll}
	if flags&syscall.O_CREAT != 0 {
		dir, err := m.ll.Walk(ctx, path.Dir(name), &st, cephll.StatxIno, 0, m.root)
		if err != nil {
			return nil, err
		}
		f.in, f.fh, err = m.ll.Create(ctx, dir, path.Base(name), mode, flags, &st, cephll.StatxIno, 0, m.root)
		m.ll.Put(dir)
		if err != nil {
			return nil, err
		}
		return f, nil
	}
	if f.in, err = m.ll.Walk(ctx, name, &st, cephll.StatxIno, 0, m.root); err != nil {
		return nil, err
	}
	if f.fh, err = m.ll.Open(ctx, f.in, flags, m.root); err != nil {
		m.ll.Put(f.in)
		return nil, err
	}
	return f, nil
}

// ReadAt reads at off (0 bytes at the end of the file).
func (f *RawFile) ReadAt(p []byte, off int64) (int, error) {
	return f.ll.Read(context.Background(), f.fh, off, p)
}

// WriteAt writes at off.
func (f *RawFile) WriteAt(p []byte, off int64) (int, error) {
	return f.ll.Write(context.Background(), f.fh, off, p)
}

// Sync flushes written data and metadata.
func (f *RawFile) Sync() error { return f.ll.Fsync(context.Background(), f.fh, false) }

// Close closes the file; it must not be used concurrently with Close.
func (f *RawFile) Close() error {
	err := f.ll.Close(context.Background(), f.fh)
	f.ll.Put(f.in)
	return err
}
