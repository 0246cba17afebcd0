package compound

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
)

// serveDeleg runs the engine on a loopback listener with delegations on.
func serveDeleg(t *testing.T, lease time.Duration) (addr, dir string, sm *nfs4state.Manager) {
	t.Helper()
	dir = t.TempDir()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sm, _ = serveDelegOn(t, l, dir, lease)
	return l.Addr().String(), dir, sm
}

// serveDelegOn serves dir with delegations on, on l.
func serveDelegOn(t *testing.T, l net.Listener, dir string, lease time.Duration) (*nfs4state.Manager, *Server) {
	t.Helper()
	fs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: fs, Squash: export.SquashNone, Delegations: true}})
	if err != nil {
		t.Fatal(err)
	}
	sm := nfs4state.NewManager(nfs4state.Config{Lease: lease})
	eng := New(Config{Exports: export.NewRegistry(tbl), State: sm})
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, eng)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return sm, eng
}

func recallGoroutines() int {
	buf := make([]byte, 1<<20)
	n := runtime.Stack(buf, true)
	return strings.Count(string(buf[:n]), "compound.(*Server).recall(")
}

// TestRecallOfSilentClientIsBounded: recalls to a client whose back
// channel never answers end with the callback timeout and leave no
// goroutine behind; the reaper revokes the delegations a lease after the
// recall.
func TestRecallOfSilentClientIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const lease = 2 * time.Second
		dir := t.TempDir()
		l := pipenet.Listen()
		sm, eng := serveDelegOn(t, l, dir, lease)
		const files = 10
		for i := 0; i < files; i++ {
			os.WriteFile(filepath.Join(dir, fmt.Sprint("f", i)), []byte("x"), 0666)
		}
		ctx := t.Context()
		block := make(chan struct{})
		defer close(block)
		a := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "silent", OnCallback: func(op uint32) {
			if op == nfsclient.CBOpSequence {
				<-block
			}
		}})
		b := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "writer", RetryTimeout: -1})
		for i := 0; i < files; i++ {
			f, err := a.OpenFile(ctx, fmt.Sprint("/export/f", i), nfs4.ShareAccessRead, 0)
			if err != nil {
				t.Fatal(err)
			}
			if f.Open.Delegation.Type != nfs4.DelegRead {
				t.Fatalf("file %d: no delegation: %+v", i, f.Open.Delegation)
			}
		}
		if n := sm.Delegations(); n != files {
			t.Fatalf("%d delegations", n)
		}
		for i := 0; i < files; i++ {
			_, err := b.OpenFile(ctx, fmt.Sprint("/export/f", i), nfs4.ShareAccessWrite, 0)
			if nfsclient.StatusOf(err) != nfs4.ErrDelay {
				t.Fatalf("file %d: write open: %v", i, err)
			}
		}
		// The reaper's ticks, in the bubble's time: within a lease and a
		// callback timeout, every recall has given up and every
		// delegation is revoked.
		start := time.Now()
		for {
			synctest.Wait()
			if sm.Delegations() == 0 && recallGoroutines() == 0 {
				break
			}
			if time.Since(start) > lease+eng.callbackTimeout() {
				t.Fatalf("after %v: %d delegations, %d recall goroutines", time.Since(start), sm.Delegations(), recallGoroutines())
			}
			time.Sleep(lease / 4)
			eng.Reap(ctx)
		}
		for i := 0; i < files; i++ {
			if _, err := b.OpenFile(ctx, fmt.Sprint("/export/f", i), nfs4.ShareAccessWrite, 0); err != nil {
				t.Fatalf("file %d after revocation: %v", i, err)
			}
		}
		if err := sm.CheckConsistency(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestDelegationWants checks the 4.1 want bits of OPEN.
func TestDelegationWants(t *testing.T) {
	addr, dir, _ := serveDeleg(t, 5*time.Second)
	os.WriteFile(filepath.Join(dir, "w"), []byte("x"), 0666)
	os.WriteFile(filepath.Join(dir, "w2"), []byte("x"), 0666)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "wants"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abandon()
	other, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Abandon()
	dirFH, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	openAs := func(c *nfsclient.Client, name, owner string, access uint32) nfsclient.Delegation {
		t.Helper()
		r, err := c.Do(ctx, c.NewCompound("open").PutFH(dirFH).Open(nfsclient.OpenArgs{
			ShareAccess: access, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte(owner)},
			Claim: nfs4.ClaimNull, Name: name}))
		if err != nil || r.Status != nfs4.OK {
			t.Fatalf("open %#x: %v %v", access, err, r)
		}
		return r.Ops[1].Res.(*nfsclient.OpenRes).Delegation
	}
	open := func(owner string, access uint32) nfsclient.Delegation { return openAs(c, "w", owner, access) }
	if d := open("o1", nfs4.ShareAccessRead|shareWantNoDeleg); d.Type != nfs4.DelegNoneExt || d.WhyNone != nfs4.WNDTNotWanted {
		t.Fatalf("WANT_NO_DELEG: %+v", d)
	}
	if d := open("o2", nfs4.ShareAccessRead|shareWantWriteDeleg); d.Type != nfs4.DelegNoneExt || d.WhyNone != nfs4.WNDTContention {
		t.Fatalf("WANT_WRITE_DELEG for reading only: %+v", d)
	}
	if d := open("o2", nfs4.ShareAccessBoth); d.Type != nfs4.DelegNone {
		t.Fatalf("write open without a want: %+v", d)
	}
	// The client's own write open does not stand in the way.
	if d := open("o3", nfs4.ShareAccessRead|shareWantReadDeleg); d.Type != nfs4.DelegRead {
		t.Fatalf("WANT_READ_DELEG while open for write by the same client: %+v", d)
	}
	if d := open("o4", nfs4.ShareAccessRead|shareWantAnyDeleg); d.Type != nfs4.DelegNoneExt || d.WhyNone != nfs4.WNDTContention {
		t.Fatalf("a second delegation of one client: %+v", d)
	}
	// Another client's does.
	openAs(other, "w2", "x", nfs4.ShareAccessBoth)
	if d := openAs(c, "w2", "o5", nfs4.ShareAccessRead|shareWantReadDeleg); d.Type != nfs4.DelegNoneExt || d.WhyNone != nfs4.WNDTContention {
		t.Fatalf("WANT_READ_DELEG while open for write by another client: %+v", d)
	}
	if d := openAs(c, "w2", "o6", nfs4.ShareAccessRead); d.Type != nfs4.DelegNone {
		t.Fatalf("no want, no delegation: %+v", d)
	}
}

