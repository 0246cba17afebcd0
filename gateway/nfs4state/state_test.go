package nfs4state

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fakeFile struct {
	closed *atomic.Int32
}

func (f fakeFile) ReadAt(_ context.Context, p []byte, off uint64) (int, bool, error) {
	return 0, true, nil
}
func (f fakeFile) WriteAt(_ context.Context, p []byte, off uint64) (int, error) {
	return len(p), nil
}
func (f fakeFile) Sync(context.Context, bool) error { return nil }
func (f fakeFile) Close() error                     { f.closed.Add(1); return nil }

func newTestManager(t *testing.T) (*Manager, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	return NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 7, MaxStatesPerClient: 4}), clk
}

func mustStatus(t *testing.T, what string, got, want nfs4.Status) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: status %d, want %d", what, got, want)
	}
}

// confirmed41 creates a confirmed 4.1 client with one session.
func confirmed41(t *testing.T, m *Manager, owner string) (*Client, *Session) {
	t.Helper()
	res, st, _ := m.ExchangeID(owner, [8]byte{1}, "sys:0", false, "")
	mustStatus(t, "EXCHANGE_ID", st, nfs4.OK)
	s, _, st, _ := m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 4}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "CREATE_SESSION", st, nfs4.OK)
	if !res.Client.Confirmed() {
		t.Fatal("client not confirmed by CREATE_SESSION")
	}
	return res.Client, s
}

func TestSetClientIDFlow(t *testing.T) {
	m, _ := newTestManager(t)
	c, st := m.SetClientID("owner", [8]byte{1}, "sys:1", CallbackInfo{}, "")
	mustStatus(t, "SETCLIENTID", st, nfs4.OK)
	if _, st := m.Client(c.ID); st != nfs4.ErrStaleClientid {
		t.Fatalf("unconfirmed client usable: %d", st)
	}
	mustStatus(t, "confirm with wrong verifier", first(m.SetClientIDConfirm(c.ID, [8]byte{9}, "sys:1")), nfs4.ErrStaleClientid)
	mustStatus(t, "confirm", first(m.SetClientIDConfirm(c.ID, c.Confirm, "sys:1")), nfs4.OK)
	mustStatus(t, "confirm replay", first(m.SetClientIDConfirm(c.ID, c.Confirm, "sys:1")), nfs4.OK)
	if _, st := m.Client(c.ID); st != nfs4.OK {
		t.Fatalf("confirmed client not found: %d", st)
	}
	// Same verifier: callback update keeps the id.
	u, st := m.SetClientID("owner", [8]byte{1}, "sys:1", CallbackInfo{Addr: "new"}, "")
	mustStatus(t, "SETCLIENTID update", st, nfs4.OK)
	if u.ID != c.ID {
		t.Fatalf("callback update changed the id")
	}
	mustStatus(t, "confirm update", first(m.SetClientIDConfirm(u.ID, u.Confirm, "sys:1")), nfs4.OK)
	if c.Callback.Addr != "new" {
		t.Fatalf("callback not updated: %+v", c.Callback)
	}
	// New verifier (client reboot): new id, old record destroyed on confirm.
	r, st := m.SetClientID("owner", [8]byte{2}, "sys:1", CallbackInfo{}, "")
	mustStatus(t, "SETCLIENTID reboot", st, nfs4.OK)
	if r.ID == c.ID {
		t.Fatal("rebooted client kept its id")
	}
	mustStatus(t, "confirm reboot", first(m.SetClientIDConfirm(r.ID, r.Confirm, "sys:1")), nfs4.OK)
	if !c.Expired() {
		t.Fatal("old record survived the client's reboot")
	}
	if m.StaleClientID(r.ID) || !m.StaleClientID(1) {
		t.Fatal("stale client id detection")
	}
}

