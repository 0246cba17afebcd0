// Package metrics is the gateway's instrumentation: Prometheus metrics
// (github.com/prometheus/client_golang), the /healthz and /readyz probes,
// and a rate limit for the log lines of slow or failed operations.
//
// The engine (gateway/compound) and the RPC server (gateway/oncrpc) call
// small hooks on a *Metrics; everything else (state, grace, exports, RADOS)
// is read when Prometheus scrapes, through functions cmd/nfsgw sets. The
// hooks on the request path take no lock and allocate nothing in the
// steady state: successful operations are counted in per-shard atomic
// counters (a shard per group of connections, so that cores serving
// different connections do not write one cache line), failures in a
// sync.Map of atomic counters (lock-free once a key exists), latencies in
// sharded histograms of atomic counters (hist.go). No label names a client: every label has a bounded set
// of values (operations, minor versions, status codes, export ids,
// backend calls).
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every metric of the gateway.
const Namespace = "nfsgw"

// MaxOp is the highest operation number counted by operation; others are
// counted as op 0 ("ILLEGAL").
const MaxOp = 75

// minors is the number of minor versions served (4.0, 4.1, 4.2).
const minors = 3

// shards is the number of copies of the hot counters; a connection's
// requests always use the same one (its id modulo shards).
const shards = 16

// opKeys is the number of (operation, minor version) pairs.
const opKeys = (MaxOp + 1) * minors

// shard holds the counters of the successful path for one group of
// connections. It is padded so that two shards never share a cache line.
type shard struct {
	opsOK       [opKeys]atomic.Uint64
	compoundsOK [minors]atomic.Uint64
	started     atomic.Uint64 // COMPOUNDs begun
	done        atomic.Uint64 // COMPOUNDs finished
	readBytes   atomic.Uint64
	writeBytes  atomic.Uint64
	_           [64]byte
}

// Options configures New.
type Options struct {
	// OpName names an operation number (compound.OpName).
	OpName func(op uint32) string
	// StatusName names a status code (nfs4.StatusName).
	StatusName func(st uint32) string
	// Version is the gateway's version (git describe), for build info.
	Version string
}

// Metrics holds the gateway's metrics and the registry that exposes them.
// A nil *Metrics is valid: every hook then does nothing.
type Metrics struct {
	reg        *prometheus.Registry
	opName     func(uint32) string
	statusName func(uint32) string

	// canon maps an operation number to the first number with its name,
	// so that two numbers never make two series with the same labels.
	canon [MaxOp + 1]uint8

	shards [shards]shard
	// failures counts failed operations and COMPOUNDs by failKey.
	failures sync.Map // uint64 → *atomic.Uint64

	opHist       [MaxOp + 1]histogram
	compoundHist [minors]histogram
	created      time.Time

	exports sync.Map // uint16 → *ExportCounts

	connsOpened  atomic.Uint64
	connsClosed  atomic.Uint64
	connsRefused atomic.Uint64

	backendsMu  sync.Mutex // guards backends (changed at start only)
	backends    []*Backend
	backendErrs *prometheus.CounterVec

	logSuppressed prometheus.Counter

	sources sources
}

