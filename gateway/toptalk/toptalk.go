// Package toptalk finds the clients that load the gateway most (the "top
// talkers"): the client addresses with the highest operation rate and
// bytes over the last interval, by operation. One client's GETATTR storm
// once took a production NFS service down; an operator must be able to
// name it in seconds.
//
// The hot path costs O(1) and takes no lock: Record writes one sample
// into one of a few lossy rings (an atomic index and a seqlock per slot).
// A background goroutine drains the rings into a space-saving sketch
// (Metwally et al.) of fixed size, so memory stays bounded whatever the
// number of clients, and the heavy hitters are found with a bounded
// overestimate. Each interval the sketch's top entries are published and
// the sketch starts again.
package toptalk

import (
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Capacity is how many clients the sketch tracks at once; any client whose
// share of the operations is above 1/Capacity is guaranteed to be in it.
const Capacity = 512

const (
	rings    = 8
	ringSize = 1 << 14 // samples per ring between drains; older ones are overwritten
	maxOps   = 128     // operation numbers counted per client (NFSv4.2 has 75)
)

// sample is one operation of one client, written lock-free.
type sample struct {
	seq  atomic.Uint64 // odd while being written
	hi   atomic.Uint64 // the address, 16 bytes
	lo   atomic.Uint64
	meta atomic.Uint64 // op (8 bits) | bytes (56 bits)
}

type ring struct {
	next  atomic.Uint64
	slots [ringSize]sample
	read  uint64 // drain position (drainer only)
	_     [64]byte
}

// Recorder collects samples and keeps the published top list.
type Recorder struct {
	rings    [rings]ring
	interval time.Duration

	// Drainer state (one goroutine).
	sk      sketch
	started time.Time
	lost    uint64

	mu   sync.Mutex
	last Report

	stop chan struct{}
	done chan struct{}
}

// New returns a recorder publishing a report every interval; Start runs
// its drainer.
func New(interval time.Duration) *Recorder {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	r := &Recorder{interval: interval, stop: make(chan struct{}), done: make(chan struct{})}
	r.sk.init()
	return r
}

// Record counts one operation op of the client at addr that moved n bytes
// (READ or WRITE payload; 0 otherwise). Safe for concurrent use; no lock.
func (r *Recorder) Record(addr netip.Addr, op uint32, n int) {
	a := addr.As16()
	hi := uint64(a[0])<<56 | uint64(a[1])<<48 | uint64(a[2])<<40 | uint64(a[3])<<32 | uint64(a[4])<<24 | uint64(a[5])<<16 | uint64(a[6])<<8 | uint64(a[7])
	lo := uint64(a[8])<<56 | uint64(a[9])<<48 | uint64(a[10])<<40 | uint64(a[11])<<32 | uint64(a[12])<<24 | uint64(a[13])<<16 | uint64(a[14])<<8 | uint64(a[15])
	g := &r.rings[(lo^lo>>17)%rings]
	i := g.next.Add(1) - 1
	s := &g.slots[i%ringSize]
	seq := s.seq.Load()
	s.seq.Store(seq | 1)
	s.hi.Store(hi)
	s.lo.Store(lo)
	s.meta.Store(uint64(op&0xff) | uint64(n)<<8)
	s.seq.Store((seq | 1) + 1)
}

// Start runs the drainer until Stop.
func (r *Recorder) Start() {
	r.started = time.Now()
	go func() {
		defer close(r.done)
		drain := time.NewTicker(100 * time.Millisecond)
		defer drain.Stop()
		publish := time.NewTicker(r.interval)
		defer publish.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-drain.C:
				r.Drain()
			case now := <-publish.C:
				r.Drain()
				r.Publish(now)
			}
		}
	}()
}

// Stop ends the drainer.
func (r *Recorder) Stop() {
	close(r.stop)
	<-r.done
}

// Drain moves the rings' new samples into the sketch (drainer only; tests
// call it directly).
func (r *Recorder) Drain() {
	for gi := range r.rings {
		g := &r.rings[gi]
		end := g.next.Load()
		if end-g.read > ringSize {
			// The ring lapped the drainer: the oldest samples are gone.
			r.lost += end - g.read - ringSize
			g.read = end - ringSize
		}
		for ; g.read < end; g.read++ {
			s := &g.slots[g.read%ringSize]
			seq := s.seq.Load()
			hi, lo, meta := s.hi.Load(), s.lo.Load(), s.meta.Load()
			if seq&1 != 0 || s.seq.Load() != seq || seq == 0 {
				r.lost++ // being rewritten: skip rather than misattribute
				continue
			}
			var a [16]byte
			for k := range 8 {
				a[k] = byte(hi >> (56 - 8*k))
				a[8+k] = byte(lo >> (56 - 8*k))
			}
			r.sk.add(netip.AddrFrom16(a).Unmap(), uint8(meta&0xff), meta>>8)
		}
	}
}

