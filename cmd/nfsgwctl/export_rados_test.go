//go:build !noceph

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestExportRADOS: add, update, list and remove on the cluster's export
// table, and the refusals of the local validation.
func TestExportRADOS(t *testing.T) {
	g := newGraceNS(t)
	loc := []string{"--pool", g.pool, "--ns", g.ns}
	x := func(args ...string) (int, string, string) {
		t.Helper()
		return ctl(t, append(append([]string{"export"}, args[:1]...), append(loc, args[1:]...)...)...)
	}
	if code, _, errs := x("list"); code != exitFail || !strings.Contains(errs, "export table does not exist") {
		t.Fatalf("list of no table: %d %s", code, errs)
	}
	code, out, errs := x("add", "--id", "10", "--pseudo", "/a", "--path", "ceph:/a", "--no-dir-check")
	if code != exitOK || !strings.Contains(out, "added export 10: /a -> ceph:/a (rw, squash root; table generation 1)") {
		t.Fatalf("add: %d %q %s", code, out, errs)
	}
	for name, args := range map[string][]string{
		"duplicate id":     {"add", "--id", "10", "--pseudo", "/b", "--path", "ceph:/b", "--no-dir-check"},
		"duplicate pseudo": {"add", "--id", "11", "--pseudo", "/a", "--path", "ceph:/b", "--no-dir-check"},
		"nested pseudo":    {"add", "--id", "11", "--pseudo", "/a/b", "--path", "ceph:/b", "--no-dir-check"},
		"local path":       {"add", "--id", "11", "--pseudo", "/l", "--path", "/srv/l"},
		"update unknown":   {"update", "--id", "12", "--access", "ro"},
		"remove unknown":   {"remove", "--id", "12"},
	} {
		if code, _, errs := x(args...); code != exitFail {
			t.Errorf("%s: exit %d (%s), want refused", name, code, errs)
		}
	}
	code, out, errs = x("update", "--id", "10", "--access", "ro", "--client", "10.0.0.0/8")
	if code != exitOK || !strings.Contains(out, "updated export 10: /a -> ceph:/a (ro, squash root; table generation 2)") {
		t.Fatalf("update: %d %q %s", code, out, errs)
	}
	code, out, _ = ctl(t, append([]string{"--json", "export", "list"}, loc...)...)
	var l struct {
		Generation uint64
		Exports    []struct {
			ID      int      `json:"id"`
			Access  string   `json:"access"`
			Clients []string `json:"clients"`
		}
	}
	if err := json.Unmarshal([]byte(out), &l); code != exitOK || err != nil || l.Generation != 2 || len(l.Exports) != 1 ||
		l.Exports[0].Access != "ro" || l.Exports[0].Clients[0] != "10.0.0.0/8" {
		t.Fatalf("list --json: %d %v %s", code, err, out)
	}
	code, out, _ = x("list")
	if ls := lines(out); code != exitOK || len(ls) != 3 || ls[2] != "10 /a ceph:/a ro root 10.0.0.0/8" {
		t.Fatalf("list:\n%s", out)
	}
	if code, out, errs := x("remove", "--id", "10"); code != exitOK || out != "removed export 10 (table generation 3)\n" {
		t.Fatalf("remove: %d %q %s", code, out, errs)
	}
	if code, out, _ := x("init"); code != exitOK || !strings.Contains(out, "export table exists") {
		t.Fatalf("init of an existing table: %d %q", code, out)
	}
}

// TestExportRADOSDirCheck: add refuses a directory that is not on CephFS,
// with a real mount of the test cluster's CephFS.
func TestExportRADOSDirCheck(t *testing.T) {
	if os.Getenv("CEPH_FS") == "" {
		t.Skip("CEPH_FS unset: no CephFS on the test cluster")
	}
	g := newGraceNS(t)
	missing := fmt.Sprintf("ceph:/nfsgwctl-missing-%s", g.ns)
	code, _, errs := ctl(t, "export", "add", "--pool", g.pool, "--ns", g.ns, "--id", "1", "--pseudo", "/m", "--path", missing)
	if code != exitFail || !strings.Contains(errs, "on CephFS") {
		t.Fatalf("missing directory: exit %d: %s", code, errs)
	}
	code, out, errs := ctl(t, "export", "add", "--pool", g.pool, "--ns", g.ns, "--id", "1", "--pseudo", "/root", "--path", "ceph:/")
	if code != exitOK {
		t.Fatalf("CephFS root: exit %d: %s %s", code, out, errs)
	}
}

func TestExportArgsRADOS(t *testing.T) {
	for _, args := range [][]string{
		{"export", "list"},
		{"export", "update", "--id", "3", "--access", "ro"},
		{"export", "init"},
		{"export", "add", "--id", "3", "--pseudo", "/x", "--path", "ceph:/x", "--ns", "n"},
		{"export", "update", "--pool", "p", "--id", "3"},
		{"export", "list", "--pool", "p", "--id", "3"},
	} {
		if code, _, _ := ctl(t, args...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}
