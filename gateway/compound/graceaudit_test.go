package compound

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/grace"
)

// TestGraceAudit checks every operation against the grace rules in one
// table (RFC 7530 section 9.6.2, RFC 8881 section 8.4.2): during grace,
// whatever creates state without reclaiming it, or could conflict with
// state still to be reclaimed, answers NFS4ERR_GRACE; I/O and releases on
// state the client holds, and operations on names that no reclaim
// concerns, go on.
func TestGraceAudit(t *testing.T) {
	synctest.Test(t, testGraceAudit)
}

func testGraceAudit(t *testing.T) {
	gate := grace.NewSwitch()
	gate.Set(grace.GateOpen, nil)
	l := pipenet.Listen()
	serveGrace(t, l, gate, &memRecorder{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "audit", RetryTimeout: -1})
	root, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "f", 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(ctx, []byte("data"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	if err := f.Lock(ctx, nfs4.WriteLT, 0, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Create(ctx, root, "victim", 0o666); err != nil {
		t.Fatal(err)
	}
	owner := nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("other-owner")}
	sid := f.Stateid()

	gate.Set(grace.GateEnforce, nil) // a grace period began elsewhere
	for _, tc := range []struct {
		name string
		comp func() *nfsclient.Compound
		want nfs4.Status
	}{
		{"OPEN of an existing file", func() *nfsclient.Compound {
			return c.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{ShareAccess: nfs4.ShareAccessRead,
				Owner: owner, Claim: nfs4.ClaimNull, Name: "f"})
		}, nfs4.ErrGrace},
		{"OPEN with create", func() *nfsclient.Compound {
			return c.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{ShareAccess: nfs4.ShareAccessBoth,
				Owner: owner, Claim: nfs4.ClaimNull, Name: "new", Create: true, CreateMode: nfs4.CreateUnchecked})
		}, nfs4.ErrGrace},
		{"OPEN reclaim by a client without a record", func() *nfsclient.Compound {
			return c.NewCompound("open").PutFH(f.FH).Open(nfsclient.OpenArgs{ShareAccess: nfs4.ShareAccessRead,
				Owner: owner, Claim: nfs4.ClaimPrevious})
		}, nfs4.ErrNoGrace},
		{"LOCK (new lock owner)", func() *nfsclient.Compound {
			return c.NewCompound("lock").PutFH(f.FH).Lock(nfsclient.LockArgs{LockType: nfs4.WriteLT, Offset: 100, Length: 10,
				NewLockOwner: true, OpenStateid: sid, LockOwner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("lo2")}})
		}, nfs4.ErrGrace},
		{"LOCKT", func() *nfsclient.Compound {
			return c.NewCompound("lockt").PutFH(f.FH).LockT(nfs4.WriteLT, 0, 10, owner)
		}, nfs4.ErrGrace},
		{"WRITE with the anonymous stateid", func() *nfsclient.Compound {
			return c.NewCompound("write").PutFH(f.FH).Write(nfs4.AnonStateid, 0, nfs4.Unstable, []byte("x"))
		}, nfs4.ErrGrace},
		{"WRITE with the bypass stateid", func() *nfsclient.Compound {
			return c.NewCompound("write").PutFH(f.FH).Write(nfs4.BypassStateid, 0, nfs4.Unstable, []byte("x"))
		}, nfs4.ErrGrace},
		{"SETATTR of size with the anonymous stateid", func() *nfsclient.Compound {
			return c.NewCompound("setattr").PutFH(f.FH).Setattr(nfs4.AnonStateid, (&nfsclient.SetAttrs{}).SetSize(1))
		}, nfs4.ErrGrace},
		{"REMOVE", func() *nfsclient.Compound {
			return c.NewCompound("remove").PutFH(root).Remove("victim")
		}, nfs4.ErrGrace},
		{"RENAME", func() *nfsclient.Compound {
			return c.NewCompound("rename").PutFH(root).SaveFH().PutFH(root).Rename("victim", "renamed")
		}, nfs4.ErrGrace},
		// What goes on during grace.
		{"READ with the client's open stateid", func() *nfsclient.Compound {
			return c.NewCompound("read").PutFH(f.FH).Read(sid, 0, 4)
		}, nfs4.OK},
		{"WRITE with the client's open stateid", func() *nfsclient.Compound {
			return c.NewCompound("write").PutFH(f.FH).Write(sid, 0, nfs4.FileSync, []byte("D"))
		}, nfs4.OK},
		{"SETATTR of size with the client's open stateid", func() *nfsclient.Compound {
			return c.NewCompound("setattr").PutFH(f.FH).Setattr(sid, (&nfsclient.SetAttrs{}).SetSize(4))
		}, nfs4.OK},
		{"READ with the anonymous stateid", func() *nfsclient.Compound {
			return c.NewCompound("read").PutFH(f.FH).Read(nfs4.AnonStateid, 0, 4)
		}, nfs4.OK},
		{"GETATTR", func() *nfsclient.Compound {
			return c.NewCompound("getattr").PutFH(f.FH).Getattr(nfsclient.MakeBitmap(nfs4.AttrType))
		}, nfs4.OK},
		{"LOOKUP", func() *nfsclient.Compound {
			return c.NewCompound("lookup").PutFH(root).Lookup("f")
		}, nfs4.OK},
		{"CREATE of a directory", func() *nfsclient.Compound {
			return c.NewCompound("mkdir").PutFH(root).Create(nfsclient.CreateArgs{Type: nfs4.NF4DIR, Name: "d"})
		}, nfs4.OK},
	} {
		r, err := c.Do(ctx, tc.comp())
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if r.Status != tc.want {
			t.Errorf("%s during grace: %s, want %s", tc.name, nfsclient.StatusName(r.Status), nfsclient.StatusName(tc.want))
		}
	}
	// Releasing held state goes on during grace.
	if err := f.Unlock(ctx, 0, 10); err != nil {
		t.Errorf("LOCKU during grace: %v", err)
	}
	if err := f.Close(ctx); err != nil {
		t.Errorf("CLOSE during grace: %v", err)
	}
	// After grace, new state again.
	gate.Set(grace.GateOpen, nil)
	if r, err := c.Do(ctx, c.NewCompound("remove").PutFH(root).Remove("victim")); err != nil || r.Status != nfs4.OK {
		t.Fatalf("REMOVE after grace: %v %v", r, err)
	}
}
