// Package fsaltest is a conformance suite for fsal.FS backends. A backend's
// tests call Run with a constructor for a fresh, empty export; the suite
// exercises every FS and File method, the error contract and concurrent use
// under many identities.
//
// The suite needs superuser semantics from fsal.Root (it creates devices,
// chowns files and checks that other users are refused), which for a local
// backend means the test process runs as root. It uses uids and gids
// between 1000 and 5100, which need not exist in any user database.
package fsaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
)

// Option adapts the suite to a backend's documented limits.
type Option func(*options)

type options struct {
	apparentSpace bool
}

// ApparentSpaceUsed is for backends that cannot count allocated space (CephFS
// keeps no per-file allocation count and reports the size rounded up to 512
// bytes, as its kernel client does): SpaceUsed is then checked to be exactly
// that instead of small for a sparse file.
func ApparentSpaceUsed(o *options) { o.apparentSpace = true }

// Run runs the suite. newFS returns a new export whose root directory is
// empty; it should register its own cleanup with t.
func Run(t *testing.T, newFS func(t *testing.T) fsal.FS, opts ...Option) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RootAndCheck", testRootAndCheck},
		{"GarbageHandles", testGarbageHandles},
		{"Lookup", testLookup},
		{"LookupHandle", testLookupHandle},
		{"Parent", testParent},
		{"CreateModes", testCreateModes},
		{"CreateAttrs", testCreateAttrs},
		{"ExclusiveCreate", testExclusiveCreate},
		{"CreateOpen", testCreateOpen},
		{"Setattr", testSetattr},
		{"MkdirRemove", testMkdirRemove},
		{"StaleAfterRemove", testStale},
		{"RemovedWhileOpen", testRemovedWhileOpen},
		{"SymlinkReadlink", testSymlink},
		{"Mknod", testMknod},
		{"Rename", testRename},
		{"HardLink", testLink},
		{"Statfs", testStatfs},
		{"ReadWrite", testReadWrite},
		{"LargeSparseFile", testLargeSparse},
		{"Locks", testLocks},
		{"ReaddirBasic", testReaddirBasic},
		{"ReaddirResume", testReaddirResume},
		{"Permissions", testPermissions},
		{"ConcurrentUsers", testConcurrentUsers},
		{"Xattrs", testXattrs},
		{"Allocate", testAllocate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := newFS(t)
			tc.fn(t, &env{t: t, fs: fs, ctx: context.Background(), root: fs.Root(), opts: o})
		})
	}
}

// Identities used by the suite.
var (
	root  = fsal.Root
	user1 = &fsal.Cred{UID: 1000, GID: 1000}
	user2 = &fsal.Cred{UID: 2000, GID: 2000}
)

type env struct {
	t    *testing.T
	fs   fsal.FS
	ctx  context.Context
	root fsal.Handle
	opts options
}

func modeAttr(mode uint32) *fsal.SetAttr {
	return &fsal.SetAttr{Mask: fsal.SetMode, Mode: mode}
}

func (e *env) mkdir(c *fsal.Cred, dir fsal.Handle, name string, mode uint32) fsal.Handle {
	e.t.Helper()
	h, a, err := e.fs.Mkdir(e.ctx, c, dir, name, modeAttr(mode))
	if err != nil {
		e.t.Fatalf("Mkdir %q: %v", name, err)
	}
	if a.Type != fsal.TypeDirectory {
		e.t.Fatalf("Mkdir %q: type %d", name, a.Type)
	}
	checkHandle(e.t, h)
	return h
}

func (e *env) create(c *fsal.Cred, dir fsal.Handle, name string, mode uint32) fsal.Handle {
	e.t.Helper()
	h, a, existed, err := e.fs.Create(e.ctx, c, dir, name, fsal.Guarded, modeAttr(mode), [8]byte{})
	if err != nil {
		e.t.Fatalf("Create %q: %v", name, err)
	}
	if existed || a.Type != fsal.TypeRegular {
		e.t.Fatalf("Create %q: existed=%v type=%d", name, existed, a.Type)
	}
	checkHandle(e.t, h)
	return h
}

func (e *env) getattr(h fsal.Handle) fsal.Attr {
	e.t.Helper()
	a, err := e.fs.Getattr(e.ctx, root, h)
	if err != nil {
		e.t.Fatalf("Getattr: %v", err)
	}
	return a
}

func (e *env) lookup(c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, fsal.Attr) {
	e.t.Helper()
	h, a, err := e.fs.Lookup(e.ctx, c, dir, name)
	if err != nil {
		e.t.Fatalf("Lookup %q: %v", name, err)
	}
	checkHandle(e.t, h)
	return h, a
}

func (e *env) open(c *fsal.Cred, h fsal.Handle, flags int) fsal.File {
	e.t.Helper()
	f, err := e.fs.Open(e.ctx, c, h, flags)
	if err != nil {
		e.t.Fatalf("Open: %v", err)
	}
	e.t.Cleanup(func() { f.Close() })
	return f
}

func (e *env) writeFile(c *fsal.Cred, h fsal.Handle, data []byte) {
	e.t.Helper()
	f, err := e.fs.Open(e.ctx, c, h, fsal.OpenWrite)
	if err != nil {
		e.t.Fatalf("Open for write: %v", err)
	}
	defer f.Close()
	if n, err := f.WriteAt(e.ctx, data, 0); err != nil || n != len(data) {
		e.t.Fatalf("WriteAt: %d, %v", n, err)
	}
}

func (e *env) readFile(c *fsal.Cred, h fsal.Handle) []byte {
	e.t.Helper()
	f, err := e.fs.Open(e.ctx, c, h, fsal.OpenRead)
	if err != nil {
		e.t.Fatalf("Open for read: %v", err)
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 4096)
	for off := uint64(0); ; {
		n, eof, err := f.ReadAt(e.ctx, buf, off)
		if err != nil {
			e.t.Fatalf("ReadAt: %v", err)
		}
		out = append(out, buf[:n]...)
		off += uint64(n)
		if eof {
			return out
		}
		if n == 0 {
			e.t.Fatalf("ReadAt: no progress and no eof at %d", off)
		}
	}
}

// list reads dir from cookie, stopping after max entries (0 = no limit).
func (e *env) list(c *fsal.Cred, dir fsal.Handle, cookie uint64, withAttrs bool, max int) ([]fsal.DirEntry, bool) {
	e.t.Helper()
	var out []fsal.DirEntry
	eof, err := e.fs.Readdir(e.ctx, c, dir, cookie, withAttrs, func(d *fsal.DirEntry) bool {
		out = append(out, *d)
		return max == 0 || len(out) < max
	})
	if err != nil {
		e.t.Fatalf("Readdir from %d: %v", cookie, err)
	}
	return out, eof
}

func checkHandle(t *testing.T, h fsal.Handle) {
	t.Helper()
	if len(h) == 0 || len(h) > fsal.MaxHandleSize {
		t.Fatalf("handle of %d bytes (max %d)", len(h), fsal.MaxHandleSize)
	}
}

// wantErr fails unless err is one of the given errnos.
func wantErr(t *testing.T, what string, err error, want ...syscall.Errno) {
	t.Helper()
	for _, w := range want {
		if errors.Is(err, w) {
			return
		}
	}
	t.Fatalf("%s: got error %v, want %v", what, err, want)
}

// wantErrno fails unless err is a non-nil syscall.Errno, as the contract
// requires of every failure.
func wantErrno(t *testing.T, what string, err error) {
	t.Helper()
	var e syscall.Errno
	if !errors.As(err, &e) || e == 0 {
		t.Fatalf("%s: got %v (%T), want a syscall.Errno", what, err, err)
	}
}

func testRootAndCheck(t *testing.T, e *env) {
	checkHandle(t, e.root)
	if err := e.fs.Check(e.ctx, e.root); err != nil {
		t.Fatalf("Check(root): %v", err)
	}
	a := e.getattr(e.root)
	if a.Type != fsal.TypeDirectory || a.Nlink < 2 || a.Fileid == 0 {
		t.Fatalf("root attrs %+v", a)
	}
	if !bytes.Equal(e.fs.Root(), e.root) {
		t.Fatal("Root() not stable")
	}
	_, _, err := e.fs.Parent(e.ctx, root, e.root)
	wantErr(t, "Parent(root)", err, syscall.ENOENT)
	d := e.mkdir(root, e.root, "d", 0o755)
	if err := e.fs.Check(e.ctx, d); err != nil {
		t.Fatalf("Check(dir): %v", err)
	}
	f := e.create(root, d, "f", 0o644)
	if err := e.fs.Check(e.ctx, f); err != nil {
		t.Fatalf("Check(file): %v", err)
	}
	// The same object looked up twice has the same handle.
	f2, _ := e.lookup(root, d, "f")
	if !bytes.Equal(f, f2) {
		t.Fatalf("handles differ for the same file: %x %x", f, f2)
	}
}

