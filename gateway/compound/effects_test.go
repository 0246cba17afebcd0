package compound

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
)

// TestRecallAfterStateLocks: the recall a conflicting OPEN starts is
// performed once the state model let go of the file's lock, and before
// the OPEN is answered: a recaller that calls back into the state model on
// the same file (here: it looks at the delegation and revokes it, both
// under the file's mutex) does not deadlock, and the retried OPEN finds
// the delegation gone.
func TestRecallAfterStateLocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		sm := nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
		_, eng := serveMemConfig(t, l, Config{State: sm}, true)
		recalled := make(chan *nfs4state.State, 4)
		eng.recallHook = func(d *nfs4state.State) {
			if d.IsRevoked() {
				t.Error("recalling a revoked delegation")
			}
			sm.RecallFailed(d)
			recalled <- d
		}
		ctx := t.Context()
		holder := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "holder"})
		writer := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "writer", RetryTimeout: -1})
		f, err := holder.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
		if err != nil {
			t.Fatal(err)
		}
		if f.Open.Delegation.Type != nfs4.DelegRead {
			t.Fatalf("no read delegation: %+v", f.Open.Delegation)
		}
		_, err = writer.OpenFile(ctx, "/export/a", nfs4.ShareAccessWrite, 0)
		if st := nfsclient.StatusOf(err); st != nfs4.ErrDelay {
			t.Fatalf("conflicting OPEN: %v, want NFS4ERR_DELAY", err)
		}
		// Performed before the reply: no waiting needed to see it.
		select {
		case d := <-recalled:
			if d.Client.ID != holder.ClientID() {
				t.Fatalf("recalled a delegation of client %#x, want the holder's", d.Client.ID)
			}
		default:
			t.Fatal("OPEN answered before its recall was performed")
		}
		if _, err := writer.OpenFile(ctx, "/export/a", nfs4.ShareAccessWrite, 0); err != nil {
			t.Fatalf("OPEN after the delegation was revoked: %v", err)
		}
		if n := len(recalled); n != 0 {
			t.Fatalf("%d more recalls", n)
		}
		if err := sm.CheckConsistency(); err != nil {
			t.Fatal(err)
		}
	})
}

// heldRecorder is a recovery store whose Add waits until released (a slow
// disk), or fails.
type heldRecorder struct {
	memRecorder
	entered chan string
	release chan struct{}
	fail    error
}

func (h *heldRecorder) Add(ctx context.Context, owner []byte, principal string, minor uint32) error {
	h.entered <- string(owner)
	<-h.release
	if h.fail != nil {
		return h.fail
	}
	return h.memRecorder.Add(ctx, owner, principal, minor)
}

// TestRecordBeforeReply: a client's first OPEN is not answered before its
// record is durable (Add returned), and a record that cannot be written
// fails the OPEN with NFS4ERR_SERVERFAULT and grants nothing.
func TestRecordBeforeReply(t *testing.T) {
	for _, fail := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			l := pipenet.Listen()
			sm := nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
			rec := &heldRecorder{entered: make(chan string, 4), release: make(chan struct{})}
			if fail {
				rec.fail = errors.New("disk on fire")
			}
			serveMemConfig(t, l, Config{State: sm, Recorder: rec}, false)
			ctx := t.Context()
			// NFSv4.0: no RECLAIM_COMPLETE, which would record a 4.1
			// client before its first OPEN.
			c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "c", MinorVersion: nfsclient.Minor(0)})
			opened := make(chan error, 1)
			go func() {
				_, err := c.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
				opened <- err
			}()
			select {
			case owner := <-rec.entered:
				if owner != "c" {
					t.Fatalf("recorded %q", owner)
				}
			case err := <-opened:
				t.Fatalf("OPEN answered (%v) without recording its client", err)
			}
			synctest.Wait()
			select {
			case err := <-opened:
				t.Fatalf("OPEN answered (%v) while its client's record is not durable", err)
			default:
			}
			if st := sm.Stats(); st.States != 0 {
				t.Fatalf("%d states granted before the record", st.States)
			}
			close(rec.release)
			err := <-opened
			switch {
			case fail && nfsclient.StatusOf(err) != nfs4.ErrServerfault:
				t.Fatalf("OPEN with a failed record: %v, want NFS4ERR_SERVERFAULT", err)
			case fail && sm.Stats().States != 0:
				t.Fatalf("%d states granted without a record", sm.Stats().States)
			case !fail && err != nil:
				t.Fatalf("OPEN: %v", err)
			case !fail && !rec.has("c"):
				t.Fatal("client not recorded")
			}
		})
	}
}

