package localfs

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/fsaltest"
)

var (
	ctx   = context.Background()
	user1 = &fsal.Cred{UID: 1000, GID: 1000}
	user2 = &fsal.Cred{UID: 2000, GID: 2000}
)

func requireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("localfs needs root (CAP_DAC_READ_SEARCH, CAP_SETUID)")
	}
}

func newAt(tb testing.TB, dir string, opts Options) *FS {
	tb.Helper()
	fs, err := New(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { fs.Close() })
	return fs
}

func newTestFS(tb testing.TB) *FS {
	requireRoot(tb)
	return newAt(tb, tb.TempDir(), Options{})
}

func wantErr(t *testing.T, what string, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: got %v, want %v", what, err, want)
	}
}

func TestConformance(t *testing.T) {
	requireRoot(t)
	fsaltest.Run(t, func(t *testing.T) fsal.FS { return newTestFS(t) })
}

// TestRestart simulates a gateway restart: a new FS on the same directory
// must accept the old handles.
func TestRestart(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	fs1, err := New(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d, _, err := fs1.Mkdir(ctx, fsal.Root, fs1.Root(), "d", nil)
	if err != nil {
		t.Fatal(err)
	}
	f, fa, _, err := fs1.Create(ctx, fsal.Root, d, "f", fsal.Guarded, nil, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	root1 := slices.Clone(fs1.Root())
	fs1.Close()

	fs2 := newAt(t, dir, Options{})
	if !bytes.Equal(fs2.Root(), root1) {
		t.Fatal("root handle changed across restart")
	}
	for _, h := range []fsal.Handle{root1, d, f} {
		if err := fs2.Check(ctx, h); err != nil {
			t.Fatalf("Check after restart: %v", err)
		}
	}
	a, err := fs2.Getattr(ctx, fsal.Root, f)
	if err != nil || a.Fileid != fa.Fileid {
		t.Fatalf("Getattr after restart: %+v, %v", a, err)
	}
	if h, _, err := fs2.Lookup(ctx, fsal.Root, d, "f"); err != nil || !bytes.Equal(h, f) {
		t.Fatalf("Lookup after restart gave another handle: %v", err)
	}

	// An explicit key replaces the stored one; handles under the old key
	// are then not ours.
	fs3 := newAt(t, dir, Options{HandleKey: bytes.Repeat([]byte{7}, 32)})
	wantErr(t, "Check under another key", fs3.Check(ctx, f), syscall.EACCES)
	if _, err := New(dir, Options{HandleKey: []byte("short")}); err == nil {
		t.Fatal("New accepted a short key")
	}
}

// forge builds a correctly tagged handle for any path, as only someone
// holding the key could.
func forge(t *testing.T, fs *FS, path string) fsal.Handle {
	t.Helper()
	fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, path, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := fs.encode(fh)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestCheckOutside checks that handles naming objects outside the export
// root are refused, both unauthenticated ones and (with the key) ones that
// only the containment check can catch.
func TestCheckOutside(t *testing.T) {
	requireRoot(t)
	parent := t.TempDir()
	exp := filepath.Join(parent, "export")
	// A sibling whose name has the export's as a prefix defeats naive
	// string prefix checks.
	outside := filepath.Join(parent, "export-other")
	for _, d := range []string{exp, outside, exp + "/in/deep", exp + "/moving"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{outside + "/secret", exp + "/in/file", exp + "/moving/file"} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fs := newAt(t, exp, Options{})

	for _, p := range []string{exp, exp + "/in", exp + "/in/deep", exp + "/in/file"} {
		if err := fs.Check(ctx, forge(t, fs, p)); err != nil {
			t.Errorf("Check(%s): %v", p, err)
		}
	}
	for _, p := range []string{parent, outside, outside + "/secret", "/", "/etc"} {
		err := fs.Check(ctx, forge(t, fs, p))
		var st unix.Stat_t
		unix.Stat(p, &st)
		if st.Dev == fs.rootDevT() {
			wantErr(t, "Check(tagged "+p+")", err, syscall.EACCES)
		} else if err == nil {
			// Another filesystem's handle decodes to garbage (ESTALE)
			// or, by chance, to some object the check must refuse.
			t.Errorf("Check(tagged %s, other filesystem) succeeded", p)
		}
		// Untagged kernel handles, as a client might guess them.
		fh, _, err := unix.NameToHandleAt(unix.AT_FDCWD, p, 0)
		if err != nil {
			t.Fatal(err)
		}
		raw := append(be32(uint32(fh.Type())), fh.Bytes()...)
		if err := fs.Check(ctx, raw); err == nil {
			t.Errorf("Check(untagged %s) succeeded", p)
		}
		padded := append(raw, make([]byte, tagSize)...)
		wantErr(t, "Check(zero-tagged "+p+")", fs.Check(ctx, padded), syscall.EACCES)
	}

	// An object moved out of the export after its handle was issued is
	// refused by a gateway that has not vouched for it yet.
	moving := forge(t, fs, exp+"/moving")
	movingFile := forge(t, fs, exp+"/moving/file")
	if err := os.Rename(exp+"/moving", outside+"/moved"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "Check(dir moved out)", fs.Check(ctx, moving), syscall.EACCES)
	wantErr(t, "Check(file moved out)", fs.Check(ctx, movingFile), syscall.EACCES)

	// The export cannot be left by name either.
	_, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "..")
	wantErr(t, "Lookup(..)", err, syscall.EINVAL)
	_, _, err = fs.Parent(ctx, fsal.Root, fs.Root())
	wantErr(t, "Parent(root)", err, syscall.ENOENT)
	in, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "in")
	if err != nil {
		t.Fatal(err)
	}
	if p, _, err := fs.Parent(ctx, fsal.Root, in); err != nil || !bytes.Equal(p, fs.Root()) {
		t.Fatalf("Parent(in): %v", err)
	}
}

func (fs *FS) rootDevT() uint64 { return unix.Mkdev(fs.rootDev.major, fs.rootDev.minor) }

func be32(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }

// TestCheckDisconnected covers a file whose dentry is not cached (as after
// a reboot): /proc/self/fd shows no usable path, and the handle's tag must
// carry the check. It drops the dentry cache, which only root can.
func TestCheckDisconnected(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/a/b", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/a/b/f", []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs1 := newAt(t, dir, Options{})
	h := forge(t, fs1, dir+"/a/b/f")
	fs1.Close()
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0); err != nil {
		t.Skipf("cannot drop the dentry cache: %v", err)
	}
	fs := newAt(t, dir, Options{}) // fresh Check cache
	fd, err := fs.resolve(h)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := readlinkProc(fd)
	unix.Close(fd)
	t.Logf("path of the decoded file: %q", p)
	if err := fs.Check(ctx, h); err != nil {
		t.Fatalf("Check(disconnected file): %v", err)
	}
}

// TestGarbageHandles feeds random bytes, with and without a valid tag, to
// every handle-taking entry point: errors, never panics.
func TestGarbageHandles(t *testing.T) {
	fs := newTestFS(t)
	f, _, _, err := fs.Create(ctx, fsal.Root, fs.Root(), "f", fsal.Guarded, nil, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var h fsal.Handle
		switch i % 3 {
		case 0: // random length and bytes
			h = make([]byte, rng.IntN(140))
		case 1: // random body with a valid tag: reaches the kernel
			body := make([]byte, typeSize+1+rng.IntN(fsal.MaxHandleSize-typeSize-tagSize))
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
			if rng.IntN(2) == 0 { // plausible type
				copy(body, be32(uint32(rng.IntN(256))))
			}
			h = fs.tag(body, body)
		case 2: // a real handle with a byte changed
			h = slices.Clone(f)
			h[rng.IntN(len(h))] ^= byte(1 + rng.IntN(255))
		}
		if i%3 == 0 {
			for j := range h {
				h[j] = byte(rng.Uint32())
			}
		}
		if len(h) > fsal.MaxHandleSize {
			h = h[:fsal.MaxHandleSize]
		}
		if err := fs.Check(ctx, h); err == nil && i%3 != 1 {
			t.Fatalf("Check(%x) succeeded", h)
		}
		fs.Getattr(ctx, fsal.Root, h)
		fs.Lookup(ctx, user1, h, "x")
		fs.Readdir(ctx, fsal.Root, h, 0, true, func(*fsal.DirEntry) bool { return true })
		if file, err := fs.Open(ctx, fsal.Root, h, fsal.OpenRead); err == nil {
			file.Close()
		}
		fs.Readlink(ctx, fsal.Root, h)
		fs.Statfs(ctx, fsal.Root, h)
	}
}

func openFDs(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		m[e.Name()], _ = os.Readlink("/proc/self/fd/" + e.Name())
	}
	return m
}

