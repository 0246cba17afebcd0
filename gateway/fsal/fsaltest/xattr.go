package fsaltest

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"syscall"
	"testing"

	"nfsgw/gateway/fsal"
)

// testXattrs checks fsal.Xattrer: the set modes, errors, listing, the
// change attribute, permissions as the caller, and that the backend's own
// bookkeeping attribute (an exclusive create's verifier) stays hidden.
func testXattrs(t *testing.T, e *env) {
	x, ok := e.fs.(fsal.Xattrer)
	if !ok {
		t.Skip("backend does not implement fsal.Xattrer")
	}
	f := e.create(root, e.root, "f", 0o644)
	get := func(c *fsal.Cred, h fsal.Handle, name string) ([]byte, error) {
		return x.GetXattr(e.ctx, c, h, name)
	}
	set := func(c *fsal.Cred, h fsal.Handle, name, value string, mode fsal.XattrSetMode) error {
		return x.SetXattr(e.ctx, c, h, name, []byte(value), mode)
	}

	_, err := get(root, f, "a")
	wantErr(t, "GetXattr of a missing xattr", err, syscall.ENODATA)
	before := e.getattr(f).Change
	if err := set(root, f, "a", "v1", fsal.XattrCreate); err != nil {
		t.Fatalf("SetXattr create: %v", err)
	}
	if after := e.getattr(f).Change; after <= before {
		t.Fatalf("change attribute %d -> %d across SetXattr", before, after)
	}
	wantErr(t, "SetXattr create of an existing xattr", set(root, f, "a", "v", fsal.XattrCreate), syscall.EEXIST)
	wantErr(t, "SetXattr replace of a missing xattr", set(root, f, "b", "v", fsal.XattrReplace), syscall.ENODATA)
	if err := set(root, f, "a", "v2", fsal.XattrReplace); err != nil {
		t.Fatalf("SetXattr replace: %v", err)
	}
	if err := set(root, f, "b", "", fsal.XattrEither); err != nil {
		t.Fatalf("SetXattr of an empty value: %v", err)
	}
	if v, err := get(root, f, "a"); err != nil || string(v) != "v2" {
		t.Fatalf("GetXattr: %q, %v", v, err)
	}
	if v, err := get(root, f, "b"); err != nil || len(v) != 0 {
		t.Fatalf("GetXattr of an empty value: %q, %v", v, err)
	}
	big := bytes.Repeat([]byte{'x'}, 3000)
	if err := x.SetXattr(e.ctx, root, f, "big", big, fsal.XattrEither); err != nil {
		t.Fatalf("SetXattr of 3000 bytes: %v", err)
	}
	if v, err := get(root, f, "big"); err != nil || !bytes.Equal(v, big) {
		t.Fatalf("GetXattr of 3000 bytes: %d bytes, %v", len(v), err)
	}
	names, err := x.ListXattrs(e.ctx, root, f)
	slices.Sort(names)
	if err != nil || !slices.Equal(names, []string{"a", "b", "big"}) {
		t.Fatalf("ListXattrs: %q, %v", names, err)
	}

	// Bounds.
	wantErr(t, "SetXattr of an over-long name",
		set(root, f, strings.Repeat("n", fsal.MaxXattrName-len(fsal.XattrPrefix)+1), "v", fsal.XattrEither), syscall.ENAMETOOLONG)
	wantErr(t, "SetXattr of an over-large value",
		x.SetXattr(e.ctx, root, f, "huge", make([]byte, fsal.MaxXattrValue+1), fsal.XattrEither), syscall.E2BIG)
	wantErr(t, "SetXattr of an empty name", set(root, f, "", "v", fsal.XattrEither), syscall.EINVAL)

	// Permissions are the caller's: read access to get, write access to
	// change.
	if v, err := get(user1, f, "a"); err != nil || string(v) != "v2" {
		t.Fatalf("GetXattr by another user of a 0644 file: %q, %v", v, err)
	}
	wantErr(t, "SetXattr by another user of a 0644 file", set(user1, f, "a", "w", fsal.XattrEither), syscall.EACCES, syscall.EPERM)
	wantErr(t, "RemoveXattr by another user of a 0644 file", x.RemoveXattr(e.ctx, user1, f, "a"), syscall.EACCES, syscall.EPERM)
	p := e.create(root, e.root, "private", 0o600)
	if err := set(root, p, "a", "v", fsal.XattrEither); err != nil {
		t.Fatal(err)
	}
	_, err = get(user1, p, "a")
	wantErr(t, "GetXattr by another user of a 0600 file", err, syscall.EACCES)
	own := e.create(user1, e.mkdir(root, e.root, "pub", 0o777), "own", 0o600)
	if err := set(user1, own, "mine", "v", fsal.XattrCreate); err != nil {
		t.Fatalf("SetXattr by the owner: %v", err)
	}

	// Directories carry xattrs too.
	d := e.mkdir(root, e.root, "d", 0o755)
	if err := set(root, d, "dir", "v", fsal.XattrEither); err != nil {
		t.Fatalf("SetXattr on a directory: %v", err)
	}
	if names, err := x.ListXattrs(e.ctx, root, d); err != nil || !slices.Equal(names, []string{"dir"}) {
		t.Fatalf("ListXattrs of a directory: %q, %v", names, err)
	}

	// A symlink's xattrs are its own (Linux refuses user xattrs on
	// symlinks): nothing reaches the target, which could lie outside the
	// export.
	l, _, err := e.fs.Symlink(e.ctx, root, e.root, "link", "f", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := set(root, l, "vialink", "v", fsal.XattrEither); err == nil {
		if names, _ := x.ListXattrs(e.ctx, root, l); !slices.Equal(names, []string{"vialink"}) {
			t.Fatalf("ListXattrs of the symlink: %q", names)
		}
	}
	if _, err := get(root, f, "vialink"); !errors.Is(err, syscall.ENODATA) {
		t.Fatalf("SetXattr on a symlink reached its target: %v", err)
	}
	if v, err := get(root, l, "a"); err == nil {
		t.Fatalf("GetXattr on a symlink read its target's xattr: %q", v)
	}

	// Remove.
	before = e.getattr(f).Change
	if err := x.RemoveXattr(e.ctx, root, f, "a"); err != nil {
		t.Fatalf("RemoveXattr: %v", err)
	}
	if after := e.getattr(f).Change; after <= before {
		t.Fatalf("change attribute %d -> %d across RemoveXattr", before, after)
	}
	wantErr(t, "RemoveXattr of a missing xattr", x.RemoveXattr(e.ctx, root, f, "a"), syscall.ENODATA)
	_, err = get(root, f, "a")
	wantErr(t, "GetXattr after RemoveXattr", err, syscall.ENODATA)

	// An exclusive create's verifier is no client's business.
	ex, _, _, err := e.fs.Create(e.ctx, root, e.root, "excl", fsal.Exclusive, nil, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if names, err := x.ListXattrs(e.ctx, root, ex); err != nil || len(names) != 0 {
		t.Fatalf("ListXattrs of an exclusively created file: %q, %v", names, err)
	}
	_, err = get(root, ex, "nfsgw.verf")
	wantErr(t, "GetXattr of the verifier", err, syscall.ENODATA)
	wantErr(t, "SetXattr of the verifier", set(root, ex, "nfsgw.verf", "x", fsal.XattrEither), syscall.EPERM)
	wantErr(t, "RemoveXattr of the verifier", x.RemoveXattr(e.ctx, root, ex, "nfsgw.verf"), syscall.EPERM)
	if _, _, existed, err := e.fs.Create(e.ctx, root, e.root, "excl", fsal.Exclusive, nil, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}); err != nil || !existed {
		t.Fatalf("exclusive create retried: existed=%v, %v", existed, err)
	}
}

// testAllocate checks fsal.Allocator: a range past the end extends the
// file with zeros, one inside leaves the size alone, and only files open
// for writing may allocate.
func testAllocate(t *testing.T, e *env) {
	h := e.create(root, e.root, "f", 0o644)
	e.writeFile(root, h, []byte("head"))
	f := e.open(root, h, fsal.OpenWrite)
	a, ok := f.(fsal.Allocator)
	if !ok {
		t.Skip("backend files do not implement fsal.Allocator")
	}
	if err := a.Allocate(e.ctx, 0, 1<<20); err != nil {
		t.Fatalf("Allocate: %v", err)
	}
	if sz := e.getattr(h).Size; sz != 1<<20 {
		t.Fatalf("size after Allocate: %d", sz)
	}
	if err := a.Allocate(e.ctx, 100, 100); err != nil {
		t.Fatalf("Allocate inside the file: %v", err)
	}
	if sz := e.getattr(h).Size; sz != 1<<20 {
		t.Fatalf("size after Allocate inside the file: %d", sz)
	}
	want := make([]byte, 1<<20)
	copy(want, "head")
	if got := e.readFile(root, h); !bytes.Equal(got, want) {
		t.Fatalf("contents after Allocate: %d bytes, head %q", len(got), got[:min(8, len(got))])
	}
	wantErr(t, "Allocate of an empty range", a.Allocate(e.ctx, 0, 0), syscall.EINVAL)
	wantErr(t, "Allocate past 2^63", a.Allocate(e.ctx, 1<<62, 1<<62), syscall.EFBIG)
	r := e.open(root, h, fsal.OpenRead)
	if ra, ok := r.(fsal.Allocator); ok {
		wantErr(t, "Allocate through a read-only file", ra.Allocate(e.ctx, 0, 1<<21), syscall.EBADF)
	}
}
