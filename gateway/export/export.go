// Package export holds the export table: which backend subtree is served
// under which pseudo path, to whom, and with which identity mapping. The
// table is immutable once built and swapped atomically, so the hot path
// reads it without a lock and an export change never stalls requests.
package export

import (
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"path"
	"strings"
	"sync"
	"sync/atomic"

	"nfsgw/gateway/fsal"
)

// Squash selects how caller identities are mapped.
type Squash uint8

// Squash modes.
const (
	SquashRoot Squash = iota // uid 0 becomes the anonymous id (the default)
	SquashNone               // identities pass through unchanged
	SquashAll                // every caller becomes the anonymous id
)

// ParseSquash parses "root", "none" or "all".
func ParseSquash(s string) (Squash, error) {
	switch s {
	case "", "root", "root_squash":
		return SquashRoot, nil
	case "none", "no_root_squash":
		return SquashNone, nil
	case "all", "all_squash":
		return SquashAll, nil
	}
	return 0, fmt.Errorf("unknown squash mode %q (want root, none or all)", s)
}

func (s Squash) String() string {
	switch s {
	case SquashNone:
		return "none"
	case SquashAll:
		return "all"
	}
	return "root"
}

// Export is one exported subtree.
type Export struct {
	ID       uint16 // stable id carried in file handles; 0 is the pseudo-fs
	Pseudo   string // clean absolute pseudo path, e.g. "/export"
	Path     string // backend path, for display
	FS       fsal.FS
	ReadOnly bool
	Squash   Squash
	AnonUID  uint32
	AnonGID  uint32
	// Clients lists the networks allowed to use the export; empty allows all.
	Clients []netip.Prefix
	// Delegations allows NFSv4.1 read delegations on the export's files.
	Delegations bool
}

