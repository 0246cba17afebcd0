package metrics

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"nfsgw/grace"
)

func newTestMetrics() *Metrics {
	names := map[uint32]string{0: "ILLEGAL", 9: "GETATTR", 22: "PUTFH", 25: "READ", 38: "WRITE", 53: "SEQUENCE"}
	return New(Options{
		OpName:     func(op uint32) string { return names[op] },
		StatusName: func(st uint32) string { return fmt.Sprintf("ST%d", st) },
		Version:    "v1.2.3-test",
	})
}

// family gathers m and returns the metrics of one family.
func family(t *testing.T, m *Metrics, name string) []*dto.Metric {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f.Metric
		}
	}
	return nil
}

// find returns the metric of a family whose labels are exactly labels
// ("k=v" pairs), or nil.
func find(t *testing.T, m *Metrics, name string, labels ...string) *dto.Metric {
	t.Helper()
	sort.Strings(labels)
	for _, mt := range family(t, m, name) {
		var have []string
		for _, l := range mt.Label {
			have = append(have, l.GetName()+"="+l.GetValue())
		}
		sort.Strings(have)
		if strings.Join(have, ",") == strings.Join(labels, ",") {
			return mt
		}
	}
	return nil
}

func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	mt := find(t, m, name, labels...)
	if mt == nil {
		t.Fatalf("%s{%s}: no such series", name, strings.Join(labels, ","))
	}
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Gauge != nil:
		return mt.Gauge.GetValue()
	}
	t.Fatalf("%s: not a counter or gauge", name)
	return 0
}

func TestOpsAndCompounds(t *testing.T) {
	m := newTestMetrics()
	exp := m.Export(7)
	// GETATTRs on every shard: the counts add up across shards.
	for sh := range uint32(40) {
		m.CompoundStart(sh)
		m.Op(sh, 22, 1, 0, time.Microsecond, exp, 0, 0)
		m.Op(sh, 9, 1, 0, time.Microsecond, exp, 0, 0)
		m.CompoundDone(sh, 1, 0, 2*time.Microsecond)
	}
	m.Op(3, 9, 0, 2, time.Millisecond, nil, 0, 0) // a failure, 4.0, outside any export
	m.Op(3, 9, 0, 2, time.Millisecond, nil, 0, 0)
	m.CompoundStart(3)
	m.CompoundDone(3, 0, 2, time.Millisecond)
	m.CompoundStart(5)
	m.CompoundDone(5, 7, 10021, 0) // minor version 7: not served
	m.Op(1, 25, 2, 0, time.Millisecond, exp, 4096, 0)
	m.Op(2, 38, 2, 0, time.Millisecond, exp, 0, 100)
	m.Op(2, 500, 1, 0, time.Millisecond, nil, 0, 0) // beyond the table: ILLEGAL
	m.CompoundStart(6)                              // still in flight

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nfsgw_ops_total", []string{"op=GETATTR", "minor=1", "status=NFS4_OK"}, 40},
		{"nfsgw_ops_total", []string{"op=PUTFH", "minor=1", "status=NFS4_OK"}, 40},
		{"nfsgw_ops_total", []string{"op=GETATTR", "minor=0", "status=ST2"}, 2},
		{"nfsgw_ops_total", []string{"op=READ", "minor=2", "status=NFS4_OK"}, 1},
		{"nfsgw_ops_total", []string{"op=ILLEGAL", "minor=1", "status=NFS4_OK"}, 1},
		{"nfsgw_compounds_total", []string{"minor=1", "status=NFS4_OK"}, 40},
		{"nfsgw_compounds_total", []string{"minor=0", "status=ST2"}, 1},
		{"nfsgw_compounds_total", []string{"minor=unsupported", "status=ST10021"}, 1},
		{"nfsgw_compounds_in_flight", nil, 1},
		{"nfsgw_read_bytes_total", nil, 4096},
		{"nfsgw_written_bytes_total", nil, 100},
		{"nfsgw_export_ops_total", []string{"export=7"}, 82},
		{"nfsgw_export_read_bytes_total", []string{"export=7"}, 4096},
		{"nfsgw_export_written_bytes_total", []string{"export=7"}, 100},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// Operations never run have no series.
	if find(t, m, "nfsgw_ops_total", "op=SEQUENCE", "minor=1", "status=NFS4_OK") != nil {
		t.Error("a series for an operation never run")
	}
	started, done := m.Progress()
	if started != 43 || done != 43-1 {
		t.Errorf("progress %d/%d, want 43/42", started, done)
	}
	// Latency: one histogram per operation run, counting every run.
	h := find(t, m, "nfsgw_op_duration_seconds", "op=GETATTR").GetHistogram()
	if h.GetSampleCount() != 42 {
		t.Errorf("GETATTR latency count %d, want 42", h.GetSampleCount())
	}
	if want := 40*1e-6 + 2*1e-3; math.Abs(h.GetSampleSum()-want) > 1e-9 {
		t.Errorf("GETATTR latency sum %v, want %v", h.GetSampleSum(), want)
	}
}