func TestSetClientIDInUse(t *testing.T) {
	m, _ := newTestManager(t)
	c, _, _ := setupOpen40(t, m)
	_, st := m.SetClientID(c.Owner, [8]byte{5}, "sys:999", CallbackInfo{}, "")
	mustStatus(t, "other principal", st, nfs4.ErrClidInuse)
}

func setupOpen40(t *testing.T, m *Manager) (*Client, *OpenOwner, nfs4.Stateid) {
	t.Helper()
	c, _ := m.SetClientID("o40", [8]byte{1}, "sys:1", CallbackInfo{}, "")
	mustStatus(t, "confirm", first(m.SetClientIDConfirm(c.ID, c.Confirm, "sys:1")), nfs4.OK)
	o := c.OpenOwner("oo")
	var closed atomic.Int32
	_, sid, st, _ := m.Open(OpenRequest{Owner: o, FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "open", st, nfs4.OK)
	return c, o, sid
}

func TestExchangeIDCases(t *testing.T) {
	m, _ := newTestManager(t)
	// Update of a record that does not exist.
	_, st, _ := m.ExchangeID("x", [8]byte{1}, "p", true, "")
	mustStatus(t, "update missing", st, nfs4.ErrNoent)
	c, _ := confirmed41(t, m, "x")
	// Non-update with the same verifier and principal: same record.
	res, st, _ := m.ExchangeID("x", [8]byte{1}, "sys:0", false, "")
	mustStatus(t, "repeat", st, nfs4.OK)
	if res.Client != c || !res.Confirmed {
		t.Fatal("repeat EXCHANGE_ID did not return the confirmed record")
	}
	_, st, _ = m.ExchangeID("x", [8]byte{2}, "sys:0", true, "")
	mustStatus(t, "update with other verifier", st, nfs4.ErrNotSame)
	_, st, _ = m.ExchangeID("x", [8]byte{1}, "sys:5", true, "")
	mustStatus(t, "update with other principal", st, nfs4.ErrPerm)
	_, st, _ = m.ExchangeID("x", [8]byte{1}, "sys:5", false, "")
	mustStatus(t, "other principal with state", st, nfs4.ErrClidInuse)
	// Reboot: new verifier gives a new unconfirmed record; confirming it
	// destroys the old one.
	res, st, _ = m.ExchangeID("x", [8]byte{3}, "sys:0", false, "")
	mustStatus(t, "reboot", st, nfs4.OK)
	if res.Client == c || res.Confirmed {
		t.Fatal("reboot returned the old record")
	}
	_, _, st, _ = m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "create session", st, nfs4.OK)
	if !c.Expired() {
		t.Fatal("old record survived")
	}
}

func TestCreateSessionSequencing(t *testing.T) {
	m, _ := newTestManager(t)
	res, _, _ := m.ExchangeID("cs", [8]byte{1}, "sys:0", false, "")
	_, _, st, _ := m.CreateSession(res.Client.ID, res.Sequence+1, "sys:0", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "misordered", st, nfs4.ErrSeqMisordered)
	_, _, st, _ = m.CreateSession(res.Client.ID, res.Sequence, "sys:9", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "other principal on an unconfirmed record", st, nfs4.ErrClidInuse)
	s, _, st, _ := m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "first", st, nfs4.OK)
	res.Client.SetCreateSessionReply(res.Sequence, []byte("reply"))
	_, replay, st, _ := m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "replay", st, nfs4.OK)
	if string(replay) != "reply" {
		t.Fatalf("replay = %q", replay)
	}
	_, _, st, _ = m.CreateSession(res.Client.ID, res.Sequence+1, "sys:9", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "other principal on a confirmed record", st, nfs4.OK)
	_, _, st, _ = m.CreateSession(1, 1, "sys:0", ChannelAttrs{MaxRequests: 1}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "stale client", st, nfs4.ErrStaleClientid)
	mustStatus(t, "destroy clientid with session", first(m.DestroyClientID(res.Client.ID)), nfs4.ErrClientidBusy)
	mustStatus(t, "destroy session", m.DestroySession(s.ID), nfs4.OK)
	for _, other := range m.Clients() {
		for id := range other.sessions {
			m.DestroySession(id)
		}
	}
	mustStatus(t, "destroy session twice", m.DestroySession(s.ID), nfs4.ErrBadsession)
	mustStatus(t, "destroy clientid", first(m.DestroyClientID(res.Client.ID)), nfs4.OK)
}

