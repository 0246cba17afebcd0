package oncrpc

import (
	"sync"
	"testing"
	"testing/synctest"
)

// waitQueued waits until every goroutine of the test's bubble is blocked
// and checks that n acquirers are then queued on b.
func waitQueued(t *testing.T, b *budget, n int32) {
	t.Helper()
	synctest.Wait()
	if got := b.nwait.Load(); got != n {
		t.Fatalf("%d waiters, want %d", got, n)
	}
}

func TestBudgetFIFO(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(10)
		if !b.acquire(8, nil, nil) {
			t.Fatal("acquire within budget failed")
		}
		order := make(chan int64, 2)
		go func() { b.acquire(5, nil, nil); order <- 5 }()
		waitQueued(t, b, 1)
		// 2 are free, enough for 1, but the 1 must queue behind the 5 so
		// that large requests are not starved by small ones.
		go func() { b.acquire(1, nil, nil); order <- 1 }()
		waitQueued(t, b, 2)
		b.release(8)
		if a, c := <-order, <-order; a+c != 6 {
			t.Fatalf("granted %d and %d", a, c)
		}
		if got := b.avail.Load(); got != 4 {
			t.Fatalf("%d available, want 4", got)
		}
	})
}

func TestBudgetCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(10)
		b.acquire(9, nil, nil)
		cancel := make(chan struct{})
		big := make(chan bool, 1)
		go func() { big <- b.acquire(5, cancel, nil) }()
		waitQueued(t, b, 1)
		small := make(chan bool, 1)
		go func() { small <- b.acquire(1, nil, nil) }()
		waitQueued(t, b, 2)
		// Giving up on the head lets the small one behind it through.
		close(cancel)
		if <-big {
			t.Fatal("cancelled acquire reported success")
		}
		if !<-small {
			t.Fatal("small acquire failed")
		}
		b.release(10)
		if got := b.avail.Load(); got != 10 || b.nwait.Load() != 0 {
			t.Fatalf("%d available, %d waiting", got, b.nwait.Load())
		}
	})
}

func TestBudgetWeightCap(t *testing.T) {
	b := newBudget(100)
	w := b.weight(1000)
	if w != 100 || !b.acquire(w, nil, nil) {
		t.Fatalf("a request larger than the whole budget cannot run (weight %d)", w)
	}
	b.release(w)
}

func TestBudgetConcurrent(t *testing.T) {
	b := newBudget(50)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 500 {
				n := int64(1 + (i*7+j)%30)
				b.acquire(n, nil, nil)
				if b.avail.Load() < 0 {
					t.Error("budget overdrawn")
				}
				b.release(n)
			}
		}()
	}
	wg.Wait()
	if b.avail.Load() != 50 || b.nwait.Load() != 0 {
		t.Fatalf("%d available, %d waiting after all released", b.avail.Load(), b.nwait.Load())
	}
}
