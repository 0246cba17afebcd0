//go:build !noceph

package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/grace"
	"nfsgw/recovery/radosstore"
)

// Cluster faults on real Ceph: a dead peer fenced, a tardy restart,
// Ganesha's grace tool against live gateways, RADOS stopping under a grace
// period, and a clean SIGTERM. Every test uses testCluster (three gateways
// on 127.0.0.11-13, member lease 3 s) unless it says why not.

func cephUserOrAdmin() string {
	if u := os.Getenv("CEPH_USER"); u != "" {
		return u
	}
	return "admin"
}

// ctl runs nfsgwctl with args (and a deadline of its own) and returns its
// exit code, stdout and stderr.
func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nfsgwctlBin(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("nfsgwctl %q did not finish within 30 s", args)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nfsgwctl: %v", err)
	}
	return code, out.String(), errb.String()
}

// graceCtl runs "nfsgwctl grace ARGS..." on the cluster's namespace.
func (c *testCluster) graceCtl(args ...string) (int, string, string) {
	c.t.Helper()
	full := []string{"--timeout", "20s", "grace", "--ceph-conf", os.Getenv("CEPH_CONF"), "--ceph-user", cephUserOrAdmin(),
		"--ceph-keyring", os.Getenv("CEPH_ADMIN_KEYRING"), "--pool", c.pool, "--ns", c.ns}
	return ctl(c.t, append(full, args...)...)
}

// ganesha runs Debian's ganesha-rados-grace on the cluster's namespace,
// killing it after limit. crashed: it died by a signal of its own — the
// 4.3 tool returns from main without shutting librados down and about one
// run in thirty aborts in librados' destructors after its work is done
// (docs/cluster.md). timedOut: the limit killed it.
func (c *testCluster) ganesha(limit time.Duration, args ...string) (code int, out string, crashed, timedOut bool) {
	c.t.Helper()
	p, err := exec.LookPath("ganesha-rados-grace")
	if err != nil {
		c.t.Fatal("ganesha-rados-grace is not installed (Debian package nfs-ganesha-rados-grace; make deps installs it)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	full := append([]string{"--cephconf", os.Getenv("CEPH_CONF"), "--userid", cephUserOrAdmin(), "--pool", c.pool, "--ns", c.ns}, args...)
	cmd := exec.CommandContext(ctx, p, full...)
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		return -1, outb.String(), false, true
	}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			c.t.Fatalf("ganesha-rados-grace: %v", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.t.Logf("ganesha-rados-grace %q died by %v (its crash at exit): %s", args, ws.Signal(), strings.TrimSpace(errb.String()))
			return -1, outb.String(), true, false
		}
		c.t.Fatalf("ganesha-rados-grace %q: exit %d: %s", args, ee.ExitCode(), errb.String())
	}
	return 0, outb.String(), false, false
}

// ganeshaDo runs a changing command of Ganesha's tool. A crash at exit
// comes after the change was written (the callers check the database
// afterwards), so it counts as done.
func (c *testCluster) ganeshaDo(args ...string) {
	c.t.Helper()
	if _, _, _, timedOut := c.ganesha(30*time.Second, args...); timedOut {
		c.t.Fatalf("ganesha-rados-grace %q did not finish within 30 s", args)
	}
}

// sameDumps checks that Ganesha's tool and nfsgwctl print the database
// byte for byte alike, and returns the text. Call it only when the
// database is quiet (the gateways are not changing it), or the two reads
// may see two versions.
func (c *testCluster) sameDumps(step string) string {
	c.t.Helper()
	var theirs string
	for i := 0; ; i++ {
		code, out, crashed, timedOut := c.ganesha(30*time.Second, "dump")
		if timedOut {
			c.t.Fatalf("%s: ganesha-rados-grace dump did not finish", step)
		}
		if crashed && i < 8 {
			continue // a read: safe to run again
		}
		if code != 0 {
			c.t.Fatalf("%s: ganesha-rados-grace dump failed", step)
		}
		theirs = out
		break
	}
	code, ours, errs := c.graceCtl("dump")
	if code != 0 {
		c.t.Fatalf("%s: nfsgwctl grace dump: exit %d, %s", step, code, errs)
	}
	if ours != theirs {
		c.t.Fatalf("%s: dumps differ:\nnfsgwctl:\n%s\nganesha-rados-grace:\n%s", step, ours, theirs)
	}
	return ours
}

