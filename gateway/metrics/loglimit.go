package metrics

import (
	"sync/atomic"
	"time"
)

// LogLimit is a token bucket for log lines: at most Burst lines at once
// and PerSecond lines a second on average, so that a storm of failing
// requests cannot flood the log (or slow the gateway writing it). Lines
// it drops are counted; the next line allowed says how many were dropped.
// It is lock-free: Allow is one load and one compare-and-swap in the
// common case.
type LogLimit struct {
	perSecond float64
	burst     float64
	// state packs the bucket: the time (ns since start) at which it would
	// be full again. A line takes 1/perSecond seconds of it.
	full       atomic.Int64
	start      time.Time
	suppressed atomic.Uint64
	m          *Metrics
	now        func() time.Time // tests
}

// NewLogLimit returns a limit of perSecond lines a second with bursts of
// burst lines; m (may be nil) counts the lines dropped.
func NewLogLimit(perSecond, burst int, m *Metrics) *LogLimit {
	return &LogLimit{perSecond: float64(max(perSecond, 1)), burst: float64(max(burst, 1)), start: time.Now(), m: m, now: time.Now}
}

// Allow reports whether a line may be written now; if so, dropped is the
// number of lines suppressed since the last line allowed.
func (l *LogLimit) Allow() (ok bool, dropped uint64) {
	if l == nil {
		return true, 0
	}
	now := int64(l.now().Sub(l.start))
	cost := int64(float64(time.Second) / l.perSecond)
	window := int64(l.burst * float64(cost))
	for {
		full := l.full.Load()
		base := max(full, now) // an empty bucket's debt starts now
		next := base + cost
		if next-now > window {
			l.suppressed.Add(1)
			if l.m != nil {
				l.m.logSuppressed.Inc()
			}
			return false, 0
		}
		if l.full.CompareAndSwap(full, next) {
			return true, l.suppressed.Swap(0)
		}
	}
}
