package compound

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// TestLockTSeesBackendLocks: LOCKT reports a lock the state model does not
// know (here a local process's OFD lock on the exported file: on CephFS,
// another gateway's), with the backend's range and no owner; the tester's
// own locks never conflict.
func TestLockTSeesBackendLocks(t *testing.T) {
	addr, dir, _ := serveDeleg(t, 5*time.Second)
	p := filepath.Join(dir, "locked")
	if err := os.WriteFile(p, []byte("data"), 0666); err != nil {
		t.Fatal(err)
	}
	lf, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: io.SeekStart, Start: 100, Len: 50}
	if err := unix.FcntlFlock(lf.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "tester"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abandon()
	f, err := c.OpenFile(ctx, "/export/locked", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	// No lock owner state yet: tested on a file opened for the test.
	d, err := f.LockT(ctx, nfs4.ReadLT, 120, 1)
	if err != nil || d == nil {
		t.Fatalf("LOCKT under a local lock: %+v %v, want NFS4ERR_DENIED", d, err)
	}
	if d.Offset != 100 || d.Length != 50 || d.LockType != nfs4.WriteLT || d.Owner.ClientID != 0 || len(d.Owner.Owner) != 0 {
		t.Fatalf("denied by %+v, want the local write lock [100, +50) of no known owner", d)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 0, 100); err != nil || d != nil {
		t.Fatalf("LOCKT of a free range: %+v %v", d, err)
	}
	// The owner's own lock (held through its backend file) is no
	// conflict; the local one still is.
	if err := f.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 0, 100); err != nil || d != nil {
		t.Fatalf("LOCKT of the owner's own lock: %+v %v", d, err)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 0, ^uint64(0)); err != nil || d == nil || d.Offset != 100 {
		t.Fatalf("LOCKT by a holder over the local lock: %+v %v", d, err)
	}
	// Once the local lock goes, nothing conflicts.
	lk.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(lf.Fd(), unix.F_OFD_SETLK, &lk); err != nil {
		t.Fatal(err)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 0, ^uint64(0)); err != nil || d != nil {
		t.Fatalf("LOCKT after the local unlock: %+v %v", d, err)
	}
}
