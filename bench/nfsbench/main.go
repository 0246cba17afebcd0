// Command nfsbench is a load generator for NFSv4.1 servers: by default it
// starts nfsgw itself on a loopback port, exporting a fresh temporary
// directory, runs a set of workloads against it with our own client
// (gateway/nfsclient), prints a results table, optionally writes the
// results as JSON, then stops the server by its pid and removes every file
// it created.
//
//	go build -o bin/nfsgw ./cmd/nfsgw && go run ./bench/nfsbench -nfsgw bin/nfsgw
//
// With -addr HOST:PORT/PATH it runs against a server that is already
// running (NFS-Ganesha, knfsd, another nfsgw) instead, in a directory it
// creates below PATH and removes at the end; -server-pid names that
// server's process for the CPU and memory figures, -raw-dir the local
// directory for the raw-disk comparison.
//
// Every client has its own TCP connection, client ID and NFSv4.1 session
// and keeps one request in flight (the write and read workloads keep
// -iodepth). The workloads:
//
//	getattr     PUTFH + GETATTR of the attributes the Linux client asks for
//	            (type, change, size, fsid, fileid, mode, numlinks, owner,
//	            owner_group, rawdev, space_used, atime, ctime, mtime,
//	            mounted_on_fileid) on one file.
//	lookup      PUTFH dir + LOOKUP name + GETFH + GETATTR over a directory of
//	            -lookup-files files, names picked at random.
//	pathwalk    PUTROOTFH + a LOOKUP per component + GETATTR of a random file
//	            of the fixture tree's walk/wNN/fNN, from the pseudo root:
//	            what a userspace client that stats by path sends.
//	openclose   OPEN + CLOSE pairs, each client on files of its own: once
//	            with OPEN4_CREATE of a new file each time (openclose/create),
//	            once with OPEN4_NOCREATE of an existing one (openclose/existing).
//	lockunlock  LOCK + LOCKU pairs of a whole-file write lock, each client on
//	            its own open file with its own lock-owner.
//	write       -size bytes of sequential -iosize UNSTABLE WRITEs, then
//	            COMMIT; the rate counts the COMMIT. Compared with pwrite(2)
//	            of the same bytes into a file of the same directory + fsync.
//	read        -iosize sequential READs of that file, compared with
//	            pread(2) of the raw file. The page cache is not dropped in
//	            between, so both sides read from it: the fair comparison for
//	            a loopback server.
//	idleclients -idle-clients clients connect and create sessions, then sit
//	            idle; the server's VmRSS before and after gives the memory
//	            each idle client costs. It runs first, on the freshly started
//	            server, so heap left over by the other workloads does not
//	            absorb it.
//
// Rates of getattr and lookup are COMPOUNDs per second, of openclose and
// lockunlock pairs per second; p50 and p99 are the latency of one such
// operation (one WRITE or READ for write and read, one connect + session
// set-up for idleclients). "srv cpu" and "bench cpu" are the CPU time the
// server and the bench used during the measurement as a percentage of one
// core: on a small machine both compete for the same cores.
package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workloadOrder is the order of the table; idleclients runs first (see
// the package comment) but is listed last.
var workloadOrder = []string{"getattr", "getattrmany", "lookup", "lookupdeep", "pathwalk", "smallcreate", "smallread",
	"openclose", "lockunlock", "readdir", "readdirbig", "write", "read", "randrw", "connect", "idleclients"}

// defaultWorkloads is what -workloads all selects: every workload but
// readdirbig, whose fixture directory takes a while to make.
var defaultWorkloads = []string{"getattr", "getattrmany", "lookup", "lookupdeep", "pathwalk", "smallcreate", "smallread",
	"openclose", "lockunlock", "readdir", "write", "read", "randrw", "connect", "idleclients"}

// timedWorkloads have a -NAME-duration flag.
var timedWorkloads = []string{"getattr", "getattrmany", "lookup", "lookupdeep", "pathwalk", "smallcreate", "smallread",
	"openclose", "lockunlock", "readdir", "readdirbig", "randrw"}

type config struct {
	nfsgw      string
	nfsgwArgs  []string
	addr       string // external server host:port; "" starts nfsgw
	exportPath string // path on the server the bench works below
	serverPID  int
	rawDir     string
	tmpParent  string

	workloads   []string
	clients     int
	duration    time.Duration
	durations   map[string]*time.Duration // per-workload overrides
	lookupFiles int
	size        int64
	ioSize      int
	ioDepth     int
	ioTimeout   time.Duration
	idleClients int
	idleTimeout time.Duration
	dialConc    int
	jsonPath    string
	uid, gid    uint
	cpuProfile  string

	fix            fixtureSpec
	fixtures       string // fixture tree, relative to exportPath ("" makes one when the bench owns the server)
	makeFixtures   string // only make the fixture tree below this local directory, then exit
	localRoot      string // local directory the -addr server exports, for the raw figures
	readdirClients int
	connectClients int
	smallFileSync  bool
}

// durationOf returns the measured duration of a timed workload.
func (c *config) durationOf(name string) time.Duration {
	if d := c.durations[name]; d != nil && *d > 0 {
		return *d
	}
	return c.duration
}

// parseWorkloads checks a comma list of workload names ("all" for every
// one) and returns them in table order.
func parseWorkloads(s string) ([]string, error) {
	var out []string
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "":
		case w == "all":
			out = append(out, defaultWorkloads...)
		case slices.Contains(workloadOrder, w):
			out = append(out, w)
		default:
			return nil, fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(workloadOrder, ","))
		}
	}
	var sorted []string
	for _, w := range workloadOrder {
		if slices.Contains(out, w) {
			sorted = append(sorted, w)
		}
	}
	if len(sorted) == 0 {
		return nil, errors.New("no workloads selected")
	}
	return sorted, nil
}

