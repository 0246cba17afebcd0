//go:build !noceph

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceph/go-ceph/rados"
	"github.com/hashicorp/go-hclog"

	"nfsgw/cephfsal"
	"nfsgw/gateway/config"
	"nfsgw/gateway/exportdb"
	"nfsgw/gateway/metrics"
	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/radosconn"
	"nfsgw/recovery/radosstore"
)

// member is this gateway's membership of a cluster: its RADOS connection,
// the grace database, its recovery store in RADOS and its liveness lock.
type member struct {
	cfg      *config.Config
	log      hclog.Logger
	conn     *rados.Conn
	ioctx    *rados.IOContext
	db       *radosdb.DB
	store    *radosstore.Store
	node     string
	instance string
	lease    time.Duration

	runner *grace.Runner
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// exports is the cluster's export table when the configuration lists
	// no exports (docs/cluster.md, "Exports in RADOS"); tableVersion is
	// the object version of the table served.
	exports      *exportdb.Store
	tableVersion uint64
	table        map[int]config.Export // as stored, by id
	expCancel    context.CancelFunc
	expWG        sync.WaitGroup
}

// guarded writes the grace database only while this instance holds its
// liveness lock, so that a member that was partitioned away and fenced
// cannot write a stale update when it comes back.
type guarded struct{ m *member }

func (g guarded) Read(ctx context.Context) (grace.DB, error) { return g.m.db.Read(ctx) }

func (g guarded) Update(ctx context.Context, mu grace.Mutation) (grace.DB, error) {
	return g.m.db.UpdateGuarded(ctx, mu, radosdb.NodeObject(g.m.node), radosdb.LockName, g.m.instance)
}

