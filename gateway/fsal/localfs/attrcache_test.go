package localfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
)

// listAttrs lists dir as c with attributes, by name.
func listAttrs(t *testing.T, fs *FS, c *fsal.Cred, dir fsal.Handle) (map[string]fsal.DirEntry, error) {
	t.Helper()
	got := map[string]fsal.DirEntry{}
	_, err := fs.Readdir(ctx, c, dir, 0, true, func(e *fsal.DirEntry) bool {
		x := *e
		x.Handle = append(fsal.Handle(nil), e.Handle...)
		got[e.Name] = x
		return true
	})
	return got, err
}

func (n *notifier) counts() (recs, watches int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nAttrs, len(n.files)
}

// TestReaddirAttrCache: READDIR's cached attributes follow every change a
// local process makes, through any name of the file.
func TestReaddirAttrCache(t *testing.T) {
	requireRoot(t)
	dir, other := t.TempDir(), t.TempDir()
	if filepath.Dir(dir) != filepath.Dir(other) {
		t.Fatal("temporary directories on different parents")
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	fs := newAt(t, dir, Options{})
	if fs.notify == nil || !fs.notify.attrs {
		t.Fatal("no attribute cache on the test's file system")
	}
	list := func() map[string]fsal.DirEntry {
		t.Helper()
		got, err := listAttrs(t, fs, fsal.Root, fs.Root())
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	stat := func(name string) fsal.Attr {
		t.Helper()
		var st syscall.Stat_t
		if err := syscall.Lstat(filepath.Join(dir, name), &st); err != nil {
			t.Fatal(err)
		}
		return fsal.Attr{Size: uint64(st.Size), Mode: st.Mode & 0o7777, Nlink: uint32(st.Nlink), Fileid: st.Ino,
			Mtime: fsal.Time{Sec: st.Mtim.Sec, Nsec: uint32(st.Mtim.Nsec)}, Atime: fsal.Time{Sec: st.Atim.Sec, Nsec: uint32(st.Atim.Nsec)},
			Ctime: fsal.Time{Sec: st.Ctim.Sec, Nsec: uint32(st.Ctim.Nsec)}}
	}
	check := func(step string) {
		t.Helper()
		got := list()
		for _, name := range []string{"a", "b", "c"} {
			e, ok := got[name]
			if _, err := os.Lstat(filepath.Join(dir, name)); err != nil {
				if ok {
					t.Fatalf("%s: %s listed after it went", step, name)
				}
				continue
			}
			w := stat(name)
			a := e.Attr
			if a.Size != w.Size || a.Mode != w.Mode || a.Nlink != w.Nlink || a.Fileid != w.Fileid ||
				a.Mtime != w.Mtime || a.Atime != w.Atime || a.Ctime != w.Ctime {
				t.Fatalf("%s: %s listed as size %d mode %o nlink %d ino %d mtime %v atime %v ctime %v; the kernel says %d %o %d %d %v %v %v",
					step, name, a.Size, a.Mode, a.Nlink, a.Fileid, a.Mtime, a.Atime, a.Ctime,
					w.Size, w.Mode, w.Nlink, w.Fileid, w.Mtime, w.Atime, w.Ctime)
			}
		}
	}

	check("first listing")
	if recs, watches := fs.notify.counts(); recs != 3 || watches != 3 {
		t.Fatalf("after a listing: %d records, %d watches; want 3, 3 (files only)", recs, watches)
	}
	check("second listing")

	at := filepath.Join(dir, "a")
	if err := os.Chmod(at, 0o600); err != nil {
		t.Fatal(err)
	}
	check("chmod")
	f, err := os.OpenFile(filepath.Join(dir, "b"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("more"))
	f.Close()
	check("append")
	// A change through another name of the file.
	link := filepath.Join(other, "b-link")
	if err := os.Link(filepath.Join(dir, "b"), link); err != nil {
		t.Fatal(err)
	}
	check("hard link elsewhere")
	if err := os.WriteFile(link, []byte("rewritten through the other name"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("write through the other link")
	old := time.Now().Add(-72 * time.Hour)
	if err := os.Chtimes(at, old, old); err != nil {
		t.Fatal(err)
	}
	check("utimes")
	// A read moves atime (relatime: it is older than a day).
	if _, err := os.ReadFile(at); err != nil {
		t.Fatal(err)
	}
	check("read")
	if err := os.Rename(filepath.Join(dir, "c"), at); err != nil {
		t.Fatal(err)
	}
	check("rename over a")
	if err := os.Remove(filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	check("unlink")

	// The watches go with the directory's descriptor.
	fs.fds.close()
	if recs, watches := fs.notify.counts(); recs != 0 || watches != 0 {
		t.Fatalf("after the descriptors went: %d records, %d watches", recs, watches)
	}
}

// TestReaddirAttrCacheSearch: a caller who may read a directory but not
// search it gets EACCES, as without the cache, although root's listing
// filled it.
func TestReaddirAttrCacheSearch(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	priv := filepath.Join(dir, "noexec")
	if err := os.Mkdir(priv, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(priv, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(priv, 0o744); err != nil { // others: read, no search
		t.Fatal(err)
	}
	fs := newAt(t, dir, Options{})
	h, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "noexec")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := listAttrs(t, fs, fsal.Root, h); err != nil {
			t.Fatal(err)
		}
	}
	if recs, _ := fs.notify.counts(); recs != 1 {
		t.Fatalf("%d records, want 1", recs)
	}
	user := &fsal.Cred{UID: 1000, GID: 1000}
	if _, err := listAttrs(t, fs, user, h); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("listing without search permission: %v, want EACCES", err)
	}
}

// TestReaddirAttrCacheBounds: NoAttrCache keeps nothing; otherwise the
// records and watches stay within the bound.
func TestReaddirAttrCacheBounds(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	for i := range 200 {
		if err := os.WriteFile(filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	off := newAt(t, dir, Options{NoAttrCache: true})
	for range 2 {
		if _, err := listAttrs(t, off, fsal.Root, off.Root()); err != nil {
			t.Fatal(err)
		}
	}
	if recs, watches := off.notify.counts(); recs != 0 || watches != 0 {
		t.Fatalf("NoAttrCache: %d records, %d watches", recs, watches)
	}

	fs := newAt(t, dir, Options{CheckCacheSize: 64})
	for range 2 {
		got, err := listAttrs(t, fs, fsal.Root, fs.Root())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 200 {
			t.Fatalf("%d entries listed, want 200", len(got))
		}
	}
	if recs, watches := fs.notify.counts(); recs != 64 || watches != 64 {
		t.Fatalf("%d records, %d watches; bound 64", recs, watches)
	}
}

// TestAttrFillRace: a fill whose watch saw an event between the watch and
// the insert is dropped; one that saw none is kept.
func TestAttrFillRace(t *testing.T) {
	n := &notifier{fd: -1, maxAttrs: 10, byWD: map[int32]*dirEnts{}, files: map[int32]*fileWatch{}}
	d := &dirEnts{n: n, wd: 1}
	rec := func(wd int32) attrRec { return attrRec{ino: 7, wd: wd, h: fsal.Handle("h")} }

	raced := new(fileWatch)
	n.files[5] = raced
	n.fileEvent(5, raced) // applied while the statx ran
	n.addAttr(d, "a", raced, rec(5))
	if _, ok := d.cachedAttr("a", 7); ok {
		t.Fatal("a fill that raced an event was cached")
	}

	fw := new(fileWatch)
	n.files[6] = fw
	n.addAttr(d, "b", fw, rec(6))
	if r, ok := d.cachedAttr("b", 7); !ok || string(r.h) != "h" {
		t.Fatalf("b: %+v, %v", r, ok)
	}
	if recs, watches := n.counts(); recs != 1 || watches != 1 {
		t.Fatalf("%d records, %d watches; want 1, 1", recs, watches)
	}
}
