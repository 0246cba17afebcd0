package grace

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/recovery"
)

// DBStore keeps the grace database: grace/radosdb in a cluster, MemDB on a
// single node.
type DBStore interface {
	// Read returns the newest snapshot.
	Read(ctx context.Context) (DB, error)
	// Update applies m to the newest snapshot and writes it atomically
	// (retrying on a concurrent change). On error the database is
	// unchanged and the returned DB is the newest snapshot read, or the
	// zero DB if none could be read.
	Update(ctx context.Context, m Mutation) (DB, error)
}

// RunnerConfig wires a Node to the world.
type RunnerConfig struct {
	Node  NodeConfig
	DB    DBStore
	Store recovery.Store
	Gate  *Switch
	// Reset resets the previous instance's CephFS sessions (mounting the
	// backends if that is how it is done); tardy: no session was left.
	Reset func(ctx context.Context) (tardy bool, err error)
	// Fence resets a dead member's sessions and deletes its recovery
	// records; the runner then writes Fence{node}. Nil: no fencing.
	Fence func(ctx context.Context, node string) error
	// Serve is called once, when the node may answer clients.
	Serve func()
	// Exit is called once, when the node must stop (err nil: shutdown).
	Exit func(err error)
	Log  hclog.Logger
}

// Runner carries out a Node's effects, one at a time and in order, on a
// goroutine of its own: an effect that persists (WriteDB, BeginEpoch,
// EndStoreGrace) finishes, and its result is stepped, before the next
// effect runs. Inputs from elsewhere (snapshots, reclaims, liveness) are
// queued and never block their sender.
type Runner struct {
	cfg RunnerConfig
	n   *Node
	log hclog.Logger

	mu     sync.Mutex
	queue  []Input
	waits  []chan struct{} // closed once the queue they were added with is stepped
	wake   chan struct{}
	status Status
	done   chan struct{}

	timer   *time.Timer
	timerAt time.Time
}

// Status is what an admin or a readiness probe sees.
type Status struct {
	Phase   Phase
	Gate    GateMode
	DB      DB
	Own     byte
	Member  bool
	Pending int
	Waiting []string
	Tardy   bool
	Since   time.Time // when the node last left GateOpen (zero if open)
	Served  bool
	Err     error
	LastErr string
	Reclaim int // size of the reclaim set
	Epoch   uint64
}

// NewRunner returns a runner; Run starts it.
func NewRunner(cfg RunnerConfig) *Runner {
	if cfg.Log == nil {
		cfg.Log = hclog.NewNullLogger()
	}
	r := &Runner{cfg: cfg, n: NewNode(cfg.Node), log: cfg.Log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	// RECLAIM_COMPLETE waits until the machine has stepped it (and
	// carried out what follows, a lift included): after the last client's
	// reply, a single node grants new state, as a client expects.
	cfg.Gate.OnReclaimDone = func(o []byte) { r.InputWait(ReclaimDone{Owner: string(o)}, 5*time.Second) }
	cfg.Gate.OnReclaimed = func(o []byte) { r.Input(Reclaimed{Owner: string(o)}) }
	return r
}

// Input queues an input for the machine.
func (r *Runner) Input(in Input) {
	r.mu.Lock()
	r.queue = append(r.queue, in)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// InputWait queues an input and waits (at most max) until it has been
// stepped and its effects carried out.
func (r *Runner) InputWait(in Input, max time.Duration) {
	done := make(chan struct{})
	r.mu.Lock()
	r.queue = append(r.queue, in)
	r.waits = append(r.waits, done)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-done:
	case <-r.done:
	case <-t.C:
	}
}

// Status returns the node's status.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.status
	s.Waiting = append([]string(nil), s.Waiting...)
	return s
}

