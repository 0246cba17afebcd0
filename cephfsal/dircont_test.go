package cephfsal

import (
	"fmt"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
)

// TestReaddirContinuation pages through a directory as the NFS engine does
// (fn returning false refuses the entry it was given, and the next call
// carries the last accepted cookie), with two listings interleaved, and
// checks that every page after the first continues a kept stream.
func TestReaddirContinuation(t *testing.T) {
	m := shared(t)
	fs := export(t, m, freshDir(t, m))
	const n = 300
	for i := range n {
		create(t, fs, fs.Root(), fmt.Sprintf("file-%03d", i))
	}
	var full []fsal.DirEntry
	if eof, err := fs.Readdir(ctx, root, fs.Root(), 0, true, func(e *fsal.DirEntry) bool {
		full = append(full, *e)
		return true
	}); err != nil || !eof || len(full) != n {
		t.Fatalf("full listing: %d entries, eof=%v, %v", len(full), eof, err)
	}
	type lister struct {
		cookie uint64
		got    []fsal.DirEntry
		done   bool
	}
	page := func(l *lister, size int) {
		var part []fsal.DirEntry
		eof, err := fs.Readdir(ctx, root, fs.Root(), l.cookie, true, func(e *fsal.DirEntry) bool {
			if len(part) == size {
				return false
			}
			part = append(part, *e)
			return true
		})
		if err != nil {
			t.Fatalf("Readdir from %d: %v", l.cookie, err)
		}
		if len(part) > 0 {
			l.cookie = part[len(part)-1].Cookie
		}
		l.got, l.done = append(l.got, part...), eof
	}
	a, b := &lister{}, &lister{}
	for pages := 0; !a.done || !b.done; pages++ {
		if !a.done {
			page(a, 37)
		}
		if !b.done {
			page(b, 64)
		}
		fs.conts.mu.Lock()
		kept := len(fs.conts.m)
		fs.conts.mu.Unlock()
		want := 0
		for _, l := range []*lister{a, b} {
			if !l.done {
				want++
			}
		}
		if kept != want {
			t.Fatalf("after page %d: %d streams kept, want %d (one per unfinished listing)", pages, kept, want)
		}
	}
	for _, l := range []*lister{a, b} {
		if len(l.got) != n {
			t.Fatalf("paged listing: %d entries, want %d", len(l.got), n)
		}
		for i := range l.got {
			if l.got[i].Name != full[i].Name || l.got[i].Cookie != full[i].Cookie {
				t.Fatalf("entry %d: %q (%d), want %q (%d)", i, l.got[i].Name, l.got[i].Cookie, full[i].Name, full[i].Cookie)
			}
		}
	}
}

func TestDirContsBound(t *testing.T) {
	var dc dirConts
	t0 := time.Unix(1000, 0)
	var out []*dirCont
	for i := range maxDirConts + 5 {
		out = append(out, dc.put(contKey{ino: 1, cookie: uint64(i + 3)}, &dirCont{}, t0.Add(time.Duration(i)*time.Millisecond))...)
	}
	if len(out) != 5 || len(dc.m) != maxDirConts {
		t.Fatalf("after %d puts: %d pushed out, %d kept", maxDirConts+5, len(out), len(dc.m))
	}
	if dc.take(contKey{ino: 1, cookie: 3}) != nil {
		t.Error("the oldest stream was kept")
	}
	if dc.take(contKey{ino: 1, cookie: 3 + maxDirConts + 4}) == nil {
		t.Error("the newest stream was not kept")
	}
	c := &dirCont{}
	if out := dc.put(contKey{ino: 2, cookie: 3}, c, t0.Add(dirContTTL+time.Second)); len(out) != maxDirConts-1 || len(dc.m) != 1 {
		t.Errorf("after the TTL: %d pushed out, %d kept", len(out), len(dc.m))
	}
	if len(dc.drain()) != 1 || len(dc.m) != 0 {
		t.Error("drain left streams behind")
	}
}
