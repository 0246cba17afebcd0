package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// goal is what the issue asks of a workload, as nfsgw/Ganesha.
type goal struct {
	class string
	ratio float64
}

var goals = map[string]goal{
	"getattr":     {"metadata", 2.0},
	"getattrmany": {"metadata", 2.0},
	"lookup":      {"metadata", 2.0},
	"lookupdeep":  {"metadata", 2.0},
	"pathwalk":    {"metadata", 2.0},
	"readdir":     {"metadata", 2.0},
	"readdirbig":  {"metadata", 2.0},
	"openclose":   {"metadata", 2.0},
	"lockunlock":  {"metadata", 2.0},
	"smallcreate": {"small files", 1.5},
	"smallread":   {"small files", 1.5},
	"write":       {"streaming", 1.2},
	"read":        {"streaming", 1.2},
	"randrw":      {"small I/O", 1.5},
	"connect":     {"connect", 0},
}

var titles = map[string]string{
	"getattr":     "GETATTR storm, one file",
	"getattrmany": "GETATTR storm, 10,000 files",
	"lookup":      "LOOKUP + GETATTR in a 1,000-file directory",
	"lookupdeep":  "LOOKUP of a deep path",
	"pathwalk":    "stat by path from the root (PUTROOTFH + 5 LOOKUPs + GETATTR)",
	"readdir":     "READDIR, 10,000 entries",
	"readdirbig":  "READDIR, 100,000 entries",
	"openclose":   "OPEN + CLOSE",
	"lockunlock":  "LOCK + LOCKU",
	"smallcreate": "small files: create + 4 KiB write + close",
	"smallread":   "small files: stat + open + 4 KiB read + close",
	"write":       "1 MiB sequential WRITE (UNSTABLE + COMMIT)",
	"read":        "1 MiB sequential READ",
	"randrw":      "4 KiB random read/write",
	"connect":     "clients connecting at once, then one small read each",
}

// row is one workload's medians.
type row struct {
	Name         string    `json:"name"`
	Title        string    `json:"title"`
	Unit         string    `json:"unit"`
	Nfsgw        float64   `json:"nfsgw"`
	Ganesha      float64   `json:"ganesha"`
	Raw          float64   `json:"raw,omitempty"`
	NfsgwRuns    []float64 `json:"nfsgw_runs"`
	GaneshaRuns  []float64 `json:"ganesha_runs"`
	NfsgwP99us   float64   `json:"nfsgw_p99_us"`
	GaneshaP99us float64   `json:"ganesha_p99_us"`
	NfsgwSrvUs   float64   `json:"nfsgw_server_us_per_op,omitempty"`
	GaneshaSrvUs float64   `json:"ganesha_server_us_per_op,omitempty"`
	Errors       int64     `json:"errors"`
	Note         string    `json:"note,omitempty"`
	// LowerIsBetter marks times (the exports rows).
	LowerIsBetter bool `json:"lower_is_better,omitempty"`
	// NfsgwAtLeast and GaneshaAtLeast mark a time that reached the limit
	// the harness waits: the true figure is larger.
	NfsgwAtLeast   bool `json:"nfsgw_at_least,omitempty"`
	GaneshaAtLeast bool `json:"ganesha_at_least,omitempty"`
}

// Ratio is nfsgw's advantage: > 1 means nfsgw is better.
func (r row) Ratio() float64 {
	if r.Nfsgw == 0 || r.Ganesha == 0 {
		return 0
	}
	if r.LowerIsBetter {
		return r.Ganesha / r.Nfsgw
	}
	return r.Nfsgw / r.Ganesha
}

func (r row) RawRatio() float64 {
	if r.Raw == 0 || r.LowerIsBetter {
		return 0
	}
	return r.Nfsgw / r.Raw
}

type summary struct {
	Machine  map[string]string `json:"machine"`
	Params   map[string]string `json:"params"`
	Rows     []row             `json:"rows"`
	Exports  []row             `json:"exports"`
	Notes    []string          `json:"notes"`
	Started  time.Time         `json:"started"`
	Duration time.Duration     `json:"duration"`
}

