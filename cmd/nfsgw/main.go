// Command nfsgw is the NFSv4 gateway daemon. It is the one place that knows
// every implementation (backends, state, engine, transport) and wires them
// together from the configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/compound"
	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
	"nfsgw/gateway/fh"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/toptalk"
	"nfsgw/internal/k8sctl"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "controller" {
		return runController(args[1:])
	}
	fl := flag.NewFlagSet("nfsgw", flag.ContinueOnError)
	var listens, exports multiFlag
	cfgPath := fl.String("config", "", "configuration file (YAML); see docs/configuration.md")
	fl.Var(&listens, "listen", "address to serve NFS on, host:port (repeatable; default 127.0.0.1:2049)")
	fl.Var(&exports, "export", "quick-start export PSEUDO=DIR or PSEUDO=ceph:/PATH (repeatable)")
	squash := fl.String("squash", "root", "identity squashing of the quick-start exports: root, none or all")
	admin := fl.String("admin", "", "gRPC admin API: unix:PATH, host:port (loopback, or mutual TLS from the config file) or none (default "+admin.DefaultSocket+")")
	lease := fl.Int("lease", 0, "lease time in seconds (default 90)")
	perAddr := fl.Int("max-connections-per-address", 0, "connections open at once from one client address (default 128; -1: no limit)")
	grace := fl.Int("grace", -1, "grace period in seconds (default: the lease time)")
	nodeID := fl.String("node-id", "", "this gateway's node id (default: host name)")
	logLevel := fl.String("log-level", "", "trace, debug, info, warn or error")
	stateDir := fl.String("state-dir", "", "directory for the node's recovery database, or none (default "+config.DefaultStateDir()+")")
	cephConf := fl.String("ceph-conf", "", "ceph.conf of the cluster for ceph:/PATH exports (default /etc/ceph/ceph.conf)")
	cephUser := fl.String("ceph-user", "", "cephx user for CephFS, without client. (default admin)")
	cephKeyring := fl.String("ceph-keyring", "", "keyring file for the cephx user (default: what ceph.conf says)")
	clusterPool := fl.String("cluster-pool", "", "RADOS pool of the cluster's grace database and recovery records (cluster mode)")
	clusterNS := fl.String("cluster-ns", "", "RADOS namespace within --cluster-pool")
	memberLease := fl.Int("member-lease", 0, "cluster: seconds a member's liveness lock lasts without renewal (default 15)")
	fenceAfter := fl.Int("peer-fence-after", 0, "cluster: seconds a member must be dead before a peer fences it (default: the grace time, at least twice the member lease)")
	topInterval := fl.Int("top-interval", 0, "seconds each top-talkers report (nfsgwctl top) covers (default 10)")
	drainTimeout := fl.Int("drain-timeout", 0, "seconds a draining gateway (SIGUSR2) waits for its clients before it evicts them (default: 2 × lease)")
	fromOrdinal := fl.String("node-id-from-ordinal", "", "derive the node id from the StatefulSet pod name ($POD_NAME, else the host name): PREFIX + its ordinal")
	fl.StringVar(&pprofAddr, "pprof", "", "serve net/http/pprof on this address (loopback), with mutex and block profiles")
	metricsAddr := fl.String("metrics", "", "serve Prometheus metrics and the /healthz and /readyz probes on this host:port")
	logFormat := fl.String("log-format", "", "text or json (default text)")
	showVersion := fl.Bool("version", false, "print the version and exit")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0 // asked for: not an error
		}
		return 2
	}
	if *showVersion {
		fmt.Println("nfsgw", version)
		return 0
	}
	if fl.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "nfsgw: unexpected argument %q (every setting is a flag, see nfsgw --help)\n", fl.Arg(0))
		return 2
	}
	configPath = *cfgPath

	cfg := &config.Config{}
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			fmt.Fprintln(os.Stderr, "nfsgw:", err)
			return 2
		}
	}
	if len(listens) > 0 {
		cfg.Listen = listens
	}
	for _, s := range exports {
		e, err := config.ParseExportFlag(s)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nfsgw:", err)
			return 2
		}
		e.Squash = *squash
		cfg.Exports = append(cfg.Exports, e)
	}
	if *admin != "" {
		cfg.Admin = *admin
	}
	if *lease > 0 {
		cfg.LeaseSeconds = *lease
	}
	if *perAddr != 0 {
		cfg.MaxConnsPerAddress = *perAddr
	}
	if *grace >= 0 {
		cfg.GraceSeconds = *grace
	}
	if *nodeID != "" {
		cfg.NodeID = *nodeID
	}
	if *logLevel != "" {
		cfg.LogLevel = *logLevel
	}
	if *metricsAddr != "" {
		cfg.Metrics = *metricsAddr
	}
	if *logFormat != "" {
		cfg.LogFormat = *logFormat
	}
	if *stateDir != "" {
		cfg.StateDir = *stateDir
	}
	if *cephConf != "" {
		cfg.Ceph.Conf = *cephConf
	}
	if *cephUser != "" {
		cfg.Ceph.User = *cephUser
	}
	if *cephKeyring != "" {
		cfg.Ceph.Keyring = *cephKeyring
	}
	if *clusterPool != "" {
		cfg.Cluster.Pool = *clusterPool
	}
	if *clusterNS != "" {
		cfg.Cluster.Namespace = *clusterNS
	}
	if *topInterval > 0 {
		cfg.TopIntervalSeconds = *topInterval
	}
	if *drainTimeout > 0 {
		cfg.DrainSeconds = *drainTimeout
	}
	if *memberLease > 0 {
		cfg.Cluster.MemberLeaseSeconds = *memberLease
	}
	if *fenceAfter > 0 {
		cfg.Cluster.PeerFenceAfterSeconds = *fenceAfter
	}
	if *fromOrdinal != "" {
		pod := os.Getenv("POD_NAME")
		if pod == "" {
			pod, _ = os.Hostname()
		}
		id, err := config.NodeIDFromOrdinal(pod, *fromOrdinal)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nfsgw:", err)
			return 2
		}
		cfg.NodeID = id
		podName = pod
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(os.Stderr, "nfsgw:", err)
		return 2
	}
	if err := checkStatic(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "nfsgw:", err)
		return 2
	}
	log := newLogger(cfg)
	raiseFileLimit(log)
	if err := serve(cfg, log); err != nil {
		var se *startError
		if errors.As(err, &se) {
			fmt.Fprintln(os.Stderr, "nfsgw:", se.err)
			return 2
		}
		log.Error("fatal", "error", err)
		return 1
	}
	return 0
}

