//go:build !noceph

package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"nfsgw/cephfsal"
	"nfsgw/gateway/fsal"
)

// fixtureSpec sizes the fixture tree bench/nfsbench makes and reads (its
// names: benchkit's fixtures.go); -make-fixtures makes one nfsbench's
// -fixtures accepts.
type fixtureSpec struct {
	many, big, depth, small int
}

func (s fixtureSpec) marker() string {
	return benchkit.FixtureMarker(s.many, s.big, s.depth, s.small)
}

// makeConc is how many creates or removes run at once: enough to keep the
// MDS busy, which is what bounds them.
const makeConc = 16

// makeFixtures makes root/fixtures through libcephfs, or leaves it when
// its marker says it is complete (a partial tree is removed first). Files
// are world-writable and directories world-writable too, so the NFS
// clients' uid does not matter.
func makeFixtures(ctx context.Context, m *cephfsal.Mount, fs fsal.FS, root string, s fixtureSpec) error {
	rootH, err := walk(ctx, fs, root)
	if err != nil {
		return fmt.Errorf("%s: %w", root, err)
	}
	top := path.Join(root, benchkit.FixtureDir)
	if th, err := walk(ctx, fs, top); err == nil {
		if _, _, err := fs.Lookup(ctx, fsal.Root, th, s.marker()); err == nil {
			return nil
		}
		if err := removeTree(ctx, fs, rootH, benchkit.FixtureDir); err != nil {
			return fmt.Errorf("remove the partial %s: %w", top, err)
		}
	}
	topH, err := mkdir(ctx, fs, rootH, benchkit.FixtureDir)
	if err != nil {
		return err
	}
	for _, d := range []string{"many", "big", "small"} {
		if _, err := mkdir(ctx, fs, topH, d); err != nil {
			return err
		}
	}
	data := make([]byte, 4096)
	benchkit.FillPattern(data)
	for _, d := range []struct {
		sub  string
		n    int
		name func(int) string
		data []byte
	}{{"many", s.many, benchkit.ManyName, nil}, {"big", s.big, benchkit.BigName, nil}, {"small", s.small, benchkit.SmallName, data}} {
		dir := path.Join(top, d.sub)
		err := parallel(ctx, makeConc, d.n, func(i int) error {
			return putFile(m, path.Join(dir, d.name(i)), d.data)
		})
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
	}
	comps := benchkit.DeepComponents(s.depth)
	dh, err := mkdir(ctx, fs, topH, "deep")
	if err != nil {
		return err
	}
	for _, c := range comps[:len(comps)-1] {
		if dh, err = mkdir(ctx, fs, dh, c); err != nil {
			return err
		}
	}
	if err := putFile(m, path.Join(append([]string{top, "deep"}, comps...)...), data); err != nil {
		return err
	}
	wh, err := mkdir(ctx, fs, topH, "walk")
	if err != nil {
		return err
	}
	for d := range benchkit.WalkDirs {
		if _, err := mkdir(ctx, fs, wh, benchkit.WalkDirName(d)); err != nil {
			return err
		}
	}
	err = parallel(ctx, makeConc, benchkit.WalkDirs*benchkit.WalkFiles, func(i int) error {
		wc := benchkit.WalkComponents(i)
		return putFile(m, path.Join(top, "walk", wc[0], wc[1]), nil)
	})
	if err != nil {
		return fmt.Errorf("%s/walk: %w", top, err)
	}
	return putFile(m, path.Join(top, s.marker()), nil)
}

// putFile creates name (mode 0666) with data.
func putFile(m *cephfsal.Mount, name string, data []byte) error {
	f, err := m.RawOpen(name, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o666)
	if err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	if len(data) > 0 {
		if _, err := f.WriteAt(data, 0); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return f.Close()
}

func mkdir(ctx context.Context, fs fsal.FS, dir fsal.Handle, name string) (fsal.Handle, error) {
	h, _, err := fs.Mkdir(ctx, fsal.Root, dir, name, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o777})
	if err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", name, err)
	}
	return h, nil
}

// walk looks up an absolute CephFS path from the root of fs (an export of
// "/").
func walk(ctx context.Context, fs fsal.FS, p string) (fsal.Handle, error) {
	h := fs.Root()
	for _, c := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		if c == "" {
			continue
		}
		var err error
		if h, _, err = fs.Lookup(ctx, fsal.Root, h, c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// removeTree removes parent/name and everything below it, makeConc
// entries at a time; a name that does not exist is no error.
func removeTree(ctx context.Context, fs fsal.FS, parent fsal.Handle, name string) error {
	h, a, err := fs.Lookup(ctx, fsal.Root, parent, name)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("lookup %s: %w", name, err)
	}
	if a.Type == fsal.TypeDirectory {
		var names []string
		if _, err := fs.Readdir(ctx, fsal.Root, h, 0, false, func(e *fsal.DirEntry) bool {
			names = append(names, e.Name)
			return true
		}); err != nil {
			return fmt.Errorf("list %s: %w", name, err)
		}
		// Files go at once; what is not empty is a directory, emptied
		// afterwards.
		var mu sync.Mutex
		var dirs []string
		err := parallel(ctx, makeConc, len(names), func(i int) error {
			err := fs.Remove(ctx, fsal.Root, h, names[i])
			switch {
			case errors.Is(err, syscall.ENOTEMPTY):
				mu.Lock()
				dirs = append(dirs, names[i])
				mu.Unlock()
				return nil
			case errors.Is(err, syscall.ENOENT):
				return nil
			case err != nil:
				return fmt.Errorf("remove %s/%s: %w", name, names[i], err)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, d := range dirs {
			if err := removeTree(ctx, fs, h, d); err != nil {
				return err
			}
		}
	}
	if err := fs.Remove(ctx, fsal.Root, parent, name); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("remove %s: %w", name, err)
	}
	return nil
}

// removePath removes the absolute CephFS path p and everything below it.
func removePath(ctx context.Context, fs fsal.FS, p string) error {
	p = path.Clean(p)
	if p == "/" {
		return errors.New("will not remove the CephFS root")
	}
	parent, err := walk(ctx, fs, path.Dir(p))
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path.Dir(p), err)
	}
	return removeTree(ctx, fs, parent, path.Base(p))
}

// parallel runs fn(0..n-1) on conc goroutines and returns the first error
// (the others stop taking work then).
func parallel(ctx context.Context, conc, n int, fn func(i int) error) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