func (h *harness) summarize() *summary {
	s := &summary{Machine: machine(), Started: h.started, Duration: time.Since(h.started), Notes: h.notes}
	if h.version != "" {
		s.Machine["nfsgw"] = h.version
	}
	s.Machine["backend"] = h.cfg.backend
	s.Params = map[string]string{
		"rounds": fmt.Sprint(h.cfg.rounds), "duration": h.cfg.duration.String(), "clients": fmt.Sprint(h.cfg.clients),
		"size": h.cfg.size, "many_files": fmt.Sprint(h.cfg.manyFiles), "connect_clients": fmt.Sprint(h.cfg.connectClients),
		"exports": fmt.Sprint(h.cfg.exports),
	}
	if h.cfg.big {
		s.Params["big_dir"] = fmt.Sprint(h.cfg.bigDir)
	}
	var names []string
	for _, r := range h.runs {
		for _, res := range r.Results {
			base, _ := strings.CutSuffix(res.Name, " (raw)")
			if !slices.Contains(names, base) {
				names = append(names, base)
			}
		}
	}
	for _, name := range names {
		rw := row{Name: name, Title: titles[name]}
		if rw.Title == "" {
			rw.Title = name
		}
		var raws, gp99, np99, gsrv, nsrv []float64
		for _, r := range h.runs {
			for _, res := range r.Results {
				switch {
				case res.Name == name+" (raw)" || (res.Name == name && r.Server == rawServer):
					raws = append(raws, res.Rate)
					if rw.Unit == "" {
						rw.Unit = res.Unit
					}
				case res.Name == name:
					rw.Unit = res.Unit
					rw.Errors += res.Errors
					if r.Server == "nfsgw" {
						rw.NfsgwRuns = append(rw.NfsgwRuns, res.Rate)
						np99 = append(np99, res.P99us)
						nsrv = append(nsrv, res.ServerUs)
					} else {
						rw.GaneshaRuns = append(rw.GaneshaRuns, res.Rate)
						gp99 = append(gp99, res.P99us)
						gsrv = append(gsrv, res.ServerUs)
					}
					if len(res.Notes) > 0 && rw.Note == "" {
						rw.Note = res.Notes[0]
					}
				}
			}
		}
		rw.Nfsgw, rw.Ganesha, rw.Raw = median(rw.NfsgwRuns), median(rw.GaneshaRuns), median(raws)
		rw.NfsgwP99us, rw.GaneshaP99us = median(np99), median(gp99)
		rw.NfsgwSrvUs, rw.GaneshaSrvUs = median(nsrv), median(gsrv)
		s.Rows = append(s.Rows, rw)
	}
	if len(h.exportRuns) > 0 {
		start := row{Name: "exports-start", Unit: "ms", LowerIsBetter: true}
		add := row{Name: "exports-add", Unit: "ms", LowerIsBetter: true}
		rem := row{Name: "exports-remove", Unit: "ms", LowerIsBetter: true}
		n := h.exportRuns[0].Exports
		start.Title = fmt.Sprintf("start with %d exports until the last is served", n)
		add.Title = fmt.Sprintf("add one export while %d exist, until served", n)
		rem.Title = fmt.Sprintf("remove one export while %d exist, until gone", n)
		var nHow, gHow string
		var nRSS, gRSS []float64
		for _, r := range h.exportRuns {
			if r.Server == "nfsgw" {
				start.NfsgwRuns = append(start.NfsgwRuns, r.StartMs)
				add.NfsgwRuns = append(add.NfsgwRuns, r.AddMs...)
				rem.NfsgwRuns = append(rem.NfsgwRuns, r.RemMs...)
				add.NfsgwAtLeast = add.NfsgwAtLeast || r.AddTimedOut
				rem.NfsgwAtLeast = rem.NfsgwAtLeast || r.RemTimedOut
				nHow = r.How
				nRSS = append(nRSS, float64(r.RSS))
			} else {
				start.GaneshaRuns = append(start.GaneshaRuns, r.StartMs)
				add.GaneshaRuns = append(add.GaneshaRuns, r.AddMs...)
				rem.GaneshaRuns = append(rem.GaneshaRuns, r.RemMs...)
				add.GaneshaAtLeast = add.GaneshaAtLeast || r.AddTimedOut
				rem.GaneshaAtLeast = rem.GaneshaAtLeast || r.RemTimedOut
				gHow = r.How
				gRSS = append(gRSS, float64(r.RSS))
			}
		}
		for _, r := range []*row{&start, &add, &rem} {
			r.Nfsgw, r.Ganesha = median(r.NfsgwRuns), median(r.GaneshaRuns)
		}
		add.Note = fmt.Sprintf("nfsgw: %s; Ganesha: %s", nHow, gHow)
		var addHup, remHup []float64
		for _, r := range h.exportRuns {
			addHup = append(addHup, r.AddHupMs...)
			remHup = append(remHup, r.RemHupMs...)
		}
		if len(addHup) > 0 {
			add.Note += fmt.Sprintf("; nfsgw by SIGHUP reload of its configuration file (Ganesha's way): add %.1f ms, remove %.1f ms (medians of %d)",
				median(addHup), median(remHup), len(addHup))
		}
		start.Note = fmt.Sprintf("resident memory with %d exports: nfsgw %.0f MiB, Ganesha %.0f MiB",
			n, median(nRSS)/(1<<20), median(gRSS)/(1<<20))
		s.Exports = []row{start, add, rem}
	}
	return s
}

