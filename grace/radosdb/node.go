//go:build !noceph

package radosdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/grace"
)

// LockName is the cls lock on a node object that says its instance lives.
const LockName = "nfsgw.liveness"

// MaxSessions and MaxSessionLen bound what SetSessions stores and what
// Sessions accepts back: a node has one CephFS session per filesystem and
// user it mounts.
const (
	MaxSessions   = 64
	MaxSessionLen = 128
)

// librados' lock flags (LIBRADOS_LOCK_FLAG_*), which go-ceph does not name.
const (
	lockFlagMayRenew  = 0x1 // take it, or renew it if this locker has it
	lockFlagMustRenew = 0x2 // renew only: ENOENT if this locker does not have it
)

// sessionsKey is the omap key of the node object that holds the session
// uuids, newline-separated.
const sessionsKey = "sessions"

// Errors of the liveness lock.
var (
	// ErrHeld: another instance holds the node's liveness lock.
	ErrHeld = errors.New("grace: node is held by another live instance")
	// ErrLost: a renew found that this instance no longer holds the lock
	// (it expired and may have been taken, or was broken by an operator).
	ErrLost = errors.New("grace: liveness lock lost")
)

// NodeObject is the name of node's object.
func NodeObject(node string) string { return "nfsgw.node." + node }

// Holder is who holds a liveness lock.
type Holder struct {
	Client string // the RADOS client entity, e.g. client.4235
	Addr   string // its address
	Cookie string // the instance
}

func (h Holder) String() string {
	return fmt.Sprintf("%s at %s, instance %s", h.Client, h.Addr, h.Cookie)
}

// Lock takes node's liveness lock for instance, for lease. Taking it again
// with the same instance on the same connection renews it. If another
// instance holds it, the error wraps ErrHeld and names the holder.
func (d *DB) Lock(ctx context.Context, node, instance string, lease time.Duration) error {
	if err := checkLockArgs(ctx, node, instance, lease); err != nil {
		return err
	}
	flags := byte(lockFlagMayRenew)
	ret, err := d.aux.LockExclusive(NodeObject(node), LockName, instance, "nfsgw node "+node, lease, &flags)
	if err != nil {
		return fmt.Errorf("grace: lock node %s: %w", node, err)
	}
	switch ret {
	case 0:
		return nil
	case -eBUSY, -eEXIST:
		_, h, lerr := d.Liveness(ctx, node)
		if lerr != nil {
			return fmt.Errorf("%w: %s (holder unknown: %v)", ErrHeld, node, lerr)
		}
		return fmt.Errorf("%w: %s: held by %s", ErrHeld, node, h)
	}
	return fmt.Errorf("grace: lock node %s: error %d", node, ret)
}

// Renew extends the lock instance holds for another lease. It never takes
// a lock this instance does not hold: it fails with ErrLost then, so that
// an instance whose lock expired learns it instead of carrying on.
func (d *DB) Renew(ctx context.Context, node, instance string, lease time.Duration) error {
	if err := checkLockArgs(ctx, node, instance, lease); err != nil {
		return err
	}
	flags := byte(lockFlagMustRenew)
	ret, err := d.aux.LockExclusive(NodeObject(node), LockName, instance, "nfsgw node "+node, lease, &flags)
	switch {
	case err == nil && ret == 0:
		return nil
	case errno(err) == -eNOENT || ret == -eBUSY:
		return fmt.Errorf("%w: %s, instance %s", ErrLost, node, instance)
	case err != nil:
		return fmt.Errorf("grace: renew lock of node %s: %w", node, err)
	}
	return fmt.Errorf("grace: renew lock of node %s: error %d", node, ret)
}

// Unlock releases the lock (a clean shutdown), so that a successor need not
// wait for the lease to run out. Not holding it is not an error.
func (d *DB) Unlock(ctx context.Context, node, instance string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ret, err := d.aux.Unlock(NodeObject(node), LockName, instance)
	if err != nil && errno(err) != -eNOENT {
		return fmt.Errorf("grace: unlock node %s: %w", node, err)
	}
	if ret < 0 && ret != -eNOENT {
		return fmt.Errorf("grace: unlock node %s: error %d", node, ret)
	}
	return nil
}

