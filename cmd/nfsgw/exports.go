package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
)

// configPath is the --config file, re-read on SIGHUP ("" when none).
var configPath string

// retireDelay is how long a removed export's backend stays open: requests
// that looked the export up just before it went may still be using it.
const retireDelay = 30 * time.Second

// exportManager changes the served exports while the gateway runs: one
// export at a time through the admin API, or the whole set from the
// configuration file on SIGHUP. Every change builds a new immutable table
// from the current one and swaps it in, so requests never wait for it.
type exportManager struct {
	cfg *config.Config
	be  *backends
	reg *export.Registry
	log hclog.Logger

	mu    sync.Mutex      // serialises changes with their bookkeeping
	added map[uint16]bool // ids added through the admin API (kept by a reload)

	// fromRADOS: the exports are the cluster's table in RADOS, changed
	// only there (syncTable); the admin API and SIGHUP do not change them.
	fromRADOS bool
	// release drops the NFSv4 state held on a removed export's files.
	release func(id uint16) int

	stopc chan struct{}
	done  chan struct{}
}

func newExportManager(cfg *config.Config, be *backends, reg *export.Registry, log hclog.Logger) *exportManager {
	m := &exportManager{cfg: cfg, be: be, reg: reg, log: log, added: map[uint16]bool{},
		stopc: make(chan struct{}), done: make(chan struct{})}
	go m.watchHUP()
	return m
}

// stop ends the SIGHUP watcher.
func (m *exportManager) stop() {
	close(m.stopc)
	<-m.done
}

func (m *exportManager) watchHUP() {
	defer close(m.done)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-m.stopc:
			return
		case <-hup:
			if configPath == "" {
				m.log.Warn("SIGHUP without --config: nothing to reload")
				continue
			}
			if m.fromRADOS {
				m.log.Warn("SIGHUP: the exports are the cluster's table in RADOS (nfsgwctl export --pool ...): nothing to reload")
				continue
			}
			t0 := time.Now()
			added, removed, err := m.reload(configPath)
			if err != nil {
				m.log.Error("reload failed; exports unchanged", "config", configPath, "error", err)
				continue
			}
			m.log.Info("exports reloaded", "config", configPath, "added", added, "removed", removed,
				"exports", len(m.reg.Load().All()), "elapsed", time.Since(t0))
		}
	}
}

// validate fills in the defaults of one export and checks it the way the
// configuration file's exports are checked.
func (m *exportManager) validate(ec config.Export) (config.Export, error) {
	c := *m.cfg
	c.Exports = []config.Export{ec}
	if err := c.Validate(); err != nil {
		return ec, err
	}
	return c.Exports[0], nil
}

// open opens one export's backend.
func (m *exportManager) open(ec config.Export) (*export.Export, error) {
	c := *m.cfg
	c.Exports = []config.Export{ec}
	t, err := buildExports(&c, m.be)
	if err != nil {
		return nil, err
	}
	return t.All()[0], nil
}

// retire closes a removed export's backend once requests that may still
// hold it are over.
func (m *exportManager) retire(e *export.Export) {
	c, ok := e.FS.(io.Closer)
	if !ok {
		return
	}
	time.AfterFunc(retireDelay, func() {
		if err := c.Close(); err != nil {
			m.log.Warn("closing a removed export", "pseudo", e.Pseudo, "error", err)
		}
	})
}

// errInRADOS refuses export changes through one gateway's admin API when
// the exports are the cluster's table.
var errInRADOS = fmt.Errorf("%w: this cluster's exports are in RADOS: change them with nfsgwctl export add|update|remove --pool POOL [--ns NS] (docs/cluster.md)", admin.ErrInvalid)

// gone retires removed or replaced exports and releases the NFSv4 state
// their clients held on them (an export that stays under the same id with
// other settings keeps its state).
func (m *exportManager) gone(list []*export.Export, keep map[uint16]bool) {
	for _, e := range list {
		if m.release != nil && !keep[e.ID] {
			if n := m.release(e.ID); n > 0 {
				m.log.Info("released the state on a removed export", "id", e.ID, "pseudo", e.Pseudo, "states", n)
			}
		}
		m.retire(e)
	}
}

