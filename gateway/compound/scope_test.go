package compound

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/xdr"
)

// scopeFS records the request Scope each LOOKUP is given.
type scopeFS struct {
	*localfs.FS
	seen []*fsal.Scope
}

func (s *scopeFS) LookupHandle(ctx context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, error) {
	s.seen = append(s.seen, fsal.ScopeOf(ctx))
	return s.FS.LookupHandle(ctx, c, dir, name)
}

// TestRequestScope: the operations of one COMPOUND share one fsal.Scope,
// each COMPOUND gets its own, and a REMOVE followed by a LOOKUP of the same
// name in one COMPOUND finds it gone although the LOOKUP cache held it.
func TestRequestScope(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "d", "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	lfs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := &scopeFS{FS: lfs}
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: fs, Squash: export.SquashNone}})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{
		Exports: export.NewRegistry(tbl),
		State:   nfs4state.NewManager(nfs4state.Config{Lease: 5 * time.Second}),
	})

	walk := func(last uint32, lastName string) nfs4.Status {
		args := compoundArgs(0, 5, func(e *xdr.Encoder) {
			e.Uint32(nfs4.OpPutRootFH)
			for _, n := range []string{"export", "d"} {
				e.Uint32(nfs4.OpLookup)
				e.String(n)
			}
			e.Uint32(last)
			e.String(lastName)
			e.Uint32(nfs4.OpLookup)
			e.String("f")
		})
		st, _, _ := call(t, s, args)
		return st
	}

	// LOOKUP d, LOOKUP f, LOOKUP f: the cache is filled and used.
	if st := walk(nfs4.OpLookup, "f"); st != nfs4.ErrNotdir {
		// f is a file: the second LOOKUP f fails on it, after two
		// LOOKUPs of the export went through the backend.
		t.Fatalf("status %v, want NOTDIR", st)
	}
	first := append([]*fsal.Scope(nil), fs.seen...)
	if len(first) < 2 || first[0] == nil {
		t.Fatalf("scopes seen: %v", first)
	}
	for _, sc := range first {
		if sc != first[0] {
			t.Fatal("operations of one COMPOUND saw different scopes")
		}
	}

	// REMOVE f, then LOOKUP f in the same COMPOUND.
	fs.seen = nil
	if st := walk(nfs4.OpRemove, "f"); st != nfs4.ErrNoent {
		t.Fatalf("LOOKUP after REMOVE in one COMPOUND: status %v, want NOENT", st)
	}
	if len(fs.seen) == 0 || fs.seen[0] == first[0] {
		t.Fatal("a second COMPOUND reused the first one's scope")
	}
}
