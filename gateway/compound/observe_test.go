package compound

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	dto "github.com/prometheus/client_model/go"

	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// syncBuffer is a log sink the race detector accepts.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s.b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func observedServer(t *testing.T, slow time.Duration, limit *metrics.LogLimit) (*Server, *metrics.Metrics, *syncBuffer) {
	s := newTestServer(t)
	m := metrics.New(metrics.Options{OpName: OpName, StatusName: nfs4.StatusName})
	buf := &syncBuffer{}
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, JSONFormat: true, Output: buf})
	cfg := s.cfg
	cfg.Metrics, cfg.SlowOp, cfg.OpLogLimit, cfg.Logger = m, slow, limit, log
	return New(cfg), m, buf
}

func counter(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	next:
		for _, mt := range f.Metric {
			if len(mt.Label) != len(labels) {
				continue
			}
			for _, l := range mt.Label {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			return metricValue(mt)
		}
	}
	return 0
}

func metricValue(mt *dto.Metric) float64 {
	switch {
	case mt.Counter != nil:
		return mt.Counter.GetValue()
	case mt.Histogram != nil:
		return float64(mt.Histogram.GetSampleCount())
	}
	return mt.GetGauge().GetValue()
}

func lookupArgs(name string) []byte {
	return compoundArgs(0, 3, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		e.Uint32(nfs4.OpLookup)
		e.String(name)
	})
}

func TestMetricsCountOperations(t *testing.T) {
	s, m, buf := observedServer(t, 0, nil)
	// PUTROOTFH, LOOKUP export, GETFH: all succeed.
	st, _, _ := call(t, s, compoundArgs(0, 3, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		e.Uint32(nfs4.OpGetFH)
	}))
	if st != nfs4.OK {
		t.Fatalf("status %d", st)
	}
	// The third operation fails: NFS4ERR_NOENT ends the COMPOUND.
	if st, _, _ := call(t, s, lookupArgs("missing")); st != nfs4.ErrNoent {
		t.Fatalf("status %d", st)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"nfsgw_ops_total", map[string]string{"op": "PUTROOTFH", "minor": "0", "status": "NFS4_OK"}, 2},
		{"nfsgw_ops_total", map[string]string{"op": "LOOKUP", "minor": "0", "status": "NFS4_OK"}, 2},
		{"nfsgw_ops_total", map[string]string{"op": "GETFH", "minor": "0", "status": "NFS4_OK"}, 1},
		{"nfsgw_ops_total", map[string]string{"op": "LOOKUP", "minor": "0", "status": "NFS4ERR_NOENT"}, 1},
		{"nfsgw_compounds_total", map[string]string{"minor": "0", "status": "NFS4_OK"}, 1},
		{"nfsgw_compounds_total", map[string]string{"minor": "0", "status": "NFS4ERR_NOENT"}, 1},
		// In the export: the LOOKUP that entered it, GETFH, and the
		// failed LOOKUP (its current file handle is in the export).
		{"nfsgw_export_ops_total", map[string]string{"export": "1"}, 4},
		{"nfsgw_op_duration_seconds", map[string]string{"op": "LOOKUP"}, 3},
		{"nfsgw_compound_duration_seconds", map[string]string{"minor": "0"}, 2},
		{"nfsgw_compounds_in_flight", nil, 0},
	} {
		if got := counter(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The failure is a routine one (NOENT): logged at debug level, with
	// the request's context.
	lines := buf.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d log lines, want 1: %v", len(lines), lines)
	}
	l := lines[0]
	if l["@message"] != "operation failed" || l["@level"] != "debug" || l["op"] != "LOOKUP" ||
		l["status"] != "NFS4ERR_NOENT" || l["export"] != "/export" || l["minor"] != float64(0) || l["duration"] == nil {
		t.Errorf("log line %v", l)
	}
	if _, ok := l["client"]; !ok {
		t.Errorf("log line without client: %v", l)
	}
}

func TestOperationLogIsRateLimited(t *testing.T) {
	limit := metrics.NewLogLimit(1, 3, nil)
	s, _, buf := observedServer(t, 0, limit)
	for range 50 {
		call(t, s, lookupArgs("missing"))
	}
	if n := len(buf.lines(t)); n < 3 || n > 4 {
		t.Fatalf("a storm of 50 failures wrote %d lines, want the burst (3), maybe one more", n)
	}
}

func TestSlowOperationLogged(t *testing.T) {
	s, _, buf := observedServer(t, time.Nanosecond, nil) // every operation is slow
	call(t, s, compoundArgs(0, 1, func(e *xdr.Encoder) { e.Uint32(nfs4.OpPutRootFH) }))
	lines := buf.lines(t)
	if len(lines) != 1 || lines[0]["@message"] != "slow operation" || lines[0]["@level"] != "warn" ||
		lines[0]["op"] != "PUTROOTFH" || lines[0]["status"] != "NFS4_OK" {
		t.Fatalf("log: %v", lines)
	}
}

// Illegal operation numbers and unsupported NFSv4.2 operations are each
// one series with a distinct name: the scrape never sees two series with
// the same labels.
func TestMetricsIllegalAndUnsupportedOps(t *testing.T) {
	s, m, _ := observedServer(t, 0, nil)
	for _, c := range []struct{ minor, op uint32 }{{0, 9999}, {0, 1}, {0, 2}, {2, nfs4.OpSeek}, {2, nfs4.OpCopy}} {
		call(t, s, compoundArgs(c.minor, 1, func(e *xdr.Encoder) { e.Uint32(c.op) }))
	}
	if _, err := m.Registry().Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	if v := counter(t, m, "nfsgw_ops_total", map[string]string{"op": "ILLEGAL", "minor": "0", "status": "NFS4ERR_OP_ILLEGAL"}); v != 3 {
		t.Errorf("illegal operations: %v, want 3", v)
	}
	// 4.2 without a session: SEEK fails the sequencing rules, named.
	if v := counter(t, m, "nfsgw_ops_total", map[string]string{"op": "SEEK", "minor": "2", "status": "NFS4ERR_OP_NOT_IN_SESSION"}); v != 1 {
		t.Errorf("SEEK: %v, want 1", v)
	}
}
