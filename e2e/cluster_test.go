//go:build !noceph

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/cephfsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/radosconn"
	"nfsgw/recovery/radosstore"
)

// A test cluster: gateways on 127.0.0.11, .12, ... sharing one CephFS
// directory, one grace database in a namespace of their own, and node ids
// unique to the test (CephFS session uuids are named after them).
type testCluster struct {
	t     *testing.T
	ns    string
	pool  string
	conn  *rados.Conn
	ioctx *rados.IOContext
	// radosExports: the gateways list no exports of their own and serve
	// the cluster's export table in RADOS.
	radosExports bool
	db           *radosdb.DB
	dir          backendDir
	ids          []string
	gws          []*gateway
}

// clusterArgs are the test timings: short leases so that a failover takes
// seconds (member lease 3 s: a killed gateway's lock is gone within it).
var clusterArgs = []string{"--squash", "none", "--lease", "5", "--grace", "10", "--member-lease", "3"}

func newTestCluster(t *testing.T, n int, extra ...string) *testCluster {
	t.Helper()
	return startTestCluster(t, n, nil, extra...)
}

// startTestCluster is newTestCluster; with setup, the gateways serve the
// cluster's export table in RADOS, which setup fills before they start.
func startTestCluster(t *testing.T, n int, setup func(*testCluster), extra ...string) *testCluster {
	t.Helper()
	if testBackend(t).Name() != "ceph" {
		t.Skip("cluster tests run in the CephFS pass of make test (NFSGW_E2E_BACKEND=ceph)")
	}
	conn, ioctx, ns := radosconn.TestIOContext(t)
	db, err := radosdb.Open(conn, ioctx, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	pool, _ := ioctx.GetPoolName()
	c := &testCluster{t: t, ns: ns, pool: pool, conn: conn, ioctx: ioctx, db: db, dir: testBackend(t).NewDir(t), radosExports: setup != nil}
	stamp := time.Now().UnixNano() % 1e9
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, fmt.Sprintf("t%d-g%d", stamp, i))
	}
	if _, err := db.Update(context.Background(), grace.Add{Nodes: c.ids}); err != nil && !errors.Is(err, radosdb.ErrNoDB) {
		t.Fatal(err)
	} else if err != nil {
		if _, err := db.Create(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Update(context.Background(), grace.Add{Nodes: c.ids}); err != nil {
			t.Fatal(err)
		}
	}
	if setup != nil {
		setup(c)
	}
	for i := range n {
		c.gws = append(c.gws, c.gateway(i, extra...))
	}
	// A member that stops drops its CephFS session without returning its
	// caps, for its successor to reset; the tests have no successor, so
	// they reset the sessions themselves (registered first: it runs after
	// every gateway stopped), or the next test's mkdir would wait for the
	// MDS to time them out.
	t.Cleanup(func() { resetSessions(t, c.ids) })
	for _, g := range c.gws {
		g.start()
		t.Cleanup(func() {
			g.stop()
			g.checkExit()
		})
	}
	return c
}

// checkExit fails the test if the gateway's last run ended other than by
// the harness: stop's SIGTERM must end it with status 0 (a crash in C
// code at shutdown shows as Go's exit status 2 after a traceback), a
// SIGKILL is the test's own doing.
func (g *gateway) checkExit() {
	if g.cmd == nil || g.cmd.ProcessState == nil {
		return
	}
	if code := g.cmd.ProcessState.ExitCode(); code > 0 {
		g.t.Errorf("gateway %s (%s) exited with status %d:\n%s", g.Node, g.Addr, code, crashHead(g.log.String()))
	}
}

// crashHead is the part of a log worth reading after a crash: the lines
// before Go's traceback and its first goroutine.
func crashHead(log string) string {
	if i := strings.Index(log, "\ngoroutine "); i >= 0 {
		end := i + 1 + strings.Index(log[i+1:], "\n\n")
		if end > i {
			return tail(log[:end], 60)
		}
	}
	return tail(log, 40)
}

