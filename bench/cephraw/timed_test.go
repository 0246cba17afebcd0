//go:build !noceph

package main

import (
	"nfsgw/bench/internal/benchkit"

	"slices"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"4096": 4096, "64K": 64 << 10, "256M": 256 << 20, "256MiB": 256 << 20, "1G": 1 << 30} {
		if got, err := benchkit.ParseSize(in); err != nil || got != want {
			t.Errorf("benchkit.ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "M", "-1", "1T", "12x"} {
		if _, err := benchkit.ParseSize(bad); err == nil {
			t.Errorf("benchkit.ParseSize(%q) succeeded", bad)
		}
	}
}

// The percentiles are nfsbench's (nearest rank), so raw and server
// latencies compare.
func TestSetLatencies(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Microsecond)
	}
	var r result
	r.setLatencies(lat)
	if r.P50us != 50 || r.P99us != 99 || r.MaxUs != 100 {
		t.Errorf("p50 %v p99 %v max %v, want 50 99 100", r.P50us, r.P99us, r.MaxUs)
	}
	var empty result
	empty.setLatencies(nil)
	if empty.P50us != 0 || empty.P99us != 0 || empty.MaxUs != 0 {
		t.Errorf("no samples: %+v", empty)
	}
}

// The fixture names must be bench/nfsbench's (fixtures.go), whose
// workloads read the tree -make-fixtures makes.
func TestFixtureNames(t *testing.T) {
	if benchkit.ManyName(42) != "f00042" || benchkit.BigName(42) != "f000042" || benchkit.SmallName(42) != "s0042" {
		t.Errorf("names %s %s %s", benchkit.ManyName(42), benchkit.BigName(42), benchkit.SmallName(42))
	}
	comps := benchkit.DeepComponents(16)
	if len(comps) != 17 || comps[0] != "d00" || comps[15] != "d15" || comps[16] != "leaf" {
		t.Errorf("deep path %v", comps)
	}
	if m := (fixtureSpec{many: 10000, big: 100000, depth: 16, small: 1000}).marker(); m != ".complete-10000-100000-16-1000-w16x64" {
		t.Errorf("marker %q", m)
	}
}

func TestWorkloadSelection(t *testing.T) {
	c, err := parseFlags([]string{"-workloads", "randrw,connect,all,readdirbig,getattr"})
	if err != nil {
		t.Fatal(err)
	}
	// Table order, no duplicates, connect skipped, readdirbig only when named.
	if want := rawWorkloads; !slices.Equal(c.workloads, want) {
		t.Errorf("workloads %v, want %v", c.workloads, want)
	}
	if c, err := parseFlags([]string{"-workloads", "all"}); err != nil || slices.Contains(c.workloads, "readdirbig") {
		t.Errorf("all: %v, %v", c.workloads, err)
	}
	if _, err := parseFlags([]string{"-workloads", "nosuch"}); err == nil {
		t.Error("unknown workload accepted")
	}
	if _, err := parseFlags([]string{"-dir", "relative"}); err == nil {
		t.Error("relative -dir accepted")
	}
}
