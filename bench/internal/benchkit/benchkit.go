// Package benchkit holds what bench/nfsbench and bench/cephraw share so
// that their figures are comparable by construction: the timed loop and
// its accounting, nearest-rank percentiles, the data pattern and the size
// flags.
package benchkit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Loop is what Run measured.
type Loop struct {
	// Lat holds the latencies of the operations that started within the
	// measured window and succeeded, unsorted.
	Lat        []time.Duration
	Errors     int64
	FirstError error
	// From is the end of the warm-up, Last the end of the last counted
	// operation.
	From, Last time.Time
}

// Seconds is the measured time: from the end of the warm-up to the end of
// the last counted operation.
func (l *Loop) Seconds() float64 { return l.Last.Sub(l.From).Seconds() }

// Rate is the counted operations per second.
func (l *Loop) Rate() float64 {
	if s := l.Seconds(); s > 0 {
		return float64(len(l.Lat)) / s
	}
	return 0
}

// Run runs op(ctx, i) in a loop on n goroutines for a short warm-up and
// then d. The operations that start within d count. A failed operation is
// counted as an error; the worker stops if fatal(err) says so (or ctx is
// done), else it goes on. atStart, if not nil, runs when the warm-up ends
// (e.g. to sample CPU counters), and has returned by the time Run does.
func Run(ctx context.Context, d time.Duration, n int, op func(ctx context.Context, i int) error, fatal func(error) bool, atStart func()) Loop {
	warm := min(d/5, 500*time.Millisecond)
	type worker struct {
		lat      []time.Duration
		errs     int64
		firstErr error
		lastEnd  time.Time
	}
	ws := make([]worker, n)
	from := time.Now().Add(warm)
	end := from.Add(d)
	started := make(chan struct{})
	go func() {
		defer close(started)
		t := time.NewTimer(time.Until(from))
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		if atStart != nil {
			atStart()
		}
	}()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			w := &ws[i]
			w.lat = make([]time.Duration, 0, 8192)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op(ctx, i)
				t1 := time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return
					}
					w.errs++
					if w.firstErr == nil {
						w.firstErr = err
					}
					if fatal(err) {
						return
					}
					continue
				}
				if !t0.Before(from) {
					w.lat = append(w.lat, t1.Sub(t0))
					w.lastEnd = t1
				}
			}
		})
	}
	wg.Wait()
	<-started
	l := Loop{From: from, Last: from}
	for _, w := range ws {
		l.Lat = append(l.Lat, w.lat...)
		l.Errors += w.errs
		if w.firstErr != nil && l.FirstError == nil {
			l.FirstError = w.firstErr
		}
		if w.lastEnd.After(l.Last) {
			l.Last = w.lastEnd
		}
	}
	return l
}

// Percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest sample with at least p% of the samples
// at or below it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if p <= 0 {
		return sorted[0]
	}
	// rank = ceil(p/100 * n), computed in integers where possible so
	// that p=50, n=10 gives exactly 5.
	rank := int(p * float64(n) / 100)
	if float64(rank)*100 < p*float64(n) {
		rank++
	}
	rank = max(1, min(n, rank))
	return sorted[rank-1]
}

// FillPattern fills buf with bytes that do not compress or deduplicate.
func FillPattern(buf []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(buf); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
}

// SizeFlag is a flag.Value: a byte count with an optional K, M, G (binary)
// suffix.
type SizeFlag struct{ V *int64 }

func (s SizeFlag) String() string {
	if s.V == nil {
		return ""
	}
	return FormatSize(*s.V)
}

func (s SizeFlag) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s.V = n
	return nil
}

// ParseSize parses "4096", "64K", "256M", "256MiB", "1G".
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(strings.ToUpper(s))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		}
		if mult > 1 {
			t = t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q (want e.g. 4096, 64K, 256M, 1G)", s)
	}
	return v * mult, nil
}

// FormatSize prints v with the largest suffix that divides it.
func FormatSize(v int64) string {
	switch {
	case v >= 1<<30 && v%(1<<30) == 0:
		return fmt.Sprintf("%dG", v>>30)
	case v >= 1<<20 && v%(1<<20) == 0:
		return fmt.Sprintf("%dM", v>>20)
	case v >= 1<<10 && v%(1<<10) == 0:
		return fmt.Sprintf("%dK", v>>10)
	}
	return strconv.FormatInt(v, 10)
}
