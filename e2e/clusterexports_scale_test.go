//go:build !noceph

package e2e

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"nfsgw/gateway/config"
	"nfsgw/gateway/exportdb"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// rssKB is a process's resident set size in KiB.
func rssKB(t *testing.T, g *gateway) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

var servingRe = regexp.MustCompile(`serving: exports=(\d+) "?since start"?=(\S+)`)

// TestClusterExportsScale (NFSGW_E2E_SCALE=1): three gateways start on a
// table of 15,000 exports in RADOS; it reports how long each took to serve
// them all, how long one add and one remove take to reach all three, and
// the memory per export (resident set, against a gateway with one export).
// Timings are reported, not asserted.
func TestClusterExportsScale(t *testing.T) {
	if os.Getenv("NFSGW_E2E_SCALE") == "" {
		t.Skip("NFSGW_E2E_SCALE unset: the 15,000-export cluster start is a benchmark")
	}
	const n = 15000
	const dirs = 100

	// Baseline: one gateway, one export.
	base := startTestCluster(t, 1, func(c *testCluster) {
		if _, err := c.exportsStore().Update(context.Background(), exportdb.Add{Export: config.Export{ID: 1, Pseudo: "/export", Path: c.dir.Spec()}}); err != nil {
			t.Fatal(err)
		}
	})
	bc := base.gws[0].dialOwner(t, "baseline")
	completeReclaim(t, bc)
	if _, _, err := bc.LookupPath(ctxT(t), "/export"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	rss1 := rssKB(t, base.gws[0])
	base.gws[0].stop()

	var st *exportdb.Store
	c := startTestCluster(t, 3, func(c *testCluster) {
		for d := range dirs {
			if err := c.dir.Mkdir(fmt.Sprintf("d%03d", d), 0o777); err != nil {
				t.Fatal(err)
			}
		}
		st = c.exportsStore()
		start := time.Now()
		if _, err := st.Update(context.Background(), exportdb.Func{Name: "bulk", F: func(cur []config.Export) ([]config.Export, error) {
			for i := 1; i <= n; i++ {
				cur = append(cur, config.Export{ID: i, Pseudo: fmt.Sprintf("/s/e%05d", i), Path: fmt.Sprintf("%s/d%03d", c.dir.Spec(), i%dirs), Squash: "none"})
			}
			return exportdb.Check(cur)
		}}); err != nil {
			t.Fatal(err)
		}
		t.Logf("%d exports written to RADOS in %v", n, time.Since(start))
	})
	ctx := ctxT(t)
	for i, g := range c.gws {
		m := servingRe.FindStringSubmatch(g.log.String())
		if m == nil || m[1] != strconv.Itoa(n) {
			t.Fatalf("gateway %d: no serving line with %d exports:\n%s", i+1, n, tail(g.log.String(), 20))
		}
		read := regexp.MustCompile(`export table read from RADOS: exports=\d+ .* took=(\S+)`).FindStringSubmatch(g.log.String())
		t.Logf("gateway %d: serving all %d exports %s after its start (table read in %s)", i+1, n, m[2], read[1])
	}
	var clients []*nfsclient.Client
	for i, g := range c.gws {
		cl := g.dialOwner(t, fmt.Sprintf("client-%d", i+1))
		completeReclaim(t, cl)
		if _, _, err := cl.LookupPath(ctx, fmt.Sprintf("/s/e%05d", n)); err != nil {
			t.Fatalf("gateway %d: last export: %v", i+1, err)
		}
		clients = append(clients, cl)
	}
	time.Sleep(2 * time.Second) // the background directory lookups
	var rss []int
	for _, g := range c.gws {
		rss = append(rss, rssKB(t, g))
	}
	t.Logf("resident set: %d KiB with one export, %v KiB with %d: %.1f KiB per export (gateway 1)",
		rss1, rss, n, float64(rss[0]-rss1)/n)

	start := time.Now()
	if _, err := st.Update(ctx, exportdb.Add{Export: config.Export{ID: n + 1, Pseudo: "/added", Path: c.dir.Spec() + "/d000", Squash: "none"}}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, fmt.Sprintf("add to a table of %d", n), start, 2*time.Second, clients, func(cl *nfsclient.Client) bool {
		_, _, err := cl.LookupPath(ctx, "/added")
		return err == nil
	})
	fh, _, err := clients[0].LookupPath(ctx, "/s/e00001")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := st.Update(ctx, exportdb.Remove{ID: 1}); err != nil {
		t.Fatal(err)
	}
	waitAll(t, fmt.Sprintf("remove from a table of %d", n+1), start, 2*time.Second, clients[:1], func(cl *nfsclient.Client) bool {
		r, err := cl.Do(ctx, cl.NewCompound("stale").PutFH(fh).Getattr(nfs4.Bitmap{}))
		return err == nil && r.Status == nfs4.ErrStale
	})
	time.Sleep(100 * time.Millisecond)
	for i, g := range c.gws {
		for _, l := range strings.Split(g.log.String(), "\n") {
			if strings.Contains(l, "export table changed") {
				t.Logf("gateway %d: %s", i+1, l)
			}
		}
	}
	waitAll(t, "removed pseudo path gone", start, 2*time.Second, clients, func(cl *nfsclient.Client) bool {
		_, _, err := cl.LookupPath(ctx, "/s/e00001")
		return err != nil
	})
}