// maxLoggedExports is how many exports the start lists one line each.
const maxLoggedExports = 100

// openEach opens the exports one at a time, leaving out (and logging) any
// that cannot be opened.
func openEach(cfg *config.Config, be *backends, log hclog.Logger) (*export.Table, error) {
	var list []*export.Export
	for _, ec := range cfg.Exports {
		c := *cfg
		c.Exports = []config.Export{ec}
		t, err := buildExports(&c, be)
		if err != nil {
			log.Error("export cannot be served", "id", ec.ID, "pseudo", ec.Pseudo, "path", ec.Path, "error", err)
			continue
		}
		list = append(list, t.All()...)
	}
	return export.NewTable(list)
}

// buildExports opens every export's backend.
func buildExports(cfg *config.Config, be *backends) (*export.Table, error) {
	var list []*export.Export
	for i := range cfg.Exports {
		ec := &cfg.Exports[i]
		fs, path, err := be.open(ec)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", ec.Pseudo, err)
		}
		sq, _ := export.ParseSquash(ec.Squash)
		nets, _ := ec.Networks()
		uid, gid := ec.Anon()
		list = append(list, &export.Export{ID: uint16(ec.ID), Pseudo: ec.Pseudo, Path: path, FS: fs,
			ReadOnly: ec.Access == "ro", Squash: sq, AnonUID: uid, AnonGID: gid, Clients: nets,
			Delegations: ec.DelegationsEnabled()})
	}
	return export.NewTable(list)
}

