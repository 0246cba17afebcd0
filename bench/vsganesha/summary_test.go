package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{{nil, 0}, {[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestRatioAndVerdict(t *testing.T) {
	r := row{Name: "getattr", Nfsgw: 300, Ganesha: 100}
	if r.Ratio() != 3 || !strings.HasSuffix(verdict(r, "local"), ": met") {
		t.Errorf("getattr: ratio %v verdict %q", r.Ratio(), verdict(r, "local"))
	}
	w := row{Name: "write", Nfsgw: 130, Ganesha: 100, Raw: 200}
	if !strings.Contains(verdict(w, "local"), "missed") { // 1.3 × Ganesha but 0.65 of raw
		t.Errorf("write verdict %q", verdict(w, "local"))
	}
	if v := verdict(w, "ceph"); !strings.Contains(v, "≥ 0.7 raw") || !strings.Contains(v, "missed") {
		t.Errorf("write verdict on ceph %q", v)
	}
	rr := row{Name: "randrw", Nfsgw: 130, Ganesha: 100}
	if !strings.HasSuffix(verdict(rr, "ceph"), ": met") || !strings.Contains(verdict(rr, "local"), "missed") {
		t.Errorf("randrw 1.3×: ceph %q, local %q", verdict(rr, "ceph"), verdict(rr, "local"))
	}
	e := row{Name: "exports-add", Nfsgw: 4, Ganesha: 8000, LowerIsBetter: true}
	if e.Ratio() != 2000 || e.RawRatio() != 0 || !strings.HasSuffix(verdict(e, "local"), ": met") {
		t.Errorf("exports-add: ratio %v verdict %q", e.Ratio(), verdict(e, "local"))
	}
}

// The CPU cell gives both servers' figures and nfsgw's advantage, or
// nothing when a server's CPU is unknown.
func TestCPUCell(t *testing.T) {
	r := row{Name: "pathwalk", NfsgwSrvUs: 12.5, GaneshaSrvUs: 31}
	if got, want := fmtCPU(r), "12.5 / 31.0 (2.48×)"; got != want {
		t.Errorf("fmtCPU = %q, want %q", got, want)
	}
	if !strings.Contains(table([]row{r}, "local"), "| 12.5 / 31.0 (2.48×) |") {
		t.Errorf("table:\n%s", table([]row{r}, "local"))
	}
	if got := fmtCPU(row{Name: "write", NfsgwSrvUs: 400}); got != "-" {
		t.Errorf("no Ganesha figure: %q", got)
	}
}

func TestWriteDocKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "benchmarks.md")
	if err := os.WriteFile(doc, []byte("# Benchmarks\n\nhand-written\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &summary{Machine: map[string]string{"backend": "local"},
		Rows: []row{{Name: "getattr", Title: "GETATTR", Unit: "ops/s", Nfsgw: 2, Ganesha: 1, NfsgwRuns: []float64{2}, GaneshaRuns: []float64{1}}}}
	for range 2 { // the second run replaces the first one's section
		if err := writeDoc(doc, filepath.Join(dir, "bench"), s); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(doc)
	text := string(b)
	if !strings.HasPrefix(text, "# Benchmarks\n\nhand-written\n") || strings.Count(text, beginMark("local")) != 1 ||
		strings.Count(text, endMark("local")) != 1 || !strings.Contains(text, "![GETATTR](bench/local-getattr.png)") {
		t.Fatalf("doc:\n%s", text)
	}
	if fi, err := os.Stat(filepath.Join(dir, "bench", "local-getattr.png")); err != nil || fi.Size() == 0 {
		t.Fatalf("chart: %v", err)
	}
}

// The raw figures of a CephFS run come from cephraw runs of their own,
// merged by name as nfsbench's own "NAME (raw)" rows are.
func TestSummarizeMergesRawRuns(t *testing.T) {
	h := &harness{cfg: &config{backend: "ceph", rounds: 2}, runs: []benchRun{
		{Server: "nfsgw", Round: 1, Results: []result{{Name: "getattr", Rate: 100, Unit: "ops/s"}}},
		{Server: "Ganesha", Round: 1, Results: []result{{Name: "getattr", Rate: 50, Unit: "ops/s"}}},
		{Server: rawServer, Round: 1, Results: []result{{Name: "getattr (raw)", Rate: 1000, Unit: "ops/s"},
			{Name: "readdirbig (raw)", Rate: 9000, Unit: "entries/s"}}},
		{Server: "nfsgw", Round: 2, Results: []result{{Name: "getattr", Rate: 120, Unit: "ops/s"}}},
		{Server: "Ganesha", Round: 2, Results: []result{{Name: "getattr", Rate: 60, Unit: "ops/s"}}},
		{Server: rawServer, Round: 2, Results: []result{{Name: "getattr (raw)", Rate: 3000, Unit: "ops/s"}}},
	}}
	s := h.summarize()
	if len(s.Rows) != 2 {
		t.Fatalf("rows %+v, want getattr and readdirbig", s.Rows)
	}
	g := s.Rows[0]
	if g.Name != "getattr" || g.Nfsgw != 110 || g.Ganesha != 55 || g.Raw != 2000 || g.RawRatio() != 0.055 ||
		len(g.NfsgwRuns) != 2 || len(g.GaneshaRuns) != 2 {
		t.Errorf("getattr row %+v", g)
	}
	if b := s.Rows[1]; b.Name != "readdirbig" || b.Unit != "entries/s" || b.Raw != 9000 || b.Nfsgw != 0 || b.Ratio() != 0 {
		t.Errorf("readdirbig row %+v", b)
	}
	if !strings.Contains(s.text(), "libcephfs") || !strings.Contains(s.text(), "| 2000 | 0.06 |") {
		t.Errorf("text:\n%s", s.text())
	}
}

func TestRawMeaning(t *testing.T) {
	withRaw := []row{{Name: "getattr", Nfsgw: 1, Raw: 2}}
	for _, c := range []struct {
		backend string
		rows    []row
		want    string
	}{
		{"ceph", withRaw, "bench/cephraw"},
		{"local", withRaw, "system calls"},
		{"ceph", []row{{Name: "getattr", Nfsgw: 1}}, "no raw figures"},
	} {
		s := &summary{Machine: map[string]string{"backend": c.backend}, Rows: c.rows}
		if m := s.rawMeaning(); !strings.Contains(m, c.want) {
			t.Errorf("%s, %d raw rows: %q, want %q in it", c.backend, len(c.rows), m, c.want)
		}
	}
}
