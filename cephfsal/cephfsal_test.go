//go:build !noceph

package cephfsal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/fsaltest"
)

var (
	ctx  = context.Background()
	root = fsal.Root
)

// clusterOptions returns mount options for the test cluster, or skips the
// test when there is none. make test always starts one
// (scripts/with-ceph.sh); by hand: scripts/ceph-dev.sh up DIR and
// eval "$(scripts/ceph-dev.sh env DIR)".
func clusterOptions(tb testing.TB) MountOptions {
	tb.Helper()
	conf := os.Getenv("CEPH_CONF")
	if conf == "" {
		tb.Skip("CEPH_CONF is unset: no Ceph cluster to test against (scripts/ceph-dev.sh up DIR; eval \"$(scripts/ceph-dev.sh env DIR)\")")
	}
	keyring := os.Getenv("CEPH_KEYRING")
	if keyring == "" {
		keyring = os.Getenv("CEPH_ADMIN_KEYRING")
	}
	return MountOptions{
		ConfPath: conf,
		User:     os.Getenv("CEPH_USER"),
		Keyring:  keyring,
		FSName:   os.Getenv("CEPH_FS"),
	}
}

func randomID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func mount(tb testing.TB, opts MountOptions) *Mount {
	tb.Helper()
	if opts.NodeID == "" {
		opts.NodeID = "test-" + randomID()
	}
	m, err := NewMount(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return m
}

var (
	sharedOnce  sync.Once
	sharedMount *Mount
	sharedErr   error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedMount != nil {
		sharedMount.Close()
	}
	os.Exit(code)
}

// shared returns one mount for the package's tests (sessions are cheap, but
// one per subtest would be pointless churn on the MDS).
func shared(tb testing.TB) *Mount {
	tb.Helper()
	opts := clusterOptions(tb)
	sharedOnce.Do(func() {
		opts.NodeID = "test-shared-" + randomID()
		sharedMount, sharedErr = NewMount(opts)
	})
	if sharedErr != nil {
		tb.Fatal(sharedErr)
	}
	return sharedMount
}

// freshDir makes an empty directory on m for one test and returns its
// CephFS path; it is removed afterwards.
func freshDir(tb testing.TB, m *Mount) string {
	tb.Helper()
	top, err := m.Export("/", false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { top.Close() })
	base, _, err := top.Lookup(ctx, root, top.Root(), "nfsgw-test")
	if errors.Is(err, syscall.ENOENT) {
		base, _, err = top.Mkdir(ctx, root, top.Root(), "nfsgw-test", &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o755})
		if errors.Is(err, syscall.EEXIST) {
			base, _, err = top.Lookup(ctx, root, top.Root(), "nfsgw-test")
		}
	}
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.NewReplacer("/", "-", " ", "_").Replace(tb.Name()) + "-" + randomID()
	dir, _, err := top.Mkdir(ctx, root, base, name, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o755})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := rmTree(top, dir); err != nil {
			tb.Logf("cleanup: %v", err)
		}
		top.Remove(ctx, root, base, name)
	})
	return "/nfsgw-test/" + name
}

// rmTree empties a directory.
func rmTree(fs *FS, dir fsal.Handle) error {
	for {
		var names []string
		var dirs []fsal.Handle
		_, err := fs.Readdir(ctx, root, dir, 0, true, func(e *fsal.DirEntry) bool {
			names = append(names, e.Name)
			if e.Attr.Type == fsal.TypeDirectory {
				dirs = append(dirs, e.Handle)
			} else {
				dirs = append(dirs, nil)
			}
			return true
		})
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return nil
		}
		for i, n := range names {
			if dirs[i] != nil {
				fs.Setattr(ctx, root, dirs[i], &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o755})
				if err := rmTree(fs, dirs[i]); err != nil {
					return err
				}
			}
			if err := fs.Remove(ctx, root, dir, n); err != nil && !errors.Is(err, syscall.ENOENT) {
				return err
			}
		}
	}
}

func export(tb testing.TB, m *Mount, dir string) *FS {
	tb.Helper()
	fs, err := m.Export(dir, false)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fs.Close() })
	return fs
}

