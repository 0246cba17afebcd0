package localfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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

// ctimeMode makes fs validate its entry caches by ctime, as on a file
// system inotify does not cover.
func ctimeMode(fs *FS) {
	fs.notify.close()
	fs.notify = nil
}

func TestDentsFollowDirectoryChanges(t *testing.T) {
	t.Run("inotify", func(t *testing.T) {
		fs, dir := agedFS(t, Options{}, "a", "b")
		if fs.notify == nil {
			t.Fatal("no notifier on the test's file system")
		}
		testDentsFollow(t, fs, dir)
	})
	t.Run("ctime", func(t *testing.T) {
		fs, dir := agedFS(t, Options{}, "a", "b")
		ctimeMode(fs)
		testDentsFollow(t, fs, dir)
	})
}

func testDentsFollow(t *testing.T, fs *FS, dir string) {
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

// scoped returns a fresh request scope, as the COMPOUND engine makes one per
// request.
func scoped() context.Context {
	return &fsal.ScopedContext{Context: context.Background()}
}

// TestDentsInotify: with inotify, a request checks the queue once, and a
// change made outside the gateway before a request began is seen by it.
func TestDentsInotify(t *testing.T) {
	fs, dir := agedFS(t, Options{}, "a", "b", "c")
	if fs.notify == nil {
		t.Fatal("no notifier on the test's file system")
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(sub, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	handle := func(name string) fsal.Handle {
		h, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), name)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	ha, hb, hsub := handle("a"), handle("b"), handle("sub")

	// One request: the lookups fill the caches of two directories.
	r := scoped()
	for _, n := range []string{"a", "b", "c", "sub"} {
		if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), n); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fs.LookupHandle(r, fsal.Root, hsub, "f"); err != nil {
		t.Fatal(err)
	}
	if n := fs.fds.lim.n.Load(); n != 5 {
		t.Fatalf("%d entries cached, want 5", n)
	}
	if !fsal.ScopeOf(r).Checked(fs.notify.tok) {
		t.Fatal("the request's scope does not record the check")
	}

	// Behind the gateway's back: b replaces a, c goes, sub/f goes.
	if err := os.Rename(filepath.Join(dir, "b"), filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "c")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(sub, "f")); err != nil {
		t.Fatal(err)
	}
	// The next request sees all of it.
	r = scoped()
	if h, err := fs.LookupHandle(r, fsal.Root, fs.Root(), "a"); err != nil || !bytes.Equal(h, hb) {
		t.Fatalf("a after rename: %x, %v; want b's handle %x (a was %x)", h, err, hb, ha)
	}
	for _, n := range []string{"b", "c"} {
		if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), n); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("%s: %v, want ENOENT", n, err)
		}
	}
	if _, err := fs.LookupHandle(r, fsal.Root, hsub, "f"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("sub/f: %v, want ENOENT", err)
	}
	// Only the names that went were forgotten: sub and the new a are cached.
	if n := fs.fds.lim.n.Load(); n != 2 {
		t.Fatalf("%d entries cached, want 2 (a, sub)", n)
	}

	// A request that removes a name itself sees it gone at once.
	r = scoped()
	if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), "a"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Remove(r, fsal.Root, fs.Root(), "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), "a"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("a after this request's REMOVE: %v, want ENOENT", err)
	}
	// So does one that renames.
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r = scoped()
	if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), "x"); err != nil {
		t.Fatal(err)
	}
	if err := fs.Rename(r, fsal.Root, fs.Root(), "x", fs.Root(), "y"); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.LookupHandle(r, fsal.Root, fs.Root(), "x"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("x after this request's RENAME: %v, want ENOENT", err)
	}

	// Without a scope every lookup checks.
	if err := os.Rename(filepath.Join(dir, "y"), filepath.Join(dir, "z")); err != nil {
		t.Fatal(err)
	}
	if _, err := fs.LookupHandle(ctx, fsal.Root, fs.Root(), "y"); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("y: %v, want ENOENT", err)
	}

	// The watches go with the descriptors.
	fs.fds.close()
	fs.notify.mu.Lock()
	left := len(fs.notify.byWD)
	fs.notify.mu.Unlock()
	if n := fs.fds.lim.n.Load(); n != 0 || left != 0 {
		t.Fatalf("after the descriptors went: %d entries, %d watches", n, left)
	}
}

// TestDentsFillRace: a lookup that found its name before an event was
// applied must not cache it afterwards.
func TestDentsFillRace(t *testing.T) {
	lim := &dentLimit{max: 10}
	n := &notifier{lim: lim, byWD: map[int32]*dirEnts{}}
	d := &dirEnts{n: n, wd: 1}
	n.byWD[1] = d
	h := fsal.Handle("old")

	_, gen := d.getGen("a")
	d.forget([]byte("a")) // applied while the lookup ran
	d.addGen("a", h, gen, lim)
	if got, _ := d.getGen("a"); got != nil {
		t.Fatal("a fill that raced an event was cached")
	}

	_, gen = d.getGen("a")
	d.addGen("a", h, gen, lim)
	if got, _ := d.getGen("a"); !bytes.Equal(got, h) {
		t.Fatalf("got %q, want %q", got, h)
	}
	if lim.n.Load() != 1 {
		t.Fatalf("%d counted, want 1", lim.n.Load())
	}
}

// TestDentsOverflow: a queue overflow forgets every cached entry, and an
// event for a name forgets only that name.
func TestDentsOverflow(t *testing.T) {
	lim := &dentLimit{max: 10}
	n := &notifier{lim: lim, byWD: map[int32]*dirEnts{}}
	d1 := &dirEnts{n: n, wd: 1}
	d2 := &dirEnts{n: n, wd: 2}
	n.byWD[1] = d1
	n.byWD[2] = d2
	for _, d := range []*dirEnts{d1, d2} {
		for _, name := range []string{"a", "b"} {
			_, g := d.getGen(name)
			d.addGen(name, fsal.Handle(name), g, lim)
		}
	}
	event := func(wd int32, mask uint32, name string) []byte {
		l := 0
		if name != "" {
			l = (len(name) + 16) &^ 15 // NUL padded, as the kernel does
		}
		b := make([]byte, inotifyHeader+l)
		binary.NativeEndian.PutUint32(b[0:], uint32(wd))
		binary.NativeEndian.PutUint32(b[4:], mask)
		binary.NativeEndian.PutUint32(b[12:], uint32(l))
		copy(b[inotifyHeader:], name)
		return b
	}
	n.apply(event(1, unix.IN_DELETE, "a"))
	if h, _ := d1.getGen("a"); h != nil || lim.n.Load() != 3 {
		t.Fatalf("after IN_DELETE of a: a=%q, %d counted, want nil, 3", h, lim.n.Load())
	}
	if h, _ := d1.getGen("b"); h == nil {
		t.Fatal("b forgotten by a's event")
	}
	n.apply(append(event(7, unix.IN_MOVED_TO, "zz"), event(-1, unix.IN_Q_OVERFLOW, "")...))
	for _, d := range []*dirEnts{d1, d2} {
		if h, _ := d.getGen("b"); h != nil {
			t.Fatal("an entry survived a queue overflow")
		}
	}
	if lim.n.Load() != 0 {
		t.Fatalf("%d counted after the overflow", lim.n.Load())
	}
}