func (c *testCluster) gateway(i int, extra ...string) *gateway {
	b := testBackend(c.t)
	g := &gateway{t: c.t, Addr: freePortOn(c.t, fmt.Sprintf("127.0.0.%d", 11+i)), Dir: c.dir, Node: c.ids[i]}
	g.adminSock = fmt.Sprintf("%s/admin-%s.sock", c.t.TempDir(), g.Node)
	g.args = append([]string{"--listen", g.Addr, "--admin", "unix:" + g.adminSock}, b.Args(g.Node)...)
	if !c.radosExports {
		g.args = append(g.args, "--export", "/export="+c.dir.Spec())
	}
	g.args = append(g.args, "--cluster-pool", c.pool, "--cluster-ns", c.ns)
	g.args = append(g.args, clusterArgs...)
	g.args = append(g.args, extra...)
	return g
}

func (c *testCluster) dump() string {
	d, err := c.db.Read(context.Background())
	if err != nil {
		return err.Error()
	}
	return d.Dump()
}

// waitDB waits until the grace database satisfies ok.
func (c *testCluster) waitDB(what string, limit time.Duration, ok func(grace.DB) bool) time.Duration {
	c.t.Helper()
	start := time.Now()
	for {
		d, err := c.db.Read(context.Background())
		if err == nil && ok(d) {
			return time.Since(start)
		}
		if time.Since(start) > limit {
			c.t.Fatalf("%s: not within %v; grace database:\n%s", what, limit, c.dump())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// newOpen tries a new (non-reclaim) OPEN of name with create.
func newOpen(t *testing.T, c *nfsclient.Client, root []byte, owner, name string) nfs4.Status {
	st, _ := opStatus(t, c, c.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessBoth, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte(owner)},
		Claim: nfs4.ClaimNull, Name: name, Create: true, CreateMode: nfs4.CreateUnchecked}))
	return st
}

func completeReclaim(t *testing.T, c *nfsclient.Client) {
	t.Helper()
	if st, _ := opStatus(t, c, c.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
		t.Fatalf("RECLAIM_COMPLETE: %d", st)
	}
}