// Done is closed when the runner has stopped.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Run reads the database and the store, boots the machine and carries out
// its effects until it exits or ctx ends.
func (r *Runner) Run(ctx context.Context, boot Boot) {
	defer close(r.done)
	defer func() {
		if r.timer != nil {
			r.timer.Stop()
		}
	}()
	r.step(ctx, boot)
	for {
		r.mu.Lock()
		q, waits := r.queue, r.waits
		r.queue, r.waits = nil, nil
		r.mu.Unlock()
		for _, in := range q {
			if !r.step(ctx, in) {
				return
			}
		}
		for _, w := range waits {
			close(w)
		}
		if len(q) > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		}
	}
}

// step feeds one input and carries out the effects in order; the results
// of effects are stepped after the batch, in order. The machine never puts
// an effect in a batch that depends on the result of an earlier one (it
// waits for the result as an input), so a write always lands before
// whatever it justifies. False once the machine exited.
func (r *Runner) step(ctx context.Context, in Input) bool {
	pending := []Input{in}
	for len(pending) > 0 {
		in := pending[0]
		pending = pending[1:]
		effects := r.n.Step(time.Now(), in)
		r.publish()
		for _, e := range effects {
			res, exit := r.do(ctx, e)
			if exit {
				return false
			}
			if res != nil {
				pending = append(pending, res)
			}
		}
	}
	return true
}

func (r *Runner) do(ctx context.Context, e Effect) (Input, bool) {
	r.log.Trace("effect", "effect", e.String())
	switch e := e.(type) {
	case WriteDB:
		db, err := r.cfg.DB.Update(ctx, e.M)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				r.log.Warn("grace database write failed; keeping the safer state", "write", e.M.String(), "error", err)
				r.noteErr(err)
			} else {
				r.log.Info("grace database write refused", "write", e.M.String(), "reason", err)
			}
			return WriteFailed{M: e.M, DB: db, Err: err}, false
		}
		r.log.Debug("grace database", "write", e.M.String(), "cur", db.C, "rec", db.R)
		return Written{M: e.M, DB: db}, false
	case BeginEpoch:
		set, err := r.cfg.Store.Begin(ctx, e.Epoch)
		if err != nil {
			r.log.Error("recovery store: begin epoch", "epoch", e.Epoch, "error", err)
			r.noteErr(err)
			return Failed{Effect: e, Err: err}, false
		}
		owners := make([][]byte, len(set))
		for i, rec := range set {
			owners[i] = rec.Owner
		}
		r.mu.Lock()
		r.status.Epoch, r.status.Reclaim = e.Epoch, len(set)
		r.mu.Unlock()
		r.log.Info("recovery epoch begun", "epoch", e.Epoch, "clients that may reclaim", len(set))
		return Begun{Epoch: e.Epoch, Reclaim: owners}, false
	case ResetSessions:
		tardy, err := r.cfg.Reset(ctx)
		if err != nil {
			r.log.Error("resetting the previous instance's sessions", "error", err)
			r.noteErr(err)
			return Failed{Effect: e, Err: err}, false
		}
		if tardy {
			r.log.Debug("no previous CephFS session was left to reset")
		}
		return Reset{Tardy: tardy}, false
	case Drain:
		start := time.Now()
		r.cfg.Gate.Drain()
		r.log.Info("grace period elsewhere: new state refused, in-flight operations drained", "took", time.Since(start))
		return Drained{}, false
	case EndStoreGrace:
		if err := r.cfg.Store.EndGrace(ctx); err != nil {
			r.log.Error("recovery store: end grace", "error", err)
			r.noteErr(err)
			return Failed{Effect: e, Err: err}, false
		}
		return StoreEnded{}, false
	case SetGate:
		r.cfg.Gate.Set(e.Mode, e.Reclaim)
		r.mu.Lock()
		if e.Mode == GateOpen {
			r.status.Since = time.Time{}
		} else if r.status.Since.IsZero() {
			r.status.Since = time.Now()
		}
		r.mu.Unlock()
		r.log.Info("grace gate", "mode", e.Mode.String(), "reclaim set", len(e.Reclaim))
	case Serve:
		r.mu.Lock()
		first := !r.status.Served
		r.status.Served = true
		r.mu.Unlock()
		if first && r.cfg.Serve != nil {
			r.cfg.Serve()
		}
	case Wake:
		r.arm(e.At)
	case Waiting:
		r.mu.Lock()
		r.status.Waiting = e.Nodes
		r.mu.Unlock()
		if len(e.Nodes) > 0 {
			r.log.Info("waiting for every member to enforce grace before resetting the old CephFS session", "not enforcing", e.Nodes)
		}
	case FenceNode:
		if r.cfg.Fence == nil {
			return Failed{Effect: e, Err: errors.New("fencing not configured")}, false
		}
		r.log.Warn("fencing dead member", "node", e.Node)
		if err := r.cfg.Fence(ctx, e.Node); err != nil {
			r.log.Error("fencing failed", "node", e.Node, "error", err)
			return Failed{Effect: e, Err: err}, false
		}
		db, err := r.cfg.DB.Update(ctx, Fence(e))
		if err != nil {
			r.log.Error("fencing: grace database", "node", e.Node, "error", err)
			return Failed{Effect: e, Err: err}, false
		}
		r.log.Warn("fenced dead member", "node", e.Node, "cur", db.C, "rec", db.R)
		r.Input(Snapshot{DB: db})
		return Fenced(e), false
	case Exit:
		if e.Err != nil {
			r.log.Error("grace: stopping", "error", e.Err)
		}
		if r.cfg.Exit != nil {
			r.cfg.Exit(e.Err)
		}
		return nil, true
	default:
		panic(fmt.Sprintf("grace: unknown effect %T", e))
	}
	return nil, false
}

