//go:build !noceph

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/config"
	"nfsgw/gateway/exportdb"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// exportsStore opens the cluster's export table for the test.
func (c *testCluster) exportsStore() *exportdb.Store {
	c.t.Helper()
	st, err := exportdb.Open(c.conn, c.ioctx, "")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(st.Close)
	return st
}

// waitAll polls ok on every gateway's client until it holds on all of
// them, and returns how long each took from start.
func waitAll(t *testing.T, what string, start time.Time, limit time.Duration, clients []*nfsclient.Client, ok func(*nfsclient.Client) bool) []time.Duration {
	t.Helper()
	took := make([]time.Duration, len(clients))
	var wg sync.WaitGroup
	for i, cl := range clients {
		wg.Go(func() {
			for {
				if ok(cl) {
					took[i] = time.Since(start)
					return
				}
				if time.Since(start) > 5*limit {
					took[i] = -1
					return
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	for i, d := range took {
		if d < 0 || d > limit {
			t.Errorf("%s: gateway %d: %v, want within %v (-1: not within %v)", what, i+1, d, limit, 5*limit)
		}
	}
	t.Logf("%s: on each gateway after %v", what, took)
	return took
}

func ctlBin(t *testing.T) string {
	b := filepath.Join(filepath.Dir(nfsgwBin(t)), "nfsgwctl")
	if _, err := os.Stat(b); err != nil {
		t.Skipf("no nfsgwctl beside nfsgw (%v): make build", err)
	}
	return b
}

// TestClusterExports: three gateways serve the cluster's export table in
// RADOS. An export added to the table (nfsgwctl export add, and the
// package API for the timing) is served by all three within 1 s; a removed
// one's handles are NFS4ERR_STALE on all three within 1 s, its state is
// released, and the other export and its state are untouched.
func TestClusterExports(t *testing.T) {
	none := "none"
	var st *exportdb.Store
	c := startTestCluster(t, 3, func(c *testCluster) {
		st = c.exportsStore()
		if _, err := st.Update(context.Background(), exportdb.Add{Export: config.Export{ID: 1, Pseudo: "/export", Path: c.dir.Spec(), Squash: none}}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := ctxT(t)
	for _, sub := range []string{"added", "byctl"} {
		if err := c.dir.Mkdir(sub, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.dir.WriteFile("added/f", []byte("in the added export"), 0o666); err != nil {
		t.Fatal(err)
	}
	var clients []*nfsclient.Client
	for i, g := range c.gws {
		cl := g.dialOwner(t, fmt.Sprintf("client-%d", i+1))
		completeReclaim(t, cl)
		clients = append(clients, cl)
	}
	// State on the export that stays: an open file on gateway 1.
	root, _, err := clients[0].LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	kept, err := clients[0].Create(ctx, root, "kept", 0o666)
	if err != nil {
		t.Fatal(err)
	}

	// nfsgwctl: add through the command line, refusals included.
	ctl := ctlBin(t)
	run := func(args ...string) (string, error) {
		full := append([]string{"export"}, args[0])
		full = append(full, "--pool", c.pool, "--ns", c.ns, "--ceph-conf", os.Getenv("CEPH_CONF"))
		if u := os.Getenv("CEPH_USER"); u != "" {
			full = append(full, "--ceph-user", u)
		}
		out, err := exec.Command(ctl, append(full, args[1:]...)...).CombinedOutput()
		return string(out), err
	}
	for name, args := range map[string][]string{
		"duplicate id":      {"add", "--id", "1", "--pseudo", "/other", "--path", c.dir.Spec() + "/byctl"},
		"nested pseudo":     {"add", "--id", "3", "--pseudo", "/export/sub", "--path", c.dir.Spec() + "/byctl"},
		"missing directory": {"add", "--id", "3", "--pseudo", "/missing", "--path", c.dir.Spec() + "/missing"},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("nfsgwctl export add, %s: accepted:\n%s", name, out)
		}
	}
	if out, err := run("add", "--id", "3", "--pseudo", "/byctl", "--path", c.dir.Spec()+"/byctl", "--squash", "none"); err != nil {
		t.Fatalf("nfsgwctl export add: %v\n%s", err, out)
	}
	waitAll(t, "export added by nfsgwctl served", time.Now(), time.Second, clients, func(cl *nfsclient.Client) bool {
		_, _, err := cl.LookupPath(ctx, "/byctl")
		return err == nil
	})

	// Add (timed from the write).
	start := time.Now()
	if _, err := st.Update(ctx, exportdb.Add{Export: config.Export{ID: 2, Pseudo: "/added", Path: c.dir.Spec() + "/added", Squash: none}}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "add", start, time.Second, clients, func(cl *nfsclient.Client) bool {
		_, _, err := cl.LookupPath(ctx, "/added/f")
		return err == nil
	})
	var fhs [][]byte
	for _, cl := range clients {
		fh, _, err := cl.LookupPath(ctx, "/added/f")
		if err != nil {
			t.Fatal(err)
		}
		fhs = append(fhs, fh)
	}
	// State on the export that goes: an open on gateway 1.
	added, _, err := clients[0].LookupPath(ctx, "/added")
	if err != nil {
		t.Fatal(err)
	}
	doomed, err := clients[0].Create(ctx, added, "open", 0o666)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := doomed.WriteAll(ctx, []byte("x"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}

	// Remove (timed from the write): stale on every gateway.
	start = time.Now()
	if _, err := st.Update(ctx, exportdb.Remove{ID: 2}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, "remove", start, time.Second, clients, func(cl *nfsclient.Client) bool {
		i := 0
		for j := range clients {
			if clients[j] == cl {
				i = j
			}
		}
		r, err := cl.Do(ctx, cl.NewCompound("stale").PutFH(fhs[i]).Getattr(nfs4.Bitmap{}))
		return err == nil && r.Status == nfs4.ErrStale
	})
	if _, _, err := clients[1].LookupPath(ctx, "/added"); err == nil {
		t.Error("the removed export's pseudo path still resolves on gateway 2")
	}
	if !waitLog(c.gws[0], "released the state on a removed export", 2*time.Second) {
		t.Errorf("gateway 1 did not release the removed export's state:\n%s", tail(c.gws[0].log.String(), 20))
	}
	// Nothing else is disturbed: the open on the kept export still writes.
	if _, _, err := kept.WriteAll(ctx, []byte("still here"), 0, nfs4.FileSync); err != nil {
		t.Fatalf("write on the kept export after the removal: %v", err)
	}
	if b, err := c.dir.ReadFile("kept"); err != nil || string(b) != "still here" {
		t.Fatalf("kept file: %q %v", b, err)
	}
	for i, cl := range clients {
		if _, _, err := cl.LookupPath(ctx, "/byctl"); err != nil {
			t.Errorf("gateway %d: /byctl after the removal: %v", i+1, err)
		}
	}
}

// waitLog waits until g's log contains s.
func waitLog(g *gateway, s string, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if strings.Contains(g.log.String(), s) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// TestClusterExportsUnreadable: a gateway that cannot read the table (here
// a corrupt entry) does not serve, and starts serving once the table is
// fixed; a running gateway that cannot read it keeps its last table.
func TestClusterExportsUnreadable(t *testing.T) {
	var st *exportdb.Store
	c := startTestCluster(t, 1, func(c *testCluster) {
		st = c.exportsStore()
		if _, err := st.Update(context.Background(), exportdb.Add{Export: config.Export{ID: 1, Pseudo: "/export", Path: c.dir.Spec(), Squash: "none"}}); err != nil {
			t.Fatal(err)
		}
	})
	ctx := ctxT(t)
	g1 := c.gws[0]
	cl := g1.dialOwner(t, "client-1")
	completeReclaim(t, cl)

	// Corrupt the table behind the gateways' back, and wake them.
	if err := c.ioctx.SetOmap(exportdb.DefaultObject, map[string][]byte{"00009": []byte("not an export")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.ioctx.NotifyWithTimeout(exportdb.DefaultObject, nil, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if !waitLog(g1, "serving the last table read", 3*time.Second) {
		t.Fatalf("gateway 1 did not report the unreadable table:\n%s", tail(g1.log.String(), 20))
	}
	if _, _, err := cl.LookupPath(ctx, "/export"); err != nil {
		t.Fatalf("gateway 1 stopped serving its last table: %v", err)
	}

	// A gateway starting now does not serve.
	c.ids = append(c.ids, c.ids[0]+"-late")
	g2 := c.gateway(1)
	g2.launch()
	t.Cleanup(g2.stop)
	time.Sleep(3 * time.Second)
	if g2.listening() {
		t.Fatalf("a gateway serves although it cannot read the export table:\n%s", g2.log.String())
	}
	if !strings.Contains(g2.log.String(), "cannot read the cluster's export table; not serving") {
		t.Fatalf("no clear error from the gateway that cannot read the table:\n%s", g2.log.String())
	}

	// Fixed: the new gateway starts, both serve the table as it is now.
	if err := c.ioctx.RmOmapKeys(exportdb.DefaultObject, []string{"00009"}); err != nil {
		t.Fatal(err)
	}
	if err := c.dir.Mkdir("two", 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Update(ctx, exportdb.Add{Export: config.Export{ID: 2, Pseudo: "/two", Path: c.dir.Spec() + "/two"}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !g2.listening() {
		if time.Now().After(deadline) {
			t.Fatalf("gateway 2 did not start once the table was readable:\n%s", g2.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cl2 := g2.dialOwner(t, "client-2")
	completeReclaim(t, cl2)
	for i, cl := range []*nfsclient.Client{cl, cl2} {
		for _, p := range []string{"/export", "/two"} {
			if _, _, err := cl.LookupPath(ctx, p); err != nil {
				t.Errorf("gateway %d: %s: %v", i+1, p, err)
			}
		}
	}
}