// joinCluster connects to RADOS (retrying while the cluster does not
// answer: the gateway does not serve meanwhile), takes the node's liveness
// lock, opens its recovery store and starts the grace machine; it returns
// once the machine lets the node serve. mountAndReset mounts the CephFS
// backends of exports, resetting the previous instance's sessions: the
// machine calls it only once every member enforces. exports are the
// configuration's, or, when it lists none, the cluster's export table in
// RADOS, read before anything else is done: a member that cannot read it
// does not serve (it retries until ctx ends), rather than serve a stale or
// empty table.
func joinCluster(ctx context.Context, cfg *config.Config, be *backends, log hclog.Logger, obs *observability,
	mountAndReset func(ctx context.Context, exports []config.Export) (tardy bool, err error)) (*nodeRecovery, *member, error) {
	cl := &cfg.Cluster
	m := &member{cfg: cfg, log: log.Named("cluster"), node: cfg.NodeID, lease: cl.MemberLease()}
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	m.instance = fmt.Sprintf("%s.%d.%s", host, os.Getpid(), hex.EncodeToString(b[:]))

	delay := time.Second
	for {
		conn, err := radosconn.Connect(radosconn.Options{ConfPath: cfg.Ceph.Conf, User: cfg.Ceph.User, Keyring: cfg.Ceph.Keyring})
		if err == nil {
			m.conn = conn
			break
		}
		m.log.Warn("RADOS unreachable; not serving, retrying", "in", delay, "error", err)
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("cluster: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 8*time.Second)
	}
	fail := func(err error) (*nodeRecovery, *member, error) {
		m.close()
		return nil, nil, err
	}
	ioctx, err := m.conn.OpenIOContext(cl.Pool)
	if err != nil {
		return fail(fmt.Errorf("cluster: pool %s: %w", cl.Pool, err))
	}
	ioctx.SetNamespace(cl.Namespace)
	m.ioctx = ioctx
	if m.db, err = radosdb.Open(m.conn, ioctx, cl.OID); err != nil {
		return fail(err)
	}
	db := m.db
	obs.m.SetRADOSSource(func() metrics.RADOSCounts {
		return metrics.RADOSCounts{UpdateRetries: db.Retries(), NotifyFailures: db.NotifyFailures()}
	})
	m.db.Logf = func(format string, args ...any) { m.log.Warn(fmt.Sprintf(format, args...)) }
	snap, err := m.db.Read(ctx)
	if err != nil {
		return fail(fmt.Errorf("cluster: %w", err))
	}
	exports := cfg.Exports
	if cfg.ExportsInRADOS() {
		if m.exports, err = exportdb.Open(m.conn, ioctx, cl.ExportsOID); err != nil {
			return fail(fmt.Errorf("cluster: %w", err))
		}
		m.exports.Logf = func(format string, args ...any) { m.log.Warn(fmt.Sprintf(format, args...)) }
		if exports, err = m.readExports(ctx); err != nil {
			return fail(err)
		}
	}
	if err := m.lock(ctx); err != nil {
		return fail(err)
	}
	if m.store, err = radosstore.Open(ctx, ioctx, m.node); err != nil {
		return fail(fmt.Errorf("cluster: recovery store: %w", err))
	}
	set, err := m.store.Peek(ctx)
	if err != nil {
		return fail(fmt.Errorf("cluster: recovery store: %w", err))
	}
	be.beforeSession = func(string) error {
		// Every session this node may open, recorded before any is:
		// a peer fencing this node resets them all.
		return m.db.SetSessions(context.Background(), m.node, be.sessionUUIDs())
	}
	rec := &nodeRecovery{log: log.Named("recovery"), store: m.store}
	served, exited := rec.start(cfg, guarded{m}, grace.RunnerConfig{
		Node:  grace.NodeConfig{FenceAfter: cl.FenceAfter()},
		Reset: func(ctx context.Context) (bool, error) { return mountAndReset(ctx, exports) },
		Fence: m.fence,
	}, snap, len(set) > 0)
	m.runner = rec.runner
	// Readiness says what the machine waits for (peers, the reset) from
	// now on, before the gateway listens.
	obs.watchGrace(rec.status)
	lctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	m.wg.Add(3)
	go m.watch(lctx)
	go m.renew(lctx)
	go m.peers(lctx)
	m.log.Info("joined the cluster", "node", m.node, "instance", m.instance, "pool", cl.Pool, "namespace", cl.Namespace,
		"cur", snap.C, "rec", snap.R, "clients to reclaim", len(set))
	select {
	case <-served:
		return rec, m, nil
	case err := <-exited:
		rec.cancel()
		m.leave()
		if err == nil {
			err = errors.New("cluster: stopped before serving")
		}
		return nil, nil, err
	case <-ctx.Done():
		rec.cancel()
		m.leave()
		return nil, nil, ctx.Err()
	}
}

// readExports reads the cluster's export table at start, retrying while it
// cannot be read (RADOS trouble, no table yet, a table that does not pass
// the checks): the gateway does not serve meanwhile.
func (m *member) readExports(ctx context.Context) ([]config.Export, error) {
	delay := time.Second
	start := time.Now()
	for {
		t, err := m.exports.Read(ctx)
		var list []config.Export
		if err == nil {
			if list, err = exportdb.Check(t.Exports); err != nil {
				err = fmt.Errorf("%s: %w: %v", m.exports.Where(), exportdb.ErrCorrupt, err)
			}
		}
		if err == nil {
			m.tableVersion = t.Version
			m.table = make(map[int]config.Export, len(t.Exports))
			for _, e := range t.Exports {
				m.table[e.ID] = e
			}
			m.log.Info("export table read from RADOS", "exports", len(list), "version", t.Version, "generation", t.Gen,
				"object", m.exports.Where(), "took", time.Since(start))
			return list, nil
		}
		m.log.Error("cannot read the cluster's export table; not serving, retrying", "in", delay, "error", err)
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("cluster: export table: %w", err)
		case <-time.After(delay):
		}
		delay = min(2*delay, 8*time.Second)
	}
}

