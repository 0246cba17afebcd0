//go:build !noceph

package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/config"
	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/k8sctl"
	"nfsgw/internal/radosconn"
	"nfsgw/recovery"
	"nfsgw/recovery/radosstore"
)

// The controller's removal of a scaled-down member on a real grace
// database: refused while the member lives; otherwise its records go and
// it leaves, even in a grace period it does not enforce in.
func TestGraceMembersRemove(t *testing.T) {
	ctx := context.Background()
	conn, ioctx, _ := radosconn.TestIOContext(t)
	db, err := radosdb.Open(conn, ioctx, "grace")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Create(ctx); err != nil {
		t.Fatal(err)
	}
	mustUpdate := func(m grace.Mutation) {
		t.Helper()
		if _, err := db.Update(ctx, m); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
	mustUpdate(grace.Add{Nodes: []string{"gw0", "gw1", "gw2"}})
	// gw2 stopped enforcing, then gw0 restarted with clients to reclaim:
	// a grace period in which a plain remove of gw2 is refused.
	mustUpdate(grace.Unenforce{Node: "gw2"})
	mustUpdate(grace.Start{Nodes: []string{"gw0"}})
	if err := db.Lock(ctx, "gw0", "gw0-instance", 30*time.Second); err != nil {
		t.Fatal(err)
	}
	defer db.Unlock(ctx, "gw0", "gw0-instance")
	st, err := radosstore.Open(ctx, ioctx, "gw2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Begin(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := st.Add(ctx, recovery.Record{Owner: []byte("client-of-gw2"), Principal: "sys:0", Minor: 1}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	cfg := &config.Config{Cluster: config.Cluster{MemberLeaseSeconds: 15}}
	g := &graceMembers{cfg: cfg, log: hclog.NewNullLogger(), conn: conn, ioctx: ioctx, db: db, cookie: "controller:test"}
	got, err := g.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]k8sctl.Member{"gw0": {Live: true}, "gw1": {}, "gw2": {}}
	if len(got) != len(want) || got["gw0"] != want["gw0"] || got["gw1"] != want["gw1"] || got["gw2"] != want["gw2"] {
		t.Fatalf("Read = %v, want %v", got, want)
	}
	if err := g.Remove(ctx, "gw0"); !errors.Is(err, radosdb.ErrHeld) {
		t.Errorf("Remove(live gw0) = %v, want ErrHeld", err)
	}
	if err := g.Remove(ctx, "gw2"); err != nil {
		t.Fatalf("Remove(gw2): %v", err)
	}
	if n, _, err := radosstore.Count(ctx, ioctx, "gw2"); err != nil || n != 0 {
		t.Errorf("gw2's records after removal: %d, %v", n, err)
	}
	d, err := db.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Members["gw2"]; ok || d.R == 0 || len(d.Members) != 2 {
		// gw0 still needs its grace period.
		t.Errorf("after removing gw2:\n%s", d.Dump())
	}
	if alive, _, err := db.Liveness(ctx, "gw2"); err != nil || alive {
		t.Errorf("gw2's lock left held: %v, %v", alive, err)
	}
	// Again: already gone is done.
	if err := g.Remove(ctx, "gw2"); err != nil {
		t.Errorf("Remove(gw2) again: %v", err)
	}
}
