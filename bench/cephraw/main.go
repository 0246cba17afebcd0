//go:build !noceph

// Command cephraw measures what CephFS itself delivers, straight through
// libcephfs in one process and without NFS: the "raw" figure that nfsgw's
// CephFS figures are compared with. It has three modes:
//
//	cephraw -conf C [-fixtures /ROOT/fixtures] [flags]   measure
//	cephraw -conf C -make-fixtures /ROOT [-many-files N -big-dir N ...]
//	cephraw -conf C -remove /PATH
//
// Measuring, it works in a directory of its own (-dir, created and removed
// at the end) and reads the fixture tree of bench/nfsbench (-fixtures; made
// in -dir first when not given). Every workload mirrors bench/nfsbench's
// workload of the same name, on the same names, with as many workers as
// nfsbench has clients (-clients; readdir and readdirbig: -readdir-clients),
// nfsbench's warm-up and its rate accounting:
//
//	getattr      getattr of one 4 KiB file's inode
//	getattrmany  getattr of a random one of fixtures/many
//	lookupdeep   the 17 lookups of fixtures/deep/d00/…/d15/leaf + getattr
//	pathwalk     the lookups from the CephFS root to a random fixtures/walk/wNN/fNN + getattr
//	smallcreate  create + 4 KiB write + close of a new file
//	smallread    lookup + open + 4 KiB read + close of a random fixtures/small file
//	readdir      whole listings with attributes of fixtures/many (entries/s)
//	readdirbig   the same of fixtures/big
//	write        -size bytes in -iosize writes, then fsync (MiB/s)
//	read         that file in -iosize reads (MiB/s)
//	randrw       4 KiB reads or writes at random offsets of that file
//
// Names and units are those of nfsbench's JSON, with its " (raw)" suffix,
// so bench/vsganesha merges them as its raw column. nfsbench workloads with
// no raw counterpart here (connect, idleclients, lookup, openclose,
// lockunlock) are skipped with a message.
//
// Metadata goes through cephfsal's FS (an export of "/", as root): handle
// resolution from its inode cache, then the libcephfs ll calls the gateway
// makes (a getattr is one ceph_ll_getattr; a lookup checks the directory
// with ceph_ll_getattr, then ceph_ll_lookup): the backend as the gateway
// calls it, minus NFS. Files are opened by path with cephfsal.RawOpen
// (ceph_ll_walk + ceph_ll_open/create), which bypasses handles, caches and
// credentials.
//
// -make-fixtures makes the fixture tree below /ROOT/fixtures through
// libcephfs, 16 creates at a time (13,000 files in 2 s on the 2-core
// development machine, over ten times what a helper gateway managed over
// NFS), and -remove removes a tree the same way. With -compare FILE (an
// nfsbench -json report) it prints nfsgw/raw for each workload in both.
package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path"
	"slices"
	"strings"
	"syscall"
	"time"

	"nfsgw/cephfsal"
	"nfsgw/gateway/fsal"
)

// rawWorkloads are the workloads measured here, in nfsbench's table order.
var rawWorkloads = []string{"getattr", "getattrmany", "lookupdeep", "pathwalk", "smallcreate", "smallread",
	"readdir", "readdirbig", "write", "read", "randrw"}

// noRaw are nfsbench's workloads that have no raw counterpart here.
var noRaw = []string{"lookup", "openclose", "lockunlock", "connect", "idleclients"}

// fixtureWorkloads read the fixture tree.
var fixtureWorkloads = []string{"getattrmany", "lookupdeep", "pathwalk", "smallread", "readdir", "readdirbig"}

type config struct {
	conf, user     string
	dir, fixtures  string
	workloads      []string
	clients        int
	readdirClients int
	duration       time.Duration
	durations      map[string]*time.Duration
	size           int64
	ioSize         int
	ioDepth        int
	readClient     string
	fix            fixtureSpec
	jsonOut        string
	compare        string
	makeFixtures   string
	remove         string
}