func serve(cfg *config.Config, log hclog.Logger) error {
	// Metrics and probes first: they answer while the rest starts.
	obs, err := startObservability(cfg, log)
	if err != nil {
		return err
	}
	defer obs.stop()
	be := newBackends(cfg, log.Named("backend"))
	boot := time.Now()
	var (
		tbl     *export.Table
		rec     *nodeRecovery
		mem     *member
		drained bool
	)
	if cfg.Cluster.Enabled() {
		obs.stage("joining the cluster")
		// A member mounts CephFS, which resets its previous instance's
		// sessions, only once every peer enforces grace: the machine
		// calls back when it may.
		sigctx, stopSig := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		rec, mem, err = joinCluster(sigctx, cfg, be, log, obs, func(_ context.Context, exports []config.Export) (bool, error) {
			if !cfg.ExportsInRADOS() {
				t, err := openExports(cfg, be)
				if err != nil {
					return false, err
				}
				tbl = t
				return be.tardy(), nil
			}
			c := *cfg
			c.Exports = exports
			be.expectCephExports(len(exports))
			t, err := openExports(&c, be)
			if err != nil {
				// One export that cannot be opened must not keep the
				// others from being served: open them one at a time.
				log.Error("opening the cluster's exports; opening them one at a time", "error", err)
				if t, err = openEach(&c, be, log); err != nil {
					return false, err
				}
			}
			tbl = t
			return be.tardy(), nil
		})
		stopSig()
		if err != nil {
			be.abort()
			return err
		}
		defer func() {
			// Stop granting, then drop the sessions without returning
			// caps (the successor's reset releases them once every
			// peer enforces), then release the liveness lock. A member
			// that drained has no clients left: it unmounts cleanly.
			mem.stopExports()
			rec.close()
			if drained {
				be.close()
			} else {
				be.abort()
			}
			mem.leave()
		}()
	} else {
		defer be.close()
		obs.stage("opening exports")
		if tbl, err = openExports(cfg, be); err != nil {
			return err
		}
		obs.stage("opening the recovery store")
		if rec, err = openRecovery(cfg, log); err != nil {
			return err
		}
		defer rec.close()
	}
	obs.watchGrace(rec.status)
	// Bind every address before serving any, so that an address in use is
	// a configuration error (exit 2), not a half-started gateway. Binding
	// after the exports are open keeps the NFS port closed while CephFS
	// mounts (and, in a cluster, while the member waits for its peers): a
	// client or probe that connects finds a gateway that serves.
	lis, err := bindListeners(cfg)
	if err != nil {
		return err
	}
	defer lis.close()
	state := nfs4state.NewManager(nfs4state.Config{
		Lease: cfg.Lease(),
		// Milliseconds keep two quick restarts apart; stateids and client
		// ids of the earlier instance are then recognised as stale.
		Boot:     uint32(boot.UnixMilli()),
		Courtesy: cfg.Courtesy(),
	})
	registry := export.NewRegistry(tbl)
	exportMgr := newExportManager(cfg, be, registry, log.Named("exports"))
	defer exportMgr.stop()
	exportMgr.release = func(id uint16) int {
		return state.ReleaseWhere(func(h string) bool {
			eid, _, err := fh.Decode([]byte(h))
			return err == nil && eid == id
		})
	}
	if mem != nil && cfg.ExportsInRADOS() {
		exportMgr.fromRADOS = true
		mem.followExports(exportMgr.applyChanges)
	}
	stopPprof, err := startPprof(pprofAddr, log)
	if err != nil {
		return fmt.Errorf("pprof: %w", err)
	}
	defer stopPprof()
	// Top talkers: who loads the gateway most, per interval (nfsgwctl top).
	talkers := toptalk.New(cfg.TopInterval())
	talkers.Start()
	defer talkers.Stop()
	engine := compound.New(obs.engineConfig(cfg, compound.Config{
		Exports:     registry,
		State:       state,
		Logger:      log.Named("compound"),
		MaxIO:       uint32(cfg.MaxIOBytes),
		ServerOwner: "nfsgw-" + cfg.NodeID,
		Boot:        boot,
		Grace:       rec.gate,
		Recorder:    rec.recorder(),
		Talkers:     talkers,
	}))
	srv := &oncrpc.Server{MaxRecordSize: cfg.MaxRecordBytes, Logger: log.Named("rpc"),
		ReplyTimeout: cfg.ReplyTimeout(), IdleTimeout: cfg.IdleTimeout(), MaxConnsPerAddr: cfg.ConnsPerAddress(), TrimMemory: true}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, engine)
	obs.watch(state, registry, srv)

	listeners := lis.nfs
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		log.Info("serving NFSv4", "addr", l.Addr().String())
		go func(l net.Listener) { errc <- srv.Serve(l) }(l)
	}
	obs.health.SetListening(true)
	defer obs.health.SetListening(false)
	if n := len(tbl.All()); n > maxLoggedExports {
		log.Info("exports", "count", n, "listed", "by nfsgwctl exports")
	} else {
		for _, e := range tbl.All() {
			log.Info("export", "id", e.ID, "pseudo", e.Pseudo, "path", e.Path, "ro", e.ReadOnly, "squash", e.Squash.String())
		}
	}
	log.Info("serving", "exports", len(tbl.All()), "since start", time.Since(boot))

	stop := make(chan struct{})
	go reaper(engine, cfg.Lease(), stop, log)
	// Scale-down: SIGUSR2 or nfsgwctl drain.
	drainc := make(chan os.Signal, 1)
	signal.Notify(drainc, syscall.SIGUSR2)

	if lis.admin != nil {
		var addrs []string
		for _, l := range listeners {
			addrs = append(addrs, l.Addr().String())
		}
		p := &adminProvider{cfg: cfg, state: state, engine: engine, exports: registry, start: boot, listen: addrs, grace: rec.gate, rec: rec, mgr: exportMgr, drainc: drainc, talkers: talkers}
		stopAdmin := admin.ServeListener(context.Background(), lis.admin, p, log.Named("admin"))
		lis.admin = nil // closed by stopAdmin
		defer stopAdmin()
	}

	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	drain := false
	select {
	case <-drainc:
		drain = true
	case sig := <-sigc:
		// A StatefulSet pod cannot tell a restart from a scale-down by the
		// signal: it asks whether its ordinal still exists.
		if mem != nil && sig == syscall.SIGTERM && podName != "" && termination(log) == k8sctl.Drain {
			drain = true
			break
		}
		obs.health.SetListening(false)
		log.Info("shutting down", "signal", sig.String())
		go func() {
			sig := <-sigc
			log.Warn("second signal during shutdown: exiting at once", "signal", sig.String())
			os.Exit(1)
		}()
	case err := <-errc:
		if err != nil && !errors.Is(err, oncrpc.ErrServerClosed) {
			close(stop)
			return err
		}
	case err := <-rec.fatal():
		// The grace machine stopped on its own: a lost liveness lock
		// (another instance may run with this id) or a fatal database
		// error. Stop serving at once.
		close(stop)
		srv.Shutdown(context.Background())
		if err == nil {
			err = errors.New("grace machine stopped")
		}
		return err
	}
	if drain {
		// Scale-down: leave for good, so that the cluster never waits
		// on this node (docs/cluster.md).
		obs.health.SetListening(false)
		for _, l := range listeners {
			l.Close()
		}
		close(stop)
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DrainTimeout())
		defer cancel()
		drainClients(ctx, state, engine, log)
		srv.Shutdown(ctx)
		rec.close()
		if mem != nil {
			// Its own time: the drain timeout may be spent.
			lctx, lcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer lcancel()
			if err := mem.leaveCluster(lctx); err != nil {
				return fmt.Errorf("drain: %w", err)
			}
		}
		drained = true
		log.Info("drained: left the cluster, exiting")
		return nil
	}
	close(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}

// drainClients waits until every client is gone (they unmounted, or their
// leases ran out) or ctx ends, then evicts the rest: their records go with
// them, so nothing is left to reclaim here.
func drainClients(ctx context.Context, state *nfs4state.Manager, engine *compound.Server, log hclog.Logger) {
	log.Info("draining: no new connections; waiting for clients to leave", "clients", state.Stats().Clients)
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for state.Stats().Clients > 0 {
		engine.Reap(ctx)
		select {
		case <-ctx.Done():
			n := 0
			for _, c := range state.Clients() {
				if engine.Evict(context.WithoutCancel(ctx), c.ID) {
					n++
				}
			}
			log.Warn("drain timeout: evicted the remaining clients", "clients", n)
			return
		case <-t.C:
		}
	}
}

// reaper expires clients whose lease ran out.
func reaper(engine *compound.Server, lease time.Duration, stop <-chan struct{}, log hclog.Logger) {
	t := time.NewTicker(lease / 4)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if n := engine.Reap(context.Background()); n > 0 {
				log.Info("expired clients", "count", n)
			}
		}
	}
}