func testGarbageHandles(t *testing.T, e *env) {
	r := e.root
	flip := func(i int) fsal.Handle {
		h := slices.Clone(r)
		h[i] ^= 0x5a
		return h
	}
	bad := []fsal.Handle{
		nil,
		{},
		{0},
		r[:len(r)-1],
		append(slices.Clone(r), 0),
		bytes.Repeat([]byte{0xff}, fsal.MaxHandleSize),
		bytes.Repeat([]byte{0}, fsal.MaxHandleSize+1),
		bytes.Repeat([]byte{0}, 4096),
	}
	for i := range r {
		bad = append(bad, flip(i))
	}
	for i, h := range bad {
		if err := e.fs.Check(e.ctx, h); err == nil {
			t.Errorf("Check(bad handle %d, %x) succeeded", i, h)
		} else {
			wantErrno(t, "Check(bad)", err)
		}
		if _, err := e.fs.Getattr(e.ctx, root, h); err == nil {
			t.Errorf("Getattr(bad handle %d, %x) succeeded", i, h)
		}
		if _, _, err := e.fs.Lookup(e.ctx, root, h, "x"); err == nil {
			t.Errorf("Lookup(bad handle %d) succeeded", i)
		}
		if _, err := e.fs.Open(e.ctx, root, h, fsal.OpenRead); err == nil {
			t.Errorf("Open(bad handle %d) succeeded", i)
		}
		if _, err := e.fs.Readdir(e.ctx, root, h, 0, false, func(*fsal.DirEntry) bool { return true }); err == nil {
			t.Errorf("Readdir(bad handle %d) succeeded", i)
		}
	}
	// Structurally malformed handles are EBADF.
	for _, h := range []fsal.Handle{nil, {}, {0}, bytes.Repeat([]byte{0}, fsal.MaxHandleSize+1)} {
		wantErr(t, fmt.Sprintf("Check(%x)", h), e.fs.Check(e.ctx, h), fsal.ErrBadFH)
	}
}

func testLookup(t *testing.T, e *env) {
	f := e.create(root, e.root, "file", 0o644)
	h, a := e.lookup(root, e.root, "file")
	if a.Fileid != e.getattr(f).Fileid || a.Type != fsal.TypeRegular {
		t.Fatalf("Lookup attrs %+v", a)
	}
	if err := e.fs.Check(e.ctx, h); err != nil {
		t.Fatalf("Check(looked up): %v", err)
	}
	_, _, err := e.fs.Lookup(e.ctx, root, e.root, "missing")
	wantErr(t, "Lookup(missing)", err, syscall.ENOENT)
	_, _, err = e.fs.Lookup(e.ctx, root, f, "x")
	wantErr(t, "Lookup in a file", err, syscall.ENOTDIR)
	for _, name := range []string{"", ".", "..", "a/b", "/", "file/"} {
		if _, _, err := e.fs.Lookup(e.ctx, root, e.root, name); err == nil {
			t.Errorf("Lookup(%q) succeeded", name)
		} else {
			wantErrno(t, "Lookup(bad name)", err)
		}
	}
	long := string(bytes.Repeat([]byte{'n'}, 300))
	_, _, err = e.fs.Lookup(e.ctx, root, e.root, long)
	wantErr(t, "Lookup(long name)", err, syscall.ENAMETOOLONG)
}

// testLookupHandle: a backend's LOOKUP shortcut (fsal.HandleLookuper)
// must name what Lookup names and fail as Lookup fails, for root and for
// a user.
func testLookupHandle(t *testing.T, e *env) {
	hl, ok := e.fs.(fsal.HandleLookuper)
	if !ok {
		t.Skip("backend has no LookupHandle")
	}
	f := e.create(root, e.root, "file", 0o644)
	d := e.mkdir(root, e.root, "dir", 0o700)
	for _, c := range []*fsal.Cred{root, user1} {
		for _, name := range []string{"file", "dir"} {
			want, _ := e.lookup(root, e.root, name)
			for range 2 { // a second time from any cache
				h, err := hl.LookupHandle(e.ctx, c, e.root, name)
				if err != nil || !bytes.Equal(h, want) {
					t.Fatalf("LookupHandle(%s) as %d = %x, %v; Lookup gave %x", name, c.UID, h, err, want)
				}
			}
		}
		_, err := hl.LookupHandle(e.ctx, c, e.root, "missing")
		wantErr(t, "LookupHandle(missing)", err, syscall.ENOENT)
		_, err = hl.LookupHandle(e.ctx, c, f, "x")
		wantErr(t, "LookupHandle in a file", err, syscall.ENOTDIR)
		_, err = hl.LookupHandle(e.ctx, c, e.root, "a/b")
		wantErrno(t, "LookupHandle(bad name)", err)
	}
	e.create(root, d, "inner", 0o644)
	for range 2 {
		if _, err := hl.LookupHandle(e.ctx, root, d, "inner"); err != nil {
			t.Fatalf("LookupHandle(dir/inner) as root: %v", err)
		}
	}
	_, err := hl.LookupHandle(e.ctx, user1, d, "inner")
	wantErr(t, "LookupHandle in a 0700 directory of root, as a user", err, syscall.EACCES)
}

func testParent(t *testing.T, e *env) {
	a := e.mkdir(root, e.root, "a", 0o755)
	b := e.mkdir(root, a, "b", 0o755)
	c := e.mkdir(root, b, "c", 0o755)
	for _, tc := range []struct {
		dir, want fsal.Handle
	}{{c, b}, {b, a}, {a, e.root}} {
		h, attr, err := e.fs.Parent(e.ctx, user1, tc.dir)
		if err != nil {
			t.Fatalf("Parent: %v", err)
		}
		if attr.Fileid != e.getattr(tc.want).Fileid || !bytes.Equal(h, tc.want) {
			t.Fatalf("Parent: got fileid %d, want %d", attr.Fileid, e.getattr(tc.want).Fileid)
		}
	}
	_, _, err := e.fs.Parent(e.ctx, root, e.root)
	wantErr(t, "Parent(root)", err, syscall.ENOENT)
	f := e.create(root, a, "f", 0o644)
	_, _, err = e.fs.Parent(e.ctx, root, f)
	wantErr(t, "Parent(file)", err, syscall.ENOTDIR)
}

func testCreateModes(t *testing.T, e *env) {
	h, a, existed, err := e.fs.Create(e.ctx, root, e.root, "u", fsal.Unchecked, modeAttr(0o644), [8]byte{})
	if err != nil || existed {
		t.Fatalf("Unchecked create: existed=%v err=%v", existed, err)
	}
	e.writeFile(root, h, []byte("data"))
	h2, a2, existed, err := e.fs.Create(e.ctx, root, e.root, "u", fsal.Unchecked, modeAttr(0o600), [8]byte{})
	if err != nil || !existed || a2.Fileid != a.Fileid || !bytes.Equal(h, h2) {
		t.Fatalf("Unchecked re-create: existed=%v err=%v", existed, err)
	}
	if a2.Size != 4 || a2.Mode != 0o644 {
		t.Fatalf("Unchecked re-create changed the file: %+v", a2)
	}
	// Unchecked with size 0 truncates an existing file.
	_, a2, existed, err = e.fs.Create(e.ctx, root, e.root, "u", fsal.Unchecked, &fsal.SetAttr{Mask: fsal.SetSize}, [8]byte{})
	if err != nil || !existed || a2.Size != 0 {
		t.Fatalf("Unchecked truncate: existed=%v size=%d err=%v", existed, a2.Size, err)
	}
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "u", fsal.Guarded, nil, [8]byte{})
	wantErr(t, "Guarded on existing", err, syscall.EEXIST)
	_, _, existed, err = e.fs.Create(e.ctx, root, e.root, "g", fsal.Guarded, nil, [8]byte{})
	if err != nil || existed {
		t.Fatalf("Guarded create: existed=%v err=%v", existed, err)
	}
	e.mkdir(root, e.root, "dir", 0o755)
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "dir", fsal.Unchecked, nil, [8]byte{})
	wantErr(t, "Unchecked on a directory", err, syscall.EISDIR, syscall.EEXIST)
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "dir", fsal.Guarded, nil, [8]byte{})
	wantErr(t, "Guarded on a directory", err, syscall.EEXIST)
	_, _, _, err = e.fs.Create(e.ctx, root, e.root, "bad/name", fsal.Unchecked, nil, [8]byte{})
	wantErrno(t, "Create(bad name)", err)
}

