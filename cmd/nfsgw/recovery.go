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
	"nfsgw/gateway/nfs4state"
	"nfsgw/grace"
	"nfsgw/recovery"
	"nfsgw/recovery/boltstore"
)

// nodeRecovery ties the node's recovery store to the grace period: at
// start it begins a new epoch, whose reclaim set decides who may reclaim;
// grace ends when they all did or when the grace time is over.
type nodeRecovery struct {
	store recovery.Store // nil without a state directory
	gate  grace.Gate
	log   hclog.Logger
}

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
	reclaim, err := store.Begin(ctx, last+1)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("recovery store: begin epoch %d: %w", last+1, err)
	}
	r.store = store
	// Say where: the default directory is not obvious to an operator.
	r.log.Info("recovery state", "dir", cfg.StateDir)
	owners := make([][]byte, len(reclaim))
	for i, rec := range reclaim {
		owners[i] = rec.Owner
	}
	start := time.Now()
	r.gate = grace.NewLocal(owners, cfg.Grace(), func() {
		if err := store.EndGrace(context.Background()); err != nil {
			r.log.Error("ending grace in the recovery store", "error", err)
		}
		if len(owners) > 0 {
			r.log.Info("grace period over", "after", time.Since(start).Round(time.Millisecond))
		}
	})
	if len(owners) > 0 {
		r.log.Info("in grace: clients may reclaim", "clients", len(owners), "epoch", last+1, "max", cfg.Grace())
	}
	return r, nil
}

// forget removes a destroyed or expired client from the store.
func (r *nodeRecovery) forget(c *nfs4state.Client) {
	if r.store == nil {
		return
	}
	if err := r.store.Remove(context.Background(), []byte(c.Owner)); err != nil {
		r.log.Error("forgetting client", "client", c.ID, "error", err)
	}
}

type storeRecorder struct{ s recovery.Store }

func (s storeRecorder) Add(ctx context.Context, owner []byte, principal string, minor uint32) error {
	return s.s.Add(ctx, recovery.Record{Owner: owner, Principal: principal, Minor: minor})
}

func (r *nodeRecovery) recorder() compound.Recorder {
	if r.store == nil {
		return nil
	}
	return storeRecorder{r.store}
}

func (r *nodeRecovery) close() {
	if l, ok := r.gate.(*grace.Local); ok {
		l.Stop()
	}
	if r.store != nil {
		r.store.Close()
	}
}
