package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

func TestSetLatenciesSorts(t *testing.T) {
	var r Result
	lat := []time.Duration{9 * time.Microsecond, 1 * time.Microsecond, 5 * time.Microsecond, 3 * time.Microsecond}
	r.setLatencies(lat)
	if r.P50us != 3 || r.P99us != 9 || r.MaxUs != 9 {
		t.Errorf("p50 %v p99 %v max %v, want 3 9 9", r.P50us, r.P99us, r.MaxUs)
	}
	if !slices.IsSorted(lat) {
		t.Errorf("latencies not sorted: %v", lat)
	}
}

func TestFormatters(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{fmtLatency(0), "-"},
		{fmtLatency(3.25), "3.2µs"},
		{fmtLatency(42.4), "42µs"},
		{fmtLatency(1234), "1.23ms"},
		{fmtLatency(45600), "45.6ms"},
		{fmtLatency(2.5e6), "2.50s"},
		{fmtRate(45678.9, "ops/s"), "45679 ops/s"},
		{fmtRate(12.34, "MiB/s"), "12.3 MiB/s"},
		{fmtRate(1.234, "MiB/s"), "1.23 MiB/s"},
		{fmtRate(30720, "B/client"), "30.0 KiB/client"},
		{fmtBytes(512), "512 B"},
		{fmtBytes(-2048), "-2.0 KiB"},
		{fmtBytes(3 << 20), "3.0 MiB"},
		{fmtBytes(5 << 30), "5.00 GiB"},
		{fmtPct(1.5, 1), "150%"},
		{fmtPct(0, 1), "-"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestRenderTable(t *testing.T) {
	got := renderTable([]string{"workload", "rate", "p50"}, [][]string{
		{"getattr", "45679 ops/s", "42µs"},
		{"write (raw)", "1.23 MiB/s", "-"},
	})
	want := "" +
		"workload            rate   p50\n" +
		"------------------------------\n" +
		"getattr      45679 ops/s  42µs\n" +
		"write (raw)   1.23 MiB/s     -\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableRows(t *testing.T) {
	rows := tableRows([]Result{
		{Name: "write", Clients: 1, Depth: 4, Ops: 256, Rate: 812.5, Unit: "MiB/s", P50us: 1200, P99us: 3400,
			Ratio: 0.4567, Seconds: 2, ServerCPU: 1.5, BenchCPU: 0.5, ServerUsPerOp: 5859.4, OtherCPU: 0.1},
		{Name: "idleclients", Clients: 2000, Ops: 2000, Rate: 30 << 10, Unit: "B/client", Errors: 3},
		{Name: "lookup", Clients: 8, Unit: "ops/s"},
	})
	want := [][]string{
		{"write", "1x4", "812 MiB/s", "1.20ms", "3.40ms", "0.46", "75%", "25%", "5859.4", "5%", "0"},
		{"idleclients", "2000", "30.0 KiB/client", "-", "-", "-", "-", "-", "-", "-", "3"},
		{"lookup", "8", "-", "-", "-", "-", "-", "-", "-", "-", "0"},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if !slices.Equal(rows[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i, rows[i], want[i])
		}
		if len(rows[i]) != len(tableHeader) {
			t.Errorf("row %d has %d cells, header %d", i, len(rows[i]), len(tableHeader))
		}
	}
}

func TestParseWorkloads(t *testing.T) {
	got, err := parseWorkloads("read, getattr,idleclients,getattr")
	if err != nil || !slices.Equal(got, []string{"getattr", "read", "idleclients"}) {
		t.Errorf("got %v, %v", got, err)
	}
	// all is every workload but readdirbig, in table order.
	if got, _ := parseWorkloads("all"); !slices.Equal(got, defaultWorkloads) || slices.Contains(got, "readdirbig") {
		t.Errorf("all = %v", got)
	}
	if got, _ := parseWorkloads("readdirbig,all"); len(got) != len(workloadOrder) {
		t.Errorf("readdirbig,all = %v", got)
	}
	if _, err := parseWorkloads("getattr,nope"); err == nil {
		t.Error("unknown workload accepted")
	}
}

// The walk starts at the pseudo root: the export's own components come
// first, however the paths are slashed.
func TestWalkPath(t *testing.T) {
	got := walkPath("/export", "fixtures", 0)
	if want := []string{"export", "fixtures", "walk", "w00", "f00"}; !slices.Equal(got, want) {
		t.Errorf("walkPath = %v, want %v", got, want)
	}
	got = walkPath("/a/b/", "/x/fixtures/", 65)
	if want := []string{"a", "b", "x", "fixtures", "walk", "w01", "f01"}; !slices.Equal(got, want) {
		t.Errorf("walkPath = %v, want %v", got, want)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags([]string{"-addr", "10.0.0.1:2049/export/b", "-size", "16M", "-getattr-duration", "1s", "-workloads", "getattr,lookup"})
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "10.0.0.1:2049" || c.exportPath != "/export/b" || c.size != 16<<20 || c.ioSize != 1<<20 {
		t.Errorf("config %+v", c)
	}
	if c.durationOf("getattr") != time.Second || c.durationOf("lookup") != c.duration {
		t.Errorf("durations: getattr %v lookup %v", c.durationOf("getattr"), c.durationOf("lookup"))
	}
	if _, err := parseFlags([]string{"-addr", "10.0.0.1:2049"}); err == nil {
		t.Error("-addr without a path accepted")
	}
}

func TestParseProcStat(t *testing.T) {
	// pid (comm with spaces) state ppid ... utime=250 stime=50 ... threads=7
	s := "1234 (nfs gw) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 12345 1000000 500"
	ps, err := parseProcStat(s)
	if err != nil {
		t.Fatal(err)
	}
	if ps.cpu != 3*time.Second || ps.threads != 7 {
		t.Errorf("got %+v, want 3s and 7 threads", ps)
	}
}

func TestParseSystemCPU(t *testing.T) {
	s := "cpu  100 5 50 1000 20 3 2 40 7 0\ncpu0 1 2 3 4 5 6 7 8\n"
	got, err := parseSystemCPU(s)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 * time.Second; got != want { // 100+5+50+3+2+40 ticks
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestLogBuffer(t *testing.T) {
	var l logBuffer
	l.Write([]byte("2026-01-01T00:00:00Z [INFO]  nfsgw: serving\n2026-01-01T00:00:01Z [WA"))
	l.Write([]byte("RN]  nfsgw.rpc: slow\n"))
	warn, dropped := l.Warnings()
	if len(warn) != 1 || !strings.Contains(warn[0], "slow") || dropped != 0 {
		t.Errorf("warnings %q dropped %d", warn, dropped)
	}
	if !strings.HasSuffix(l.Tail(), "slow") {
		t.Errorf("tail %q", l.Tail())
	}
}

func TestMissingAttrs(t *testing.T) {
	got := nfsclient.MakeBitmap(nfs4.AttrType, nfs4.AttrSize)
	if m := missingAttrs(nfsclient.MakeBitmap(nfs4.AttrType, nfs4.AttrSize, nfs4.AttrMode), got); !slices.Equal(m, []string{"33"}) {
		t.Errorf("missing %v", m)
	}
}

func TestWriteJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.json")
	rep := &Report{Results: []Result{{Name: "getattr", Ops: 10, Rate: 5, Unit: "ops/s", workload: "getattr"}}}
	if err := writeJSON(path, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := readJSON(path, &back); err != nil {
		t.Fatal(err)
	}
	if len(back.Results) != 1 || back.Results[0].Name != "getattr" || back.Results[0].Rate != 5 {
		t.Errorf("round trip: %+v", back)
	}
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