func TestSequenceSlots(t *testing.T) {
	m, _ := newTestManager(t)
	_, s := confirmed41(t, m, "seq")
	_, st := s.Sequence(4, 1)
	mustStatus(t, "bad slot", st, nfs4.ErrBadslot)
	_, st = s.Sequence(0, 2)
	mustStatus(t, "skipped seqid", st, nfs4.ErrSeqMisordered)
	_, st = s.Sequence(0, 1)
	mustStatus(t, "first", st, nfs4.OK)
	_, st = s.Sequence(0, 1)
	mustStatus(t, "retry while in progress", st, nfs4.ErrDelay)
	s.Finish(0, []byte("cached"), true)
	res, st := s.Sequence(0, 1)
	mustStatus(t, "retry", st, nfs4.OK)
	if string(res.Replay) != "cached" {
		t.Fatalf("replay = %q", res.Replay)
	}
	_, st = s.Sequence(0, 2)
	mustStatus(t, "next", st, nfs4.OK)
	s.Finish(0, nil, false)
	_, st = s.Sequence(0, 2)
	mustStatus(t, "retry of uncached", st, nfs4.ErrRetryUncachedRep)
	_, st = s.Sequence(0, 0xffffffff)
	mustStatus(t, "old seqid", st, nfs4.ErrSeqMisordered)
}

