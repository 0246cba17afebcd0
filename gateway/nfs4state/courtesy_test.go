package nfs4state

import (
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// TestCourtesyShareConflict: an expired client's deny reservation holds
// until another client's OPEN runs into it, which expires the courtesy
// client and succeeds; a non-conflicting OPEN leaves it alone.
func TestCourtesyShareConflict(t *testing.T) {
	m, clk := newTestManager(t)
	a, _ := confirmed41(t, m, "a")
	b, _ := confirmed41(t, m, "b")
	var closed atomic.Int32
	_, sid, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("oa"), FileKey: "f", FH: "f",
		Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyWrite, File: fakeFile{&closed}})
	mustStatus(t, "open a", st, nfs4.OK)
	_, _, st, _ = m.Open(OpenRequest{Owner: b.OpenOwner("ob"), FileKey: "f", FH: "f",
		Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	mustStatus(t, "conflicting open while a is live", st, nfs4.ErrShareDenied)

	clk.Add(11 * time.Second)
	b.Renew()
	if first(m.Reap()) != 0 || !m.IsCourtesy(a) {
		t.Fatal("a is not a courtesy client")
	}
	// A read open does not conflict: a keeps its state.
	_, _, st, _ = m.Open(OpenRequest{Owner: b.OpenOwner("ob"), FileKey: "f", FH: "f",
		Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "read open", st, nfs4.OK)
	if a.Expired() {
		t.Fatal("a non-conflicting open expired the courtesy client")
	}
	// A write open does: a goes, b gets its open.
	_, _, st, _ = m.Open(OpenRequest{Owner: b.OpenOwner("ob"), FileKey: "f", FH: "f",
		Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	mustStatus(t, "conflicting open with a courtesy", st, nfs4.OK)
	if !a.Expired() || m.CourtesyExpired() != 1 {
		t.Fatal("the conflict did not expire the courtesy client")
	}
	_, st = m.LookupState(sid, "f", 1)
	mustStatus(t, "stateid of the expired courtesy client", st, nfs4.ErrExpired)
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestCourtesyLockConflict: LOCKT and LOCK by another client expire a
// courtesy client whose lock is in the way; a courtesy client that comes
// back first keeps its lock.
func TestCourtesyLockConflict(t *testing.T) {
	m, clk := newTestManager(t)
	a, _ := confirmed41(t, m, "a")
	b, _ := confirmed41(t, m, "b")
	var closed atomic.Int32
	lockOn := func(c *Client, file string) *State {
		t.Helper()
		open, _, st, _ := m.Open(OpenRequest{Owner: c.OpenOwner("o"), FileKey: file, FH: file,
			Access: nfs4.ShareAccessBoth, File: fakeFile{&closed}})
		mustStatus(t, "open", st, nfs4.OK)
		ls, st := m.LockStateFor(open, c.LockOwner("l"))
		mustStatus(t, "lock state", st, nfs4.OK)
		return ls
	}
	la, lb := lockOn(a, "f"), lockOn(b, "f")
	_, _, st, _ := m.Lock(la, 0, 99, true, nil)
	mustStatus(t, "lock a", st, nfs4.OK)

	// a's lease runs out and it comes back: still its lock.
	clk.Add(11 * time.Second)
	b.Renew()
	m.Reap()
	if !m.IsCourtesy(a) {
		t.Fatal("a is not a courtesy client")
	}
	a.Renew()
	if m.IsCourtesy(a) {
		t.Fatal("a renewed and is still courtesy")
	}
	_, _, st, _ = m.Lock(lb, 50, 60, false, nil)
	mustStatus(t, "lock b against a live client", st, nfs4.ErrDenied)

	clk.Add(11 * time.Second)
	b.Renew()
	m.Reap()
	if d := first(m.Test("f", b.FindLockOwner("l"), 0, 10, false)); d != nil {
		t.Fatalf("LOCKT against a courtesy client: denied %+v", d)
	}
	if !a.Expired() {
		t.Fatal("LOCKT did not expire the courtesy client")
	}
	_, _, st, _ = m.Lock(lb, 50, 60, true, nil)
	mustStatus(t, "lock b after a went", st, nfs4.OK)
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestCourtesyDelegation: a courtesy client's delegation is not recalled
// when another client wants the file: the client is expired instead.
func TestCourtesyDelegation(t *testing.T) {
	m, clk := newTestManager(t)
	var recalls recallLog
	a, b, _, _ := delegSetup(t, m)
	clk.Add(11 * time.Second)
	b.Renew()
	m.Reap()
	mustStatus(t, "break", recalls.st(m.BreakDelegations("f", b)), nfs4.OK)
	if recalls.n() != 0 || !a.Expired() || m.Delegations() != 0 {
		t.Fatalf("recalls %d, expired %v, delegations %d", recalls.n(), a.Expired(), m.Delegations())
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestCourtesyOff: a negative Courtesy expires clients with their lease.
func TestCourtesyOff(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	m := NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 7, Courtesy: -1})
	a, _ := confirmed41(t, m, "a")
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	clk.Add(11 * time.Second)
	if first(m.Reap()) != 1 || m.IsCourtesy(a) {
		t.Fatal("courtesy though turned off")
	}
}

// TestCourtesyOwnerTakenOver: a courtesy client's owner can be taken by a
// client with another principal, which a live client with state refuses
// with NFS4ERR_CLID_INUSE.
func TestCourtesyOwnerTakenOver(t *testing.T) {
	m, clk := newTestManager(t)
	a, _ := confirmed41(t, m, "shared")
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	_, st, _ = m.ExchangeID("shared", [8]byte{2}, "sys:1", false, "")
	mustStatus(t, "EXCHANGE_ID of a live owner by another principal", st, nfs4.ErrClidInuse)
	clk.Add(11 * time.Second)
	m.Reap()
	if !m.IsCourtesy(a) {
		t.Fatal("not courtesy")
	}
	_, st, _ = m.ExchangeID("shared", [8]byte{2}, "sys:1", false, "")
	mustStatus(t, "EXCHANGE_ID of a courtesy owner by another principal", st, nfs4.OK)
	if !a.Expired() {
		t.Fatal("the courtesy client was not replaced")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}
