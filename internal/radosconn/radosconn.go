//go:build !noceph

// Package radosconn opens the RADOS connection that the cluster-wide stores
// (grace database, recovery records, node metadata) share, and gives tests
// an isolated namespace on the throwaway test cluster.
package radosconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"
)

// Options says which cluster and which cephx user to connect as.
type Options struct {
	ConfPath string        // ceph.conf; empty: librados' search path
	User     string        // without "client."; empty: admin
	Keyring  string        // empty: what ceph.conf says
	Timeout  time.Duration // for each monitor and OSD operation; 0: 10 s
}

// Connect opens a connection. A cluster that does not answer within the
// timeout is an error, never a hang: callers retry.
func Connect(o Options) (*rados.Conn, error) {
	user := o.User
	if user == "" {
		user = "admin"
	}
	conn, err := rados.NewConnWithUser(user)
	if err != nil {
		return nil, fmt.Errorf("rados: %w", err)
	}
	if o.ConfPath != "" {
		err = conn.ReadConfigFile(o.ConfPath)
	} else {
		err = conn.ReadDefaultConfigFile()
	}
	if err != nil {
		conn.Shutdown()
		return nil, fmt.Errorf("rados: reading ceph.conf %q: %w", o.ConfPath, err)
	}
	if o.Keyring != "" {
		if err := conn.SetConfigOption("keyring", o.Keyring); err != nil {
			conn.Shutdown()
			return nil, fmt.Errorf("rados: keyring: %w", err)
		}
	}
	t := o.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	secs := strconv.Itoa(max(1, int(t.Seconds())))
	for _, k := range []string{"rados_mon_op_timeout", "rados_osd_op_timeout", "client_mount_timeout"} {
		if err := conn.SetConfigOption(k, secs); err != nil {
			conn.Shutdown()
			return nil, fmt.Errorf("rados: %s: %w", k, err)
		}
	}
	if err := conn.Connect(); err != nil {
		conn.Shutdown()
		return nil, fmt.Errorf("rados: connecting as client.%s: %w", user, err)
	}
	return conn, nil
}

// TestIOContext returns an I/O context on the test cluster named by
// CEPH_CONF (pool CEPH_POOL, default "nfsgw") in a namespace of its own, so
// that tests never see each other's objects; the connection is closed when
// the test ends. Without CEPH_CONF the test is skipped: `make test` always
// starts a cluster and sets it.
func TestIOContext(t testing.TB) (*rados.Conn, *rados.IOContext, string) {
	t.Helper()
	conf := os.Getenv("CEPH_CONF")
	if conf == "" {
		t.Skip("CEPH_CONF is unset: no Ceph cluster to test against (scripts/ceph-dev.sh up DIR; eval \"$(scripts/ceph-dev.sh env DIR)\")")
	}
	conn, err := Connect(Options{ConfPath: conf, User: os.Getenv("CEPH_USER"), Keyring: os.Getenv("CEPH_ADMIN_KEYRING")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Shutdown)
	pool := os.Getenv("CEPH_POOL")
	if pool == "" {
		pool = "nfsgw"
	}
	ioctx, err := conn.OpenIOContext(pool)
	if err != nil {
		t.Fatalf("open pool %s: %v", pool, err)
	}
	t.Cleanup(ioctx.Destroy)
	var b [6]byte
	rand.Read(b[:])
	ns := "test-" + hex.EncodeToString(b[:])
	ioctx.SetNamespace(ns)
	return conn, ioctx, ns
}

// ObjectContexts opens two I/O contexts on conn in the pool and namespace
// ioctx is set to, for one versioned object: own carries only that object's
// reads and writes (librados reports the version of the last operation per
// I/O context, so nothing else may run on it between a read and the
// version query), aux everything else (watch, notify, other objects).
// where names the object for messages. The caller destroys both.
func ObjectContexts(conn *rados.Conn, ioctx *rados.IOContext, oid string) (own, aux *rados.IOContext, where string, err error) {
	pool, err := ioctx.GetPoolName()
	if err != nil {
		return nil, nil, "", fmt.Errorf("pool name: %w", err)
	}
	ns, err := ioctx.GetNamespace()
	if err != nil {
		return nil, nil, "", fmt.Errorf("namespace: %w", err)
	}
	if own, err = conn.OpenIOContext(pool); err != nil {
		return nil, nil, "", fmt.Errorf("open pool %s: %w", pool, err)
	}
	own.SetNamespace(ns)
	if aux, err = conn.OpenIOContext(pool); err != nil {
		own.Destroy()
		return nil, nil, "", fmt.Errorf("open pool %s: %w", pool, err)
	}
	aux.SetNamespace(ns)
	where = fmt.Sprintf("object %s in pool %s", oid, pool)
	if ns != "" {
		where = fmt.Sprintf("object %s in pool %s, namespace %s", oid, pool, ns)
	}
	return own, aux, where, nil
}

// Watch calls onChange with each notify's payload on object oid (and with
// nil each time the watch is (re-)established, since changes made while it
// was down were not seen), until ctx ends. A watch that breaks (an OSD or
// the connection failed, the object was deleted or does not exist yet) is
// set up again after retry; logf says why. Notifies are acked at once: the
// notifier waits for every watcher. onChange should only wake the caller,
// which also polls, because a notify can be lost.
func Watch(ctx context.Context, ioctx *rados.IOContext, oid string, retry time.Duration, logf func(string, ...any), onChange func([]byte)) error {
	for {
		err := watchOnce(ctx, ioctx, oid, onChange)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if logf != nil {
			logf("watch on %s: %v; watching again in %v", oid, err, retry)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retry):
		}
	}
}

func watchOnce(ctx context.Context, ioctx *rados.IOContext, oid string, onChange func([]byte)) error {
	w, err := ioctx.Watch(oid)
	if err != nil {
		return err
	}
	defer w.Delete()
	onChange(nil)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events():
			if !ok {
				return errors.New("watch closed")
			}
			_ = ev.Ack(nil)
			onChange(ev.Data)
		case err, ok := <-w.Errors():
			if !ok {
				return errors.New("watch closed")
			}
			return err
		}
	}
}

// Errno extracts the negative errno from a go-ceph error (0 when none), so
// that callers tell RADOS's answers apart without comparing strings.
func Errno(err error) int {
	if err == nil {
		return 0
	}
	var oe rados.OperationError
	if errors.As(err, &oe) && oe.OpError != nil {
		err = oe.OpError
	}
	var ec interface{ ErrorCode() int }
	if errors.As(err, &ec) {
		return ec.ErrorCode()
	}
	return 0
}
