// Command vsganesha measures nfsgw against NFS-Ganesha 4.3 on the same
// machine, the same backend and the same client in one run
// (make bench-vs-ganesha):
//
//  1. It makes one data directory with the fixture tree of bench/nfsbench
//     (10,000-file and 100,000-file directories, a deep path, small
//     files) and starts Ganesha (FSAL_VFS) and nfsgw (localfs) on
//     loopback, both exporting it at /export. With -backend ceph the
//     directory is in CephFS, the servers are FSAL_CEPH and cephfsal, and
//     bench/cephraw makes the tree through libcephfs.
//  2. It runs bench/nfsbench against each in turn, A B A B for -rounds
//     rounds, every run with the same flags: many clients, each with its
//     own connection and NFSv4.1 session. nfsbench also measures the raw
//     backend (system calls on the same files) in every run; on CephFS
//     bench/cephraw does (libcephfs in one process, same workloads, same
//     files), once per round after both servers' runs, with the servers
//     stopped so that it has the cluster to itself.
//  3. It starts each server with -exports exports in its configuration
//     and measures the time until the last one is served, then adds and
//     removes one export while they all exist and measures the time until
//     it is served / gone.
//  4. It prints medians and ratios and, with -doc, rewrites the generated
//     part of docs/benchmarks.md and draws one PNG chart per workload.
//
// Every process it starts is stopped by its pid; every file it creates is
// removed at the end (the work directory is a fresh temporary directory).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

type config struct {
	nfsgw, nfsgwctl, nfsbench string
	cephraw                   string
	backend                   string
	cephConf, cephUser        string
	workDir                   string
	rounds                    int
	duration                  time.Duration
	size                      string
	clients                   int
	workloads                 string
	big                       bool
	bigDir, manyFiles         int
	connectClients            int
	exports                   int
	exportChanges             int
	exportRounds              int
	changeLimit               time.Duration
	doc, charts               string
	jsonOut                   string
	pprof                     string
	keep                      bool
	only                      string
	fromJSON                  string
}