// TestDelegateCurClaims opens under a held delegation with
// CLAIM_DELEGATE_CUR and CLAIM_DELEG_CUR_FH.
func TestDelegateCurClaims(t *testing.T) {
	addr, dir, _ := serveDeleg(t, 5*time.Second)
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0666)
	os.WriteFile(filepath.Join(dir, "g"), []byte("x"), 0666)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: "claims"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abandon()
	f, err := c.OpenFile(ctx, "/export/f", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	dsid := f.Open.Delegation.Stateid
	if f.Open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("no delegation: %+v", f.Open.Delegation)
	}
	dirFH, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	owner := nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("claimer")}
	try := func(fh []byte, claim uint32, name string, sid nfs4.Stateid) nfs4.Status {
		t.Helper()
		r, err := c.Do(ctx, c.NewCompound("claim").PutFH(fh).Open(nfsclient.OpenArgs{
			ShareAccess: nfs4.ShareAccessRead, Owner: owner, Claim: claim, Name: name, DelegStateid: sid}))
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == nfs4.OK {
			if d := r.Ops[1].Res.(*nfsclient.OpenRes).Delegation; d.Type == nfs4.DelegRead {
				t.Fatalf("a claim under a delegation got another one: %+v", d)
			}
		}
		return r.Status
	}
	if st := try(dirFH, nfs4.ClaimDelegateCur, "f", dsid); st != nfs4.OK {
		t.Fatalf("CLAIM_DELEGATE_CUR: %d", st)
	}
	if st := try(f.FH, nfs4.ClaimDelegCurFH, "", dsid); st != nfs4.OK {
		t.Fatalf("CLAIM_DELEG_CUR_FH: %d", st)
	}
	if st := try(dirFH, nfs4.ClaimDelegateCur, "g", dsid); st != nfs4.ErrBadStateid {
		t.Fatalf("CLAIM_DELEGATE_CUR of another file: %d", st)
	}
	if st := try(f.FH, nfs4.ClaimDelegCurFH, "", f.Stateid()); st != nfs4.ErrBadStateid {
		t.Fatalf("CLAIM_DELEG_CUR_FH with an open stateid: %d", st)
	}
}

func TestParseUaddr(t *testing.T) {
	for _, c := range []struct {
		netid, uaddr, want string
		ok                 bool
	}{
		{"tcp", "127.0.0.1.8.1", "127.0.0.1:2049", true},
		{"tcp6", "::1.3.232", "[::1]:1000", true},
		{"tcp", "127.0.0.1.0.0", "", false}, // port 0: nothing listens
		{"udp", "127.0.0.1.8.1", "", false},
		{"tcp", "127.0.0.1.256.1", "", false},
		{"tcp", "host.8.1", "", false},
		{"tcp", "1.2", "", false},
	} {
		got, ok := parseUaddr(c.netid, c.uaddr)
		if got != c.want || ok != c.ok {
			t.Errorf("parseUaddr(%q, %q) = %q, %v", c.netid, c.uaddr, got, ok)
		}
	}
}
