package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/nfsclient"
)

// TestTopTalkers: twenty clients, each from its own address, send a few
// GETATTRs; one sends twenty times as many. Within one interval
// `nfsgwctl top` names the storm's address first, with GETATTR as its
// busiest operation.
func TestTopTalkers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "admin.sock")
	g := startGateway(t, "--admin", "unix:"+sock, "--top-interval", "2")
	ctx := ctxT(t)
	dial := func(src string) *nfsclient.Client {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		conn, err := d.DialContext(ctx, "tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := nfsclient.DialConn(ctx, conn, nfsclient.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	const storm = "127.0.9.9"
	var wg sync.WaitGroup
	work := func(src string, n int) {
		c := dial(src)
		fh, _, err := c.LookupPath(ctx, "/export")
		if err != nil {
			t.Error(err)
			return
		}
		for range n {
			if _, err := c.Getattr(ctx, fh); err != nil {
				t.Error(err)
				return
			}
		}
	}
	// Two rounds, so that at least one whole interval sees the traffic.
	for round := range 2 {
		for i := range 20 {
			wg.Go(func() { work(fmt.Sprintf("127.0.8.%d", 10+i), 50) })
		}
		wg.Go(func() { work(storm, 1000) })
		wg.Wait()
		if round == 0 {
			time.Sleep(2100 * time.Millisecond) // let an interval end with the traffic in it
		}
	}
	ctl := nfsgwctlBin(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		out, err := exec.CommandContext(context.Background(), ctl, "--addr", "unix:"+sock, "--json", "top", "-n", "3").CombinedOutput()
		if err != nil {
			t.Fatalf("nfsgwctl top: %v\n%s", err, out)
		}
		var rep admin.TopReport
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if len(rep.Clients) > 0 && rep.Clients[0].Addr == storm {
			top := rep.Clients[0]
			if top.ByOp["GETATTR"] < 500 || len(rep.Clients) < 2 || rep.Clients[1].Ops*5 > top.Ops {
				t.Fatalf("top talkers: %+v", rep.Clients)
			}
			t.Logf("top: %s %d ops (%.0f/s), next %s %d ops", top.Addr, top.Ops, top.Rate, rep.Clients[1].Addr, rep.Clients[1].Ops)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the storm's address never came first: %+v", rep.Clients)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