// quiet waits until no grace period runs and no gateway of the cluster
// has a flag: every gateway grants new state and nothing is in motion.
func (c *testCluster) quiet(limit time.Duration) time.Duration {
	c.t.Helper()
	return c.waitDB("cluster quiet (rec=0, no flags)", limit, func(d grace.DB) bool {
		if d.R != 0 {
			return false
		}
		for _, id := range c.ids {
			if d.Members[id] != 0 {
				return false
			}
		}
		return true
	})
}

// heldFile creates name through cl, writes FILE_SYNC data and takes a
// write lock on [0, 100): state that a restart must reclaim.
func heldFile(t *testing.T, cl *nfsclient.Client, name, data string) (*nfsclient.OpenFile, []byte) {
	t.Helper()
	ctx := ctxT(t)
	root, _, err := cl.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err := cl.Create(ctx, root, name, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.WriteAll(ctx, []byte(data), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	if err := f.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}
	return f, root
}

// dialed is a client of g that has sent RECLAIM_COMPLETE (it has nothing
// to reclaim) and the export's root handle.
func dialed(t *testing.T, g *gateway, owner string) (*nfsclient.Client, []byte) {
	t.Helper()
	cl := g.dialOwner(t, owner)
	completeReclaim(t, cl)
	root, _, err := cl.LookupPath(ctxT(t), "/export")
	if err != nil {
		t.Fatal(err)
	}
	return cl, root
}

// tryOpen is newOpen bounded by limit: a gateway whose backend hangs must
// show up as a failure, not as a hanging test.
func tryOpen(cl *nfsclient.Client, root []byte, owner, name string, limit time.Duration) (nfs4.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	r, err := cl.Do(ctx, cl.NewCompound("open").PutFH(root).Open(nfsclient.OpenArgs{
		ShareAccess: nfs4.ShareAccessBoth, Owner: nfsclient.StateOwner{ClientID: cl.ClientID(), Owner: []byte(owner)},
		Claim: nfs4.ClaimNull, Name: name, Create: true, CreateMode: nfs4.CreateUnchecked}))
	if err != nil {
		return 0, err
	}
	return r.Status, nil
}

// untilOpen polls new OPENs through cl until one answers want, and
// returns how long that took; others than want and ErrGrace/OK fail.
func untilOpen(t *testing.T, what string, cl *nfsclient.Client, root []byte, want nfs4.Status, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for i := 0; ; i++ {
		st, err := tryOpen(cl, root, "probe", fmt.Sprintf("probe-%d-%d", time.Now().UnixNano(), i), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: new OPEN: %v", what, err)
		}
		if st == want {
			return time.Since(start)
		}
		if st != nfs4.OK && st != nfs4.ErrGrace {
			t.Fatalf("%s: new OPEN answered %d", what, st)
		}
		if time.Since(start) > limit {
			t.Fatalf("%s: new OPEN still answers %d after %v, want %d", what, st, limit, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestClusterDeadPeerFenced: gateway 3 dies for good (SIGKILL), then
// gateway 2, whose client holds an open and a lock, is killed and
// restarted. Gateway 2 needs every member to enforce before it resets its
// old session; gateway 3 never will (it died granting, without flags), so
// gateway 2 waits until gateway 1, the live member with the lowest id,
// fences gateway 3 after --peer-fence-after: its CephFS session reset
// (its client's lock released), its recovery records deleted, its flags E
// only. Gateway 2 then serves, its client reclaims and the grace period
// ends. A restart of gateway 3 finds no records and serves at once.
func TestClusterDeadPeerFenced(t *testing.T) {
	// --grace 6: the fence delay may not be shorter than the grace time.
	c := newTestCluster(t, 3, "--grace", "6", "--peer-fence-after", "6")
	g1, g2, g3 := c.gws[0], c.gws[1], c.gws[2]
	ctx := ctxT(t)
	c.quiet(10 * time.Second)

	c1, root1 := dialed(t, g1, "client-1")
	c2 := g2.dialOwner(t, "client-2")
	completeReclaim(t, c2)
	f2, _ := heldFile(t, c2, "held-2", "committed through gateway 2")
	c3 := g3.dialOwner(t, "client-3")
	completeReclaim(t, c3)
	heldFile(t, c3, "held-3", "committed through gateway 3")
	if n, _, err := radosstore.Count(ctx, c.ioctx, c.ids[2]); err != nil || n == 0 {
		t.Fatalf("gateway 3's recovery records before its death: %d, %v (want its client)", n, err)
	}

	// Gateway 3 dies while granting: no flags, so it blocks every restart
	// that needs all members to enforce, until it is fenced.
	g3.kill()
	killed := time.Now()
	g2.kill()
	g2.startTimeout(40 * time.Second)
	up := time.Since(killed)

	d, err := c.db.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d.R == 0 || d.Members[c.ids[1]]&grace.FlagNeed == 0 {
		t.Fatalf("gateway 2 serves without a grace period for it:\n%s", d.Dump())
	}
	if f := d.Members[c.ids[2]]; f != grace.FlagEnforcing {
		t.Fatalf("gateway 3's flags after the fence: %#x, want E only:\n%s", f, d.Dump())
	}
	if n, epochs, err := radosstore.Count(ctx, c.ioctx, c.ids[2]); err != nil || n != 0 || len(epochs) != 0 {
		t.Fatalf("gateway 3's recovery records after the fence: %d in %v, %v", n, epochs, err)
	}
	// Gateway 2 waited for gateway 3 by name, and gateway 1 fenced it.
	if !regexp.MustCompile(`waiting for every member to enforce.*` + regexp.QuoteMeta(c.ids[2])).MatchString(g2.log.String()) {
		t.Errorf("gateway 2's log does not say it waited for %s:\n%s", c.ids[2], tail(g2.log.String(), 30))
	}
	if !strings.Contains(g1.log.String(), "fenced dead member: node="+c.ids[2]) {
		t.Errorf("gateway 1's log does not say it fenced %s:\n%s", c.ids[2], tail(g1.log.String(), 30))
	}

	// Gateway 2's client reclaims its open and lock, and the grace period
	// ends with its RECLAIM_COMPLETE.
	c2b := g2.dialOwner(t, "client-2")
	st, open := reclaimOpen(t, c2b, f2.FH, "reclaim-open")
	if st != nfs4.OK {
		t.Fatalf("reclaim of the open on gateway 2: %d\n%s", st, tail(g2.log.String(), 30))
	}
	if st, _ := opStatus(t, c2b, lockOp(c2b, f2.FH, open, "reclaim-lock", true)); st != nfs4.OK {
		t.Fatalf("reclaim of the lock on gateway 2: %d", st)
	}
	completeReclaim(t, c2b)
	reclaimed := time.Since(killed)
	lifted := c.waitDB("grace over after gateway 2's RECLAIM_COMPLETE", 5*time.Second, func(d grace.DB) bool { return d.R == 0 })
	untilOpen(t, "gateway 1 after grace", c1, root1, nfs4.OK, 5*time.Second)

	// The fence reset gateway 3's CephFS session: the lock its client held
	// is free now, through another gateway.
	g1f, err := c1.OpenAt(ctx, root1, "held-3", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatalf("open of gateway 3's file through gateway 1: %v", err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = g1f.Lock(lockCtx, nfs4.WriteLT, 0, 100)
	cancel()
	if err != nil {
		t.Fatalf("lock of the range gateway 3's dead client held, through gateway 1 after the fence: %v", err)
	}
	// And gateway 2's reclaimed lock holds against gateway 1.
	g1f2, err := c1.OpenAt(ctx, root1, "held-2", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := g1f2.Lock(ctx, nfs4.WriteLT, 0, 10); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("lock of gateway 2's reclaimed range through gateway 1: %v, want DENIED", err)
	}

	// Gateway 3 comes back: no records, nothing to wait for.
	restart := time.Now()
	g3.startTimeout(10 * time.Second)
	back := time.Since(restart)
	if strings.Contains(g3.log.String(), "waiting for every member") {
		t.Errorf("the fenced gateway waited for peers on its return:\n%s", tail(g3.log.String(), 20))
	}
	c.quiet(5 * time.Second)
	c3b, root3 := dialed(t, g3, "client-3b")
	untilOpen(t, "gateway 3 after its return", c3b, root3, nfs4.OK, 2*time.Second)
	d, _ = c.db.Read(ctx)
	if d.R != 0 {
		t.Fatalf("gateway 3's return started a grace period:\n%s", d.Dump())
	}

	t.Logf("kill of gateways 3 and 2 → gateway 2 serving: %v (lock expiry, then gateway 3 dead for --peer-fence-after 6 s, then the fence); → reclaimed: %v; lift seen %v after RECLAIM_COMPLETE; fenced gateway 3 restart → serving: %v",
		up.Round(time.Millisecond), reclaimed.Round(time.Millisecond), lifted.Round(time.Millisecond), back.Round(time.Millisecond))
}

// TestClusterTardyRestart: gateway 2 is killed while its client holds a
// lock, and an operator evicts its CephFS session before it comes back
// (what the MDS does on its own after session_timeout): the dead
// instance's caps and locks were released outside any grace period, so
// the restart is tardy. Its client's reclaim gets NFS4ERR_NO_GRACE, the
// grace period it started ends at once, and status and log say tardy.
func TestClusterTardyRestart(t *testing.T) {
	c := newTestCluster(t, 3)
	g2 := c.gws[1]
	ctx := ctxT(t)
	c.quiet(10 * time.Second)
	c2 := g2.dialOwner(t, "client-2")
	completeReclaim(t, c2)
	f2, _ := heldFile(t, c2, "held", "committed through gateway 2")

	g2.kill()
	uuid := "nfsgw-" + c.ids[1]
	out, err := exec.Command("ceph", "-c", os.Getenv("CEPH_CONF"), "tell", "mds.*", "client", "evict",
		"client_metadata.uuid="+uuid).CombinedOutput()
	if err != nil {
		t.Fatalf("evict gateway 2's CephFS session %s: %v\n%s", uuid, err, out)
	}
	if s := sessionsWithUUID(t, uuid); s != 0 {
		t.Fatalf("gateway 2's session %s still listed by the MDS after the evict (%d)", uuid, s)
	}

	// Restart with an admin socket, to ask it.
	sock := filepath.Join(t.TempDir(), "admin.sock")
	g2.args = append(g2.args, "--admin", "unix:"+sock)
	restart := time.Now()
	g2.startTimeout(30 * time.Second)
	up := time.Since(restart)

	c2b := g2.dialOwner(t, "client-2")
	if st, _ := reclaimOpen(t, c2b, f2.FH, "reclaim-open"); st != nfs4.ErrNoGrace {
		t.Fatalf("reclaim after a tardy restart: %d, want NFS4ERR_NO_GRACE (%d)\n%s", st, nfs4.ErrNoGrace, tail(g2.log.String(), 20))
	}
	// The client gives up reclaiming, as a client told NO_GRACE does: a
	// 4.1 client takes new state only after RECLAIM_COMPLETE.
	completeReclaim(t, c2b)
	c.waitDB("grace over after the tardy restart", 3*time.Second, func(d grace.DB) bool { return d.R == 0 })
	graceOver := time.Since(restart) - up
	code, status, errs := ctl(t, "--addr", "unix:"+sock, "status")
	if code != 0 {
		t.Fatalf("nfsgwctl status: exit %d: %s", code, errs)
	}
	if !regexp.MustCompile(`Tardy restart:\s+yes`).MatchString(status) {
		t.Errorf("nfsgwctl status does not say tardy:\n%s", status)
	}
	if !strings.Contains(g2.log.String(), "tardy restart") {
		t.Errorf("gateway 2's log does not say tardy:\n%s", tail(g2.log.String(), 20))
	}
	// The evict released the lock: a new client takes it, once gateway 2
	// grants new state.
	root, _, err := c2b.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	untilOpen(t, "gateway 2 after the tardy restart", c2b, root, nfs4.OK, 3*time.Second)
	f, err := c2b.OpenAt(ctx, root, "held", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	lockCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := f.Lock(lockCtx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatalf("lock of the evicted instance's range: %v", err)
	}
	t.Logf("tardy restart → serving %v (the killed instance's liveness lock expiring); grace over (rec=0) seen %v after serving",
		up.Round(time.Millisecond), graceOver.Round(time.Millisecond))
}

// sessionsWithUUID counts the MDS sessions whose client metadata names
// uuid.
func sessionsWithUUID(t *testing.T, uuid string) int {
	t.Helper()
	out, err := exec.Command("ceph", "-c", os.Getenv("CEPH_CONF"), "tell", "mds.*", "session", "ls").Output()
	if err != nil {
		t.Fatalf("ceph tell mds.* session ls: %v", err)
	}
	return strings.Count(string(out), `"uuid": "`+uuid+`"`)
}

// TestClusterGaneshaToolLive: Ganesha 4.3's ganesha-rados-grace works on
// a live nfsgw cluster. "start gw1" puts every gateway into grace for new
// OPENs within a notify while existing opens keep working; "lift gw1"
// ends it; a node it adds is a member enforcing, so a restarting gateway
// does not wait for it. Both tools print the same dump at every step.
func TestClusterGaneshaToolLive(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx := ctxT(t)
	c.quiet(10 * time.Second)
	var cls []*nfsclient.Client
	var roots [][]byte
	var files []*nfsclient.OpenFile
	for i, g := range c.gws {
		cl, root := dialed(t, g, fmt.Sprintf("client-%d", i+1))
		f, err := cl.Create(ctx, root, fmt.Sprintf("open-%d", i+1), 0o666)
		if err != nil {
			t.Fatal(err)
		}
		cls, roots, files = append(cls, cl), append(roots, root), append(files, f)
	}
	c.sameDumps("before")

	// Timed from the tool's start: it notifies the grace object before it
	// exits, so the gateways may already refuse when it returns.
	g1 := c.ids[0]
	toolStart := time.Now()
	c.ganeshaDo("start", g1)
	startTool := time.Since(toolStart)
	var inGrace []time.Duration
	for i := range c.gws {
		untilOpen(t, fmt.Sprintf("gateway %d after ganesha-rados-grace start", i+1), cls[i], roots[i], nfs4.ErrGrace, time.Second)
		inGrace = append(inGrace, time.Since(toolStart))
	}
	// Existing state keeps working meanwhile.
	for i, f := range files {
		if _, _, err := f.WriteAll(ctx, []byte("written during grace"), 0, nfs4.FileSync); err != nil {
			t.Fatalf("WRITE on gateway %d's existing open during grace: %v", i+1, err)
		}
	}
	c.waitDB("every gateway enforcing", 5*time.Second, func(d grace.DB) bool { return d.AllEnforcing() && d.R != 0 })
	dump := c.sameDumps("after start")
	if !strings.Contains(dump, g1+"\tNE") {
		t.Fatalf("dump after start %s:\n%s", g1, dump)
	}
	// The gateways never lift on their own: a second later, still grace.
	time.Sleep(time.Second)
	for i := range c.gws {
		if st, err := tryOpen(cls[i], roots[i], "probe", "still-grace", 5*time.Second); err != nil || st != nfs4.ErrGrace {
			t.Fatalf("gateway %d a second into the operator's grace period: %d %v, want GRACE", i+1, st, err)
		}
	}

	toolStart = time.Now()
	c.ganeshaDo("lift", g1)
	liftTool := time.Since(toolStart)
	var out []time.Duration
	for i := range c.gws {
		untilOpen(t, fmt.Sprintf("gateway %d after ganesha-rados-grace lift", i+1), cls[i], roots[i], nfs4.OK, time.Second)
		out = append(out, time.Since(toolStart))
	}
	c.quiet(5 * time.Second)
	c.sameDumps("after lift")

	// A node added by Ganesha's tool: a member, enforcing (it grants
	// nothing before it has started).
	n4 := fmt.Sprintf("%s-ganesha-added", c.ids[0])
	c.ganeshaDo("add", n4)
	dump = c.sameDumps("after add")
	if !strings.Contains(dump, n4+"\t E") {
		t.Fatalf("node added by ganesha-rados-grace is not a member with E:\n%s", dump)
	}
	// Gateway 2 restarts with a client to reclaim: it waits for every
	// member to enforce, and the added node does.
	f2, _ := heldFile(t, cls[1], "held-2", "gateway 2")
	killed := time.Now()
	c.gws[1].kill()
	c.gws[1].startTimeout(20 * time.Second)
	up := time.Since(killed)
	if strings.Contains(c.gws[1].log.String(), n4) {
		t.Errorf("gateway 2 mentions the added node %s while restarting:\n%s", n4, tail(c.gws[1].log.String(), 20))
	}
	c2b := c.gws[1].dialOwner(t, "client-2")
	if st, _ := reclaimOpen(t, c2b, f2.FH, "reclaim"); st != nfs4.OK {
		t.Fatalf("reclaim on gateway 2 with a Ganesha-added member: %d", st)
	}
	completeReclaim(t, c2b)
	// Usually ~1 ms. Once in about ten runs gateway 2's E was still set
	// 5 s after R = 0 (its log showed only two 3 s notify timeouts: the
	// killed instance's watch on the grace object lingers); not yet
	// explained, so the bound is 10 s and the time is printed.
	cleared := c.waitDB("grace over, gateway 2's flags cleared", 10*time.Second, func(d grace.DB) bool { return d.R == 0 && d.Members[c.ids[1]] == 0 })
	c.quiet(5 * time.Second)
	dump = c.sameDumps("after gateway 2's restart")
	if !strings.Contains(dump, n4+"\t E") {
		t.Fatalf("the added node lost its flag:\n%s", dump)
	}
	c.ganeshaDo("remove", n4)
	if dump := c.sameDumps("after remove"); strings.Contains(dump, n4) {
		t.Fatalf("removed node still listed:\n%s", dump)
	}
	t.Logf("ganesha-rados-grace start (the tool ran %v) → NFS4ERR_GRACE for new OPENs seen on gateways 1-3, from the tool's start: %v; lift (ran %v) → new OPEN granted: %v; restart of gateway 2 with a Ganesha-added member → serving %v, RECLAIM_COMPLETE → its flags cleared %v",
		startTool.Round(time.Millisecond), rounded(inGrace), liftTool.Round(time.Millisecond), rounded(out), up.Round(time.Millisecond), cleared.Round(time.Millisecond))
}

func rounded(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(time.Millisecond).String()
	}
	return strings.Join(s, ", ")
}

// osdPid is the pid of the test cluster's only OSD, from the pid file in
// the cluster's own run directory (scripts/ceph-dev.sh): never looked up
// by process name, which could find another cluster's OSD.
func osdPid(t *testing.T) int {
	t.Helper()
	if os.Getenv("NFSGW_E2E_OWN_CEPH") != "1" {
		t.Skip("stops the cluster's OSD: runs only on a cluster that belongs to the test run (scripts/with-ceph.sh, " +
			"as make test does, sets NFSGW_E2E_OWN_CEPH=1; set it by hand only for a throwaway cluster of your own)")
	}
	dir := os.Getenv("CEPH_DEV_DIR")
	if dir == "" {
		t.Skip("CEPH_DEV_DIR unset: stopping the OSD needs a cluster of scripts/ceph-dev.sh (make test starts one)")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "run", "osd.*.pid"))
	if len(files) != 1 {
		t.Skipf("%s has %d OSD pid files: this test stops the only OSD", dir, len(files))
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("%s: bad pid %q", files[0], b)
	}
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("OSD pid %d from %s: %v", pid, files[0], err)
	}
	return pid
}

// TestClusterRadosDownKeepsEnforcement: with a grace period running (an
// operator's ganesha-rados-grace start), the cluster's only OSD is
// stopped (SIGSTOP): RADOS answers nothing. The gateways keep refusing new
// state — they never lift on their own — and the tool cannot lift
// meanwhile. Once the OSD runs again, the lift works and new state is
// granted.
//
// The member lease is 15 s here, not 3: a gateway that cannot renew its
// liveness lock for a whole lease exits (it may have been fenced), and
// this test is about an outage shorter than that.
func TestClusterRadosDownKeepsEnforcement(t *testing.T) {
	pid := osdPid(t)
	c := newTestCluster(t, 3, "--member-lease", "15")
	ctx := ctxT(t)
	c.quiet(10 * time.Second)
	var cls []*nfsclient.Client
	var roots [][]byte
	for i, g := range c.gws {
		cl, root := dialed(t, g, fmt.Sprintf("client-%d", i+1))
		cls, roots = append(cls, cl), append(roots, root)
	}
	g1 := c.ids[0]
	c.ganeshaDo("start", g1)
	c.waitDB("every gateway enforcing", 5*time.Second, func(d grace.DB) bool { return d.AllEnforcing() && d.R != 0 })
	for i := range c.gws {
		untilOpen(t, fmt.Sprintf("gateway %d in grace", i+1), cls[i], roots[i], nfs4.ErrGrace, time.Second)
	}

	// From here until SIGCONT, RADOS does not answer: nothing below may
	// touch it from this process (c.db would block), only the gateways.
	var contOnce sync.Once
	cont := func() {
		contOnce.Do(func() {
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT to the OSD (pid %d): %v", pid, err)
			}
		})
	}
	t.Cleanup(cont)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP to the OSD (pid %d): %v", pid, err)
	}
	stopped := time.Now()
	const outage = 6 * time.Second
	// The tool's lift cannot get through (its read of the grace object
	// waits for the OSD; killed before it can write anything).
	_, _, _, timedOut := c.ganesha(3*time.Second, "lift", g1)
	if !timedOut {
		cont()
		t.Fatalf("ganesha-rados-grace lift finished with the OSD stopped")
	}
	refusals := 0
	for time.Since(stopped) < outage {
		for i := range c.gws {
			st, err := tryOpen(cls[i], roots[i], "probe", fmt.Sprintf("outage-%d", refusals), 3*time.Second)
			if err != nil || st != nfs4.ErrGrace {
				cont()
				t.Fatalf("gateway %d, %v into the RADOS outage: new OPEN %d %v, want NFS4ERR_GRACE", i+1,
					time.Since(stopped).Round(time.Millisecond), st, err)
			}
			select {
			case <-c.gws[i].done:
				cont()
				t.Fatalf("gateway %d exited during the RADOS outage:\n%s", i+1, tail(c.gws[i].log.String(), 20))
			default:
			}
			refusals++
		}
		time.Sleep(200 * time.Millisecond)
	}
	cont()
	resumed := time.Now()

	// Nothing was lifted: the tool's lift was killed, the gateways waited.
	d, err := c.db.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	radosBack := time.Since(resumed)
	if d.R == 0 || d.Members[g1]&grace.FlagNeed == 0 {
		t.Fatalf("the grace period ended during the outage:\n%s", d.Dump())
	}
	for i := range c.gws {
		if st, err := tryOpen(cls[i], roots[i], "probe", "after-cont", 5*time.Second); err != nil || st != nfs4.ErrGrace {
			t.Fatalf("gateway %d after the OSD resumed, before the lift: %d %v, want GRACE", i+1, st, err)
		}
	}
	c.ganeshaDo("lift", g1)
	lifted := time.Now()
	var granted []time.Duration
	for i := range c.gws {
		granted = append(granted, untilOpen(t, fmt.Sprintf("gateway %d after the lift", i+1), cls[i], roots[i], nfs4.OK, 5*time.Second))
	}
	c.quiet(5 * time.Second)
	t.Logf("OSD stopped %v: %d new OPENs refused with NFS4ERR_GRACE, the tool's lift hung (killed after 3 s); after SIGCONT RADOS answered in %v; lift → new OPEN granted on gateways 1-3: %v (lift took %v)",
		outage, refusals, radosBack.Round(time.Millisecond), rounded(granted), lifted.Sub(resumed).Round(time.Millisecond))
}

// TestClusterSigtermReleasesLock: a gateway stopped with SIGTERM releases
// its liveness lock, so its restart does not wait out the member lease;
// and it drops its CephFS session without closing it (abort), so the
// successor resets it and the clients, whose locks the old session kept,
// reclaim.
func TestClusterSigtermReleasesLock(t *testing.T) {
	c := newTestCluster(t, 3)
	g2, g3 := c.gws[1], c.gws[2]
	ctx := ctxT(t)
	c.quiet(10 * time.Second)
	c2 := g2.dialOwner(t, "client-2")
	completeReclaim(t, c2)
	f2, _ := heldFile(t, c2, "held", "committed through gateway 2")
	c3, root3 := dialed(t, g3, "client-3")

	term := time.Now()
	if err := g2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g2.done:
	case <-time.After(15 * time.Second):
		t.Fatalf("gateway 2 did not exit on SIGTERM:\n%s", g2.log.String())
	}
	stopped := time.Since(term)
	if code := g2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("gateway 2 exited %d on SIGTERM:\n%s", code, g2.log.String())
	}
	alive, holder, err := c.db.Liveness(ctx, c.ids[1])
	if err != nil {
		t.Fatal(err)
	}
	if alive {
		t.Fatalf("gateway 2's liveness lock still held after its SIGTERM exit, by %s", holder)
	}
	if n, _, err := radosstore.Count(ctx, c.ioctx, c.ids[1]); err != nil || n == 0 {
		t.Fatalf("gateway 2's records after SIGTERM: %d, %v (its client must be able to reclaim)", n, err)
	}

	restart := time.Now()
	g2.startTimeout(20 * time.Second)
	up := time.Since(restart)
	if strings.Contains(g2.log.String(), "liveness lock held; waiting") {
		t.Errorf("the restart waited for the liveness lock:\n%s", tail(g2.log.String(), 20))
	}
	if up >= 3*time.Second {
		t.Errorf("restart after SIGTERM took %v: as long as the member lease (3 s)", up)
	}
	// The old session was left for the successor to reset, not closed.
	if !strings.Contains(g2.log.String(), "previous session=reset") {
		t.Errorf("the restart did not reset its previous CephFS session:\n%s", tail(g2.log.String(), 20))
	}
	c2b := g2.dialOwner(t, "client-2")
	st, open := reclaimOpen(t, c2b, f2.FH, "reclaim-open")
	if st != nfs4.OK {
		t.Fatalf("reclaim of the open after SIGTERM and restart: %d\n%s", st, tail(g2.log.String(), 20))
	}
	if st, _ := opStatus(t, c2b, lockOp(c2b, f2.FH, open, "reclaim-lock", true)); st != nfs4.OK {
		t.Fatalf("reclaim of the lock after SIGTERM and restart: %d", st)
	}
	completeReclaim(t, c2b)
	reclaimed := time.Since(term)
	c.waitDB("grace over", 5*time.Second, func(d grace.DB) bool { return d.R == 0 })
	untilOpen(t, "gateway 3 after grace", c3, root3, nfs4.OK, 5*time.Second)
	f3, err := c3.OpenAt(ctx, root3, "held", nfs4.ShareAccessBoth, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f3.Lock(ctx, nfs4.WriteLT, 0, 10); nfsclient.StatusOf(err) != nfs4.ErrDenied {
		t.Fatalf("lock of the reclaimed range through gateway 3: %v, want DENIED", err)
	}
	t.Logf("SIGTERM → exited %v; restart → serving %v (no wait for the liveness lock); SIGTERM → reclaimed %v",
		stopped.Round(time.Millisecond), up.Round(time.Millisecond), reclaimed.Round(time.Millisecond))
}
