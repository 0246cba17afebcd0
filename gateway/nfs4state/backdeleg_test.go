package nfs4state

import (
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// closeCount is a backend delegation's file: it counts its closes.
type closeCount struct{ n atomic.Int32 }

func (c *closeCount) Close() error { c.n.Add(1); return nil }

// backedDeleg gives c an open for read of file and a delegation backed by
// a backend file.
func backedDeleg(t *testing.T, m *Manager, c *Client, file string) (*State, *closeCount) {
	t.Helper()
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: c.OpenOwner("o-" + file), FileKey: file, FH: file, Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	if _, ok := m.CanGrantDeleg(c, file, false); !ok {
		t.Fatal("CanGrantDeleg says no")
	}
	cc := &closeCount{}
	_, s, _, ok := m.GrantBackedDeleg(c, file, file, false, cc)
	if !ok {
		t.Fatal("no delegation granted")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	return s, cc
}

func wantClosed(t *testing.T, what string, m *Manager, cc *closeCount) {
	t.Helper()
	if n := cc.n.Load(); n != 1 {
		t.Fatalf("%s: backend file closed %d times, want once", what, n)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBackedDelegationEnds: a delegation's backend file is closed exactly
// once however the delegation ends: DELEGRETURN, revocation by the reaper
// or at once, the expiry of a courtesy client, the client's destruction.
func TestBackedDelegationEnds(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	m := NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 7})
	var rec recallLog
	a, _ := confirmed41(t, m, "a")
	b, _ := confirmed41(t, m, "b")

	s, cc := backedDeleg(t, m, a, "ret")
	if m.BackedDelegations() != 1 {
		t.Fatalf("%d backed delegations", m.BackedDelegations())
	}
	mustStatus(t, "DELEGRETURN", m.DelegReturn(a, s), nfs4.OK)
	wantClosed(t, "DELEGRETURN", m, cc)

	// A backend recall recalls as a conflict would; unanswered, the
	// reaper revokes (¾ lease for 4.1) and the file goes at once, not at
	// FREE_STATEID.
	s, cc = backedDeleg(t, m, a, "late")
	rec.take(m.Recall(s))
	rec.take(m.Recall(s)) // once only
	if rec.n() != 1 {
		t.Fatalf("%d recalls, want 1", rec.n())
	}
	clk.Add(8 * time.Second)
	a.Renew()
	b.Renew()
	m.Reap()
	if !s.IsRevoked() {
		t.Fatal("not revoked after ¾ lease")
	}
	wantClosed(t, "reaper", m, cc)
	mustStatus(t, "FREE_STATEID", m.FreeStateid(a, nfs4.Stateid{Other: s.Other}), nfs4.OK)
	wantClosed(t, "FREE_STATEID after revocation", m, cc)

	// Revoke, as the backend's deadline does.
	s, cc = backedDeleg(t, m, a, "now")
	m.Revoke(s)
	wantClosed(t, "Revoke", m, cc)
	m.Revoke(s)
	wantClosed(t, "second Revoke", m, cc)
	m.FreeStateid(a, nfs4.Stateid{Other: s.Other})

	// A 4.0 client's revoked delegation simply goes.
	c40, _, _ := setupOpen40(t, m)
	cc40 := &closeCount{}
	_, s40, _, ok := m.GrantBackedDeleg(c40, "f", "f", false, cc40)
	if !ok {
		t.Fatal("no 4.0 delegation")
	}
	m.Revoke(s40)
	wantClosed(t, "4.0 revoke", m, cc40)

	// A backend recall of a courtesy client's delegation expires it.
	s, cc = backedDeleg(t, m, a, "courtesy")
	before := rec.n()
	clk.Add(11 * time.Second)
	b.Renew()
	if !m.IsCourtesy(a) {
		t.Fatal("a is not a courtesy client")
	}
	fx := m.Recall(s)
	rec.take(fx)
	if !a.Expired() || rec.n() != before {
		t.Fatalf("courtesy holder: expired %v, %d recalls sent", a.Expired(), rec.n()-before)
	}
	if len(fx.Of(Gone)) != 1 || fx.Of(Gone)[0].Client != a {
		t.Fatalf("courtesy holder's expiry: effects %v, want a gone", fx)
	}
	wantClosed(t, "courtesy expiry", m, cc)

	// Destruction.
	s, cc = backedDeleg(t, m, b, "evict")
	m.Evict(b.ID)
	wantClosed(t, "eviction", m, cc)
	if m.BackedDelegations() != 0 {
		t.Fatalf("%d backed delegations left", m.BackedDelegations())
	}
	_ = s
}

// TestOpenConflictBacked: before an OPEN opens its backend file, others'
// conflicting delegations and, for an open for write, the client's own
// backed ones are recalled (NFS4ERR_DELAY); readers pass.
func TestOpenConflictBacked(t *testing.T) {
	m, _ := newTestManager(t)
	var rec recallLog
	a, _ := confirmed41(t, m, "a")
	b, _ := confirmed41(t, m, "b")
	backedDeleg(t, m, a, "f")
	mustStatus(t, "a reads", rec.st(m.OpenConflict("f", a, nfs4.ShareAccessRead, 0)), nfs4.OK)
	mustStatus(t, "b reads", rec.st(m.OpenConflict("f", b, nfs4.ShareAccessRead, 0)), nfs4.OK)
	if rec.n() != 0 {
		t.Fatal("a reader recalled")
	}
	mustStatus(t, "a writes", rec.st(m.OpenConflict("f", a, nfs4.ShareAccessBoth, 0)), nfs4.ErrDelay)
	mustStatus(t, "b writes", rec.st(m.OpenConflict("f", b, nfs4.ShareAccessWrite, 0)), nfs4.ErrDelay)
	if rec.n() != 1 {
		t.Fatalf("%d recalls, want 1", rec.n())
	}
	// Without a backend file, the holder's own write open is no conflict
	// (as before backend delegations).
	var closed atomic.Int32
	_, _, st, fx := m.Open(OpenRequest{Owner: a.OpenOwner("og"), FileKey: "g", FH: "g", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	rec.take(fx)
	mustStatus(t, "open g", st, nfs4.OK)
	if _, _, ok := m.GrantReadDeleg(a, "g", "g"); !ok {
		t.Fatal("no delegation on g")
	}
	mustStatus(t, "a writes g", rec.st(m.OpenConflict("g", a, nfs4.ShareAccessWrite, 0)), nfs4.OK)
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}