func (c *config) durationOf(name string) time.Duration {
	if d := c.durations[name]; d != nil && *d > 0 {
		return *d
	}
	return c.duration
}

// mount makes a libcephfs client with a session name of its own.
func (c *config) mount(tag string) (*cephfsal.Mount, error) {
	id := fmt.Sprintf("cephraw-%d", os.Getpid())
	if tag != "" {
		id += "-" + tag
	}
	return cephfsal.NewMount(cephfsal.MountOptions{ConfPath: c.conf, User: c.user, NodeID: id,
		MaxInflight: max(64, c.clients+16)})
}

func parseFlags(args []string) (*config, error) {
	c := &config{size: 256 << 20, durations: map[string]*time.Duration{}}
	ioSize := int64(1 << 20)
	fl := flag.NewFlagSet("cephraw", flag.ContinueOnError)
	fl.StringVar(&c.conf, "conf", os.Getenv("CEPH_CONF"), "ceph.conf")
	fl.StringVar(&c.user, "user", "admin", "cephx user")
	fl.StringVar(&c.dir, "dir", "", "CephFS directory to work in, created then removed (default /cephraw-PID)")
	fl.StringVar(&c.fixtures, "fixtures", "", "CephFS path of an existing fixture tree (default: make one in -dir)")
	wl := fl.String("workloads", "getattr,getattrmany,lookupdeep,pathwalk,smallcreate,smallread,readdir,write,read,randrw",
		"comma list of nfsbench workload names: "+strings.Join(rawWorkloads, ",")+" or all")
	fl.IntVar(&c.clients, "clients", 32, "workers of the timed workloads (nfsbench's -clients)")
	fl.IntVar(&c.readdirClients, "readdir-clients", 4, "workers listing at once in readdir and readdirbig")
	fl.DurationVar(&c.duration, "duration", 4*time.Second, "measured duration of each timed workload (after a short warm-up)")
	for _, w := range rawWorkloads {
		if w == "write" || w == "read" {
			continue
		}
		d := new(time.Duration)
		c.durations[w] = d
		fl.DurationVar(d, w+"-duration", 0, "duration of "+w+" (default -duration)")
	}
	fl.Var(benchkit.SizeFlag{V: &c.size}, "size", "bytes written then read by write and read (e.g. 256M)")
	fl.Var(benchkit.SizeFlag{V: &ioSize}, "iosize", "size of each write and read")
	fl.IntVar(&c.ioDepth, "iodepth", 1, "writes or reads in flight in write and read")
	fl.StringVar(&c.readClient, "read-client", "same",
		"read through the client that wrote the file (same, as a server does) or a second one that reads from the OSDs (fresh)")
	fl.IntVar(&c.fix.many, "many-files", 10000, "files of fixtures/many")
	fl.IntVar(&c.fix.big, "big-dir", 100000, "files of fixtures/big")
	fl.IntVar(&c.fix.depth, "deep-depth", 16, "directories above fixtures/deep's leaf")
	fl.IntVar(&c.fix.small, "small-files", 1000, "4 KiB files of fixtures/small")
	fl.StringVar(&c.jsonOut, "json", "", "write the results as JSON (nfsbench's report shape) to this file")
	fl.StringVar(&c.compare, "compare", "", "nfsbench -json report to print nfsgw/raw ratios against")
	fl.StringVar(&c.makeFixtures, "make-fixtures", "", "only make the fixture tree in CephFS DIR/"+benchkit.FixtureDir+" and exit")
	fl.StringVar(&c.remove, "remove", "", "only remove this CephFS path and everything below it, and exit")
	if err := fl.Parse(args); err != nil {
		return nil, err
	}
	if fl.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	for _, w := range strings.Split(*wl, ",") {
		w = strings.TrimSpace(w)
		switch {
		case w == "":
		case w == "all": // nfsbench's "all": every workload but readdirbig
			c.workloads = append(c.workloads, slices.DeleteFunc(slices.Clone(rawWorkloads), func(w string) bool { return w == "readdirbig" })...)
		case slices.Contains(rawWorkloads, w):
			c.workloads = append(c.workloads, w)
		case slices.Contains(noRaw, w):
			logf("no raw figure for %s: skipped", w)
		default:
			return nil, fmt.Errorf("unknown workload %q (have %s)", w, strings.Join(rawWorkloads, ","))
		}
	}
	c.workloads = slices.DeleteFunc(slices.Clone(rawWorkloads), func(w string) bool { return !slices.Contains(c.workloads, w) })
	switch {
	case c.clients < 1 || c.readdirClients < 1:
		return nil, errors.New("-clients and -readdir-clients must be at least 1")
	case c.duration <= 0:
		return nil, errors.New("-duration must be positive")
	case c.size < 1:
		return nil, errors.New("-size must be positive")
	case ioSize < 512 || ioSize > 16<<20:
		return nil, errors.New("-iosize must be between 512 and 16M")
	case c.ioDepth < 1:
		return nil, errors.New("-iodepth must be at least 1")
	case c.readClient != "same" && c.readClient != "fresh":
		return nil, errors.New("-read-client is same or fresh")
	case c.fix.many < 1 || c.fix.small < 1 || c.fix.big < 0 || c.fix.depth < 1:
		return nil, errors.New("-many-files, -small-files and -deep-depth must be at least 1")
	}
	c.ioSize = int(ioSize)
	if c.dir == "" {
		c.dir = fmt.Sprintf("/cephraw-%d", os.Getpid())
	}
	for _, p := range []*string{&c.dir, &c.fixtures, &c.makeFixtures, &c.remove} {
		if *p != "" && !path.IsAbs(*p) {
			return nil, fmt.Errorf("%q: CephFS paths are absolute", *p)
		}
	}
	return c, nil
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "cephraw: "+format+"\n", args...)
}

