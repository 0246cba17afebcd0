// Package export holds the export table: which backend subtree is served
// under which pseudo path, to whom, and with which identity mapping. The
// table is immutable once built and swapped atomically, so the hot path
// reads it without a lock and an export change never stalls requests.
package export

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
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
// export nested inside another export's pseudo path.
func NewTable(exports []*Export) (*Table, error) {
	t := &Table{byID: make(map[uint16]*Export, len(exports)), byPseudo: make(map[string]*Export, len(exports))}
	for _, e := range exports {
		e.Pseudo = CleanPseudo(e.Pseudo)
		if e.ID == 0 {
			return nil, fmt.Errorf("export %s: id 0 is reserved for the pseudo filesystem", e.Pseudo)
		}
		if _, dup := t.byID[e.ID]; dup {
			return nil, fmt.Errorf("export %s: duplicate export id %d", e.Pseudo, e.ID)
		}
		if _, dup := t.byPseudo[e.Pseudo]; dup {
			return nil, fmt.Errorf("export %s: duplicate pseudo path", e.Pseudo)
		}
		t.byID[e.ID] = e
		t.byPseudo[e.Pseudo] = e
		t.list = append(t.list, e)
	}
	// A pseudo path below another export would hide part of that export;
	// refuse it rather than serve something surprising.
	for _, e := range t.list {
		for p := path.Dir(e.Pseudo); ; p = path.Dir(p) {
			if o, ok := t.byPseudo[p]; ok && o != e {
				return nil, fmt.Errorf("export %s is nested inside export %s", e.Pseudo, o.Pseudo)
			}
			if p == "/" {
				break
			}
		}
	}
	t.buildPseudo()
	return t, nil
}

// ByID returns the export with id, or nil.
func (t *Table) ByID(id uint16) *Export { return t.byID[id] }

// ByPseudo returns the export at a clean pseudo path, or nil.
func (t *Table) ByPseudo(p string) *Export { return t.byPseudo[p] }

// All returns the exports in configuration order.
func (t *Table) All() []*Export { return t.list }

// Registry publishes the current table.
type Registry struct {
	cur atomic.Pointer[Table]
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
func (r *Registry) Store(t *Table) { r.cur.Store(t) }
