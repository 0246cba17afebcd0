package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"sort"
	"sync"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// versions runs a test body against NFSv4.0 and NFSv4.1 clients.
func versions(t *testing.T, body func(t *testing.T, minor *uint32)) {
	for _, v := range []uint32{0, 1} {
		t.Run(fmt.Sprintf("v4.%d", v), func(t *testing.T) { body(t, nfsclient.Minor(v)) })
	}
}

func TestFileLifecycle(t *testing.T) {
	g := startGateway(t)
	versions(t, func(t *testing.T, minor *uint32) {
		ctx := ctxT(t)
		c := g.dial(t, 0, 0, minor)
		root, attrs, err := c.LookupPath(ctx, "/export")
		if err != nil || attrs.Type != nfs4.NF4DIR {
			t.Fatalf("lookup /export: %v type %d", err, attrs.Type)
		}
		dirName := fmt.Sprintf("dir%d", *minor)
		dir, err := c.Mkdir(ctx, root, dirName, 0755)
		if err != nil {
			t.Fatal("mkdir:", err)
		}
		f, err := c.Create(ctx, dir, "data", 0644)
		if err != nil {
			t.Fatal("create:", err)
		}
		payload := make([]byte, 3<<20+123)
		rand.Read(payload)
		if _, _, err := f.WriteAll(ctx, payload, 0, nfs4.FileSync); err != nil {
			t.Fatal("write:", err)
		}
		got := make([]byte, len(payload)+10)
		n, err := f.ReadFull(ctx, got, 0)
		if err != nil || n != len(payload) || !bytes.Equal(got[:n], payload) {
			t.Fatalf("read back %d bytes, err %v, equal %v", n, err, bytes.Equal(got[:n], payload))
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal("close:", err)
		}
		// What the client wrote is on the local disk.
		onDisk, err := g.Dir.ReadFile(dirName + "/data")
		if err != nil || !bytes.Equal(onDisk, payload) {
			t.Fatalf("on disk: %v, equal %v", err, bytes.Equal(onDisk, payload))
		}
		a, err := c.Getattr(ctx, f.FH)
		if err != nil || a.Size != uint64(len(payload)) || a.Type != nfs4.NF4REG || a.Mode != 0644 {
			t.Fatalf("getattr: %+v %v", a, err)
		}
		// Hard link, symlink, rename, readdir.
		if err := c.Link(ctx, f.FH, dir, "data.link"); err != nil {
			t.Fatal("link:", err)
		}
		if a, _ := c.Getattr(ctx, f.FH); a.Nlink != 2 {
			t.Fatalf("nlink after link = %d", a.Nlink)
		}
		sl, err := c.Symlink(ctx, dir, "sym", "data")
		if err != nil {
			t.Fatal("symlink:", err)
		}
		if target, err := c.Readlink(ctx, sl); err != nil || target != "data" {
			t.Fatalf("readlink: %q %v", target, err)
		}
		if err := c.Rename(ctx, dir, "data.link", dir, "renamed"); err != nil {
			t.Fatal("rename:", err)
		}
		ents, err := c.Readdir(ctx, dir)
		if err != nil {
			t.Fatal("readdir:", err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name)
		}
		sort.Strings(names)
		if fmt.Sprint(names) != "[data renamed sym]" {
			t.Fatalf("readdir names %v", names)
		}
		// Remove everything; the removed file's handle is stale.
		for _, n := range []string{"renamed", "sym", "data"} {
			if err := c.Remove(ctx, dir, n); err != nil {
				t.Fatalf("remove %s: %v", n, err)
			}
		}
		if _, err := c.Getattr(ctx, f.FH); nfsclient.StatusOf(err) != nfs4.ErrStale {
			t.Fatalf("getattr of a removed file: %v", err)
		}
		if err := c.Remove(ctx, root, dirName); err != nil {
			t.Fatal("rmdir:", err)
		}
		if _, _, err := c.LookupPath(ctx, "/export/"+dirName); nfsclient.StatusOf(err) != nfs4.ErrNoent {
			t.Fatalf("lookup of a removed dir: %v", err)
		}
	})
}

func TestReaddirCookies(t *testing.T) {
	g := startGateway(t)
	const n = 700
	for i := 0; i < n; i++ {
		if err := g.Dir.WriteFile(fmt.Sprintf("entry-with-a-longish-name-%04d", i), nil, 0644); err != nil {
			t.Fatal(err)
		}
	}
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	root, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	// Small replies force many continuations from server cookies.
	var mask nfs4.Bitmap
	mask.Set(nfs4.AttrType)
	mask.Set(nfs4.AttrFileid)
	ents, err := c.ReaddirWith(ctx, root, nfsclient.ReaddirOptions{Dircount: 512, Maxcount: 2048, Attrs: &mask})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		if seen[e.Name] {
			t.Fatalf("%s returned twice", e.Name)
		}
		seen[e.Name] = true
		if e.Attrs.Type != nfs4.NF4REG || e.Attrs.Fileid == 0 {
			t.Fatalf("entry %s attrs %+v", e.Name, e.Attrs)
		}
	}
	if len(seen) != n {
		t.Fatalf("got %d entries, want %d", len(seen), n)
	}
}