func parseFlags(args []string) (*config, error) {
	c := &config{size: 256 << 20, durations: map[string]*time.Duration{}}
	ioSize := int64(1 << 20)
	fl := flag.NewFlagSet("nfsbench", flag.ContinueOnError)
	fl.StringVar(&c.nfsgw, "nfsgw", "bin/nfsgw", "nfsgw binary to start (ignored with -addr)")
	nfsgwArgs := fl.String("nfsgw-args", "", "extra arguments for nfsgw, space separated (e.g. \"--lease 30\")")
	addr := fl.String("addr", "", "run against an already running server at HOST:PORT/PATH instead of starting nfsgw")
	fl.IntVar(&c.serverPID, "server-pid", 0, "pid of the -addr server, for its CPU and memory figures")
	fl.StringVar(&c.rawDir, "raw-dir", "", "local directory for the raw-disk figures with -addr (default: none)")
	fl.StringVar(&c.tmpParent, "dir", "", "parent of the temporary export directory (default $TMPDIR)")
	wl := fl.String("workloads", "all", "comma list of workloads: "+strings.Join(workloadOrder, ",")+" or all")
	fl.IntVar(&c.clients, "clients", 32, "concurrent clients of the getattr, lookup, openclose and lockunlock workloads")
	fl.DurationVar(&c.duration, "duration", 4*time.Second, "measured duration of each timed workload (after a short warm-up)")
	for _, w := range timedWorkloads {
		d := new(time.Duration)
		c.durations[w] = d
		fl.DurationVar(d, w+"-duration", 0, "duration of "+w+" (default -duration; openclose runs it twice: create and existing)")
	}
	fl.IntVar(&c.lookupFiles, "lookup-files", 1000, "files in the lookup directory")
	fl.Var(benchkit.SizeFlag{V: &c.size}, "size", "bytes written then read by the write and read workloads")
	fl.Var(benchkit.SizeFlag{V: &ioSize}, "iosize", "size of each WRITE and READ")
	fl.IntVar(&c.ioDepth, "iodepth", 1, "WRITEs or READs kept in flight by the write and read workloads")
	fl.DurationVar(&c.ioTimeout, "io-timeout", 60*time.Second, "time limit of each write and read pass (the rate counts what was done)")
	fl.IntVar(&c.idleClients, "idle-clients", 2000, "clients connected by idleclients")
	fl.DurationVar(&c.idleTimeout, "idle-timeout", 120*time.Second, "time limit for connecting the idle clients")
	fl.IntVar(&c.dialConc, "dial-concurrency", 64, "clients connecting at once")
	fl.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file")
	fl.StringVar(&c.cpuProfile, "cpuprofile", "", "write a CPU profile of the bench process (the client side) to this file")
	fl.IntVar(&c.fix.many, "many-files", 10000, "files of the getattrmany and readdir fixture directory")
	fl.IntVar(&c.fix.big, "big-dir", 100000, "files of the readdirbig fixture directory")
	fl.IntVar(&c.fix.depth, "deep-depth", 16, "directories above the lookupdeep leaf")
	fl.IntVar(&c.fix.small, "small-files", 1000, "4 KiB files read by smallread and connect")
	fl.StringVar(&c.fixtures, "fixtures", "", "fixture tree below the export path (made with -make-fixtures)")
	fl.StringVar(&c.makeFixtures, "make-fixtures", "", "make the fixture tree in DIR/"+benchkit.FixtureDir+" and exit")
	fl.StringVar(&c.localRoot, "local-root", "", "with -addr: the local directory the server exports (raw figures, and -raw-dir below it)")
	fl.IntVar(&c.readdirClients, "readdir-clients", 4, "clients listing at once in readdir and readdirbig")
	fl.IntVar(&c.connectClients, "connect-clients", 1000, "clients connecting at once in connect")
	fl.BoolVar(&c.smallFileSync, "small-filesync", false, "smallcreate WRITEs FILE_SYNC (as Linux flushes one page on close) instead of UNSTABLE")
	fl.UintVar(&c.uid, "uid", uint(os.Getuid()), "AUTH_SYS uid of the clients")
	fl.UintVar(&c.gid, "gid", uint(os.Getgid()), "AUTH_SYS gid of the clients")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	var err error
	if c.workloads, err = parseWorkloads(*wl); err != nil {
		return nil, err
	}
	c.nfsgwArgs = strings.Fields(*nfsgwArgs)
	if *addr != "" {
		hp, path, ok := strings.Cut(*addr, "/")
		if !ok || hp == "" {
			return nil, fmt.Errorf("-addr %q: want HOST:PORT/PATH", *addr)
		}
		c.addr, c.exportPath = hp, "/"+path
	}
	switch {
	case c.clients < 1:
		return nil, errors.New("-clients must be at least 1")
	case c.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case c.size < 1:
		return nil, errors.New("-size must be positive")
	case ioSize < 512 || ioSize > 16<<20:
		return nil, errors.New("-iosize must be between 512 and 16M")
	case c.ioDepth < 1:
		return nil, errors.New("-iodepth must be at least 1")
	case c.idleClients < 1:
		return nil, errors.New("-idle-clients must be at least 1")
	case c.dialConc < 1:
		return nil, errors.New("-dial-concurrency must be at least 1")
	case c.lookupFiles < 1:
		return nil, errors.New("-lookup-files must be at least 1")
	case c.fix.many < 1 || c.fix.small < 1 || c.fix.big < 0 || c.fix.depth < 1:
		return nil, errors.New("-many-files, -small-files and -deep-depth must be at least 1")
	case c.readdirClients < 1 || c.connectClients < 1:
		return nil, errors.New("-readdir-clients and -connect-clients must be at least 1")
	}
	c.ioSize = int(ioSize)
	return c, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "nfsbench: "+format+"\n", args...)
}

