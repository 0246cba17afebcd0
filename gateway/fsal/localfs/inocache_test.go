package localfs

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

func statxFor(born time.Time, ino uint64, mnt int) *unix.Statx_t {
	return &unix.Statx_t{
		Mask:   unix.STATX_BASIC_STATS | unix.STATX_BTIME | unix.STATX_MNT_ID,
		Ino:    ino,
		Mnt_id: uint64(mnt),
		Btime:  unix.StatxTimestamp{Sec: born.Unix(), Nsec: uint32(born.Nanosecond())},
	}
}

func TestInoCacheRules(t *testing.T) {
	c := newInoCache(1024)
	now := time.Now()
	h := fsal.Handle("handle-1")

	young := statxFor(now.Add(-minAge/2), 10, 7)
	c.add(young, 7, h, now)
	if c.get(young, 7) != nil {
		t.Fatal("an object born less than minAge ago was cached")
	}

	old := statxFor(now.Add(-2*minAge), 11, 7)
	c.add(old, 7, h, now)
	got := c.get(old, 7)
	if !bytes.Equal(got, h) {
		t.Fatalf("get = %q, want %q", got, h)
	}
	h[0] = 'X'
	if bytes.Equal(c.get(old, 7), h) {
		t.Fatal("the cache kept the caller's slice instead of a copy")
	}

	// The same inode number born at another time is another object.
	reborn := statxFor(now.Add(-minAge), 11, 7)
	if c.get(reborn, 7) != nil {
		t.Fatal("a reused inode number hit the old object's handle")
	}
	// Seen through another mount (a mount point over the export's
	// filesystem): not this export's object.
	if c.get(old, 8) != nil {
		t.Fatal("hit for an object on another mount")
	}
	other := statxFor(now.Add(-2*minAge), 11, 8)
	if c.get(other, 7) != nil {
		t.Fatal("hit for a statx that reports another mount")
	}
	// Without a birth time or a mount id nothing is cached or found.
	for _, drop := range []uint32{unix.STATX_BTIME, unix.STATX_MNT_ID} {
		st := statxFor(now.Add(-2*minAge), 12, 7)
		st.Mask &^= drop
		c.add(st, 7, h, now)
		if c.get(st, 7) != nil {
			t.Fatalf("cached without mask bit %#x", drop)
		}
	}
}

func TestInoCacheBounded(t *testing.T) {
	c := newInoCache(cacheShards * 2)
	now := time.Now()
	for i := range 10000 {
		c.add(statxFor(now.Add(-time.Hour), uint64(i), 1), 1, fsal.Handle("h"), now)
	}
	n := 0
	for i := range c.shards {
		n += len(c.shards[i].m)
	}
	if n > cacheShards*2 {
		t.Fatalf("%d entries, bound %d", n, cacheShards*2)
	}
}

// TestInoCacheHandles checks that handles from the cache are the ones the
// kernel gives, through Lookup and Readdir, and that a name replaced by a
// new object (possibly on the same inode number) gets the new object's
// handle.
func TestInoCacheHandles(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	fs := newAt(t, dir, Options{})
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cold := map[string]fsal.Handle{}
	for _, n := range []string{"a", "b", "c"} {
		h, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), n)
		if err != nil {
			t.Fatal(err)
		}
		cold[n] = h
	}
	// Young files are not cached.
	if n := cachedCount(fs); n != 0 {
		t.Fatalf("%d young objects cached", n)
	}
	// Age the files past a shortened minAge instead of waiting a second.
	fs.inos.minAge = 50 * time.Millisecond
	time.Sleep(fs.inos.minAge + 10*time.Millisecond)
	for round := range 2 { // the first fills the cache, the second hits it
		for _, n := range []string{"a", "b", "c"} {
			h, a, err := fs.Lookup(ctx, fsal.Root, fs.Root(), n)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(h, cold[n]) {
				t.Fatalf("round %d: %s: handle %x, kernel's %x", round, n, h, cold[n])
			}
			if a.Size != 1 {
				t.Fatalf("%s: size %d", n, a.Size)
			}
		}
		_, err := fs.Readdir(ctx, fsal.Root, fs.Root(), 0, true, func(e *fsal.DirEntry) bool {
			if !bytes.Equal(e.Handle, cold[e.Name]) {
				t.Errorf("readdir round %d: %s: handle %x, kernel's %x", round, e.Name, e.Handle, cold[e.Name])
			}
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := cachedCount(fs); n != 3 {
		t.Fatalf("%d objects cached, want 3", n)
	}

	// Replace "a": the new object must come back with its own handle,
	// which resolves to it.
	if err := os.Remove(filepath.Join(dir, "a")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a"), []byte("new a"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, _, err := fs.Lookup(ctx, fsal.Root, fs.Root(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(h, cold["a"]) {
		t.Fatal("the replaced name still gives the removed object's handle")
	}
	a, err := fs.Getattr(ctx, fsal.Root, h)
	if err != nil {
		t.Fatalf("Getattr of the new handle: %v", err)
	}
	if a.Size != 5 {
		t.Fatalf("new handle resolves to size %d, want 5", a.Size)
	}
}

func cachedCount(fs *FS) int {
	n := 0
	for i := range fs.inos.shards {
		s := &fs.inos.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
