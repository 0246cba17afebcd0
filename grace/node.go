package grace

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Node is one gateway's grace state machine, pure in the manner of etcd
// raft: Step takes an input (a snapshot of the grace database, the result
// of an effect, a local event, the time) and returns the effects the
// caller must carry out, in order. It does no I/O, reads no clock and
// starts no goroutine, so every interleaving can be scripted and model
// checked.
//
// The order it enforces (docs/cluster.md):
//  1. a node with clients to reclaim joins (NEED|ENFORCING; a new grace
//     period if none runs), one without only enforces;
//  2. it begins its recovery epoch (C) in the store;
//  3. it waits until every member enforces;
//  4. only then it resets its previous CephFS sessions (which drops the
//     dead instance's caps and locks) and serves: reclaims only while its
//     own NEED is set;
//  5. its reclaim window ends by clearing NEED (Lift; R := 0 when no NEED
//     is left);
//  6. a node that sees R != 0 refuses new state, drains the operations
//     that began before, and only then sets ENFORCING;
//  7. a node that sees R = 0 ends grace in its store, clears ENFORCING,
//     and only then lets new state in.
//
// A node never moves its gate to a less safe mode before the write that
// justifies it has been persisted (Written), and a failed write keeps it in
// the safer mode, retrying.
type Node struct {
	cfg NodeConfig

	phase   Phase
	db      DB   // newest snapshot seen
	records bool // the store holds clients that may reclaim (Peek)
	gate    GateMode
	win     window
	set     [][]byte // the reclaim set, as Begin returned it
	tardy   bool

	// One database write in flight at a time; a newer snapshot does not
	// start another until its result is in.
	writing Mutation
	// retryAt is when a failed write or store call is tried again.
	retryAt time.Time
	// pending is the effect to retry at retryAt.
	retry Effect

	fencing string // member being fenced, "" if none
	waiting string // members last reported as waited for
	err     error
}

// NodeConfig is what the machine needs to know about its node.
type NodeConfig struct {
	ID string
	// Grace is how long the reclaim window stays open (it may be extended
	// by reclaims up to twice as long, see window.tick).
	Grace time.Duration
	// Retry is how long to wait before a failed write or store call is
	// tried again (0: one second).
	Retry time.Duration
	// FenceAfter is how long a member must have been dead (its liveness
	// lock not held by anyone) before the live member with the lowest id
	// fences it; 0 disables fencing (single node).
	FenceAfter time.Duration
}

// Phase is where a node is in the protocol.
type Phase int

// Phases, in the order a restarting node goes through them.
const (
	PhaseInit      Phase = iota // before Boot
	PhaseJoining                // own membership write in flight
	PhaseBeginning              // the store begins the recovery epoch
	PhaseWaiting                // waiting for every member to enforce
	PhaseResetting              // resetting the previous instance's CephFS sessions
	PhaseReclaim                // serving; own clients reclaim (own NEED set)
	PhaseLifting                // reclaim window over; clearing own NEED
	PhaseDraining               // R != 0 seen: waiting for in-flight new-state operations
	PhaseEnforcing              // serving, refusing new state until R = 0
	PhaseEnding                 // R = 0 seen: ending grace in the store, then clearing ENFORCING
	PhaseNormal                 // serving, new state allowed
	PhaseStopped                // shut down
	PhaseFailed                 // fatal error: see Err
)

var phaseNames = [...]string{"init", "joining", "beginning", "waiting", "resetting", "reclaim", "lifting",
	"draining", "enforcing", "ending", "normal", "stopped", "failed"}

