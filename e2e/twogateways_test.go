package e2e

import (
	"bytes"
	"crypto/rand"
	"math"
	"net"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// TestTwoGatewaysShareLocksAndData runs two gateways, each on its own
// address as in a deployment, over the same directory of the backend
// (CephFS in the CephFS pass: two libcephfs sessions): a lock taken through
// one conflicts with the same lock through the other, and data written
// through one is read back through the other.
func TestTwoGatewaysShareLocksAndData(t *testing.T) {
	dir := testBackend(t).NewDir(t)
	ga := startGatewayOn(t, freePortOn(t, "127.0.0.11"), dir, "--squash", "none", "--lease", "5")
	gb := startGatewayOn(t, freePortOn(t, "127.0.0.12"), dir, "--squash", "none", "--lease", "5")
	ctx := ctxT(t)
	a := ga.dial(t, 0, 0, nil)
	b := gb.dial(t, 0, 0, nil)

	rootA, _, err := a.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	rootB, _, err := b.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	fa, err := a.Create(ctx, rootA, "shared", 0666)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 1<<20+17)
	rand.Read(payload)
	if _, _, err := fa.WriteAll(ctx, payload, 0, nfs4.FileSync); err != nil {
		t.Fatal("write through A:", err)
	}
	if err := fa.Lock(ctx, nfs4.WriteLT, 0, 4096); err != nil {
		t.Fatal("lock through A:", err)
	}

	fb, err := b.OpenAt(ctx, rootB, "shared", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal("open through B:", err)
	}
	got := make([]byte, len(payload)+1)
	n, err := fb.ReadFull(ctx, got, 0)
	if err != nil || n != len(payload) || !bytes.Equal(got[:n], payload) {
		t.Fatalf("read through B: %d bytes, %v, equal %v", n, err, bytes.Equal(got[:n], payload))
	}
	// LOCKT through B sees A's lock, which B's state model knows nothing
	// of: the backend reports it, holder unknown. (B's lock owner holds
	// no lock yet, so B tests on a file opened for the test.)
	if d, err := fb.LockT(ctx, nfs4.ReadLT, 1000, 10); err != nil || d == nil {
		t.Fatalf("LOCKT through B of a range A holds: %+v, %v; want NFS4ERR_DENIED", d, err)
	} else if d.Offset != 0 || d.Length != 4096 || d.LockType != nfs4.WriteLT || len(d.Owner.Owner) != 0 {
		t.Fatalf("LOCKT through B: denied by %+v, want A's write lock [0, 4096) of an unknown owner", d)
	}
	if d, err := fb.LockT(ctx, nfs4.WriteLT, 4096, math.MaxUint64); err != nil || d != nil {
		t.Fatalf("LOCKT through B of a free range: %+v, %v", d, err)
	}
	if err := fb.Lock(ctx, nfs4.WriteLT, 1000, 10); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("lock through B of a range A holds: %v, want NFS4ERR_DENIED", err)
	}
	if err := fb.Lock(ctx, nfs4.ReadLT, 0, 1); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("read lock through B under A's write lock: %v, want NFS4ERR_DENIED", err)
	}
	if err := fb.Lock(ctx, nfs4.WriteLT, 4096, 100); err != nil {
		t.Fatalf("lock through B of a range nobody holds: %v", err)
	}
	if err := fa.Lock(ctx, nfs4.WriteLT, 4100, 1); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("lock through A of a range B holds: %v, want NFS4ERR_DENIED", err)
	}
	// B's owner now has a lock file on B: its own lock is no conflict,
	// A's still is.
	if d, err := fb.LockT(ctx, nfs4.WriteLT, 4096, 100); err != nil || d != nil {
		t.Fatalf("LOCKT through B of B's own lock: %+v, %v", d, err)
	}
	if d, err := fb.LockT(ctx, nfs4.WriteLT, 0, 1); err != nil || d == nil || d.Offset != 0 || d.Length != 4096 {
		t.Fatalf("LOCKT through B by a lock holder of A's range: %+v, %v", d, err)
	}
	if d, err := fa.LockT(ctx, nfs4.ReadLT, 4100, 1); err != nil || d == nil || d.Offset != 4096 || d.Length != 100 {
		t.Fatalf("LOCKT through A of B's range: %+v, %v", d, err)
	}
	if err := fa.Unlock(ctx, 0, 4096); err != nil {
		t.Fatal("unlock through A:", err)
	}
	if err := fb.Lock(ctx, nfs4.WriteLT, 1000, 10); err != nil {
		t.Fatalf("lock through B after A unlocked: %v", err)
	}
	// Closing releases B's locks on the backend too.
	if err := fb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := fa.Lock(ctx, nfs4.WriteLT, 0, math.MaxUint64); err != nil {
		t.Fatalf("whole-file lock through A after B closed: %v", err)
	}
	fa.Close(ctx)
}

// freePortOn returns host:port with a free port on a loopback address.
func freePortOn(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
