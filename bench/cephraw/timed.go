//go:build !noceph

package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"fmt"
	"math/rand/v2"
	"slices"
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

// setLatencies fills the percentile fields from lat (sorted here) as
// nfsbench does.
func (r *result) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	r.P50us, r.P99us = us(benchkit.Percentile(lat, 50)), us(benchkit.Percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxUs = us(lat[len(lat)-1])
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// opFunc is one operation of one worker of a timed workload.
type opFunc func() error

// timed runs each ops[i] in a loop on a goroutine of its own, with
// nfsbench's warm-up and accounting (benchkit.Run). A libcephfs error is
// counted and ends that worker (it is not a transient NFS status).
func timed(ctx context.Context, name string, d time.Duration, ops []opFunc) result {
	l := benchkit.Run(ctx, d, len(ops), func(_ context.Context, i int) error { return ops[i]() },
		func(error) bool { return true }, nil)
	r := result{Name: name + rawSuffix, Clients: len(ops), Depth: 1, Unit: "ops/s",
		Ops: int64(len(l.Lat)), Errors: l.Errors, Seconds: l.Seconds(), Rate: l.Rate()}
	if l.FirstError != nil {
		r.FirstError = l.FirstError.Error()
	}
	r.setLatencies(l.Lat)
	if ctx.Err() != nil {
		r.note("interrupted: partial figures")
	}
	return r
}

// workerRand is worker i's random source (fixed seeds: runs compare).
func workerRand(i int, salt uint64) *rand.Rand { return rand.New(rand.NewPCG(uint64(i), salt)) }

// fmtBytes prints a byte count in MiB or GiB.
func fmtBytes(v int64) string {
	if v >= 1<<30 {
		return fmt.Sprintf("%.2f GiB", float64(v)/(1<<30))
	}
	return fmt.Sprintf("%.1f MiB", float64(v)/(1<<20))
}
