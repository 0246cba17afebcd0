package localfs

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"testing"

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
