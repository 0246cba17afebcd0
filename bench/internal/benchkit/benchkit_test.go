package benchkit

import (
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	cases := []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 50, 7 * time.Millisecond},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 50, 5 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 100, 10 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0, 1 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 10, 1 * time.Millisecond},
		{ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 11, 2 * time.Millisecond},
		{ms(1, 2, 3), 50, 2 * time.Millisecond},
		{hundred, 50, 50 * time.Millisecond},
		{hundred, 99, 99 * time.Millisecond},
		{hundred, 99.9, 100 * time.Millisecond},
	}
	for _, c := range cases {
		if got := Percentile(c.in, c.p); got != c.want {
			t.Errorf("Percentile(%v, %v) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"4096": 4096, "64K": 64 << 10, "256M": 256 << 20, "256MiB": 256 << 20, "1g": 1 << 30, "1GB": 1 << 30,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
		if got, _ := ParseSize(FormatSize(want)); got != want {
			t.Errorf("FormatSize(%d) = %q does not parse back", want, FormatSize(want))
		}
	}
	for _, in := range []string{"", "M", "-1", "1T", "12x"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

// Every file of the walk tree has one path, and an index past the end
// wraps instead of naming a file nobody made.
func TestWalkComponents(t *testing.T) {
	seen := map[[2]string]bool{}
	for i := range WalkDirs * WalkFiles {
		seen[WalkComponents(i)] = true
	}
	if len(seen) != WalkDirs*WalkFiles {
		t.Errorf("%d distinct paths, want %d", len(seen), WalkDirs*WalkFiles)
	}
	if got := WalkComponents(WalkFiles + 3); got != [2]string{"w01", "f03"} {
		t.Errorf("WalkComponents(%d) = %v", WalkFiles+3, got)
	}
	if WalkComponents(-1) != WalkComponents(WalkDirs*WalkFiles-1) || WalkComponents(WalkDirs*WalkFiles) != WalkComponents(0) {
		t.Error("indices outside the tree do not wrap")
	}
}
