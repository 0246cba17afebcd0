package compound

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
)

// delegFS is localfs whose files also act as a backend that backs
// delegations (as cephfsal's do), so that the engine's side of backend
// delegations can be tested without a cluster.
type delegFS struct {
	fsal.FS
	refuse  atomic.Bool // Delegate answers EAGAIN
	timeout time.Duration

	mu      sync.Mutex
	granted []*delegFile // files with a delegation, in grant order
	open    atomic.Int32 // files open
}

type delegFile struct {
	fsal.File
	fs       *delegFS
	flags    int
	recall   func()
	held     atomic.Bool
	returned atomic.Int32
	closed   atomic.Int32
}

func (d *delegFS) Open(ctx context.Context, c *fsal.Cred, h fsal.Handle, flags int) (fsal.File, error) {
	f, err := d.FS.Open(ctx, c, h, flags)
	if err != nil {
		return nil, err
	}
	d.open.Add(1)
	return &delegFile{File: f, fs: d, flags: flags}, nil
}

func (f *delegFile) Delegate(t fsal.LockType, recall func()) error {
	if f.fs.refuse.Load() {
		return syscall.EAGAIN
	}
	if t == fsal.ReadLock && f.flags&fsal.OpenRead == 0 {
		return syscall.EBADF
	}
	f.recall = recall
	f.held.Store(true)
	f.fs.mu.Lock()
	f.fs.granted = append(f.fs.granted, f)
	f.fs.mu.Unlock()
	return nil
}

func (f *delegFile) ReturnDelegation() error {
	if f.held.Swap(false) {
		f.returned.Add(1)
	}
	return nil
}

func (f *delegFile) ReturnTimeout() time.Duration { return f.fs.timeout }

func (f *delegFile) Close() error {
	if f.closed.Add(1) == 1 {
		f.fs.open.Add(-1)
	}
	return f.File.Close()
}

func (d *delegFS) last(t *testing.T) *delegFile {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.granted) == 0 {
		t.Fatal("no backend delegation was taken")
	}
	return d.granted[len(d.granted)-1]
}

// serveBackedDeleg serves, on l, a delegFS whose recalls must be answered
// within timeout, holding files a, b and c.
func serveBackedDeleg(t *testing.T, l net.Listener, timeout time.Duration) (sm *nfs4state.Manager, dfs *delegFS) {
	t.Helper()
	dir := t.TempDir()
	lfs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	dfs = &delegFS{FS: lfs, timeout: timeout}
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: dfs, Squash: export.SquashNone, Delegations: true}})
	if err != nil {
		t.Fatal(err)
	}
	// A long lease: only the backend's deadline may revoke here.
	sm = nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
	eng := New(Config{Exports: export.NewRegistry(tbl), State: sm})
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, eng)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	for _, n := range []string{"a", "b", "c"} {
		os.WriteFile(filepath.Join(dir, n), []byte("data"), 0666)
	}
	return sm, dfs
}

// TestBackendDelegationLifetime: a delegation on a backend that backs
// them takes a backend delegation on a file of its own, which outlives the
// client's CLOSE and goes with DELEGRETURN, the client's destruction or a
// refusal; a refusal grants nothing.
func TestBackendDelegationLifetime(t *testing.T) {
	synctest.Test(t, testBackendDelegationLifetime)
}

