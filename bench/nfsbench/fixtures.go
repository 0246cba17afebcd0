package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// fixtureSpec is the pre-made tree some workloads read (its names:
// benchkit's fixtures.go): made with plain system calls on the local side
// of the export, before any server starts, so that every server compared in
// a run sees the very same files and no workload spends its time creating
// them over NFS.
type fixtureSpec struct {
	many, big, depth, small int
}

func (s fixtureSpec) marker() string {
	return benchkit.FixtureMarker(s.many, s.big, s.depth, s.small)
}

// makeFixtures creates the tree under root/fixtures, or leaves it when a
// marker says it is already complete. Files are world-writable so the
// clients' uid does not matter.
func makeFixtures(root string, s fixtureSpec) error {
	top := filepath.Join(root, benchkit.FixtureDir)
	if _, err := os.Stat(filepath.Join(top, s.marker())); err == nil {
		return nil
	}
	if err := os.RemoveAll(top); err != nil {
		return err
	}
	for _, d := range []string{"many", "big", "small"} {
		if err := os.MkdirAll(filepath.Join(top, d), 0o777); err != nil {
			return err
		}
	}
	if err := createFiles(filepath.Join(top, "many"), s.many, benchkit.ManyName, nil); err != nil {
		return err
	}
	if err := createFiles(filepath.Join(top, "big"), s.big, benchkit.BigName, nil); err != nil {
		return err
	}
	data := make([]byte, 4096)
	benchkit.FillPattern(data)
	if err := createFiles(filepath.Join(top, "small"), s.small, benchkit.SmallName, data); err != nil {
		return err
	}
	comps := benchkit.DeepComponents(s.depth)
	dir := filepath.Join(append([]string{top, "deep"}, comps[:len(comps)-1]...)...)
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "leaf"), data, 0o666); err != nil {
		return err
	}
	for d := range benchkit.WalkDirs {
		wd := filepath.Join(top, "walk", benchkit.WalkDirName(d))
		if err := os.MkdirAll(wd, 0o777); err != nil {
			return err
		}
		if err := createFiles(wd, benchkit.WalkFiles, benchkit.WalkFileName, nil); err != nil {
			return err
		}
	}
	// Sync so the write-back of the fixtures does not run during the
	// measurements.
	unix.Sync()
	return os.WriteFile(filepath.Join(top, s.marker()), nil, 0o644)
}

// createFiles creates n files in dir, a few goroutines at a time.
func createFiles(dir string, n int, name func(int) string, data []byte) error {
	var next atomic.Int64
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fd, err := unix.Open(filepath.Join(dir, name(i)), unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o666)
				if err == nil {
					if len(data) > 0 {
						_, err = unix.Write(fd, data)
					}
					unix.Close(fd)
				}
				if err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("create %s: %w", name(i), err)
					}
					mu.Unlock()
					next.Store(int64(n))
					return
				}
			}
		})
	}
	wg.Wait()
	return first
}

// fixtureFHs looks up the fixture directories over NFS.
type fixtureFHs struct {
	top, many, big, deep, small []byte
}

func (b *bench) fixtures(ctx context.Context) (*fixtureFHs, error) {
	if b.fix != nil {
		return b.fix, nil
	}
	if b.cfg.fixtures == "" {
		if b.tmp == "" {
			return nil, errors.New("this workload needs -fixtures (and the tree made by -make-fixtures)")
		}
		// The bench owns the server: make the tree in its directory.
		logf("making fixtures in %s", b.tmp)
		if err := makeFixtures(b.tmp, b.cfg.fix); err != nil {
			return nil, err
		}
		b.cfg.fixtures = benchkit.FixtureDir
	}
	p := strings.TrimSuffix(b.exportPath, "/") + "/" + strings.Trim(b.cfg.fixtures, "/")
	top, _, err := b.admin.LookupPath(ctx, p)
	if err != nil {
		return nil, fmt.Errorf("lookup %s: %w", p, err)
	}
	f := &fixtureFHs{top: top}
	for _, d := range []struct {
		name string
		fh   *[]byte
	}{{"many", &f.many}, {"big", &f.big}, {"deep", &f.deep}, {"small", &f.small}} {
		if *d.fh, err = lookupAt(ctx, b.admin, top, d.name); err != nil {
			return nil, fmt.Errorf("lookup %s/%s: %w", p, d.name, err)
		}
	}
	b.fix = f
	return f, nil
}

// localFixture is the local path of a fixture directory, or "" when the
// bench does not know where the export lives locally (no raw figures).
func (b *bench) localFixture(sub string) string {
	root := b.cfg.localRoot
	if b.tmp != "" {
		root = b.tmp
	}
	if root == "" {
		return ""
	}
	return filepath.Join(root, strings.Trim(b.cfg.fixtures, "/"), sub)
}
