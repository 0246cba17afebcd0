package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/config"
	"nfsgw/gateway/export"
)

// newTestManager serves n local exports /e1../eN from fresh directories.
func newTestManager(t testing.TB, n int) (*exportManager, *adminProvider, string) {
	t.Helper()
	root := t.TempDir()
	cfg := &config.Config{Listen: []string{"127.0.0.1:0"}}
	for i := 1; i <= n; i++ {
		dir := filepath.Join(root, fmt.Sprint("e", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg.Exports = append(cfg.Exports, config.Export{ID: i, Pseudo: fmt.Sprint("/e", i), Path: dir})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	be := newBackends(cfg, hclog.NewNullLogger())
	t.Cleanup(be.close)
	tbl, err := buildExports(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	m := newExportManager(cfg, be, export.NewRegistry(tbl), hclog.NewNullLogger())
	t.Cleanup(m.stop)
	return m, &adminProvider{cfg: cfg, exports: m.reg, mgr: m}, root
}

func TestAdminAddRemoveExport(t *testing.T) {
	m, p, root := newTestManager(t, 2)
	dir := filepath.Join(root, "new")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	before := m.reg.Load()
	info, err := p.AddExport(admin.ExportConfig{ID: 9, Pseudo: "/x/new/", Path: dir, Access: "ro", Squash: "none"})
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != 9 || info.Pseudo != "/x/new" || info.Access != "ro" || info.Squash != "none" || info.Path != dir {
		t.Fatalf("added %+v", info)
	}
	tbl := m.reg.Load()
	e := tbl.ByPseudo("/x/new")
	if e == nil || e.ID != 9 || !e.ReadOnly || e.FS == nil || tbl.PseudoNodeOf(e) == nil || len(tbl.All()) != 3 {
		t.Fatalf("not served: %+v", e)
	}
	if before.ByID(9) != nil {
		t.Fatal("the old table changed")
	}
	if len(p.Exports()) != 3 {
		t.Fatal("ListExports does not show it")
	}

	for name, c := range map[string]admin.ExportConfig{
		"same id":     {ID: 1, Pseudo: "/other", Path: dir},
		"same pseudo": {ID: 10, Pseudo: "/e1", Path: dir},
		"nested":      {ID: 10, Pseudo: "/e1/sub", Path: dir},
	} {
		if _, err := p.AddExport(c); !errors.Is(err, admin.ErrConflict) {
			t.Errorf("%s: %v, want a conflict", name, err)
		}
	}
	for name, c := range map[string]admin.ExportConfig{
		"no id":      {Pseudo: "/y", Path: dir},
		"no path":    {ID: 10, Pseudo: "/y"},
		"missing":    {ID: 10, Pseudo: "/y", Path: filepath.Join(root, "absent")},
		"bad squash": {ID: 10, Pseudo: "/y", Path: dir, Squash: "some"},
	} {
		if _, err := p.AddExport(c); !errors.Is(err, admin.ErrInvalid) {
			t.Errorf("%s: %v, want invalid", name, err)
		}
	}
	if len(m.reg.Load().All()) != 3 {
		t.Fatal("a refused export changed the table")
	}

	if err := p.RemoveExport(9); err != nil {
		t.Fatal(err)
	}
	if tbl := m.reg.Load(); tbl.ByID(9) != nil || tbl.PseudoRoot().Child("x") != nil || len(tbl.All()) != 2 {
		t.Fatal("not removed")
	}
	if err := p.RemoveExport(9); !errors.Is(err, admin.ErrNotFound) {
		t.Fatalf("remove twice: %v", err)
	}
}

func TestReloadExports(t *testing.T) {
	m, p, root := newTestManager(t, 3)
	for _, d := range []string{"added", "e4"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.AddExport(admin.ExportConfig{ID: 50, Pseudo: "/added", Path: filepath.Join(root, "added")}); err != nil {
		t.Fatal(err)
	}
	kept := m.reg.Load().ByID(1)
	// e1 stays, e2 goes, e3 changes to read-only, e4 is new; the export
	// added through the admin API stays.
	conf := filepath.Join(root, "nfsgw.yaml")
	yaml := fmt.Sprintf(`exports:
  - {id: 1, pseudo: /e1, path: %[1]s/e1}
  - {id: 3, pseudo: /e3, path: %[1]s/e3, access: ro}
  - {id: 4, pseudo: /e4, path: %[1]s/e4}
`, root)
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	added, removed, err := m.reload(conf)
	if err != nil {
		t.Fatal(err)
	}
	if added != 2 || removed != 2 {
		t.Fatalf("added %d removed %d, want 2 and 2 (e3 replaced)", added, removed)
	}
	tbl := m.reg.Load()
	if tbl.ByID(1) != kept {
		t.Fatal("an unchanged export was reopened")
	}
	if tbl.ByID(2) != nil || tbl.ByID(4) == nil || tbl.ByID(50) == nil || !tbl.ByID(3).ReadOnly || len(tbl.All()) != 4 {
		t.Fatalf("after reload: %v", p.Exports())
	}

	// A broken file changes nothing.
	if err := os.WriteFile(conf, []byte("exports:\n  - {id: 1, pseudo: /e1, path: "+root+"/absent}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := m.reload(conf); err == nil {
		t.Fatal("reload of a missing directory succeeded")
	}
	if m.reg.Load() != tbl {
		t.Fatal("a failed reload changed the table")
	}
}

// BenchmarkExportChange15k adds and removes one export while 15,000 are
// served: the work of one nfsgwctl export add + remove in the gateway.
func BenchmarkExportChange15k(b *testing.B) {
	raiseNofileForTest(b, 17000)
	m, p, root := newTestManager(b, 15000)
	dir := filepath.Join(root, "new")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := p.AddExport(admin.ExportConfig{ID: 20000, Pseudo: "/new", Path: dir}); err != nil {
			b.Fatal(err)
		}
		if err := p.RemoveExport(20000); err != nil {
			b.Fatal(err)
		}
	}
	_ = m
}

func raiseNofileForTest(tb testing.TB, n uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		tb.Fatal(err)
	}
	if lim.Max < n {
		tb.Skipf("RLIMIT_NOFILE hard limit %d < %d", lim.Max, n)
	}
	if lim.Cur < n {
		lim.Cur = min(max(lim.Cur, n), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			tb.Skipf("RLIMIT_NOFILE %d needed: %v", n, err)
		}
	}
}

func TestOpenExportsConcurrently(t *testing.T) {
	root := t.TempDir()
	cfg := &config.Config{Listen: []string{"127.0.0.1:0"}}
	for i := 1; i <= 300; i++ {
		dir := filepath.Join(root, fmt.Sprint("e", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		cfg.Exports = append(cfg.Exports, config.Export{ID: 1000 - i, Pseudo: fmt.Sprint("/p/e", i), Path: dir})
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	be := newBackends(cfg, hclog.NewNullLogger())
	t.Cleanup(be.close)
	tbl, err := openExports(cfg, be)
	if err != nil {
		t.Fatal(err)
	}
	all := tbl.All()
	if len(all) != 300 {
		t.Fatalf("%d exports", len(all))
	}
	for i, e := range all { // configuration order, each with its own backend
		if e.ID != uint16(999-i) || e.Pseudo != fmt.Sprint("/p/e", i+1) || e.FS == nil || tbl.PseudoNodeOf(e) == nil {
			t.Fatalf("export %d: %+v", i, e)
		}
	}
	// A clash across parts is still refused.
	cfg.Exports[299].Pseudo = cfg.Exports[0].Pseudo
	if _, err := openExports(cfg, be); err == nil {
		t.Fatal("duplicate pseudo path in different parts accepted")
	}
	cfg.Exports[299].Pseudo = "/p/e300"
	cfg.Exports[150].Path = filepath.Join(root, "absent")
	if _, err := openExports(cfg, be); err == nil {
		t.Fatal("a missing directory accepted")
	}
}
