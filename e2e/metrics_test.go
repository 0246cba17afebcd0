package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"nfsgw/gateway/config"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// exportLabel is the test gateway's export (--export /export=...): its id
// comes from the pseudo path.
var exportLabel = fmt.Sprintf("export=%d", config.FlagExportID("/export"))

// scrape fetches /metrics and parses it with the client library's parser.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// sample returns the value of the series of family name whose labels
// include labels ("k=v"); for a histogram, its count. Missing: 0.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return 0
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		case m.Untyped != nil:
			return m.Untyped.GetValue()
		}
	}
	return 0
}

func probe(t *testing.T, addr, path string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestMetricsScrape drives NFS operations through the real gateway and
// checks that the metrics it serves rose by exactly what was sent.
func TestMetricsScrape(t *testing.T) {
	maddr := freeAddr(t)
	g := startGateway(t, "--metrics", maddr, "--log-format", "json", "--log-level", "debug")
	if code, body := probe(t, maddr, "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	// The port accepts as soon as it is bound; readiness follows once the
	// serving loops run, a moment later.
	for deadline := time.Now().Add(5 * time.Second); ; {
		code, body := probe(t, maddr, "/readyz")
		if code == 200 && body == "ok\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz: %d %q", code, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nfsclient.Minor(1))
	data := bytes.Repeat([]byte("metrics!"), 8192) // 64 KiB
	if err := g.Dir.WriteFile("data", data, 0644); err != nil {
		t.Fatal(err)
	}
	fh, _, err := c.LookupPath(ctx, "/export/data")
	if err != nil {
		t.Fatal(err)
	}

	// GETATTR: exactly K more, each in its own COMPOUND.
	before := scrape(t, maddr)
	const k = 25
	for range k {
		if _, err := c.Getattr(ctx, fh); err != nil {
			t.Fatal(err)
		}
	}
	after := scrape(t, maddr)
	ok41 := []string{"minor=1", "status=NFS4_OK"}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nfsgw_ops_total", append([]string{"op=GETATTR"}, ok41...), k},
		{"nfsgw_ops_total", append([]string{"op=PUTFH"}, ok41...), k},
		{"nfsgw_op_duration_seconds", []string{"op=GETATTR"}, k},
		{"nfsgw_export_ops_total", []string{exportLabel}, 2 * k}, // PUTFH and GETATTR
	} {
		if d := sample(after, c.name, c.labels...) - sample(before, c.name, c.labels...); d != c.want {
			t.Errorf("%s%v rose by %v, want %v", c.name, c.labels, d, c.want)
		}
	}
	// SEQUENCE is in every COMPOUND; the client's lease renewals add more.
	if d := sample(after, "nfsgw_compounds_total", ok41...) - sample(before, "nfsgw_compounds_total", ok41...); d < k {
		t.Errorf("4.1 COMPOUNDs rose by %v, want at least %d", d, k)
	}

	// READ: the bytes read are the file's.
	before = after
	got, err := c.ReadFile(ctx, "/export/data")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read: %v (%d bytes)", err, len(got))
	}
	after = scrape(t, maddr)
	if d := sample(after, "nfsgw_read_bytes_total") - sample(before, "nfsgw_read_bytes_total"); d != float64(len(data)) {
		t.Errorf("read bytes rose by %v, want %d", d, len(data))
	}
	if d := sample(after, "nfsgw_export_read_bytes_total", exportLabel) - sample(before, "nfsgw_export_read_bytes_total", exportLabel); d != float64(len(data)) {
		t.Errorf("export read bytes rose by %v, want %d", d, len(data))
	}
	if d := sample(after, "nfsgw_ops_total", append([]string{"op=READ"}, ok41...)...) - sample(before, "nfsgw_ops_total", append([]string{"op=READ"}, ok41...)...); d < 1 {
		t.Errorf("READs rose by %v", d)
	}

	// A failed operation: counted under its status, and logged (debug
	// level) as one JSON object with the request's context.
	if _, _, err := c.LookupPath(ctx, "/export/missing"); nfsclient.StatusOf(err) != nfs4.ErrNoent {
		t.Fatalf("lookup of a missing file: %v", err)
	}
	after = scrape(t, maddr)
	if v := sample(after, "nfsgw_ops_total", "op=LOOKUP", "minor=1", "status=NFS4ERR_NOENT"); v != 1 {
		t.Errorf("failed LOOKUPs: %v, want 1", v)
	}

	// State, connections, exports, build info.
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"nfsgw_clients", nil, 1}, {"nfsgw_sessions", nil, 1}, {"nfsgw_connections", nil, 1},
		{"nfsgw_exports", nil, 1}, {"nfsgw_export_info", []string{exportLabel, "pseudo=/export"}, 1},
		{"nfsgw_export_table_version", nil, 0}, {"nfsgw_compounds_in_flight", nil, 0},
	} {
		if v := sample(after, c.name, c.labels...); v != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, v, c.want)
		}
	}
	out, err := exec.Command(nfsgwBin(t), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimPrefix(strings.TrimSpace(string(out)), "nfsgw ")
	if v := sample(after, "nfsgw_build_info", "version="+version); v != 1 {
		t.Errorf("build info for version %q: %v; have %v", version, v, after["nfsgw_build_info"])
	}
	if sample(after, "go_goroutines") == 0 || sample(after, "process_resident_memory_bytes") == 0 {
		t.Error("no Go runtime or process metrics")
	}
	if testBackend(t).Name() == "ceph" {
		// The READ went through libcephfs (a cached GETATTR may not).
		if n := sample(after, "nfsgw_backend_call_duration_seconds", "backend=cephfs", "call=read"); n < 1 {
			t.Errorf("libcephfs reads timed: %v", n)
		}
	} else if after["nfsgw_backend_call_duration_seconds"] != nil {
		t.Error("libcephfs call metrics on the local backend")
	}

	// Every line of the log is a JSON object; the failed LOOKUP is one.
	var found bool
	for _, line := range strings.Split(strings.TrimSpace(g.log.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["@message"] == "operation failed" && m["op"] == "LOOKUP" && m["status"] == "NFS4ERR_NOENT" &&
			m["export"] == "/export" && strings.HasPrefix(fmt.Sprint(m["client"]), "127.0.0.1") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log line for the failed LOOKUP:\n%s", tail(g.log.String(), 20))
	}
}

// TestMetricsBeforeListening: a cluster member that cannot reach RADOS
// does not listen for NFS; its probes answer meanwhile, alive but not
// ready, saying why.
func TestMetricsBeforeListening(t *testing.T) {
	maddr := freeAddr(t)
	dir := t.TempDir()
	conf := dir + "/ceph.conf"
	// A monitor address nobody answers on.
	if err := os.WriteFile(conf, []byte("[global]\nmon_host = 127.0.0.1:1\nauth_client_required = none\n"+
		"client_mount_timeout = 1\nrados_mon_op_timeout = 1\n"), 0644); err != nil {
		t.Fatal(err)
	}
	nfsAddr := freeAddr(t)
	cmd := exec.Command(nfsgwBin(t), "--listen", nfsAddr, "--export", "/export=ceph:/x", "--ceph-conf", conf,
		"--cluster-pool", "nfsgw", "--node-id", "metrics-e2e", "--state-dir", "none", "--admin", "none", "--metrics", maddr)
	var log syncBuffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + maddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("probes never answered:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // well into the retries
	if code, body := probe(t, maddr, "/healthz"); code != 200 {
		t.Errorf("/healthz while joining: %d %q", code, body)
	}
	code, body := probe(t, maddr, "/readyz")
	t.Logf("/readyz while joining: %d %s", code, body)
	if code != 503 || !strings.Contains(body, "not listening for NFS yet (joining the cluster)") {
		t.Errorf("/readyz while joining: %d %q", code, body)
	}
	fams := scrape(t, maddr)
	if sample(fams, "nfsgw_build_info") != 1 {
		t.Error("no build info while joining")
	}
	if c, err := net.DialTimeout("tcp", nfsAddr, time.Second); err == nil {
		c.Close()
		t.Error("NFS port open while joining")
	}
}