// Allowed reports whether a client at addr may use the export.
func (e *Export) Allowed(addr netip.Addr) bool {
	if len(e.Clients) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range e.Clients {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// MapCred applies the export's squash rule to a caller's identity. The
// result may alias c when nothing changes.
func (e *Export) MapCred(c *fsal.Cred) *fsal.Cred {
	switch e.Squash {
	case SquashNone:
		return c
	case SquashRoot:
		if c.UID != 0 && c.GID != 0 {
			return c
		}
		m := *c
		if m.UID == 0 {
			m.UID = e.AnonUID
		}
		if m.GID == 0 {
			m.GID = e.AnonGID
		}
		m.Groups = nil
		for _, g := range c.Groups {
			if g != 0 {
				m.Groups = append(m.Groups, g)
			}
		}
		return &m
	}
	return &fsal.Cred{UID: e.AnonUID, GID: e.AnonGID}
}

// Table is an immutable set of exports.
type Table struct {
	byID     map[uint16]*Export
	byPseudo map[string]*Export
	list     []*Export

	pseudoRoot *PseudoNode
	pseudoByID map[uint64]*PseudoNode
}

// CleanPseudo normalises a pseudo path to a clean absolute form.
func CleanPseudo(p string) string {
	return path.Clean("/" + strings.TrimSpace(p))
}

// NewTable builds a table, rejecting duplicate ids or pseudo paths and an
// export nested inside another export's pseudo path. It cleans each
// export's Pseudo in place, so an Export must not be shared with a table
// in use until it has been through NewTable once.
func NewTable(exports []*Export) (*Table, error) {
	t := &Table{byID: make(map[uint16]*Export, len(exports)), byPseudo: make(map[string]*Export, len(exports)),
		list: make([]*Export, 0, len(exports))}
	for _, e := range exports {
		// Writing only when it changes keeps a shared, already clean
		// Export free of writes (With reuses them in the next table).
		if c := CleanPseudo(e.Pseudo); c != e.Pseudo {
			e.Pseudo = c
		}
		if err := t.add(e); err != nil {
			return nil, err
		}
	}
	// A pseudo path below another export would hide part of that export;
	// refuse it rather than serve something surprising.
	for _, e := range t.list {
		if o := t.exportAbove(e.Pseudo); o != nil {
			return nil, fmt.Errorf("export %s is nested inside export %s", e.Pseudo, o.Pseudo)
		}
	}
	t.buildPseudo()
	return t, nil
}

func (t *Table) add(e *Export) error {
	if e.ID == 0 {
		return fmt.Errorf("export %s: id 0 is reserved for the pseudo filesystem", e.Pseudo)
	}
	if _, dup := t.byID[e.ID]; dup {
		return fmt.Errorf("export %s: duplicate export id %d", e.Pseudo, e.ID)
	}
	if _, dup := t.byPseudo[e.Pseudo]; dup {
		return fmt.Errorf("export %s: duplicate pseudo path", e.Pseudo)
	}
	t.byID[e.ID] = e
	t.byPseudo[e.Pseudo] = e
	t.list = append(t.list, e)
	return nil
}

// exportAbove returns an export whose pseudo path is a proper ancestor of
// the clean path p, or nil. It slices p rather than calling path.Dir, so
// that checking 15,000 exports allocates nothing.
func (t *Table) exportAbove(p string) *Export {
	for p != "/" {
		i := strings.LastIndexByte(p, '/')
		if i <= 0 {
			p = "/"
		} else {
			p = p[:i]
		}
		if o, ok := t.byPseudo[p]; ok {
			return o
		}
	}
	return nil
}

// With returns a new table holding t's exports and e, or an error when e
// clashes with one of them (same id or pseudo path, or nested). t is left
// as it is, so requests running on it are undisturbed.
func (t *Table) With(e *Export) (*Table, error) {
	e.Pseudo = CleanPseudo(e.Pseudo)
	n := &Table{byID: maps.Clone(t.byID), byPseudo: maps.Clone(t.byPseudo),
		list: append(make([]*Export, 0, len(t.list)+1), t.list...)}
	if err := n.add(e); err != nil {
		return nil, err
	}
	if o := n.exportAbove(e.Pseudo); o != nil {
		return nil, fmt.Errorf("export %s would be nested inside export %s", e.Pseudo, o.Pseudo)
	}
	// An export below e would be hidden by it: the pseudo tree of t has a
	// directory at e's path exactly when some export lies below it.
	if pn := t.pseudoByID[pseudoID(e.Pseudo)]; pn != nil && pn.Path == e.Pseudo && len(pn.Children) > 0 {
		return nil, fmt.Errorf("export %s would contain other exports (e.g. %s)", e.Pseudo, firstExportBelow(pn).Pseudo)
	}
	n.pseudoRoot, n.pseudoByID = t.pseudoRoot, maps.Clone(t.pseudoByID)
	n.pseudoAdd(e)
	return n, nil
}

func firstExportBelow(n *PseudoNode) *Export {
	for n.Export == nil && len(n.Children) > 0 {
		n = n.Children[0]
	}
	return n.Export
}

// Without returns a new table holding t's exports but the one with id, and
// that export; the error wraps ErrNoExport when there is none.
func (t *Table) Without(id uint16) (*Table, *Export, error) {
	e := t.byID[id]
	if e == nil {
		return nil, nil, fmt.Errorf("export id %d: %w", id, ErrNoExport)
	}
	n := &Table{byID: maps.Clone(t.byID), byPseudo: maps.Clone(t.byPseudo), list: make([]*Export, 0, len(t.list))}
	delete(n.byID, id)
	delete(n.byPseudo, e.Pseudo)
	for _, o := range t.list {
		if o != e {
			n.list = append(n.list, o)
		}
	}
	n.pseudoRoot, n.pseudoByID = t.pseudoRoot, maps.Clone(t.pseudoByID)
	n.pseudoRemove(e)
	return n, e, nil
}

// ErrNoExport is returned for an export id the table does not hold.
var ErrNoExport = errors.New("no such export")

// ByID returns the export with id, or nil.
func (t *Table) ByID(id uint16) *Export { return t.byID[id] }

// ByPseudo returns the export at a clean pseudo path, or nil.
func (t *Table) ByPseudo(p string) *Export { return t.byPseudo[p] }

// All returns the exports in configuration order.
func (t *Table) All() []*Export { return t.list }

// Registry publishes the current table. Readers Load it without a lock;
// writers go through Update, one at a time, so two concurrent changes
// cannot both start from the same table and lose one of them.
type Registry struct {
	cur     atomic.Pointer[Table]
	wmu     sync.Mutex
	version atomic.Uint64 // tables stored since NewRegistry
}

// NewRegistry returns a registry serving t.
func NewRegistry(t *Table) *Registry {
	r := &Registry{}
	r.cur.Store(t)
	return r
}

// Load returns the current table.
func (r *Registry) Load() *Table { return r.cur.Load() }

// Store replaces the current table.
func (r *Registry) Store(t *Table) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.cur.Store(t)
	r.version.Add(1)
}

// Version counts the tables that replaced the first one (Store, Update):
// 0 until the exports first change.
func (r *Registry) Version() uint64 { return r.version.Load() }

// Update replaces the current table with what fn makes of it; when fn
// fails nothing changes. Calls are serialised with each other and with
// Store; readers are never blocked.
func (r *Registry) Update(fn func(cur *Table) (*Table, error)) (*Table, error) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	n, err := fn(r.cur.Load())
	if err != nil {
		return nil, err
	}
	r.cur.Store(n)
	r.version.Add(1)
	return n, nil
}
