package main

import (
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"

	"nfsgw/cephfsal"
	"nfsgw/gateway/compound"
	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/grace"
)

// observability is the gateway's metrics, probes and operation-log limit
// (docs/operations.md). The metrics exist whether or not they are served;
// the HTTP endpoint starts first of all, so that a probe sees a gateway
// that is still mounting CephFS or waiting for its peers as alive but not
// ready, and why.
type observability struct {
	m      *metrics.Metrics
	health *metrics.Health
	opLog  *metrics.LogLimit
	stop   func()
}

// Operation log lines (slow or failed operations) allowed: 10 a second on
// average, bursts of 50.
const opLogPerSecond, opLogBurst = 10, 50

// startObservability makes the metrics and, with cfg.Metrics set, serves
// them. An address that cannot be bound is a configuration error.
func startObservability(cfg *config.Config, log hclog.Logger) (*observability, error) {
	o := &observability{stop: func() {}}
	o.m = metrics.New(metrics.Options{OpName: compound.OpName, StatusName: nfs4.StatusName, Version: version})
	o.health = metrics.NewHealth(o.m)
	o.health.UnreadyInGrace = cfg.UnreadyInGrace
	o.opLog = metrics.NewLogLimit(opLogPerSecond, opLogBurst, o.m)
	if names := cephfsal.CallNames(); len(names) > 0 {
		b := o.m.Backend("cephfs", names)
		cephfsal.SetCallObserver(b.Observe)
	}
	if cfg.Metrics == "" {
		return o, nil
	}
	l, err := net.Listen("tcp", cfg.Metrics)
	if err != nil {
		return nil, &startError{fmt.Errorf("metrics: %w", err)}
	}
	o.stop = o.health.Serve(l)
	log.Info("metrics and health probes", "addr", l.Addr().String(), "paths", "/metrics /healthz /readyz")
	return o, nil
}

// checkMetricsAddr tries the metrics address before anything is logged,
// as checkStatic does the others: one in use is a configuration error.
func checkMetricsAddr(cfg *config.Config) error {
	if cfg.Metrics == "" {
		return nil
	}
	l, err := net.Listen("tcp", cfg.Metrics)
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return l.Close()
}

// stage says what the start is doing (for /readyz).
func (o *observability) stage(s string) { o.health.SetStage(s) }

// watchGrace reads the grace machine's status at each scrape and probe.
func (o *observability) watchGrace(status func() (grace.Status, bool)) { o.m.SetGraceSource(status) }

// watch wires the parts that exist once the gateway is about to listen:
// the state model, the export table and the RPC server's connections.
func (o *observability) watch(state *nfs4state.Manager, reg *export.Registry, srv *oncrpc.Server) {
	o.m.SetStateSource(func() metrics.StateCounts {
		st := state.Stats()
		opens, locks, delegs := state.Kinds()
		return metrics.StateCounts{Clients: st.Clients, Sessions: st.Sessions, Opens: opens, Locks: locks, Delegations: delegs}
	})
	o.m.SetExportSource(func() metrics.ExportTable {
		t := metrics.ExportTable{Version: reg.Version()}
		for _, e := range reg.Load().All() {
			t.Exports = append(t.Exports, metrics.ExportInfo{ID: e.ID, Pseudo: e.Pseudo})
		}
		return t
	})
	srv.ConnState = func(_ *oncrpc.Conn, s oncrpc.ConnState) {
		switch s {
		case oncrpc.StateNew:
			o.m.ConnOpened()
		case oncrpc.StateClosed:
			o.m.ConnClosed()
		}
	}
	srv.ConnRefused = o.m.ConnRefused
}

// engineConfig adds the metrics and the operation log to the engine's
// configuration.
func (o *observability) engineConfig(cfg *config.Config, c compound.Config) compound.Config {
	c.Metrics, c.SlowOp, c.OpLogLimit = o.m, cfg.SlowOp(), o.opLog
	return c
}

// newLogger makes the gateway's logger: text, or JSON (one object a line)
// for log collectors.
func newLogger(cfg *config.Config) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Name: "nfsgw", Level: hclog.LevelFromString(cfg.LogLevel),
		JSONFormat: cfg.LogFormat == "json"})
}