func main() { os.Exit(runMain(os.Args[1:])) }

func runMain(args []string) int {
	cfg, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		logf("%v", err)
		return 2
	}
	// SIGTERM (what bench/vsganesha sends) and ^C end the measurement
	// early; the work directory is still removed and the session closed,
	// so no cap stays with a dead client.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m, err := cfg.mount("")
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer m.Close()
	fs, err := m.Export("/", false)
	if err != nil {
		logf("%v", err)
		return 1
	}
	switch {
	case cfg.remove != "":
		t0 := time.Now()
		if err := removePath(ctx, fs, cfg.remove); err != nil {
			logf("remove %s: %v", cfg.remove, err)
			return 1
		}
		logf("removed %s in %s", cfg.remove, time.Since(t0).Round(time.Millisecond))
		return 0
	case cfg.makeFixtures != "":
		t0 := time.Now()
		if err := makeFixtures(ctx, m, fs, cfg.makeFixtures, cfg.fix); err != nil {
			logf("fixtures: %v", err)
			return 1
		}
		logf("fixtures ready in %s (%s)", path.Join(cfg.makeFixtures, benchkit.FixtureDir), time.Since(t0).Round(time.Millisecond))
		return 0
	}
	return measure(ctx, cfg, m, fs)
}

func measure(ctx context.Context, cfg *config, m *cephfsal.Mount, fs fsal.FS) int {
	started := time.Now()
	parent, err := walk(ctx, fs, path.Dir(cfg.dir))
	if err != nil {
		logf("%s: %v", path.Dir(cfg.dir), err)
		return 1
	}
	dirH, err := mkdir(ctx, fs, parent, path.Base(cfg.dir))
	if err != nil {
		logf("%s: %v", cfg.dir, err)
		return 1
	}
	r := &run{cfg: cfg, m: m, fs: fs, dir: cfg.dir, dirH: dirH, fix: cfg.fixtures}
	status := 0
	defer func() {
		// A fresh context: the tree goes even after ^C.
		if err := removePath(context.Background(), fs, cfg.dir); err != nil {
			logf("cleanup: %v", err)
		}
	}()
	if r.fix == "" && slices.ContainsFunc(cfg.workloads, func(w string) bool { return slices.Contains(fixtureWorkloads, w) }) {
		big := cfg.fix
		if !slices.Contains(cfg.workloads, "readdirbig") {
			big.big = 0
		}
		logf("making the fixture tree in %s", cfg.dir)
		if err := makeFixtures(ctx, m, fs, cfg.dir, big); err != nil {
			logf("fixtures: %v", err)
			return 1
		}
		r.fix = path.Join(cfg.dir, benchkit.FixtureDir)
	}
	var results []result
	for _, w := range cfg.workloads {
		if ctx.Err() != nil {
			logf("interrupted")
			status = 1
			break
		}
		if (w == "read" || w == "randrw") && r.ioBytes == 0 {
			logf("%s: writing the file to read first", w)
			if _, err := r.write(ctx); err != nil {
				logf("%s: %v", w, err)
				status = 1
				continue
			}
		}
		logf("%s", w)
		res, err := r.workload(ctx, w)
		if err != nil {
			logf("%s: %v", w, err)
			status = 1
			if res.Name == "" {
				continue
			}
		}
		if res.Errors > 0 {
			logf("%s: %d errors, first: %s", w, res.Errors, res.FirstError)
			status = 1
		}
		fmt.Printf("raw %-12s %12.1f %-9s p50 %8.0f µs  p99 %8.0f µs  errors %d\n",
			w, res.Rate, res.Unit, res.P50us, res.P99us, res.Errors)
		results = append(results, res)
	}
	if cfg.jsonOut != "" {
		// nfsbench's report shape.
		rep := struct {
			Started time.Time      `json:"started"`
			Server  string         `json:"server"`
			Addr    string         `json:"addr"`
			Params  map[string]any `json:"params"`
			Results []result       `json:"results"`
		}{started, "libcephfs (bench/cephraw, one process)", cfg.dir,
			map[string]any{"workloads": cfg.workloads, "clients": cfg.clients, "duration_s": cfg.duration.Seconds(),
				"size": cfg.size, "iosize": cfg.ioSize, "iodepth": cfg.ioDepth, "fixtures": r.fix, "read_client": cfg.readClient},
			results}
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, append(b, '\n'), 0o644); err != nil {
			logf("%v", err)
			status = 1
		}
	}
	if cfg.compare != "" {
		if err := printRatios(cfg.compare, results); err != nil {
			logf("%v", err)
			status = 1
		}
	}
	return status
}

