package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/config"
)

// TestApplyChanges: the changes of a cluster's export table are applied in
// one swap; a replaced export keeps its state, a removed one has it
// released; an export that cannot be opened or clashes is left out without
// holding up the others; the admin API refuses changes.
func TestApplyChanges(t *testing.T) {
	m, p, root := newTestManager(t, 3)
	m.fromRADOS = true
	var released []uint16
	m.release = func(id uint16) int { released = append(released, id); return 1 }
	for _, d := range []string{"n1", "n2"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e1 := m.reg.Load().ByID(1)
	changed := []config.Export{
		{ID: 1, Pseudo: "/e1", Path: e1.Path, Access: "ro"},                   // replaced
		{ID: 10, Pseudo: "/n1", Path: filepath.Join(root, "n1")},              // added
		{ID: 11, Pseudo: "/missing", Path: filepath.Join(root, "missing")},    // cannot be opened
		{ID: 12, Pseudo: "/e2/inside", Path: filepath.Join(root, "n2")},       // nested in /e2
		{ID: 2, Pseudo: "/e2", Path: m.reg.Load().ByID(2).Path, Access: "rw"}, // unchanged
	}
	added, removed, err := m.applyChanges(changed, []uint16{3, 99})
	if err != nil {
		t.Fatal(err)
	}
	if added != 2 || removed != 1 {
		t.Fatalf("added %d, removed %d; want 2 and 1", added, removed)
	}
	tbl := m.reg.Load()
	if e := tbl.ByID(1); e == nil || e == e1 || !e.ReadOnly {
		t.Fatalf("export 1 not replaced: %+v", e)
	}
	if tbl.ByID(10) == nil || tbl.ByID(11) != nil || tbl.ByID(12) != nil || tbl.ByID(3) != nil || tbl.ByID(2) == nil {
		t.Fatalf("table after the changes: %v", p.Exports())
	}
	if len(released) != 1 || released[0] != 3 {
		t.Fatalf("state released for %v, want [3] (a replaced export keeps its state)", released)
	}
	// The clash cleared, the next change serves it.
	if _, _, err := m.applyChanges(nil, []uint16{2}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.applyChanges(changed[3:4], nil); err != nil || m.reg.Load().ByID(12) == nil {
		t.Fatalf("nested export after its parent went: %v", err)
	}
	if _, err := p.AddExport(admin.ExportConfig{ID: 20, Pseudo: "/a", Path: root}); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("admin add with exports in RADOS: %v", err)
	}
	if err := p.RemoveExport(1); !errors.Is(err, admin.ErrInvalid) {
		t.Fatalf("admin remove with exports in RADOS: %v", err)
	}
}
