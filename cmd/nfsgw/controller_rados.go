//go:build !noceph

package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/ceph/go-ceph/rados"
	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/config"
	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/k8sctl"
	"nfsgw/internal/radosconn"
)

// graceMembers is the controller's view of the grace database in RADOS.
type graceMembers struct {
	cfg    *config.Config
	log    hclog.Logger
	conn   *rados.Conn
	ioctx  *rados.IOContext
	db     *radosdb.DB
	cookie string
}

// openMembers connects to the cluster's grace database with the gateways'
// configuration (ceph and cluster sections).
func openMembers(cfg *config.Config, log hclog.Logger) (k8sctl.Members, func(), error) {
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: cfg.Ceph.Conf, User: cfg.Ceph.User, Keyring: cfg.Ceph.Keyring})
	if err != nil {
		return nil, nil, err
	}
	ioctx, err := conn.OpenIOContext(cfg.Cluster.Pool)
	if err != nil {
		conn.Shutdown()
		return nil, nil, fmt.Errorf("pool %s: %w", cfg.Cluster.Pool, err)
	}
	ioctx.SetNamespace(cfg.Cluster.Namespace)
	db, err := radosdb.Open(conn, ioctx, cfg.Cluster.OID)
	if err != nil {
		ioctx.Destroy()
		conn.Shutdown()
		return nil, nil, err
	}
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	g := &graceMembers{cfg: cfg, log: log, conn: conn, ioctx: ioctx, db: db,
		cookie: fmt.Sprintf("controller:%s.%d.%s", host, os.Getpid(), hex.EncodeToString(b[:]))}
	return g, func() { db.Close(); ioctx.Destroy(); conn.Shutdown() }, nil
}

// Read implements k8sctl.Members: every member and whether its liveness
// lock is held.
func (g *graceMembers) Read(ctx context.Context) (map[string]k8sctl.Member, error) {
	d, err := g.db.Read(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]k8sctl.Member, len(d.Members))
	for node := range d.Members {
		alive, _, err := g.db.Liveness(ctx, node)
		if err != nil {
			return nil, fmt.Errorf("liveness of %s: %w", node, err)
		}
		out[node] = k8sctl.Member{Live: alive}
	}
	return out, nil
}

// Remove implements k8sctl.Members. It fences the member as a peer would
// (its liveness lock taken, which fails while it lives; its CephFS
// sessions reset, so caps it held do not wait for the MDS to time them
// out; its recovery records deleted) and, still holding the lock, takes it
// out of the database as a drained gateway takes itself out: enforcing
// first, which is true of a member that cannot run, so the removal is not
// refused during a grace period.
func (g *graceMembers) Remove(ctx context.Context, node string) error {
	return fenceNode(ctx, g.db, g.ioctx, g.cfg.Ceph, node, g.cookie, g.cfg.Cluster.MemberLease(), g.log,
		func(ctx context.Context) error {
			leave := grace.Seq{grace.Enforce{Node: node}, grace.Remove{Nodes: []string{node}}}
			_, err := g.db.UpdateGuarded(ctx, leave, radosdb.NodeObject(node), radosdb.LockName, g.cookie)
			if err != nil && !errors.Is(err, grace.ErrNotMember) {
				return fmt.Errorf("remove %s: %w", node, err)
			}
			if err := g.db.SetSessions(ctx, node, nil); err != nil {
				g.log.Warn("clearing the removed member's sessions", "node", node, "error", err)
			}
			return nil
		})
}