// TestFDLeak runs the conformance suite and the localfs-specific paths and
// checks that no descriptor is left open.
func TestFDLeak(t *testing.T) {
	requireRoot(t)
	warm := newTestFS(t) // let the runtime open whatever it opens lazily
	warm.Getattr(ctx, fsal.Root, warm.Root())
	warm.Close()
	openFDs(t)
	before := openFDs(t)

	t.Run("suite", func(t *testing.T) {
		fsaltest.Run(t, func(t *testing.T) fsal.FS { return newTestFS(t) })
	})
	t.Run("suite without descriptor cache", func(t *testing.T) {
		fsaltest.Run(t, func(t *testing.T) fsal.FS {
			requireRoot(t)
			return newAt(t, t.TempDir(), Options{FDCacheSize: -1})
		})
	})
	t.Run("localfs", func(t *testing.T) {
		TestCheckOutside(t)
		TestGarbageHandles(t)
		TestOwnerOverride(t)
		TestReadOnly(t)
		TestCookies(t)
	})
	runtime.GC() // run finalizers of anything dropped unclosed, so it shows
	after := openFDs(t)
	for fd, target := range after {
		if _, ok := before[fd]; !ok {
			t.Errorf("leaked fd %s -> %s", fd, target)
		}
	}
}

// threadCred reads the calling thread's fsuid, fsgid and groups. The
// caller must have locked the OS thread.
func threadCred() (fsuid, fsgid string, groups string, err error) {
	fd, err := unix.Open("/proc/thread-self/status", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", "", "", err
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return "", "", "", err
	}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		switch k {
		case "Uid":
			fsuid = f[3]
		case "Gid":
			fsgid = f[3]
		case "Groups":
			groups = strings.Join(f, " ")
		}
	}
	return fsuid, fsgid, groups, nil
}

