package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"nfsgw/gateway/admin"
)

// fakeExports adds export changes to fakeProvider.
type fakeExports struct {
	*fakeProvider
	mu      sync.Mutex
	added   []admin.ExportConfig
	removed []uint16
}

func (f *fakeExports) AddExport(c admin.ExportConfig) (admin.ExportInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c.ID == 1 {
		return admin.ExportInfo{}, fmt.Errorf("id 1 is /data: %w", admin.ErrConflict)
	}
	f.added = append(f.added, c)
	sq := c.Squash
	return admin.ExportInfo{ID: c.ID, Pseudo: c.Pseudo, Path: c.Path, Access: c.Access, Squash: sq, Clients: c.Clients}, nil
}

func (f *fakeExports) RemoveExport(id uint16) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != 22 {
		return fmt.Errorf("export %d: %w", id, admin.ErrNotFound)
	}
	f.removed = append(f.removed, id)
	return nil
}

func TestExportAdd(t *testing.T) {
	f := &fakeExports{fakeProvider: newFake()}
	addr := serve(t, f)
	code, out, errs := ctl(t, "--addr", addr, "export", "add", "--id", "300", "--pseudo", "/p/q", "--path", "/srv/q",
		"--access", "ro", "--squash", "all", "--client", "10.0.0.0/8", "--client", "192.168.1.7", "--anon-uid", "500")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if out != "added export 300: /p/q -> /srv/q (ro, squash all)\n" {
		t.Fatalf("output %q", out)
	}
	if len(f.added) != 1 {
		t.Fatal("not added")
	}
	got := f.added[0]
	if got.ID != 300 || got.Pseudo != "/p/q" || got.Path != "/srv/q" || got.Access != "ro" || got.Squash != "all" ||
		strings.Join(got.Clients, ",") != "10.0.0.0/8,192.168.1.7" || got.AnonUID == nil || *got.AnonUID != 500 || got.AnonGID != nil {
		t.Fatalf("the gateway got %+v", got)
	}

	code, out, _ = ctl(t, "--addr", addr, "--json", "export", "add", "--id", "301", "--pseudo", "/r", "--path", "/srv/r")
	if code != exitOK || !strings.Contains(out, `"id": 301`) || !strings.Contains(out, `"clients": []`) {
		t.Fatalf("json add: %d %q", code, out)
	}
	if f.added[1].Squash != "root" || f.added[1].Access != "rw" {
		t.Fatalf("defaults: %+v", f.added[1])
	}

	code, _, errs = ctl(t, "--addr", addr, "export", "add", "--id", "1", "--pseudo", "/x", "--path", "/x")
	if code != exitFail || !strings.Contains(errs, "export add:") || !strings.Contains(errs, "AlreadyExists") {
		t.Fatalf("conflict: %d %q", code, errs)
	}
}

func TestExportRemove(t *testing.T) {
	f := &fakeExports{fakeProvider: newFake()}
	addr := serve(t, f)
	code, out, errs := ctl(t, "--addr", addr, "export", "remove", "--id", "22")
	if code != exitOK || out != "removed export 22\n" || len(f.removed) != 1 {
		t.Fatalf("remove: %d %q %q", code, out, errs)
	}
	code, _, errs = ctl(t, "--addr", addr, "export", "remove", "--id", "23")
	if code != exitFail || !strings.Contains(errs, "NotFound") {
		t.Fatalf("remove missing: %d %q", code, errs)
	}
}

func TestExportUsage(t *testing.T) {
	for _, args := range [][]string{
		{"export"},
		{"export", "rename"},
		{"export", "add", "--id", "3", "--pseudo", "/x"},
		{"export", "add", "--id", "0", "--pseudo", "/x", "--path", "/x"},
		{"export", "add", "--id", "70000", "--pseudo", "/x", "--path", "/x"},
		{"export", "remove"},
		{"export", "remove", "--id", "3", "extra"},
		{"export", "add", "--id", "3", "--pseudo", "/x", "--path", "/x", "--anon-uid", "x"},
	} {
		if code, _, _ := ctl(t, append([]string{"--addr", "127.0.0.1:1"}, args...)...); code != exitUsage {
			t.Errorf("%q: exit %d, want %d", args, code, exitUsage)
		}
	}
}

func TestExportUnimplemented(t *testing.T) {
	addr := serve(t, newFake())
	code, _, errs := ctl(t, "--addr", addr, "export", "remove", "--id", "22")
	if code != exitFail || !strings.Contains(errs, "Unimplemented") {
		t.Fatalf("%d %q", code, errs)
	}
}
