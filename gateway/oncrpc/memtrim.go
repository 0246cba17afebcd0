package oncrpc

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Returning memory after a burst. Replies of up to a record each are built
// in fresh buffers (the pools keep none over maxPooledBuf), so a burst of
// large READs leaves tens of megabytes of garbage behind. A busy server
// collects it with its next allocations, but a server the burst left idle
// allocates nothing: the garbage stays until the runtime's forced GC two
// minutes later, and the freed pages go back to the OS only gradually
// after that. So once the server is idle, and its heap has grown well
// beyond what it was after the last trim, the trimmer collects and hands
// everything free back at once. It never runs while calls are in flight,
// so it costs the hot path nothing.

const (
	// trimEvery is how often the trimmer looks; the server must have been
	// idle at two looks in a row.
	trimEvery = 2 * time.Second
	// trimGrowth is how far the heap must have grown since the last trim
	// for another to be worth a full collection.
	trimGrowth = 32 << 20
)

// heapMetrics are the heap's mapped, not yet released, memory: live and
// dead objects, fragmentation, and free pages not returned to the OS.
var heapMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

func heapHeld(samples []metrics.Sample) uint64 {
	metrics.Read(samples)
	var n uint64
	for _, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			n += s.Value.Uint64()
		}
	}
	return n
}

// idle reports whether no call is being served or answered anywhere on
// the server.
func (s *Server) idle() bool {
	return s.budget.avail.Load() == s.budget.size && s.replies.avail.Load() == s.replies.size
}

// trimMemory runs the trimmer until the server shuts down.
func (s *Server) trimMemory() {
	samples := make([]metrics.Sample, len(heapMetrics))
	for i, name := range heapMetrics {
		samples[i].Name = name
	}
	base := heapHeld(samples)
	t := time.NewTicker(trimEvery)
	defer t.Stop()
	wasIdle := false
	for {
		select {
		case <-s.closing:
			return
		case <-t.C:
		}
		idle := s.idle()
		if idle && wasIdle && heapHeld(samples) > base+trimGrowth {
			// The buffer pools (sync.Pool) keep what they hold through
			// one collection and drop it in the next: two, so that the
			// burst's buffers go too.
			runtime.GC()
			debug.FreeOSMemory()
			base = heapHeld(samples)
			s.log.Debug("returned memory to the OS after a burst", "heap_bytes", base)
		}
		wasIdle = idle
	}
}