// TestClusterFailover: three gateways; clients on each hold opens, locks
// and FILE_SYNC data. Gateway 2 is killed and restarted: gateways 1 and 3
// refuse new state with NFS4ERR_GRACE but serve I/O on existing state;
// gateway 2's client reclaims its open and lock; a client of gateway 3
// hammering the locked range sees only GRACE or DENIED until then; the
// data is all there; and grace ends as soon as the client sent
// RECLAIM_COMPLETE.
func TestClusterFailover(t *testing.T) {
	c := newTestCluster(t, 3)
	g1, g2, g3 := c.gws[0], c.gws[1], c.gws[2]
	ctx := ctxT(t)

	c1 := g1.dialOwner(t, "client-1")
	c2 := g2.dialOwner(t, "client-2")
	c3 := g3.dialOwner(t, "client-3")
	for _, cl := range []*nfsclient.Client{c1, c2, c3} {
		completeReclaim(t, cl)
	}
	root2, _, err := c2.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f2, err := c2.Create(ctx, root2, "locked", 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f2.WriteAll(ctx, []byte("committed through gateway 2"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	if err := f2.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	fh := f2.FH
	root1, _, err := c1.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f1, err := c1.Create(ctx, root1, "one", 0o666)
	if err != nil {
		t.Fatal(err)
	}
	root3, _, err := c3.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f3, err := c3.OpenAt(ctx, root3, "locked", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}

	// Watch the database from the side: when the grace period starts and
	// ends, as every gateway sees it.
	var graceStart, graceEnd time.Time
	watchDone := make(chan struct{})
	stopWatch := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(10 * time.Millisecond):
			}
			d, err := c.db.Read(context.Background())
			if err != nil {
				continue
			}
			if d.R != 0 && graceStart.IsZero() {
				graceStart = time.Now()
			}
			if d.R == 0 && !graceStart.IsZero() && graceEnd.IsZero() {
				graceEnd = time.Now()
				return
			}
		}
	}()
	killed := time.Now()
	g2.kill()
	// While gateway 2 is down its CephFS session keeps the lock (a
	// conflicting request through another gateway waits in the MDS until
	// the session is reset: it is not tried here).
	// Gateway 2 comes back: it joins (a grace period starts) and waits for
	// the others to enforce before it resets its old session.
	g2.startTimeout(30 * time.Second)
	up := time.Since(killed)
	d, _ := c.db.Read(context.Background())
	if d.R == 0 || d.Members[c.ids[1]]&grace.FlagNeed == 0 {
		t.Fatalf("gateway 2 serves but the database shows no grace for it:\n%s", d.Dump())
	}
	if !d.AllEnforcing() {
		t.Fatalf("gateway 2 serves while a member does not enforce:\n%s", d.Dump())
	}

	// (a) The survivors refuse new state, but serve I/O on what they have.
	if st := newOpen(t, c1, root1, "o-new", "new-during-grace"); st != nfs4.ErrGrace {
		t.Fatalf("new OPEN on gateway 1 during grace: %d, want NFS4ERR_GRACE", st)
	}
	if st := newOpen(t, c3, root3, "o-new", "new-during-grace"); st != nfs4.ErrGrace {
		t.Fatalf("new OPEN on gateway 3 during grace: %d, want NFS4ERR_GRACE", st)
	}
	if _, _, err := f1.WriteAll(ctx, []byte("survivor write"), 0, nfs4.FileSync); err != nil {
		t.Fatalf("WRITE on an existing open of gateway 1 during grace: %v", err)
	}
	buf := make([]byte, 64)
	if n, err := f3.ReadFull(ctx, buf, 0); err != nil || string(buf[:n]) != "committed through gateway 2" {
		t.Fatalf("READ through gateway 3 during grace: %q, %v", buf[:n], err)
	}
	// (c) Gateway 3's client hammering the range sees GRACE or DENIED.
	for range 5 {
		err := f3.Lock(ctx, nfs4.WriteLT, 0, 10)
		if st := nfsclient.StatusOf(err); st != nfs4.ErrGrace && st != nfs4.ErrDenied {
			t.Fatalf("lock of the reclaimable range through gateway 3: %v, want GRACE or DENIED", err)
		}
	}

	// (b) Gateway 2's client reclaims its open and lock — from another
	// source address (a client behind NAT, a new pod IP): reclaim is
	// keyed on the client's owner and principal, never its address.
	c2b := dialOwnerFrom(t, g2, "127.0.0.99", "client-2")
	st, open := reclaimOpen(t, c2b, fh, "reclaim-open")
	if st != nfs4.OK {
		t.Fatalf("reclaim of the open on gateway 2: %d\n%s", st, tail(g2.log.String(), 30))
	}
	if st, r := opStatus(t, c2b, lockOp(c2b, fh, open, "reclaim-lock", true)); st != nfs4.OK {
		t.Fatalf("reclaim of the lock on gateway 2: %d %+v", st, r)
	}
	resumed := time.Since(killed)
	// (d) The committed data is there, through the restarted gateway.
	if st, r := opStatus(t, c2b, c2b.NewCompound("read").PutFH(fh).Read(open, 0, 64)); st != nfs4.OK ||
		string(r.Ops[1].Res.(*nfsclient.ReadRes).Data) != "committed through gateway 2" {
		t.Fatalf("read after failover: %d", st)
	}
	// (e) RECLAIM_COMPLETE ends the grace period early, everywhere.
	completeReclaim(t, c2b)
	reclaimDone := time.Now()
	inGrace := c.waitDB("grace lifted after the last RECLAIM_COMPLETE", 5*time.Second, func(d grace.DB) bool { return d.R == 0 })
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := newOpen(t, c3, root3, "o-new", "new-after-grace")
		if st == nfs4.OK {
			break
		}
		if st != nfs4.ErrGrace || time.Now().After(deadline) {
			t.Fatalf("new OPEN on gateway 3 after grace: %d", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The reclaimed lock holds against the other gateways.
	if err := f3.Lock(ctx, nfs4.WriteLT, 0, 10); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("lock of the reclaimed range through gateway 3 after grace: %v, want DENIED", err)
	}
	close(stopWatch)
	<-watchDone
	if graceStart.IsZero() || graceEnd.IsZero() {
		t.Fatal("the side watcher did not see the grace period")
	}
	servedAt := killed.Add(up)
	t.Logf("kill → gateway 2 serving again: %v (mostly the wait for the killed instance's liveness lock to expire); kill → reclaimed, I/O resumed: %v",
		up.Round(time.Millisecond), resumed.Round(time.Millisecond))
	t.Logf("grace period (rec != 0) lasted %v; gateway 2's reclaim (serving → RECLAIM_COMPLETE) took %v; lift seen %v after RECLAIM_COMPLETE",
		graceEnd.Sub(graceStart).Round(time.Millisecond), reclaimDone.Sub(servedAt).Round(time.Millisecond), inGrace.Round(time.Millisecond))
	fmt.Fprintf(os.Stderr, "cluster failover: kill→serving %v, kill→I/O resumed %v, grace %v, reclaim %v\n",
		up.Round(time.Millisecond), resumed.Round(time.Millisecond), graceEnd.Sub(graceStart).Round(time.Millisecond),
		reclaimDone.Sub(servedAt).Round(time.Millisecond))
}

// resetSessions resets the CephFS sessions of stopped test gateways, as
// their successors would.
func resetSessions(t *testing.T, ids []string) {
	for _, id := range ids {
		opts := cephfsal.MountOptions{ConfPath: os.Getenv("CEPH_CONF"), User: os.Getenv("CEPH_USER"), MountTimeout: 10 * time.Second}
		if _, err := cephfsal.ResetSession(opts, "nfsgw-"+id); err != nil {
			t.Logf("reset the session of %s: %v", id, err)
		}
	}
}

// dialOwnerFrom is dialOwner from a chosen source address.
func dialOwnerFrom(t *testing.T, g *gateway, src, owner string) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	conn, err := d.DialContext(ctx, "tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := nfsclient.DialConn(ctx, conn, nfsclient.Options{ClientOwner: owner, NoReclaimComplete: true, RetryTimeout: -1})
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { c.Abandon() })
	return c
}

