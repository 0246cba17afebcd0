package main

import (
	"nfsgw/bench/internal/benchkit"

	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// Result is one row of the results table (and one object of the JSON).
type Result struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"`
	// Depth is the number of requests each client keeps in flight.
	Depth int `json:"depth,omitempty"`

	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	FirstError string  `json:"first_error,omitempty"`
	Seconds    float64 `json:"seconds"`
	Bytes      int64   `json:"bytes,omitempty"`

	// Rate is in Unit: "ops/s", "MiB/s" or "B/client".
	Rate float64 `json:"rate"`
	Unit string  `json:"unit"`

	P50us float64 `json:"p50_us"`
	P99us float64 `json:"p99_us"`
	MaxUs float64 `json:"max_us"`

	// Ratio is Rate divided by the raw local-disk figure of the same run
	// (write and read only).
	Ratio float64 `json:"ratio_to_raw,omitempty"`

	// Server and bench CPU time during the measurement, in seconds of one
	// core; ServerUsPerOp is server CPU per completed operation.
	ServerCPU     float64 `json:"server_cpu_s,omitempty"`
	BenchCPU      float64 `json:"bench_cpu_s,omitempty"`
	ServerUsPerOp float64 `json:"server_us_per_op,omitempty"`
	// OtherCPU is the CPU time the rest of the machine used meanwhile
	// (other processes, and the server when its pid is unknown).
	OtherCPU  float64 `json:"other_cpu_s,omitempty"`
	ServerRSS int64   `json:"server_rss_bytes,omitempty"`

	Extra map[string]any `json:"extra,omitempty"`
	Notes []string       `json:"notes,omitempty"`

	workload string // the -workloads name that produced the row
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

func (r *Result) extra(k string, v any) {
	if r.Extra == nil {
		r.Extra = make(map[string]any)
	}
	r.Extra[k] = v
}

// setLatencies fills the percentile fields from lat, which it sorts.
func (r *Result) setLatencies(lat []time.Duration) {
	slices.Sort(lat)
	r.P50us = us(benchkit.Percentile(lat, 50))
	r.P99us = us(benchkit.Percentile(lat, 99))
	if len(lat) > 0 {
		r.MaxUs = us(lat[len(lat)-1])
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// fmtLatency prints a latency in microseconds with 2-3 significant digits.
func fmtLatency(usec float64) string {
	switch {
	case usec <= 0:
		return "-"
	case usec < 10:
		return fmt.Sprintf("%.1fµs", usec)
	case usec < 1000:
		return fmt.Sprintf("%.0fµs", usec)
	case usec < 10000:
		return fmt.Sprintf("%.2fms", usec/1000)
	case usec < 1e6:
		return fmt.Sprintf("%.1fms", usec/1000)
	default:
		return fmt.Sprintf("%.2fs", usec/1e6)
	}
}

// fmtRate prints a rate with a precision suited to its size.
func fmtRate(v float64, unit string) string {
	if unit == "B/client" {
		return fmtBytes(v) + "/client"
	}
	var s string
	switch {
	case v >= 100:
		s = fmt.Sprintf("%.0f", v)
	case v >= 10:
		s = fmt.Sprintf("%.1f", v)
	default:
		s = fmt.Sprintf("%.2f", v)
	}
	return s + " " + unit
}

// fmtBytes prints a byte count in B, KiB, MiB or GiB.
func fmtBytes(v float64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	var s string
	switch {
	case v < 1<<10:
		s = fmt.Sprintf("%.0f B", v)
	case v < 1<<20:
		s = fmt.Sprintf("%.1f KiB", v/(1<<10))
	case v < 1<<30:
		s = fmt.Sprintf("%.1f MiB", v/(1<<20))
	default:
		s = fmt.Sprintf("%.2f GiB", v/(1<<30))
	}
	if neg {
		s = "-" + s
	}
	return s
}

// fmtPct prints CPU seconds over a wall time as a percentage of one core.
func fmtPct(cpu, wall float64) string {
	if wall <= 0 || cpu <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", 100*cpu/wall)
}

var tableHeader = []string{"workload", "clients", "rate", "p50", "p99", "nfsgw/raw", "srv cpu", "bench cpu", "srv µs/op", "other cpu", "errors"}

// tableRows turns results into the cells of the results table.
func tableRows(results []Result) [][]string {
	var rows [][]string
	for _, r := range results {
		clients := fmt.Sprint(r.Clients)
		if r.Depth > 1 {
			clients += fmt.Sprintf("x%d", r.Depth)
		}
		ratio := "-"
		if r.Ratio > 0 {
			ratio = fmt.Sprintf("%.2f", r.Ratio)
		}
		perOp := "-"
		if r.ServerUsPerOp > 0 {
			perOp = fmt.Sprintf("%.1f", r.ServerUsPerOp)
		}
		rate := "-"
		if r.Unit != "" && (r.Ops > 0 || r.Rate != 0) {
			rate = fmtRate(r.Rate, r.Unit)
		}
		rows = append(rows, []string{
			r.Name, clients, rate,
			fmtLatency(r.P50us), fmtLatency(r.P99us), ratio,
			fmtPct(r.ServerCPU, r.Seconds), fmtPct(r.BenchCPU, r.Seconds), perOp, fmtPct(r.OtherCPU, r.Seconds),
			fmt.Sprint(r.Errors),
		})
	}
	return rows
}

// renderTable lays out header and rows in columns separated by two
// spaces: the first column left-aligned, the others right-aligned, with a
// rule under the header. Widths count runes, not bytes.
func renderTable(header []string, rows [][]string) string {
	width := make([]int, len(header))
	all := append([][]string{header}, rows...)
	for _, row := range all {
		for i, cell := range row {
			if i < len(width) {
				width[i] = max(width[i], len([]rune(cell)))
			}
		}
	}
	var b strings.Builder
	line := func(row []string) {
		var sb strings.Builder
		for i := range width {
			cell := ""
			if i < len(row) {
				cell = row[i]
			}
			pad := strings.Repeat(" ", width[i]-len([]rune(cell)))
			if i > 0 {
				sb.WriteString("  ")
			}
			if i == 0 {
				sb.WriteString(cell + pad)
			} else {
				sb.WriteString(pad + cell)
			}
		}
		b.WriteString(strings.TrimRight(sb.String(), " ") + "\n")
	}
	line(header)
	total := 2 * (len(width) - 1)
	for _, w := range width {
		total += w
	}
	b.WriteString(strings.Repeat("-", total) + "\n")
	for _, row := range rows {
		line(row)
	}
	return b.String()
}

// Report is the JSON document written by -json.
type Report struct {
	Started   time.Time         `json:"started"`
	Server    string            `json:"server"`
	Addr      string            `json:"addr"`
	Host      map[string]string `json:"host"`
	Params    map[string]any    `json:"params"`
	Results   []Result          `json:"results"`
	ServerLog []string          `json:"server_log_warnings,omitempty"`
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
