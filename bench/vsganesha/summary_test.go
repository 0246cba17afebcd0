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
	if r.Ratio() != 3 || !strings.HasSuffix(verdict(r), ": met") {
		t.Errorf("getattr: ratio %v verdict %q", r.Ratio(), verdict(r))
	}
	w := row{Name: "write", Nfsgw: 130, Ganesha: 100, Raw: 200}
	if !strings.Contains(verdict(w), "missed") { // 1.3 × Ganesha but 0.65 of raw
		t.Errorf("write verdict %q", verdict(w))
	}
	e := row{Name: "exports-add", Nfsgw: 4, Ganesha: 8000, LowerIsBetter: true}
	if e.Ratio() != 2000 || e.RawRatio() != 0 || !strings.HasSuffix(verdict(e), ": met") {
		t.Errorf("exports-add: ratio %v verdict %q", e.Ratio(), verdict(e))
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