func (r *run) workload(ctx context.Context, w string) (result, error) {
	switch w {
	case "getattr":
		return r.getattr(ctx)
	case "getattrmany":
		return r.getattrmany(ctx)
	case "lookupdeep":
		return r.lookupdeep(ctx)
	case "pathwalk":
		return r.pathwalk(ctx)
	case "smallcreate":
		return r.smallcreate(ctx)
	case "smallread":
		return r.smallread(ctx)
	case "readdir", "readdirbig":
		return r.readdir(ctx, w)
	case "write":
		return r.write(ctx)
	case "read":
		return r.read(ctx)
	case "randrw":
		return r.randrw(ctx)
	}
	return result{}, fmt.Errorf("unknown workload %q", w)
}

// printRatios prints nfsgw/raw for every workload of raw that the nfsbench
// report at path has too.
func printRatios(path string, raw []result) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	nfs := map[string]result{}
	for _, r := range rep.Results {
		nfs[r.Name] = r
	}
	fmt.Printf("\n%-12s %16s %16s %8s\n", "workload", "nfsgw", "libcephfs", "ratio")
	for _, r := range raw {
		name := strings.TrimSuffix(r.Name, rawSuffix)
		n, ok := nfs[name]
		if !ok || r.Rate == 0 {
			continue
		}
		fmt.Printf("%-12s %10.1f %-5s %10.1f %-5s %8.2f\n", name, n.Rate, short(n.Unit), r.Rate, short(r.Unit), n.Rate/r.Rate)
	}
	return nil
}

func short(u string) string { return strings.TrimSuffix(u, "/s") }
