package e2e

import (
	"context"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// dialOwner connects as a named client owner without RECLAIM_COMPLETE, so
// that the test decides when reclaiming ends, and without retries, so that
// NFS4ERR_GRACE reaches the test.
func (g *gateway) dialOwner(t *testing.T, owner string) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, g.Addr, nfsclient.Options{ClientOwner: owner, NoReclaimComplete: true, RetryTimeout: -1})
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, tail(g.log.String(), 20))
	}
	t.Cleanup(func() { c.Abandon() })
	return c
}

// opStatus runs a COMPOUND and returns the status of its last result.
func opStatus(t *testing.T, c *nfsclient.Client, comp *nfsclient.Compound) (nfs4.Status, *nfsclient.Reply) {
	t.Helper()
	r, err := c.Do(ctxT(t), comp)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, r
}

func reclaimOpen(t *testing.T, c *nfsclient.Client, fh []byte, owner string) (nfs4.Status, nfs4.Stateid) {
	t.Helper()
	st, r := opStatus(t, c, c.NewCompound("reclaim-open").PutFH(fh).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessBoth, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte(owner)},
		Claim: nfs4.ClaimPrevious, DelegType: nfs4.DelegNone}))
	if st != nfs4.OK {
		return st, nfs4.Stateid{}
	}
	return st, r.Ops[1].Res.(*nfsclient.OpenRes).Stateid
}

func lockOp(c *nfsclient.Client, fh []byte, open nfs4.Stateid, owner string, reclaim bool) *nfsclient.Compound {
	return c.NewCompound("lock").PutFH(fh).Lock(nfsclient.LockArgs{LockType: nfs4.WriteLT, Reclaim: reclaim,
		Offset: 0, Length: 100, NewLockOwner: true, OpenStateid: open,
		LockOwner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte(owner)}})
}

// TestRestartReclaim kills the gateway with SIGKILL while clients hold an
// open and a lock, restarts it, and checks grace and reclaim: the holders
// get their open and lock back during grace, another client's lock waits
// with NFS4ERR_GRACE during grace and is denied after it, and data written
// with FILE_SYNC before the kill survives.
func TestRestartReclaim(t *testing.T) {
	g := startGateway(t, "--state-dir", t.TempDir(), "--grace", "30", "--lease", "10")
	ctx := ctxT(t)

	a := g.dialOwner(t, "client-A")
	b := g.dialOwner(t, "client-B")
	for _, c := range []*nfsclient.Client{a, b} {
		if st, _ := opStatus(t, c, c.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
			t.Fatalf("RECLAIM_COMPLETE: %d", st)
		}
	}
	root, _, err := a.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	fa, err := a.Create(ctx, root, "shared", 0666)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fa.WriteAll(ctx, []byte("durable data"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	if err := fa.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	fb, err := b.OpenAt(ctx, root, "shared", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	fh := fa.FH

	g.kill()
	g.start()

	a2 := g.dialOwner(t, "client-A")
	b2 := g.dialOwner(t, "client-B")
	stranger := g.dialOwner(t, "client-C")

	// A client that held nothing cannot reclaim.
	if st, _ := reclaimOpen(t, stranger, fh, "o"); st != nfs4.ErrNoGrace && st != nfs4.ErrReclaimBad {
		t.Fatalf("reclaim by a client without a record: %d", st)
	}
	// New state waits for grace.
	if st, _ := opStatus(t, stranger, stranger.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessRead, Owner: nfsclient.StateOwner{ClientID: stranger.ClientID(), Owner: []byte("o")},
		Claim: nfs4.ClaimNull, Name: "shared"})); st != nfs4.ErrGrace {
		t.Fatalf("new open during grace: %d", st)
	}

	stA, openA := reclaimOpen(t, a2, fh, "a-open")
	if stA != nfs4.OK {
		t.Fatalf("A reclaims its open: %d", stA)
	}
	if st, r := opStatus(t, a2, lockOp(a2, fh, openA, "a-lock", true)); st != nfs4.OK {
		t.Fatalf("A reclaims its lock: %d %+v", st, r)
	}
	stB, openB := reclaimOpen(t, b2, fh, "b-open")
	if stB != nfs4.OK {
		t.Fatalf("B reclaims its open: %d", stB)
	}
	if st, _ := opStatus(t, b2, b2.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
		t.Fatalf("B RECLAIM_COMPLETE: %d", st)
	}
	// B is done, A is not: grace goes on and B's new lock must wait.
	if st, _ := opStatus(t, b2, lockOp(b2, fh, openB, "b-lock", false)); st != nfs4.ErrGrace {
		t.Fatalf("B's lock during grace: %d, want NFS4ERR_GRACE", st)
	}
	if st, _ := opStatus(t, a2, a2.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
		t.Fatalf("A RECLAIM_COMPLETE: %d", st)
	}
	// Everyone reclaimed: grace is over early, and A's reclaimed lock holds.
	st, r := opStatus(t, b2, lockOp(b2, fh, openB, "b-lock", false))
	if st != nfs4.ErrDenied {
		t.Fatalf("B's lock after grace: %d, want NFS4ERR_DENIED", st)
	}
	if d, ok := r.Ops[1].Res.(*nfsclient.LockDenied); !ok || d.Offset != 0 || d.Length != 100 {
		t.Fatalf("denied details: %+v", r.Ops[1].Res)
	}
	// Reclaims are over too.
	if st, _ := opStatus(t, a2, lockOp(a2, fh, openA, "a-lock2", true)); st != nfs4.ErrNoGrace {
		t.Fatalf("reclaim after grace: %d", st)
	}
	// The FILE_SYNC data survived the kill.
	st, r = opStatus(t, b2, b2.NewCompound("read").PutFH(fh).Read(openB, 0, 100))
	if st != nfs4.OK || string(r.Ops[1].Res.(*nfsclient.ReadRes).Data) != "durable data" {
		t.Fatalf("read after restart: %d", st)
	}
	_ = fb
}

// TestRestartWithoutClientsHasNoGrace checks that a restart with an empty
// reclaim set serves new state at once.
func TestRestartWithoutClientsHasNoGrace(t *testing.T) {
	g := startGateway(t, "--state-dir", t.TempDir(), "--grace", "30")
	g.restart()
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	if err := c.WriteFile(ctx, "/export/x", []byte("y"), 0644); err != nil {
		t.Fatalf("open after a restart with nothing to reclaim: %v", err)
	}
}