func parseFlags(args []string) (*config, error) {
	c := &config{}
	fl := flag.NewFlagSet("vsganesha", flag.ContinueOnError)
	fl.StringVar(&c.nfsgw, "nfsgw", "bin/nfsgw", "nfsgw binary")
	fl.StringVar(&c.nfsgwctl, "nfsgwctl", "bin/nfsgwctl", "nfsgwctl binary (for the doc's commands only)")
	fl.StringVar(&c.nfsbench, "nfsbench", "bin/nfsbench", "nfsbench binary (go build -o bin/nfsbench ./bench/nfsbench)")
	fl.StringVar(&c.cephraw, "cephraw", "", "cephraw binary for -backend ceph (default: go build ./bench/cephraw into the work directory)")
	fl.StringVar(&c.backend, "backend", "local", "backend both servers serve: local (FSAL_VFS vs localfs) or ceph (FSAL_CEPH vs cephfsal)")
	fl.StringVar(&c.cephConf, "ceph-conf", "", "ceph.conf of the cluster for -backend ceph")
	fl.StringVar(&c.cephUser, "ceph-user", "admin", "CephFS user id for -backend ceph")
	fl.StringVar(&c.workDir, "dir", "", "parent of the temporary work directory (default $TMPDIR)")
	fl.IntVar(&c.rounds, "rounds", 2, "rounds of A B (each server once per round); medians over the rounds")
	fl.DurationVar(&c.duration, "duration", 3*time.Second, "measured time of each timed workload in each run")
	fl.StringVar(&c.size, "size", "1G", "file size of the sequential write and read workloads")
	fl.IntVar(&c.clients, "clients", 32, "concurrent clients (each its own connection and session)")
	fl.StringVar(&c.workloads, "workloads", "getattr,getattrmany,lookupdeep,pathwalk,smallcreate,smallread,readdir,write,read,randrw,connect",
		"nfsbench workloads (see bench/nfsbench); exports is measured separately (-exports 0 skips it)")
	fl.BoolVar(&c.big, "big", true, "add readdirbig (READDIR of a -big-dir entry directory)")
	fl.IntVar(&c.bigDir, "big-dir", 100000, "entries of the readdirbig directory")
	fl.IntVar(&c.manyFiles, "many-files", 10000, "files of the getattrmany and readdir directory")
	fl.IntVar(&c.connectClients, "connect-clients", 1000, "clients connecting at once in the connect workload")
	fl.IntVar(&c.exports, "exports", 15000, "exports in the configuration for the export-scaling workload (0 skips it)")
	fl.IntVar(&c.exportChanges, "export-changes", 5, "export additions and removals measured per server and round")
	fl.IntVar(&c.exportRounds, "export-rounds", 1, "rounds of the export-scaling workload (Ganesha takes over a minute to start with 15,000 exports)")
	fl.DurationVar(&c.changeLimit, "export-change-limit", 90*time.Second,
		"time to wait for an added export to be served (removed: gone); longer counts as this limit, a lower bound (Ganesha needs minutes)")
	fl.StringVar(&c.doc, "doc", "", "rewrite the generated section of this Markdown file (e.g. docs/benchmarks.md)")
	fl.StringVar(&c.charts, "charts", "", "directory for the PNG charts (default: DIR-OF-DOC/bench)")
	fl.StringVar(&c.jsonOut, "json", "", "write every run's results and the medians as JSON to this file")
	fl.StringVar(&c.pprof, "pprof", "", "start nfsgw with --pprof ADDR (for profiling during the run)")
	fl.StringVar(&c.only, "only", "", "run one server only (nfsgw or ganesha), e.g. to profile it; no ratios")
	fl.StringVar(&c.fromJSON, "from-json", "", "measure nothing: rewrite -doc and the charts from the -json FILE of an earlier run")
	fl.BoolVar(&c.keep, "keep", false, "keep the work directory (logs, configs, JSON of each run)")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if c.rounds < 1 || c.clients < 1 || c.duration <= 0 {
		return nil, errors.New("-rounds, -clients and -duration must be positive")
	}
	if c.charts == "" && c.doc != "" {
		c.charts = filepath.Join(filepath.Dir(c.doc), "bench")
	}
	return c, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vsganesha: "+format+"\n", args...)
}

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		logf("%v", err)
		return 2
	}
	if cfg.fromJSON != "" {
		return redraw(cfg)
	}
	for _, b := range []string{cfg.nfsgw, cfg.nfsbench} {
		if _, err := os.Stat(b); err != nil {
			logf("%v (make build, and go build -o bin/nfsbench ./bench/nfsbench)", err)
			return 2
		}
	}
	if _, err := exec.LookPath("ganesha.nfsd"); err != nil {
		logf("%v: install the Debian packages nfs-ganesha nfs-ganesha-vfs nfs-ganesha-ceph (scripts/bench-deps.sh)", errNoGanesha)
		return 2
	}
	// 15,000 exports hold 15,000 directory descriptors in each server, and
	// 1,000 clients as many sockets; the servers inherit the limit.
	raiseNofile(1 << 17)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &harness{cfg: cfg, started: time.Now(), version: gitVersion()}
	status := 0
	if err := h.setup(ctx); err != nil {
		logf("setup: %v", err)
		status = 1
	} else if err := h.runAll(ctx); err != nil {
		logf("%v", err)
		status = 1
	}
	stop()
	if err := h.cleanup(); err != nil {
		logf("cleanup: %v", err)
		status = 1
	}
	if len(h.runs) > 0 || len(h.exportRuns) > 0 {
		sum := h.summarize()
		fmt.Print(sum.text())
		if cfg.jsonOut != "" {
			b, _ := json.MarshalIndent(struct {
				Summary    *summary     `json:"summary"`
				Runs       []benchRun   `json:"runs"`
				ExportRuns []exportsRun `json:"export_runs"`
			}{sum, h.runs, h.exportRuns}, "", "  ")
			if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
				logf("%v", err)
				status = 1
			}
		}
		if cfg.doc != "" && status == 0 {
			if err := writeDoc(cfg.doc, cfg.charts, sum); err != nil {
				logf("doc: %v", err)
				status = 1
			} else {
				logf("wrote %s and charts in %s", cfg.doc, cfg.charts)
			}
		} else if cfg.doc != "" {
			logf("not writing %s: the run had errors", cfg.doc)
		}
	}
	logf("done in %s", time.Since(h.started).Round(time.Second))
	return status
}