// The hot path allocates nothing once its series exist, and takes no lock
// (the race detector would see a lock; allocations are measured).
func TestOpAllocatesNothing(t *testing.T) {
	m := newTestMetrics()
	exp := m.Export(1)
	m.Op(0, 9, 1, 0, time.Microsecond, exp, 0, 0)
	m.CompoundDone(0, 1, 0, time.Microsecond)
	if n := testing.AllocsPerRun(1000, func() {
		m.CompoundStart(3)
		m.Op(3, 9, 1, 0, time.Microsecond, exp, 0, 0)
		m.Op(3, 25, 1, 0, time.Microsecond, exp, 1024, 0)
		m.CompoundDone(3, 1, 0, 2*time.Microsecond)
	}); n != 0 {
		t.Fatalf("%v allocations per COMPOUND", n)
	}
	var nilM *Metrics // metrics off: the hooks do nothing
	nilM.Op(0, 9, 1, 0, 0, nil, 0, 0)
	nilM.CompoundStart(0)
	nilM.CompoundDone(0, 0, 0, 0)
}

func TestBucketOf(t *testing.T) {
	// Each bucket's upper bound is 2^(i/8) s and is inclusive.
	for _, c := range []struct {
		v    float64
		want int // native index, or the zero bucket as -1<<31
	}{
		{1, 0}, {1.0000001, 1}, {math.Exp2(1.0 / 8), 1}, {2, 8}, {0.5, -8}, {0.75, -3}, {1e-3, -79},
	} {
		b := bucketOf(c.v)
		if got := firstIndex + b - 1; got != c.want {
			t.Errorf("bucketOf(%v): native index %d, want %d", c.v, got, c.want)
		}
		up := math.Exp2(float64(c.want) / perOctave)
		lo := math.Exp2(float64(c.want-1) / perOctave)
		if c.v > up*(1+1e-12) || c.v <= lo {
			t.Errorf("%v not in (%v, %v]", c.v, lo, up)
		}
	}
	if bucketOf(1e-9) != 0 || bucketOf(0) != 0 {
		t.Error("sub-microsecond durations must go to the zero bucket")
	}
	if bucketOf(1e6) != nBuckets-1 {
		t.Error("huge durations must go to the last bucket")
	}
}