func testCreateAttrs(t *testing.T, e *env) {
	// Modes are exact: the server must not apply its own umask (the
	// client already applied the user's).
	for i, mode := range []uint32{0o666, 0o777, 0o604, 0o000, 0o4755} {
		name := fmt.Sprintf("f%d", i)
		_, a, _, err := e.fs.Create(e.ctx, root, e.root, name, fsal.Guarded, modeAttr(mode), [8]byte{})
		if err != nil || a.Mode != mode {
			t.Fatalf("Create mode %o: got %o, %v", mode, a.Mode, err)
		}
		_, a, err = e.fs.Mkdir(e.ctx, root, e.root, "d"+name, modeAttr(mode&0o777))
		if err != nil || a.Mode != mode&0o777 {
			t.Fatalf("Mkdir mode %o: got %o, %v", mode&0o777, a.Mode, err)
		}
	}
	mtime := fsal.Time{Sec: 1_500_000_000, Nsec: 42}
	sa := &fsal.SetAttr{
		Mask: fsal.SetMode | fsal.SetUID | fsal.SetGID | fsal.SetSize | fsal.SetMtime,
		Mode: 0o640, UID: 1000, GID: 3000, Size: 12345, Mtime: mtime,
	}
	h, a, _, err := e.fs.Create(e.ctx, root, e.root, "full", fsal.Guarded, sa, [8]byte{})
	if err != nil {
		t.Fatalf("Create with attrs: %v", err)
	}
	if a.Mode != 0o640 || a.UID != 1000 || a.GID != 3000 || a.Size != 12345 || a.Mtime != mtime {
		t.Fatalf("Create with attrs: %+v", a)
	}
	if g := e.getattr(h); g.Mode != a.Mode || g.Size != a.Size || g.Mtime != a.Mtime {
		t.Fatalf("Getattr after create %+v, Create returned %+v", g, a)
	}
	// A regular user's files are theirs, with their primary group.
	shared := e.mkdir(root, e.root, "shared", 0o1777)
	_, a, _, err = e.fs.Create(e.ctx, user1, shared, "mine", fsal.Guarded, modeAttr(0o600), [8]byte{})
	if err != nil || a.UID != user1.UID || a.GID != user1.GID {
		t.Fatalf("Create as user1: uid %d gid %d, %v", a.UID, a.GID, err)
	}
	_, a, err = e.fs.Mkdir(e.ctx, user1, shared, "mydir", nil)
	if err != nil || a.UID != user1.UID || a.GID != user1.GID {
		t.Fatalf("Mkdir as user1: uid %d gid %d, %v", a.UID, a.GID, err)
	}
}

// testCreateOpen: a backend's create-and-keep-open (fsal.CreateOpener)
// creates as Create does and hands over a usable file, even one whose mode
// denies its creator access; an existing name gives no file.
func testCreateOpen(t *testing.T, e *env) {
	co, ok := e.fs.(fsal.CreateOpener)
	if !ok {
		t.Skip("backend has no CreateOpen")
	}
	dir := e.mkdir(root, e.root, "tmp", 0o1777)
	sa := &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o444}
	h, a, existed, f, err := co.CreateOpen(e.ctx, user1, dir, "new", fsal.Unchecked, sa, [8]byte{}, fsal.OpenRead|fsal.OpenWrite)
	if err != nil || existed || f == nil {
		t.Fatalf("CreateOpen(new): existed=%v file=%v err=%v", existed, f != nil, err)
	}
	if a.Type != fsal.TypeRegular || a.Mode != 0o444 || a.UID != user1.UID {
		t.Fatalf("CreateOpen attrs %+v", a)
	}
	if n, err := f.WriteAt(e.ctx, []byte("hello"), 0); err != nil || n != 5 {
		t.Fatalf("WriteAt on the created file: %d, %v", n, err)
	}
	buf := make([]byte, 8)
	if n, _, err := f.ReadAt(e.ctx, buf, 0); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("ReadAt on the created file: %q, %v", buf[:n], err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := e.getattr(h); got.Size != 5 || got.Fileid != a.Fileid {
		t.Fatalf("after close: %+v", got)
	}
	// The name exists now: UNCHECKED succeeds without a file, GUARDED
	// fails, EXCLUSIVE with a verifier the file was not made with fails.
	h2, _, existed, f, err := co.CreateOpen(e.ctx, user1, dir, "new", fsal.Unchecked, nil, [8]byte{}, fsal.OpenRead)
	if err != nil || !existed || f != nil || !bytes.Equal(h, h2) {
		t.Fatalf("CreateOpen(existing, unchecked): existed=%v file=%v err=%v", existed, f != nil, err)
	}
	_, _, _, _, err = co.CreateOpen(e.ctx, user1, dir, "new", fsal.Guarded, nil, [8]byte{}, fsal.OpenRead)
	wantErr(t, "CreateOpen(existing, guarded)", err, syscall.EEXIST)
	v := [8]byte{9, 9, 9}
	_, _, existed, f, err = co.CreateOpen(e.ctx, user1, dir, "excl", fsal.Exclusive, nil, v, fsal.OpenRead)
	if err != nil || existed || f == nil {
		t.Fatalf("CreateOpen(exclusive): existed=%v err=%v", existed, err)
	}
	f.Close()
	_, _, existed, f, err = co.CreateOpen(e.ctx, user1, dir, "excl", fsal.Exclusive, nil, v, fsal.OpenRead)
	if err != nil || !existed || f != nil {
		t.Fatalf("CreateOpen(exclusive retry): existed=%v file=%v err=%v", existed, f != nil, err)
	}
	_, _, _, _, err = co.CreateOpen(e.ctx, user1, dir, "x", fsal.Unchecked, nil, [8]byte{}, 0)
	wantErr(t, "CreateOpen without access", err, syscall.EINVAL)
}

func testExclusiveCreate(t *testing.T, e *env) {
	v1 := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	v2 := [8]byte{8, 7, 6, 5, 4, 3, 2, 1}
	h, a, existed, err := e.fs.Create(e.ctx, user1, e.mkdir(root, e.root, "tmp", 0o1777), "x", fsal.Exclusive, nil, v1)
	_ = h
	if err != nil || existed {
		t.Fatalf("Exclusive create: existed=%v err=%v", existed, err)
	}
	dir, _ := e.lookup(root, e.root, "tmp")
	// A retransmission with the same verifier succeeds.
	h2, a2, existed, err := e.fs.Create(e.ctx, user1, dir, "x", fsal.Exclusive, nil, v1)
	if err != nil || !existed || a2.Fileid != a.Fileid || !bytes.Equal(h, h2) {
		t.Fatalf("Exclusive retry: existed=%v err=%v", existed, err)
	}
	// Writing to it does not disturb the stored verifier.
	e.writeFile(user1, h, []byte("payload"))
	if _, _, existed, err = e.fs.Create(e.ctx, user1, dir, "x", fsal.Exclusive, nil, v1); err != nil || !existed {
		t.Fatalf("Exclusive retry after write: existed=%v err=%v", existed, err)
	}
	_, _, _, err = e.fs.Create(e.ctx, user1, dir, "x", fsal.Exclusive, nil, v2)
	wantErr(t, "Exclusive with another verifier", err, syscall.EEXIST)
	_, _, _, err = e.fs.Create(e.ctx, user1, dir, "x", fsal.Guarded, nil, v1)
	wantErr(t, "Guarded after exclusive", err, syscall.EEXIST)
	// A file not created exclusively never matches.
	e.create(root, dir, "plain", 0o644)
	_, _, _, err = e.fs.Create(e.ctx, root, dir, "plain", fsal.Exclusive, nil, [8]byte{})
	wantErr(t, "Exclusive on a plain file", err, syscall.EEXIST)
	e.mkdir(root, dir, "sub", 0o755)
	_, _, _, err = e.fs.Create(e.ctx, root, dir, "sub", fsal.Exclusive, nil, v1)
	wantErr(t, "Exclusive on a directory", err, syscall.EEXIST)
	// Create attributes apply to an exclusive create.
	_, a, _, err = e.fs.Create(e.ctx, user1, dir, "y", fsal.Exclusive, &fsal.SetAttr{Mask: fsal.SetMode | fsal.SetSize, Mode: 0o600, Size: 10}, v2)
	if err != nil || a.Mode != 0o600 || a.Size != 10 || a.UID != user1.UID {
		t.Fatalf("Exclusive create with attrs: %+v, %v", a, err)
	}
}