func TestShareReservations(t *testing.T) {
	m, _ := newTestManager(t)
	c, _ := confirmed41(t, m, "share")
	var closed atomic.Int32
	f := func() fsal.File { return fakeFile{&closed} }
	a, b := c.OpenOwner("a"), c.OpenOwner("b")
	sa, sid0, st, _ := m.Open(OpenRequest{Owner: a, FileKey: "k", FH: "k", Access: nfs4.ShareAccessRead, File: f()})
	mustStatus(t, "open a", st, nfs4.OK)
	// A second OPEN by the same owner upgrades the same stateid.
	s1, sid, st, _ := m.Open(OpenRequest{Owner: a, FileKey: "k", FH: "k", Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyWrite, File: f()})
	mustStatus(t, "upgrade deny", st, nfs4.OK)
	if s1 != sa || sid.Other != sid0.Other || sid.Seqid != sid0.Seqid+1 {
		t.Fatalf("upgrade: %v -> %v", sid0, sid)
	}
	_, _, st, _ = m.Open(OpenRequest{Owner: b, FileKey: "k", FH: "k", Access: nfs4.ShareAccessWrite, File: f()})
	mustStatus(t, "write against deny-write", st, nfs4.ErrShareDenied)
	_, _, st, _ = m.Open(OpenRequest{Owner: b, FileKey: "k", FH: "k", Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyRead, File: f()})
	mustStatus(t, "deny-read against reader", st, nfs4.ErrShareDenied)
	// The owner's own deny binds it too.
	_, _, st, _ = m.Open(OpenRequest{Owner: a, FileKey: "k", FH: "k", Access: nfs4.ShareAccessWrite, File: f()})
	mustStatus(t, "write against own deny-write", st, nfs4.ErrShareDenied)
	if closed.Load() != 4 {
		t.Fatalf("closed %d backend files, want 4 (3 refused, 1 replaced by the upgrade)", closed.Load())
	}
	s2, sid2, st, _ := m.Open(OpenRequest{Owner: a, FileKey: "k", FH: "k", Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyWrite, File: f()})
	mustStatus(t, "repeat open", st, nfs4.OK)
	if s2 != sa || sid2.Seqid != sid.Seqid+1 {
		t.Fatalf("repeat open: %v -> %v", sid, sid2)
	}
	if acc, deny := sa.Access(); acc != nfs4.ShareAccessRead || deny != nfs4.ShareDenyWrite {
		t.Fatalf("access after upgrades = %d/%d", acc, deny)
	}
	_, st = m.LookupState(sid, "k", 0)
	mustStatus(t, "old seqid", st, nfs4.ErrOldStateid)
	_, st = m.LookupState(nfs4.Stateid{Seqid: sid2.Seqid + 1, Other: sid.Other}, "k", 0)
	mustStatus(t, "future seqid", st, nfs4.ErrBadStateid)
	_, st = m.LookupState(sid2, "other-file", 0)
	mustStatus(t, "wrong file", st, nfs4.ErrBadStateid)
	_, st = m.LookupState(nfs4.Stateid{Other: sid.Other}, "k", 1)
	mustStatus(t, "4.1 seqid 0", st, nfs4.OK)
	_, st = m.Downgrade(sa, nfs4.ShareAccessBoth, nfs4.ShareDenyBoth)
	mustStatus(t, "downgrade to more", st, nfs4.ErrInval)
	_, st = m.Downgrade(sa, nfs4.ShareAccessRead, nfs4.ShareDenyRead)
	mustStatus(t, "downgrade to a deny never opened", st, nfs4.ErrInval)
	_, st = m.Downgrade(sa, nfs4.ShareAccessRead, nfs4.ShareDenyNone)
	mustStatus(t, "downgrade", st, nfs4.OK)
	if first(m.DenyConflict("k", nfs4.ShareAccessWrite)) {
		t.Fatal("deny survived downgrade")
	}
	mustStatus(t, "free open stateid", m.FreeStateid(c, sid2), nfs4.ErrLocksHeld)
	m.Close(sa)
	_, st = m.LookupState(sid2, "k", 0)
	mustStatus(t, "after close", st, nfs4.ErrBadStateid)
	if got := closed.Load(); got != 6 {
		t.Fatalf("closed %d backend files, want 6 (3 refused, 2 replaced by upgrades, 1 closed)", got)
	}
	if st := m.Stats(); st.States != 0 || st.Files != 0 {
		t.Fatalf("leftover state: %+v", st)
	}
}

func TestStaleStateidFromEarlierBoot(t *testing.T) {
	m, _ := newTestManager(t)
	other := [12]byte{0, 0, 0, 6, 1}
	_, st := m.LookupState(nfs4.Stateid{Seqid: 1, Other: other}, "", 0)
	mustStatus(t, "4.0", st, nfs4.ErrStaleStateid)
	_, st = m.LookupState(nfs4.Stateid{Seqid: 1, Other: other}, "", 1)
	mustStatus(t, "4.1", st, nfs4.ErrBadStateid)
}

func TestStateLimit(t *testing.T) {
	m, _ := newTestManager(t)
	c, _ := confirmed41(t, m, "limit")
	var closed atomic.Int32
	o := c.OpenOwner("o")
	for i := 0; i < 4; i++ {
		_, _, st, _ := m.Open(OpenRequest{Owner: o, FileKey: string(rune('a' + i)), Access: 1, File: fakeFile{&closed}})
		mustStatus(t, "open", st, nfs4.OK)
	}
	_, _, st, _ := m.Open(OpenRequest{Owner: o, FileKey: "z", Access: 1, File: fakeFile{&closed}})
	mustStatus(t, "open beyond limit", st, nfs4.ErrResource)
}

