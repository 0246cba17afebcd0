package compound

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// dial42 connects an NFSv4.2 client to a localfs export and creates the
// file "f" (mode 0644, owned by root) in it.
func dial42(t *testing.T) (cl *nfsclient.Client, dir string, f *nfsclient.OpenFile) {
	t.Helper()
	addr, dir, _ := serveDeleg(t, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := nfsclient.Dial(ctx, addr, nfsclient.Options{MinorVersion: nfsclient.Minor(2)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Abandon)
	root, _, err := cl.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err = cl.Create(ctx, root, "f", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	return cl, dir, f
}

func encName(name string) []byte {
	var e xdr.Encoder
	e.String(name)
	return e.Buf
}

func setxattrArgs(option uint32, name string, value []byte) []byte {
	var e xdr.Encoder
	e.Uint32(option)
	e.String(name)
	e.Opaque(value)
	return e.Buf
}

func listxattrsArgs(cookie uint64, maxcount uint32) []byte {
	var e xdr.Encoder
	e.Uint64(cookie)
	e.Uint32(maxcount)
	return e.Buf
}

// xop runs PUTFH fh + one xattr operation (encoded args) and returns its
// status and undecoded result body.
func xop(t *testing.T, cl *nfsclient.Client, cred *oncrpc.Cred, fh []byte, op uint32, args []byte) (nfs4.Status, *xdr.Decoder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := cl.NewCompound("x").PutFH(fh).Raw(op, args)
	if cred != nil {
		c.SetCred(*cred)
	}
	r, err := cl.Do(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Ops) != 2 || r.Ops[0].Status != nfs4.OK {
		t.Fatalf("op %d: results %+v", op, r.Ops)
	}
	res := r.Ops[1]
	if res.Status != nfs4.OK {
		return res.Status, nil
	}
	raw, ok := res.Res.(*nfsclient.RawRes)
	if !ok {
		return res.Status, xdr.NewDecoder(nil)
	}
	return res.Status, xdr.NewDecoder(raw.Data)
}

// cinfo decodes a change_info4 and checks that it is plausible.
func cinfo(t *testing.T, d *xdr.Decoder) {
	t.Helper()
	d.Bool()
	before, after := d.Uint64(), d.Uint64()
	if d.Err() != nil || after < before || after == 0 {
		t.Fatalf("change_info: before %d after %d (%v)", before, after, d.Err())
	}
}

func listNames(t *testing.T, cl *nfsclient.Client, fh []byte, cookie uint64, maxcount uint32) (names []string, next uint64, eof bool) {
	t.Helper()
	st, d := xop(t, cl, nil, fh, nfs4.OpListxattrs, listxattrsArgs(cookie, maxcount))
	if st != nfs4.OK {
		t.Fatalf("LISTXATTRS(%d, %d): status %d", cookie, maxcount, st)
	}
	next = d.Uint64()
	n := d.Count(1000, 4)
	for range n {
		names = append(names, d.String(1000))
	}
	eof = d.Bool()
	if d.Err() != nil || d.Remaining() != 0 {
		t.Fatalf("LISTXATTRS reply: %v, %d bytes left", d.Err(), d.Remaining())
	}
	return names, next, eof
}

// TestXattrs runs RFC 8276's operations against localfs: names map to the
// "user." namespace, the SETXATTR options, errors, change info, and
// LISTXATTRS paging.
func TestXattrs(t *testing.T) {
	cl, dir, f := dial42(t)
	path := filepath.Join(dir, "f")
	fh := f.FH

	if st, _ := xop(t, cl, nil, fh, nfs4.OpGetxattr, encName("a")); st != nfs4.ErrNoxattr {
		t.Fatalf("GETXATTR of a missing xattr: %d", st)
	}
	st, d := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(1, "a", []byte("v1")))
	if st != nfs4.OK {
		t.Fatalf("SETXATTR CREATE: %d", st)
	}
	cinfo(t, d)
	buf := make([]byte, 16)
	if n, err := unix.Getxattr(path, "user.a", buf); err != nil || string(buf[:n]) != "v1" {
		t.Fatalf("backend user.a = %q, %v", buf[:n], err)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(1, "a", []byte("v"))); st != nfs4.ErrExist {
		t.Fatalf("SETXATTR CREATE of an existing xattr: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(2, "b", []byte("v"))); st != nfs4.ErrNoxattr {
		t.Fatalf("SETXATTR REPLACE of a missing xattr: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(2, "a", []byte("v2"))); st != nfs4.OK {
		t.Fatalf("SETXATTR REPLACE: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(0, "b", nil)); st != nfs4.OK {
		t.Fatalf("SETXATTR EITHER of an empty value: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(3, "b", nil)); st != nfs4.ErrInval {
		t.Fatalf("SETXATTR with option 3: %d", st)
	}
	st, d = xop(t, cl, nil, fh, nfs4.OpGetxattr, encName("a"))
	if v := d.Opaque(100); st != nfs4.OK || string(v) != "v2" || d.Remaining() != 0 {
		t.Fatalf("GETXATTR: %d %q", st, v)
	}
	st, d = xop(t, cl, nil, fh, nfs4.OpGetxattr, encName("b"))
	if v := d.Opaque(100); st != nfs4.OK || len(v) != 0 {
		t.Fatalf("GETXATTR of an empty value: %d %q", st, v)
	}

	// Attributes outside the user namespace and the gateway's own are
	// invisible and untouchable.
	if err := unix.Setxattr(path, "trusted.t", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(path, "user.nfsgw.verf", []byte("12345678"), 0); err != nil {
		t.Fatal(err)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpGetxattr, encName("nfsgw.verf")); st != nfs4.ErrNoxattr {
		t.Fatalf("GETXATTR of the gateway's verifier: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpRemovexattr, encName("nfsgw.verf")); st != nfs4.ErrPerm {
		t.Fatalf("REMOVEXATTR of the gateway's verifier: %d", st)
	}

	names, next, eof := listNames(t, cl, fh, 0, 8192)
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "b"}) || next != 2 || !eof {
		t.Fatalf("LISTXATTRS: %q cookie %d eof %v", names, next, eof)
	}
	// Room for one name: two pages.
	first, next, eof := listNames(t, cl, fh, 0, listxattrsFixed+8)
	if len(first) != 1 || next != 1 || eof {
		t.Fatalf("LISTXATTRS page 1: %q cookie %d eof %v", first, next, eof)
	}
	second, next, eof := listNames(t, cl, fh, next, listxattrsFixed+8)
	if len(second) != 1 || second[0] == first[0] || next != 2 || !eof {
		t.Fatalf("LISTXATTRS page 2: %q cookie %d eof %v", second, next, eof)
	}
	if got, _, eof := listNames(t, cl, fh, 2, 100); len(got) != 0 || !eof {
		t.Fatalf("LISTXATTRS at the end: %q %v", got, eof)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpListxattrs, listxattrsArgs(0, listxattrsFixed+4)); st != nfs4.ErrToosmall {
		t.Fatalf("LISTXATTRS with no room for a name: %d", st)
	}
	if st, _ := xop(t, cl, nil, fh, nfs4.OpListxattrs, listxattrsArgs(3, 8192)); st != nfs4.ErrBadCookie {
		t.Fatalf("LISTXATTRS past the end: %d", st)
	}

	st, d = xop(t, cl, nil, fh, nfs4.OpRemovexattr, encName("a"))
	if st != nfs4.OK {
		t.Fatalf("REMOVEXATTR: %d", st)
	}
	cinfo(t, d)
	if st, _ := xop(t, cl, nil, fh, nfs4.OpRemovexattr, encName("a")); st != nfs4.ErrNoxattr {
		t.Fatalf("REMOVEXATTR of a missing xattr: %d", st)
	}
	if _, err := unix.Getxattr(path, "user.a", buf); err != unix.ENODATA {
		t.Fatalf("backend user.a after REMOVEXATTR: %v", err)
	}
}

// TestXattrBounds: every length from the wire is bounded before the
// backend sees it.
func TestXattrBounds(t *testing.T) {
	cl, _, f := dial42(t)
	fh := f.FH
	long := strings.Repeat("n", maxXattrName+1)
	for _, c := range []struct {
		name string
		op   uint32
		args []byte
		want nfs4.Status
	}{
		{"long name get", nfs4.OpGetxattr, encName(long), nfs4.ErrNametoolong},
		{"long name set", nfs4.OpSetxattr, setxattrArgs(0, long, nil), nfs4.ErrNametoolong},
		{"long name remove", nfs4.OpRemovexattr, encName(long), nfs4.ErrNametoolong},
		{"empty name", nfs4.OpGetxattr, encName(""), nfs4.ErrInval},
		{"NUL in name", nfs4.OpSetxattr, setxattrArgs(0, "a\x00b", nil), nfs4.ErrInval},
		{"value too large", nfs4.OpSetxattr, setxattrArgs(0, "big", make([]byte, fsal.MaxXattrValue+1)), nfs4.ErrXattr2big},
		{"name over XDR limit", nfs4.OpGetxattr, encName(strings.Repeat("n", nfs4.MaxPathLen+1)), nfs4.ErrBadxdr},
		{"truncated value", nfs4.OpSetxattr, append(setxattrArgs(0, "a", nil)[:12], 0, 0, 1, 0), nfs4.ErrBadxdr},
	} {
		if st, _ := xop(t, cl, nil, fh, c.op, c.args); st != c.want {
			t.Errorf("%s: status %d, want %d", c.name, st, c.want)
		}
	}
	// The longest name that fits does.
	name := strings.Repeat("m", maxXattrName)
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(0, name, []byte("v"))); st != nfs4.OK {
		t.Fatalf("SETXATTR of a %d-byte name: %d", maxXattrName, st)
	}
	names, _, _ := listNames(t, cl, fh, 0, 8192)
	if !slices.Equal(names, []string{name}) {
		t.Fatalf("LISTXATTRS: %q", names)
	}
}

// TestXattrPermissions: xattr operations run as the caller, and ACCESS
// reports the RFC 8276 bits accordingly.
func TestXattrPermissions(t *testing.T) {
	cl, _, f := dial42(t)
	fh := f.FH
	user := oncrpc.CredSys(oncrpc.AuthSys{MachineName: "t", UID: 1000, GID: 1000})
	if st, _ := xop(t, cl, nil, fh, nfs4.OpSetxattr, setxattrArgs(0, "a", []byte("v"))); st != nfs4.OK {
		t.Fatalf("SETXATTR as root: %d", st)
	}
	if st, _ := xop(t, cl, &user, fh, nfs4.OpSetxattr, setxattrArgs(0, "a", []byte("w"))); st != nfs4.ErrAccess {
		t.Fatalf("SETXATTR by another user on a 0644 file: %d", st)
	}
	if st, _ := xop(t, cl, &user, fh, nfs4.OpRemovexattr, encName("a")); st != nfs4.ErrAccess {
		t.Fatalf("REMOVEXATTR by another user on a 0644 file: %d", st)
	}
	st, d := xop(t, cl, &user, fh, nfs4.OpGetxattr, encName("a"))
	if v := d.Opaque(10); st != nfs4.OK || string(v) != "v" {
		t.Fatalf("GETXATTR by another user with read access: %d %q", st, v)
	}

	all := uint32(accessXARead | accessXAWrite | accessXAList)
	access := func(cred *oncrpc.Cred) (supp, allowed uint32) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := cl.NewCompound("a").PutFH(fh).Access(all | nfs4.AccessRead)
		if cred != nil {
			c.SetCred(*cred)
		}
		r, err := cl.Do(ctx, c)
		if err != nil || r.Err() != nil {
			t.Fatalf("ACCESS: %v %v", err, r.Err())
		}
		a := r.Ops[1].Res.(*nfsclient.AccessRes)
		return a.Supported, a.Access
	}
	if supp, allowed := access(nil); supp&all != all || allowed&all != all {
		t.Fatalf("ACCESS as root: supported %#x allowed %#x", supp, allowed)
	}
	if supp, allowed := access(&user); supp&all != all || allowed&all != accessXARead|accessXAList {
		t.Fatalf("ACCESS as another user: supported %#x allowed %#x", supp, allowed)
	}
}

// TestXattrSupportAttr: xattr_support is a 4.2 attribute, true inside a
// backend with xattrs and false on the pseudo-filesystem, where the
// operations are NFS4ERR_NOTSUPP; in 4.1 the operations do not exist.
func TestXattrSupportAttr(t *testing.T) {
	cl, _, f := dial42(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mask := nfsclient.MakeBitmap(nfs4.AttrSupportedAttrs, nfs4.AttrXattrSupport)
	r, err := cl.Do(ctx, cl.NewCompound("").PutFH(f.FH).Getattr(mask))
	if err != nil || r.Err() != nil {
		t.Fatalf("GETATTR: %v %v", err, r.Err())
	}
	a := r.Ops[1].Res.(*nfsclient.GetattrRes).Attrs
	if !a.Has(nfs4.AttrXattrSupport) || !a.XattrSupport || !a.SupportedAttrs.Has(nfs4.AttrXattrSupport) {
		t.Fatalf("file: xattr_support %v (returned %v), supported %v", a.XattrSupport, a.Has(nfs4.AttrXattrSupport), a.SupportedAttrs.Bits())
	}
	r, err = cl.Do(ctx, cl.NewCompound("").PutRootFH().Getattr(mask))
	if err != nil || r.Err() != nil {
		t.Fatalf("GETATTR of the pseudo root: %v %v", err, r.Err())
	}
	if a := r.Ops[1].Res.(*nfsclient.GetattrRes).Attrs; !a.Has(nfs4.AttrXattrSupport) || a.XattrSupport {
		t.Fatalf("pseudo root: xattr_support %v", a.XattrSupport)
	}
	r, err = cl.Do(ctx, cl.NewCompound("").PutRootFH().Raw(nfs4.OpGetxattr, encName("a")))
	if err != nil || len(r.Ops) != 2 || r.Ops[1].Status != nfs4.ErrNotsupp {
		t.Fatalf("GETXATTR on the pseudo root: %v %+v", err, r.Ops)
	}
	r, err = cl.Do(ctx, cl.NewCompound("").SetMinorVersion(1).PutFH(f.FH).Raw(nfs4.OpGetxattr, encName("a")))
	if err != nil || len(r.Ops) != 2 || r.Ops[1].Op != nfs4.OpIllegal || r.Ops[1].Status != nfs4.ErrOpIllegal {
		t.Fatalf("GETXATTR in 4.1: %v %+v", err, r.Ops)
	}
	r, err = cl.Do(ctx, cl.NewCompound("").SetMinorVersion(1).PutFH(f.FH).Getattr(mask))
	if err != nil || r.Err() != nil {
		t.Fatalf("GETATTR in 4.1: %v %v", err, r.Err())
	}
	if a := r.Ops[1].Res.(*nfsclient.GetattrRes).Attrs; a.Has(nfs4.AttrXattrSupport) || a.SupportedAttrs.Has(nfs4.AttrXattrSupport) {
		t.Fatalf("4.1 returns xattr_support")
	}
}

func allocateArgs(sid nfs4.Stateid, off, length uint64) []byte {
	var e xdr.Encoder
	sid.Encode(&e)
	e.Uint64(off)
	e.Uint64(length)
	return e.Buf
}

// TestAllocate: ALLOCATE reserves space and extends the file, under the
// same stateid rules as WRITE.
func TestAllocate(t *testing.T) {
	cl, dir, f := dial42(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	path := filepath.Join(dir, "f")
	alloc := func(fh []byte, sid nfs4.Stateid, off, length uint64) nfs4.Status {
		t.Helper()
		r, err := cl.Do(ctx, cl.NewCompound("").PutFH(fh).Raw(nfs4.OpAllocate, allocateArgs(sid, off, length)))
		if err != nil || len(r.Ops) != 2 {
			t.Fatalf("ALLOCATE: %v %+v", err, r)
		}
		return r.Ops[1].Status
	}
	if st := alloc(f.FH, f.Stateid(), 0, 1<<20); st != nfs4.OK {
		t.Fatalf("ALLOCATE with the open stateid: %d", st)
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil || st.Size != 1<<20 || st.Blocks*512 < 1<<20 {
		t.Fatalf("after ALLOCATE: size %d, %d blocks (%v)", st.Size, st.Blocks, err)
	}
	// Inside the file: the size stays.
	if s := alloc(f.FH, nfs4.AnonStateid, 4096, 4096); s != nfs4.OK {
		t.Fatalf("ALLOCATE with the anonymous stateid: %d", s)
	}
	if s := alloc(f.FH, nfs4.BypassStateid, 1<<20, 1); s != nfs4.OK {
		t.Fatalf("ALLOCATE with the bypass stateid: %d", s)
	}
	if err := unix.Stat(path, &st); err != nil || st.Size != 1<<20+1 {
		t.Fatalf("after ALLOCATE past the end: size %d (%v)", st.Size, err)
	}
	for _, c := range []struct {
		name        string
		off, length uint64
		want        nfs4.Status
	}{
		{"empty range", 0, 0, nfs4.ErrInval},
		{"overflow", 1 << 63, 1 << 63, nfs4.ErrFbig},
		{"past the maximum size", maxFileSize, 1, nfs4.ErrFbig},
	} {
		if s := alloc(f.FH, f.Stateid(), c.off, c.length); s != c.want {
			t.Errorf("%s: status %d, want %d", c.name, s, c.want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "ro"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ro, err := cl.OpenFile(ctx, "/export/ro", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := alloc(ro.FH, ro.Stateid(), 0, 10); s != nfs4.ErrOpenmode {
		t.Fatalf("ALLOCATE through a read-only open: %d", s)
	}
	if s := alloc(ro.FH, f.Stateid(), 0, 10); s != nfs4.ErrBadStateid {
		t.Fatalf("ALLOCATE with another file's stateid: %d", s)
	}
	root, _, err := cl.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	if s := alloc(root, nfs4.AnonStateid, 0, 10); s != nfs4.ErrIsdir {
		t.Fatalf("ALLOCATE on a directory: %d", s)
	}
	r, err := cl.Do(ctx, cl.NewCompound("").SetMinorVersion(1).PutFH(f.FH).Raw(nfs4.OpAllocate, allocateArgs(f.Stateid(), 0, 1)))
	if err != nil || len(r.Ops) != 2 || r.Ops[1].Status != nfs4.ErrOpIllegal {
		t.Fatalf("ALLOCATE in 4.1: %v %+v", err, r.Ops)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, make([]byte, 1<<20+1)) {
		t.Fatalf("allocated range does not read as zeros")
	}
}