func TestHistogramClassicAndNative(t *testing.T) {
	var h histogram
	ds := []time.Duration{0, 500 * time.Nanosecond, 3 * time.Microsecond, 100 * time.Microsecond,
		time.Millisecond, 3 * time.Millisecond, 2 * time.Second, time.Hour}
	for i, d := range ds {
		h.observe(uint32(i), d)
	}
	var out dto.Metric
	if err := h.metric(opTimeDesc, time.Now(), "GETATTR").Write(&out); err != nil {
		t.Fatal(err)
	}
	hh := out.Histogram
	if hh.GetSampleCount() != uint64(len(ds)) {
		t.Fatalf("count %d, want %d", hh.GetSampleCount(), len(ds))
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	if math.Abs(hh.GetSampleSum()-sum.Seconds()) > 1e-6 {
		t.Errorf("sum %v, want %v", hh.GetSampleSum(), sum.Seconds())
	}
	// Classic buckets: cumulative counts of the observations <= le.
	for _, b := range hh.Bucket {
		want := 0
		for _, d := range ds {
			if d.Seconds() <= b.GetUpperBound() || d.Seconds() <= zeroThreshold {
				want++
			}
		}
		if b.GetCumulativeCount() != uint64(want) {
			t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	// Native: schema 3, two observations in the zero bucket, the other
	// six in the positive spans.
	if hh.GetSchema() != histSchema || hh.GetZeroCount() != 2 || hh.GetZeroThreshold() != zeroThreshold {
		t.Errorf("native: schema %d zero %d threshold %v", hh.GetSchema(), hh.GetZeroCount(), hh.GetZeroThreshold())
	}
	var n int64
	var c int64
	for _, d := range hh.PositiveDelta {
		c += d
		n += c
	}
	if n != int64(len(ds)-2) {
		t.Errorf("native positive buckets hold %d, want %d", n, len(ds)-2)
	}
}

func TestConnections(t *testing.T) {
	m := newTestMetrics()
	for range 5 {
		m.ConnOpened()
	}
	m.ConnClosed()
	m.ConnClosed()
	m.ConnRefused()
	if v := value(t, m, "nfsgw_connections"); v != 3 {
		t.Errorf("connections %v, want 3", v)
	}
	if v := value(t, m, "nfsgw_connections_accepted_total"); v != 5 {
		t.Errorf("accepted %v, want 5", v)
	}
	if v := value(t, m, "nfsgw_connections_refused_total"); v != 1 {
		t.Errorf("refused %v, want 1", v)
	}
}

func TestStateExportsRADOSAndBuildInfo(t *testing.T) {
	m := newTestMetrics()
	if family(t, m, "nfsgw_clients") != nil {
		t.Fatal("state metrics before a source is set")
	}
	m.SetStateSource(func() StateCounts { return StateCounts{Clients: 3, Sessions: 2, Opens: 10, Locks: 4, Delegations: 1} })
	m.SetExportSource(func() ExportTable {
		return ExportTable{Version: 2, Exports: []ExportInfo{{1, "/a"}, {9, "/b/c"}}}
	})
	m.SetRADOSSource(func() RADOSCounts { return RADOSCounts{UpdateRetries: 5, NotifyFailures: 1} })
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nfsgw_clients", nil, 3}, {"nfsgw_sessions", nil, 2}, {"nfsgw_opens", nil, 10},
		{"nfsgw_locks", nil, 4}, {"nfsgw_delegations", nil, 1},
		{"nfsgw_exports", nil, 2}, {"nfsgw_export_table_version", nil, 2},
		{"nfsgw_export_info", []string{"export=9", "pseudo=/b/c"}, 1},
		{"nfsgw_rados_update_retries_total", nil, 5}, {"nfsgw_rados_notify_failures_total", nil, 1},
		{"nfsgw_build_info", []string{"version=v1.2.3-test", "goversion=" + runtime.Version()}, 1},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The Go runtime and process collectors are registered too.
	if family(t, m, "go_goroutines") == nil || family(t, m, "process_start_time_seconds") == nil {
		t.Error("no Go or process metrics")
	}
}

func TestGrace(t *testing.T) {
	m := newTestMetrics()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m.sources.now = func() time.Time { return now }
	st := grace.Status{Phase: grace.PhaseReclaim, Gate: grace.GateReclaim, Own: grace.FlagNeed | grace.FlagEnforcing,
		Member: true, Pending: 2, Reclaim: 3, Since: now.Add(-42 * time.Second), Epoch: 8,
		DB: grace.DB{C: 8, R: 7}}
	m.SetGraceSource(func() (grace.Status, bool) { return st, true })
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nfsgw_grace_current_epoch", nil, 8}, {"nfsgw_grace_recovery_epoch", nil, 7},
		{"nfsgw_grace_need", nil, 1}, {"nfsgw_grace_enforcing", nil, 1}, {"nfsgw_grace_member", nil, 1},
		{"nfsgw_grace_phase", []string{"phase=reclaim"}, 1}, {"nfsgw_grace_phase", []string{"phase=normal"}, 0},
		{"nfsgw_grace_gate", []string{"mode=reclaim"}, 1}, {"nfsgw_grace_gate", []string{"mode=open"}, 0},
		{"nfsgw_grace_pending_reclaims", nil, 2}, {"nfsgw_grace_reclaim_set", nil, 3},
		{"nfsgw_grace_seconds", nil, 42}, {"nfsgw_grace_store_epoch", nil, 8}, {"nfsgw_grace_waiting_peers", nil, 0},
	} {
		if got := value(t, m, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if n := len(family(t, m, "nfsgw_grace_phase")); n != int(grace.PhaseFailed)+1 {
		t.Errorf("%d phase series, want one per phase", n)
	}
	// Out of grace: no seconds in grace, whatever Since says.
	st = grace.Status{Phase: grace.PhaseNormal, Gate: grace.GateOpen, Since: now.Add(-time.Hour), DB: grace.DB{C: 8}}
	if v := value(t, m, "nfsgw_grace_seconds"); v != 0 {
		t.Errorf("grace seconds %v out of grace", v)
	}
	// No grace machine (no state directory): no grace series at all.
	m.SetGraceSource(func() (grace.Status, bool) { return grace.Status{}, false })
	if family(t, m, "nfsgw_grace_phase") != nil {
		t.Error("grace series without a grace machine")
	}
}

func TestBackend(t *testing.T) {
	m := newTestMetrics()
	b := m.Backend("cephfs", []string{"lookup", "getattr"})
	b.Observe(0, time.Millisecond, nil)
	b.Observe(0, 2*time.Millisecond, syscall.ENOENT)
	b.Observe(1, time.Millisecond, fmt.Errorf("wrapped: %w", syscall.EIO))
	b.Observe(1, time.Millisecond, errors.New("not an errno"))
	b.Observe(5, time.Millisecond, nil) // not a call: ignored
	h := find(t, m, "nfsgw_backend_call_duration_seconds", "backend=cephfs", "call=lookup").GetHistogram()
	if h.GetSampleCount() != 2 || math.Abs(h.GetSampleSum()-0.003) > 1e-9 {
		t.Errorf("lookup latency: %d calls, %v s", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, c := range []struct {
		call, errno string
	}{{"lookup", "ENOENT"}, {"getattr", "EIO"}, {"getattr", "other"}} {
		if v := value(t, m, "nfsgw_backend_errors_total", "backend=cephfs", "call="+c.call, "errno="+c.errno); v != 1 {
			t.Errorf("%s %s: %v errors, want 1", c.call, c.errno, v)
		}
	}
}

// Every metric passes the client library's linter (names, units, help).
func TestLint(t *testing.T) {
	m := newTestMetrics()
	m.Op(0, 9, 1, 0, time.Microsecond, m.Export(1), 0, 0)
	m.CompoundDone(0, 1, 0, time.Microsecond)
	m.Backend("cephfs", []string{"lookup"}).Observe(0, time.Millisecond, syscall.ENOENT)
	m.SetStateSource(func() StateCounts { return StateCounts{} })
	m.SetExportSource(func() ExportTable { return ExportTable{} })
	m.SetRADOSSource(func() RADOSCounts { return RADOSCounts{} })
	m.SetGraceSource(func() (grace.Status, bool) { return grace.Status{}, true })
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, Namespace+"_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

// Every metric the gateway exposes is documented in docs/operations.md,
// and every metric documented there exists.
func TestMetricsDocumented(t *testing.T) {
	m := newTestMetrics()
	m.CompoundStart(0)
	m.Op(0, 9, 1, 0, time.Microsecond, m.Export(1), 1, 1)
	m.CompoundDone(0, 1, 0, time.Microsecond)
	m.Backend("cephfs", []string{"lookup"}).Observe(0, time.Millisecond, syscall.ENOENT)
	m.SetStateSource(func() StateCounts { return StateCounts{} })
	m.SetExportSource(func() ExportTable { return ExportTable{Exports: []ExportInfo{{1, "/a"}}} })
	m.SetRADOSSource(func() RADOSCounts { return RADOSCounts{} })
	m.SetGraceSource(func() (grace.Status, bool) { return grace.Status{}, true })
	NewLogLimit(1, 1, m).Allow()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	for _, f := range fams {
		name := f.GetName()
		if !strings.HasPrefix(name, Namespace+"_") {
			continue
		}
		exposed[name] = true
		if !strings.Contains(string(doc), "| `"+name+"`") {
			t.Errorf("%s is not in docs/operations.md's table of metrics", name)
		}
	}
	for _, m := range regexp.MustCompile("(?m)^\\| `(nfsgw_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		if !exposed[m[1]] {
			t.Errorf("docs/operations.md documents %s, which the gateway does not expose", m[1])
		}
	}
}

// Operation numbers with one name (every unknown number is ILLEGAL) make
// one series, never two with the same labels (a scrape would fail).
func TestOneSeriesPerOpName(t *testing.T) {
	m := New(Options{OpName: func(op uint32) string {
		if op == 9 {
			return "GETATTR"
		}
		return "ILLEGAL"
	}})
	for _, op := range []uint32{0, 1, 2, 40, 9999} {
		m.Op(0, op, 0, 10044, time.Millisecond, nil, 0, 0)
		m.Op(0, op, 0, 0, time.Millisecond, nil, 0, 0)
	}
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if v := value(t, m, "nfsgw_ops_total", "op=ILLEGAL", "minor=0", "status=10044"); v != 5 {
		t.Errorf("ILLEGAL failures: %v, want 5", v)
	}
	if v := value(t, m, "nfsgw_ops_total", "op=ILLEGAL", "minor=0", "status=NFS4_OK"); v != 5 {
		t.Errorf("ILLEGAL successes: %v, want 5", v)
	}
	if h := find(t, m, "nfsgw_op_duration_seconds", "op=ILLEGAL").GetHistogram(); h.GetSampleCount() != 10 {
		t.Errorf("ILLEGAL latency count %d, want 10", h.GetSampleCount())
	}
}
