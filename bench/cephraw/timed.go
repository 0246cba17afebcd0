//go:build !noceph

package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// result is one row, in the shape of bench/nfsbench's JSON results (the
// fields vsganesha reads: name, rate, unit, ops, errors, latencies), so
// that a harness can merge it as nfsbench's own raw rows.
type result struct {
	Name       string         `json:"name"`
	Clients    int            `json:"clients"`
	Depth      int            `json:"depth,omitempty"`
	Ops        int64          `json:"ops"`
	Errors     int64          `json:"errors"`
	FirstError string         `json:"first_error,omitempty"`
	Seconds    float64        `json:"seconds"`
	Bytes      int64          `json:"bytes,omitempty"`
	Rate       float64        `json:"rate"`
	Unit       string         `json:"unit"`
	P50us      float64        `json:"p50_us"`
	P99us      float64        `json:"p99_us"`
	MaxUs      float64        `json:"max_us"`
	Extra      map[string]any `json:"extra,omitempty"`
	Notes      []string       `json:"notes,omitempty"`
}

// rawSuffix marks raw rows in nfsbench's JSON ("write (raw)").
const rawSuffix = " (raw)"

func (r *result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *result) extra(k string, v any) {
	if r.Extra == nil {
		r.Extra = map[string]any{}
	}
	r.Extra[k] = v
}

// setLatencies fills the percentile fields from lat (sorted here) by the
// nearest-rank method, as nfsbench does.
func (r *result) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		rank := int(p * float64(len(lat)) / 100)
		if float64(rank)*100 < p*float64(len(lat)) {
			rank++
		}
		return lat[max(1, min(len(lat), rank))-1]
	}
	r.P50us, r.P99us = us(pct(50)), us(pct(99))
	if len(lat) > 0 {
		r.MaxUs = us(lat[len(lat)-1])
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// opFunc is one operation of one worker of a timed workload.
type opFunc func() error

// timed runs each ops[i] in a loop on a goroutine of its own for a short
// warm-up and then d, with nfsbench's accounting: the operations that
// started within d count, and the rate is their number over the time from
// the end of the warm-up to the end of the last of them. A libcephfs error
// is counted and ends that worker (it is not a transient NFS status).
func timed(ctx context.Context, name string, d time.Duration, ops []opFunc) result {
	warm := min(d/5, 500*time.Millisecond)
	type worker struct {
		lat      []time.Duration
		errs     int64
		firstErr error
		lastEnd  time.Time
	}
	ws := make([]worker, len(ops))
	from := time.Now().Add(warm)
	end := from.Add(d)
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() {
			w := &ws[i]
			w.lat = make([]time.Duration, 0, 8192)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				err := op()
				t1 := time.Now()
				if err != nil {
					w.errs++
					w.firstErr = err
					return
				}
				if !t0.Before(from) {
					w.lat = append(w.lat, t1.Sub(t0))
					w.lastEnd = t1
				}
			}
		})
	}
	wg.Wait()
	r := result{Name: name + rawSuffix, Clients: len(ops), Depth: 1, Unit: "ops/s"}
	last := from
	var lat []time.Duration
	for _, w := range ws {
		lat = append(lat, w.lat...)
		r.Errors += w.errs
		if w.firstErr != nil && r.FirstError == "" {
			r.FirstError = w.firstErr.Error()
		}
		if w.lastEnd.After(last) {
			last = w.lastEnd
		}
	}
	r.Ops = int64(len(lat))
	r.Seconds = last.Sub(from).Seconds()
	if r.Seconds > 0 {
		r.Rate = float64(r.Ops) / r.Seconds
	}
	r.setLatencies(lat)
	if ctx.Err() != nil {
		r.note("interrupted: partial figures")
	}
	return r
}

// workerRand is worker i's random source (fixed seeds: runs compare).
func workerRand(i int, salt uint64) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), salt)) }

// fillPattern fills buf with bytes that do not compress or deduplicate
// (bench/nfsbench's pattern).
func fillPattern(buf []byte) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i+8 <= len(buf); i += 8 {
		v := r.Uint64()
		for j := range 8 {
			buf[i+j] = byte(v >> (8 * j))
		}
	}
}

// parseSize parses "4096", "64K", "256M", "256MiB", "1G" as nfsbench's
// -size does.
func parseSize(s string) (int64, error) {
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

// sizeFlag is a flag.Value for parseSize.
type sizeFlag struct{ v *int64 }

func (s sizeFlag) String() string {
	if s.v == nil {
		return ""
	}
	return strconv.FormatInt(*s.v, 10)
}

func (s sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err == nil {
		*s.v = n
	}
	return err
}

// fmtBytes prints a byte count in MiB or GiB.
func fmtBytes(v int64) string {
	if v >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(v)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
}