func fmtVal(v float64, unit string) string {
	switch {
	case v == 0:
		return "-"
	case unit == "ms" && v < 10:
		return fmt.Sprintf("%.2f", v)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func fmtRatio(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// cephGoals are issue 13's targets where they differ on CephFS: random
// I/O ≥ 1.2 × Ganesha, streaming ≥ 0.7 of raw libcephfs (whose figures
// never cross a network).
var cephGoals = map[string]float64{"randrw": 1.2}

const (
	streamingRaw     = 0.9
	streamingRawCeph = 0.7
)

func verdict(r row, backend string) string {
	g, ok := goals[r.Name]
	minRaw := streamingRaw
	if backend == "ceph" {
		if v, ok := cephGoals[r.Name]; ok {
			g.ratio = v
		}
		minRaw = streamingRawCeph
	}
	switch {
	case strings.HasPrefix(r.Name, "exports-"):
		lim := 10.0
		if r.Name == "exports-start" {
			lim = 1000
		}
		if r.Nfsgw == 0 {
			return "-"
		}
		if r.Nfsgw < lim {
			return fmt.Sprintf("< %.0f ms: met", lim)
		}
		return fmt.Sprintf("< %.0f ms: **missed**", lim)
	case !ok || g.ratio == 0 || r.Ratio() == 0:
		return "-"
	}
	s := fmt.Sprintf("≥ %.1f", g.ratio)
	met := r.Ratio() >= g.ratio
	if g.class == "streaming" {
		if r.RawRatio() == 0 {
			s += " (no raw figure)"
		} else {
			s += fmt.Sprintf(", ≥ %.1f raw", minRaw)
			met = met && r.RawRatio() >= minRaw
		}
	}
	if met {
		return s + ": met"
	}
	return s + ": **missed**"
}

// rawMeaning says where the raw column of s comes from.
func (s *summary) rawMeaning() string {
	if !slices.ContainsFunc(s.Rows, func(r row) bool { return r.Raw > 0 }) {
		return "There are no raw figures in this run (see the notes)."
	}
	if s.Machine["backend"] == "ceph" {
		return "The raw column is the same operation straight through libcephfs in one process (bench/cephraw) on the same files, " +
			"with as many threads as clients, run once per round after both servers' runs with the servers stopped."
	}
	return "The raw column is the same operation as system calls on the same files, with as many threads as clients."
}

// table renders the Markdown table of rows.
func table(rows []row, backend string) string {
	var b strings.Builder
	b.WriteString("| workload | unit | nfsgw | Ganesha | nfsgw/Ganesha | raw | nfsgw/raw | p99 nfsgw / Ganesha | server CPU µs/op nfsgw / Ganesha (Ganesha/nfsgw) | goal |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		p99 := "-"
		if r.NfsgwP99us > 0 {
			p99 = fmt.Sprintf("%s / %s", fmtUs(r.NfsgwP99us), fmtUs(r.GaneshaP99us))
		}
		ratio := fmtRatio(r.Ratio())
		if r.LowerIsBetter && ratio != "-" {
			ratio += " (Ganesha/nfsgw)"
		}
		cpu := fmtCPU(r)
		nv, gv := fmtVal(r.Nfsgw, r.Unit), fmtVal(r.Ganesha, r.Unit)
		if r.NfsgwAtLeast {
			nv, ratio = "> "+nv, "< "+ratio
		}
		if r.GaneshaAtLeast {
			gv, ratio = "> "+gv, "> "+ratio
		}
		fmt.Fprintf(&b, "| %s (`%s`) | %s | %s | %s | **%s** | %s | %s | %s | %s | %s |\n", r.Title, r.Name, r.Unit,
			nv, gv, ratio, fmtVal(r.Raw, r.Unit), fmtRatio(r.RawRatio()), p99, cpu, verdict(r, backend))
	}
	return b.String()
}

// CPURatio is how many times less server CPU per operation nfsgw used
// than Ganesha (0 when either is unknown): on a shared machine a steadier
// comparison than the ratio of rates.
func (r row) CPURatio() float64 {
	if r.NfsgwSrvUs <= 0 || r.GaneshaSrvUs <= 0 {
		return 0
	}
	return r.GaneshaSrvUs / r.NfsgwSrvUs
}

// fmtCPU is the server CPU cell: both servers' µs per operation and how
// many times less nfsgw used.
func fmtCPU(r row) string {
	if r.CPURatio() == 0 {
		return "-"
	}
	return fmt.Sprintf("%s / %s (%.2f×)", fmtVal(r.NfsgwSrvUs, ""), fmtVal(r.GaneshaSrvUs, ""), r.CPURatio())
}

func fmtUs(v float64) string {
	switch {
	case v <= 0:
		return "-"
	case v < 1000:
		return fmt.Sprintf("%.0f µs", v)
	case v < 1e6:
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.2f s", v/1e6)
}

func (s *summary) machineLine() string {
	m := s.Machine
	return fmt.Sprintf("%s CPUs (%s), %s, kernel %s, Debian %s; %s; NFS-Ganesha %s; nfsgw %s; backend %s",
		m["cpus"], m["cpu"], m["memory"], m["kernel"], m["debian"], m["go"], m["ganesha"], m["nfsgw"], m["backend"])
}

func (s *summary) paramLine() string {
	p := s.Params
	line := fmt.Sprintf("%s rounds of A B (nfsgw, Ganesha), medians; %s clients each with its own connection and NFSv4.1 session; %s per timed workload; %s sequential file; %s-file directories; %s clients in connect",
		p["rounds"], p["clients"], p["duration"], p["size"], p["many_files"], p["connect_clients"])
	if b := p["big_dir"]; b != "" {
		line += "; readdirbig " + b + " entries"
	}
	return line + fmt.Sprintf("; run took %s", s.Duration.Round(time.Second))
}

func (s *summary) text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nnfsgw vs NFS-Ganesha: %s\n%s\n\n", s.machineLine(), s.paramLine())
	b.WriteString(table(append(slices.Clone(s.Rows), s.Exports...), s.Machine["backend"]))
	b.WriteString(s.rawMeaning() + "\n")
	for _, r := range append(slices.Clone(s.Rows), s.Exports...) {
		if r.Errors > 0 {
			fmt.Fprintf(&b, "  %s: %d errors\n", r.Name, r.Errors)
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "  %s\n", n)
	}
	return b.String()
}

// The generated section of each backend sits between its two markers.
func beginMark(backend string) string {
	return "<!-- BEGIN bench-vs-ganesha " + backend + " (generated by make bench-vs-ganesha; edits here are overwritten) -->"
}

func endMark(backend string) string { return "<!-- END bench-vs-ganesha " + backend + " -->" }

// writeDoc replaces the generated section of doc (appending it if there
// is none) and draws the charts.
func writeDoc(doc, chartDir string, s *summary) error {
	if err := os.MkdirAll(chartDir, 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(doc), chartDir)
	if err != nil {
		rel = chartDir
	}
	beginMark, endMark := beginMark(s.Machine["backend"]), endMark(s.Machine["backend"])
	var b strings.Builder
	b.WriteString(beginMark + "\n\n")
	fmt.Fprintf(&b, "### Results (backend: %s)\n\n", s.Machine["backend"])
	fmt.Fprintf(&b, "Run of %s. Machine: %s.\n\n%s.\n\n", s.Started.UTC().Format("2006-01-02 15:04 UTC"), s.machineLine(), s.paramLine())
	b.WriteString("Rates are medians over the runs (higher is better), times of the export rows are medians in ms (lower is better); ")
	b.WriteString("the ratio column is always nfsgw's advantage. " + s.rawMeaning() + "\n\n")
	b.WriteString(table(append(slices.Clone(s.Rows), s.Exports...), s.Machine["backend"]))
	b.WriteString("\n")
	for _, r := range append(slices.Clone(s.Rows), s.Exports...) {
		if r.Note != "" {
			fmt.Fprintf(&b, "- `%s`: %s\n", r.Name, r.Note)
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\n")
	for _, r := range append(slices.Clone(s.Rows), s.Exports...) {
		name := fmt.Sprintf("%s-%s.png", s.Machine["backend"], r.Name)
		if err := drawChart(filepath.Join(chartDir, name), r); err != nil {
			return err
		}
		fmt.Fprintf(&b, "![%s](%s)\n", r.Title, filepath.ToSlash(filepath.Join(rel, name)))
	}
	b.WriteString("\n" + endMark + "\n")

	old, err := os.ReadFile(doc)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	text := string(old)
	i, j := strings.Index(text, beginMark), strings.Index(text, endMark)
	if i >= 0 && j > i {
		text = text[:i] + b.String() + strings.TrimPrefix(text[j+len(endMark):], "\n")
	} else {
		text = strings.TrimRight(text, "\n") + "\n\n" + b.String()
	}
	return os.WriteFile(doc, []byte(text), 0o644)
}
