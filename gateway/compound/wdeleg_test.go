package compound

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// TestWriteDelegation: a 4.1 client that asks for a write delegation gets
// one and writes under it; another client's GETATTR of the size is
// answered after a CB_GETATTR to the holder, and the delegation is
// recalled as soon as another client opens the file (even for reading),
// reads it without an open, or changes its attributes.
func TestWriteDelegation(t *testing.T) {
	synctest.Test(t, testWriteDelegation)
}

func testWriteDelegation(t *testing.T) {
	l := pipenet.Listen()
	dir := t.TempDir()
	sm, _ := serveDelegOn(t, l, dir, 5*time.Second)
	if err := os.WriteFile(filepath.Join(dir, "w"), nil, 0666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recalls := make(chan nfsclient.Recall, 8)
	cbGetattrs := make(chan struct{}, 8)
	a := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "writer",
		OnRecall: func(r nfsclient.Recall) { recalls <- r },
		OnCallback: func(op uint32) {
			if op == nfsclient.CBOpGetattr {
				cbGetattrs <- struct{}{}
			}
		}})
	b := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "other", RetryTimeout: -1})
	fh, _, err := a.LookupPath(ctx, "/export/w")
	if err != nil {
		t.Fatal(err)
	}
	dirFH, _, err := a.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	getDeleg := func(owner string) nfsclient.Delegation {
		t.Helper()
		r, err := a.Do(ctx, a.NewCompound("open").PutFH(dirFH).Open(nfsclient.OpenArgs{
			ShareAccess: nfs4.ShareAccessBoth | shareWantWriteDeleg,
			Owner:       nfsclient.StateOwner{ClientID: a.ClientID(), Owner: []byte(owner)},
			Claim:       nfs4.ClaimNull, Name: "w"}))
		if err != nil || r.Status != nfs4.OK {
			t.Fatalf("open: %v %v", err, r)
		}
		d := r.Ops[1].Res.(*nfsclient.OpenRes).Delegation
		if d.Type != nfs4.DelegWrite {
			t.Fatalf("no write delegation: %+v", d)
		}
		return d
	}
	// Each way in for b recalls the delegation; a returns it.
	breakWith := func(what string, c *nfsclient.Compound) {
		t.Helper()
		d := getDeleg("o-" + what)
		r, err := b.Do(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != nfs4.ErrDelay {
			t.Fatalf("%s under another client's write delegation: %d, want NFS4ERR_DELAY", what, r.Status)
		}
		// The recall goes out on a goroutine of its own; once
		// everything in the bubble waits, it has reached a.
		synctest.Wait()
		select {
		case rc := <-recalls:
			if rc.Stateid.Other != d.Stateid.Other {
				t.Fatalf("%s: recall of %+v", what, rc)
			}
		default:
			t.Fatalf("%s: no recall", what)
		}
		r, err = a.Do(ctx, a.NewCompound("return").PutFH(fh).DelegReturn(d.Stateid))
		if err != nil || r.Status != nfs4.OK {
			t.Fatalf("DELEGRETURN: %v %v", err, r)
		}
	}

	d := getDeleg("o1")
	r, err := a.Do(ctx, a.NewCompound("write").PutFH(fh).Write(d.Stateid, 0, nfs4.FileSync, []byte("hello")))
	if err != nil || r.Status != nfs4.OK {
		t.Fatalf("WRITE under the write delegation: %v %v", err, r)
	}
	if sm.WriteDelegations() != 1 {
		t.Fatalf("%d write delegations", sm.WriteDelegations())
	}
	// Another client's GETATTR of the size asks the holder with
	// CB_GETATTR; this one has nothing cached, so the backend's size
	// stands, and the delegation stays.
	r, err = b.Do(ctx, b.NewCompound("getattr").PutFH(fh).Getattr(nfsclient.MakeBitmap(nfs4.AttrSize)))
	if err != nil || r.Status != nfs4.OK {
		t.Fatalf("GETATTR(size) under another client's write delegation: %v %v", err, r)
	}
	if size := r.Ops[1].Res.(*nfsclient.GetattrRes).Attrs.Size; size != 5 {
		t.Fatalf("size %d after the delegated write, want 5", size)
	}
	select {
	case <-cbGetattrs:
	default:
		t.Fatal("GETATTR: no CB_GETATTR")
	}
	select {
	case <-recalls:
		t.Fatal("GETATTR recalled the delegation")
	default:
	}
	r, err = a.Do(ctx, a.NewCompound("return").PutFH(fh).DelegReturn(d.Stateid))
	if err != nil || r.Status != nfs4.OK {
		t.Fatalf("DELEGRETURN: %v %v", err, r)
	}

	breakWith("open for read", b.NewCompound("open").PutFH(dirFH).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessRead, Owner: nfsclient.StateOwner{ClientID: b.ClientID(), Owner: []byte("b")},
		Claim: nfs4.ClaimNull, Name: "w"}))
	breakWith("anonymous read", b.NewCompound("read").PutFH(fh).Read(nfs4.AnonStateid, 0, 5))
	breakWith("setattr", b.NewCompound("setattr").PutFH(fh).Setattr(nfs4.AnonStateid, new(nfsclient.SetAttrs).SetMode(0600)))
	if sm.WriteDelegations() != 0 {
		t.Fatalf("%d write delegations left", sm.WriteDelegations())
	}
	if err := sm.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestOpenWantHints: the delegation hints a server may ignore do not make
// OPEN fail (4.2's WANT_DELEG_TIMESTAMPS only in 4.2), and 4.2 clients
// find open_arguments among the supported attributes.
func TestOpenWantHints(t *testing.T) {
	addr, dir, _ := serveDeleg(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, tc := range []struct {
		minor, access uint32
		want          nfs4.Status
	}{
		{1, nfs4.ShareAccessRead | shareWantHints41, nfs4.OK},
		{1, nfs4.ShareAccessRead | shareWantDelegTimestamps, nfs4.ErrInval},
		{2, nfs4.ShareAccessBoth | shareWantWriteDeleg | shareWantDelegTimestamps, nfs4.OK},
	} {
		name := fmt.Sprint("h", i)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0666); err != nil {
			t.Fatal(err)
		}
		c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{MinorVersion: nfsclient.Minor(tc.minor)})
		if err != nil {
			t.Fatal(err)
		}
		dirFH, _, err := c.LookupPath(ctx, "/export")
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Do(ctx, c.NewCompound("open").PutFH(dirFH).Open(nfsclient.OpenArgs{
			ShareAccess: tc.access, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("o")},
			Claim: nfs4.ClaimNull, Name: name}))
		if err != nil || r.Status != tc.want {
			t.Fatalf("4.%d OPEN with access %#x: %v %v, want %d", tc.minor, tc.access, err, r, tc.want)
		}
		r, err = c.Do(ctx, c.NewCompound("attrs").PutRootFH().Getattr(nfsclient.MakeBitmap(nfs4.AttrSupportedAttrs)))
		if err != nil || r.Status != nfs4.OK {
			t.Fatal(err, r)
		}
		if got := r.Ops[1].Res.(*nfsclient.GetattrRes).Attrs.SupportedAttrs.Has(nfs4.AttrOpenArguments); got != (tc.minor == 2) {
			t.Fatalf("4.%d: open_arguments supported: %v", tc.minor, got)
		}
		c.Close()
	}
}
