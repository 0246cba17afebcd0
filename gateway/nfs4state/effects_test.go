package nfs4state

import (
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// kinds lists the kinds of fx and their clients, in order, for comparison.
func kinds(fx Effects) []string {
	var out []string
	for _, e := range fx {
		s := e.Kind.String()
		if e.Client != nil {
			s += " " + e.Client.Owner
		}
		out = append(out, s)
	}
	return out
}

func wantEffects(t *testing.T, what string, fx Effects, want ...string) {
	t.Helper()
	if got := kinds(fx); !slices.Equal(got, want) {
		t.Fatalf("%s: effects %q, want %q", what, got, want)
	}
}

// TestRecallIsAnEffect: a conflicting request is refused with DELAY and
// returns the recall of the delegation in its way, once: the delegation
// is marked recalled under the file's lock, and nothing else happens
// until the caller performs the effect.
func TestRecallIsAnEffect(t *testing.T) {
	m, _ := newTestManager(t)
	a, b, _, dsid := delegSetup(t, m)
	var closed atomic.Int32
	_, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("w"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	mustStatus(t, "writer", st, nfs4.ErrDelay)
	wantEffects(t, "writer", fx, "recall a")
	if fx[0].State.Other != dsid.Other || fx[0].State.Client != a {
		t.Fatalf("recall of %+v, want the delegation %x of a", fx[0].State, dsid.Other)
	}
	// The recall is under way: later conflicts wait for it and start
	// nothing new.
	st, fx = m.BreakDelegations("f", b)
	mustStatus(t, "remove", st, nfs4.ErrDelay)
	wantEffects(t, "remove while recalled", fx)
	st, fx = m.OpenConflict("f", b, nfs4.ShareAccessWrite, 0)
	mustStatus(t, "open conflict", st, nfs4.ErrDelay)
	wantEffects(t, "open conflict while recalled", fx)
	// The holder itself conflicts with nothing.
	st, fx = m.BreakDelegations("f", a)
	mustStatus(t, "remove by the holder", st, nfs4.OK)
	wantEffects(t, "remove by the holder", fx)
}

// TestRecallFromLock: LOCK of another client recalls through the lock
// core's reservation, and reserves nothing.
func TestRecallFromLock(t *testing.T) {
	m, _ := newTestManager(t)
	_, b, _, _ := delegSetup(t, m)
	var closed atomic.Int32
	ob, _, st, fx := m.Open(OpenRequest{Owner: b.OpenOwner("r"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "reader", st, nfs4.OK)
	wantEffects(t, "reader", fx)
	ls, st := m.LockStateFor(ob, b.LockOwner("l"))
	mustStatus(t, "lock state", st, nfs4.OK)
	call, _, st, fx := m.ReserveLock(ls, 0, 10, true)
	mustStatus(t, "lock", st, nfs4.ErrDelay)
	if call != nil {
		t.Fatal("a refused lock reserved a backend call")
	}
	wantEffects(t, "lock", fx, "recall a")
}

// TestRecallNotLostToCourtesy: one conflict check that both starts a
// recall and meets a courtesy client expires the courtesy client and
// retries; the recall it started on the way is returned all the same
// (it is started only once, so dropping it would leave a delegation
// marked recalled that nobody recalls).
func TestRecallNotLostToCourtesy(t *testing.T) {
	m, clk := newTestManager(t)
	a, _ := confirmed41(t, m, "a") // will be a courtesy client
	b, _ := confirmed41(t, m, "b") // holds a read delegation
	c, _ := confirmed41(t, m, "c") // wants to write
	var closed atomic.Int32
	_, _, st, _ := m.Open(OpenRequest{Owner: b.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, File: fakeFile{&closed}})
	mustStatus(t, "b opens", st, nfs4.OK)
	if _, _, ok := m.GrantReadDeleg(b, "f", "f"); !ok {
		t.Fatal("no delegation for b")
	}
	_, _, st, _ = m.Open(OpenRequest{Owner: a.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessRead, Deny: nfs4.ShareDenyWrite, File: fakeFile{&closed}})
	mustStatus(t, "a opens denying writes", st, nfs4.OK)
	a.SetRecorded()
	clk.Add(11 * time.Second)
	b.Renew()
	c.Renew()
	if !m.IsCourtesy(a) || m.IsCourtesy(b) {
		t.Fatal("a should be a courtesy client, b not")
	}
	_, _, st, fx := m.Open(OpenRequest{Owner: c.OpenOwner("o"), FileKey: "f", FH: "f", Access: nfs4.ShareAccessWrite, File: fakeFile{&closed}})
	mustStatus(t, "c writes", st, nfs4.ErrDelay)
	// a's deny is met first: a is expired (forgotten, gone), then the
	// retry finds b's delegation already recalled.
	if got := kinds(fx); !slices.Contains(got, "recall b") || !slices.Contains(got, "forget a") || !slices.Contains(got, "gone a") || len(got) != 3 {
		t.Fatalf("effects %q, want recall b, forget a, gone a", got)
	}
	if !a.Expired() {
		t.Fatal("courtesy client a not expired")
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestCourtesyExpiryEffects: a conflict with a courtesy client's
// delegation recalls nothing; the client's expiry is returned instead:
// Forget when it was recorded, then Gone.
func TestCourtesyExpiryEffects(t *testing.T) {
	for _, recorded := range []bool{false, true} {
		m, clk := newTestManager(t)
		a, b, _, _ := delegSetup(t, m)
		if recorded {
			a.SetRecorded()
		}
		clk.Add(11 * time.Second)
		b.Renew()
		st, fx := m.BreakDelegations("f", b)
		mustStatus(t, "remove", st, nfs4.OK)
		if recorded {
			wantEffects(t, "recorded courtesy client", fx, "forget a", "gone a")
		} else {
			wantEffects(t, "unrecorded courtesy client", fx, "gone a")
		}
	}
}

// TestReapEffects: the reaper returns the expiry of each client it
// expired, Forget only for those in the recovery store.
func TestReapEffects(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	m := NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 7, Courtesy: -1})
	a, _ := confirmed41(t, m, "a")
	confirmed41(t, m, "b")
	a.SetRecorded()
	clk.Add(11 * time.Second)
	n, fx := m.Reap()
	if n != 2 {
		t.Fatalf("reaped %d, want 2", n)
	}
	slices.SortFunc(fx, func(x, y Effect) int {
		if x.Client.Owner != y.Client.Owner {
			return map[bool]int{true: -1, false: 1}[x.Client.Owner < y.Client.Owner]
		}
		return int(x.Kind) - int(y.Kind)
	})
	wantEffects(t, "reap", fx, "forget a", "gone a", "gone b")
	n, fx = m.Reap()
	if n != 0 || len(fx) != 0 {
		t.Fatalf("second reap: %d, %v", n, fx)
	}
}

// TestReplacedClientEffects: a client record replaced by its owner's new
// incarnation (SETCLIENTID_CONFIRM, CREATE_SESSION, EXCHANGE_ID with
// another principal) returns the old record's expiry; so do
// DESTROY_CLIENTID and an eviction.
func TestReplacedClientEffects(t *testing.T) {
	m, _ := newTestManager(t)
	old, _ := m.SetClientID("o40", [8]byte{1}, "sys:1", CallbackInfo{}, "")
	st, fx := m.SetClientIDConfirm(old.ID, old.Confirm, "sys:1")
	mustStatus(t, "confirm", st, nfs4.OK)
	wantEffects(t, "first confirm", fx)
	old.SetRecorded()
	// A reboot of the client: new verifier, new record.
	u, _ := m.SetClientID("o40", [8]byte{2}, "sys:1", CallbackInfo{}, "")
	st, fx = m.SetClientIDConfirm(u.ID, u.Confirm, "sys:1")
	mustStatus(t, "confirm of the new incarnation", st, nfs4.OK)
	wantEffects(t, "reboot", fx, "forget o40", "gone o40")
	if fx[0].Client != old {
		t.Fatal("the forget is not of the old record")
	}

	a, _ := confirmed41(t, m, "a")
	a.SetRecorded()
	res, st, fx := m.ExchangeID("a", [8]byte{2}, "sys:0", false, "")
	mustStatus(t, "EXCHANGE_ID of a new incarnation", st, nfs4.OK)
	wantEffects(t, "EXCHANGE_ID", fx)
	_, _, st, fx = m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 4}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "CREATE_SESSION", st, nfs4.OK)
	wantEffects(t, "CREATE_SESSION confirming a new incarnation", fx, "forget a", "gone a")

	// Another principal without state replaces the record at once.
	p, st, _ := m.ExchangeID("p", [8]byte{1}, "sys:0", false, "")
	mustStatus(t, "EXCHANGE_ID p", st, nfs4.OK)
	_, _, st, _ = m.CreateSession(p.Client.ID, p.Sequence, "sys:0", ChannelAttrs{MaxRequests: 4}, ChannelAttrs{}, 0, 0)
	mustStatus(t, "CREATE_SESSION p", st, nfs4.OK)
	mustStatus(t, "DESTROY_SESSION", m.DestroySession(firstSession(p.Client)), nfs4.OK)
	_, st, fx = m.ExchangeID("p", [8]byte{1}, "sys:9", false, "")
	mustStatus(t, "EXCHANGE_ID p by another principal", st, nfs4.OK)
	wantEffects(t, "EXCHANGE_ID by another principal", fx, "gone p")

	d, _ := confirmed41(t, m, "d")
	mustStatus(t, "DESTROY_SESSION d", m.DestroySession(firstSession(d)), nfs4.OK)
	st, fx = m.DestroyClientID(d.ID)
	mustStatus(t, "DESTROY_CLIENTID", st, nfs4.OK)
	wantEffects(t, "DESTROY_CLIENTID", fx, "gone d")

	e, _ := confirmed41(t, m, "e")
	e.SetRecorded()
	ok, fx := m.Evict(e.ID)
	if !ok {
		t.Fatal("evict found nothing")
	}
	wantEffects(t, "evict", fx, "forget e", "gone e")
	ok, fx = m.Evict(e.ID)
	if ok || len(fx) != 0 {
		t.Fatalf("second evict: %v %v", ok, fx)
	}
}

// TestRecordEffect: a client is recorded once, until SetRecorded says the
// record is durable; a Forget of an old incarnation must spare the owner's
// record while a newer client of the owner is recorded.
func TestRecordEffect(t *testing.T) {
	m, _ := newTestManager(t)
	a, _ := confirmed41(t, m, "a")
	wantEffects(t, "first", m.Record(a), "record a")
	wantEffects(t, "again before it is durable", m.Record(a), "record a")
	a.SetRecorded()
	wantEffects(t, "recorded", m.Record(a))

	if m.RecordedOwner("a", a) {
		t.Fatal("a's own record counts against forgetting a")
	}
	res, _, _ := m.ExchangeID("a", [8]byte{2}, "sys:0", false, "")
	n := res.Client
	if !m.RecordedOwner("a", n) {
		t.Fatal("forgetting the new incarnation would spare a recorded a")
	}
	_, _, _, fx := m.CreateSession(n.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 4}, ChannelAttrs{}, 0, 0)
	wantEffects(t, "new incarnation confirmed", fx, "forget a", "gone a")
	if m.RecordedOwner("a", a) {
		t.Fatal("unrecorded new incarnation spares the old record")
	}
	n.SetRecorded()
	if !m.RecordedOwner("a", a) {
		t.Fatal("forgetting the old incarnation would remove the new one's record")
	}
}

func firstSession(c *Client) SessionID {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.sessions {
		return id
	}
	return SessionID{}
}