// applyChanges applies changes of the cluster's export table (as read from
// RADOS): the exports in changed are added or replaced, the ids in removed
// removed, in one table swap. An export that cannot be opened, or that
// clashes with another (a pseudo path in use), is left out and logged (a
// replaced one stays as it was), so that one bad entry does not hold up
// every other change.
func (m *exportManager) applyChanges(changed []config.Export, removed []uint16) (added, gone int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.reg.Load()
	type change struct{ old, new *export.Export }
	var opened []change
	for _, ec := range changed {
		o := cur.ByID(uint16(ec.ID))
		v, err := m.validate(ec)
		if err == nil && o != nil && sameExport(o, v) {
			continue
		}
		var e *export.Export
		if err == nil {
			e, err = m.open(v)
		}
		if err != nil {
			m.log.Error("export in the cluster's table cannot be served", "id", ec.ID, "pseudo", ec.Pseudo, "path", ec.Path, "error", err)
			continue
		}
		opened = append(opened, change{o, e})
	}
	var out []*export.Export // removed or replaced
	keep := map[uint16]bool{}
	_, err = m.reg.Update(func(t *export.Table) (*export.Table, error) {
		n := t
		for _, id := range removed {
			if nt, e, err := n.Without(id); err == nil {
				n = nt
				out = append(out, e)
			}
		}
		for _, c := range opened {
			nt := n
			if c.old != nil {
				if nt, _, err = nt.Without(c.old.ID); err != nil {
					return nil, err
				}
			}
			nt, err := nt.With(c.new)
			if err != nil {
				m.log.Error("export in the cluster's table clashes with a served one", "id", c.new.ID, "pseudo", c.new.Pseudo, "error", err)
				m.retire(c.new)
				continue
			}
			n = nt
			added++
			if c.old != nil {
				out = append(out, c.old)
				keep[c.old.ID] = true
			}
		}
		return n, nil
	})
	if err != nil {
		for _, c := range opened {
			m.retire(c.new)
		}
		return 0, 0, err
	}
	m.gone(out, keep)
	return added, len(out) - len(keep), nil
}

// add serves one more export.
func (m *exportManager) add(ec config.Export) (*export.Export, error) {
	if m.fromRADOS {
		return nil, errInRADOS
	}
	if ec.ID == 0 {
		return nil, fmt.Errorf("%w: an added export needs an explicit id (file handles carry it)", admin.ErrInvalid)
	}
	ec, err := m.validate(ec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.reg.Load()
	// Refuse a clash before opening the backend; With checks it again.
	if o := cur.ByID(uint16(ec.ID)); o != nil {
		return nil, fmt.Errorf("%w: id %d is export %s", admin.ErrConflict, ec.ID, o.Pseudo)
	}
	if o := cur.ByPseudo(export.CleanPseudo(ec.Pseudo)); o != nil {
		return nil, fmt.Errorf("%w: pseudo path %s is export %d", admin.ErrConflict, o.Pseudo, o.ID)
	}
	e, err := m.open(ec)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", admin.ErrInvalid, err)
	}
	if _, err := m.reg.Update(func(t *export.Table) (*export.Table, error) { return t.With(e) }); err != nil {
		m.retire(e)
		return nil, fmt.Errorf("%w: %v", admin.ErrConflict, err)
	}
	m.added[e.ID] = true
	return e, nil
}