func TestRunAsRestores(t *testing.T) {
	requireRoot(t)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &fsal.Cred{UID: 1234, GID: 5678, Groups: []uint32{9, 10}}
	err := runAs(c, func() error {
		u, g, gr, err := threadCred()
		if err != nil {
			return err
		}
		if u != "1234" || g != "5678" || gr != "9 10" {
			t.Errorf("inside runAs: fsuid %s fsgid %s groups %q", u, g, gr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	u, g, gr, err := threadCred()
	if err != nil {
		t.Fatal(err)
	}
	if u != "0" || g != "0" || gr != "" {
		t.Fatalf("after runAs: fsuid %s fsgid %s groups %q", u, g, gr)
	}
	// A panic inside must not leave the identity behind.
	func() {
		defer func() { recover() }()
		runAs(c, func() error { panic("boom") })
	}()
	if u, _, _, _ := threadCred(); u != "0" {
		t.Fatalf("after panic in runAs: fsuid %s", u)
	}
}

// TestCredIsolation hammers identity switching from many goroutines while
// root goroutines check that they never run on a thread with a foreign
// identity, and that each switched operation sees exactly its own.
func TestCredIsolation(t *testing.T) {
	fs := newTestFS(t)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(8)) // more threads, more interleaving
	shared, _, err := fs.Mkdir(ctx, fsal.Root, fs.Root(), "shared", &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o1777})
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var switched, checked atomic.Int64
	for i := range 48 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &fsal.Cred{UID: uint32(10000 + i), GID: uint32(20000 + i), Groups: []uint32{uint32(30000 + i)}}
			want := [3]string{strconv.Itoa(int(c.UID)), strconv.Itoa(int(c.GID)), strconv.Itoa(int(c.Groups[0]))}
			for k := 0; !stop.Load(); k++ {
				err := runAs(c, func() error {
					u, g, gr, err := threadCred()
					if err != nil {
						return err
					}
					if [3]string{u, g, gr} != want {
						t.Errorf("goroutine %d sees identity %s/%s/%q, want %v", i, u, g, gr, want)
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				if k%16 == 0 {
					name := "g" + strconv.Itoa(i) + "-" + strconv.Itoa(k)
					_, a, _, err := fs.Create(ctx, c, shared, name, fsal.Guarded, nil, [8]byte{})
					if err != nil || a.UID != c.UID || a.GID != c.GID {
						t.Errorf("Create as %d: owner %d:%d, %v", c.UID, a.UID, a.GID, err)
						return
					}
					fs.Remove(ctx, c, shared, name)
				}
				switched.Add(1)
			}
		}()
	}
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				runtime.LockOSThread()
				u, g, _, err := threadCred()
				runtime.UnlockOSThread()
				if err != nil || u != "0" || g != "0" {
					t.Errorf("root goroutine on a thread with fsuid %s fsgid %s (%v)", u, g, err)
					return
				}
				checked.Add(1)
				runtime.Gosched()
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	t.Logf("%d switched operations, %d root checks", switched.Load(), checked.Load())
}

// TestOwnerOverride: the owner may write a file whose mode forbids it, as
// NFS clients creating read-only files expect; nobody else may.
func TestOwnerOverride(t *testing.T) {
	fs := newTestFS(t)
	shared, _, err := fs.Mkdir(ctx, fsal.Root, fs.Root(), "shared", &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o1777})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _, err := fs.Create(ctx, user1, shared, "ro", fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o444}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Open(ctx, user1, h, fsal.OpenWrite)
	if err != nil {
		t.Fatalf("owner Open(write) of a 0444 file: %v", err)
	}
	if _, err := f.WriteAt(context.Background(), []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if _, err := fs.Setattr(ctx, user1, h, &fsal.SetAttr{Mask: fsal.SetSize, Size: 2}); err != nil {
		t.Fatalf("owner truncate of a 0444 file: %v", err)
	}
	_, err = fs.Open(ctx, user2, h, fsal.OpenWrite)
	wantErr(t, "non-owner Open(write)", err, syscall.EACCES)
	_, err = fs.Setattr(ctx, user2, h, &fsal.SetAttr{Mask: fsal.SetSize, Size: 0})
	wantErr(t, "non-owner truncate", err, syscall.EACCES)
}

// TestWriteClearsSetuid: writes run as the opener, so the kernel strips
// set-id bits when a non-owner modifies a set-uid file.
func TestWriteClearsSetuid(t *testing.T) {
	fs := newTestFS(t)
	h, _, _, err := fs.Create(ctx, fsal.Root, fs.Root(), "suid", fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o4777}, [8]byte{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := fs.Open(ctx, user1, h, fsal.OpenWrite)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(context.Background(), []byte("#!/bin/sh\n"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if a, _ := fs.Getattr(ctx, fsal.Root, h); a.Mode&0o4000 != 0 {
		t.Fatalf("set-uid bit survived a write by another user: %o", a.Mode)
	}
	fs.Setattr(ctx, fsal.Root, h, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o4777})
	if _, err := fs.Setattr(ctx, user1, h, &fsal.SetAttr{Mask: fsal.SetSize, Size: 1}); err != nil {
		t.Fatal(err)
	}
	if a, _ := fs.Getattr(ctx, fsal.Root, h); a.Mode&0o4000 != 0 {
		t.Fatalf("set-uid bit survived a truncate by another user: %o", a.Mode)
	}
}

func TestReadOnly(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.WriteFile(dir+"/f", []byte("hello"), 0o644)
	os.Mkdir(dir+"/d", 0o755)
	fs := newAt(t, dir, Options{ReadOnly: true})
	r := fs.Root()
	f, _, err := fs.Lookup(ctx, fsal.Root, r, "f")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = fs.Create(ctx, fsal.Root, r, "n", fsal.Unchecked, nil, [8]byte{})
	wantErr(t, "Create", err, syscall.EROFS)
	_, _, err = fs.Mkdir(ctx, fsal.Root, r, "n", nil)
	wantErr(t, "Mkdir", err, syscall.EROFS)
	_, _, err = fs.Symlink(ctx, fsal.Root, r, "n", "t", nil)
	wantErr(t, "Symlink", err, syscall.EROFS)
	_, _, err = fs.Mknod(ctx, fsal.Root, r, "n", fsal.TypeFIFO, 0, 0, nil)
	wantErr(t, "Mknod", err, syscall.EROFS)
	wantErr(t, "Remove", fs.Remove(ctx, fsal.Root, r, "f"), syscall.EROFS)
	wantErr(t, "Rename", fs.Rename(ctx, fsal.Root, r, "f", r, "g"), syscall.EROFS)
	wantErr(t, "Link", fs.Link(ctx, fsal.Root, f, r, "g"), syscall.EROFS)
	_, err = fs.Setattr(ctx, fsal.Root, f, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o600})
	wantErr(t, "Setattr", err, syscall.EROFS)
	_, err = fs.Open(ctx, fsal.Root, f, fsal.OpenRead|fsal.OpenWrite)
	wantErr(t, "Open(write)", err, syscall.EROFS)
	file, err := fs.Open(ctx, fsal.Root, f, fsal.OpenRead)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, eof, err := file.ReadAt(context.Background(), buf, 0); n != 5 || !eof || err != nil {
		t.Fatalf("ReadAt: %d %v %v", n, eof, err)
	}
	file.Close()
	n := 0
	if _, err := fs.Readdir(ctx, fsal.Root, r, 0, true, func(*fsal.DirEntry) bool { n++; return true }); err != nil || n != 2 {
		t.Fatalf("Readdir: %d entries, %v", n, err)
	}
}

func TestCookies(t *testing.T) {
	for _, off := range []uint64{0, 1, 2, 3, 12, 1 << 40, 0x7fffffffffffffff} {
		c, err := posToCookie(off)
		if err != nil || c <= 2 {
			t.Fatalf("posToCookie(%d) = %d, %v", off, c, err)
		}
		if p, err := cookieToPos(c); err != nil || uint64(p) != off {
			t.Fatalf("cookieToPos(%d) = %d, %v", c, p, err)
		}
	}
	if _, err := posToCookie(^uint64(0) - 1); err == nil {
		t.Fatal("posToCookie accepted an unrepresentable position")
	}
	if p, err := cookieToPos(0); p != 0 || err != nil {
		t.Fatal("cookie 0 is not the start")
	}
	fs := newTestFS(t)
	for _, c := range []uint64{1, 2, ^uint64(0)} {
		_, err := fs.Readdir(ctx, fsal.Root, fs.Root(), c, false, func(*fsal.DirEntry) bool { return true })
		wantErr(t, "Readdir(cookie "+strconv.FormatUint(c, 10)+")", err, syscall.EINVAL)
	}
}

// TestMountPoint: another filesystem mounted below the export cannot be
// named through the export's mount fd; Lookup says EXDEV and Readdir shows
// the entry without a handle.
func TestMountPoint(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	mnt := dir + "/mnt"
	os.Mkdir(mnt, 0o755)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(mnt, unix.MNT_DETACH) })
	fs := newAt(t, dir, Options{})
	_, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "mnt")
	wantErr(t, "Lookup(mount point)", err, syscall.EXDEV)
	var got []fsal.DirEntry
	if _, err := fs.Readdir(ctx, fsal.Root, fs.Root(), 0, true, func(e *fsal.DirEntry) bool { got = append(got, *e); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Handle != nil || got[0].Attr.Type != fsal.TypeDirectory {
		t.Fatalf("Readdir: %+v", got)
	}
}

func TestHandleCacheBound(t *testing.T) {
	c := newHandleCache(256)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		h := make([]byte, 24)
		for i := range h {
			h[i] = byte(rng.Uint32())
		}
		c.add(h)
		if !c.has(h) {
			t.Fatal("just added handle missing")
		}
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].m)
	}
	if total > 256 {
		t.Fatalf("cache holds %d entries, bound 256", total)
	}
}

