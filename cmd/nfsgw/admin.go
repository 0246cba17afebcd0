package main

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/compound"
	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/toptalk"
	"nfsgw/grace"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// adminProvider answers the admin API from the live server.
type adminProvider struct {
	cfg     *config.Config
	state   *nfs4state.Manager
	engine  *compound.Server // performs the state model's effects
	exports *export.Registry
	start   time.Time
	listen  []string
	grace   grace.Gate
	rec     *nodeRecovery
	mgr     *exportManager // nil: exports cannot change at run time
	drainc  chan<- os.Signal
	talkers *toptalk.Recorder
}

// Top implements admin.TopTalkers.
func (p *adminProvider) Top(n int, byBytes bool) admin.TopReport {
	rep := p.talkers.Top(n, byBytes)
	out := admin.TopReport{Start: rep.Start, End: rep.End, Total: rep.Total, Lost: rep.Lost, Clients: []admin.TopTalker{}}
	secs := rep.End.Sub(rep.Start).Seconds()
	for _, c := range rep.Clients {
		t := admin.TopTalker{Addr: c.Addr.String(), Ops: c.Ops, OpsError: c.OpsErr, Bytes: c.Bytes, ByOp: map[string]uint64{}}
		if secs > 0 {
			t.Rate = float64(c.Ops) / secs
		}
		for op, v := range c.ByOp {
			t.ByOp[compound.OpName(op)] = v
		}
		out.Clients = append(out.Clients, t)
	}
	return out
}

// Drain implements admin.Drainer: the same path as SIGUSR2.
func (p *adminProvider) Drain() error {
	select {
	case p.drainc <- syscall.SIGUSR2:
		return nil
	default:
		return fmt.Errorf("already draining")
	}
}

func (p *adminProvider) Status() admin.Status {
	st := p.state.Stats()
	out := admin.Status{NodeID: p.cfg.NodeID, Version: version, StartTime: p.start, Listen: p.listen,
		Clients: st.Clients, Sessions: st.Sessions, States: st.States, InGrace: p.grace.InGrace()}
	if gs, ok := p.rec.status(); ok {
		flags := ""
		if gs.Own&grace.FlagNeed != 0 {
			flags += "N"
		}
		if gs.Own&grace.FlagEnforcing != 0 {
			flags += "E"
		}
		out.Grace = &admin.GraceStatus{Cluster: p.cfg.Cluster.Enabled(), Phase: gs.Phase.String(), Gate: gs.Gate.String(),
			Current: gs.DB.C, Recovery: gs.DB.R, Flags: flags, Pending: gs.Pending, Waiting: gs.Waiting,
			Tardy: gs.Tardy, Since: gs.Since, Epoch: gs.Epoch, LastError: gs.LastErr}
	}
	return out
}

func (p *adminProvider) Exports() []admin.ExportInfo {
	var out []admin.ExportInfo
	for _, e := range p.exports.Load().All() {
		access := "rw"
		if e.ReadOnly {
			access = "ro"
		}
		var nets []string
		for _, n := range e.Clients {
			nets = append(nets, n.String())
		}
		out = append(out, admin.ExportInfo{ID: e.ID, Pseudo: e.Pseudo, Path: e.Path, Access: access,
			Squash: e.Squash.String(), Clients: nets})
	}
	return out
}

func (p *adminProvider) Clients() []admin.ClientInfo {
	var out []admin.ClientInfo
	for _, c := range p.state.Clients() {
		out = append(out, admin.ClientInfo{ID: c.ID, Owner: admin.PrintableOwner([]byte(c.Owner)), Addr: c.Addr,
			MinorVersion: c.Minor, Confirmed: c.Confirmed(), Sessions: c.SessionCount(), States: c.StateCount(),
			LastRenew: c.LastRenew()})
	}
	return out
}

func (p *adminProvider) EvictClient(id uint64) error {
	if !p.engine.Evict(context.Background(), id) {
		return fmt.Errorf("client %#x: %w", id, admin.ErrNotFound)
	}
	return nil
}