// followExports applies every change of the cluster's export table. A
// notify that lists the keys a write changed, from the version served,
// costs a read of those keys only; anything else (a poll, every poll
// interval as a fallback; a watch set up again; a notify missed) reads the
// whole table and compares it with what is served. A table that cannot be
// read leaves the exports served as they are.
func (m *member) followExports(apply func(changed []config.Export, removed []uint16) (nAdded, nRemoved int, err error)) {
	if m.exports == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.expCancel = cancel
	events := make(chan []byte, 64)
	var overflow atomic.Bool
	m.expWG.Add(2)
	go func() {
		defer m.expWG.Done()
		m.exports.Watch(ctx, func(p []byte) {
			select {
			case events <- p:
			default:
				overflow.Store(true) // a change may be lost: read it all
			}
		})
	}()
	go func() {
		defer m.expWG.Done()
		t := time.NewTicker(m.cfg.Cluster.Poll())
		defer t.Stop()
		var lastErr string
		for {
			var ch *exportdb.Change
			select {
			case <-ctx.Done():
				return
			case p := <-events:
				ch = exportdb.ParseChange(p)
			case <-t.C:
			}
			if overflow.Swap(false) {
				ch = nil
			}
			start := time.Now()
			how, err := m.syncExports(ctx, ch, apply)
			if err != nil {
				if err.Error() != lastErr {
					m.log.Warn("cannot follow the export table; serving the last table read", "version", m.tableVersion, "error", err)
					lastErr = err.Error()
				}
				continue
			}
			lastErr = ""
			if how != "" {
				m.log.Info("export table changed", "version", m.tableVersion, "read", how, "exports", len(m.table), "took", time.Since(start))
			}
		}
	}()
}

// syncExports brings the served exports to the table's current version;
// it says how it read the table ("" when nothing changed).
func (m *member) syncExports(ctx context.Context, ch *exportdb.Change,
	apply func([]config.Export, []uint16) (int, int, error)) (string, error) {
	var changed []config.Export
	var removed []uint16
	var version uint64
	how := "keys"
	if ch != nil && ch.From == m.tableVersion {
		got, err := m.exports.ReadKeys(ctx, ch.To, ch.Keys)
		switch {
		case err == nil:
			version = ch.To
			for k, e := range got {
				id := exportdb.KeyID(k)
				old, had := m.table[id]
				switch {
				case e == nil && had:
					removed = append(removed, uint16(id))
				case e != nil && (!had || !reflect.DeepEqual(old, *e)):
					changed = append(changed, *e)
				}
			}
		case errors.Is(err, exportdb.ErrVersion):
			ch = nil // moved on since: read it all
		default:
			return "", err
		}
	}
	if ch == nil || ch.From != m.tableVersion {
		v, err := m.exports.Version(ctx)
		if err != nil {
			return "", err
		}
		if v == m.tableVersion {
			return "", nil
		}
		t, err := m.exports.Read(ctx)
		if err != nil {
			return "", err
		}
		how, version = "table", t.Version
		seen := make(map[int]bool, len(t.Exports))
		for _, e := range t.Exports {
			seen[e.ID] = true
			if old, had := m.table[e.ID]; !had || !reflect.DeepEqual(old, e) {
				changed = append(changed, e)
			}
		}
		for id := range m.table {
			if !seen[id] {
				removed = append(removed, uint16(id))
			}
		}
	}
	if _, _, err := apply(changed, removed); err != nil {
		return "", err
	}
	for _, e := range changed {
		m.table[e.ID] = e
	}
	for _, id := range removed {
		delete(m.table, int(id))
	}
	m.tableVersion = version
	if len(changed) == 0 && len(removed) == 0 {
		return "", nil
	}
	return how, nil
}

// stopExports ends followExports.
func (m *member) stopExports() {
	if m.expCancel != nil {
		m.expCancel()
		m.expWG.Wait()
		m.expCancel = nil
	}
}

