package metrics

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The latency histograms of the request path are sharded, like its
// counters: client_golang's histograms keep one set of atomics per
// histogram (and a sync.Map for the buckets of a native histogram), which
// every core serving GETATTRs would write. Each shard here is a plain
// array of atomic counters in the buckets of a Prometheus native
// histogram; a scrape adds the shards up and hands the result to
// client_golang as a native histogram that also carries classic buckets,
// so that Prometheus servers without native histograms get the same data.
const (
	// histSchema is the native histogram schema: 2^histSchema buckets per
	// power of two, each ~9% wider than the last.
	histSchema = 3
	perOctave  = 1 << histSchema
	// Durations up to 2^minExp s (~0.95 µs) go to the zero bucket;
	// durations over 2^maxExp s (~17 min) to the last bucket.
	minExp = -20
	maxExp = 10
	// firstIndex is the native index of the first bucket after the zero
	// bucket; bucket i's upper bound is 2^(i/perOctave) seconds.
	firstIndex = minExp*perOctave + 1
	nBuckets   = (maxExp-minExp)*perOctave + 1 // [0] is the zero bucket
	// Classic buckets: le = 2^k s for k in [classicMin, classicMax],
	// 7.6 µs to 16 s; each is a native bucket boundary, so they are exact.
	classicMin = -17
	classicMax = 4
)

var (
	zeroThreshold = math.Ldexp(1, minExp)
	// octave[j] = 2^((j-perOctave)/perOctave), j = 0..perOctave: the
	// upper bounds, as fractions of 2^e, of the buckets within [2^(e-1), 2^e].
	octave [perOctave + 1]float64
)

func init() {
	for j := range octave {
		octave[j] = math.Exp2(float64(j-perOctave) / perOctave)
	}
}

// bucketOf returns the index in histShard.counts of a duration of v seconds.
func bucketOf(v float64) int {
	if v <= zeroThreshold {
		return 0
	}
	f, e := math.Frexp(v) // v = f × 2^e, f in [0.5, 1)
	j := 0
	for j < perOctave && f > octave[j] {
		j++
	}
	i := e*perOctave + j - perOctave // native index: v <= 2^(i/perOctave)
	return min(i-firstIndex+1, nBuckets-1)
}

// histShard is one shard of a histogram.
type histShard struct {
	counts [nBuckets]atomic.Uint64
	sumNs  atomic.Int64
}

// histogram is a sharded latency histogram. Shards are allocated on first
// use, so a histogram nobody observes costs a few pointers.
type histogram struct {
	shards [shards]atomic.Pointer[histShard]
}

func (h *histogram) observe(sh uint32, d time.Duration) {
	p := &h.shards[sh%shards]
	s := p.Load()
	if s == nil {
		p.CompareAndSwap(nil, new(histShard))
		s = p.Load()
	}
	s.counts[bucketOf(d.Seconds())].Add(1)
	s.sumNs.Add(int64(d))
}

// used reports whether anything was ever observed.
func (h *histogram) used() bool {
	for i := range h.shards {
		if h.shards[i].Load() != nil {
			return true
		}
	}
	return false
}

// metric returns the histogram's current value as a client_golang metric.
func (h *histogram) metric(desc *prometheus.Desc, created time.Time, labels ...string) prometheus.Metric {
	var counts [nBuckets]uint64
	var sumNs int64
	for i := range h.shards {
		s := h.shards[i].Load()
		if s == nil {
			continue
		}
		for b := range counts {
			counts[b] += s.counts[b].Load()
		}
		sumNs += s.sumNs.Load()
	}
	var count uint64
	pos := map[int]int64{}
	for b := 1; b < nBuckets; b++ {
		if counts[b] > 0 {
			pos[firstIndex+b-1] = int64(counts[b])
			count += counts[b]
		}
	}
	count += counts[0]
	native := prometheus.MustNewConstNativeHistogram(desc, count, time.Duration(sumNs).Seconds(), pos, nil,
		counts[0], histSchema, zeroThreshold, created, labels...)
	classic := make([]*dto.Bucket, 0, classicMax-classicMin+1)
	cum := counts[0]
	b := 1
	for k := classicMin; k <= classicMax; k++ {
		for ; b < nBuckets && firstIndex+b-1 <= k*perOctave; b++ {
			cum += counts[b]
		}
		classic = append(classic, &dto.Bucket{UpperBound: new(math.Ldexp(1, k)), CumulativeCount: new(cum)})
	}
	return dualHistogram{native, classic}
}

// dualHistogram is a native histogram with classic buckets as well.
type dualHistogram struct {
	prometheus.Metric
	classic []*dto.Bucket
}

func (d dualHistogram) Write(out *dto.Metric) error {
	if err := d.Metric.Write(out); err != nil {
		return err
	}
	out.Histogram.Bucket = d.classic
	return nil
}
