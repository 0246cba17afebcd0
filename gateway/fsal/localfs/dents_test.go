package localfs

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
)

// agedFS exports a fresh directory holding the files names, aged past a
// shortened minAge so that the caches take them.
func agedFS(t *testing.T, opts Options, names ...string) (*FS, string) {
	t.Helper()
	requireRoot(t)
	dir := t.TempDir()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := newAt(t, dir, opts)
	fs.inos.minAge = 50 * time.Millisecond
	time.Sleep(fs.inos.minAge + 10*time.Millisecond)
	return fs, dir
}

func TestDentsFollowDirectoryChanges(t *testing.T) {
	fs, dir := agedFS(t, Options{}, "a", "b")
	want, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "a")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		h, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "a")
		if err != nil || !bytes.Equal(h, want) {
			t.Fatalf("LookupHandle #%d = %x, %v; want %x", i, h, err, want)
		}
	}
	if n := fs.fds.lim.n.Load(); n != 1 {
		t.Fatalf("%d entries cached, want 1", n)
	}

	// Replace "a" by "b" behind the gateway's back: the directory's ctime
	// moves, so the cached entry must not be used.
	wantB, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "b")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	h, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "a")
	if err != nil || !bytes.Equal(h, wantB) {
		t.Fatalf("after rename: %x, %v; want b's handle %x", h, err, wantB)
	}
	if _, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "b"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("renamed-away name: %v, want ENOENT", err)
	}

	// Once the directory is old again, entries are cached under its new
	// ctime, and a removal is seen at once.
	time.Sleep(fs.inos.minAge + 10*time.Millisecond)
	for range 2 {
		if h, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "a"); err != nil || !bytes.Equal(h, wantB) {
			t.Fatalf("%x, %v", h, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "a"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("removed name: %v, want ENOENT", err)
	}
}

// TestDentsOnlyForRoot: a caller who may not search the directory is
// refused even when root's lookups filled its entry cache.
func TestDentsOnlyForRoot(t *testing.T) {
	fs, dir := agedFS(t, Options{})
	if err := os.Mkdir(filepath.Join(dir, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "private", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(fs.inos.minAge + 10*time.Millisecond)
	priv, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "private")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := fs.LookupHandle(ctx, fsal.Root, priv, "f"); err != nil {
			t.Fatal(err)
		}
	}
	user := &fsal.Cred{UID: 1000, GID: 1000}
	if _, err := fs.LookupHandle(ctx, user, priv, "f"); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("user lookup in a 0700 root directory: %v, want EACCES", err)
	}
}

func TestDentsBounded(t *testing.T) {
	names := make([]string, 50)
	for i := range names {
		names[i] = "f" + strconv.Itoa(i)
	}
	fs, _ := agedFS(t, Options{CheckCacheSize: 10}, names...)
	for _, n := range names {
		if _, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), n); err != nil {
			t.Fatal(err)
		}
	}
	if n := fs.fds.lim.n.Load(); n != 10 {
		t.Fatalf("%d entries cached, bound 10", n)
	}
	// Every name still answers, cached or not.
	for _, n := range names {
		h, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), n)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Getattr(ctx, fsal.Root, h); err != nil {
			t.Fatal(err)
		}
	}
	// The entries go with the directory's descriptor.
	fs.fds.close()
	if n := fs.fds.lim.n.Load(); n != 0 {
		t.Fatalf("%d entries counted after the descriptors went", n)
	}
}
