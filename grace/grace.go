// Package grace decides when an NFSv4 server is in its grace period: after
// a restart, clients that held state may reclaim it, and nobody may take new
// state that could conflict with what is still to be reclaimed (RFC 7530
// section 9.6.2, RFC 8881 section 8.4.2).
//
// The decision is a pure state machine (Machine: no I/O, no clock, no
// goroutines); Local runs it for a single node with a timer and the node's
// recovery store. The cluster-wide grace of a later release implements the
// same Gate over a shared RADOS object.
package grace

import (
	"sync"
	"sync/atomic"
	"time"
)

// Gate is what the NFS engine asks.
type Gate interface {
	// InGrace reports whether reclaims are allowed and new state refused.
	InGrace() bool
	// MayReclaim reports whether the client with this owner held state
	// before the restart and may reclaim it now.
	MayReclaim(owner []byte) bool
	// ReclaimDone records that a client finished reclaiming (4.1:
	// RECLAIM_COMPLETE). Grace ends early when every client of the
	// reclaim set is done.
	ReclaimDone(owner []byte)
	// Reclaimed records that a client of the reclaim set reclaimed
	// something just now: grace does not end while reclaims are still
	// arriving (up to a limit), so that a client that started late is not
	// cut off in the middle.
	Reclaimed(owner []byte)
}

// ExtendStep is how long a reclaim keeps grace going past its deadline, at
// least: grace ends once no reclaim arrived for this long (and all clients
// of the reclaim set are not done), as knfsd's laundromat does.
const ExtendStep = time.Second

// Machine is the grace state machine of one node.
type Machine struct {
	inGrace     bool
	pending     map[string]bool // reclaim set members not yet done
	known       map[string]bool // the whole reclaim set
	ends        time.Time
	limit       time.Time // latest end, however many reclaims arrive
	lastReclaim time.Time
	// Step is how long a reclaim keeps grace going past the deadline
	// (zero: ExtendStep).
	Step time.Duration
}

// Start enters grace until deadline for the given reclaim set. With an
// empty set there is nothing to wait for and grace is not entered. Grace
// may go on past deadline while reclaims keep arriving, up to limit (a
// limit before deadline means deadline: no extension).
func (m *Machine) Start(set [][]byte, deadline, limit time.Time) {
	m.pending, m.known = map[string]bool{}, map[string]bool{}
	for _, o := range set {
		m.pending[string(o)] = true
		m.known[string(o)] = true
	}
	m.ends = deadline
	m.limit = limit
	if limit.Before(deadline) {
		m.limit = deadline
	}
	m.lastReclaim = time.Time{}
	m.inGrace = len(set) > 0
}

// Reclaimed notes that a client of the reclaim set reclaimed at now.
func (m *Machine) Reclaimed(owner []byte, now time.Time) {
	if m.inGrace && m.known[string(owner)] && now.After(m.lastReclaim) {
		m.lastReclaim = now
	}
}

// InGrace reports whether the node is in grace.
func (m *Machine) InGrace() bool { return m.inGrace }

// MayReclaim reports whether owner is in the reclaim set and grace is on.
func (m *Machine) MayReclaim(owner []byte) bool { return m.inGrace && m.known[string(owner)] }

// Done marks a client finished; it returns true when this lifts grace.
func (m *Machine) Done(owner []byte) bool {
	if !m.inGrace {
		return false
	}
	delete(m.pending, string(owner))
	if len(m.pending) == 0 {
		m.inGrace = false
		return true
	}
	return false
}

// Tick advances time; it returns true when this lifts grace. At the
// deadline, a reclaim within the last step (Step, at least ExtendStep)
// pushes the deadline out by a step (never past the limit): a client that
// began reclaiming late, and has not sent RECLAIM_COMPLETE, is still at it
// (pynfs REBT5).
func (m *Machine) Tick(now time.Time) bool {
	if !m.inGrace || now.Before(m.ends) {
		return false
	}
	step := max(m.Step, ExtendStep)
	if now.Before(m.limit) && !m.lastReclaim.IsZero() && now.Sub(m.lastReclaim) < step {
		m.ends = now.Add(step)
		if m.ends.After(m.limit) {
			m.ends = m.limit
		}
		return false
	}
	m.inGrace = false
	return true
}