// TestClusterDuplicateNodeID: a second gateway with a node id that a live
// gateway has refuses to start, naming the holder.
func TestClusterDuplicateNodeID(t *testing.T) {
	c := newTestCluster(t, 1)
	dup := c.gateway(0)
	dup.Addr = freePortOn(t, "127.0.0.14")
	dup.args[1] = dup.Addr
	out, err := runToExit(t, 30*time.Second, dup.args...)
	if err == nil || !strings.Contains(out, "in use by a live gateway") {
		t.Fatalf("second gateway with id %s: %v\n%s", c.ids[0], err, out)
	}
	// The first one still serves.
	cl := c.gws[0].dialOwner(t, "still-there")
	completeReclaim(t, cl)
}

// TestClusterCorruptGraceDB: a grace object that is not Ganesha's format
// is refused with a clear error and never rewritten.
func TestClusterCorruptGraceDB(t *testing.T) {
	if testBackend(t).Name() != "ceph" {
		t.Skip("cluster tests run in the CephFS pass of make test (NFSGW_E2E_BACKEND=ceph)")
	}
	_, ioctx, ns := radosconn.TestIOContext(t)
	bad := []byte("fifteen bytes!!")
	if err := ioctx.WriteFull("grace", bad); err != nil {
		t.Fatal(err)
	}
	pool, _ := ioctx.GetPoolName()
	dir := testBackend(t).NewDir(t)
	args := append([]string{"--listen", freePortOn(t, "127.0.0.15"), "--export", "/export=" + dir.Spec()},
		testBackend(t).Args(fmt.Sprintf("t%d-corrupt", time.Now().UnixNano()%1e9))...)
	args = append(args, "--cluster-pool", pool, "--cluster-ns", ns)
	args = append(args, clusterArgs...)
	out, err := runToExit(t, 30*time.Second, args...)
	if err == nil || !strings.Contains(out, "corrupt") {
		t.Fatalf("gateway on a corrupt grace object: %v\n%s", err, out)
	}
	got := make([]byte, 64)
	n, _ := ioctx.Read("grace", got, 0)
	if string(got[:n]) != string(bad) {
		t.Fatalf("the corrupt object was rewritten: %q", got[:n])
	}
	// And a missing object says what to do.
	if err := ioctx.Delete("grace"); err != nil {
		t.Fatal(err)
	}
	out, err = runToExit(t, 30*time.Second, args...)
	if err == nil || !strings.Contains(out, "nfsgwctl grace add") {
		t.Fatalf("gateway without a grace object: %v\n%s", err, out)
	}
}

