package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// Delegations across gateways. A gateway's state model only sees what goes
// through it; on CephFS each delegation is also a libcephfs delegation, so
// that an access through another gateway recalls it. The local backend has
// no such leases (two gateways on one local directory do not recall each
// other's delegations), so these tests run in the CephFS pass only.

func needCephDelegations(t *testing.T) {
	t.Helper()
	if testBackend(t).Name() != "ceph" {
		t.Skip("cross-gateway delegation recall needs CephFS delegations; runs in the CephFS pass (NFSGW_E2E_BACKEND=ceph)")
	}
}

// delegatedOpen opens path read-only with c until the open comes with a
// read delegation that was not recalled within a second (c must come from
// dialDeleg, which counts callbacks). Right after a file was
// written elsewhere the MDS may not have issued the caps a libcephfs
// delegation needs yet, or may still be moving them around (any revocation
// of those caps recalls the delegation).
func delegatedOpen(t *testing.T, c *nfsclient.Client, path string) (*nfsclient.OpenFile, nfs4.Stateid) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for {
		f, err := c.OpenFile(ctxT(t), path, nfs4.ShareAccessRead, 0)
		if err != nil {
			t.Fatal(err)
		}
		before := callbacksOf(c)
		if d := f.Open.Delegation; d.Type == nfs4.DelegRead {
			time.Sleep(time.Second)
			if callbacksOf(c) == before && len(c.Delegations()) == 1 {
				return f, d.Stateid
			}
			t.Logf("delegation recalled at once (caps still settling); again")
			// A client that ignores recalls would keep it until it is
			// revoked, which would spoil what the test looks at next.
			c.ReturnDelegation(ctxT(t), f.FH, d.Stateid)
		}
		f.Close(ctxT(t))
		if time.Now().After(end) {
			t.Fatalf("no lasting read delegation on %s: %+v", path, f.Open.Delegation)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// readAt reads n bytes at 0 under stateid sid.
func readAt(t *testing.T, c *nfsclient.Client, fh []byte, sid nfs4.Stateid, n uint32) ([]byte, nfs4.Status) {
	t.Helper()
	r, err := c.Do(ctxT(t), c.NewCompound("read").PutFH(fh).Read(sid, 0, n))
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != nfs4.OK {
		return nil, r.Status
	}
	res, _ := r.Find(nfs4.OpRead).Res.(*nfsclient.ReadRes)
	if res == nil {
		t.Fatal("READ result not decoded")
	}
	return append([]byte(nil), res.Data...), nfs4.OK
}

// TestCephDelegationRecallAcrossGateways: client X holds a read delegation
// through gateway A; client Y opens the file for write through gateway B.
// X is recalled (CB_RECALL from A), returns the delegation, Y's open goes
// through, and what Y wrote is what X reads next.
func TestCephDelegationRecallAcrossGateways(t *testing.T) {
	needCephDelegations(t)
	dir := testBackend(t).NewDir(t)
	ga := startGatewayOn(t, freePortOn(t, "127.0.0.11"), dir, "--squash", "none", "--lease", "5")
	gb := startGatewayOn(t, freePortOn(t, "127.0.0.12"), dir, "--squash", "none", "--lease", "5")
	ga.plant(t, "d.txt", []byte("version 1"))
	var recalls atomic.Int32
	x := ga.dialDeleg(t, "x", nfsclient.Options{OnCallback: func(op uint32) {
		if op == nfsclient.CBOpRecall {
			recalls.Add(1)
		}
	}})
	y := gb.dialDeleg(t, "y", nfsclient.Options{RetryTimeout: -1})

	fx, dsid := delegatedOpen(t, x, "/export/d.txt")
	if got, st := readAt(t, x, fx.FH, dsid, 100); st != nfs4.OK || string(got) != "version 1" {
		t.Fatalf("READ under the delegation: %q %v", got, st)
	}
	recalls.Store(0)

	start := time.Now()
	delays, fy := openWriteUntil(t, y, "/export/d.txt", 30*time.Second)
	took := time.Since(start)
	t.Logf("write open through B: %v, %d NFS4ERR_DELAY", took, delays)
	if n := recalls.Load(); n != 1 {
		t.Fatalf("%d CB_RECALLs to X, want 1", n)
	}
	if took > 15*time.Second {
		t.Fatalf("B's open took %v although X returned the delegation at once", took)
	}
	if len(x.Delegations()) != 0 {
		t.Fatal("X still holds the delegation")
	}
	payload := []byte("version 2, written through gateway B")
	if _, _, err := fy.WriteAll(ctxT(t), payload, 0, nfs4.FileSync); err != nil {
		t.Fatal("write through B:", err)
	}
	if err := fy.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}

	// X reads through its open (the delegation is gone) and through a new
	// open: both see B's data.
	if got, st := readAt(t, x, fx.FH, fx.Stateid(), 100); st != nfs4.OK || !bytes.Equal(got, payload) {
		t.Fatalf("X reads %q (%v) through A after B wrote %q", got, st, payload)
	}
	f2, err := x.OpenFile(ctxT(t), "/export/d.txt", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, st := readAt(t, x, f2.FH, f2.Stateid(), 100); st != nfs4.OK || !bytes.Equal(got, payload) {
		t.Fatalf("X reads %q (%v) through a new open", got, st)
	}
	f2.Close(ctxT(t))
	fx.Close(ctxT(t))
}

// TestCephDelegationUnreturnedRevokedInTime: X never returns a recalled
// delegation. Gateway A must revoke it and hand the libcephfs delegation
// back before the mount's delegation timeout, or libcephfs unmounts A's
// whole client; A keeps serving afterwards, and Y's open through B goes
// through once A gave the delegation back.
func TestCephDelegationUnreturnedRevokedInTime(t *testing.T) {
	needCephDelegations(t)
	const timeout = 10 * time.Second
	cfg := filepath.Join(t.TempDir(), "nfsgw.yaml")
	if err := os.WriteFile(cfg, []byte("ceph:\n  delegation_timeout_seconds: 10\n"), 0644); err != nil {
		t.Fatal(err)
	}
	dir := testBackend(t).NewDir(t)
	// A long lease, so that the lease-based revocation of an unanswered
	// recall (¾ of a lease) cannot be what saves A.
	ga := startGatewayOn(t, freePortOn(t, "127.0.0.11"), dir, "--squash", "none", "--lease", "40", "--config", cfg)
	gb := startGatewayOn(t, freePortOn(t, "127.0.0.12"), dir, "--squash", "none", "--lease", "5")
	ga.plant(t, "d.txt", []byte("version 1"))
	recalled := make(chan time.Time, 4)
	x := ga.dialDeleg(t, "x", nfsclient.Options{OnRecall: func(nfsclient.Recall) { recalled <- time.Now() }})
	y := gb.dialDeleg(t, "y", nfsclient.Options{RetryTimeout: -1})

	fx, dsid := delegatedOpen(t, x, "/export/d.txt")
	start := time.Now()
	_, fy := openWriteUntil(t, y, "/export/d.txt", 3*timeout)
	took := time.Since(start)
	t.Logf("write open through B went through after %v", took)
	var at time.Time
	select {
	case at = <-recalled:
	default:
		t.Fatal("X got no CB_RECALL")
	}
	if took >= timeout {
		t.Fatalf("B's open waited %v: A gave the delegation back no sooner than libcephfs' %v timeout", took, timeout)
	}
	if _, st := readAt(t, x, fx.FH, dsid, 10); st != nfs4.ErrDelegRevoked {
		t.Fatalf("READ with the unreturned delegation: %v, want NFS4ERR_DELEG_REVOKED", st)
	}
	if _, _, err := fy.WriteAll(ctxT(t), []byte("version 2"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	fy.Close(ctxT(t))

	// Past the timeout, A's CephFS client is still mounted: X reads the
	// new data and creates a file through A.
	time.Sleep(time.Until(at.Add(timeout + 3*time.Second)))
	if got, st := readAt(t, x, fx.FH, fx.Stateid(), 100); st != nfs4.OK || string(got) != "version 2" {
		t.Fatalf("X reads %q (%v) through A after the timeout", got, st)
	}
	root, _, err := x.LookupPath(ctxT(t), "/export")
	if err != nil {
		t.Fatal("A after the delegation timeout:", err)
	}
	nf, err := x.Create(ctxT(t), root, "after", 0666)
	if err != nil {
		t.Fatalf("create through A after the delegation timeout: %v\n%s", err, tail(ga.log.String(), 20))
	}
	nf.Close(ctxT(t))
	fx.Close(ctxT(t))
}
