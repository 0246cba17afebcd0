package nfsclient

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSlotTableConcurrency(t *testing.T) {
	const nslots, workers, iters = 8, 32, 200
	tb := newSlotTable(nslots)
	var inUse [nslots]atomic.Int32
	var maxBusy atomic.Int32
	var busy atomic.Int32
	lastSeq := make([]uint32, nslots) // guarded by slot ownership
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < iters; i++ {
				l, err := tb.acquire(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				if inUse[l.id].Add(1) != 1 {
					t.Errorf("slot %d used twice at once", l.id)
				}
				if n := busy.Add(1); n > maxBusy.Load() {
					maxBusy.Store(n)
				}
				if l.seqid != lastSeq[l.id]+1 {
					t.Errorf("slot %d: seqid %d after %d", l.id, l.seqid, lastSeq[l.id])
				}
				if l.highest < l.id || l.highest >= nslots {
					t.Errorf("highest %d for slot %d", l.highest, l.id)
				}
				lastSeq[l.id] = l.seqid
				if i%7 == 0 {
					time.Sleep(10 * time.Microsecond)
				}
				busy.Add(-1)
				inUse[l.id].Add(-1)
				tb.release(l, slotAdvanced)
			}
		}()
	}
	wg.Wait()
	if maxBusy.Load() > nslots {
		t.Errorf("%d slots busy at once", maxBusy.Load())
	}
	var total uint32
	for i := range lastSeq {
		total += lastSeq[i]
		if tb.slots[i].seq != lastSeq[i] || tb.slots[i].busy {
			t.Errorf("slot %d: %+v", i, tb.slots[i])
		}
	}
	if total != workers*iters {
		t.Errorf("%d requests recorded, want %d", total, workers*iters)
	}
}

func TestSlotTableWaitAndCancel(t *testing.T) {
	tb := newSlotTable(2)
	a, _ := tb.acquire(context.Background())
	b, _ := tb.acquire(context.Background())
	if a.id != 0 || b.id != 1 || b.highest != 1 || a.highest != 0 {
		t.Fatalf("%+v %+v", a, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := tb.acquire(ctx); err == nil {
		t.Fatal("acquire with all slots busy did not wait")
	}
	got := make(chan slotLease)
	go func() {
		l, _ := tb.acquire(context.Background())
		got <- l
	}()
	time.Sleep(10 * time.Millisecond)
	tb.release(b, slotUnchanged) // not processed: seqid stays 0
	l := <-got
	if l.id != 1 || l.seqid != 1 {
		t.Fatalf("waiter got %+v", l)
	}
	tb.release(l, slotUncertain)
	l, _ = tb.acquire(context.Background()) // lowest free is slot 1 (0 busy)
	if l.id != 1 || l.seqid != 2 || !l.uncertain {
		t.Fatalf("after uncertain: %+v", l)
	}
	tb.release(l, slotAdvanced)
	tb.release(a, slotAdvanced)

	// The server's target caps the slots handed out.
	tb.setTarget(0)
	x, _ := tb.acquire(context.Background())
	ctx2, cancel2 := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel2()
	if _, err := tb.acquire(ctx2); err == nil {
		t.Fatal("slot beyond target handed out")
	}
	go func() { time.Sleep(10 * time.Millisecond); tb.setTarget(5) }()
	y, err := tb.acquire(context.Background())
	if err != nil || y.id != 1 {
		t.Fatalf("after target raised: %+v %v", y, err)
	}
	tb.release(x, slotAdvanced)
	tb.release(y, slotAdvanced)
}