// TestClusterDrain: a drained gateway (SIGUSR2: scale-down) waits for its
// clients, leaves the grace database, deletes its records and exits 0; a
// restart of another member then never waits for it.
func TestClusterDrain(t *testing.T) {
	c := newTestCluster(t, 3, "--drain-timeout", "3")
	g2, g3 := c.gws[1], c.gws[2]
	ctx := ctxT(t)
	// Gateway 3 has a client with state, which never leaves: the drain
	// evicts it after the drain timeout.
	c3 := g3.dialOwner(t, "client-3")
	completeReclaim(t, c3)
	root3, _, err := c3.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	// A gateway that has just joined answers GRACE for a few
	// milliseconds, until its grace gate has read the database (a clean-
	// clone CI run once opened inside that window); clients retry.
	untilOpen(t, "gateway 3 after start", c3, root3, nfs4.OK, 5*time.Second)
	if _, err := c3.Create(ctx, root3, "held", 0o666); err != nil {
		t.Fatal(err)
	}
	c2 := g2.dialOwner(t, "client-2")
	completeReclaim(t, c2)
	root2, _, err := c2.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	untilOpen(t, "gateway 2 after start", c2, root2, nfs4.OK, 5*time.Second)
	f2, err := c2.Create(ctx, root2, "f2", 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if err := f2.Lock(ctx, nfs4.WriteLT, 0, 10); err != nil {
		t.Fatal(err)
	}

	// Drain through the admin API, as a Kubernetes preStop hook would
	// (SIGUSR2 takes the same path).
	start := time.Now()
	ctl := nfsgwctlBin(t)
	if out, err := exec.Command(ctl, "--addr", "unix:"+g3.adminSock, "drain").CombinedOutput(); err != nil {
		t.Fatalf("nfsgwctl drain: %v\n%s", err, out)
	}
	select {
	case <-g3.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("drained gateway did not exit:\n%s", g3.log.String())
	}
	if code := g3.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("drained gateway exited %d:\n%s", code, g3.log.String())
	}
	drainTook := time.Since(start)
	d, err := c.db.Read(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Members[c.ids[2]]; ok {
		t.Fatalf("drained gateway still a member:\n%s", d.Dump())
	}
	if n, epochs, err := radosstore.Count(context.Background(), c.ioctx, c.ids[2]); err != nil || n != 0 || len(epochs) != 0 {
		t.Fatalf("drained gateway's records: %d in %v, %v", n, epochs, err)
	}
	// Gateway 2 restarts with a client to reclaim: it waits for gateway 1
	// only, never for the drained one.
	restart := time.Now()
	g2.kill()
	g2.startTimeout(30 * time.Second)
	c2b := g2.dialOwner(t, "client-2")
	st, open := reclaimOpen(t, c2b, f2.FH, "reclaim")
	if st != nfs4.OK {
		t.Fatalf("reclaim after the drain: %d", st)
	}
	if st, _ := opStatus(t, c2b, lockOp(c2b, f2.FH, open, "reclaim-lock", true)); st != nfs4.OK {
		t.Fatalf("lock reclaim after the drain: %d", st)
	}
	completeReclaim(t, c2b)
	c.waitDB("grace over", 5*time.Second, func(d grace.DB) bool { return d.R == 0 })
	t.Logf("drain (one client evicted after the 3 s drain timeout) took %v; restart of gateway 2 → out of grace %v",
		drainTook.Round(time.Millisecond), time.Since(restart).Round(time.Millisecond))
}
