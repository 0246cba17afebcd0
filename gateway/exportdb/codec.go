// Package exportdb keeps a cluster's export table in RADOS: one object
// whose omap holds one key per export, shared by every gateway of the
// cluster and changed only with a version-asserted write (docs/cluster.md,
// "Exports in RADOS").
//
// # The table object (default name "nfsgw.exports")
//
// Data: 8 bytes, the table's generation as a little-endian uint64, one
// more after every change (informational: what a write asserts is the
// object's RADOS version). Omap: one key per export, its id as five
// decimal digits ("00042", so that keys sort by id); the value is the
// export as JSON (config.Export's fields, unknown fields refused), at most
// MaxValueBytes. Nothing else is in that omap.
//
// Every change reads data and omap at one object version, applies a
// Mutation, checks the result as the gateway checks its configuration file
// (ids, duplicate and nested pseudo paths, CephFS paths only), and writes
// only the keys that changed with that version asserted: a writer that lost
// a race reads again and re-applies its change, so two administrators
// racing never lose an update. The write is followed by a notify on the
// object; every gateway watches it and re-reads the table.
package exportdb

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"nfsgw/gateway/config"
)

// DefaultObject is the table object's name.
const DefaultObject = "nfsgw.exports"

// MaxValueBytes bounds one export's encoded value.
const MaxValueBytes = 4096

// ErrNoTable: the table object does not exist.
var ErrNoTable = errors.New("export table does not exist (create it with `nfsgwctl export init` or add an export)")

// ErrRefused: a change the table's rules refuse (a duplicate id, a
// duplicate or nested pseudo path, an invalid export); nothing is written.
var ErrRefused = errors.New("refused")

// ErrNotFound: no export with that id.
var ErrNotFound = errors.New("no such export")

// ErrCorrupt: what is stored is not an export table.
var ErrCorrupt = errors.New("corrupt export table")

// Table is the export table as read at one object version.
type Table struct {
	// Version is the RADOS object version it was read at.
	Version uint64
	// Gen is the generation stored in the object's data.
	Gen uint64
	// Exports, ordered by id.
	Exports []config.Export
}

// ByID returns the export with id, or nil.
func (t *Table) ByID(id int) *config.Export {
	for i := range t.Exports {
		if t.Exports[i].ID == id {
			return &t.Exports[i]
		}
	}
	return nil
}

// Key is the omap key of export id.
func Key(id int) string { return fmt.Sprintf("%05d", id) }

// EncodeExport is an export's omap value.
func EncodeExport(e config.Export) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxValueBytes {
		return nil, fmt.Errorf("%w: export %d encodes to %d bytes (at most %d)", ErrRefused, e.ID, len(b), MaxValueBytes)
	}
	return b, nil
}

// DecodeExport decodes the omap entry key, value.
func DecodeExport(key string, v []byte) (config.Export, error) {
	var e config.Export
	if len(v) > MaxValueBytes {
		return e, fmt.Errorf("%w: key %q: value of %d bytes (at most %d)", ErrCorrupt, key, len(v), MaxValueBytes)
	}
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&e); err != nil {
		return e, fmt.Errorf("%w: key %q: %v", ErrCorrupt, key, err)
	}
	if n, err := strconv.Atoi(key); err != nil || Key(n) != key || n != e.ID {
		return e, fmt.Errorf("%w: key %q holds export id %d", ErrCorrupt, key, e.ID)
	}
	return e, nil
}

func encodeGen(g uint64) []byte { return binary.LittleEndian.AppendUint64(nil, g) }

func decodeGen(b []byte) (uint64, error) {
	switch len(b) {
	case 0:
		return 0, nil
	case 8:
		return binary.LittleEndian.Uint64(b), nil
	}
	return 0, fmt.Errorf("%w: %d bytes of data, want 8 (the generation)", ErrCorrupt, len(b))
}

