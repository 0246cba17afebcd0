package nfs4state

import (
	"errors"
	"math"
	"sync/atomic"
	"testing"

	"nfsgw/gateway/nfs4"
)

func lockSetup(t *testing.T) (*Manager, *State, *State, *LockOwner, *LockOwner) {
	t.Helper()
	m, _ := newTestManager(t)
	c, _ := confirmed41(t, m, "locker")
	var closed atomic.Int32
	o := c.OpenOwner("o")
	open, _, st, _ := m.Open(OpenRequest{Owner: o, FileKey: "f", FH: "f", Access: nfs4.ShareAccessBoth, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	a, b := c.LockOwner("a"), c.LockOwner("b")
	la, st := m.LockStateFor(open, a)
	mustStatus(t, "lock state a", st, nfs4.OK)
	lb, st := m.LockStateFor(open, b)
	mustStatus(t, "lock state b", st, nfs4.OK)
	return m, la, lb, a, b
}

func TestLockConflicts(t *testing.T) {
	m, la, lb, a, b := lockSetup(t)
	sid, _, st, _ := m.Lock(la, 0, 99, true, nil)
	mustStatus(t, "write lock", st, nfs4.OK)
	if sid.Seqid != 1 {
		t.Fatalf("seqid %d", sid.Seqid)
	}
	_, denied, st, _ := m.Lock(lb, 50, 60, false, nil)
	mustStatus(t, "read over write", st, nfs4.ErrDenied)
	if denied.Offset != 0 || denied.Length != 100 || !denied.Write || denied.Owner != "a" {
		t.Fatalf("denied %+v", denied)
	}
	_, _, st, _ = m.Lock(lb, 100, math.MaxUint64, true, nil)
	mustStatus(t, "adjacent range", st, nfs4.OK)
	if d := first(m.Test("f", b, 10, 10, false)); d == nil {
		t.Fatal("LOCKT found no conflict")
	}
	if d := first(m.Test("f", a, 10, 10, true)); d != nil {
		t.Fatal("LOCKT conflicts with the owner's own lock")
	}
	// Downgrade a's lock to read: then b may read-lock inside it.
	_, _, st, _ = m.Lock(la, 0, 99, false, nil)
	mustStatus(t, "downgrade", st, nfs4.OK)
	_, _, st, _ = m.Lock(lb, 10, 20, false, nil)
	mustStatus(t, "read next to read", st, nfs4.OK)
	// Upgrade a back to write now conflicts with b's read lock.
	_, _, st, _ = m.Lock(la, 0, 99, true, nil)
	mustStatus(t, "upgrade against reader", st, nfs4.ErrDenied)
	// Unlock the middle of a's range splits it.
	_, st = m.Unlock(la, 40, 59, nil)
	mustStatus(t, "unlock middle", st, nfs4.OK)
	_, _, st, _ = m.Lock(lb, 40, 59, true, nil)
	mustStatus(t, "write in the hole", st, nfs4.OK)
	_, _, st, _ = m.Lock(lb, 39, 39, true, nil)
	mustStatus(t, "write on the remaining left part", st, nfs4.ErrDenied)
	mustStatus(t, "release owner with locks", m.ReleaseLockOwner(a.Client, "a"), nfs4.ErrLocksHeld)
	mustStatus(t, "free lock stateid with locks", m.FreeStateid(la.Client, la.Stateid()), nfs4.ErrLocksHeld)
	_, st = m.Unlock(la, 0, math.MaxUint64, nil)
	mustStatus(t, "unlock all", st, nfs4.OK)
	mustStatus(t, "release owner", m.ReleaseLockOwner(a.Client, "a"), nfs4.OK)
	_, st = m.LookupState(la.Stateid(), "f", 1)
	mustStatus(t, "released lock stateid", st, nfs4.ErrBadStateid)
}

func TestLockRangeEnd(t *testing.T) {
	for _, c := range []struct {
		off, length, end uint64
		st               nfs4.Status
	}{
		{0, 1, 0, nfs4.OK},
		{10, 0, 0, nfs4.ErrInval},
		{5, math.MaxUint64, math.MaxUint64, nfs4.OK},
		{math.MaxUint64, 2, 0, nfs4.ErrInval},
		{1, math.MaxUint64 - 1, math.MaxUint64 - 1, nfs4.OK},
	} {
		end, st := RangeEnd(c.off, c.length)
		if st != c.st || (st == nfs4.OK && end != c.end) {
			t.Errorf("RangeEnd(%d, %d) = %d, %d", c.off, c.length, end, st)
		}
	}
}

func TestCloseReleasesLocks(t *testing.T) {
	m, la, lb, _, _ := lockSetup(t)
	m.Lock(la, 0, 10, true, nil)
	m.Close(la.Open)
	if _, st := m.LookupState(lb.Stateid(), "f", 1); st != nfs4.ErrBadStateid {
		t.Fatal("lock state survived its open")
	}
	if st := m.Stats(); st.States != 0 || st.Files != 0 {
		t.Fatalf("leftover: %+v", st)
	}
}

func TestBackendLockRefusal(t *testing.T) {
	m, la, _, _, _ := lockSetup(t)
	_, denied, st, _ := m.Lock(la, 0, 10, true, func() error { return ErrWouldBlock })
	mustStatus(t, "backend conflict", st, nfs4.ErrDenied)
	if denied == nil {
		t.Fatal("no denial details")
	}
	_, _, st, _ = m.Lock(la, 0, 10, true, func() error { return errors.New("io") })
	mustStatus(t, "backend failure", st, nfs4.ErrServerfault)
	if la.HoldsLocks() {
		t.Fatal("refused lock recorded")
	}
}

func TestLockLimit(t *testing.T) {
	m, la, _, _, _ := lockSetup(t)
	m.cfg.MaxLocksPerFile = 3
	for i := uint64(0); i < 3; i++ {
		_, _, st, _ := m.Lock(la, i*10, i*10+1, true, nil)
		mustStatus(t, "lock", st, nfs4.OK)
	}
	_, _, st, _ := m.Lock(la, 100, 101, true, nil)
	mustStatus(t, "lock beyond the limit", st, nfs4.ErrResource)
}

// TestLockReservation: between ReserveLock and Commit (while the backend
// call runs, with no state lock held) the file's state stays usable, a
// conflicting request of another owner and any request of the same lock
// state answer NFS4ERR_DELAY, and the reserved range is granted only by
// Commit.
func TestLockReservation(t *testing.T) {
	m, la, lb, _, b := lockSetup(t)
	call, _, st, _ := m.ReserveLock(la, 0, 99, true)
	mustStatus(t, "reserve", st, nfs4.OK)
	if _, deny := la.Open.Access(); deny != 0 {
		t.Fatalf("deny %d", deny)
	}
	if f, done := la.Open.AcquireFile(); f == nil {
		t.Fatal("the open's file is unavailable while a lock is reserved")
	} else {
		done()
	}
	if la.HoldsLocks() {
		t.Fatal("a reserved lock is held before Commit")
	}
	_, _, st, _ = m.Lock(lb, 50, 60, false, nil)
	mustStatus(t, "read lock over a reserved write lock", st, nfs4.ErrDelay)
	_, _, st, _ = m.Lock(lb, 100, 110, true, nil)
	mustStatus(t, "lock next to a reservation", st, nfs4.OK)
	_, _, st, _ = m.Lock(la, 200, 210, true, nil)
	mustStatus(t, "second lock of a state in flight", st, nfs4.ErrDelay)
	_, st = m.Unlock(la, 0, 10, nil)
	mustStatus(t, "unlock of a state with a lock in flight", st, nfs4.ErrDelay)
	if d := first(m.Test("f", b, 0, 10, true)); d != nil {
		t.Fatalf("LOCKT sees a reservation: %+v", d)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	sid, _, st := m.Commit(call, nil)
	mustStatus(t, "commit", st, nfs4.OK)
	if sid.Seqid != 1 || !la.HoldsLocks() {
		t.Fatalf("after commit: seqid %d, held %v", sid.Seqid, la.HoldsLocks())
	}
	_, _, st, _ = m.Lock(lb, 50, 60, false, nil)
	mustStatus(t, "read lock over the granted write lock", st, nfs4.ErrDenied)
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestLockReservationOfClosedState: a state closed while its backend call
// runs gets NFS4ERR_BAD_STATEID from Commit, and its backend file (which
// carries the backend lock) is closed once the call lets go of it, not
// under it.
func TestLockReservationOfClosedState(t *testing.T) {
	m, la, _, _, _ := lockSetup(t)
	var closed atomic.Int32
	if !la.SetLockFile(fakeFile{&closed}) {
		t.Fatal("SetLockFile")
	}
	call, _, st, _ := m.ReserveLock(la, 0, 9, true)
	mustStatus(t, "reserve", st, nfs4.OK)
	if call.File() == nil {
		t.Fatal("no backend file to lock")
	}
	m.Close(la.Open)
	if n := closed.Load(); n != 0 {
		t.Fatal("the lock file was closed under its backend call")
	}
	_, _, st = m.Commit(call, nil)
	mustStatus(t, "commit after close", st, nfs4.ErrBadStateid)
	if n := closed.Load(); n != 1 {
		t.Fatalf("lock file closed %d times, want 1", n)
	}
	if s := m.Stats(); s.States != 0 || s.Files != 0 {
		t.Fatalf("leftover: %+v", s)
	}
}

// TestUnlockReservation: LOCKU releases the backend lock first, the state
// model's after, whatever the backend answered.
func TestUnlockReservation(t *testing.T) {
	m, la, lb, _, _ := lockSetup(t)
	_, _, st, _ := m.Lock(la, 0, 99, true, nil)
	mustStatus(t, "lock", st, nfs4.OK)
	call, st := m.ReserveUnlock(la, 0, 99)
	mustStatus(t, "reserve unlock", st, nfs4.OK)
	_, _, st, _ = m.Lock(lb, 0, 9, true, nil)
	mustStatus(t, "lock while the unlock runs", st, nfs4.ErrDenied)
	_, _, st = m.Commit(call, errors.New("backend unlock failed"))
	mustStatus(t, "commit unlock", st, nfs4.OK)
	_, _, st, _ = m.Lock(lb, 0, 9, true, nil)
	mustStatus(t, "lock after the unlock", st, nfs4.OK)
}