// remove stops serving the export with id.
func (m *exportManager) remove(id uint16) error {
	if m.fromRADOS {
		return errInRADOS
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var gone *export.Export
	_, err := m.reg.Update(func(t *export.Table) (*export.Table, error) {
		n, e, err := t.Without(id)
		gone = e
		return n, err
	})
	if errors.Is(err, export.ErrNoExport) {
		return fmt.Errorf("export id %d: %w", id, admin.ErrNotFound)
	}
	if err != nil {
		return err
	}
	delete(m.added, id)
	m.gone([]*export.Export{gone}, nil)
	return nil
}

// reload makes the served exports those of the configuration file at
// path, plus the ones added through the admin API since. An export whose
// id stays but whose settings changed is replaced. Either every change
// applies or none does.
func (m *exportManager) reload(path string) (added, removed int, err error) {
	nc, err := config.Load(path)
	if err != nil {
		return 0, 0, err
	}
	// Only the exports are reloaded; the rest of the file needs a restart.
	c := *m.cfg
	c.Exports = nc.Exports
	if err := c.Validate(); err != nil {
		return 0, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.reg.Load()
	want := map[uint16]bool{}
	var opened, list []*export.Export
	var gone []*export.Export
	for _, ec := range c.Exports {
		want[uint16(ec.ID)] = true
		if o := cur.ByID(uint16(ec.ID)); o != nil && sameExport(o, ec) {
			list = append(list, o)
			continue
		}
		e, err := m.open(ec)
		if err != nil {
			for _, e := range opened {
				m.retire(e)
			}
			return 0, 0, err
		}
		opened = append(opened, e)
		list = append(list, e)
	}
	for _, o := range cur.All() {
		switch {
		case want[o.ID]:
			if !slices.Contains(list, o) {
				gone = append(gone, o) // replaced
			}
		case m.added[o.ID]:
			list = append(list, o)
		default:
			gone = append(gone, o)
		}
	}
	if _, err := m.reg.Update(func(*export.Table) (*export.Table, error) { return export.NewTable(list) }); err != nil {
		for _, e := range opened {
			m.retire(e)
		}
		return 0, 0, err
	}
	m.gone(gone, want)
	return len(opened), len(gone), nil
}

// sameExport reports whether a served export already is what ec asks for.
func sameExport(e *export.Export, ec config.Export) bool {
	sq, _ := export.ParseSquash(ec.Squash)
	uid, gid := ec.Anon()
	nets, _ := ec.Networks()
	path := ec.Path
	if _, ceph := ec.CephPath(); !ceph {
		path, _ = filepath.Abs(path)
	}
	return export.CleanPseudo(ec.Pseudo) == e.Pseudo && path == e.Path &&
		(ec.Access == "ro") == e.ReadOnly && sq == e.Squash && uid == e.AnonUID && gid == e.AnonGID &&
		slices.Equal(nets, e.Clients) && ec.DelegationsEnabled() == e.Delegations
}

// exportInfo describes a served export for the admin API.
func exportInfo(e *export.Export) admin.ExportInfo {
	access := "rw"
	if e.ReadOnly {
		access = "ro"
	}
	var nets []string
	for _, n := range e.Clients {
		nets = append(nets, n.String())
	}
	return admin.ExportInfo{ID: e.ID, Pseudo: e.Pseudo, Path: e.Path, Access: access, Squash: e.Squash.String(), Clients: nets}
}

// AddExport implements admin.ExportManager.
func (p *adminProvider) AddExport(c admin.ExportConfig) (admin.ExportInfo, error) {
	if p.mgr == nil {
		return admin.ExportInfo{}, errors.New("export changes are not enabled")
	}
	e, err := p.mgr.add(config.Export{ID: int(c.ID), Pseudo: c.Pseudo, Path: c.Path, Access: c.Access,
		Squash: c.Squash, Clients: c.Clients, AnonUID: c.AnonUID, AnonGID: c.AnonGID})
	if err != nil {
		return admin.ExportInfo{}, err
	}
	return exportInfo(e), nil
}

// RemoveExport implements admin.ExportManager.
func (p *adminProvider) RemoveExport(id uint16) error {
	if p.mgr == nil {
		return errors.New("export changes are not enabled")
	}
	return p.mgr.remove(id)
}

// openConcurrency is how many exports openExports opens at once: opening
// one is a few system calls (localfs) or a round trip to the MDS
// (cephfsal), so a start-up with thousands of exports is latency-bound.
const openConcurrency = 16

// openExports is buildExports with the backends opened several at a time,
// for start-up with many exports: the configuration is cut into
// contiguous parts opened concurrently, then joined in configuration
// order into one table.
func openExports(cfg *config.Config, be *backends) (*export.Table, error) {
	n := len(cfg.Exports)
	parts := min(openConcurrency, n/64+1) // a few exports: one part, no goroutines
	if parts <= 1 {
		return buildExports(cfg, be)
	}
	tables := make([]*export.Table, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() {
			c := *cfg
			c.Exports = cfg.Exports[p*n/parts : (p+1)*n/parts]
			tables[p], errs[p] = buildExports(&c, be)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	list := make([]*export.Export, 0, n)
	for _, t := range tables {
		list = append(list, t.All()...)
	}
	return export.NewTable(list)
}
