//go:build !noceph

package cephfsal

import (
	"errors"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
)

func TestExportLazy(t *testing.T) {
	m := shared(t)
	dir := freshDir(t, m)
	eager := export(t, m, dir)
	lazy, err := m.ExportLazy(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lazy.Close() })
	if err := lazy.Ready(); err != nil {
		t.Fatal(err)
	}
	if string(lazy.Root()) != string(eager.Root()) {
		t.Fatalf("lazy root %x, eager root %x", lazy.Root(), eager.Root())
	}
	h := create(t, lazy, lazy.Root(), "f")
	if err := lazy.Check(ctx, h); err != nil {
		t.Fatalf("Check of a file made through the lazy export: %v", err)
	}
	if h2, _, err := eager.Lookup(ctx, root, eager.Root(), "f"); err != nil || string(h2) != string(h) {
		t.Fatalf("the same file through the eager export: %x %v", h2, err)
	}

	// A directory that does not exist: the export comes up, and refuses.
	missing, err := m.ExportLazy(dir+"/missing", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := missing.Ready(); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("Ready of a missing directory: %v, want ENOENT", err)
	}
	wantErr(t, "Check through an export whose directory is missing", missing.Check(ctx, h), syscall.ESTALE)
	if err := missing.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Export(dir+"/missing", false); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("eager Export of a missing directory: %v, want ENOENT", err)
	}
}

// TestExportLazyJumpsQueue: an export needed before the background has
// come to it (the queue is full here) is resolved by the request itself.
func TestExportLazyJumpsQueue(t *testing.T) {
	m := shared(t)
	dir := freshDir(t, m)
	for range cap(m.lazySem) {
		m.lazySem <- struct{}{}
	}
	defer func() {
		for range cap(m.lazySem) {
			<-m.lazySem
		}
	}()
	lazy, err := m.ExportLazy(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lazy.Close() })
	done := make(chan fsal.Handle, 1)
	go func() { done <- lazy.Root() }()
	select {
	case h := <-done:
		if len(h) == 0 {
			t.Fatal("no root handle")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Root waited for the background queue")
	}
	if err := lazy.Ready(); err != nil {
		t.Fatal(err)
	}
}
