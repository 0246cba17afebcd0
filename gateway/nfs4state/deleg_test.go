package nfs4state

import (
	"bytes"
	"fmt"
	"math/rand"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// delegSetup gives client a an open for read and a read delegation on
// file "f", and returns a second client b.
func delegSetup(t *testing.T, m *Manager) (a, b *Client, open *State, dsid nfs4.Stateid) {
	t.Helper()
	a, _ = confirmed41(t, m, "a")
	b, _ = confirmed41(t, m, "b")
	var closed atomic.Int32
	open, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("oa"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	dsid, _, ok := m.GrantReadDeleg(a, "f", "f")
	if !ok {
		t.Fatal("no delegation granted")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	return a, b, open, dsid
}

// recallLog keeps the delegations that the calls of a test asked to
// recall (their Recall effects).
type recallLog struct {
	l []*State
}

func (r *recallLog) take(fx Effects) {
	for _, e := range fx.Of(Recall) {
		r.l = append(r.l, e.State)
	}
}

func (r *recallLog) n() int { return len(r.l) }

// st passes on the status of a call, keeping its recalls.
func (r *recallLog) st(st nfs4.Status, fx Effects) nfs4.Status { r.take(fx); return st }

// first drops the effects of a call whose effects a test does not look at.
func first[T any](v T, _ Effects) T { return v }

func TestDelegGrantRules(t *testing.T) {
	m, _ := newTestManager(t)
	a, b, _, dsid := delegSetup(t, m)
	// One per client and file.
	if _, why, ok := m.GrantReadDeleg(a, "f", "f"); ok || why != nfs4.WNDTContention {
		t.Fatalf("second delegation to one client: ok=%v why=%d", ok, why)
	}
	// Another reader gets its own.
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: b.OpenOwner("ob"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "reader open", st, nfs4.OK)
	if _, _, ok := m.GrantReadDeleg(b, "f", "f"); !ok {
		t.Fatal("second reader got no delegation")
	}
	// A writer of another client prevents delegations.
	c, _ := confirmed41(t, m, "c")
	_, _, st, _ = m.Open(OpenRequest{Owner: c.OpenOwner("oc"), FileKey: "g", FH: "g", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	mustStatus(t, "writer open", st, nfs4.OK)
	_, _, st, _ = m.Open(OpenRequest{Owner: a.OpenOwner("oa"), FileKey: "g", FH: "g", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "reader open g", st, nfs4.OK)
	if _, _, ok := m.GrantReadDeleg(a, "g", "g"); ok {
		t.Fatal("delegation granted on a file open for write")
	}
	// The delegation is a stateid of its client, usable on its file only.
	s, st := m.LookupState(dsid, "f", 1)
	mustStatus(t, "lookup", st, nfs4.OK)
	if s.Kind != KindDeleg || s.Client != a {
		t.Fatalf("wrong state %+v", s)
	}
	if _, st := m.LookupState(dsid, "g", 1); st != nfs4.ErrBadStateid {
		t.Fatalf("delegation used on another file: %d", st)
	}
	mustStatus(t, "TEST_STATEID", m.TestStateid(a, dsid), nfs4.OK)
	mustStatus(t, "FREE_STATEID of a live delegation", m.FreeStateid(a, dsid), nfs4.ErrLocksHeld)
	mustStatus(t, "DELEGRETURN by another client", m.DelegReturn(b, s), nfs4.ErrBadStateid)
	mustStatus(t, "DELEGRETURN", m.DelegReturn(a, s), nfs4.OK)
	if _, st := m.LookupState(dsid, "f", 1); st != nfs4.ErrBadStateid {
		t.Fatalf("returned delegation still valid: %d", st)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	if m.Delegations() != 1 {
		t.Fatalf("delegation count %d, want 1", m.Delegations())
	}
}

func TestDelegCountsInStateLimit(t *testing.T) {
	m, _ := newTestManager(t) // 4 states per client
	a, _ := confirmed41(t, m, "a")
	var closed atomic.Int32
	for _, f := range []string{"f1", "f2"} {
		_, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: f, FH: f, Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
		mustStatus(t, "open", st, nfs4.OK)
		if _, _, ok := m.GrantReadDeleg(a, f, f); !ok {
			t.Fatal("no delegation")
		}
	}
	if a.StateCount() != 4 {
		t.Fatalf("states %d, want 4", a.StateCount())
	}
	_, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: "f3", FH: "f3", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open past the limit", st, nfs4.ErrResource)
}

func TestDelegConflictsRecallOnce(t *testing.T) {
	m, _ := newTestManager(t)
	var rec recallLog
	a, b, _, _ := delegSetup(t, m)
	var closed atomic.Int32
	// Readers do not conflict.
	_, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("r"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "reader", st, nfs4.OK)
	if rec.n() != 0 {
		t.Fatal("a reader recalled the delegation")
	}
	// The holder itself may open for write.
	_, _, st, fx = m.Open(OpenRequest{Owner: a.OpenOwner("w"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "holder writes", st, nfs4.OK)
	// Writers, deny-read opens, removes and locks of others do.
	for i := 0; i < 3; i++ {
		_, _, st, fx = m.Open(OpenRequest{Owner: b.OpenOwner("w"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
		rec.take(fx)
		mustStatus(t, "writer", st, nfs4.ErrDelay)
	}
	mustStatus(t, "remove by b", rec.st(m.BreakDelegations("f", b)), nfs4.ErrDelay)
	mustStatus(t, "remove by a", rec.st(m.BreakDelegations("f", a)), nfs4.OK)
	mustStatus(t, "remove by a 4.0 client", rec.st(m.BreakDelegations("f", nil)), nfs4.ErrDelay)
	if rec.n() != 1 {
		t.Fatalf("%d recalls, want exactly 1", rec.n())
	}
	if got := closed.Load(); got != 3 {
		t.Fatalf("%d backend files of refused opens closed, want 3", got)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestDelegLockConflict(t *testing.T) {
	m, _ := newTestManager(t)
	var rec recallLog
	_, b, _, _ := delegSetup(t, m)
	var closed atomic.Int32
	ob, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("r"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "reader", st, nfs4.OK)
	ls, st := m.LockStateFor(ob, b.LockOwner("l"))
	mustStatus(t, "lock state", st, nfs4.OK)
	_, _, st, fx = m.Lock(ls, 0, 10, false, nil)
	rec.take(fx)
	mustStatus(t, "lock by another client", st, nfs4.ErrDelay)
	if rec.n() != 1 {
		t.Fatalf("%d recalls", rec.n())
	}
}

func TestDelegRevocation41(t *testing.T) {
	m, clk := newTestManager(t)
	var rec recallLog
	a, b, _, dsid := delegSetup(t, m)
	var closed atomic.Int32
	_, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("w"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "writer", st, nfs4.ErrDelay)
	// Within most of a lease nothing happens, even if the holder renews.
	clk.Add(7 * time.Second)
	a.Renew()
	b.Renew()
	m.Reap()
	mustStatus(t, "TEST_STATEID before revocation", m.TestStateid(a, dsid), nfs4.OK)
	clk.Add(1 * time.Second)
	a.Renew()
	b.Renew()
	m.Reap()
	if a.Expired() {
		t.Fatal("renewing client expired")
	}
	mustStatus(t, "TEST_STATEID", m.TestStateid(a, dsid), nfs4.ErrDelegRevoked)
	if _, st := m.LookupState(dsid, "f", 1); st != nfs4.ErrDelegRevoked {
		t.Fatalf("revoked delegation lookup: %d", st)
	}
	if !a.RevokedDelegations() {
		t.Fatal("revocation not flagged")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	_, _, st, fx = m.Open(OpenRequest{Owner: b.OpenOwner("w"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "writer after revocation", st, nfs4.OK)
	s, _ := m.states.get(dsid.Other)
	mustStatus(t, "DELEGRETURN of a revoked delegation", m.DelegReturn(a, s), nfs4.ErrDelegRevoked)
	mustStatus(t, "FREE_STATEID", m.FreeStateid(a, dsid), nfs4.OK)
	if a.RevokedDelegations() {
		t.Fatal("flag not cleared by FREE_STATEID")
	}
	if m.Delegations() != 0 {
		t.Fatalf("delegations %d", m.Delegations())
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestDelegRecallFailedRevokesAndFileGoes(t *testing.T) {
	m, _ := newTestManager(t)
	var rec recallLog
	a, b, open, dsid := delegSetup(t, m)
	m.Close(open)
	// Only the delegation keeps the file's state now.
	if m.Stats().Files != 1 {
		t.Fatalf("files %d", m.Stats().Files)
	}
	var closed atomic.Int32
	_, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("d"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyRead, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "deny read", st, nfs4.ErrDelay)
	mustStatus(t, "remove", rec.st(m.BreakDelegations("f", b)), nfs4.ErrDelay)
	if rec.n() != 1 {
		t.Fatalf("%d recalls", rec.n())
	}
	m.RecallFailed(rec.l[0])
	if m.Stats().Files != 0 {
		t.Fatalf("files %d after revocation", m.Stats().Files)
	}
	mustStatus(t, "remove after revocation", rec.st(m.BreakDelegations("f", b)), nfs4.OK)
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	// Destroying the client frees the revoked stateid too.
	m.Evict(a.ID)
	if _, ok := m.states.get(dsid.Other); ok {
		t.Fatal("revoked delegation outlived its client")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestDelegClientExpiryReleases(t *testing.T) {
	m, clk := newTestManager(t)
	a, _, _, dsid := delegSetup(t, m)
	clk.Add(11 * time.Second)
	m.Reap()
	if a.Expired() || !m.IsCourtesy(a) {
		t.Fatal("a client with a delegation expired without a courtesy period")
	}
	clk.Add(defaultCourtesyLeases * 10 * time.Second)
	m.Reap()
	if !a.Expired() {
		t.Fatal("client not expired")
	}
	if _, ok := m.states.get(dsid.Other); ok || m.Delegations() != 0 || m.Stats().Files != 0 {
		t.Fatalf("delegation survived expiry: %+v, %d", m.Stats(), m.Delegations())
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

func TestDelegRevocation40Removes(t *testing.T) {
	m, _ := newTestManager(t)
	c, o, _ := setupOpen40(t, m)
	dsid, _, ok := m.GrantReadDeleg(c, "f", "f")
	if !ok {
		// setupOpen40 may open another file; open "f" then.
		var closed atomic.Int32
		_, _, st, _ := m.Open(OpenRequest{Owner: o, FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
		mustStatus(t, "open", st, nfs4.OK)
		if dsid, _, ok = m.GrantReadDeleg(c, "f", "f"); !ok {
			t.Fatal("no delegation")
		}
	}
	s, _ := m.states.get(dsid.Other)
	m.RecallFailed(s)
	if _, st := m.LookupState(dsid, "", 0); st != nfs4.ErrBadStateid {
		t.Fatalf("4.0 revoked delegation: %d", st)
	}
	if c.RevokedDelegations() {
		t.Fatal("4.0 client flagged")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestRandomizedDelegations walks random opens, delegations, conflicts,
// returns, revocations, frees and client deaths, checking the model's
// invariants after every step and that nothing is left at the end.
func TestRandomizedDelegations(t *testing.T) {
	for seed := int64(1); seed <= 4; seed++ {
		rng := rand.New(rand.NewSource(seed))
		clk := &fakeClock{t: time.Unix(1_000_000, 0)}
		m := NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 9, MaxStatesPerClient: 12})
		var rec recallLog
		var opened, closed atomic.Int32
		var clients []*Client
		newClient := func() {
			c, _ := confirmed41(t, m, fmt.Sprintf("c%d", rng.Int()))
			clients = append(clients, c)
		}
		for i := 0; i < 3; i++ {
			newClient()
		}
		files := []string{"f0", "f1"}
		pick := func(c *Client, kind Kind) *State {
			c.mu.Lock()
			defer c.mu.Unlock()
			var list []*State
			for _, s := range c.states {
				if s.Kind == kind {
					list = append(list, s)
				}
			}
			if len(list) == 0 {
				return nil
			}
			// Map order is random: sort, so that a seed is one walk.
			slices.SortFunc(list, func(a, b *State) int { return bytes.Compare(a.Other[:], b.Other[:]) })
			return list[rng.Intn(len(list))]
		}
		outcomes := map[string]int{}
		for step := 0; step < 3000; step++ {
			if len(clients) == 0 {
				newClient()
			}
			ci := rng.Intn(len(clients))
			c := clients[ci]
			f := files[rng.Intn(len(files))]
			var what string
			switch op := rng.Intn(100); {
			case op < 30:
				what = "open"
				opened.Add(1)
				_, _, st, fx := m.Open(OpenRequest{Owner: c.OpenOwner(fmt.Sprint("o", rng.Intn(2))), FileKey: f, FH: f,
					Access: uint32(1 + rng.Intn(3)), Deny: uint32(rng.Intn(2) * rng.Intn(4)), File: fakeFile{&closed}})
				rec.take(fx)
				outcomes[fmt.Sprint("open ", st)]++
				if st == nfs4.OK && rng.Intn(2) == 0 {
					write := rng.Intn(3) == 0
					_, _, ok := m.GrantDeleg(c, f, f, write)
					outcomes[fmt.Sprint("grant ", ok, " write ", write)]++
				}
			case op < 40:
				what = "close"
				if s := pick(c, KindOpen); s != nil {
					m.Close(s)
				}
			case op < 50:
				what = "delegreturn"
				if s := pick(c, KindDeleg); s != nil {
					outcomes[fmt.Sprint("return ", m.DelegReturn(c, s))]++
				}
			case op < 57:
				what = "break"
				rec.st(m.BreakDelegations(f, c))
			case op < 60:
				what = "break write"
				outcomes[fmt.Sprint("break write ", rec.st(m.BreakWriteDelegations(f, c)))]++
			case op < 65:
				what = "recall failed"
				if len(rec.l) > 0 {
					m.RecallFailed(rec.l[rng.Intn(len(rec.l))])
				}
			case op < 75:
				what = "free"
				if s := pick(c, KindDeleg); s != nil {
					outcomes[fmt.Sprint("free ", m.FreeStateid(c, s.Stateid()))]++
				}
			case op < 80:
				what = "time passes"
				clk.Add(6 * time.Second)
				for _, o := range clients {
					o.Renew()
				}
				m.Reap()
			case op < 83:
				what = "evict"
				m.Evict(c.ID)
				clients = append(clients[:ci], clients[ci+1:]...)
			case op < 85:
				what = "new client"
				newClient()
			default:
				what = "lock"
				if open := pick(c, KindOpen); open != nil {
					if ls, st := m.LockStateFor(open, c.LockOwner("l")); st == nfs4.OK {
						_, _, st, fx := m.Lock(ls, 0, 10, rng.Intn(2) == 0, nil)
						rec.take(fx)
						outcomes[fmt.Sprint("lock ", st)]++
					}
				}
			}
			if err := m.CheckConsistency(); err != nil {
				t.Fatalf("seed %d step %d (%s): %v", seed, step, what, err)
			}
		}
		for _, c := range clients {
			m.Evict(c.ID)
		}
		if err := m.CheckConsistency(); err != nil {
			t.Fatal(err)
		}
		if st := m.Stats(); st.States != 0 || st.Files != 0 || m.Delegations() != 0 {
			t.Fatalf("seed %d: left %+v, %d delegations", seed, st, m.Delegations())
		}
		if opened.Load() != closed.Load() {
			t.Fatalf("seed %d: opened %d, closed %d", seed, opened.Load(), closed.Load())
		}
		if m.WriteDelegations() != 0 {
			t.Fatalf("seed %d: %d write delegations left", seed, m.WriteDelegations())
		}
		for _, k := range []string{"grant true write false", "grant true write true", "break write NFS4ERR_DELAY", "open NFS4ERR_DELAY", "lock NFS4ERR_DELAY", "return NFS4_OK", "return NFS4ERR_DELEG_REVOKED", "free NFS4_OK", "free NFS4ERR_LOCKS_HELD"} {
			if outcomes[k] == 0 {
				t.Errorf("seed %d never produced %q: %v", seed, k, outcomes)
			}
		}
	}
}

// TestMergeCBGetattr: what CB_GETATTR answers for a write delegation turns
// into the size and change attribute other clients see.
func TestMergeCBGetattr(t *testing.T) {
	m, _ := newTestManager(t)
	a, b := func() (*Client, *Client) {
		a, _ := confirmed41(t, m, "a")
		b, _ := confirmed41(t, m, "b")
		return a, b
	}()
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessBoth, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	sid, _, ok := m.GrantDeleg(a, "f", "f", true)
	if !ok {
		t.Fatal("no write delegation")
	}
	m.SetDelegChange(sid, 100)
	if m.WriteDelegOf("f", a) != nil {
		t.Fatal("a client's own write delegation is not asked for attributes")
	}
	d := m.WriteDelegOf("f", b)
	if d == nil {
		t.Fatal("write delegation not found")
	}
	// Unchanged (or nothing reported): the backend's values.
	if size, change := m.MergeCBGetattr(d, 10, 100, CBAttrs{HasSize: true, Size: 10, HasChange: true, Change: 100}); size != 10 || change != 100 {
		t.Fatalf("unchanged: %d %d", size, change)
	}
	if size, change := m.MergeCBGetattr(d, 10, 100, CBAttrs{}); size != 10 || change != 100 {
		t.Fatalf("nothing reported: %d %d", size, change)
	}
	// Modified by the holder: its size, a change above the backend's.
	size, c1 := m.MergeCBGetattr(d, 10, 100, CBAttrs{HasSize: true, Size: 5, HasChange: true, Change: 101})
	if size != 5 || c1 <= 100 {
		t.Fatalf("modified: %d %d", size, c1)
	}
	// Asked again with no new change: the same answer; with a new one, a
	// higher change.
	if _, c := m.MergeCBGetattr(d, 10, 100, CBAttrs{HasSize: true, Size: 5, HasChange: true, Change: 101}); c != c1 {
		t.Fatalf("same report, change %d then %d", c1, c)
	}
	if _, c := m.MergeCBGetattr(d, 10, 100, CBAttrs{HasSize: true, Size: 7, HasChange: true, Change: 102}); c <= c1 {
		t.Fatalf("new report, change %d then %d", c1, c)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}
