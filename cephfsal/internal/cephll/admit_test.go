//go:build !noceph

package cephll

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// TestAdmission: data and metadata calls are admitted separately, so that
// stuck data calls never hold up metadata ones (nor the reverse); a call
// waiting for admission gives up, and takes no slot, when its request
// ends; Quiesce still waits for every call of both classes.
func TestAdmission(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := &Mount{meta: make(chan struct{}, 2), data: make(chan struct{}, 2)}
		ctx := context.Background()
		// Two stuck WRITEs fill the data class.
		for range 2 {
			if err := m.enterData(ctx); err != nil {
				t.Fatal(err)
			}
		}
		// A GETATTR is admitted all the same.
		if err := m.enterMeta(ctx); err != nil {
			t.Fatal(err)
		}
		m.leaveMeta()
		// A third WRITE waits, and gives up when its request is cancelled.
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- m.enterData(wctx) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("admitted beyond the bound: %v", err)
		default:
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled wait: %v", err)
		}
		if n := len(m.data); n != 2 {
			t.Fatalf("%d data slots taken, want 2", n)
		}
		// A request already cancelled starts no call, even with room.
		if err := m.enterMeta(wctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled request admitted: %v", err)
		}
		// Quiesce waits for the data calls too.
		if m.Quiesce(time.Second) {
			t.Fatal("Quiesce with data calls in flight")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		m := &Mount{meta: make(chan struct{}, 2), data: make(chan struct{}, 2)}
		if err := m.enterData(context.Background()); err != nil {
			t.Fatal(err)
		}
		q := make(chan bool, 1)
		go func() { q <- m.Quiesce(time.Minute) }()
		synctest.Wait()
		m.leaveData()
		if !<-q {
			t.Fatal("Quiesce failed once the call left")
		}
		// Nothing starts after Quiesce: a request waits until it ends.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := m.enterMeta(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call admitted after Quiesce: %v", err)
		}
	})
}