// Deadline returns when grace ends at the latest.
func (m *Machine) Deadline() time.Time { return m.ends }

// Pending returns how many clients have not finished reclaiming.
func (m *Machine) Pending() int { return len(m.pending) }

// Local runs a Machine for a single node: a timer lifts grace at the
// deadline, and OnLift runs (once, outside the lock) when grace ends, to
// let the recovery store forget clients that did not come back.
type Local struct {
	mu      sync.Mutex
	m       Machine
	timer   *time.Timer // under mu
	stopped bool        // under mu
	OnLift  func()
	// inGrace mirrors m.inGrace so that OPEN and LOCK read it without
	// taking the lock.
	inGrace atomic.Bool
}

// NewLocal starts grace for the reclaim set, lasting d, or up to twice d
// while reclaims keep arriving (see Machine.Tick: a reclaim keeps it going
// for a sixteenth of d, at least ExtendStep, so that a short stall of a
// busy client or disk does not end it). With an empty set there is no
// grace and onLift runs before NewLocal returns.
func NewLocal(set [][]byte, d time.Duration, onLift func()) *Local {
	l := &Local{OnLift: onLift}
	now := time.Now()
	l.m.Step = d / 16
	l.m.Start(set, now.Add(d), now.Add(2*d))
	l.inGrace.Store(l.m.InGrace())
	if l.m.InGrace() {
		l.mu.Lock()
		l.timer = time.AfterFunc(d, func() { l.tick(time.Now()) })
		l.mu.Unlock()
	} else if onLift != nil {
		onLift()
	}
	return l
}

func (l *Local) tick(now time.Time) {
	l.mu.Lock()
	lifted := l.m.Tick(now)
	if !lifted && l.m.InGrace() && !l.stopped {
		// Extended: look again at the new deadline.
		l.timer = time.AfterFunc(l.m.Deadline().Sub(now), func() { l.tick(time.Now()) })
	}
	l.mu.Unlock()
	if lifted {
		l.lift()
	}
}

// lift runs OnLift and only then lets new state in: the recovery store
// must have forgotten the clients that did not reclaim before anything
// that could conflict with their old state is granted.
func (l *Local) lift() {
	if l.OnLift != nil {
		l.OnLift()
	}
	l.inGrace.Store(false)
}

// InGrace implements Gate.
func (l *Local) InGrace() bool { return l.inGrace.Load() }

// MayReclaim implements Gate.
func (l *Local) MayReclaim(owner []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.m.MayReclaim(owner)
}

// ReclaimDone implements Gate.
func (l *Local) ReclaimDone(owner []byte) {
	if !l.inGrace.Load() {
		return
	}
	l.mu.Lock()
	lifted := l.m.Done(owner)
	if lifted && l.timer != nil {
		l.timer.Stop()
	}
	l.mu.Unlock()
	if lifted {
		l.lift()
	}
}

// Reclaimed implements Gate.
func (l *Local) Reclaimed(owner []byte) {
	if !l.inGrace.Load() {
		return
	}
	l.mu.Lock()
	l.m.Reclaimed(owner, time.Now())
	l.mu.Unlock()
}

// Stop releases the timer.
func (l *Local) Stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.stopped = true
	if l.timer != nil {
		l.timer.Stop()
	}
}

// None is a Gate that is never in grace.
type None struct{}

// InGrace implements Gate.
func (None) InGrace() bool { return false }

// MayReclaim implements Gate.
func (None) MayReclaim([]byte) bool { return false }

// ReclaimDone implements Gate.
func (None) ReclaimDone([]byte) {}

// Reclaimed implements Gate.
func (None) Reclaimed([]byte) {}
