package localfs

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// TestFDCacheStale checks that a cached descriptor never hides a removal:
// GETATTR of a removed file's handle is ESTALE, cached or not.
func TestFDCacheStale(t *testing.T) {
	fs := newTestFS(t)
	h, _, _, err := fs.Create(ctx, fsal.Root, fs.Root(), "f", fsal.Unchecked, &fsal.SetAttr{}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Getattr(ctx, fsal.Root, h); err != nil {
		t.Fatal(err)
	}
	e := fs.fds.get(h)
	if e == nil {
		t.Fatal("Getattr did not cache the descriptor")
	}
	e.release()
	if err := fs.Remove(ctx, fsal.Root, fs.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.Getattr(ctx, fsal.Root, h); !errors.Is(err, syscall.ESTALE) {
		t.Fatalf("Getattr of a removed file: %v, want ESTALE", err)
	}
}

// TestFDCacheChurn hammers a tiny cache from many goroutines while files
// come and go, for the race detector and the descriptor accounting: after
// Close no descriptor may remain.
func TestFDCacheChurn(t *testing.T) {
	requireRoot(t)
	before := openFDs(t)
	fs, err := New(t.TempDir(), Options{FDCacheSize: fdShards}) // one entry per shard
	if err != nil {
		t.Fatal(err)
	}
	var handles []fsal.Handle
	for i := 0; i < 200; i++ {
		h, _, _, err := fs.Create(ctx, fsal.Root, fs.Root(), fmt.Sprint(i), fsal.Unchecked, &fsal.SetAttr{}, [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		handles = append(handles, h)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				n := (i*7 + g) % len(handles)
				a, err := fs.Getattr(ctx, fsal.Root, handles[n])
				if err != nil && !errors.Is(err, syscall.ESTALE) {
					t.Error(err)
					return
				}
				if err == nil && a.Fileid == 0 {
					t.Error("empty attributes")
					return
				}
				if g == 0 && i%50 == 0 {
					fs.Remove(ctx, fsal.Root, fs.Root(), fmt.Sprint(n))
				}
			}
		}(g)
	}
	wg.Wait()
	fs.Close()
	for fd, target := range openFDs(t) {
		if _, ok := before[fd]; !ok {
			t.Errorf("leaked fd %s -> %s", fd, target)
		}
	}
}

// TestDirCacheStale: Lookup, Parent and Readdir work relative to a cached
// descriptor of the directory; once the directory is removed they must
// report ESTALE as an uncached resolution does, not ENOENT, an empty
// listing or the old parent.
func TestDirCacheStale(t *testing.T) {
	fs := newTestFS(t)
	ops := map[string]func(c *fsal.Cred, d fsal.Handle) error{
		"Lookup": func(c *fsal.Cred, d fsal.Handle) error { _, _, err := fs.Lookup(ctx, c, d, "f"); return err },
		"Parent": func(c *fsal.Cred, d fsal.Handle) error { _, _, err := fs.Parent(ctx, c, d); return err },
		"Readdir": func(c *fsal.Cred, d fsal.Handle) error {
			_, err := fs.Readdir(ctx, c, d, 0, false, func(*fsal.DirEntry) bool { return true })
			return err
		},
		"Readdir with attributes": func(c *fsal.Cred, d fsal.Handle) error {
			_, err := fs.Readdir(ctx, c, d, 0, true, func(*fsal.DirEntry) bool { return true })
			return err
		},
	}
	for name, op := range ops {
		for _, c := range []*fsal.Cred{fsal.Root, user1} {
			d, _, err := fs.Mkdir(ctx, fsal.Root, fs.Root(), "d", &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o777})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := fs.Create(ctx, fsal.Root, d, "f", fsal.Guarded, nil, [8]byte{}); err != nil {
				t.Fatal(err)
			}
			if err := op(c, d); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if e := fs.fds.get(d); e == nil {
				t.Fatalf("%s did not cache the directory's descriptor", name)
			} else {
				e.release()
			}
			if err := fs.Remove(ctx, fsal.Root, d, "f"); err != nil {
				t.Fatal(err)
			}
			if err := fs.Remove(ctx, fsal.Root, fs.Root(), "d"); err != nil {
				t.Fatal(err)
			}
			wantErr(t, name+" of a removed, cached directory", op(c, d), syscall.ESTALE)
		}
	}
}

// TestDirCacheCreds: a directory descriptor cached by one caller's lookup
// grants nothing to the next: lookups and listings are still checked
// against each caller's identity.
func TestDirCacheCreds(t *testing.T) {
	fs := newTestFS(t)
	if err := unix.Fchmod(fs.mountFD, 0o755); err != nil {
		t.Fatal(err)
	}
	// Readable by others but not searchable: no lookups.
	d, _, err := fs.Mkdir(ctx, fsal.Root, fs.Root(), "d", &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o744})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := fs.Create(ctx, fsal.Root, d, "f", fsal.Guarded, nil, [8]byte{}); err != nil {
		t.Fatal(err)
	}
	for range 2 { // uncached, then cached
		if _, _, err := fs.Lookup(ctx, fsal.Root, d, "f"); err != nil {
			t.Fatal(err)
		}
		_, _, err = fs.Lookup(ctx, user1, d, "f")
		wantErr(t, "Lookup in a dir without search permission", err, syscall.EACCES)
		_, err = fs.Readdir(ctx, user1, d, 0, true, func(*fsal.DirEntry) bool { return true })
		wantErr(t, "Readdir with attributes of a dir without search permission", err, syscall.EACCES)
	}
	if _, err := fs.Setattr(ctx, fsal.Root, d, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o700}); err != nil {
		t.Fatal(err)
	}
	_, err = fs.Readdir(ctx, user1, d, 0, false, func(*fsal.DirEntry) bool { return true })
	wantErr(t, "Readdir of a 0700 dir", err, syscall.EACCES)
}

// TestLookupLongNames: names are NUL-terminated in a fixed buffer up to
// the longest name Linux allows, beyond it in an allocated one.
func TestLookupLongNames(t *testing.T) {
	fs := newTestFS(t)
	longest := strings.Repeat("n", 255)
	if _, _, _, err := fs.Create(ctx, fsal.Root, fs.Root(), longest, fsal.Guarded, nil, [8]byte{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), longest); err != nil {
		t.Fatalf("Lookup of a 255-byte name: %v", err)
	}
	_, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), longest+"n")
	wantErr(t, "Lookup of a 256-byte name", err, syscall.ENAMETOOLONG)
	_, _, err = fs.Lookup(ctx, fsal.Root, fs.Root(), strings.Repeat("n", 5000))
	wantErr(t, "Lookup of a 5000-byte name", err, syscall.ENAMETOOLONG)
}