// harness is one run of the comparison.
type harness struct {
	cfg     *config
	started time.Time
	version string // git describe of the checkout at the start
	work    string
	be      backend
	servers []server

	runs       []benchRun
	exportRuns []exportsRun
	notes      []string
}

// benchRun is one nfsbench run against one server.
type benchRun struct {
	Server  string   `json:"server"`
	Round   int      `json:"round"`
	Results []result `json:"results"`
}

// result is the part of an nfsbench result row the harness uses.
type result struct {
	Name       string         `json:"name"`
	Rate       float64        `json:"rate"`
	Unit       string         `json:"unit"`
	Ops        int64          `json:"ops"`
	Errors     int64          `json:"errors"`
	FirstError string         `json:"first_error,omitempty"`
	P50us      float64        `json:"p50_us"`
	P99us      float64        `json:"p99_us"`
	ServerUs   float64        `json:"server_us_per_op,omitempty"`
	OtherCPU   float64        `json:"other_cpu_s,omitempty"`
	Seconds    float64        `json:"seconds"`
	Notes      []string       `json:"notes,omitempty"`
	Extra      map[string]any `json:"extra,omitempty"`
}

func (h *harness) setup(ctx context.Context) error {
	var err error
	if h.work, err = os.MkdirTemp(h.cfg.workDir, "vsganesha-"); err != nil {
		return err
	}
	if err := os.Chmod(h.work, 0o755); err != nil {
		return err
	}
	logf("work directory %s", h.work)
	switch h.cfg.backend {
	case "local":
		h.be = &localBackend{root: filepath.Join(h.work, "data")}
		if err := h.be.Prepare(ctx); err != nil {
			return err
		}
	case "ceph":
		bin, _ := filepath.Abs(h.cfg.nfsgw)
		cb := &cephBackend{conf: h.cfg.cephConf, user: h.cfg.cephUser, nfsgw: bin, work: h.work,
			root: fmt.Sprintf("/vsganesha-%d", os.Getpid()), note: h.notef,
			// Removing thousands of export directories through the MDS
			// takes minutes on the 2-core dev cluster.
			cleanupLimit: 15*time.Minute + time.Duration(h.cfg.exports)*40*time.Millisecond}
		h.be = cb
		if err := cb.Prepare(ctx); err != nil {
			return err
		}
		raw := h.cfg.cephraw
		if raw == "" {
			logf("building bench/cephraw")
			var err error
			if raw, err = buildCephraw(ctx, h.work); err != nil {
				h.notef("no raw figures, fixtures over NFS without readdirbig: %v", err)
			}
		}
		if raw != "" {
			cb.raw = &cephraw{bin: raw, conf: cb.conf, user: cb.user}
		}
	default:
		return fmt.Errorf("unknown -backend %q (local or ceph)", h.cfg.backend)
	}
	if lr := h.be.LocalRoot(); lr != "" {
		if err := os.Chmod(lr, 0o777); err != nil {
			return err
		}
	}
	for _, d := range []string{"ganesha", "nfsgw", "runs"} {
		if err := os.MkdirAll(filepath.Join(h.work, d), 0o755); err != nil {
			return err
		}
	}
	ctl, _ := filepath.Abs(h.cfg.nfsgwctl)
	bin, _ := filepath.Abs(h.cfg.nfsgw)
	h.servers = []server{
		&nfsgw{bin: bin, ctl: ctl, dir: filepath.Join(h.work, "nfsgw"), be: h.be, pprof: h.cfg.pprof},
		&ganesha{dir: filepath.Join(h.work, "ganesha"), be: h.be},
	}
	if h.cfg.only != "" {
		h.servers = slices.DeleteFunc(h.servers, func(s server) bool { return !strings.EqualFold(s.Label(), h.cfg.only) })
		if len(h.servers) == 0 {
			return fmt.Errorf("-only %q: want nfsgw or ganesha", h.cfg.only)
		}
	}
	if h.be.LocalRoot() != "" {
		logf("making the fixture tree")
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, h.cfg.nfsbench, h.fixtureArgs("-make-fixtures", h.be.LocalRoot())...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("nfsbench -make-fixtures: %v: %s", err, out)
		}
		logf("fixtures made in %s", time.Since(t0).Round(time.Millisecond))
	} else if m, ok := h.be.(interface {
		MakeFixtures(ctx context.Context, s fixtureSpec) (bool, error)
	}); ok {
		logf("making the fixture tree in %s", h.be.Name())
		t0 := time.Now()
		big, err := m.MakeFixtures(ctx, h.fixtures())
		if err != nil {
			return fmt.Errorf("fixtures: %w", err)
		}
		h.cfg.big = h.cfg.big && big
		logf("fixtures made in %s", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// The fixture tree's deep path and small files: nfsbench's defaults, which
// the harness does not change.
const (
	deepDepth  = 16
	smallFiles = 1000
)

func (h *harness) fixtures() fixtureSpec {
	s := fixtureSpec{many: h.cfg.manyFiles, depth: deepDepth, small: smallFiles}
	if h.cfg.big {
		s.big = h.cfg.bigDir
	}
	return s
}

func (h *harness) fixtureArgs(extra ...string) []string {
	return append([]string{"-many-files", fmt.Sprint(h.cfg.manyFiles), "-big-dir", fmt.Sprint(h.fixtures().big)}, extra...)
}

// readdirbigDuration leaves room for whole listings of the big directory:
// on CephFS one Ganesha listing of 100,000 entries took over 10 s on the
// development machine, and a run that finishes none has no rate.
func (h *harness) readdirbigDuration() time.Duration {
	if h.cfg.backend == "ceph" {
		return max(h.cfg.duration, 30*time.Second)
	}
	return max(h.cfg.duration, 10*time.Second)
}

// notef logs a note and keeps it for the report.
func (h *harness) notef(format string, args ...any) {
	n := fmt.Sprintf(format, args...)
	logf("%s", n)
	h.notes = append(h.notes, n)
}

func (h *harness) workloads() string {
	w := h.cfg.workloads
	if h.cfg.big && !strings.Contains(w, "readdirbig") {
		w += ",readdirbig"
	}
	return w
}

func (h *harness) runAll(ctx context.Context) error {
	if wl := h.workloads(); wl != "" {
		main := []exportSpec{{ID: 1, Pseudo: "/export", Path: h.be.Root()}}
		rr, raw := h.be.(rawRunner)
		raw = raw && rr.RawReady()
		running := false
		stopAll := func() {
			for _, s := range h.servers {
				t0 := time.Now()
				if err := s.Stop(); err != nil {
					h.notes = append(h.notes, err.Error())
				}
				logf("%s stopped in %s", s.Label(), time.Since(t0).Round(time.Millisecond))
			}
			running = false
		}
		for round := 1; round <= h.cfg.rounds; round++ {
			if !running {
				for _, s := range h.servers {
					logf("starting %s", s.Label())
					if err := s.Start(ctx, main); err != nil {
						return err
					}
					logf("%s (pid %d) serving on %s", s.Label(), s.PID(), s.Addr())
				}
				running = true
			}
			for _, s := range h.servers {
				if err := ctx.Err(); err != nil {
					return err
				}
				if err := h.benchOnce(ctx, s, round, wl); err != nil {
					return err
				}
			}
			if raw {
				// The servers stop for it (and start afresh next round),
				// both alike.
				stopAll()
				h.rawOnce(ctx, rr, round, wl)
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		if running {
			stopAll()
		}
	}
	if h.cfg.exports > 0 {
		if err := h.runExports(ctx); err != nil {
			return fmt.Errorf("exports: %w", err)
		}
	}
	return nil
}

func (h *harness) benchOnce(ctx context.Context, s server, round int, wl string) error {
	out := filepath.Join(h.work, "runs", fmt.Sprintf("%s-%d.json", strings.ToLower(s.Label()), round))
	args := h.fixtureArgs("-addr", s.Addr()+"/export", "-server-pid", fmt.Sprint(s.PID()),
		"-fixtures", "fixtures", "-json", out, "-workloads", wl,
		"-duration", h.cfg.duration.String(), "-readdirbig-duration", h.readdirbigDuration().String(),
		"-size", h.cfg.size, "-clients", fmt.Sprint(h.cfg.clients),
		"-connect-clients", fmt.Sprint(h.cfg.connectClients))
	if lr := h.be.LocalRoot(); lr != "" {
		args = append(args, "-local-root", lr)
	}
	logf("round %d: %s", round, s.Label())
	cmd := exec.CommandContext(ctx, h.cfg.nfsbench, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	err := cmd.Run()
	b, rerr := os.ReadFile(out)
	if rerr != nil {
		if err == nil {
			err = rerr
		}
		return fmt.Errorf("nfsbench against %s: %w", s.Label(), err)
	}
	var rep struct {
		Results []result `json:"results"`
	}
	if jerr := json.Unmarshal(b, &rep); jerr != nil {
		return jerr
	}
	h.runs = append(h.runs, benchRun{Server: s.Label(), Round: round, Results: rep.Results})
	if err != nil {
		h.notes = append(h.notes, fmt.Sprintf("round %d, %s: nfsbench reported an error (%v); see its output", round, s.Label(), err))
	}
	return nil
}

func (h *harness) cleanup() error {
	var errs []error
	for _, s := range h.servers {
		if err := s.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	if h.be != nil {
		if err := h.be.Cleanup(); err != nil {
			errs = append(errs, err)
		}
	}
	if h.work != "" {
		if h.cfg.keep {
			logf("kept %s", h.work)
		} else if err := os.RemoveAll(h.work); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// raiseNofile raises RLIMIT_NOFILE (soft and hard, as root) to want.
func raiseNofile(want uint64) {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) != nil {
		return
	}
	next := syscall.Rlimit{Cur: max(lim.Cur, want), Max: max(lim.Max, want)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next) != nil {
		next = syscall.Rlimit{Cur: lim.Max, Max: lim.Max}
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	}
}

// machine describes where the run happened.
func machine() map[string]string {
	m := map[string]string{"cpus": fmt.Sprint(runtime.NumCPU()), "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		l, _, _ := strings.Cut(string(b), "\n")
		m["memory"] = strings.Join(strings.Fields(l)[1:], " ")
	}
	if b, err := os.ReadFile("/etc/debian_version"); err == nil {
		m["debian"] = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("dpkg-query", "-W", "-f=${Version}", "nfs-ganesha").Output(); err == nil {
		m["ganesha"] = string(out)
	}
	return m
}

// gitVersion names the checkout the run starts from; taken at the start,
// since the tree may be edited while a run of many minutes goes on.
func gitVersion() string {
	out, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// redraw rewrites the doc and charts from a saved -json file.
func redraw(cfg *config) int {
	b, err := os.ReadFile(cfg.fromJSON)
	if err != nil {
		logf("%v", err)
		return 1
	}
	var saved struct {
		Summary *summary `json:"summary"`
	}
	if err := json.Unmarshal(b, &saved); err != nil || saved.Summary == nil {
		logf("%s: not a -json file of vsganesha (%v)", cfg.fromJSON, err)
		return 1
	}
	if cfg.doc == "" {
		fmt.Print(saved.Summary.text())
		return 0
	}
	if err := writeDoc(cfg.doc, cfg.charts, saved.Summary); err != nil {
		logf("doc: %v", err)
		return 1
	}
	logf("wrote %s and charts in %s", cfg.doc, cfg.charts)
	return 0
}