// lock takes the node's liveness lock. A lock left by a dead instance
// expires within one member lease, so the node waits that long (and a bit)
// before it concludes that another instance with its id is alive: two
// gateways with one id must never run.
func (m *member) lock(ctx context.Context) error {
	deadline := time.Now().Add(m.lease + m.lease/2 + 2*time.Second)
	for {
		err := m.db.Lock(ctx, m.node, m.instance, m.lease)
		if err == nil {
			return nil
		}
		if !errors.Is(err, radosdb.ErrHeld) {
			return fmt.Errorf("cluster: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster: node id %s is in use by a live gateway (refusing to start a second one): %w", m.node, err)
		}
		m.log.Info("liveness lock held; waiting for it to expire", "node", m.node, "holder", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(time.Second, m.lease/10)):
		}
	}
}

// watch feeds the machine every change of the grace database: on each
// notify, and every poll interval as a fallback.
func (m *member) watch(ctx context.Context) {
	defer m.wg.Done()
	kick := make(chan struct{}, 1)
	go m.db.Watch(ctx, func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	t := time.NewTicker(m.cfg.Cluster.Poll())
	defer t.Stop()
	var lastErr string
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		snap, err := m.db.Read(ctx)
		if err != nil {
			// Keep the current enforcement: never lift on our own.
			if err.Error() != lastErr {
				m.log.Warn("reading the grace database", "error", err)
				lastErr = err.Error()
			}
			continue
		}
		lastErr = ""
		m.runner.Input(grace.Snapshot{DB: snap})
	}
}

// renew keeps the liveness lock. A renewal runs beside the loop, so that a
// call that hangs (RADOS unreachable) does not hide the lease running out:
// a member that could not renew for a whole lease may have been fenced, so
// it stops granting state and exits (its restart goes through grace).
func (m *member) renew(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(m.lease / 3)
	defer t.Stop()
	last := time.Now()
	results := make(chan error, 1)
	pending := false
	lost := func(err error) {
		m.log.Error("liveness lock not renewed for a whole member lease: stopping", "lease", m.lease, "error", err)
		m.runner.Input(grace.LockLost{Err: err})
	}
	for {
		select {
		case <-ctx.Done():
			return
		case err := <-results:
			pending = false
			if err == nil {
				last = time.Now()
				continue
			}
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("renewing the liveness lock", "error", err)
			if errors.Is(err, radosdb.ErrLost) {
				lost(err)
				return
			}
		case <-t.C:
			if time.Since(last) >= m.lease {
				lost(fmt.Errorf("no successful renewal since %s", last.Format(time.RFC3339)))
				return
			}
			if !pending {
				pending = true
				// Counted in wg: leave waits for it (bounded by the
				// RADOS operation timeout) before it frees the
				// connection under it.
				m.wg.Add(1)
				go func() {
					defer m.wg.Done()
					results <- m.db.Renew(ctx, m.node, m.instance, m.lease)
				}()
			}
		}
	}
}

// peers reports which members' liveness locks nobody holds, and since
// when, so that the machine can fence the dead.
func (m *member) peers(ctx context.Context) {
	defer m.wg.Done()
	t := time.NewTicker(max(time.Second, m.lease/3))
	defer t.Stop()
	deadSince := map[string]time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := m.runner.Status()
		now := time.Now()
		for node := range st.DB.Members {
			if node == m.node {
				continue
			}
			alive, _, err := m.db.Liveness(ctx, node)
			if err != nil {
				continue // unknown: keep what we knew
			}
			if alive {
				delete(deadSince, node)
			} else if _, ok := deadSince[node]; !ok {
				deadSince[node] = now
			}
		}
		for node := range deadSince {
			if _, ok := st.DB.Members[node]; !ok {
				delete(deadSince, node)
			}
		}
		l := grace.Liveness{DeadSince: make(map[string]time.Time, len(deadSince))}
		for k, v := range deadSince {
			l.DeadSince[k] = v
		}
		m.runner.Input(l)
	}
}

