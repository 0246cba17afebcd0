package grace

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/recovery"
)

// memStore is a recovery.Store fake for runner tests.
type memStore struct {
	mu       sync.Mutex
	reclaim  []recovery.Record
	begun    []uint64
	ended    int
	failEnd  int // EndGrace fails this many times
	failBegn int
}

func (s *memStore) Begin(_ context.Context, e uint64) ([]recovery.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failBegn > 0 {
		s.failBegn--
		return nil, errors.New("store: I/O error")
	}
	s.begun = append(s.begun, e)
	return s.reclaim, nil
}
func (s *memStore) Add(context.Context, recovery.Record) error { return nil }
func (s *memStore) Remove(context.Context, []byte) error       { return nil }
func (s *memStore) EndGrace(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failEnd > 0 {
		s.failEnd--
		return errors.New("store: I/O error")
	}
	s.ended++
	s.reclaim = nil
	return nil
}
func (s *memStore) Peek(context.Context) ([]recovery.Record, error) { return s.reclaim, nil }
func (s *memStore) LastEpoch(context.Context) (uint64, error)       { return 0, nil }
func (s *memStore) Close() error                                    { return nil }

// TestRunnerSingleNode: a single node with two clients to reclaim serves
// at once, admits their reclaims only, and lets new state in when both
// are done — after the store ended grace.
func TestRunnerSingleNode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &memStore{reclaim: []recovery.Record{{Owner: []byte("o1")}, {Owner: []byte("o2")}}}
		gate := NewSwitch()
		served := make(chan struct{})
		r := NewRunner(RunnerConfig{
			Node: NodeConfig{ID: "solo", Grace: time.Minute}, DB: NewMemDB(5), Store: store, Gate: gate,
			Reset: func(context.Context) (bool, error) { return false, nil },
			Serve: func() { close(served) },
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go r.Run(ctx, Boot{DB: NewDB(), Records: true})
		<-served
		synctest.Wait()
		if gate.Mode() != GateReclaim {
			t.Fatalf("gate %s, want reclaim", gate.Mode())
		}
		if _, a := gate.Enter([]byte("o1"), true); a != Admitted {
			t.Fatal("reclaim by o1 refused")
		}
		if _, a := gate.Enter([]byte("stranger"), true); a != RefuseNoGrace {
			t.Fatal("reclaim by a stranger admitted")
		}
		if _, a := gate.Enter([]byte("o9"), false); a != RefuseGrace {
			t.Fatal("new state admitted during grace")
		}
		gate.ReclaimDone([]byte("o1"))
		gate.ReclaimDone([]byte("o2"))
		synctest.Wait()
		if gate.Mode() != GateOpen || store.ended != 1 {
			t.Fatalf("gate %s, store ended %d times: want open after one EndGrace", gate.Mode(), store.ended)
		}
		st := r.Status()
		if st.Phase != PhaseNormal || st.DB.R != 0 || st.Epoch != 6 {
			t.Fatalf("status %+v", st)
		}
	})
}

// TestRunnerPersistBeforeAct: the end of grace is written before new
// state is let in; while the write (or the store) fails, the node keeps
// refusing and retries a second later.
func TestRunnerPersistBeforeAct(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &memStore{reclaim: []recovery.Record{{Owner: []byte("o1")}}, failEnd: 2}
		gate := NewSwitch()
		db := NewMemDB(1)
		r := NewRunner(RunnerConfig{
			Node: NodeConfig{ID: "solo", Grace: 10 * time.Second}, DB: db, Store: store, Gate: gate,
			Reset: func(context.Context) (bool, error) { return false, nil },
		})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go r.Run(ctx, Boot{DB: NewDB(), Records: true})
		synctest.Wait()
		db.mu.Lock()
		db.FailNow = errors.New("rados: timed out")
		db.mu.Unlock()
		// The window ends at its deadline (nobody reclaimed).
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if gate.Mode() != GateEnforce || r.Status().DB.R == 0 {
			t.Fatalf("after a failed lift: gate %s, rec %d; want enforce and still in grace", gate.Mode(), r.Status().DB.R)
		}
		time.Sleep(time.Second) // lift retried; EndGrace fails twice
		synctest.Wait()
		if gate.Mode() != GateEnforce {
			t.Fatalf("gate %s while the store cannot end grace", gate.Mode())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if gate.Mode() != GateOpen || store.ended != 1 {
			t.Fatalf("gate %s, ended %d: want open once the store ended grace", gate.Mode(), store.ended)
		}
	})
}

// TestSwitchDrain: Drain waits for the new-state operations admitted
// before it, and nothing new is admitted once it started.
func TestSwitchDrain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewSwitch()
		g.Set(GateOpen, nil)
		release, a := g.Enter(nil, false)
		if a != Admitted {
			t.Fatal("open gate refused")
		}
		var drained atomic.Bool
		go func() { g.Drain(); drained.Store(true) }()
		synctest.Wait()
		if drained.Load() {
			t.Fatal("drained with an operation in flight")
		}
		if _, a := g.Enter(nil, false); a != RefuseGrace {
			t.Fatal("admitted new state while draining")
		}
		if !g.InGrace() {
			t.Fatal("not in grace while draining")
		}
		release()
		synctest.Wait()
		if !drained.Load() {
			t.Fatal("drain did not finish after the release")
		}
	})
}

func TestNone(t *testing.T) {
	var n None
	if _, a := n.Enter([]byte("x"), true); a != RefuseNoGrace {
		t.Fatal("None admitted a reclaim")
	}
	if _, a := n.Enter(nil, false); a != Admitted || n.InGrace() {
		t.Fatal("None refused new state")
	}
}

// Enter must stay cheap: it is on the path of every OPEN and LOCK.
func BenchmarkSwitchEnter(b *testing.B) {
	g := NewSwitch()
	g.Set(GateOpen, nil)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			release, _ := g.Enter(nil, false)
			release()
		}
	})
}