func TestConformance(t *testing.T) {
	m := shared(t)
	fsaltest.Run(t, func(t *testing.T) fsal.FS {
		return export(t, m, freshDir(t, m))
	}, fsaltest.ApparentSpaceUsed)
}

// ok and ok2 fail the test on an error: ok(f())(t) keeps call sites short.
func ok[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok2[A, B any](a A, b B, err error) func(t *testing.T) (A, B) {
	return func(t *testing.T) (A, B) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return a, b
	}
}

func wantErr(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func create(t *testing.T, fs *FS, dir fsal.Handle, name string) fsal.Handle {
	t.Helper()
	h, _, _, err := fs.Create(ctx, root, dir, name, fsal.Guarded, nil, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func writeAll(t *testing.T, fs *FS, h fsal.Handle, data []byte) {
	t.Helper()
	f := ok(fs.Open(ctx, root, h, fsal.OpenWrite))(t)
	if n, err := f.WriteAt(context.Background(), data, 0); err != nil || n != len(data) {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readAll(t *testing.T, fs *FS, h fsal.Handle) []byte {
	t.Helper()
	f := ok(fs.Open(ctx, root, h, fsal.OpenRead))(t)
	defer f.Close()
	buf := make([]byte, 1<<16)
	n, eof, err := f.ReadAt(context.Background(), buf, 0)
	if err != nil || !eof {
		t.Fatalf("ReadAt: %d, eof=%v, %v", n, eof, err)
	}
	return buf[:n]
}

// TestHandleLayout pins the handle format to Ganesha 4.3's FSAL_CEPH key.
func TestHandleLayout(t *testing.T) {
	m := shared(t)
	fs := export(t, m, freshDir(t, m))
	h := create(t, fs, fs.Root(), "f")
	a := ok(fs.Getattr(ctx, root, h))(t)
	if len(h) != 24 {
		t.Fatalf("handle of %d bytes", len(h))
	}
	ino := binary.LittleEndian.Uint64(h[0:])
	snap := binary.LittleEndian.Uint64(h[8:])
	fscid := binary.LittleEndian.Uint64(h[16:])
	if ino != a.Fileid || snap != 0xfffffffffffffffe || fscid != m.FSCID() {
		t.Fatalf("handle %x: ino %d (fileid %d) snap %x fscid %d (mount's %d)", []byte(h), ino, a.Fileid, snap, fscid, m.FSCID())
	}
	top := export(t, m, "/")
	want := append(binary.LittleEndian.AppendUint64(nil, 1), 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	want = binary.LittleEndian.AppendUint64(want, m.FSCID())
	if !bytes.Equal(top.Root(), want) {
		t.Fatalf("root handle %x, want %x", []byte(top.Root()), want)
	}
}

// TestHandlesAfterRestart: handles from one gateway instance resolve in a
// new one (a new libcephfs client with an empty cache), data included.
func TestHandlesAfterRestart(t *testing.T) {
	opts := clusterOptions(t)
	m1, err := NewMount(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := freshDir(t, shared(t))
	fs1 := ok(m1.Export(dir, false))(t)
	d, _ := ok2(fs1.Mkdir(ctx, root, fs1.Root(), "d", nil))(t)
	f := create(t, fs1, d, "f")
	writeAll(t, fs1, f, []byte("persisted"))
	fa := ok(fs1.Getattr(ctx, root, f))(t)
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := mount(t, opts)
	fs2 := export(t, m2, dir)
	for _, h := range []fsal.Handle{fs1.Root(), d} {
		if err := fs2.Check(ctx, h); err != nil {
			t.Fatalf("Check(%x) after restart: %v", []byte(h), err)
		}
	}
	// A file's place in a sub-directory export cannot be proven after a
	// restart until it is looked up again (see FS.Check)...
	wantErr(t, "Check(file) after restart", fs2.Check(ctx, f), syscall.ESTALE)
	if h, _, err := fs2.Lookup(ctx, root, d, "f"); err != nil || !bytes.Equal(h, f) {
		t.Fatalf("Lookup after restart: %x, %v", []byte(h), err)
	}
	if err := fs2.Check(ctx, f); err != nil {
		t.Fatalf("Check(file) after its lookup: %v", err)
	}
	// ... unless file handles are trusted.
	topts := opts
	topts.TrustFileHandles = true
	fs3 := export(t, mount(t, topts), dir)
	if err := fs3.Check(ctx, f); err != nil {
		t.Fatalf("Check(file) with TrustFileHandles: %v", err)
	}
	if !bytes.Equal(fs2.Root(), fs1.Root()) {
		t.Fatal("root handle changed across restarts")
	}
	a := ok(fs2.Getattr(ctx, root, f))(t)
	if a.Fileid != fa.Fileid || a.Size != 9 {
		t.Fatalf("attrs after restart %+v", a)
	}
	if got := readAll(t, fs2, f); string(got) != "persisted" {
		t.Fatalf("content after restart %q", got)
	}
	p, _, err := fs2.Parent(ctx, root, d)
	if err != nil || !bytes.Equal(p, fs2.Root()) {
		t.Fatalf("Parent after restart: %v", err)
	}
}

// TestCheckRefusals: the handle errors the engine maps to BADHANDLE,
// ACCESS and STALE.
func TestCheckRefusals(t *testing.T) {
	m := shared(t)
	base := freshDir(t, m)
	top := export(t, m, base)
	a, _ := ok2(top.Mkdir(ctx, root, top.Root(), "a", nil))(t)
	b, _ := ok2(top.Mkdir(ctx, root, top.Root(), "b", nil))(t)
	bsub, _ := ok2(top.Mkdir(ctx, root, b, "sub", nil))(t)
	deep, _ := ok2(top.Mkdir(ctx, root, bsub, "deep", nil))(t)
	asub, _ := ok2(top.Mkdir(ctx, root, a, "sub", nil))(t)
	f := create(t, top, asub, "f")
	outsideFile := create(t, top, bsub, "g")

	// A fresh mount: nothing cached, containment must be proven by walking.
	m2 := mount(t, clusterOptions(t))
	fa := export(t, m2, base+"/a")
	for _, tc := range []struct {
		name string
		h    fsal.Handle
		want syscall.Errno
	}{
		{"sibling export root", b, syscall.EACCES},
		{"dir in sibling", bsub, syscall.EACCES},
		{"deep dir in sibling", deep, syscall.EACCES},
		{"parent of the export", top.Root(), syscall.EACCES},
		{"filesystem root", export(t, m2, "/").Root(), syscall.EACCES},
		{"short", fa.Root()[:23], syscall.EBADF},
		{"long", append(bytes.Clone(fa.Root()), 0), syscall.EBADF},
		{"other fscid", withWord(fa.Root(), 2, m.FSCID()+1), syscall.EACCES},
		{"snapshot", withWord(fa.Root(), 1, 2), syscall.EACCES},
		{"MDS-private inode", withWord(fa.Root(), 0, 0x100), syscall.ESTALE},
		{"unused inode", withWord(fa.Root(), 0, 1<<40+1<<39), syscall.ESTALE},
		{"file in sibling", outsideFile, syscall.ESTALE},
	} {
		wantErr(t, "Check("+tc.name+")", fa.Check(ctx, tc.h), tc.want)
		// A second Check answers from the cached verdict, identically.
		wantErr(t, "Check("+tc.name+") again", fa.Check(ctx, tc.h), tc.want)
	}
	for _, h := range []fsal.Handle{fa.Root(), asub} {
		if err := fa.Check(ctx, h); err != nil {
			t.Fatalf("Check(inside %x): %v", []byte(h), err)
		}
	}
	// A file inside is provable once handed out by the export.
	wantErr(t, "Check(file inside, not yet handed out)", fa.Check(ctx, f), syscall.ESTALE)
	if _, err := fa.Readdir(ctx, root, asub, 0, true, func(*fsal.DirEntry) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if err := fa.Check(ctx, f); err != nil {
		t.Fatalf("Check(file inside, listed): %v", err)
	}
	// ".." stops at the export root.
	_, _, err := fa.Parent(ctx, root, fa.Root())
	wantErr(t, "Parent(export root)", err, syscall.ENOENT)
	// A lookup of the snapshot directory finds nothing to export.
	_, _, err = fa.Lookup(ctx, root, fa.Root(), ".snap")
	wantErr(t, "Lookup(.snap)", err, syscall.ENOENT)
	_, err = fa.LookupHandle(ctx, root, fa.Root(), ".snap")
	wantErr(t, "LookupHandle(.snap)", err, syscall.ENOENT)
}

func withWord(h fsal.Handle, i int, v uint64) fsal.Handle {
	h = bytes.Clone(h)
	binary.LittleEndian.PutUint64(h[8*i:], v)
	return h
}

// TestStaleAcrossGateways: an object removed through another gateway (a
// second libcephfs client) is ESTALE here, although this one still has its
// inode cached.
func TestStaleAcrossGateways(t *testing.T) {
	m1 := shared(t)
	dir := freshDir(t, m1)
	fs1 := export(t, m1, dir)
	f := create(t, fs1, fs1.Root(), "f")
	d, _ := ok2(fs1.Mkdir(ctx, root, fs1.Root(), "d", nil))(t)
	ok(fs1.Getattr(ctx, root, f))(t)

	m2 := mount(t, clusterOptions(t))
	fs2 := export(t, m2, dir)
	if err := fs2.Remove(ctx, root, fs2.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	if err := fs2.Remove(ctx, root, fs2.Root(), "d"); err != nil {
		t.Fatal(err)
	}
	// This takes a few seconds: the MDS answers about the unlinked inode
	// only once the remover's client released its caps on it, which
	// libcephfs does on a timer.
	_, err := fs1.Getattr(ctx, root, f)
	wantErr(t, "Getattr(file removed elsewhere)", err, syscall.ESTALE)
	_, err = fs1.Open(ctx, root, f, fsal.OpenRead)
	wantErr(t, "Open(file removed elsewhere)", err, syscall.ESTALE)
	_, err = fs1.Getattr(ctx, root, d)
	wantErr(t, "Getattr(dir removed elsewhere)", err, syscall.ESTALE)
	_, _, err = fs1.Lookup(ctx, root, d, "x")
	wantErr(t, "Lookup(dir removed elsewhere)", err, syscall.ESTALE)
	// And the other way round, with nothing cached on the remover.
	g := create(t, fs1, fs1.Root(), "g")
	if err := fs1.Remove(ctx, root, fs1.Root(), "g"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Check on another gateway", fs2.Check(ctx, g), syscall.ESTALE)
}

// TestLocksAcrossGateways: byte-range locks live in the MDS, so two
// gateways (two Mounts with their own node ids) see each other's locks,
// even for equal owner numbers.
func TestLocksAcrossGateways(t *testing.T) {
	m1 := shared(t)
	dir := freshDir(t, m1)
	fs1 := export(t, m1, dir)
	h := create(t, fs1, fs1.Root(), "f")
	m2 := mount(t, clusterOptions(t))
	fs2 := export(t, m2, dir)

	f1 := ok(fs1.Open(ctx, root, h, fsal.OpenRead|fsal.OpenWrite))(t)
	defer f1.Close()
	f2 := ok(fs2.Open(ctx, root, h, fsal.OpenRead|fsal.OpenWrite))(t)
	defer f2.Close()
	l1, l2 := f1.(fsal.Locker), f2.(fsal.Locker)
	if err := l1.SetLock(ctx, 7, fsal.WriteLock, 0, 100); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "conflicting lock from the other gateway", l2.SetLock(ctx, 7, fsal.ReadLock, 10, 1), syscall.EAGAIN)
	conflict, ct, off, length, err := f2.(*File).TestLock(ctx, 7, fsal.ReadLock, 10, 1)
	if err != nil || !conflict || ct != fsal.WriteLock || off != 0 || length != 100 {
		t.Fatalf("TestLock: conflict=%v type=%d %d+%d, %v", conflict, ct, off, length, err)
	}
	if err := l2.SetLock(ctx, 7, fsal.WriteLock, 100, 0); err != nil {
		t.Fatalf("adjacent lock to EOF: %v", err)
	}
	wantErr(t, "beyond the other's lock to EOF", l1.SetLock(ctx, 8, fsal.ReadLock, 1<<40, 1), syscall.EAGAIN)
	if err := l1.Unlock(ctx, 7, 0, 100); err != nil {
		t.Fatal(err)
	}
	if err := l2.SetLock(ctx, 7, fsal.WriteLock, 0, 100); err != nil {
		t.Fatalf("lock after the other gateway unlocked: %v", err)
	}
	// Closing the holder's file releases its locks everywhere.
	if err := f2.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l1.SetLock(ctx, 9, fsal.WriteLock, 0, 0); err != nil {
		t.Fatalf("whole-file lock after the holder closed: %v", err)
	}
	if err := f2.Close(); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestReaddirCookiesAcrossGateways: a listing started on one gateway
// continues on another (failover) from any cookie, with the same cookies.
func TestReaddirCookiesAcrossGateways(t *testing.T) {
	m1 := shared(t)
	dir := freshDir(t, m1)
	fs1 := export(t, m1, dir)
	const n = 120
	for i := range n {
		create(t, fs1, fs1.Root(), fmt.Sprintf("file-%03d", i))
	}
	list := func(fs *FS, cookie uint64) []fsal.DirEntry {
		var out []fsal.DirEntry
		eof, err := fs.Readdir(ctx, root, fs.Root(), cookie, false, func(e *fsal.DirEntry) bool {
			out = append(out, *e)
			return true
		})
		if err != nil || !eof {
			t.Fatalf("Readdir from %d: eof=%v, %v", cookie, eof, err)
		}
		return out
	}
	full := list(fs1, 0)
	if len(full) != n {
		t.Fatalf("%d entries, want %d", len(full), n)
	}
	fs2 := export(t, mount(t, clusterOptions(t)), dir)
	for i, e := range full {
		rest := list(fs2, e.Cookie)
		if len(rest) != n-i-1 {
			t.Fatalf("resume after %d on the other gateway: %d entries, want %d", i, len(rest), n-i-1)
		}
		for j, r := range rest {
			if r.Name != full[i+1+j].Name || r.Cookie != full[i+1+j].Cookie {
				t.Fatalf("resume after %d: entry %d is %+v, want %+v", i, j, r, full[i+1+j])
			}
		}
	}
	_, err := fs1.Readdir(ctx, root, fs1.Root(), 2, false, func(*fsal.DirEntry) bool { return true })
	wantErr(t, "Readdir from cookie 2", err, syscall.EINVAL)
}

// TestDelegationRecall: a conflicting open through another gateway recalls
// a delegation granted here, and proceeds once it is returned.
func TestDelegationRecall(t *testing.T) {
	opts := clusterOptions(t)
	opts.DelegationTimeout = 30 * time.Second
	m1 := mount(t, opts)
	dir := freshDir(t, m1)
	fs1 := export(t, m1, dir)
	fs2 := export(t, mount(t, clusterOptions(t)), dir)
	h := create(t, fs2, fs2.Root(), "f")
	writeAll(t, fs2, h, []byte("delegated"))

	f := ok(fs1.Open(ctx, root, h, fsal.OpenRead))(t)
	defer f.Close()
	recalled := make(chan struct{})
	var once sync.Once
	dg := f.(fsal.Delegator)
	if err := dg.Delegate(fsal.ReadLock, func() { once.Do(func() { close(recalled) }) }); err != nil {
		t.Fatalf("Delegate: %v", err)
	}
	// Whatever fails below, give the delegation back: an unreturned one
	// gets the whole client evicted after the delegation timeout.
	defer dg.ReturnDelegation()

	// A reader elsewhere does not conflict with a read delegation.
	r2 := ok(fs2.Open(ctx, root, h, fsal.OpenRead))(t)
	r2.Close()
	select {
	case <-recalled:
		t.Fatal("a read open elsewhere recalled a read delegation")
	case <-time.After(200 * time.Millisecond):
	}

	opened := make(chan error, 1)
	go func() {
		w, err := fs2.Open(ctx, root, h, fsal.OpenWrite)
		if err == nil {
			_, err = w.WriteAt(context.Background(), []byte("X"), 0)
			w.Close()
		}
		opened <- err
	}()
	select {
	case <-recalled:
	case err := <-opened:
		t.Fatalf("conflicting open finished (%v) without a recall", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no recall within 20 s")
	}
	if err := dg.ReturnDelegation(); err != nil {
		t.Fatalf("ReturnDelegation: %v", err)
	}
	select {
	case err := <-opened:
		if err != nil {
			t.Fatalf("conflicting open after the return: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("conflicting open still blocked after the delegation was returned")
	}
	if got := readAll(t, fs1, h); string(got) != "Xelegated" {
		t.Fatalf("content %q after the other gateway's write", got)
	}

	// While another gateway has the file open for writing, a read
	// delegation is either refused, or (when the writer holds no write caps
	// yet) granted and recalled by its first write.
	w, err := fs2.Open(ctx, root, h, fsal.OpenWrite)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g := ok(fs1.Open(ctx, root, h, fsal.OpenRead))(t)
	defer g.Close()
	recalled2 := make(chan struct{})
	var once2 sync.Once
	dg2 := g.(fsal.Delegator)
	switch err := dg2.Delegate(fsal.ReadLock, func() { once2.Do(func() { close(recalled2) }) }); {
	case errors.Is(err, syscall.EAGAIN):
	case err == nil:
		defer dg2.ReturnDelegation()
		wrote := make(chan error, 1)
		go func() {
			_, err := w.WriteAt(context.Background(), []byte("Y"), 0)
			wrote <- err
		}()
		select {
		case <-recalled2:
			dg2.ReturnDelegation()
		case err := <-wrote:
			t.Fatalf("a write elsewhere finished (%v) without recalling the read delegation", err)
		case <-time.After(20 * time.Second):
			t.Fatal("no recall within 20 s")
		}
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("Delegate with a writer elsewhere: %v", err)
	}
}

func TestDelegationsOffByDefault(t *testing.T) {
	m := shared(t)
	fs := export(t, m, freshDir(t, m))
	h := create(t, fs, fs.Root(), "f")
	f := ok(fs.Open(ctx, root, h, fsal.OpenRead))(t)
	defer f.Close()
	wantErr(t, "Delegate", f.(fsal.Delegator).Delegate(fsal.ReadLock, func() {}), syscall.EOPNOTSUPP)
}

// TestResetPreviousSession: a new instance of a node ends the previous
// instance's session, which frees its locks at once.
func TestResetPreviousSession(t *testing.T) {
	opts := clusterOptions(t)
	opts.NodeID = "reset-" + randomID()
	m1, err := NewMount(opts)
	if err != nil {
		t.Fatal(err)
	}
	dir := freshDir(t, shared(t))
	fs1 := ok(m1.Export(dir, false))(t)
	h := create(t, fs1, fs1.Root(), "f")
	f1 := ok(fs1.Open(ctx, root, h, fsal.OpenRead|fsal.OpenWrite))(t)
	if err := f1.(fsal.Locker).SetLock(ctx, 1, fsal.WriteLock, 0, 0); err != nil {
		t.Fatal(err)
	}
	// The instance "dies" without unmounting: its session stays.

	other := export(t, mount(t, clusterOptions(t)), dir)
	f := ok(other.Open(ctx, root, h, fsal.OpenRead|fsal.OpenWrite))(t)
	defer f.Close()
	wantErr(t, "lock held by the old instance", f.(fsal.Locker).SetLock(ctx, 1, fsal.WriteLock, 0, 1), syscall.EAGAIN)

	opts.ResetPreviousSession = true
	m2 := mount(t, opts)
	if m2.SessionUUID() != "nfsgw-"+opts.NodeID {
		t.Fatalf("session uuid %q", m2.SessionUUID())
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := f.(fsal.Locker).SetLock(ctx, 1, fsal.WriteLock, 0, 1)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EAGAIN) || time.Now().After(deadline) {
			t.Fatalf("lock after the reset: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Resetting again when there is no previous session is fine.
	mount(t, opts)
	// The evicted client's resources are leaked on purpose: its session
	// is gone and unmounting it could wait on the dead session.
	_ = m1
}

func TestMountErrors(t *testing.T) {
	opts := clusterOptions(t)
	t.Run("unreachable", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "ceph.conf")
		// A loopback port nobody listens on.
		os.WriteFile(conf, []byte("[global]\nmon host = v2:127.0.0.1:9\nauth client required = cephx\n"), 0o644)
		o := opts
		o.ConfPath = conf
		o.MountTimeout = 2 * time.Second
		start := time.Now()
		_, err := NewMount(o)
		if !errors.Is(err, syscall.ETIMEDOUT) {
			t.Fatalf("got %v, want a timeout", err)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("took %v", d)
		}
		t.Log(err)
	})
	t.Run("no keyring", func(t *testing.T) {
		conf := filepath.Join(t.TempDir(), "ceph.conf")
		os.WriteFile(conf, []byte("[global]\nmon host = v2:127.0.0.1:9\nauth client required = cephx\n"), 0o644)
		o := opts
		o.ConfPath, o.Keyring = conf, filepath.Join(t.TempDir(), "missing.keyring")
		_, err := NewMount(o)
		if err == nil || !strings.Contains(err.Error(), "keyring") {
			t.Fatalf("got %v, want an error about the keyring", err)
		}
	})
	t.Run("missing caps", func(t *testing.T) {
		dir := os.Getenv("CEPH_DEV_DIR")
		keyring := filepath.Join(dir, "nocaps.keyring")
		if _, err := os.Stat(keyring); dir == "" || err != nil {
			t.Skip("no client.nocaps keyring (scripts/ceph-dev.sh makes one)")
		}
		o := opts
		o.User, o.Keyring = "nocaps", keyring
		o.MountTimeout = 5 * time.Second
		_, err := NewMount(o)
		if err == nil || !strings.Contains(err.Error(), "lacks caps") || !strings.Contains(err.Error(), "client.nocaps") {
			t.Fatalf("got %v, want an error naming the missing caps", err)
		}
		t.Log(err)
	})
	t.Run("no such export", func(t *testing.T) {
		m := shared(t)
		if _, err := m.Export("/no/such/dir", false); !errors.Is(err, syscall.ENOENT) {
			t.Fatalf("got %v", err)
		}
		if _, err := m.Export("relative", false); err == nil {
			t.Fatal("relative export path accepted")
		}
	})
}

// TestManyGroups: credentials beyond AUTH_SYS's 16 groups take the uncached
// path and still carry every group.
func TestManyGroups(t *testing.T) {
	m := shared(t)
	fs := export(t, m, freshDir(t, m))
	h, _, _, err := fs.Create(ctx, root, fs.Root(), "g", fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode | fsal.SetGID, Mode: 0o640, GID: 3000}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	c := &fsal.Cred{UID: 2000, GID: 2000}
	for g := range uint32(19) {
		c.Groups = append(c.Groups, 100+g)
	}
	_, err = fs.Open(ctx, c, h, fsal.OpenRead)
	wantErr(t, "Open without the group", err, syscall.EACCES)
	c.Groups = append(c.Groups, 3000)
	f, err := fs.Open(ctx, c, h, fsal.OpenRead)
	if err != nil {
		t.Fatalf("Open via the 20th group: %v", err)
	}
	f.Close()
	// Root with supplementary groups is still root.
	rg := &fsal.Cred{Groups: []uint32{5}}
	if _, _, err := fs.Lookup(ctx, rg, fs.Root(), "g"); err != nil {
		t.Fatal(err)
	}
}

// TestSubtreeMount: a mount of a sub-directory (what a path-restricted
// cephx key needs) serves exports below it and nothing else.
func TestSubtreeMount(t *testing.T) {
	sm := shared(t)
	base := freshDir(t, sm)
	top := export(t, sm, base)
	a, _ := ok2(top.Mkdir(ctx, root, top.Root(), "a", nil))(t)
	outside, _ := ok2(top.Mkdir(ctx, root, top.Root(), "outside", nil))(t)
	create(t, top, a, "f")

	opts := clusterOptions(t)
	opts.Root = base + "/a/"
	m := mount(t, opts)
	fs := export(t, m, base+"/a")
	if _, _, err := fs.Lookup(ctx, root, fs.Root(), "f"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fs.Root(), a) {
		t.Fatal("the export root's handle depends on the mount root")
	}
	f, err := m.RawOpen(base+"/a/raw", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, _, err := fs.Lookup(ctx, root, fs.Root(), "raw"); err != nil {
		t.Fatalf("Lookup of the raw file: %v", err)
	}
	if _, err := m.Export(base+"/outside", false); err == nil {
		t.Fatal("export outside the mount root accepted")
	}
	if _, err := m.RawOpen(base+"/outside/x", syscall.O_CREAT|syscall.O_WRONLY, 0o644); err == nil {
		t.Fatal("RawOpen outside the mount root accepted")
	}
	if err := fs.Check(ctx, outside); err == nil {
		t.Fatal("Check of a directory outside the mount root succeeded")
	}
}

func TestReadOnlyExport(t *testing.T) {
	m := shared(t)
	dir := freshDir(t, m)
	rw := export(t, m, dir)
	h := create(t, rw, rw.Root(), "f")
	ro, err := m.Export(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, _, _, err = ro.Create(ctx, root, ro.Root(), "g", fsal.Guarded, nil, [8]byte{})
	wantErr(t, "Create", err, syscall.EROFS)
	_, err = ro.Open(ctx, root, h, fsal.OpenWrite)
	wantErr(t, "Open for write", err, syscall.EROFS)
	wantErr(t, "Remove", ro.Remove(ctx, root, ro.Root(), "f"), syscall.EROFS)
	if _, err := ro.Getattr(ctx, root, h); err != nil {
		t.Fatal(err)
	}
}

func TestRawFile(t *testing.T) {
	m := shared(t)
	dir := freshDir(t, m)
	f, err := m.RawOpen(dir+"/raw", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.WriteAt([]byte("raw data"), 0); n != 8 || err != nil {
		t.Fatalf("WriteAt: %d, %v", n, err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	f, err = m.RawOpen(dir+"/raw", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 16)
	if n, err := f.ReadAt(buf, 0); n != 8 || err != nil || string(buf[:n]) != "raw data" {
		t.Fatalf("ReadAt: %q, %v", buf[:n], err)
	}
	fs := export(t, m, dir)
	h, a, err := fs.Lookup(ctx, root, fs.Root(), "raw")
	if err != nil || a.Size != 8 || len(h) != 24 {
		t.Fatalf("Lookup of the raw file: %+v, %v", a, err)
	}
}

// TestInodeCacheBound: the per-export inode cache stays within its bound
// and evicted inodes still resolve.
func TestInodeCacheBound(t *testing.T) {
	opts := clusterOptions(t)
	opts.InodeCacheSize = cacheShards // one per shard
	m := mount(t, opts)
	fs := export(t, m, freshDir(t, m))
	var hs []fsal.Handle
	for i := range 3 * cacheShards {
		hs = append(hs, create(t, fs, fs.Root(), fmt.Sprintf("f%d", i)))
	}
	if n := fs.nodes.len(); n > cacheShards {
		t.Fatalf("%d cached inodes, bound %d", n, cacheShards)
	}
	for _, h := range hs {
		if _, err := fs.Getattr(ctx, root, h); err != nil {
			t.Fatal(err)
		}
	}
}

// Run a benchmark with CEPH_CONF set: go test -run X -bench . ./cephfsal/
func BenchmarkGetattr(b *testing.B) {
	m := shared(b)
	fs := export(b, m, freshDir(b, m))
	h, _, _, err := fs.Create(ctx, root, fs.Root(), "f", fsal.Guarded, nil, [8]byte{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			if _, err := fs.Getattr(ctx, root, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := fs.Getattr(ctx, root, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("check+getattr", func(b *testing.B) {
		for b.Loop() {
			if err := fs.Check(ctx, h); err != nil {
				b.Fatal(err)
			}
			if _, err := fs.Getattr(ctx, root, h); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw-ll-getattr", func(b *testing.B) {
		r, _, _ := fs.resolve(ctx, h)
		defer r.release()
		var st cephll.Statx
		for b.Loop() {
			if err := fs.ll.Getattr(ctx, r.v.in, &st, attrWant, lookupFlags, m.root); err != nil {
				b.Fatal(err)
			}
		}
	})
}