func run(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		logf("%v", err)
		return 2
	}
	if cfg.makeFixtures != "" {
		t0 := time.Now()
		if err := makeFixtures(cfg.makeFixtures, cfg.fix); err != nil {
			logf("fixtures: %v", err)
			return 1
		}
		logf("fixtures ready in %s/%s (%s)", cfg.makeFixtures, benchkit.FixtureDir, time.Since(t0).Round(time.Millisecond))
		return 0
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	if cfg.cpuProfile != "" {
		f, err := os.Create(cfg.cpuProfile)
		if err != nil {
			logf("%v", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			logf("%v", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}

	b := &bench{cfg: cfg, started: time.Now()}
	status := 0
	if err := b.setup(ctx); err != nil {
		logf("setup: %v", err)
		status = 1
	} else {
		status = b.runAll(ctx)
	}
	// Clean up even after ^C: a second signal kills the bench as usual.
	stop()
	if err := b.cleanup(); err != nil {
		logf("cleanup: %v", err)
		status = 1
	}
	if len(b.results) > 0 {
		b.print(os.Stdout)
		if cfg.jsonPath != "" {
			if err := writeJSON(cfg.jsonPath, b.report()); err != nil {
				logf("json: %v", err)
				status = 1
			} else {
				logf("results written to %s", cfg.jsonPath)
			}
		}
	}
	return status
}

// runAll runs the selected workloads: idleclients first, then the others
// in table order.
func (b *bench) runAll(ctx context.Context) int {
	order := slices.Clone(b.cfg.workloads)
	if i := slices.Index(order, "idleclients"); i > 0 {
		order = append([]string{"idleclients"}, slices.Delete(order, i, i+1)...)
	}
	status := 0
	for _, w := range order {
		if ctx.Err() != nil {
			logf("interrupted")
			return 1
		}
		if b.srv != nil && b.srv.exited() {
			logf("nfsgw exited (%v); stopping:\n%s", b.srv.err, b.srv.log.Tail())
			return 1
		}
		rs, err := b.runWorkload(ctx, w)
		for i := range rs {
			rs[i].workload = w
			if ctx.Err() != nil {
				rs[i].note("interrupted: partial figures")
			}
		}
		b.results = append(b.results, rs...)
		if err != nil {
			logf("%s: %v", w, err)
			status = 1
		}
	}
	return status
}

func (b *bench) runWorkload(ctx context.Context, w string) ([]Result, error) {
	switch w {
	case "getattr":
		return b.runGetattr(ctx)
	case "getattrmany":
		return b.runGetattrMany(ctx)
	case "lookupdeep":
		return b.runLookupDeep(ctx)
	case "pathwalk":
		return b.runPathWalk(ctx)
	case "smallcreate":
		return b.runSmallCreate(ctx)
	case "smallread":
		return b.runSmallRead(ctx)
	case "readdir", "readdirbig":
		return b.runReaddir(ctx, w)
	case "randrw":
		return b.runRandRW(ctx)
	case "connect":
		return b.runConnect(ctx)
	case "lookup":
		return b.runLookup(ctx)
	case "openclose":
		return b.runOpenClose(ctx)
	case "lockunlock":
		return b.runLockUnlock(ctx)
	case "write":
		return b.runWrite(ctx)
	case "read":
		return b.runRead(ctx)
	case "idleclients":
		return b.runIdle(ctx)
	}
	return nil, fmt.Errorf("unknown workload %q", w)
}

// sortedResults returns the results in table order.
func (b *bench) sortedResults() []Result {
	rs := slices.Clone(b.results)
	slices.SortStableFunc(rs, func(x, y Result) int {
		return slices.Index(workloadOrder, x.workload) - slices.Index(workloadOrder, y.workload)
	})
	return rs
}

func (b *bench) serverName() string {
	if b.srv != nil {
		return "nfsgw " + b.cfg.nfsgw
	}
	return "external server"
}

func (b *bench) print(w *os.File) {
	rs := b.sortedResults()
	fmt.Fprintf(w, "\nnfsbench: %s at %s%s, %d CPUs, %s; -clients %d -duration %s -size %s -iosize %s -iodepth %d -idle-clients %d\n\n",
		b.serverName(), b.addr, b.exportPath, runtime.NumCPU(), runtime.Version(), b.cfg.clients, b.cfg.duration,
		benchkit.FormatSize(b.cfg.size), benchkit.FormatSize(int64(b.cfg.ioSize)), b.cfg.ioDepth, b.cfg.idleClients)
	fmt.Fprint(w, renderTable(tableHeader, tableRows(rs)))
	var notes []string
	for _, r := range rs {
		for _, n := range r.Notes {
			notes = append(notes, r.Name+": "+n)
		}
		if r.FirstError != "" {
			notes = append(notes, fmt.Sprintf("%s: %d errors, first: %s", r.Name, r.Errors, r.FirstError))
		}
	}
	notes = append(notes, b.notes...)
	if b.srv != nil {
		warn, dropped := b.srv.log.Warnings()
		if len(warn) == 0 {
			notes = append(notes, "server log: no warnings or errors")
		} else {
			notes = append(notes, fmt.Sprintf("server log: %d warning/error lines, e.g.:", len(warn)+dropped))
			for _, l := range warn[:min(len(warn), 5)] {
				notes = append(notes, "    "+l)
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range notes {
			fmt.Fprintln(w, "  "+n)
		}
	}
	fmt.Fprintln(w)
}

func (b *bench) report() *Report {
	host, _ := os.Hostname()
	rep := &Report{
		Started: b.started,
		Server:  b.serverName(),
		Addr:    b.addr + b.exportPath,
		Host: map[string]string{"hostname": host, "go": runtime.Version(), "os": runtime.GOOS, "arch": runtime.GOARCH,
			"cpus": strconv.Itoa(runtime.NumCPU())},
		Params: map[string]any{
			"workloads": b.cfg.workloads, "clients": b.cfg.clients, "duration_s": b.cfg.duration.Seconds(),
			"size": b.cfg.size, "iosize": b.cfg.ioSize, "iodepth": b.cfg.ioDepth,
			"idle_clients": b.cfg.idleClients, "lookup_files": b.cfg.lookupFiles,
		},
		Results: b.sortedResults(),
	}
	if b.srv != nil {
		rep.ServerLog, _ = b.srv.log.Warnings()
	}
	return rep
}