func TestHandleSize(t *testing.T) {
	fs := newTestFS(t)
	if n := len(fs.Root()); n > fsal.MaxHandleSize || n < minHandle {
		t.Fatalf("root handle is %d bytes", n)
	}
	t.Logf("root handle: %d bytes (%x)", len(fs.Root()), fs.Root())
}

// Benchmarks. BenchmarkFstatat is the floor: a path stat relative to an
// open directory, which is what a path-based server would pay.

func benchFS(b *testing.B) (*FS, fsal.Handle) {
	fs := newTestFS(b)
	h, _, _, err := fs.Create(b.Context(), fsal.Root, fs.Root(), "f", fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o644}, [8]byte{})
	if err != nil {
		b.Fatal(err)
	}
	if err := fs.Check(b.Context(), h); err != nil {
		b.Fatal(err)
	}
	fs.inos.minAge = 0 // as for files older than minAge
	return fs, h
}

func BenchmarkGetattr(b *testing.B) {
	fs, h := benchFS(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := fs.Getattr(ctx, user1, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkFstatat(b *testing.B) {
	fs, _ := benchFS(b)
	b.RunParallel(func(pb *testing.PB) {
		var st unix.Stat_t
		for pb.Next() {
			if err := unix.Fstatat(fs.mountFD, "f", &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	fs, h := benchFS(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := fs.Check(ctx, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	fs, _ := benchFS(b)
	for _, tc := range []struct {
		name string
		c    *fsal.Cred
	}{{"root", fsal.Root}, {"user", &fsal.Cred{UID: 1000, GID: 1000, Groups: []uint32{1, 2, 3}}}} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := fs.Lookup(ctx, tc.c, fs.Root(), "f"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRunAs(b *testing.B) {
	requireRoot(b)
	c := &fsal.Cred{UID: 1000, GID: 1000, Groups: []uint32{1, 2, 3}}
	for b.Loop() {
		runAs(c, func() error { return nil })
	}
}

// benchCreds are the identities the directory benchmarks run as: root
// skips the identity switch, a user pays it.
var benchCreds = []struct {
	name string
	c    *fsal.Cred
}{{"root", fsal.Root}, {"user", &fsal.Cred{UID: 1000, GID: 1000, Groups: []uint32{1, 2, 3}}}}

// BenchmarkLookupDeep walks a path 16 directories deep from the root, one
// Lookup per component, as the lookupdeep workload of bench/vsganesha does
// in one COMPOUND; ns/op is per walk.
func BenchmarkLookupDeep(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	var names []string
	p := dir
	for i := range 16 {
		names = append(names, "d"+strconv.Itoa(i))
		p = filepath.Join(p, names[i])
		if err := os.Mkdir(p, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	fs := newAt(b, dir, Options{})
	fs.inos.minAge = 0 // as for directories older than minAge
	for _, tc := range benchCreds {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				h := fs.Root()
				for _, n := range names {
					var err error
					if h, _, err = fs.Lookup(ctx, tc.c, h, n); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkReaddirAttrs lists a 10,000-entry directory with handles and
// attributes, as READDIR with attributes does; ns/op is per listing.
func BenchmarkReaddirAttrs(b *testing.B) {
	requireRoot(b)
	dir := b.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	const n = 10000
	for i := range n {
		fd, err := unix.Open(filepath.Join(dir, "file-"+strconv.Itoa(i)), unix.O_CREAT|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
	fs := newAt(b, dir, Options{})
	fs.inos.minAge = 0 // as for files older than minAge
	for _, tc := range benchCreds {
		for _, withAttrs := range []bool{true, false} {
			name := tc.name + "/attrs"
			if !withAttrs {
				name = tc.name + "/names"
			}
			b.Run(name, func(b *testing.B) {
				for b.Loop() {
					got := 0
					eof, err := fs.Readdir(ctx, tc.c, fs.Root(), 0, withAttrs, func(e *fsal.DirEntry) bool {
						if withAttrs && (len(e.Handle) == 0 || e.Attr.Fileid == 0) {
							b.Fatalf("%s: no handle or attributes", e.Name)
						}
						got++
						return true
					})
					if err != nil || !eof || got != n {
						b.Fatalf("Readdir: %d entries, eof %v, %v", got, eof, err)
					}
				}
			})
		}
	}
}

func BenchmarkTag(b *testing.B) {
	fs := newTestFS(b)
	h := fs.Root()
	for b.Loop() {
		if _, err := fs.decode(h, true); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen opens and closes a file that GETATTR has seen, as OPEN
// after a LOOKUP + GETATTR does.
func BenchmarkOpen(b *testing.B) {
	fs, h := benchFS(b)
	for _, tc := range benchCreds {
		b.Run(tc.name, func(b *testing.B) {
			if _, err := fs.Getattr(ctx, tc.c, h); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				f, err := fs.Open(ctx, tc.c, h, fsal.OpenRead)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// TestNamespaceOpsCommitDirectory: every operation that changes a
// directory's entries commits the directory before it returns (a power cut
// must not undo an acknowledged create, remove, rename or link).
func TestNamespaceOpsCommitDirectory(t *testing.T) {
	fs := newTestFS(t)
	ctx := context.Background()
	root := fs.Root()
	c := &fsal.Cred{}
	step := func(what string, want int64, op func() error) {
		t.Helper()
		before := dirCommits.Load()
		if err := op(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if got := dirCommits.Load() - before; got != want {
			t.Errorf("%s committed %d directories, want %d", what, got, want)
		}
	}
	var f fsal.Handle
	step("create", 1, func() (err error) {
		f, _, _, err = fs.Create(ctx, c, root, "f", fsal.Unchecked, nil, [8]byte{})
		return err
	})
	var d fsal.Handle
	step("mkdir", 1, func() (err error) { d, _, err = fs.Mkdir(ctx, c, root, "d", nil); return err })
	step("symlink", 1, func() (err error) { _, _, err = fs.Symlink(ctx, c, root, "l", "f", nil); return err })
	step("link", 1, func() error { return fs.Link(ctx, c, f, root, "f2") })
	step("rename in one directory", 1, func() error { return fs.Rename(ctx, c, root, "f2", root, "f3") })
	step("rename across directories", 2, func() error { return fs.Rename(ctx, c, root, "f3", d, "f4") })
	step("remove", 1, func() error { return fs.Remove(ctx, c, d, "f4") })
}

// TestAsyncSkipsDirectoryCommit: an async export replies before the
// directory is committed (its documented trade).
func TestAsyncSkipsDirectoryCommit(t *testing.T) {
	dir := t.TempDir()
	fs, err := New(dir, Options{Async: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	before := dirCommits.Load()
	if _, _, _, err := fs.Create(context.Background(), &fsal.Cred{}, fs.Root(), "f", fsal.Unchecked, nil, [8]byte{}); err != nil {
		t.Fatal(err)
	}
	if got := dirCommits.Load() - before; got != 0 {
		t.Fatalf("async export committed %d directories", got)
	}
}
