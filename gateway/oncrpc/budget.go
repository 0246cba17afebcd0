package oncrpc

import (
	"sync"
	"sync/atomic"
)

// budget is a weighted semaphore over the bytes of requests being served
// server-wide. Every call acquires from it, so the uncontended path is a
// single compare-and-swap; the mutex is only taken once some acquirer has
// had to wait, which means the budget is exhausted and the server is
// already shedding load by not reading.
//
// Waiters are served first come, first served, and the fast path is closed
// while anyone waits, so a large WRITE is not starved by a stream of small
// calls that each fit in what is left.
type budget struct {
	size  int64
	avail atomic.Int64
	nwait atomic.Int32 // len(waiters), readable without mu

	mu      sync.Mutex
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once n has been granted
}

func newBudget(size int64) *budget {
	b := &budget{size: size}
	b.avail.Store(size)
	return b
}

// weight is how much a request of n bytes takes. It is capped at the whole
// budget so that a request larger than the budget can still run, alone.
func (b *budget) weight(n int) int64 { return min(int64(n), b.size) }

func (b *budget) tryTake(n int64) bool {
	for {
		a := b.avail.Load()
		if a < n {
			return false
		}
		if b.avail.CompareAndSwap(a, a-n) {
			return true
		}
	}
}

// acquire takes n (a value from weight), waiting while the budget is
// exhausted. It gives up, reporting false, when either cancel channel is
// closed.
func (b *budget) acquire(n int64, cancel1, cancel2 <-chan struct{}) bool {
	if b.nwait.Load() == 0 && b.tryTake(n) {
		return true
	}
	b.mu.Lock()
	// nwait is raised before trying, and release reads it after adding:
	// either this try sees the released bytes or release sees the waiter
	// and grants under mu.
	b.nwait.Add(1)
	if len(b.waiters) == 0 && b.tryTake(n) {
		b.nwait.Add(-1)
		b.mu.Unlock()
		return true
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	select {
	case <-w.ready:
		return true
	case <-cancel1:
	case <-cancel2:
	}
	b.mu.Lock()
	select {
	case <-w.ready:
		// Granted while giving up: hand the bytes back.
		b.mu.Unlock()
		b.release(n)
		return false
	default:
	}
	for i, o := range b.waiters {
		if o == w {
			b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
			b.nwait.Add(-1)
			if i == 0 {
				// The head was blocking those behind it, which may fit.
				b.grantLocked()
			}
			break
		}
	}
	b.mu.Unlock()
	return false
}

// release returns n to the budget and wakes waiters it now satisfies.
func (b *budget) release(n int64) {
	b.avail.Add(n)
	if b.nwait.Load() > 0 {
		b.mu.Lock()
		b.grantLocked()
		b.mu.Unlock()
	}
}

func (b *budget) grantLocked() {
	for len(b.waiters) > 0 {
		w := b.waiters[0]
		if !b.tryTake(w.n) {
			return
		}
		b.waiters[0] = nil
		b.waiters = b.waiters[1:]
		b.nwait.Add(-1)
		close(w.ready)
	}
}

// charge takes n at once, even past what is available, for bytes that
// already exist: acquirers then wait until releases bring the budget back.
func (b *budget) charge(n int64) { b.avail.Add(-n) }

// adjust changes a holding of from bytes into one of to bytes, taking the
// difference without waiting or releasing the surplus.
func (b *budget) adjust(from, to int64) {
	switch {
	case to > from:
		b.charge(to - from)
	case to < from:
		b.release(from - to)
	}
}