// Check fills in the defaults of every export and checks the list as the
// gateway checks its configuration file's exports: ids 1..65535, pseudo
// and path given, no duplicate id, no duplicate or nested pseudo path,
// valid access, squash and client networks. An export in the table must
// be on CephFS (ceph:/PATH): every gateway serves it.
func Check(list []config.Export) ([]config.Export, error) {
	if len(list) == 0 {
		return nil, nil
	}
	c := config.Config{Exports: slices.Clone(list), NodeID: "check", Admin: "none", StateDir: config.StateDirNone}
	for _, e := range list {
		if e.ID < 1 || e.ID > 65535 {
			return nil, fmt.Errorf("export %q: id %d out of range 1..65535", e.Pseudo, e.ID)
		}
		if _, ok := e.CephPath(); !ok {
			return nil, fmt.Errorf("export %d: path %q is not on CephFS (ceph:/PATH): every gateway of the cluster serves it", e.ID, e.Path)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c.Exports, nil
}

// A Mutation is one change of the table: it gets the current exports and
// returns the new ones (nil error) or refuses.
type Mutation interface {
	Apply(cur []config.Export) ([]config.Export, error)
	String() string
}

// Add adds an export; its id must be new.
type Add struct{ Export config.Export }

func (a Add) Apply(cur []config.Export) ([]config.Export, error) {
	for _, e := range cur {
		if e.ID == a.Export.ID {
			return nil, fmt.Errorf("%w: id %d is export %s", ErrRefused, e.ID, e.Pseudo)
		}
	}
	return checked(append(slices.Clone(cur), a.Export))
}

func (a Add) String() string { return fmt.Sprintf("add export %d", a.Export.ID) }

// Update replaces the export with the same id.
type Update struct{ Export config.Export }

func (u Update) Apply(cur []config.Export) ([]config.Export, error) {
	next := slices.Clone(cur)
	for i, e := range next {
		if e.ID == u.Export.ID {
			next[i] = u.Export
			return checked(next)
		}
	}
	return nil, fmt.Errorf("export id %d: %w", u.Export.ID, ErrNotFound)
}

func (u Update) String() string { return fmt.Sprintf("update export %d", u.Export.ID) }

// Remove removes the export with ID.
type Remove struct{ ID int }

func (r Remove) Apply(cur []config.Export) ([]config.Export, error) {
	for i, e := range cur {
		if e.ID == r.ID {
			return slices.Delete(slices.Clone(cur), i, i+1), nil
		}
	}
	return nil, fmt.Errorf("export id %d: %w", r.ID, ErrNotFound)
}

func (r Remove) String() string { return fmt.Sprintf("remove export %d", r.ID) }

// Func is a Mutation from a function (tests, bulk loads).
type Func struct {
	Name string
	F    func(cur []config.Export) ([]config.Export, error)
}

func (f Func) Apply(cur []config.Export) ([]config.Export, error) { return f.F(cur) }
func (f Func) String() string                                     { return f.Name }

func checked(list []config.Export) ([]config.Export, error) {
	out, err := Check(list)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrRefused, err)
	}
	return out, nil
}

// maxChangeKeys bounds the keys a notify lists; a larger change makes
// watchers read the whole table.
const maxChangeKeys = 256

// Change is the payload of the notify that follows a write: the object
// version the write asserted (From), the one it produced (To), and the omap
// keys it set or removed. A watcher serving exactly From reads just those
// keys at exactly To (Store.ReadKeys); any other watcher, or a Change
// without keys, reads the whole table.
type Change struct {
	From uint64   `json:"from"`
	To   uint64   `json:"to"`
	Keys []string `json:"keys,omitempty"`
}

func (c *Change) encode() []byte {
	b, _ := json.Marshal(c)
	return b
}

// ParseChange decodes a notify payload; nil when it is not a Change with
// keys (a watch set up again, a notify from elsewhere).
func ParseChange(b []byte) *Change {
	var c Change
	if len(b) == 0 || json.Unmarshal(b, &c) != nil || c.To == 0 || len(c.Keys) == 0 || len(c.Keys) > maxChangeKeys {
		return nil
	}
	return &c
}

// KeyID is the export id of an omap key (0 when it is not one).
func KeyID(k string) int {
	n, err := strconv.Atoi(k)
	if err != nil || Key(n) != k {
		return 0
	}
	return n
}

// diff is what turns the stored exports old into next: the omap keys to
// set (new or changed values) and to remove.
func diff(old, next []config.Export) (set map[string][]byte, rm []string, err error) {
	was := make(map[int][]byte, len(old))
	for _, e := range old {
		b, err := json.Marshal(e)
		if err != nil {
			return nil, nil, err
		}
		was[e.ID] = b
	}
	set = map[string][]byte{}
	seen := make(map[int]bool, len(next))
	for _, e := range next {
		if seen[e.ID] {
			return nil, nil, fmt.Errorf("%w: id %d twice", ErrRefused, e.ID)
		}
		seen[e.ID] = true
		b, err := EncodeExport(e)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(was[e.ID], b) {
			set[Key(e.ID)] = b
		}
	}
	for _, e := range old {
		if !seen[e.ID] {
			rm = append(rm, Key(e.ID))
		}
	}
	return set, rm, nil
}
