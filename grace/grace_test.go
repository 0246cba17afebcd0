package grace

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestMachine(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m Machine
	m.Start([][]byte{[]byte("a"), []byte("b")}, t0.Add(90*time.Second))
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
	m.Start([][]byte{[]byte("a")}, t0.Add(time.Second))
	if !m.Tick(t0.Add(time.Second)) || m.InGrace() {
		t.Fatal("not lifted at the deadline")
	}
	m.Start(nil, t0.Add(time.Second))
	if m.InGrace() {
		t.Fatal("grace with nothing to reclaim")
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