func TestPseudoFilesystem(t *testing.T) {
	other := testBackend(t).NewDir(t)
	if err := other.WriteFile("marker", []byte("b"), 0644); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "--export", "/data/b="+other.Spec())
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	rootFH, rootAttrs, err := c.LookupPath(ctx, "/")
	if err != nil || rootAttrs.Type != nfs4.NF4DIR {
		t.Fatalf("root: %v", err)
	}
	ents, err := c.Readdir(ctx, rootFH)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if fmt.Sprint(names) != "[data export]" {
		t.Fatalf("pseudo root lists %v", names)
	}
	_, exp, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	if exp.Fsid == rootAttrs.Fsid {
		t.Fatal("an export shares the pseudo-filesystem's fsid: clients would not see the mount point")
	}
	data, err := c.ReadFile(ctx, "/data/b/marker")
	if err != nil || string(data) != "b" {
		t.Fatalf("read through the second export: %q %v", data, err)
	}
	// The pseudo-filesystem is read-only.
	if _, err := c.Mkdir(ctx, rootFH, "new", 0755); nfsclient.StatusOf(err) != nfs4.ErrRofs {
		t.Fatalf("mkdir in the pseudo root: %v", err)
	}
	// LOOKUPP from an export root leads back into the pseudo tree.
	bFH, _, err := c.LookupPath(ctx, "/data/b")
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.Do(ctx, c.NewCompound("lookupp").PutFH(bFH).LookupP().GetFH())
	if err != nil || r.Err() != nil {
		t.Fatalf("lookupp: %v %v", err, r.Err())
	}
}

func TestIdentity(t *testing.T) {
	g := startGateway(t)
	ctx := ctxT(t)
	alice := g.dial(t, 1000, 1000, nil)
	root, _, err := alice.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err := alice.Create(ctx, root, "alice.txt", 0600)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAll(ctx, []byte("secret"), 0, nfs4.FileSync)
	f.Close(ctx)
	uid, gid, err := g.Dir.Owner("alice.txt")
	if err != nil {
		t.Fatal(err)
	}
	if uid != 1000 || gid != 1000 {
		t.Fatalf("file created by uid 1000 is owned by %d:%d", uid, gid)
	}
	a, err := alice.Getattr(ctx, f.FH)
	if err != nil || a.Owner != "1000" || a.OwnerGroup != "1000" {
		t.Fatalf("owner attrs %q %q %v", a.Owner, a.OwnerGroup, err)
	}
	bob := g.dial(t, 2000, 2000, nil)
	if _, err := bob.OpenFile(ctx, "/export/alice.txt", nfs4.ShareAccessRead, 0); nfsclient.StatusOf(err) != nfs4.ErrAccess {
		t.Fatalf("uid 2000 opening uid 1000's 0600 file: %v", err)
	}
	if _, err := bob.ReadFile(ctx, "/export/alice.txt"); nfsclient.StatusOf(err) != nfs4.ErrAccess {
		t.Fatalf("uid 2000 reading uid 1000's 0600 file: %v", err)
	}
	// Concurrent callers with different identities never see each other's.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(uid uint32) {
			defer wg.Done()
			c := g.dial(t, uid, uid, nil)
			for j := 0; j < 10; j++ {
				name := fmt.Sprintf("u%d-%d", uid, j)
				of, err := c.Create(ctx, root, name, 0644)
				if err != nil {
					t.Error(err)
					return
				}
				of.Close(ctx)
				owner, _, err := g.Dir.Owner(name)
				if err != nil || owner != uid {
					t.Errorf("%s: owner %v %v", name, owner, err)
				}
			}
		}(uint32(3000 + i))
	}
	wg.Wait()
}

func TestRootSquashByDefault(t *testing.T) {
	g := startGatewayArgs(t)
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	root, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err := c.Create(ctx, root, "by-root", 0644)
	if err != nil {
		t.Fatal(err)
	}
	f.Close(ctx)
	if uid, _, err := g.Dir.Owner("by-root"); err != nil || uid != 65534 {
		t.Fatalf("root's file owned by %d, want 65534 (root squash)", uid)
	}
}

