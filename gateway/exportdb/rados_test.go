//go:build !noceph

package exportdb

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/config"
	"nfsgw/internal/radosconn"
)

func testStore(t *testing.T) (*Store, func() *Store) {
	t.Helper()
	conn, ioctx, _ := radosconn.TestIOContext(t)
	open := func() *Store {
		s, err := Open(conn, ioctx, "")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(s.Close)
		return s
	}
	return open(), open
}

func TestStoreReadWrite(t *testing.T) {
	s, _ := testStore(t)
	ctx := context.Background()
	if _, err := s.Read(ctx); !errors.Is(err, ErrNoTable) {
		t.Fatalf("read of no table: %v", err)
	}
	if _, err := s.Version(ctx); !errors.Is(err, ErrNoTable) {
		t.Fatalf("version of no table: %v", err)
	}
	if created, err := s.Create(ctx); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if created, err := s.Create(ctx); err != nil || created {
		t.Fatalf("second create: %v %v", created, err)
	}
	t0, err := s.Read(ctx)
	if err != nil || len(t0.Exports) != 0 || t0.Gen != 1 {
		t.Fatalf("empty table: %+v %v", t0, err)
	}
	w, err := s.Update(ctx, Add{exp(7, "/a")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Read(ctx)
	if err != nil || r.Version != w.Version || r.Gen != 2 || len(r.Exports) != 1 || r.Exports[0].Path != "ceph:/vol/a" {
		t.Fatalf("read back %+v (wrote %+v) %v", r, w, err)
	}
	if v, err := s.Version(ctx); err != nil || v != r.Version {
		t.Fatalf("version %d %v, want %d", v, err, r.Version)
	}
	if _, err := s.Update(ctx, Add{exp(8, "/a/b")}); !errors.Is(err, ErrRefused) {
		t.Fatalf("nested pseudo: %v", err)
	}
	if _, err := s.Update(ctx, Remove{7}); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Read(ctx); len(r.Exports) != 0 || r.Gen != 3 {
		t.Fatalf("after remove: %+v", r)
	}
}

// TestTwoWritersConflict: writer B changes the table between writer A's
// read and A's version-asserted write; A's write fails, A reads again and
// re-applies its change: both land.
func TestTwoWritersConflict(t *testing.T) {
	a, open := testStore(t)
	b := open()
	ctx := context.Background()
	if _, err := a.Update(ctx, Add{exp(1, "/one")}); err != nil {
		t.Fatal(err)
	}
	once := sync.Once{}
	a.beforeWrite = func() {
		once.Do(func() {
			if _, err := b.Update(ctx, Add{exp(2, "/two")}); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := a.Update(ctx, Add{exp(3, "/three")}); err != nil {
		t.Fatal(err)
	}
	if a.Retries() == 0 {
		t.Fatal("A did not retry after B's write")
	}
	r, err := a.Read(ctx)
	if err != nil || len(r.Exports) != 3 {
		t.Fatalf("table %+v %v: an update was lost", r.Exports, err)
	}
	// Racing on one id: B adds 4 between A's read and write; A's retry
	// sees it and refuses instead of overwriting B's export.
	once = sync.Once{}
	a.beforeWrite = func() {
		once.Do(func() {
			if _, err := b.Update(ctx, Add{exp(4, "/b-four")}); err != nil {
				t.Error(err)
			}
		})
	}
	if _, err := a.Update(ctx, Add{exp(4, "/a-four")}); !errors.Is(err, ErrRefused) {
		t.Fatalf("A's add of id 4 after B's: %v, want ErrRefused", err)
	}
	r, _ = a.Read(ctx)
	if e := r.ByID(4); e == nil || e.Pseudo != "/b-four" {
		t.Fatalf("export 4 is %+v, want B's", e)
	}
}

// TestConcurrentWriters: two stores add 25 exports each at once; none is
// lost.
func TestConcurrentWriters(t *testing.T) {
	a, open := testStore(t)
	b := open()
	ctx := context.Background()
	var wg sync.WaitGroup
	for w, s := range []*Store{a, b} {
		wg.Go(func() {
			for i := range 25 {
				id := 1 + w*100 + i
				if _, err := s.Update(ctx, Add{exp(id, fmt.Sprintf("/w%d/e%d", w, i))}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	r, err := a.Read(ctx)
	if err != nil || len(r.Exports) != 50 {
		t.Fatalf("%d exports, %v; want 50", len(r.Exports), err)
	}
	t.Logf("conflicts retried: %d + %d", a.Retries(), b.Retries())
}

// TestWatchWakes: a write wakes a watcher of another store.
func TestWatchWakes(t *testing.T) {
	a, open := testStore(t)
	b := open()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := a.Create(ctx); err != nil {
		t.Fatal(err)
	}
	woke := make(chan struct{}, 8)
	payloads := make(chan []byte, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.Watch(ctx, func(p []byte) {
			if p != nil {
				payloads <- p
			}
			woke <- struct{}{}
		})
	}()
	defer func() { cancel(); <-done }()
	<-woke // established
	start := time.Now()
	if _, err := a.Update(ctx, Add{exp(5, "/w")}); err != nil {
		t.Fatal(err)
	}
	var ch *Change
	select {
	case <-woke:
		t.Logf("notify reached the watcher in %v", time.Since(start))
		ch = ParseChange(<-payloads)
	case <-time.After(3 * time.Second):
		t.Fatal("no notify")
	}
	if ch == nil || len(ch.Keys) != 1 || ch.Keys[0] != "00005" {
		t.Fatalf("notify payload %+v", ch)
	}
	got, err := b.ReadKeys(ctx, ch.To, ch.Keys)
	if err != nil || got["00005"] == nil || got["00005"].Pseudo != "/w" {
		t.Fatalf("ReadKeys: %v %v", got, err)
	}
	// Moved on: the incremental read refuses, the watcher reads it all.
	if _, err := a.Update(ctx, Remove{5}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReadKeys(ctx, ch.To, ch.Keys); !errors.Is(err, ErrVersion) {
		t.Fatalf("ReadKeys at an old version: %v", err)
	}
	r, _ := b.Read(ctx)
	got, err = b.ReadKeys(ctx, r.Version, ch.Keys)
	if err != nil || got["00005"] != nil {
		t.Fatalf("ReadKeys of a removed export: %v %v", got, err)
	}
}

// TestLargeTable: 15,000 exports written in one update, read back page by
// page at one version; reports the read time and the heap per export.
func TestLargeTable(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s, _ := testStore(t)
	ctx := context.Background()
	const n = 15000
	start := time.Now()
	if _, err := s.Update(ctx, Func{"bulk", func(cur []config.Export) ([]config.Export, error) {
		for i := 1; i <= n; i++ {
			cur = append(cur, config.Export{ID: i, Pseudo: fmt.Sprintf("/vol/e%05d", i), Path: fmt.Sprintf("ceph:/exports/e%05d", i)})
		}
		return Check(cur)
	}}); err != nil {
		t.Fatal(err)
	}
	wrote := time.Since(start)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start = time.Now()
	r, err := s.Read(ctx)
	read := time.Since(start)
	if err != nil || len(r.Exports) != n {
		t.Fatalf("%d exports, %v", len(r.Exports), err)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	t.Logf("%d exports: written in %v, read in %v; decoded table %d bytes/export", n, wrote, read,
		(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/n)
	runtime.KeepAlive(r)
}