func (p Phase) String() string {
	if int(p) < len(phaseNames) {
		return phaseNames[p]
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// GateMode is what the NFS engine may grant now.
type GateMode int32

// Gate modes, from the most to the least restrictive.
const (
	GateClosed  GateMode = iota // not serving: nothing is granted
	GateEnforce                 // serving existing state; new state refused, no reclaims
	GateReclaim                 // as GateEnforce, plus reclaims by the reclaim set
	GateOpen                    // new state granted
)

func (g GateMode) String() string {
	return [...]string{"closed", "enforce", "reclaim", "open"}[g]
}

// Inputs. Every input comes with the time it is stepped at.
type (
	// Input is one event for Step.
	Input interface{ isInput() }

	// Boot: the node has its liveness lock; DB is a fresh snapshot and
	// Records says whether the store holds clients that may reclaim.
	Boot struct {
		DB      DB
		Records bool
	}
	// Snapshot: a newer grace database was read (watch, poll).
	Snapshot struct{ DB DB }
	// Written: the write of M succeeded; DB is the database it left.
	Written struct {
		M  Mutation
		DB DB
	}
	// WriteFailed: the write of M did not happen (ErrRefused: the rules
	// forbade it against the newest snapshot, DB; anything else: RADOS).
	WriteFailed struct {
		M   Mutation
		DB  DB // newest snapshot, if the failure read one (C == 0: none)
		Err error
	}
	// Begun: the store began Epoch; Reclaim is its reclaim set.
	Begun struct {
		Epoch   uint64
		Reclaim [][]byte
	}
	// Reset: the previous instance's sessions are reset. Tardy: there
	// was no session left (the MDS had evicted it), so its caps were
	// revoked outside any grace period.
	Reset struct{ Tardy bool }
	// Drained: every new-state operation admitted before the gate closed
	// has finished.
	Drained struct{}
	// StoreEnded: the store ended grace (forgot who did not reclaim).
	StoreEnded struct{}
	// Failed: an effect failed (Begin, reset, EndGrace, fence); it is
	// retried after NodeConfig.Retry.
	Failed struct {
		Effect Effect
		Err    error
	}
	// Tick: time passed.
	Tick struct{}
	// ReclaimDone: a client of the reclaim set finished (4.1
	// RECLAIM_COMPLETE).
	ReclaimDone struct{ Owner string }
	// Reclaimed: a client of the reclaim set reclaimed something.
	Reclaimed struct{ Owner string }
	// Liveness: which members' liveness locks are held, and since when
	// each dead one has been seen dead.
	Liveness struct {
		DeadSince map[string]time.Time // absent: alive
	}
	// Fenced: the fence of Node finished (sessions reset, records
	// deleted, database updated).
	Fenced struct{ Node string }
	// LockLost: the node lost its own liveness lock: another instance may
	// be running with its id. Fatal.
	LockLost struct{ Err error }
	// Shutdown: stop serving.
	Shutdown struct{}
)

func (Boot) isInput()        {}
func (Snapshot) isInput()    {}
func (Written) isInput()     {}
func (WriteFailed) isInput() {}
func (Begun) isInput()       {}
func (Reset) isInput()       {}
func (Drained) isInput()     {}
func (StoreEnded) isInput()  {}
func (Failed) isInput()      {}
func (Tick) isInput()        {}
func (ReclaimDone) isInput() {}
func (Reclaimed) isInput()   {}
func (Liveness) isInput()    {}
func (Fenced) isInput()      {}
func (LockLost) isInput()    {}
func (Shutdown) isInput()    {}

// Effects, carried out by the runner in the order returned.
type (
	// Effect is one thing the runner must do.
	Effect interface{ String() string }

	// WriteDB: apply M to the grace database (read, apply, version-
	// asserted write, retry on conflict, notify); answer Written or
	// WriteFailed.
	WriteDB struct{ M Mutation }
	// BeginEpoch: recovery.Store.Begin(Epoch); answer Begun or Failed.
	BeginEpoch struct{ Epoch uint64 }
	// ResetSessions: reset the previous instance's CephFS sessions
	// (mounting if needed); answer Reset or Failed.
	ResetSessions struct{}
	// Drain: wait for the new-state operations admitted before the gate
	// left GateOpen; answer Drained.
	Drain struct{}
	// EndStoreGrace: recovery.Store.EndGrace; answer StoreEnded or Failed.
	EndStoreGrace struct{}
	// SetGate: from now on the engine grants what Mode allows; Reclaim is
	// the reclaim set for GateReclaim.
	SetGate struct {
		Mode    GateMode
		Reclaim [][]byte
	}
	// Serve: start answering NFS clients (the listeners open).
	Serve struct{}
	// Wake: deliver a Tick at At.
	Wake struct{ At time.Time }
	// Waiting: the node waits for these members to enforce (for logs and
	// status; empty when the wait is over).
	Waiting struct{ Nodes []string }
	// FenceNode: fence a dead member: reset its CephFS sessions, delete
	// its recovery records, then WriteDB(Fence{Node}); answer Fenced or
	// Failed.
	FenceNode struct{ Node string }
	// Exit: stop serving and exit with Err (nil: a clean shutdown).
	Exit struct{ Err error }
)

func (e WriteDB) String() string     { return "write " + e.M.String() }
func (e BeginEpoch) String() string  { return fmt.Sprintf("begin epoch %d", e.Epoch) }
func (ResetSessions) String() string { return "reset sessions" }
func (Drain) String() string         { return "drain" }
func (EndStoreGrace) String() string { return "end store grace" }
func (e SetGate) String() string {
	return fmt.Sprintf("gate %s (%d to reclaim)", e.Mode, len(e.Reclaim))
}
func (Serve) String() string       { return "serve" }
func (e Wake) String() string      { return "wake at " + e.At.UTC().Format(time.RFC3339Nano) }
func (e Waiting) String() string   { return "waiting for [" + strings.Join(e.Nodes, " ") + "]" }
func (e FenceNode) String() string { return "fence " + e.Node }
func (e Exit) String() string      { return fmt.Sprintf("exit (%v)", e.Err) }

// NewNode returns a machine in PhaseInit; Boot starts it.
func NewNode(cfg NodeConfig) *Node {
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	return &Node{cfg: cfg}
}

// Phase returns the node's phase.
func (n *Node) Phase() Phase { return n.phase }

// Gate returns the gate mode last set.
func (n *Node) Gate() GateMode { return n.gate }

// DB returns the newest snapshot seen.
func (n *Node) DB() DB { return n.db }

// Err returns the fatal error of PhaseFailed.
func (n *Node) Err() error { return n.err }

// Pending returns how many clients of the reclaim set have not finished.
func (n *Node) Pending() int {
	if !n.win.open {
		return 0
	}
	return len(n.win.pending)
}

// Tardy reports whether the restart was tardy (no session was left to
// reset, so nothing may be reclaimed).
func (n *Node) Tardy() bool { return n.tardy }

// Own returns the node's flags in the newest snapshot, and whether it is a
// member.
func (n *Node) Own() (byte, bool) {
	f, ok := n.db.Members[n.cfg.ID]
	return f, ok
}

// MayReclaim reports whether owner may reclaim now.
func (n *Node) MayReclaim(owner string) bool {
	return n.phase == PhaseReclaim && n.win.mayReclaim(owner)
}

// Step advances the machine by one input at time now.
func (n *Node) Step(now time.Time, in Input) []Effect {
	if n.phase == PhaseFailed || n.phase == PhaseStopped {
		return nil
	}
	var out []Effect
	switch in := in.(type) {
	case Boot:
		if n.phase != PhaseInit {
			return nil
		}
		if err := in.DB.Check(); err != nil {
			return n.fail(err)
		}
		n.db, n.records = in.DB, in.Records
		n.phase = PhaseJoining
		out = n.gateTo(out, GateClosed)
		out = n.join(out)
	case Snapshot:
		out = n.snapshot(now, in.DB, out)
	case Written:
		n.writing = nil
		out = n.snapshot(now, in.DB, out)
		out = n.written(now, in.M, out)
	case WriteFailed:
		n.writing = nil
		if in.DB.C != 0 {
			out = n.snapshot(now, in.DB, out)
		}
		out = n.writeFailed(now, in.M, in.Err, out)
	case Begun:
		if n.phase != PhaseBeginning {
			return nil
		}
		n.set = in.Reclaim
		n.phase = PhaseWaiting
		out = n.advanceWaiting(out)
	case Reset:
		if n.phase != PhaseResetting {
			return nil
		}
		out = n.reset(now, in.Tardy, out)
	case Drained:
		if n.phase != PhaseDraining {
			return nil
		}
		out = n.enforceSelf(out)
	case StoreEnded:
		if n.phase != PhaseEnding {
			return nil
		}
		out = n.write(out, Unenforce{Node: n.cfg.ID})
	case Failed:
		if in.Effect == nil {
			return nil
		}
		if f, ok := in.Effect.(FenceNode); ok && f.Node == n.fencing {
			n.fencing = ""
			return nil // tried again at the next Liveness
		}
		n.retry, n.retryAt = in.Effect, now.Add(n.cfg.Retry)
		out = append(out, Wake{At: n.retryAt})
	case Tick:
		out = n.tick(now, out)
	case ReclaimDone:
		if n.phase == PhaseReclaim && n.win.done(in.Owner) {
			out = n.lift(out)
		}
	case Reclaimed:
		if n.phase == PhaseReclaim {
			n.win.reclaimed(in.Owner, now)
		}
	case Liveness:
		out = n.liveness(now, in, out)
	case Fenced:
		if in.Node == n.fencing {
			n.fencing = ""
		}
	case LockLost:
		return n.fail(fmt.Errorf("lost the liveness lock of node %s: %w", n.cfg.ID, in.Err))
	case Shutdown:
		n.phase = PhaseStopped
		out = n.gateTo(out, GateClosed)
		out = append(out, Exit{})
	}
	return out
}

func (n *Node) fail(err error) []Effect {
	n.phase, n.err = PhaseFailed, err
	n.gate = GateClosed
	return []Effect{SetGate{Mode: GateClosed}, Exit{Err: err}}
}

// gateTo moves the gate, only ever emitting a change.
func (n *Node) gateTo(out []Effect, m GateMode) []Effect {
	if n.gate == m && m != GateReclaim {
		return out
	}
	n.gate = m
	e := SetGate{Mode: m}
	if m == GateReclaim {
		e.Reclaim = n.set
	}
	return append(out, e)
}

func (n *Node) write(out []Effect, m Mutation) []Effect {
	n.writing = m
	return append(out, WriteDB{M: m})
}

// join makes the database say what the node needs: member, ENFORCING,
// and NEED when it has clients to reclaim (a new grace period if none
// runs). Once it does, the store begins epoch C.
func (n *Node) join(out []Effect) []Effect {
	f, member := n.Own()
	switch {
	case !member:
		return n.write(out, Enforce{Node: n.cfg.ID, Add: true})
	case n.records && f&FlagNeed == 0:
		return n.write(out, Join{Node: n.cfg.ID})
	case !n.records && f&FlagNeed != 0:
		// NEED left over with nothing to reclaim (a crash after the
		// store ended grace but before the lift was written): lift it,
		// or the cluster stays in grace for nobody.
		return n.write(out, Lift{Node: n.cfg.ID})
	case f&FlagEnforcing == 0:
		return n.write(out, Enforce{Node: n.cfg.ID})
	}
	n.phase = PhaseBeginning
	return append(out, BeginEpoch{Epoch: n.db.C})
}

func (n *Node) written(now time.Time, m Mutation, out []Effect) []Effect {
	switch n.phase {
	case PhaseJoining:
		return n.join(out)
	case PhaseLifting:
		if _, ok := m.(Lift); ok {
			n.phase = PhaseEnforcing
			return n.enforcing(out)
		}
	case PhaseDraining:
		if _, ok := m.(Enforce); ok {
			n.phase = PhaseEnforcing
			return n.enforcing(out)
		}
	case PhaseEnding:
		if _, ok := m.(Unenforce); ok {
			n.phase = PhaseNormal
			out = n.gateTo(out, GateOpen)
			// A grace period may have started meanwhile.
			return n.normal(out)
		}
		// We were re-added (removed by an admin meanwhile): clear
		// ENFORCING again.
		return n.write(out, Unenforce{Node: n.cfg.ID})
	case PhaseEnforcing, PhaseReclaim, PhaseNormal, PhaseWaiting:
		// A repair write (Enforce after an admin's noenforce, a
		// re-add) finished: nothing else to do.
	}
	return out
}

func (n *Node) writeFailed(now time.Time, m Mutation, err error, out []Effect) []Effect {
	if errors.Is(err, ErrRefused) && n.phase == PhaseEnding {
		// Unenforce refused: a new grace period began after R = 0 was
		// read. Keep enforcing, as a survivor.
		n.phase = PhaseEnforcing
		return n.enforcing(out)
	}
	if errors.Is(err, ErrNotMember) {
		// Removed by an admin meanwhile: join again from the start, not
		// serving anything new meanwhile.
		out = n.gateTo(out, min(n.gate, GateEnforce))
		return n.write(out, Enforce{Node: n.cfg.ID, Add: true})
	}
	if errors.Is(err, ErrCorruptDB) {
		// Keep enforcing (never rewrite), and retry: an admin may
		// repair it.
		out = n.gateTo(out, min(n.gate, GateEnforce))
	}
	n.retry, n.retryAt = WriteDB{M: m}, now.Add(n.cfg.Retry)
	return append(out, Wake{At: n.retryAt})
}

// snapshot takes a newer database and reacts to what changed.
func (n *Node) snapshot(now time.Time, db DB, out []Effect) []Effect {
	if db.Version != 0 && db.Version < n.db.Version {
		// A late notify: never step back to an older view.
		return out
	}
	if err := db.Check(); err != nil {
		// Never act on a database we cannot read; keep the safer mode.
		return n.gateTo(out, min(n.gate, GateEnforce))
	}
	n.db = db
	f, member := n.Own()
	switch n.phase {
	case PhaseWaiting:
		return n.advanceWaiting(out)
	case PhaseReclaim:
		if !member || f&FlagNeed == 0 {
			// Our NEED was cleared behind our back (fenced, or an admin
			// lift): the reclaim window is over, whatever clients are
			// still at it.
			n.win.close()
			n.phase = PhaseEnforcing
			out = n.gateTo(out, GateEnforce)
			return n.enforcing(out)
		}
		return n.repair(out)
	case PhaseEnforcing:
		return n.enforcing(out)
	case PhaseNormal:
		return n.normal(out)
	case PhaseLifting, PhaseDraining, PhaseEnding, PhaseJoining, PhaseBeginning, PhaseResetting:
		// An answer to the effect in flight comes; it decides.
	}
	return out
}

// repair writes the node's flags back when someone else changed them
// while it needs them (an admin's noenforce, a remove).
func (n *Node) repair(out []Effect) []Effect {
	if n.writing != nil {
		return out
	}
	if f, member := n.Own(); !member || f&FlagEnforcing == 0 {
		return n.write(out, Enforce{Node: n.cfg.ID, Add: true})
	}
	return out
}

func (n *Node) advanceWaiting(out []Effect) []Effect {
	if !n.records {
		// Nothing to reclaim, so nothing the old session's locks
		// protect: reset at once.
		n.phase = PhaseResetting
		return append(out, ResetSessions{})
	}
	if waiting := n.db.NotEnforcing(); len(waiting) > 0 {
		if w := strings.Join(waiting, " "); w != n.waiting {
			n.waiting = w
			out = append(out, Waiting{Nodes: waiting})
		}
		return out
	}
	n.phase = PhaseResetting
	if n.waiting != "" {
		n.waiting = ""
		out = append(out, Waiting{})
	}
	return append(out, ResetSessions{})
}

func (n *Node) reset(now time.Time, tardy bool, out []Effect) []Effect {
	f, _ := n.Own()
	if f&FlagNeed != 0 && len(n.set) > 0 && !tardy {
		n.phase = PhaseReclaim
		n.win.start(n.set, now.Add(n.cfg.Grace), now.Add(2*n.cfg.Grace), n.cfg.Grace/16)
		out = n.gateTo(out, GateReclaim)
		out = append(out, Serve{}, Wake{At: n.win.ends})
		return out
	}
	n.tardy = tardy && len(n.set) > 0
	out = n.gateTo(out, GateEnforce)
	out = append(out, Serve{})
	if f&FlagNeed != 0 {
		n.phase = PhaseLifting
		return n.write(out, Lift{Node: n.cfg.ID})
	}
	n.phase = PhaseEnforcing
	return n.enforcing(out)
}

// lift ends the node's reclaim window: reclaims stop now, NEED is
// cleared.
func (n *Node) lift(out []Effect) []Effect {
	n.win.close()
	n.phase = PhaseLifting
	out = n.gateTo(out, GateEnforce)
	return n.write(out, Lift{Node: n.cfg.ID})
}

// enforcing: serving without new state until R = 0.
func (n *Node) enforcing(out []Effect) []Effect {
	if n.db.R == 0 {
		n.phase = PhaseEnding
		return append(out, EndStoreGrace{})
	}
	return n.repair(out)
}

// normal: serving with new state; a grace period elsewhere closes the
// gate and drains before this node reports enforcing.
func (n *Node) normal(out []Effect) []Effect {
	f, member := n.Own()
	if n.db.R == 0 && member {
		if f&FlagEnforcing != 0 && n.writing == nil {
			// An admin set our ENFORCING flag: go through the end of
			// grace again, so that the flag tells the truth.
			n.phase = PhaseEnforcing
			out = n.gateTo(out, GateEnforce)
			return n.enforcing(out)
		}
		return out
	}
	// A grace period began, or an admin removed us (we add ourselves
	// back, enforcing, which must be true when written).
	n.phase = PhaseDraining
	out = n.gateTo(out, GateEnforce)
	return append(out, Drain{})
}

func (n *Node) enforceSelf(out []Effect) []Effect {
	if f, member := n.Own(); member && f&FlagEnforcing != 0 {
		n.phase = PhaseEnforcing
		return n.enforcing(out)
	}
	return n.write(out, Enforce{Node: n.cfg.ID, Add: true})
}

func (n *Node) tick(now time.Time, out []Effect) []Effect {
	if n.retry != nil && !now.Before(n.retryAt) {
		e := n.retry
		n.retry = nil
		if w, ok := e.(WriteDB); ok {
			return n.write(out, w.M)
		}
		return append(out, e)
	}
	if n.phase == PhaseReclaim {
		if n.win.tick(now) {
			return n.lift(out)
		}
		if n.win.open {
			out = append(out, Wake{At: n.win.ends})
		}
	}
	return out
}

// liveness fences members that have been dead for FenceAfter, if this
// node is the live member with the lowest id and serves.
func (n *Node) liveness(now time.Time, in Liveness, out []Effect) []Effect {
	if n.cfg.FenceAfter <= 0 || n.fencing != "" || n.phase < PhaseReclaim || n.phase > PhaseNormal {
		return out
	}
	members := make([]string, 0, len(n.db.Members))
	for m := range n.db.Members {
		members = append(members, m)
	}
	slices.Sort(members)
	var lowestLive string
	for _, m := range members {
		if _, dead := in.DeadSince[m]; !dead || m == n.cfg.ID {
			lowestLive = m
			break
		}
	}
	if lowestLive != n.cfg.ID {
		return out
	}
	for _, m := range members {
		since, dead := in.DeadSince[m]
		if !dead || m == n.cfg.ID || now.Sub(since) < n.cfg.FenceAfter {
			continue
		}
		if n.db.Members[m]&(FlagNeed|FlagEnforcing) == FlagEnforcing {
			// Enforcing without NEED: it blocks nobody (already
			// fenced, or it died with nothing to reclaim).
			continue
		}
		n.fencing = m
		return append(out, FenceNode{Node: m})
	}
	return out
}