func TestHandlesSurviveRestart(t *testing.T) {
	g := startGateway(t)
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	root, _, _ := c.LookupPath(ctx, "/export")
	f, err := c.Create(ctx, root, "kept", 0644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAll(ctx, []byte("still here"), 0, nfs4.FileSync)
	f.Close(ctx)
	c.Abandon()
	g.restart()
	c2 := g.dial(t, 0, 0, nil)
	a, err := c2.Getattr(ctx, f.FH)
	if err != nil || a.Size != 10 {
		t.Fatalf("old handle after restart: %+v %v", a, err)
	}
	r, err := c2.Do(ctx, c2.NewCompound("read").PutFH(f.FH).Read(nfs4.AnonStateid, 0, 100))
	if err != nil || r.Err() != nil {
		t.Fatalf("read by old handle: %v %v", err, r.Err())
	}
	if res := r.Ops[1].Res.(*nfsclient.ReadRes); string(res.Data) != "still here" {
		t.Fatalf("read %q", res.Data)
	}
	// A forged handle is refused, not served.
	bad := append([]byte(nil), f.FH...)
	bad[len(bad)-1] ^= 0xff
	if _, err := c2.Getattr(ctx, bad); err == nil {
		t.Fatal("a forged handle was accepted")
	}
}

func TestConcurrentClients(t *testing.T) {
	g := startGateway(t)
	ctx := ctxT(t)
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			minor := nfsclient.Minor(uint32(i % 2))
			c := g.dial(t, 0, 0, minor)
			root, _, err := c.LookupPath(ctx, "/export")
			if err != nil {
				t.Error(err)
				return
			}
			data := bytes.Repeat([]byte{byte(i)}, 200<<10)
			for j := 0; j < 5; j++ {
				name := fmt.Sprintf("c%d-%d", i, j)
				f, err := c.Create(ctx, root, name, 0644)
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := f.WriteAll(ctx, data, 0, nfs4.Unstable); err != nil {
					t.Error(err)
				}
				if _, err := f.Commit(ctx, 0, 0); err != nil {
					t.Error(err)
				}
				got := make([]byte, len(data))
				if n, err := f.ReadFull(ctx, got, 0); err != nil || n != len(data) || !bytes.Equal(got, data) {
					t.Errorf("%s: read back %d %v", name, n, err)
				}
				f.Close(ctx)
			}
		}(i)
	}
	wg.Wait()
}

func TestByteRangeLocks(t *testing.T) {
	g := startGateway(t)
	versions(t, func(t *testing.T, minor *uint32) {
		ctx := ctxT(t)
		a := g.dial(t, 0, 0, minor)
		b := g.dial(t, 0, 0, minor)
		root, _, _ := a.LookupPath(ctx, "/export")
		name := fmt.Sprintf("locked%d", *minor)
		fa, err := a.Create(ctx, root, name, 0666)
		if err != nil {
			t.Fatal(err)
		}
		fb, err := b.OpenAt(ctx, root, name, nfs4.ShareAccessBoth, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := fa.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
			t.Fatal("lock:", err)
		}
		if err := fb.Lock(ctx, nfs4.WriteLT, 50, 10); nfsclient.StatusOf(err) != nfs4.ErrDenied {
			t.Fatalf("conflicting lock: %v", err)
		}
		d, err := fb.LockT(ctx, nfs4.ReadLT, 0, 1)
		if err != nil || d == nil || d.Offset != 0 || d.Length != 100 {
			t.Fatalf("LOCKT: %+v %v", d, err)
		}
		if err := fb.Lock(ctx, nfs4.WriteLT, 100, 10); err != nil {
			t.Fatalf("adjacent lock: %v", err)
		}
		if err := fa.Unlock(ctx, 0, 100); err != nil {
			t.Fatal("unlock:", err)
		}
		if err := fb.Lock(ctx, nfs4.WriteLT, 50, 10); err != nil {
			t.Fatalf("lock after unlock: %v", err)
		}
		fb.Close(ctx)
		fa.Close(ctx)
	})
}

// TestHandleOutsideExportRefused takes a directory's handle from one export
// and presents it as a handle of another export: the gateway must refuse
// it, or a client could reach any directory of the filesystem.
func TestHandleOutsideExportRefused(t *testing.T) {
	other := testBackend(t).NewDir(t)
	if err := other.Mkdir("secret", 0700); err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, "--export", "/other="+other.Spec())
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	fh, _, err := c.LookupPath(ctx, "/other/secret")
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	// Bytes 2-3 of a handle are its export id (gateway/fh).
	forged := append([]byte(nil), fh...)
	copy(forged[2:4], mine[2:4])
	if bytes.Equal(forged, fh) {
		t.Fatal("both exports have the same id")
	}
	// NFS4ERR_STALE, as knfsd: PUTFH may not answer NFS4ERR_ACCESS.
	if _, err := c.Getattr(ctx, forged); err == nil {
		t.Fatal("a directory of another export was reachable through /export's export id")
	} else if nfsclient.StatusOf(err) != nfs4.ErrStale {
		t.Fatalf("refused with %v, want NFS4ERR_STALE", err)
	}
	if _, err := c.Getattr(ctx, fh); err != nil {
		t.Fatalf("the genuine handle: %v", err)
	}
}
