package toptalk

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// TestStormOnTop: 1,000 clients, one of which sends 20× the GETATTRs of
// each other one, interleaved as a server would see them: after one
// interval it is on top, with its count within the sketch's bound.
func TestStormOnTop(t *testing.T) {
	r := New(time.Second)
	storm := addr(777)
	const rounds = 20
	for round := range rounds {
		for i := range 1000 {
			r.Record(addr(i), nfs4.OpGetattr, 0)
			if i%50 == 0 {
				// the storm: 20 per round for each round's 1 of the others
				r.Record(storm, nfs4.OpGetattr, 0)
			}
		}
		if round%4 == 3 {
			r.Drain() // the drainer runs while traffic goes on
		}
	}
	r.Drain()
	r.Publish(time.Now())
	rep := r.Top(5, false)
	if len(rep.Clients) == 0 || rep.Clients[0].Addr != storm {
		t.Fatalf("top: %+v, want %v first", rep.Clients, storm)
	}
	top := rep.Clients[0]
	want := uint64(rounds * (20 + 1))
	if top.Ops-top.OpsErr > want || top.Ops < want {
		t.Fatalf("storm counted %d (error %d), true count %d", top.Ops, top.OpsErr, want)
	}
	if top.ByOp[nfs4.OpGetattr] < want {
		t.Fatalf("by op: %v", top.ByOp)
	}
	if rep.Total != uint64(rounds*(1000+20)) || rep.Lost != 0 {
		t.Fatalf("total %d lost %d", rep.Total, rep.Lost)
	}
	// The next interval starts empty.
	r.Publish(time.Now())
	if rep := r.Top(0, false); len(rep.Clients) != 0 || rep.Total != 0 {
		t.Fatalf("second interval: %+v", rep)
	}
}

// TestBytesAndConcurrency: concurrent recorders (run with -race), bytes
// per client, ordering by bytes.
func TestBytesAndConcurrency(t *testing.T) {
	r := New(time.Second)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				r.Record(addr(g), nfs4.OpRead, 4096*(g+1))
				if i%10 == 0 {
					r.Record(addr(100+g), nfs4.OpGetattr, 0)
				}
			}
		})
	}
	wg.Wait()
	r.Drain()
	r.Publish(time.Now())
	rep := r.Top(3, true)
	if len(rep.Clients) != 3 || rep.Clients[0].Addr != addr(7) || rep.Clients[0].Bytes != 1000*4096*8 {
		t.Fatalf("top by bytes: %+v", rep.Clients)
	}
	byOps := r.Top(0, false)
	if len(byOps.Clients) != 16 || byOps.Clients[0].Ops != 1000 {
		t.Fatalf("by ops: %d clients, first %+v", len(byOps.Clients), byOps.Clients[0])
	}
}

// TestLappedRing: a drainer that falls behind loses the oldest samples
// and says how many; memory stays the same.
func TestLappedRing(t *testing.T) {
	r := New(time.Second)
	a := netip.MustParseAddr("192.0.2.1")
	for range 3 * ringSize {
		r.Record(a, nfs4.OpGetattr, 0)
	}
	r.Drain()
	r.Publish(time.Now())
	rep := r.Top(0, false)
	if rep.Lost != 2*ringSize || rep.Total != ringSize {
		t.Fatalf("lost %d total %d", rep.Lost, rep.Total)
	}
}

func BenchmarkRecord(b *testing.B) {
	r := New(time.Second)
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			r.Record(addr(i%1000), nfs4.OpGetattr, 0)
			i++
		}
	})
	_ = fmt.Sprint()
}
