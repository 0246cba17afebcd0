package grace

import (
	"sync"
	"sync/atomic"
)

// Gate is what the NFS engine asks before it grants state, or runs an
// operation that could conflict with state still to be reclaimed (RFC 7530
// section 9.6.2, RFC 8881 section 8.4.2).
type Gate interface {
	// Enter admits one operation. reclaim: it reclaims state of the
	// client with owner; otherwise it creates new state or could conflict
	// with a reclaim (OPEN, LOCK, LOCKT, REMOVE, RENAME, a WRITE or
	// SETATTR of size without an open). When admitted, release must be
	// called once the operation (its backend call included) is over: a
	// node entering a grace period waits for the new-state operations in
	// flight before it tells its peers it enforces.
	Enter(owner []byte, reclaim bool) (release func(), a Admission)
	// InGrace reports whether new state is refused now.
	InGrace() bool
	// ReclaimDone records that a client finished reclaiming (4.1
	// RECLAIM_COMPLETE): the reclaim window closes early once every
	// client of the reclaim set is done.
	ReclaimDone(owner []byte)
	// Reclaimed records a reclaim by a client of the reclaim set: the
	// window does not close at its deadline while reclaims still arrive.
	Reclaimed(owner []byte)
}

// Admission is a Gate's answer.
type Admission int

// Answers of Enter.
const (
	Admitted Admission = iota
	// RefuseGrace: new state is refused during a grace period
	// (NFS4ERR_GRACE).
	RefuseGrace
	// RefuseNoGrace: the reclaim is refused: no grace period for this
	// client (NFS4ERR_NO_GRACE).
	RefuseNoGrace
)

func noop() {}

// None is a Gate that is never in grace.
type None struct{}

// Enter implements Gate.
func (None) Enter(_ []byte, reclaim bool) (func(), Admission) {
	if reclaim {
		return noop, RefuseNoGrace
	}
	return noop, Admitted
}

// InGrace implements Gate.
func (None) InGrace() bool { return false }

// ReclaimDone implements Gate.
func (None) ReclaimDone([]byte) {}

// Reclaimed implements Gate.
func (None) Reclaimed([]byte) {}

// Switch is the Gate a Runner drives: the machine's SetGate effects change
// its mode. Enter costs two atomic operations; nothing on the path of an
// admitted operation takes a lock shared with other operations.
type Switch struct {
	mode     atomic.Int32
	reclaim  atomic.Pointer[map[string]bool]
	inflight atomic.Int64 // admitted new-state operations not yet released
	draining atomic.Bool

	mu   sync.Mutex
	cond *sync.Cond

	// OnReclaimDone and OnReclaimed forward to the machine (set before
	// serving).
	OnReclaimDone func(owner []byte)
	OnReclaimed   func(owner []byte)
}

// NewSwitch returns a closed gate.
func NewSwitch() *Switch {
	s := &Switch{}
	s.cond = sync.NewCond(&s.mu)
	s.mode.Store(int32(GateClosed))
	return s
}

// Mode returns the current mode.
func (s *Switch) Mode() GateMode { return GateMode(s.mode.Load()) }

// Set changes the mode; set is the reclaim set of GateReclaim.
func (s *Switch) Set(m GateMode, set [][]byte) {
	if m == GateReclaim {
		rs := make(map[string]bool, len(set))
		for _, o := range set {
			rs[string(o)] = true
		}
		s.reclaim.Store(&rs)
	} else {
		s.reclaim.Store(nil)
	}
	s.mode.Store(int32(m))
}

// Enter implements Gate.
func (s *Switch) Enter(owner []byte, reclaim bool) (func(), Admission) {
	if reclaim {
		if GateMode(s.mode.Load()) != GateReclaim {
			return noop, RefuseNoGrace
		}
		if rs := s.reclaim.Load(); rs == nil || !(*rs)[string(owner)] {
			return noop, RefuseNoGrace
		}
		return noop, Admitted
	}
	// Count first, then look: Drain stores the mode first, then counts,
	// so either this operation sees the closed gate or Drain sees it in
	// flight (both are sequentially consistent atomics).
	s.inflight.Add(1)
	if GateMode(s.mode.Load()) != GateOpen {
		s.release()
		return noop, RefuseGrace
	}
	return s.release, Admitted
}

func (s *Switch) release() {
	if s.inflight.Add(-1) == 0 && s.draining.Load() {
		s.mu.Lock()
		s.cond.Broadcast()
		s.mu.Unlock()
	}
}

// Drain closes the gate to new state (GateEnforce) and waits until every
// new-state operation admitted before has been released.
func (s *Switch) Drain() {
	s.draining.Store(true)
	if GateMode(s.mode.Load()) == GateOpen {
		s.Set(GateEnforce, nil)
	}
	s.mu.Lock()
	for s.inflight.Load() != 0 {
		s.cond.Wait()
	}
	s.mu.Unlock()
	s.draining.Store(false)
}

// InGrace implements Gate.
func (s *Switch) InGrace() bool { return GateMode(s.mode.Load()) != GateOpen }

// ReclaimDone implements Gate.
func (s *Switch) ReclaimDone(owner []byte) {
	if GateMode(s.mode.Load()) == GateReclaim && s.OnReclaimDone != nil {
		s.OnReclaimDone(owner)
	}
}

// Reclaimed implements Gate.
func (s *Switch) Reclaimed(owner []byte) {
	if GateMode(s.mode.Load()) == GateReclaim && s.OnReclaimed != nil {
		s.OnReclaimed(owner)
	}
}