// TestForgetBeforeReply: DESTROY_CLIENTID of a recorded client removes
// its record before the reply.
func TestForgetBeforeReply(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := pipenet.Listen()
		rec := &memRecorder{}
		serveMemConfig(t, l, Config{Recorder: rec}, false)
		ctx := t.Context()
		c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "gone"})
		if !rec.has("gone") {
			t.Fatal("RECLAIM_COMPLETE did not record the client")
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if rec.has("gone") {
			t.Fatal("client destroyed, still recorded when the reply came")
		}
	})
}

// TestForgetSparesNewIncarnation: the recovery store is keyed by owner; a
// Forget of an old incarnation that runs after the new incarnation of its
// owner was recorded (a reaper that expired the old one while the new one
// opened) leaves the owner's record alone, and one that runs before lets
// the record written after it stand.
func TestForgetSparesNewIncarnation(t *testing.T) {
	sm := nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
	rec := &memRecorder{}
	eng := New(Config{State: sm, Recorder: rec})
	ctx := context.Background()
	incarnation := func(verf byte) (*nfs4state.Client, nfs4state.Effects) {
		res, st, fx := sm.ExchangeID("o", [8]byte{verf}, "sys:0", false, "")
		if st != nfs4.OK {
			t.Fatalf("EXCHANGE_ID: %d", st)
		}
		_, _, st, more := sm.CreateSession(res.Client.ID, res.Sequence, "sys:0", nfs4state.ChannelAttrs{MaxRequests: 1}, nfs4state.ChannelAttrs{}, 0, 0)
		if st != nfs4.OK {
			t.Fatalf("CREATE_SESSION: %d", st)
		}
		return res.Client, append(fx, more...)
	}
	old, _ := incarnation(1)
	if err := eng.Perform(ctx, sm.Record(old)); err != nil || !rec.has("o") || !old.Recorded() {
		t.Fatalf("record of the old incarnation: %v", err)
	}
	// The new incarnation replaces the old one; its record is written
	// before the old one's Forget is performed.
	n, fx := incarnation(2)
	if len(fx.Of(nfs4state.Forget)) != 1 {
		t.Fatalf("replacing a recorded client: effects %v", fx)
	}
	if err := eng.Perform(ctx, sm.Record(n)); err != nil {
		t.Fatal(err)
	}
	eng.Perform(ctx, fx)
	if !rec.has("o") {
		t.Fatal("the old incarnation's Forget removed the new one's record")
	}
	// Without a newer recorded incarnation, a Forget removes the record.
	ok, fx := sm.Evict(n.ID)
	if !ok {
		t.Fatal("evict found nothing")
	}
	eng.Perform(ctx, fx)
	if rec.has("o") {
		t.Fatal("record of an evicted client kept")
	}
}

// TestPerformRecordOnce: concurrent requests of one client write its
// record once.
func TestPerformRecordOnce(t *testing.T) {
	sm := nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
	rec := &countingRecorder{}
	eng := New(Config{State: sm, Recorder: rec})
	res, _, _ := sm.ExchangeID("o", [8]byte{1}, "sys:0", false, "")
	c := res.Client
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { eng.Perform(context.Background(), sm.Record(c)) })
	}
	wg.Wait()
	if n := rec.adds.Load(); n != 1 {
		t.Fatalf("%d writes of one client's record", n)
	}
}

// countingRecorder counts the records written.
type countingRecorder struct{ adds atomic.Int32 }

func (r *countingRecorder) Add(context.Context, []byte, string, uint32) error {
	r.adds.Add(1)
	return nil
}

func (r *countingRecorder) Remove(context.Context, []byte) error { return nil }
