//go:build !noceph

// Command gracerate measures what a cluster grace period costs a surviving
// gateway's clients: GETATTR and READ rates on state taken before the grace
// period, outside grace and during it, alternating (A B A B). It drives the
// grace database with the same mutations as `nfsgwctl grace start/lift`.
//
//	go run -tags pacific ./bench/gracerate -addr 127.0.0.21:2049 -path /cephfs \
//	    -ceph-conf $CEPH_CONF -pool nfsgw -ns NS -node OTHER_MEMBER
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/radosconn"
)

func main() {
	addr := flag.String("addr", "127.0.0.21:2049", "gateway to measure")
	path := flag.String("path", "/cephfs", "export path")
	conf := flag.String("ceph-conf", os.Getenv("CEPH_CONF"), "ceph.conf")
	pool := flag.String("pool", "nfsgw", "cluster pool")
	ns := flag.String("ns", "", "cluster namespace")
	node := flag.String("node", "", "another member, whose start/lift makes the grace period")
	clients := flag.Int("clients", 16, "concurrent clients")
	dur := flag.Duration("duration", 3*time.Second, "each measurement")
	rounds := flag.Int("rounds", 2, "A B rounds")
	flag.Parse()
	if err := run(*addr, *path, *conf, *pool, *ns, *node, *clients, *dur, *rounds); err != nil {
		fmt.Fprintln(os.Stderr, "gracerate:", err)
		os.Exit(1)
	}
}

func run(addr, path, conf, pool, ns, node string, clients int, dur time.Duration, rounds int) error {
	ctx := context.Background()
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: conf})
	if err != nil {
		return err
	}
	defer conn.Shutdown()
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		return err
	}
	ioctx.SetNamespace(ns)
	db, err := radosdb.Open(conn, ioctx, "")
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Update(ctx, grace.Lift{Node: node}); err != nil {
		return err
	}
	time.Sleep(time.Second)
	type cl struct {
		c *nfsclient.Client
		f *nfsclient.OpenFile
	}
	var cls []cl
	for i := range clients {
		c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		root, _, err := c.LookupPath(ctx, path)
		if err != nil {
			return err
		}
		f, err := c.Create(ctx, root, fmt.Sprintf("gracerate-%d", i), 0o666)
		if err != nil {
			return err
		}
		if _, _, err := f.WriteAll(ctx, make([]byte, 64<<10), 0, nfs4.FileSync); err != nil {
			return err
		}
		cls = append(cls, cl{c, f})
	}
	measure := func(op string) float64 {
		var n atomic.Int64
		var wg sync.WaitGroup
		end := time.Now().Add(dur)
		buf := make([][]byte, len(cls))
		for i, x := range cls {
			buf[i] = make([]byte, 64<<10)
			wg.Go(func() {
				for time.Now().Before(end) {
					var err error
					if op == "getattr" {
						_, err = x.f.Getattr(ctx)
					} else {
						_, _, err = x.f.Read(ctx, buf[i], 0)
					}
					if err != nil {
						fmt.Fprintln(os.Stderr, op, err)
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		return float64(n.Load()) / dur.Seconds()
	}
	for r := 1; r <= rounds; r++ {
		for _, in := range []bool{false, true} {
			var m grace.Mutation = grace.Lift{Node: node}
			if in {
				m = grace.Start{Nodes: []string{node}}
			}
			if _, err := db.Update(ctx, m); err != nil {
				return err
			}
			time.Sleep(time.Second) // the gateway hears of it
			d, _ := db.Read(ctx)
			g, rd := measure("getattr"), measure("read")
			fmt.Printf("round %d rec=%d in-grace=%v getattr %.0f/s read(64 KiB) %.0f/s\n", r, d.R, in, g, rd)
		}
	}
	_, err = db.Update(ctx, grace.Lift{Node: node})
	return err
}
