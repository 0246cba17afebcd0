package grace

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMachine(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m Machine
	m.Start([][]byte{[]byte("a"), []byte("b")}, t0.Add(90*time.Second), t0.Add(90*time.Second))
	if !m.InGrace() || !m.MayReclaim([]byte("a")) || m.MayReclaim([]byte("c")) {
		t.Fatal("start")
	}
	if m.Tick(t0.Add(89*time.Second)) || !m.InGrace() {
		t.Fatal("lifted before the deadline")
	}
	if m.Done([]byte("a")) || m.Pending() != 1 {
		t.Fatal("lifted with a client pending")
	}
	if m.Done([]byte("zz")) {
		t.Fatal("an unknown client lifted grace")
	}
	if !m.Done([]byte("b")) || m.InGrace() {
		t.Fatal("not lifted when all were done")
	}
	if m.MayReclaim([]byte("a")) {
		t.Fatal("reclaim allowed after grace")
	}
	if m.Done([]byte("a")) || m.Tick(t0.Add(time.Hour)) {
		t.Fatal("lifted twice")
	}
}

func TestMachineDeadline(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m Machine
	m.Start([][]byte{[]byte("a")}, t0.Add(time.Second), time.Time{})
	if !m.Tick(t0.Add(time.Second)) || m.InGrace() {
		t.Fatal("not lifted at the deadline")
	}
	m.Start(nil, t0.Add(time.Second), time.Time{})
	if m.InGrace() {
		t.Fatal("grace with nothing to reclaim")
	}
}

// A client that is still reclaiming at the deadline keeps grace going,
// one step at a time, until it stops or the limit is reached.
func TestMachineExtends(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m Machine
	m.Start([][]byte{[]byte("a"), []byte("b")}, t0.Add(10*time.Second), t0.Add(20*time.Second))
	m.Reclaimed([]byte("zz"), t0.Add(9900*time.Millisecond))
	m.Reclaimed([]byte("a"), t0.Add(9500*time.Millisecond))
	if m.Tick(t0.Add(10 * time.Second)) {
		t.Fatal("lifted while a client was reclaiming")
	}
	if got := m.Deadline(); !got.Equal(t0.Add(11 * time.Second)) {
		t.Fatalf("deadline %v, want one step later", got.Sub(t0))
	}
	// A reclaim from outside the reclaim set does not count.
	m.Reclaimed([]byte("zz"), t0.Add(10900*time.Millisecond))
	if !m.Tick(t0.Add(11*time.Second)) || m.InGrace() {
		t.Fatal("not lifted once reclaims stopped")
	}

	// A longer step bridges a longer pause between reclaims.
	m.Step = 3 * time.Second
	m.Start([][]byte{[]byte("a")}, t0.Add(10*time.Second), t0.Add(20*time.Second))
	m.Reclaimed([]byte("a"), t0.Add(8*time.Second))
	if m.Tick(t0.Add(10*time.Second)) || !m.Deadline().Equal(t0.Add(13*time.Second)) {
		t.Fatalf("a reclaim 2 s before the deadline did not extend a 3 s step: deadline %v", m.Deadline().Sub(t0))
	}
	if !m.Tick(t0.Add(13 * time.Second)) {
		t.Fatal("not lifted a step after the last reclaim")
	}
	m.Step = 0

	m.Start([][]byte{[]byte("a")}, t0.Add(10*time.Second), t0.Add(12*time.Second))
	for now := t0.Add(9 * time.Second); ; now = now.Add(250 * time.Millisecond) {
		m.Reclaimed([]byte("a"), now)
		if m.Tick(now) {
			if now.Before(t0.Add(12 * time.Second)) {
				t.Fatalf("lifted at %v, before the limit", now.Sub(t0))
			}
			break
		}
		if now.After(t0.Add(13 * time.Second)) {
			t.Fatal("grace went past its limit")
		}
	}
}

func TestLocal(t *testing.T) {
	var lifts atomic.Int32
	l := NewLocal([][]byte{[]byte("x")}, time.Hour, func() { lifts.Add(1) })
	defer l.Stop()
	if !l.InGrace() || !l.MayReclaim([]byte("x")) {
		t.Fatal("not in grace")
	}
	l.ReclaimDone([]byte("x"))
	if l.InGrace() || lifts.Load() != 1 {
		t.Fatal("not lifted early")
	}
	l.ReclaimDone([]byte("x"))
	if lifts.Load() != 1 {
		t.Fatal("lifted twice")
	}
	done := make(chan struct{})
	l2 := NewLocal([][]byte{[]byte("x")}, 10*time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("timer did not lift grace")
	}
	// OnLift runs before new state is let in, so the flag flips just
	// after the callback returns.
	for end := time.Now().Add(5 * time.Second); l2.InGrace(); {
		if time.Now().After(end) {
			t.Fatal("still in grace after the deadline")
		}
		time.Sleep(time.Millisecond)
	}
	var n None
	if n.InGrace() || n.MayReclaim(nil) {
		t.Fatal("None")
	}
}

// TestLocalExtends: a Local whose clients keep reclaiming stays in grace
// past its deadline, and still ends at twice the grace time.
func TestLocalExtends(t *testing.T) {
	var lifted atomic.Bool
	start := time.Now()
	l := NewLocal([][]byte{[]byte("x"), []byte("y")}, 200*time.Millisecond, func() { lifted.Store(true) })
	defer l.Stop()
	sawExtension := false
	for time.Since(start) < 3*time.Second && l.InGrace() {
		l.Reclaimed([]byte("x"))
		if el := time.Since(start); el > 220*time.Millisecond && el < 380*time.Millisecond && l.InGrace() {
			sawExtension = true
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	if !sawExtension {
		t.Fatal("grace ended at its deadline although a client was reclaiming")
	}
	if l.InGrace() || el < 400*time.Millisecond || el > 2*time.Second {
		t.Fatalf("grace ended after %v, want twice the grace time (400ms)", el)
	}
	if !lifted.Load() {
		t.Fatal("OnLift did not run")
	}
}
