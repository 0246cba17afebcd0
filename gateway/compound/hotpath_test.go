package compound

import (
	"context"
	"errors"
	"net"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/faultfs"
	"nfsgw/gateway/fsal/memfs"
	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
)

// dialPipe connects a client to the server on l.
func dialPipe(t *testing.T, ctx context.Context, l *pipenet.Listener, opts nfsclient.Options) *nfsclient.Client {
	t.Helper()
	nc, err := l.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := nfsclient.DialConn(ctx, nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Abandon)
	return cl
}

// serveMem serves a memfs, wrapped in faultfs, holding files a and b, on
// l. The server is shut down when the test ends.
func serveMem(t *testing.T, l net.Listener) *faultfs.FS {
	t.Helper()
	ffs, _ := serveMemConfig(t, l, Config{}, false)
	return ffs
}

// serveMemConfig is serveMem with the engine's configuration (Exports and
// State are set here; State only if cfg has none), and returns the engine.
func serveMemConfig(t *testing.T, l net.Listener, cfg Config, delegations bool) (*faultfs.FS, *Server) {
	t.Helper()
	mfs := memfs.New()
	for _, n := range []string{"a", "b"} {
		h, _, _, err := mfs.Create(context.Background(), fsal.Root, mfs.Root(), n, fsal.Guarded, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o666}, [8]byte{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := mfs.Open(context.Background(), fsal.Root, h, fsal.OpenWrite)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteAt(context.Background(), []byte("data"), 0)
		f.Close()
	}
	ffs := faultfs.New(mfs)
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: ffs, Squash: export.SquashNone, Delegations: delegations}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Exports = export.NewRegistry(tbl)
	if cfg.State == nil {
		cfg.State = nfs4state.NewManager(nfs4state.Config{Lease: 60 * time.Second})
	}
	eng := New(cfg)
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, eng)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return ffs, eng
}

// hotPathProbes are the requests that must be answered while a backend
// call on file a is held: GETATTR, LOOKUP and READ of another file, and
// GETATTR and READ (outside any lock) of a itself.
func hotPathProbes(other *nfsclient.Client, ra, rb *nfsclient.OpenFile) []struct {
	what string
	fn   func(ctx context.Context) error
} {
	buf := make([]byte, 4)
	return []struct {
		what string
		fn   func(ctx context.Context) error
	}{
		{"GETATTR of another file", func(ctx context.Context) error { _, err := rb.Getattr(ctx); return err }},
		{"LOOKUP of another file", func(ctx context.Context) error { _, _, err := other.LookupPath(ctx, "/export/b"); return err }},
		{"READ of another file", func(ctx context.Context) error { _, _, err := rb.Read(ctx, buf, 0); return err }},
		{"GETATTR of the file", func(ctx context.Context) error { _, err := ra.Getattr(ctx); return err }},
		{"READ of the file outside the lock", func(ctx context.Context) error { _, _, err := ra.Read(ctx, buf, 2); return err }},
	}
}

// TestHotPathDuringBackendCall: while the backend takes a byte-range lock
// on a file (on CephFS an MDS round trip: ceph_ll_setlk), or writes to it,
// held here until released, GETATTR, LOOKUP and READ of another file, and
// GETATTR and READ of that file without a conflicting lock, are answered
// (issue 11, section 3). The gateway serves memfs through faultfs over
// in-memory connections, in a synctest bubble: a probe that is not
// answered waits until everything else waits too, and then its (fake)
// 10 s deadline passes at once.
func TestHotPathDuringBackendCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   faultfs.Op
		run  func(ctx context.Context, fa *nfsclient.OpenFile) error
	}{
		{"SETLK", faultfs.SetLock, func(ctx context.Context, fa *nfsclient.OpenFile) error {
			return fa.Lock(ctx, nfs4.WriteLT, 0, 2)
		}},
		{"WRITE", faultfs.Write, func(ctx context.Context, fa *nfsclient.OpenFile) error {
			_, err := fa.Write(ctx, []byte("xy"), 0, nfs4.Unstable)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := pipenet.Listen()
				ffs := serveMem(t, l)
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				locker := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "locker"})
				other := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "other"})
				fa, err := locker.OpenFile(ctx, "/export/a", nfs4.ShareAccessBoth, 0)
				if err != nil {
					t.Fatal(err)
				}
				ra, err := other.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
				if err != nil {
					t.Fatal(err)
				}
				rb, err := other.OpenFile(ctx, "/export/b", nfs4.ShareAccessRead, 0)
				if err != nil {
					t.Fatal(err)
				}
				hold := ffs.Hold(tc.op)
				held := make(chan error, 1)
				go func() { held <- tc.run(ctx, fa) }()
				select {
				case <-hold.Entered():
				case err := <-held:
					t.Fatalf("%s returned before reaching the backend: %v", tc.name, err)
				}
				for _, p := range hotPathProbes(other, ra, rb) {
					pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
					err := p.fn(pctx)
					pcancel()
					if errors.Is(err, context.DeadlineExceeded) {
						t.Errorf("%s not answered while a backend %s blocks", p.what, tc.name)
					} else if err != nil {
						t.Errorf("%s while a backend %s blocks: %v", p.what, tc.name, err)
					}
				}
				if n := hold.Waiting(); n != 1 {
					t.Errorf("%d calls waiting in the backend, want the %s alone", n, tc.name)
				}
				hold.Release()
				if err := <-held; err != nil {
					t.Fatalf("%s after the backend let go: %v", tc.name, err)
				}
			})
		})
	}
}

// TestHotPathLatency measures, over TCP and in real time, how long a
// GETATTR of another file, and a GETATTR and a READ of the file itself,
// take while a backend SETLK is held. It fails only if one does not
// return at all.
func TestHotPathLatency(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ffs := serveMem(t, l)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	dial := func(owner string) *nfsclient.Client {
		cl, err := nfsclient.Dial(ctx, l.Addr().String(), nfsclient.Options{ClientOwner: owner})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Abandon)
		return cl
	}
	locker, other := dial("locker"), dial("other")
	fa, err := locker.OpenFile(ctx, "/export/a", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := other.OpenFile(ctx, "/export/a", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := other.OpenFile(ctx, "/export/b", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	probes := hotPathProbes(other, ra, rb)
	measure := func() []time.Duration {
		var ds []time.Duration
		for _, p := range probes {
			pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
			start := time.Now()
			err := p.fn(pctx)
			ds = append(ds, time.Since(start))
			pcancel()
			if errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("%s: no answer in 10 s while a backend SETLK blocks", p.what)
			} else if err != nil {
				t.Errorf("%s: %v", p.what, err)
			}
		}
		return ds
	}
	idle := measure()
	hold := ffs.Hold(faultfs.SetLock)
	locked := make(chan error, 1)
	go func() { locked <- fa.Lock(ctx, nfs4.WriteLT, 0, 2) }()
	<-hold.Entered()
	blocked := measure()
	for i, p := range probes {
		t.Logf("%-34s idle %8v   while SETLK blocks %8v", p.what, idle[i], blocked[i])
	}
	hold.Release()
	if err := <-locked; err != nil {
		t.Fatal(err)
	}
}
