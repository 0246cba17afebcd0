package compound

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal/faultfs"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
)

// serveFault serves a local directory through faultfs, with files a and b.
func serveFault(t *testing.T) (addr string, ffs *faultfs.FS) {
	t.Helper()
	dir := t.TempDir()
	lfs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ffs = faultfs.New(lfs)
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: ffs, Squash: export.SquashNone}})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{Exports: export.NewRegistry(tbl), State: nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})})
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, eng)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, n := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("data"), 0666); err != nil {
			t.Fatal(err)
		}
	}
	return l.Addr().String(), ffs
}

// TestHotPathDuringBackendLock: while the backend takes a byte-range lock
// (on CephFS an MDS round trip, here held until released), GETATTR,
// LOOKUP and READ of another file, and GETATTR and READ of the locked file
// itself without a conflicting lock, are answered (issue 11, section 3).
func TestHotPathDuringBackendLock(t *testing.T) {

	addr, ffs := serveFault(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	locker, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "locker"})
	if err != nil {
		t.Fatal(err)
	}
	defer locker.Abandon()
	other, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Abandon()
	fa, err := locker.OpenFile(ctx, "/export/a", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := other.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := other.OpenFile(ctx, "/export/b", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}

	hold := ffs.Hold(faultfs.SetLock)
	locked := make(chan error, 1)
	go func() { locked <- fa.Lock(ctx, nfs4.WriteLT, 0, 2) }()
	select {
	case <-hold.Entered():
	case err := <-locked:
		t.Fatalf("LOCK returned before the backend was asked: %v", err)
	}

	probe := func(what string, fn func(ctx context.Context) error) time.Duration {
		t.Helper()
		pctx, pcancel := context.WithTimeout(ctx, 3*time.Second)
		defer pcancel()
		start := time.Now()
		if err := fn(pctx); err != nil {
			t.Errorf("%s while a backend lock blocks: %v", what, err)
		}
		return time.Since(start)
	}
	buf := make([]byte, 4)
	getattrB := probe("GETATTR of another file", func(ctx context.Context) error { _, err := rb.Getattr(ctx); return err })
	probe("LOOKUP of another file", func(ctx context.Context) error { _, _, err := other.LookupPath(ctx, "/export/b"); return err })
	probe("READ of another file", func(ctx context.Context) error { _, _, err := rb.Read(ctx, buf, 0); return err })
	getattrA := probe("GETATTR of the locked file", func(ctx context.Context) error { _, err := ra.Getattr(ctx); return err })
	readA := probe("READ of the locked file outside the lock", func(ctx context.Context) error { _, _, err := ra.Read(ctx, buf, 2); return err })
	t.Logf("while SETLK blocks: GETATTR of another file %v, GETATTR of the file %v, READ of the file %v", getattrB, getattrA, readA)

	hold.Release()
	if err := <-locked; err != nil {
		t.Fatalf("LOCK after the backend let go: %v", err)
	}
}