// New returns the gateway's metrics, registered with a registry of their
// own together with the Go runtime and process collectors.
func New(o Options) *Metrics {
	if o.OpName == nil {
		o.OpName = func(op uint32) string { return strconv.FormatUint(uint64(op), 10) }
	}
	if o.StatusName == nil {
		o.StatusName = func(st uint32) string { return strconv.FormatUint(uint64(st), 10) }
	}
	if o.Version == "" {
		o.Version = "dev"
	}
	m := &Metrics{reg: prometheus.NewRegistry(), opName: o.OpName, statusName: o.StatusName, created: time.Now()}
	first := map[string]uint8{}
	for op := range uint8(MaxOp + 1) {
		name := o.OpName(uint32(op))
		if _, ok := first[name]; !ok {
			first[name] = op
		}
		m.canon[op] = first[name]
	}
	m.backendErrs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "backend_errors_total",
		Help: "Backend calls (libcephfs) that failed, by backend, call and errno."}, []string{"backend", "call", "errno"})
	m.logSuppressed = prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "log_lines_suppressed_total",
		Help: "Log lines about slow or failed operations that the log's rate limit dropped."})
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "build_info",
		Help:        "Always 1; the labels say which build runs.",
		ConstLabels: prometheus.Labels{"version": o.Version, "goversion": runtime.Version()}})
	buildInfo.Set(1)
	m.reg.MustRegister(m.backendErrs, m.logSuppressed, buildInfo,
		&requestCollector{m}, &sourceCollector{m},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Registry returns the registry holding every metric (for tests, and to
// register more).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus' formats (text, and protobuf
// for native histograms), as negotiated with the scraper.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg, EnableOpenMetrics: true})
}

// failKey packs what a failure counter counts: kind (0 operation, 1
// COMPOUND), operation, minor version and status.
func failKey(kind, op, minor, status uint32) uint64 {
	return uint64(kind)<<62 | uint64(op&0xffff)<<40 | uint64(minor&0xff)<<32 | uint64(status)
}

func (m *Metrics) fail(key uint64) {
	if v, ok := m.failures.Load(key); ok {
		v.(*atomic.Uint64).Add(1)
		return
	}
	v, _ := m.failures.LoadOrStore(key, new(atomic.Uint64))
	v.(*atomic.Uint64).Add(1)
}

// ShardOf returns the shard of a connection id.
func ShardOf(connID uint64) uint32 { return uint32(connID % shards) }

// CompoundStart records that a COMPOUND began on shard sh.
func (m *Metrics) CompoundStart(sh uint32) {
	if m == nil {
		return
	}
	m.shards[sh%shards].started.Add(1)
}

// CompoundDone records a finished COMPOUND: its minor version, its status
// (that of its last operation) and how long it took. Every CompoundStart
// is matched by one CompoundDone.
func (m *Metrics) CompoundDone(sh, minor, status uint32, d time.Duration) {
	if m == nil {
		return
	}
	s := &m.shards[sh%shards]
	s.done.Add(1)
	if minor >= minors {
		// NFS4ERR_MINOR_VERS_MISMATCH: counted under status, not minor.
		minor = minors
	} else {
		m.compoundHist[minor].observe(sh, d)
	}
	if status == 0 && minor < minors {
		s.compoundsOK[minor].Add(1)
		return
	}
	m.fail(failKey(1, 0, minor, status))
}

// Op records one operation: its number, minor version, status, duration,
// the counters of the export it ran in (nil: none, or the
// pseudo-filesystem; see Export) and the bytes it read or wrote (READ,
// WRITE).
func (m *Metrics) Op(sh, op, minor, status uint32, d time.Duration, exp *ExportCounts, readBytes, writeBytes int) {
	if m == nil {
		return
	}
	if op > MaxOp {
		op = 0
	}
	op = uint32(m.canon[op])
	if minor >= minors {
		minor = minors - 1
	}
	s := &m.shards[sh%shards]
	if status == 0 {
		s.opsOK[op*minors+minor].Add(1)
	} else {
		m.fail(failKey(0, op, minor, status))
	}
	if readBytes > 0 {
		s.readBytes.Add(uint64(readBytes))
	}
	if writeBytes > 0 {
		s.writeBytes.Add(uint64(writeBytes))
	}
	m.opHist[op].observe(sh, d)
	if exp != nil {
		exp.count(readBytes, writeBytes)
	}
}

// ExportCounts are one export's counters. They are not sharded (15,000
// exports would make that costly): a single export's operations share
// one cache line.
type ExportCounts struct {
	ops, readBytes, writeBytes atomic.Uint64
}

func (e *ExportCounts) count(r, w int) {
	e.ops.Add(1)
	if r > 0 {
		e.readBytes.Add(uint64(r))
	}
	if w > 0 {
		e.writeBytes.Add(uint64(w))
	}
}

// Export returns the counters of export id, for Op.
func (m *Metrics) Export(id uint16) *ExportCounts {
	if v, ok := m.exports.Load(id); ok {
		return v.(*ExportCounts)
	}
	v, _ := m.exports.LoadOrStore(id, new(ExportCounts))
	return v.(*ExportCounts)
}

// ConnOpened and ConnClosed count the RPC server's connections; ConnRefused
// counts connections closed at once for exceeding the per-address limit.
func (m *Metrics) ConnOpened() {
	if m != nil {
		m.connsOpened.Add(1)
	}
}

// ConnClosed: see ConnOpened.
func (m *Metrics) ConnClosed() {
	if m != nil {
		m.connsClosed.Add(1)
	}
}

// ConnRefused: see ConnOpened.
func (m *Metrics) ConnRefused() {
	if m != nil {
		m.connsRefused.Add(1)
	}
}

// Progress returns how many COMPOUNDs have begun and finished (for the
// health check's wedge detection).
func (m *Metrics) Progress() (started, done uint64) {
	if m == nil {
		return 0, 0
	}
	for i := range m.shards {
		// done first: a COMPOUND finishing between the two loads may
		// then look in flight, never finished before it began.
		done += m.shards[i].done.Load()
	}
	for i := range m.shards {
		started += m.shards[i].started.Load()
	}
	return started, done
}