// fence takes a dead member's place: it holds the member's liveness lock
// (so that the member cannot start meanwhile), resets every CephFS session
// it recorded and deletes its recovery records. The runner then clears
// its NEED in the grace database.
func (m *member) fence(ctx context.Context, node string) error {
	return fenceNode(ctx, m.db, m.ioctx, m.cfg.Ceph, node, "fence:"+m.instance, m.lease, m.log, nil)
}

// fenceNode is what fencing a dead member does, for a peer and for the
// Kubernetes controller: take node's liveness lock with cookie (refused,
// wrapping radosdb.ErrHeld, while the member lives), reset every CephFS
// session it recorded, delete its recovery records, and run then (if not
// nil) while the lock is still held.
func fenceNode(ctx context.Context, db *radosdb.DB, ioctx *rados.IOContext, c config.Ceph, node, cookie string,
	lease time.Duration, log hclog.Logger, then func(ctx context.Context) error) error {
	if err := db.Lock(ctx, node, cookie, lease); err != nil {
		return fmt.Errorf("fence %s: %w", node, err)
	}
	defer db.Unlock(context.Background(), node, cookie)
	uuids, err := db.Sessions(ctx, node)
	if err != nil {
		return fmt.Errorf("fence %s: its sessions: %w", node, err)
	}
	for _, u := range uuids {
		r, err := cephfsal.ResetSession(cephfsal.MountOptions{ConfPath: c.Conf, User: c.User, Keyring: c.Keyring,
			MountTimeout: 10 * time.Second}, u)
		if err != nil {
			return fmt.Errorf("fence %s: reset session %s: %w", node, u, err)
		}
		log.Warn("fence: session reset", "node", node, "session", u, "found", resetName(r))
	}
	if err := radosstore.DeleteAll(ctx, ioctx, node); err != nil {
		return fmt.Errorf("fence %s: delete records: %w", node, err)
	}
	if then != nil {
		return then(ctx)
	}
	return nil
}

// leaveCluster takes a drained node out of the cluster: out of the grace
// database (so that no restart waits for it), and its recovery records
// deleted (it has no clients left). Retried until ctx ends: a removal is
// refused during a grace period while a member does not enforce.
func (m *member) leaveCluster(ctx context.Context) error {
	self := grace.Seq{grace.Enforce{Node: m.node}, grace.Remove{Nodes: []string{m.node}}}
	for {
		_, err := m.db.UpdateGuarded(ctx, self, radosdb.NodeObject(m.node), radosdb.LockName, m.instance)
		if err == nil || errors.Is(err, grace.ErrNotMember) {
			break
		}
		m.log.Warn("drain: leaving the grace database", "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("leaving the grace database: %w", err)
		case <-time.After(time.Second):
		}
	}
	if err := radosstore.DeleteAll(ctx, m.ioctx, m.node); err != nil {
		return fmt.Errorf("deleting the recovery records: %w", err)
	}
	if err := m.db.SetSessions(ctx, m.node, nil); err != nil {
		m.log.Warn("drain: clearing the recorded sessions", "error", err)
	}
	m.log.Info("left the cluster", "node", m.node)
	return nil
}

// leave stops the member's loops and releases its liveness lock: the
// successor (or a fencing peer) need not wait for it to expire.
func (m *member) leave() {
	if m.cancel != nil {
		m.cancel()
	}
	m.wg.Wait()
	if m.db != nil && m.instance != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := m.db.Unlock(ctx, m.node, m.instance); err != nil {
			m.log.Warn("releasing the liveness lock", "error", err)
		}
		cancel()
	}
	m.close()
}

func (m *member) close() {
	m.stopExports()
	if m.exports != nil {
		m.exports.Close()
		m.exports = nil
	}
	if m.store != nil {
		m.store.Close()
		m.store = nil
	}
	if m.db != nil {
		m.db.Close()
		m.db = nil
	}
	if m.ioctx != nil {
		m.ioctx.Destroy()
		m.ioctx = nil
	}
	if m.conn != nil {
		m.conn.Shutdown()
		m.conn = nil
	}
}