func testSetattr(t *testing.T, e *env) {
	h := e.create(root, e.root, "f", 0o644)
	prev := e.getattr(h)
	step := func(what string, sa fsal.SetAttr, check func(a fsal.Attr) bool) {
		t.Helper()
		a, err := e.fs.Setattr(e.ctx, root, h, &sa)
		if err != nil {
			t.Fatalf("Setattr %s: %v", what, err)
		}
		if !check(a) {
			t.Fatalf("Setattr %s: got %+v", what, a)
		}
		if g := e.getattr(h); g != a {
			t.Fatalf("Setattr %s returned %+v, Getattr %+v", what, a, g)
		}
		if a.Change <= prev.Change {
			t.Fatalf("Setattr %s: change %d did not increase from %d", what, a.Change, prev.Change)
		}
		prev = a
	}
	step("mode", fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o600}, func(a fsal.Attr) bool { return a.Mode == 0o600 })
	step("setuid mode", fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o4755}, func(a fsal.Attr) bool { return a.Mode == 0o4755 })
	step("uid", fsal.SetAttr{Mask: fsal.SetUID, UID: 1234}, func(a fsal.Attr) bool { return a.UID == 1234 && a.GID == 0 })
	step("gid", fsal.SetAttr{Mask: fsal.SetGID, GID: 4321}, func(a fsal.Attr) bool { return a.UID == 1234 && a.GID == 4321 })
	step("uid+gid", fsal.SetAttr{Mask: fsal.SetUID | fsal.SetGID, UID: 0, GID: 0}, func(a fsal.Attr) bool { return a.UID == 0 && a.GID == 0 })
	step("grow", fsal.SetAttr{Mask: fsal.SetSize, Size: 100000}, func(a fsal.Attr) bool { return a.Size == 100000 })
	step("shrink", fsal.SetAttr{Mask: fsal.SetSize, Size: 10}, func(a fsal.Attr) bool { return a.Size == 10 })
	at := fsal.Time{Sec: 1_000_000_000, Nsec: 123_456_789}
	mt := fsal.Time{Sec: 1_100_000_000, Nsec: 987_654_321}
	step("atime", fsal.SetAttr{Mask: fsal.SetAtime, Atime: at}, func(a fsal.Attr) bool { return a.Atime == at })
	step("mtime", fsal.SetAttr{Mask: fsal.SetMtime, Mtime: mt}, func(a fsal.Attr) bool { return a.Mtime == mt && a.Atime == at })
	near := func(x fsal.Time) bool {
		d := time.Since(time.Unix(x.Sec, int64(x.Nsec)))
		return d > -5*time.Second && d < 5*time.Second
	}
	step("atime now", fsal.SetAttr{Mask: fsal.SetAtimeNow}, func(a fsal.Attr) bool { return near(a.Atime) && a.Mtime == mt })
	step("mtime now", fsal.SetAttr{Mask: fsal.SetMtimeNow}, func(a fsal.Attr) bool { return near(a.Mtime) })
	step("all", fsal.SetAttr{
		Mask: fsal.SetMode | fsal.SetUID | fsal.SetGID | fsal.SetSize | fsal.SetAtime | fsal.SetMtime,
		Mode: 0o640, UID: 1000, GID: 1000, Size: 7, Atime: at, Mtime: mt,
	}, func(a fsal.Attr) bool {
		return a.Mode == 0o640 && a.UID == 1000 && a.GID == 1000 && a.Size == 7 && a.Atime == at && a.Mtime == mt
	})
	// Data changes move the change attribute too.
	e.writeFile(root, h, []byte("x"))
	if a := e.getattr(h); a.Change <= prev.Change {
		t.Fatalf("write: change %d did not increase from %d", a.Change, prev.Change)
	}
	if _, err := e.fs.Setattr(e.ctx, root, h, &fsal.SetAttr{}); err != nil {
		t.Fatalf("empty Setattr: %v", err)
	}

	d := e.mkdir(root, e.root, "d", 0o755)
	_, err := e.fs.Setattr(e.ctx, root, d, &fsal.SetAttr{Mask: fsal.SetSize, Size: 0})
	wantErr(t, "Setattr size on a directory", err, syscall.EISDIR, syscall.EINVAL)
	if a, err := e.fs.Setattr(e.ctx, root, d, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o2750}); err != nil || a.Mode != 0o2750 {
		t.Fatalf("Setattr mode on a directory: %o, %v", a.Mode, err)
	}
	// Owner-only changes are refused to others.
	_, err = e.fs.Setattr(e.ctx, user2, h, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o777})
	wantErr(t, "chmod by non-owner", err, syscall.EPERM)
	_, err = e.fs.Setattr(e.ctx, user1, h, &fsal.SetAttr{Mask: fsal.SetUID, UID: 2000})
	wantErr(t, "chown by non-root", err, syscall.EPERM)
	_, err = e.fs.Setattr(e.ctx, user2, h, &fsal.SetAttr{Mask: fsal.SetMtime, Mtime: mt})
	wantErr(t, "utimes by non-owner", err, syscall.EPERM, syscall.EACCES)
	_, err = e.fs.Setattr(e.ctx, user2, h, &fsal.SetAttr{Mask: fsal.SetSize, Size: 0})
	wantErr(t, "truncate without write permission", err, syscall.EACCES)
	// The owner may change what is theirs.
	if a, err := e.fs.Setattr(e.ctx, user1, h, &fsal.SetAttr{Mask: fsal.SetMode | fsal.SetMtimeNow, Mode: 0o600}); err != nil || a.Mode != 0o600 {
		t.Fatalf("owner Setattr: %+v, %v", a, err)
	}
}

func testMkdirRemove(t *testing.T, e *env) {
	d := e.mkdir(root, e.root, "d", 0o755)
	_, _, err := e.fs.Mkdir(e.ctx, root, e.root, "d", nil)
	wantErr(t, "Mkdir existing", err, syscall.EEXIST)
	if a := e.getattr(e.root); a.Nlink != 3 {
		t.Fatalf("root nlink %d after mkdir, want 3", a.Nlink)
	}
	e.create(root, d, "f", 0o644)
	e.mkdir(root, d, "sub", 0o755)
	wantErr(t, "Remove non-empty dir", e.fs.Remove(e.ctx, root, e.root, "d"), syscall.ENOTEMPTY)
	wantErr(t, "Remove missing", e.fs.Remove(e.ctx, root, d, "nope"), syscall.ENOENT)
	if err := e.fs.Remove(e.ctx, root, d, "f"); err != nil {
		t.Fatalf("Remove file: %v", err)
	}
	if err := e.fs.Remove(e.ctx, root, d, "sub"); err != nil {
		t.Fatalf("Remove dir: %v", err)
	}
	if err := e.fs.Remove(e.ctx, root, e.root, "d"); err != nil {
		t.Fatalf("Remove emptied dir: %v", err)
	}
	if entries, eof := e.list(root, e.root, 0, false, 0); len(entries) != 0 || !eof {
		t.Fatalf("root not empty after removals: %v", entries)
	}
	for _, name := range []string{"", ".", ".."} {
		if err := e.fs.Remove(e.ctx, root, e.root, name); err == nil {
			t.Fatalf("Remove(%q) succeeded", name)
		}
	}
}

