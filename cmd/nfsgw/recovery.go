package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/compound"
	"nfsgw/gateway/config"
	"nfsgw/grace"
	"nfsgw/recovery"
	"nfsgw/recovery/boltstore"
)

// nodeRecovery ties the node's recovery store to the grace machine
// (grace.Node, run by a grace.Runner): at start it begins a new epoch,
// whose reclaim set decides who may reclaim; grace ends when they all did
// or when the grace time is over. A single node runs the same machine as a
// cluster member, over an in-memory grace database of which it is the only
// member.
type nodeRecovery struct {
	store  recovery.Store // nil without a state directory
	gate   grace.Gate
	sw     *grace.Switch // the gate, when a runner drives it
	runner *grace.Runner
	cancel context.CancelFunc
	exited chan error
	log    hclog.Logger
}

// openRecovery opens the single-node store and runs the grace machine up
// to serving (in memory, so at once).
func openRecovery(cfg *config.Config, log hclog.Logger) (*nodeRecovery, error) {
	r := &nodeRecovery{gate: grace.None{}, log: log.Named("recovery")}
	if cfg.StateDir == "" || cfg.StateDir == config.StateDirNone {
		log.Warn("no state_dir: clients cannot reclaim their state after a restart")
		return r, nil
	}
	if err := os.MkdirAll(cfg.StateDir, 0700); err != nil {
		return nil, err
	}
	store, err := boltstore.Open(filepath.Join(cfg.StateDir, "recovery-"+cfg.NodeID+".db"), boltstore.Options{})
	if err != nil {
		return nil, fmt.Errorf("recovery store: %w", err)
	}
	ctx := context.Background()
	last, err := store.LastEpoch(ctx)
	if err != nil {
		store.Close()
		return nil, err
	}
	set, err := store.Peek(ctx)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("recovery store: %w", err)
	}
	// The in-memory database starts at the store's epoch: the machine
	// begins that epoch again when there is nothing to reclaim, or moves
	// to a new one (a grace period) when there is.
	db := grace.NewMemDB(last)
	r.store = store
	// Say where: the default directory is not obvious to an operator.
	r.log.Info("recovery state", "dir", cfg.StateDir)
	if err := r.run(cfg, db, grace.RunnerConfig{
		Reset: func(context.Context) (bool, error) { return false, nil },
	}, len(set) > 0); err != nil {
		store.Close()
		return nil, err
	}
	if len(set) > 0 {
		r.log.Info("in grace: clients may reclaim", "clients", len(set), "max", cfg.Grace())
	}
	return r, nil
}

// run starts the machine with rc (its Reset and Fence set by the caller)
// and waits until it serves or fails.
func (r *nodeRecovery) run(cfg *config.Config, db grace.DBStore, rc grace.RunnerConfig, records bool) error {
	snap, err := db.Read(context.Background())
	if err != nil {
		return fmt.Errorf("grace database: %w", err)
	}
	served, exited := r.start(cfg, db, rc, snap, records)
	select {
	case <-served:
		return nil
	case err := <-exited:
		r.cancel()
		if err == nil {
			err = fmt.Errorf("grace: stopped before serving")
		}
		return err
	}
}

// start boots the machine from snap; served is closed when the node may
// answer clients, exited gets the machine's exit (nil: a shutdown).
func (r *nodeRecovery) start(cfg *config.Config, db grace.DBStore, rc grace.RunnerConfig, snap grace.DB, records bool) (served chan struct{}, exited chan error) {
	served = make(chan struct{})
	exited = make(chan error, 1)
	r.exited = exited
	r.sw = grace.NewSwitch()
	r.gate = r.sw
	rc.Node = grace.NodeConfig{ID: cfg.NodeID, Grace: cfg.Grace(), FenceAfter: rc.Node.FenceAfter}
	rc.DB, rc.Store, rc.Gate, rc.Log = db, r.store, r.sw, r.log
	rc.Serve = func() { close(served) }
	rc.Exit = func(err error) { exited <- err }
	r.runner = grace.NewRunner(rc)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go r.runner.Run(ctx, grace.Boot{DB: snap, Records: records})
	return served, exited
}

// fatal delivers the machine's exit after serving began:
// a lost liveness lock, a corrupt database at boot. Nil without a runner.
func (r *nodeRecovery) fatal() <-chan error { return r.exited }

type storeRecorder struct{ s recovery.Store }

func (s storeRecorder) Add(ctx context.Context, owner []byte, principal string, minor uint32) error {
	return s.s.Add(ctx, recovery.Record{Owner: owner, Principal: principal, Minor: minor})
}

func (s storeRecorder) Remove(ctx context.Context, owner []byte) error { return s.s.Remove(ctx, owner) }

func (r *nodeRecovery) recorder() compound.Recorder {
	if r.store == nil {
		return nil
	}
	return storeRecorder{r.store}
}

// status is the grace status for the admin API (zero without a runner).
func (r *nodeRecovery) status() (grace.Status, bool) {
	if r.runner == nil {
		return grace.Status{}, false
	}
	return r.runner.Status(), true
}

func (r *nodeRecovery) close() {
	if r.runner != nil {
		r.runner.Input(grace.Shutdown{})
		select {
		case <-r.runner.Done():
		case <-time.After(5 * time.Second):
		}
		r.cancel()
	}
	if r.store != nil {
		r.store.Close()
	}
}