func TestLeaseExpiry(t *testing.T) {
	m, clk := newTestManager(t)
	c, s := confirmed41(t, m, "lease")
	var closed atomic.Int32
	_, sid, _, _ := m.Open(OpenRequest{Owner: c.OpenOwner("o"), FileKey: "k", Access: 1, File: fakeFile{&closed}})
	clk.Add(9 * time.Second)
	if first(m.Reap()) != 0 {
		t.Fatal("reaped a client within its lease")
	}
	_, st := s.Sequence(0, 1) // renews
	mustStatus(t, "sequence", st, nfs4.OK)
	c.Begin() // as the engine does for the COMPOUND's duration
	clk.Add(11 * time.Second)
	if first(m.Reap()) != 0 {
		t.Fatal("reaped a client with a request in progress")
	}
	s.Finish(0, nil, false)
	c.End()
	clk.Add(11 * time.Second)
	if first(m.Reap()) != 0 || !m.IsCourtesy(c) {
		t.Fatal("a client with state was not kept as a courtesy client")
	}
	clk.Add(defaultCourtesyLeases * 10 * time.Second)
	if first(m.Reap()) != 1 {
		t.Fatal("expired client not reaped after the courtesy period")
	}
	if closed.Load() != 1 {
		t.Fatal("expired client's file not closed")
	}
	_, st = m.Session(s.ID)
	mustStatus(t, "session of expired client", st, nfs4.ErrBadsession)
	_, st = m.LookupState(sid, "k", 1)
	mustStatus(t, "stateid of expired client", st, nfs4.ErrExpired)
	if st := m.Stats(); st != (Stats{}) {
		t.Fatalf("leftover state: %+v", st)
	}
}

func TestOpenOwnerSeqid(t *testing.T) {
	m, _ := newTestManager(t)
	_, o, _ := setupOpen40(t, m)
	o.Mu.Lock()
	defer o.Mu.Unlock()
	if _, st := o.SeqCheck(5, nfs4.OpOpen); st != nfs4.OK {
		t.Fatal("first seqid refused")
	}
	o.SeqAdvance(5, nfs4.OpOpen, nfs4.OK, []byte{0, 0, 0, 0, 1})
	if r, st := o.SeqCheck(5, nfs4.OpOpen); st != nfs4.OK || len(r) != 5 {
		t.Fatalf("replay not recognised: %v %d", r, st)
	}
	if _, st := o.SeqCheck(5, nfs4.OpClose); st != nfs4.ErrBadSeqid {
		t.Fatal("replay of another op accepted")
	}
	if _, st := o.SeqCheck(7, nfs4.OpOpen); st != nfs4.ErrBadSeqid {
		t.Fatal("skipped seqid accepted")
	}
	o.SeqAdvance(6, nfs4.OpOpen, nfs4.ErrBadStateid, nil)
	if _, st := o.SeqCheck(6, nfs4.OpOpen); st != nfs4.OK {
		t.Fatal("seqid advanced on an exempt error")
	}
}

// TestConcurrentClients runs many clients opening and closing at once, for
// the race detector and to check that nothing leaks.
func TestConcurrentClients(t *testing.T) {
	m := NewManager(Config{Boot: 3})
	var wg sync.WaitGroup
	var closed atomic.Int32
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			owner := string(rune('A' + i))
			res, _, _ := m.ExchangeID(owner, [8]byte{1}, "sys:0", false, "")
			s, _, st, _ := m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 2}, ChannelAttrs{}, 0, 0)
			if st != nfs4.OK {
				t.Error("create session", st)
				return
			}
			o := res.Client.OpenOwner("o")
			for j := 0; j < 200; j++ {
				st, _, code, _ := m.Open(OpenRequest{Owner: o, FileKey: "shared", FH: "shared", Access: 1, File: fakeFile{&closed}})
				if code != nfs4.OK {
					t.Error("open", code)
					return
				}
				m.Close(st)
			}
			m.DestroySession(s.ID)
			m.DestroyClientID(res.Client.ID)
		}(i)
	}
	wg.Wait()
	if closed.Load() != 32*200 {
		t.Fatalf("closed %d files, want %d", closed.Load(), 32*200)
	}
	if st := m.Stats(); st != (Stats{}) {
		t.Fatalf("leftover state: %+v", st)
	}
}