func testStale(t *testing.T, e *env) {
	d := e.mkdir(root, e.root, "d", 0o755)
	f := e.create(root, d, "f", 0o644)
	if err := e.fs.Remove(e.ctx, root, d, "f"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Check(removed file)", e.fs.Check(e.ctx, f), fsal.ErrStale)
	_, err := e.fs.Getattr(e.ctx, root, f)
	wantErr(t, "Getattr(removed file)", err, fsal.ErrStale)
	_, err = e.fs.Open(e.ctx, root, f, fsal.OpenRead)
	wantErr(t, "Open(removed file)", err, fsal.ErrStale)
	_, err = e.fs.Setattr(e.ctx, root, f, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o600})
	wantErr(t, "Setattr(removed file)", err, fsal.ErrStale)
	if err := e.fs.Remove(e.ctx, root, e.root, "d"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Check(removed dir)", e.fs.Check(e.ctx, d), fsal.ErrStale)
	_, _, err = e.fs.Lookup(e.ctx, root, d, "f")
	wantErr(t, "Lookup in removed dir", err, fsal.ErrStale)
	_, _, _, err = e.fs.Create(e.ctx, root, d, "g", fsal.Unchecked, nil, [8]byte{})
	wantErr(t, "Create in removed dir", err, fsal.ErrStale)
	_, err = e.fs.Readdir(e.ctx, root, d, 0, false, func(*fsal.DirEntry) bool { return true })
	wantErr(t, "Readdir of removed dir", err, fsal.ErrStale)
	// A new object reusing the name gets a different handle.
	d2 := e.mkdir(root, e.root, "d", 0o755)
	if bytes.Equal(d, d2) {
		t.Fatal("re-created directory got the old handle")
	}
}

// testRemovedWhileOpen: a file removed while open stays usable through its
// handle until closed, as on a local file system (NFS clients CLOSE files
// that a RENAME or REMOVE took away, pynfs RNM21).
func testRemovedWhileOpen(t *testing.T, e *env) {
	h := e.create(root, e.root, "f", 0o644)
	e.writeFile(root, h, []byte("still open"))
	f := e.open(root, h, fsal.OpenRead|fsal.OpenWrite)
	if err := e.fs.Remove(e.ctx, root, e.root, "f"); err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Check(e.ctx, h); err != nil {
		t.Fatalf("Check(removed, still open): %v", err)
	}
	if a, err := e.fs.Getattr(e.ctx, root, h); err != nil || a.Size != 10 {
		t.Fatalf("Getattr(removed, still open): %+v %v", a, err)
	}
	buf := make([]byte, 32)
	if n, _, err := f.ReadAt(e.ctx, buf, 0); err != nil || string(buf[:n]) != "still open" {
		t.Fatalf("ReadAt(removed, still open): %q %v", buf[:n], err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := e.fs.Getattr(e.ctx, root, h)
	wantErr(t, "Getattr(removed, closed)", err, fsal.ErrStale)
}

func testSymlink(t *testing.T, e *env) {
	const target = "some/where/../else"
	h, a, err := e.fs.Symlink(e.ctx, root, e.root, "s", target, nil)
	if err != nil {
		t.Fatalf("Symlink: %v", err)
	}
	if a.Type != fsal.TypeSymlink || a.Size != uint64(len(target)) {
		t.Fatalf("Symlink attrs %+v", a)
	}
	got, err := e.fs.Readlink(e.ctx, user1, h)
	if err != nil || got != target {
		t.Fatalf("Readlink: %q, %v", got, err)
	}
	// Lookup does not follow the link.
	h2, a2 := e.lookup(root, e.root, "s")
	if a2.Type != fsal.TypeSymlink || !bytes.Equal(h, h2) {
		t.Fatalf("Lookup(symlink) attrs %+v", a2)
	}
	// A dangling link to a file that later appears still is a link.
	f := e.create(root, e.root, "real", 0o644)
	_, _, err = e.fs.Symlink(e.ctx, root, e.root, "s2", "real", &fsal.SetAttr{Mask: fsal.SetUID | fsal.SetGID, UID: 1000, GID: 1000})
	if err != nil {
		t.Fatalf("Symlink with owner: %v", err)
	}
	_, a3 := e.lookup(root, e.root, "s2")
	if a3.Type != fsal.TypeSymlink || a3.UID != 1000 {
		t.Fatalf("Symlink owner: %+v", a3)
	}
	_, _, err = e.fs.Symlink(e.ctx, root, e.root, "s", "x", nil)
	wantErr(t, "Symlink over existing", err, syscall.EEXIST)
	_, err = e.fs.Readlink(e.ctx, root, f)
	wantErr(t, "Readlink(file)", err, syscall.EINVAL)
	if _, err := e.fs.Open(e.ctx, root, h, fsal.OpenRead); err == nil {
		t.Fatal("Open(symlink) succeeded")
	}
	long := string(bytes.Repeat([]byte("x/"), 1000))
	h, _, err = e.fs.Symlink(e.ctx, root, e.root, "long", long, nil)
	if err != nil {
		t.Fatalf("long Symlink: %v", err)
	}
	if got, err := e.fs.Readlink(e.ctx, root, h); err != nil || got != long {
		t.Fatalf("long Readlink: %d bytes, %v", len(got), err)
	}
}

func testMknod(t *testing.T, e *env) {
	for _, tc := range []struct {
		name         string
		typ          fsal.FileType
		major, minor uint32
	}{
		{"fifo", fsal.TypeFIFO, 0, 0},
		{"sock", fsal.TypeSocket, 0, 0},
		{"chr", fsal.TypeChar, 1, 3},
		{"blk", fsal.TypeBlock, 7, 200},
	} {
		h, a, err := e.fs.Mknod(e.ctx, root, e.root, tc.name, tc.typ, tc.major, tc.minor, modeAttr(0o640))
		if err != nil {
			t.Fatalf("Mknod %s: %v", tc.name, err)
		}
		if a.Type != tc.typ || a.Mode != 0o640 || a.RdevMajor != tc.major || a.RdevMinor != tc.minor {
			t.Fatalf("Mknod %s attrs %+v", tc.name, a)
		}
		if _, a2 := e.lookup(root, e.root, tc.name); a2.Fileid != a.Fileid {
			t.Fatalf("Lookup %s: fileid %d want %d", tc.name, a2.Fileid, a.Fileid)
		}
		if _, err := e.fs.Open(e.ctx, root, h, fsal.OpenRead); err == nil {
			t.Fatalf("Open(%s) succeeded", tc.name)
		}
	}
	_, _, err := e.fs.Mknod(e.ctx, root, e.root, "reg", fsal.TypeRegular, 0, 0, nil)
	wantErrno(t, "Mknod(regular)", err)
	_, _, err = e.fs.Mknod(e.ctx, root, e.root, "fifo", fsal.TypeFIFO, 0, 0, nil)
	wantErr(t, "Mknod existing", err, syscall.EEXIST)
	shared := e.mkdir(root, e.root, "shared", 0o1777)
	_, _, err = e.fs.Mknod(e.ctx, user1, shared, "dev", fsal.TypeChar, 1, 3, nil)
	wantErr(t, "Mknod device as user", err, syscall.EPERM)
	_, a, err := e.fs.Mknod(e.ctx, user1, shared, "ufifo", fsal.TypeFIFO, 0, 0, nil)
	if err != nil || a.UID != user1.UID {
		t.Fatalf("Mknod fifo as user: %+v, %v", a, err)
	}
}

func testRename(t *testing.T, e *env) {
	a := e.create(root, e.root, "a", 0o644)
	e.writeFile(root, a, []byte("AAAA"))
	b := e.create(root, e.root, "b", 0o644)
	e.writeFile(root, b, []byte("B"))
	if err := e.fs.Rename(e.ctx, root, e.root, "a", e.root, "b"); err != nil {
		t.Fatalf("Rename over existing: %v", err)
	}
	hb, attr := e.lookup(root, e.root, "b")
	if attr.Fileid != e.getattr(a).Fileid || !bytes.Equal(hb, a) {
		t.Fatal("Rename: target is not the renamed file")
	}
	if got := e.readFile(root, hb); string(got) != "AAAA" {
		t.Fatalf("Rename: content %q", got)
	}
	_, _, err := e.fs.Lookup(e.ctx, root, e.root, "a")
	wantErr(t, "Lookup(old name)", err, syscall.ENOENT)
	_, err = e.fs.Getattr(e.ctx, root, b)
	wantErr(t, "Getattr(replaced file)", err, fsal.ErrStale)

	d1 := e.mkdir(root, e.root, "d1", 0o755)
	d2 := e.mkdir(root, e.root, "d2", 0o755)
	if err := e.fs.Rename(e.ctx, root, e.root, "b", d1, "moved"); err != nil {
		t.Fatalf("Rename across dirs: %v", err)
	}
	// Handles survive renames.
	if _, err := e.fs.Getattr(e.ctx, root, a); err != nil {
		t.Fatalf("Getattr after rename: %v", err)
	}
	if err := e.fs.Check(e.ctx, a); err != nil {
		t.Fatalf("Check after rename: %v", err)
	}
	e.create(root, d2, "x", 0o644)
	wantErr(t, "Rename dir over non-empty dir", e.fs.Rename(e.ctx, root, e.root, "d1", e.root, "d2"), syscall.ENOTEMPTY, syscall.EEXIST)
	wantErr(t, "Rename file over dir", e.fs.Rename(e.ctx, root, d1, "moved", e.root, "d2"), syscall.EISDIR)
	wantErr(t, "Rename dir over file", e.fs.Rename(e.ctx, root, e.root, "d2", d1, "moved"), syscall.ENOTDIR)
	wantErr(t, "Rename missing", e.fs.Rename(e.ctx, root, e.root, "nope", e.root, "x"), syscall.ENOENT)
	wantErr(t, "Rename into own subtree", e.fs.Rename(e.ctx, root, e.root, "d1", d1, "inside"), syscall.EINVAL)
	e.mkdir(root, e.root, "empty", 0o755)
	if err := e.fs.Rename(e.ctx, root, e.root, "d1", e.root, "empty"); err != nil {
		t.Fatalf("Rename dir over empty dir: %v", err)
	}
	if _, a := e.lookup(root, e.root, "empty"); a.Fileid != e.getattr(d1).Fileid {
		t.Fatal("Rename dir over empty dir: wrong target")
	}
	if err := e.fs.Rename(e.ctx, root, e.root, "empty", e.root, "empty"); err != nil {
		t.Fatalf("Rename onto itself: %v", err)
	}
}

func testLink(t *testing.T, e *env) {
	f := e.create(root, e.root, "f", 0o644)
	d := e.mkdir(root, e.root, "d", 0o755)
	if err := e.fs.Link(e.ctx, root, f, d, "g"); err != nil {
		t.Fatalf("Link: %v", err)
	}
	if a := e.getattr(f); a.Nlink != 2 {
		t.Fatalf("nlink %d after Link, want 2", a.Nlink)
	}
	g, a := e.lookup(root, d, "g")
	if a.Fileid != e.getattr(f).Fileid || a.Nlink != 2 {
		t.Fatalf("Lookup(link): %+v", a)
	}
	wantErr(t, "Link over existing", e.fs.Link(e.ctx, root, f, d, "g"), syscall.EEXIST)
	wantErr(t, "Link a directory", e.fs.Link(e.ctx, root, d, e.root, "dl"), syscall.EPERM)
	s, _, err := e.fs.Symlink(e.ctx, root, e.root, "s", "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.fs.Link(e.ctx, root, s, d, "s2"); err != nil {
		t.Fatalf("Link a symlink: %v", err)
	}
	if _, a := e.lookup(root, d, "s2"); a.Type != fsal.TypeSymlink || a.Nlink != 2 {
		t.Fatalf("Link of a symlink followed it: %+v", a)
	}
	if err := e.fs.Remove(e.ctx, root, e.root, "f"); err != nil {
		t.Fatal(err)
	}
	if a := e.getattr(g); a.Nlink != 1 {
		t.Fatalf("nlink %d after removing one name, want 1", a.Nlink)
	}
	// The handle is per object, not per name.
	if _, err := e.fs.Getattr(e.ctx, root, f); err != nil {
		t.Fatalf("Getattr via the first name's handle: %v", err)
	}
}

func testStatfs(t *testing.T, e *env) {
	s, err := e.fs.Statfs(e.ctx, user1, e.root)
	if err != nil {
		t.Fatalf("Statfs: %v", err)
	}
	if s.TotalBytes == 0 || s.FreeBytes > s.TotalBytes || s.AvailBytes > s.FreeBytes || s.FreeFiles > s.TotalFiles || s.AvailFiles > s.FreeFiles {
		t.Fatalf("Statfs: %+v", s)
	}
	f := e.create(root, e.root, "f", 0o644)
	if _, err := e.fs.Statfs(e.ctx, root, f); err != nil {
		t.Fatalf("Statfs(file): %v", err)
	}
}

func testReadWrite(t *testing.T, e *env) {
	h := e.create(root, e.root, "f", 0o644)
	f := e.open(root, h, fsal.OpenRead|fsal.OpenWrite)
	if n, err := f.WriteAt(e.ctx, []byte("hello world"), 0); n != 11 || err != nil {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	for _, tc := range []struct {
		off  uint64
		size int
		want string
		eof  bool
	}{
		{0, 5, "hello", false},
		{6, 100, "world", true},
		{6, 5, "world", true}, // exactly reaches the end
		{0, 11, "hello world", true},
		{11, 10, "", true},
		{1000, 10, "", true},
		{1 << 62, 10, "", true},
		{0, 0, "", false},
	} {
		buf := make([]byte, tc.size)
		n, eof, err := f.ReadAt(e.ctx, buf, tc.off)
		if err != nil || string(buf[:n]) != tc.want || eof != tc.eof {
			t.Errorf("ReadAt(%d, %d) = %q, eof=%v, %v; want %q, eof=%v", tc.off, tc.size, buf[:n], eof, err, tc.want, tc.eof)
		}
	}
	if err := f.Sync(e.ctx, true); err != nil {
		t.Fatalf("Sync(data): %v", err)
	}
	if err := f.Sync(e.ctx, false); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if a := e.getattr(h); a.Size != 11 {
		t.Fatalf("size %d after write", a.Size)
	}
	// A hole reads as zeros.
	if _, err := f.WriteAt(e.ctx, []byte("!"), 1<<20); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, eof, err := f.ReadAt(e.ctx, buf, 1<<19); n != 10 || eof || err != nil || !bytes.Equal(buf, make([]byte, 10)) {
		t.Fatalf("ReadAt(hole) = %d %v %v %x", n, eof, err, buf)
	}

	// Concurrent I/O on one File.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := bytes.Repeat([]byte{byte('a' + i)}, 4096)
			off := uint64(i) * 4096
			for range 20 {
				if _, err := f.WriteAt(e.ctx, data, off); err != nil {
					t.Errorf("concurrent WriteAt: %v", err)
					return
				}
				got := make([]byte, 4096)
				if n, _, err := f.ReadAt(e.ctx, got, off); err != nil || n != 4096 || !bytes.Equal(got, data) {
					t.Errorf("concurrent ReadAt: %d %v", n, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := f.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	ro := e.open(root, h, fsal.OpenRead)
	if _, err := ro.WriteAt(e.ctx, []byte("x"), 0); err == nil {
		t.Fatal("WriteAt on a read-only File succeeded")
	} else {
		wantErrno(t, "WriteAt(read-only)", err)
	}
	wo := e.open(root, h, fsal.OpenWrite)
	if _, _, err := wo.ReadAt(e.ctx, buf, 0); err == nil {
		t.Fatal("ReadAt on a write-only File succeeded")
	} else {
		wantErrno(t, "ReadAt(write-only)", err)
	}
	_, err := e.fs.Open(e.ctx, root, e.root, fsal.OpenRead)
	wantErr(t, "Open(dir)", err, syscall.EISDIR)
	if _, err := e.fs.Open(e.ctx, root, h, 0); err == nil {
		t.Fatal("Open with no access succeeded")
	}
}

func testLargeSparse(t *testing.T, e *env) {
	const size = 5 << 30
	h := e.create(root, e.root, "big", 0o644)
	a, err := e.fs.Setattr(e.ctx, root, h, &fsal.SetAttr{Mask: fsal.SetSize, Size: size})
	if err != nil {
		t.Fatalf("Setattr 5 GiB: %v", err)
	}
	sparse := a.SpaceUsed <= 1<<20
	if e.opts.apparentSpace {
		sparse = a.SpaceUsed == (size+511)/512*512
	}
	if a.Size != size || !sparse {
		t.Fatalf("sparse file: size %d, used %d", a.Size, a.SpaceUsed)
	}
	f := e.open(root, h, fsal.OpenRead|fsal.OpenWrite)
	buf := make([]byte, 4096)
	if n, eof, err := f.ReadAt(e.ctx, buf, size-100); n != 100 || !eof || err != nil {
		t.Fatalf("ReadAt near the end: %d, eof=%v, %v", n, eof, err)
	}
	if n, eof, err := f.ReadAt(e.ctx, buf, size-4096); n != 4096 || !eof || err != nil {
		t.Fatalf("ReadAt up to the end: %d, eof=%v, %v", n, eof, err)
	}
	if n, eof, err := f.ReadAt(e.ctx, buf, size); n != 0 || !eof || err != nil {
		t.Fatalf("ReadAt at the end: %d, eof=%v, %v", n, eof, err)
	}
	if n, eof, err := f.ReadAt(e.ctx, buf, 3<<30); n != 4096 || eof || err != nil || !bytes.Equal(buf, make([]byte, 4096)) {
		t.Fatalf("ReadAt in the middle: %d, eof=%v, %v", n, eof, err)
	}
	if _, err := f.WriteAt(e.ctx, []byte("tail"), size+6); err != nil {
		t.Fatalf("WriteAt past 5 GiB: %v", err)
	}
	if n, eof, err := f.ReadAt(e.ctx, buf, size); n != 10 || !eof || err != nil || string(buf[6:10]) != "tail" {
		t.Fatalf("ReadAt of the tail: %d, eof=%v, %v", n, eof, err)
	}
	if a := e.getattr(h); a.Size != size+10 {
		t.Fatalf("size %d after write, want %d", a.Size, size+10)
	}
}

func testLocks(t *testing.T, e *env) {
	h := e.create(root, e.root, "f", 0o644)
	f1 := e.open(root, h, fsal.OpenRead|fsal.OpenWrite)
	f2 := e.open(root, h, fsal.OpenRead|fsal.OpenWrite)
	l1, ok1 := f1.(fsal.Locker)
	l2, ok2 := f2.(fsal.Locker)
	if !ok1 || !ok2 {
		t.Skip("backend files do not implement fsal.Locker")
	}
	if err := l1.SetLock(e.ctx, 1, fsal.WriteLock, 0, 100); err != nil {
		t.Fatalf("SetLock: %v", err)
	}
	wantErr(t, "conflicting write lock", l2.SetLock(e.ctx, 2, fsal.WriteLock, 50, 10), syscall.EAGAIN)
	wantErr(t, "conflicting read lock", l2.SetLock(e.ctx, 2, fsal.ReadLock, 99, 1), syscall.EAGAIN)
	if lt, ok := f2.(fsal.LockTester); ok {
		conflict, ct, off, n, err := lt.TestLock(e.ctx, 2, fsal.ReadLock, 50, 10)
		if err != nil || !conflict || ct != fsal.WriteLock || off != 0 || n != 100 {
			t.Fatalf("TestLock under another's write lock: %v %v [%d,+%d) %v", conflict, ct, off, n, err)
		}
		if conflict, _, _, _, err := lt.TestLock(e.ctx, 2, fsal.WriteLock, 100, 0); err != nil || conflict {
			t.Fatalf("TestLock of a free range to EOF: %v %v", conflict, err)
		}
		if conflict, _, _, _, err := f1.(fsal.LockTester).TestLock(e.ctx, 1, fsal.WriteLock, 0, 10); err != nil || conflict {
			t.Fatalf("TestLock of the holder's own lock: %v %v", conflict, err)
		}
	}
	if err := l2.SetLock(e.ctx, 2, fsal.WriteLock, 100, 10); err != nil {
		t.Fatalf("adjacent lock: %v", err)
	}
	// Read locks share.
	if err := l1.SetLock(e.ctx, 1, fsal.ReadLock, 1000, 10); err != nil {
		t.Fatal(err)
	}
	if err := l2.SetLock(e.ctx, 2, fsal.ReadLock, 1005, 10); err != nil {
		t.Fatalf("shared read lock: %v", err)
	}
	wantErr(t, "write over read lock", l2.SetLock(e.ctx, 2, fsal.WriteLock, 1000, 1), syscall.EAGAIN)
	// Partial unlock frees just that range.
	if err := l1.Unlock(e.ctx, 1, 0, 50); err != nil {
		t.Fatalf("Unlock: %v", err)
	}
	if err := l2.SetLock(e.ctx, 2, fsal.WriteLock, 0, 50); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	wantErr(t, "still locked part", l2.SetLock(e.ctx, 2, fsal.WriteLock, 50, 1), syscall.EAGAIN)
	// Length 0 reaches the end of the file; so does an all-ones length.
	if err := l1.SetLock(e.ctx, 1, fsal.WriteLock, 1<<40, 0); err != nil {
		t.Fatalf("lock to EOF: %v", err)
	}
	wantErr(t, "beyond lock to EOF", l2.SetLock(e.ctx, 2, fsal.ReadLock, 1<<50, 1), syscall.EAGAIN)
	if err := l1.Unlock(e.ctx, 1, 1<<40, ^uint64(0)-(1<<40)); err != nil {
		t.Fatalf("Unlock to end: %v", err)
	}
	if err := l2.SetLock(e.ctx, 2, fsal.ReadLock, 1<<50, 1); err != nil {
		t.Fatalf("lock after unlock to end: %v", err)
	}
	// Closing a File releases its locks.
	if err := f1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l2.SetLock(e.ctx, 2, fsal.WriteLock, 50, 50); err != nil {
		t.Fatalf("lock after Close of holder: %v", err)
	}
}

func testReaddirBasic(t *testing.T, e *env) {
	d := e.mkdir(root, e.root, "d", 0o755)
	if entries, eof := e.list(root, d, 0, true, 0); len(entries) != 0 || !eof {
		t.Fatalf("empty dir: %v, eof=%v", entries, eof)
	}
	want := map[string]fsal.FileType{}
	e.create(root, d, "file", 0o644)
	want["file"] = fsal.TypeRegular
	e.mkdir(root, d, "sub", 0o755)
	want["sub"] = fsal.TypeDirectory
	if _, _, err := e.fs.Symlink(e.ctx, root, d, "link", "file", nil); err != nil {
		t.Fatal(err)
	}
	want["link"] = fsal.TypeSymlink
	if _, _, err := e.fs.Mknod(e.ctx, root, d, "fifo", fsal.TypeFIFO, 0, 0, nil); err != nil {
		t.Fatal(err)
	}
	want["fifo"] = fsal.TypeFIFO
	entries, eof := e.list(user1, d, 0, true, 0)
	if !eof || len(entries) != len(want) {
		t.Fatalf("Readdir: %d entries, eof=%v", len(entries), eof)
	}
	for _, de := range entries {
		if want[de.Name] != de.Attr.Type {
			t.Errorf("entry %q: type %d, want %d", de.Name, de.Attr.Type, want[de.Name])
		}
		h, a := e.lookup(root, d, de.Name)
		if !bytes.Equal(h, de.Handle) || a.Fileid != de.Attr.Fileid {
			t.Errorf("entry %q: handle/fileid differ from Lookup", de.Name)
		}
	}
	// Without attributes, names and cookies only.
	entries, eof = e.list(root, d, 0, false, 0)
	if !eof || len(entries) != len(want) {
		t.Fatalf("Readdir without attrs: %d entries", len(entries))
	}
	for _, de := range entries {
		if _, ok := want[de.Name]; !ok || de.Cookie <= 2 {
			t.Errorf("entry %+v", de)
		}
	}
	// Stopping early reports eof=false.
	if entries, eof := e.list(root, d, 0, false, 1); len(entries) != 1 || eof {
		t.Fatalf("early stop: %d entries, eof=%v", len(entries), eof)
	}
	f, _ := e.lookup(root, d, "file")
	_, err := e.fs.Readdir(e.ctx, root, f, 0, false, func(*fsal.DirEntry) bool { return true })
	wantErr(t, "Readdir(file)", err, syscall.ENOTDIR)
}

func testReaddirResume(t *testing.T, e *env) {
	const n = 300
	d := e.mkdir(root, e.root, "big", 0o755)
	names := map[string]bool{}
	for i := range n {
		name := fmt.Sprintf("entry-%03d-%s", i, bytes.Repeat([]byte{'x'}, i%40))
		names[name] = true
		if i%10 == 0 {
			e.mkdir(root, d, name, 0o755)
		} else {
			e.create(root, d, name, 0o644)
		}
	}
	full, eof := e.list(root, d, 0, false, 0)
	if !eof || len(full) != n {
		t.Fatalf("full listing: %d entries, eof=%v", len(full), eof)
	}
	seenName := map[string]bool{}
	seenCookie := map[uint64]bool{}
	for _, de := range full {
		if !names[de.Name] || seenName[de.Name] {
			t.Fatalf("unexpected or repeated entry %q", de.Name)
		}
		if de.Cookie <= 2 || seenCookie[de.Cookie] {
			t.Fatalf("entry %q: bad or repeated cookie %d", de.Name, de.Cookie)
		}
		seenName[de.Name], seenCookie[de.Cookie] = true, true
	}
	nameList := func(es []fsal.DirEntry) []string {
		out := make([]string, len(es))
		for i, de := range es {
			out[i] = de.Name
		}
		return out
	}
	// Resuming from any cookie yields exactly the rest, with the same
	// cookies.
	for i, de := range full {
		rest, eof := e.list(root, d, de.Cookie, false, 0)
		if !eof || !slices.Equal(nameList(rest), nameList(full[i+1:])) {
			t.Fatalf("resume after entry %d (cookie %d): got %d entries, want %d", i, de.Cookie, len(rest), n-i-1)
		}
		for j := range rest {
			if rest[j].Cookie != full[i+1+j].Cookie {
				t.Fatalf("resume after entry %d: cookie of %q changed", i, rest[j].Name)
			}
		}
	}
	// Paging in small batches (as READDIR with a small maxcount does),
	// with attributes, reassembles the full listing.
	for _, batch := range []int{1, 7, 64} {
		var got []fsal.DirEntry
		cookie := uint64(0)
		for {
			part, eof := e.list(root, d, cookie, true, batch)
			got = append(got, part...)
			if eof {
				break
			}
			if len(part) == 0 {
				t.Fatal("no progress and no eof")
			}
			cookie = part[len(part)-1].Cookie
		}
		if !slices.Equal(nameList(got), nameList(full)) {
			t.Fatalf("batches of %d: listing differs", batch)
		}
		for _, de := range got {
			if len(de.Handle) == 0 || de.Attr.Fileid == 0 {
				t.Fatalf("batches of %d: entry %q without handle/attrs", batch, de.Name)
			}
		}
	}
	// Entries removed behind the cursor do not disturb resumption.
	mid := full[n/2]
	for _, de := range full[:n/4] {
		if err := e.fs.Remove(e.ctx, root, d, de.Name); err != nil {
			t.Fatal(err)
		}
	}
	rest, _ := e.list(root, d, mid.Cookie, false, 0)
	if !slices.Equal(nameList(rest), nameList(full[n/2+1:])) {
		t.Fatalf("resume after removals: %d entries, want %d", len(rest), n-n/2-1)
	}
}

func testPermissions(t *testing.T, e *env) {
	shared := e.mkdir(root, e.root, "shared", 0o1777)
	priv, pa, err := e.fs.Mkdir(e.ctx, user1, shared, "private", modeAttr(0o700))
	if err != nil || pa.UID != user1.UID {
		t.Fatalf("Mkdir as user1: %+v, %v", pa, err)
	}
	secret, _, _, err := e.fs.Create(e.ctx, user1, priv, "secret", fsal.Guarded, modeAttr(0o600), [8]byte{})
	if err != nil {
		t.Fatalf("Create as user1: %v", err)
	}
	e.writeFile(user1, secret, []byte("s3cr3t"))
	if got := e.readFile(user1, secret); string(got) != "s3cr3t" {
		t.Fatalf("owner read %q", got)
	}

	_, _, err = e.fs.Lookup(e.ctx, user2, priv, "secret")
	wantErr(t, "Lookup in another's 0700 dir", err, fsal.ErrAccess)
	// LOOKUPP looks up ".." in the directory, which needs search
	// permission on it.
	_, _, err = e.fs.Parent(e.ctx, user2, priv)
	wantErr(t, "Parent of another's 0700 dir", err, fsal.ErrAccess)
	_, _, _, err = e.fs.Create(e.ctx, user2, priv, "x", fsal.Unchecked, nil, [8]byte{})
	wantErr(t, "Create in another's 0700 dir", err, fsal.ErrAccess)
	_, _, err = e.fs.Mkdir(e.ctx, user2, priv, "x", nil)
	wantErr(t, "Mkdir in another's 0700 dir", err, fsal.ErrAccess)
	_, err = e.fs.Readdir(e.ctx, user2, priv, 0, false, func(*fsal.DirEntry) bool { return true })
	wantErr(t, "Readdir of another's 0700 dir", err, fsal.ErrAccess)
	_, err = e.fs.Open(e.ctx, user2, secret, fsal.OpenRead)
	wantErr(t, "Open another's 0600 file", err, fsal.ErrAccess)
	_, err = e.fs.Open(e.ctx, user2, secret, fsal.OpenWrite)
	wantErr(t, "Open another's 0600 file for write", err, fsal.ErrAccess)
	wantErr(t, "Remove in another's 0700 dir", e.fs.Remove(e.ctx, user2, priv, "secret"), fsal.ErrAccess)
	wantErr(t, "Rename in another's 0700 dir", e.fs.Rename(e.ctx, user2, priv, "secret", shared, "stolen"), fsal.ErrAccess)
	own, _, _, err := e.fs.Create(e.ctx, user2, shared, "own", fsal.Guarded, nil, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Link into another's 0700 dir", e.fs.Link(e.ctx, user2, own, priv, "x"), fsal.ErrAccess)
	wantErr(t, "Remove another's entry from a sticky dir", e.fs.Remove(e.ctx, user2, shared, "private"), syscall.EPERM, syscall.EACCES)
	_, err = e.fs.Setattr(e.ctx, user2, priv, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o777})
	wantErr(t, "chmod another's dir", err, syscall.EPERM)
	// Root is not restricted.
	if _, _, err := e.fs.Lookup(e.ctx, root, priv, "secret"); err != nil {
		t.Fatalf("root Lookup: %v", err)
	}
	if got := e.readFile(root, secret); string(got) != "s3cr3t" {
		t.Fatalf("root read %q", got)
	}

	// Group and supplementary-group access.
	g, _, _, err := e.fs.Create(e.ctx, root, shared, "grp", fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode | fsal.SetGID, Mode: 0o640, GID: 3000}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.fs.Open(e.ctx, user2, g, fsal.OpenRead)
	wantErr(t, "Open group file without the group", err, fsal.ErrAccess)
	member := &fsal.Cred{UID: 2000, GID: 2000, Groups: []uint32{17, 3000}}
	f, err := e.fs.Open(e.ctx, member, g, fsal.OpenRead)
	if err != nil {
		t.Fatalf("Open group file via supplementary group: %v", err)
	}
	f.Close()
	primary := &fsal.Cred{UID: 2000, GID: 3000}
	f, err = e.fs.Open(e.ctx, primary, g, fsal.OpenRead)
	if err != nil {
		t.Fatalf("Open group file via primary group: %v", err)
	}
	f.Close()
	_, err = e.fs.Open(e.ctx, member, g, fsal.OpenWrite)
	wantErr(t, "Open group file for write", err, fsal.ErrAccess)
	// A member may chgrp their own file to the group; a non-member not.
	mine, _, _, err := e.fs.Create(e.ctx, member, shared, "mine", fsal.Guarded, nil, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	if a, err := e.fs.Setattr(e.ctx, member, mine, &fsal.SetAttr{Mask: fsal.SetGID, GID: 3000}); err != nil || a.GID != 3000 {
		t.Fatalf("chgrp to own group: %+v, %v", a, err)
	}
	_, err = e.fs.Setattr(e.ctx, member, mine, &fsal.SetAttr{Mask: fsal.SetGID, GID: 4000})
	wantErr(t, "chgrp to a foreign group", err, syscall.EPERM)
}

func testConcurrentUsers(t *testing.T, e *env) {
	const workers, files = 32, 12
	shared := e.mkdir(root, e.root, "shared", 0o1777)
	type priv struct {
		dir, file fsal.Handle
	}
	privs := make([]priv, workers)
	for i := range workers {
		c := &fsal.Cred{UID: uint32(1000 + i), GID: uint32(1000 + i)}
		d, _, err := e.fs.Mkdir(e.ctx, c, shared, fmt.Sprintf("u%d", i), modeAttr(0o700))
		if err != nil {
			t.Fatal(err)
		}
		f, _, _, err := e.fs.Create(e.ctx, c, d, "secret", fsal.Guarded, modeAttr(0o600), [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		privs[i] = priv{d, f}
	}
	var wg sync.WaitGroup
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fsal.Cred{UID: uint32(1000 + i), GID: uint32(1000 + i), Groups: []uint32{uint32(5000 + i)}}
			if i%4 == 0 {
				c = root // some root traffic mixed in, which must stay root
			}
			other := privs[(i+1)%workers]
			for k := range files {
				name := fmt.Sprintf("w%d-%d", i, k)
				h, a, _, err := e.fs.Create(e.ctx, c, shared, name, fsal.Guarded, modeAttr(0o640), [8]byte{})
				if err != nil {
					t.Errorf("worker %d: Create: %v", i, err)
					return
				}
				if a.UID != c.UID || a.GID != c.GID {
					t.Errorf("worker %d (uid %d gid %d): created file owned by %d:%d", i, c.UID, c.GID, a.UID, a.GID)
				}
				if ga, err := e.fs.Getattr(e.ctx, c, h); err != nil || ga.UID != c.UID {
					t.Errorf("worker %d: Getattr: %+v, %v", i, ga, err)
				}
				dh, da, err := e.fs.Mkdir(e.ctx, c, shared, name+"d", nil)
				if err != nil || da.UID != c.UID {
					t.Errorf("worker %d: Mkdir: %+v, %v", i, da, err)
				}
				_, _, err = e.fs.Lookup(e.ctx, c, other.dir, "secret")
				of, oerr := e.fs.Open(e.ctx, c, other.file, fsal.OpenRead)
				if oerr == nil {
					of.Close()
				}
				if c == root {
					if err != nil || oerr != nil {
						t.Errorf("worker %d (root): access to another's file: %v, %v", i, err, oerr)
					}
				} else {
					if !errors.Is(err, fsal.ErrAccess) || !errors.Is(oerr, fsal.ErrAccess) {
						t.Errorf("worker %d: access to another's file: %v, %v", i, err, oerr)
					}
				}
				if f, err := e.fs.Open(e.ctx, c, h, fsal.OpenWrite); err != nil {
					t.Errorf("worker %d: Open own file: %v", i, err)
				} else {
					f.WriteAt(e.ctx, []byte(name), 0)
					f.Close()
				}
				if err := e.fs.Remove(e.ctx, c, shared, name+"d"); err != nil {
					t.Errorf("worker %d: Remove: %v", i, err)
				}
				_ = dh
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	entries, _ := e.list(root, shared, 0, true, 0)
	count := 0
	for _, de := range entries {
		var i, k int
		if _, err := fmt.Sscanf(de.Name, "w%d-%d", &i, &k); err != nil {
			continue
		}
		count++
		want := uint32(1000 + i)
		if i%4 == 0 {
			want = 0
		}
		if de.Attr.UID != want || de.Attr.Size != uint64(len(de.Name)) {
			t.Errorf("%s: owner %d size %d, want owner %d size %d", de.Name, de.Attr.UID, de.Attr.Size, want, len(de.Name))
		}
	}
	if count != workers*files {
		t.Fatalf("%d files, want %d", count, workers*files)
	}
}