// Liveness reports whether some instance holds node's liveness lock now,
// and which.
func (d *DB) Liveness(ctx context.Context, node string) (alive bool, holder Holder, err error) {
	if err := ctx.Err(); err != nil {
		return false, Holder{}, err
	}
	li, err := d.aux.ListLockers(NodeObject(node), LockName)
	if errno(err) == -eNOENT {
		return false, Holder{}, nil
	}
	if err != nil {
		return false, Holder{}, fmt.Errorf("grace: lockers of node %s: %w", node, err)
	}
	if li.NumLockers == 0 || len(li.Clients) == 0 {
		return false, Holder{}, nil
	}
	h := Holder{Client: li.Clients[0]}
	if len(li.Addrs) > 0 {
		h.Addr = li.Addrs[0]
	}
	if len(li.Cookies) > 0 {
		h.Cookie = li.Cookies[0]
	}
	return true, h, nil
}

// SetSessions records the CephFS session uuids of node's instance
// (replacing what was there), so that a successor or an operator can reset
// them.
func (d *DB) SetSessions(ctx context.Context, node string, uuids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := grace.ValidNodeID(node); err != nil {
		return err
	}
	if len(uuids) > MaxSessions {
		return fmt.Errorf("grace: %d sessions for node %s, at most %d", len(uuids), node, MaxSessions)
	}
	for _, u := range uuids {
		if err := checkSession(u); err != nil {
			return fmt.Errorf("grace: node %s: %w", node, err)
		}
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	op.SetOmap(map[string][]byte{sessionsKey: []byte(strings.Join(uuids, "\n"))})
	if err := op.Operate(d.ioctx, NodeObject(node), rados.OperationNoFlag); err != nil {
		return fmt.Errorf("grace: sessions of node %s: %w", node, err)
	}
	return nil
}

// Sessions returns what SetSessions recorded for node (none if nothing).
func (d *DB) Sessions(ctx context.Context, node string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	op := rados.CreateReadOp()
	defer op.Release()
	st := op.GetOmapValuesByKeys([]string{sessionsKey})
	err := op.Operate(d.ioctx, NodeObject(node), rados.OperationNoFlag)
	if errno(err) == -eNOENT {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("grace: sessions of node %s: %w", node, err)
	}
	kv, err := st.Next()
	if err != nil {
		return nil, fmt.Errorf("grace: sessions of node %s: %w", node, err)
	}
	if kv == nil || len(kv.Value) == 0 {
		return nil, nil
	}
	if len(kv.Value) > MaxSessions*(MaxSessionLen+1) {
		return nil, fmt.Errorf("grace: sessions of node %s: %d bytes, more than %d sessions can take", node, len(kv.Value), MaxSessions)
	}
	out := strings.Split(string(kv.Value), "\n")
	if len(out) > MaxSessions {
		return nil, fmt.Errorf("grace: node %s records %d sessions, at most %d", node, len(out), MaxSessions)
	}
	for _, u := range out {
		if err := checkSession(u); err != nil {
			return nil, fmt.Errorf("grace: sessions of node %s: %w", node, err)
		}
	}
	return out, nil
}

func checkSession(u string) error {
	if u == "" || len(u) > MaxSessionLen {
		return fmt.Errorf("session uuid of %d bytes, want 1 to %d", len(u), MaxSessionLen)
	}
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= ' ' || c >= 0x7f {
			return fmt.Errorf("session uuid %q: only printable ASCII without spaces", u)
		}
	}
	return nil
}

func checkLockArgs(ctx context.Context, node, instance string, lease time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := grace.ValidNodeID(node); err != nil {
		return err
	}
	if instance == "" || len(instance) > 256 {
		return fmt.Errorf("grace: instance cookie of %d bytes, want 1 to 256", len(instance))
	}
	// Zero would be a lock that never expires: a crashed instance would
	// hold its node forever.
	if lease < time.Second {
		return fmt.Errorf("grace: lease %v, at least 1s", lease)
	}
	return nil
}