func testBackendDelegationLifetime(t *testing.T) {
	l := pipenet.Listen()
	sm, dfs := serveBackedDeleg(t, l, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "holder"})

	f, err := c.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := f.Open.Delegation
	if d.Type != nfs4.DelegRead {
		t.Fatalf("no read delegation: %+v", d)
	}
	bf := dfs.last(t)
	if bf.flags != fsal.OpenRead || !bf.held.Load() {
		t.Fatalf("backend delegation on a file opened %d, held %v", bf.flags, bf.held.Load())
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if bf.closed.Load() != 0 || sm.BackedDelegations() != 1 {
		t.Fatalf("CLOSE of the open ended the delegation's backend file (closed %d, backed %d)", bf.closed.Load(), sm.BackedDelegations())
	}
	if err := sm.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	if err := c.ReturnDelegation(ctx, f.FH, d.Stateid); err != nil {
		t.Fatal(err)
	}
	if bf.returned.Load() != 1 || bf.closed.Load() != 1 || sm.BackedDelegations() != 0 {
		t.Fatalf("after DELEGRETURN: returned %d, closed %d, backed %d", bf.returned.Load(), bf.closed.Load(), sm.BackedDelegations())
	}

	// The backend refuses: no delegation, and its file is closed.
	dfs.refuse.Store(true)
	f, err = c.OpenFile(ctx, "/export/b", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Open.Delegation.Type != nfs4.DelegNone {
		t.Fatalf("delegation granted although the backend refused: %+v", f.Open.Delegation)
	}
	f.Close(ctx)
	dfs.refuse.Store(false)

	// The client goes: its delegation's backend file goes too.
	f, err = c.OpenFile(ctx, "/export/c", nfs4.ShareAccessRead, 0)
	if err != nil || f.Open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("open: %v %+v", err, f.Open.Delegation)
	}
	bf = dfs.last(t)
	if ok, _ := sm.Evict(c.ClientID()); !ok {
		t.Fatal("client not found")
	}
	if bf.returned.Load() != 1 || bf.closed.Load() != 1 || sm.BackedDelegations() != 0 {
		t.Fatalf("after eviction: returned %d, closed %d, backed %d", bf.returned.Load(), bf.closed.Load(), sm.BackedDelegations())
	}
	if n := dfs.open.Load(); n != 0 {
		t.Fatalf("%d backend files left open", n)
	}
	if err := sm.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestBackendRecall: the backend's recall sends CB_RECALL; a client that
// returns the delegation gives the backend its delegation back, and one
// that does not has it revoked before the backend's deadline.
func TestBackendRecall(t *testing.T) {
	synctest.Test(t, testBackendRecall)
}

func testBackendRecall(t *testing.T) {
	const timeout = 3 * time.Second // deadline: 3 s - 2 s margin
	l := pipenet.Listen()
	sm, dfs := serveBackedDeleg(t, l, timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var recalls atomic.Int32
	good := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "good", OnCallback: func(op uint32) {
		if op == nfsclient.CBOpRecall {
			recalls.Add(1)
		}
	}})
	if f, err := good.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0); err != nil || f.Open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("open: %v", err)
	}
	bf := dfs.last(t)
	go bf.recall() // as the backend does, on its own goroutine
	// Everything in the bubble waits once the client has answered the
	// recall and returned the delegation, with no time gone by.
	synctest.Wait()
	if bf.returned.Load() != 1 || bf.closed.Load() != 1 {
		t.Fatalf("after the backend's recall: returned %d, closed %d", bf.returned.Load(), bf.closed.Load())
	}
	if recalls.Load() != 1 || len(good.Delegations()) != 0 {
		t.Fatalf("%d CB_RECALLs; client holds %d delegations", recalls.Load(), len(good.Delegations()))
	}

	recalled := make(chan nfsclient.Recall, 1)
	deaf := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "deaf", OnRecall: func(r nfsclient.Recall) { recalled <- r }})
	f, err := deaf.OpenFile(ctx, "/export/b", nfs4.ShareAccessRead, 0)
	if err != nil || f.Open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("open: %v", err)
	}
	bf = dfs.last(t)
	go bf.recall()
	synctest.Wait()
	select {
	case <-recalled:
	default:
		t.Fatal("no CB_RECALL")
	}
	// In the bubble's time: still held a quarter of the backend's
	// timeout after its recall, given back before the timeout.
	time.Sleep(timeout / 4)
	synctest.Wait()
	if bf.returned.Load() != 0 {
		t.Fatalf("backend delegation given back within %v (deadline %v)", timeout/4, timeout)
	}
	time.Sleep(timeout - timeout/4 - time.Millisecond)
	synctest.Wait()
	if bf.returned.Load() != 1 {
		t.Fatalf("unreturned delegation not given back to the backend within %v", timeout)
	}
	r, err := deaf.Do(ctx, deaf.NewCompound("read").PutFH(f.FH).Read(f.Open.Delegation.Stateid, 0, 4))
	if err != nil || r.Status != nfs4.ErrDelegRevoked {
		t.Fatalf("READ with the revoked delegation: %v %v", err, r)
	}
	if bf.closed.Load() != 1 || sm.BackedDelegations() != 0 {
		t.Fatalf("revoked: closed %d, backed %d", bf.closed.Load(), sm.BackedDelegations())
	}
	if err := sm.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}