func (r *Runner) noteErr(err error) {
	r.mu.Lock()
	r.status.LastErr = err.Error()
	r.mu.Unlock()
}

// arm makes sure a Tick arrives at at (or earlier).
func (r *Runner) arm(at time.Time) {
	if r.timer != nil && !r.timerAt.IsZero() && !at.Before(r.timerAt) && r.timerAt.After(time.Now()) {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timerAt = at
	r.timer = time.AfterFunc(time.Until(at), func() { r.Input(Tick{}) })
}

func (r *Runner) publish() {
	f, member := r.n.Own()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status.Phase = r.n.Phase()
	r.status.Gate = r.n.Gate()
	r.status.DB = r.n.DB()
	r.status.Own, r.status.Member = f, member
	r.status.Pending = r.n.Pending()
	if r.n.Tardy() && !r.status.Tardy {
		r.log.Warn("tardy restart: the previous instance's CephFS session was already gone (evicted by the MDS), so its caps and locks were released outside any grace period: its clients cannot reclaim (NFS4ERR_NO_GRACE)")
	}
	r.status.Tardy = r.n.Tardy()
	r.status.Err = r.n.Err()
}

// MemDB is a grace database in memory, for a single node (and tests): the
// same machine runs with the node as its only member.
type MemDB struct {
	mu      sync.Mutex
	db      DB
	FailNow error // tests: the next Update fails with it
}

// NewMemDB returns a database with current epoch c and no members.
func NewMemDB(c uint64) *MemDB {
	d := NewDB()
	d.C = max(c, 1)
	return &MemDB{db: d}
}

// Read implements DBStore.
func (m *MemDB) Read(context.Context) (DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db.Clone(), nil
}

// Update implements DBStore.
func (m *MemDB) Update(_ context.Context, mu Mutation) (DB, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.FailNow; err != nil {
		m.FailNow = nil
		return m.db.Clone(), err
	}
	d, err := mu.Apply(m.db)
	if err != nil {
		return m.db.Clone(), err
	}
	d.Version = m.db.Version + 1
	m.db = d
	return d.Clone(), nil
}