// Client is one heavy hitter of an interval.
type Client struct {
	Addr netip.Addr
	// Ops counts its operations; OpsErr is how much Ops may overstate (the
	// space-saving bound: the count of the client it replaced).
	Ops, OpsErr uint64
	// Bytes read and written by its READs and WRITEs.
	Bytes uint64
	// ByOp counts its operations by operation number.
	ByOp map[uint32]uint64
}

// Report is one interval's result.
type Report struct {
	Start, End time.Time
	Total      uint64   // operations seen in the interval
	Lost       uint64   // samples dropped (rings lapped or torn)
	Clients    []Client // by Ops, highest first
}

// Publish ends the interval at now: the sketch's clients become the last
// report, and the sketch starts again (drainer only; tests call it
// directly).
func (r *Recorder) Publish(now time.Time) {
	rep := Report{Start: r.started, End: now, Total: r.sk.total, Lost: r.lost}
	for _, c := range r.sk.counters[:r.sk.n] {
		byOp := map[uint32]uint64{}
		for op, v := range c.byOp {
			if v > 0 {
				byOp[uint32(op)] = v
			}
		}
		rep.Clients = append(rep.Clients, Client{Addr: c.addr, Ops: c.ops, OpsErr: c.err, Bytes: c.bytes, ByOp: byOp})
	}
	slices.SortFunc(rep.Clients, func(a, b Client) int {
		switch {
		case a.Ops > b.Ops:
			return -1
		case a.Ops < b.Ops:
			return 1
		}
		return a.Addr.Compare(b.Addr)
	})
	r.mu.Lock()
	r.last = rep
	r.mu.Unlock()
	r.sk.reset()
	r.started, r.lost = now, 0
}

// Top returns the last interval's n busiest clients (all with n <= 0),
// ordered by operations or, with byBytes, by bytes.
func (r *Recorder) Top(n int, byBytes bool) Report {
	r.mu.Lock()
	rep := r.last
	r.mu.Unlock()
	rep.Clients = slices.Clone(rep.Clients)
	if byBytes {
		slices.SortStableFunc(rep.Clients, func(a, b Client) int {
			switch {
			case a.Bytes > b.Bytes:
				return -1
			case a.Bytes < b.Bytes:
				return 1
			}
			return 0
		})
	}
	if n > 0 && len(rep.Clients) > n {
		rep.Clients = rep.Clients[:n]
	}
	return rep
}

// sketch is a space-saving summary of Capacity counters.
type sketch struct {
	counters [Capacity]counter
	n        int
	index    map[netip.Addr]int
	total    uint64
}

type counter struct {
	addr       netip.Addr
	ops, err   uint64
	bytes      uint64
	byOp       [maxOps]uint64
	overflowOp uint64 // operations with numbers past maxOps
}

func (s *sketch) init() { s.index = make(map[netip.Addr]int, Capacity) }

func (s *sketch) reset() {
	clear(s.index)
	s.n, s.total = 0, 0
}

func (s *sketch) add(a netip.Addr, op uint8, n uint64) {
	s.total++
	i, ok := s.index[a]
	if !ok {
		if s.n < Capacity {
			i = s.n
			s.n++
			s.counters[i] = counter{addr: a}
		} else {
			// Replace the smallest: the newcomer inherits its count as
			// the overestimate (space-saving's guarantee).
			i = 0
			for j := 1; j < Capacity; j++ {
				if s.counters[j].ops < s.counters[i].ops {
					i = j
				}
			}
			min := s.counters[i].ops
			delete(s.index, s.counters[i].addr)
			s.counters[i] = counter{addr: a, ops: min, err: min}
		}
		s.index[a] = i
	}
	c := &s.counters[i]
	c.ops++
	c.bytes += n
	if int(op) < maxOps {
		c.byOp[op]++
	} else {
		c.overflowOp++
	}
}
