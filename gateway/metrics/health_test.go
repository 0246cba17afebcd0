package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"nfsgw/grace"
)

func TestLiveWedged(t *testing.T) {
	m := newTestMetrics()
	h := NewHealth(m)
	h.WedgeAfter = time.Minute
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	step := func(d time.Duration) error { now = now.Add(d); return h.Live() }

	if err := h.Live(); err != nil {
		t.Fatalf("idle: %v", err)
	}
	// Idle for long: not wedged.
	if err := step(time.Hour); err != nil {
		t.Fatalf("idle an hour: %v", err)
	}
	// A request in flight that finishes in time: not wedged.
	m.CompoundStart(0)
	if err := step(50 * time.Second); err != nil {
		t.Fatalf("in flight 50 s: %v", err)
	}
	m.CompoundDone(0, 0, 0, 0)
	if err := step(20 * time.Second); err != nil {
		t.Fatalf("after progress: %v", err)
	}
	// Requests in flight and none finishing for the limit: wedged.
	m.CompoundStart(1)
	m.CompoundStart(2)
	if err := step(30 * time.Second); err != nil {
		t.Fatalf("in flight 30 s: %v", err)
	}
	err := step(31 * time.Second)
	if err == nil || !strings.Contains(err.Error(), "2 requests in flight") {
		t.Fatalf("wedged for 61 s: %v", err)
	}
	// One finishes: alive again.
	m.CompoundDone(1, 0, 0, 0)
	if err := step(time.Second); err != nil {
		t.Fatalf("after progress: %v", err)
	}
}

func TestReady(t *testing.T) {
	m := newTestMetrics()
	h := NewHealth(m)
	h.SetStage("joining the cluster")
	st := grace.Status{Phase: grace.PhaseWaiting, Waiting: []string{"gw2", "gw3"}}
	m.SetGraceSource(func() (grace.Status, bool) { return st, true })
	err := h.Ready()
	for _, want := range []string{"not listening for NFS yet (joining the cluster)", "exports not loaded",
		"waiting for peers to enforce: gw2, gw3"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("starting: %v, want %q", err, want)
		}
	}
	exports := []ExportInfo{{1, "/a"}}
	m.SetExportSource(func() ExportTable { return ExportTable{Exports: exports} })
	h.SetListening(true)
	st = grace.Status{Phase: grace.PhaseReclaim, Pending: 3}
	if err := h.Ready(); err != nil {
		t.Fatalf("in own grace, default: %v", err)
	}
	h.UnreadyInGrace = true
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "3 clients still to reclaim") {
		t.Fatalf("in own grace, unready_in_grace: %v", err)
	}
	st = grace.Status{Phase: grace.PhaseEnforcing} // a peer's grace: serving
	if err := h.Ready(); err != nil {
		t.Fatalf("enforcing a peer's grace: %v", err)
	}
	exports = nil
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "no exports") {
		t.Fatalf("no exports: %v", err)
	}
	exports = []ExportInfo{{1, "/a"}}
	h.SetListening(false)
	if err := h.Ready(); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Fatalf("stopping: %v", err)
	}
}

func TestProbeHandlers(t *testing.T) {
	m := newTestMetrics()
	h := NewHealth(m)
	srv := httptest.NewServer(h.Mux())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "not listening") {
		t.Errorf("/readyz while starting: %d %q", code, body)
	}
	m.SetExportSource(func() ExportTable { return ExportTable{Exports: []ExportInfo{{1, "/a"}}} })
	h.SetListening(true)
	if code, body := get("/readyz"); code != 200 || body != "ok\n" {
		t.Errorf("/readyz: %d %q", code, body)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "nfsgw_build_info{") {
		t.Errorf("/metrics: %d, no build info", code)
	}
}

func TestLogLimit(t *testing.T) {
	m := newTestMetrics()
	l := NewLogLimit(10, 5, m)
	now := time.Unix(0, 0)
	l.start = now
	l.now = func() time.Time { return now }
	allowed := 0
	for range 100 {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("a storm at one instant: %d lines allowed, want the burst of 5", allowed)
	}
	// A second later the bucket has refilled 10 lines' worth, capped at
	// the burst; the first line allowed reports what was dropped.
	now = now.Add(time.Second)
	ok, dropped := l.Allow()
	if !ok || dropped != 95 {
		t.Fatalf("after a second: ok %v dropped %d, want true 95", ok, dropped)
	}
	allowed = 1
	for range 100 {
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed != 5 {
		t.Fatalf("second storm: %d lines, want 5", allowed)
	}
	suppressed := 95 + 101 - allowed
	// Over a long storm the rate holds: 10 s at 1,000 attempts a second.
	allowed = 0
	for range 10_000 {
		now = now.Add(time.Millisecond)
		if ok, _ := l.Allow(); ok {
			allowed++
		}
	}
	if allowed < 99 || allowed > 106 {
		t.Fatalf("10 s storm: %d lines, want about 100", allowed)
	}
	if v := value(t, m, "nfsgw_log_lines_suppressed_total"); v != float64(suppressed+10_000-allowed) {
		t.Errorf("suppressed counter %v", v)
	}
	var nilL *LogLimit
	if ok, _ := nilL.Allow(); !ok {
		t.Error("no limit must allow")
	}
}
