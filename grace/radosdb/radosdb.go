//go:build !noceph

// Package radosdb keeps the cluster's grace database (grace.DB) in a RADOS
// object, in NFS-Ganesha's rados_cluster format so that Debian's
// ganesha-rados-grace reads and changes the same object, and each node's
// liveness lock and metadata in an object of its own.
//
// # The grace object (default name "grace")
//
// Data: exactly 16 bytes, C then R, each a little-endian uint64. Omap: one
// key per member, the node id; its value is exactly one flag byte
// (grace.FlagNeed 0x1, grace.FlagEnforcing 0x2; other bits are kept as they
// are). Nothing else is in that omap. Every change is a read of data and
// omap in one read operation, grace.Mutation.Apply, and a write that
// asserts the object version read, retried on a conflict, then a notify so
// that watchers re-read at once. A database that breaks the format (data
// not 16 bytes, C = 0, R >= C with R != 0, a value not one byte, more than
// grace.MaxMembers members) is refused with grace.ErrCorruptDB and never
// rewritten. An object with no data and no members (a cls lock taken on it
// creates one) is not a database yet: ErrNoDB, and Create initialises it.
//
// # The node object "nfsgw.node.<id>"
//
// Liveness is an exclusive cls lock named "nfsgw.liveness" whose cookie is
// the instance (one run of the gateway) and whose duration is the lease:
// the instance renews it (Renew) well before it expires. Measured on this
// project's Pacific (16.2.15) test cluster (TestLockExpiry): a lock whose
// duration ran out is gone from ListLockers at once (a 1 s lock was gone
// 1.02 s after it was taken: the OSD drops expired lockers whenever it
// reads the lock), its holder's renew with LIBRADOS_LOCK_FLAG_MUST_RENEW
// fails (ENOENT) from then on, whether or not another instance took it in
// between, and another instance can take it. So an instance that missed
// its renewal learns that it lost its liveness (ErrLost) instead of
// quietly taking the lock back, and a peer may treat a node whose lock is
// not listed as dead. Expiry is decided by the OSD's clock alone. The same object's omap holds the CephFS session
// uuids of the instance under the key "sessions".
//
// # Fencing
//
// A RADOS operation runs on one object, so a write to the grace object
// cannot assert a cls lock held on another object. UpdateGuarded therefore
// asserts the lock in the same write when the lock is on the grace object
// itself, and otherwise asserts it (cls lock assert_locked) in a read
// operation on the lock object immediately before the versioned write: see
// UpdateGuarded for the window that leaves.
package radosdb

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"nfsgw/internal/radosconn"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/grace"
)

// DB is the store a grace.Runner needs in a cluster.
var _ grace.DBStore = (*DB)(nil)

// DefaultObject is the grace object's name, Ganesha's default.
const DefaultObject = "grace"

// ErrNoDB: the grace object does not exist yet.
var ErrNoDB = errors.New("grace database does not exist (create it with `nfsgwctl grace add NODE...`)")

// ErrFenced: UpdateGuarded found that this instance no longer holds its
// liveness lock; nothing was written.
var ErrFenced = errors.New("grace: liveness lock lost: not writing")

// maxKeyLen bounds a member key read back from the omap; a node id is far
// shorter, and a longer key means the object is not a grace database.
const maxKeyLen = 1024

// maxAttempts bounds the read-apply-write loop of one Update: each retry
// means another writer got in between, and a writer that loses this many
// times in a row is better off reporting it than spinning.
const maxAttempts = 32

// notifyTimeout bounds how long an Update waits for watchers to
// acknowledge its notify (Ganesha waits 3 s). Watchers also poll, so a slow
// one is not waited for any longer.
const notifyTimeout = 3 * time.Second

// DB is the grace database in one RADOS object.
type DB struct {
	// ioctx carries only the grace object's reads and writes, each with
	// the rados_get_last_version that follows it, serialised by mu:
	// librados keeps that version per I/O context, and any other operation
	// in between (a notify included) would replace it.
	ioctx *rados.IOContext
	mu    sync.Mutex
	// aux carries everything else: watch, notify, the node objects.
	aux *rados.IOContext
	oid string
	// where names the object for messages: pool, namespace and name.
	where string

	retries       atomic.Uint64
	notifyFailure atomic.Uint64
	notifies      sync.WaitGroup // notifies in flight

	// Logf reports what is not an error of the call (a failed notify, a
	// watch being re-established); nil: silent. Set it before use.
	Logf func(format string, args ...any)
}

// Open returns the grace database in object oid (DefaultObject if empty)
// of the pool and namespace ioctx is set to. It opens an I/O context of its
// own on conn, because librados reports the version of the last operation
// per I/O context: an operation of another user of ioctx between our read
// and our query would hand us its object's version. Close releases it.
func Open(conn *rados.Conn, ioctx *rados.IOContext, oid string) (*DB, error) {
	if oid == "" {
		oid = DefaultObject
	}
	own, aux, where, err := radosconn.ObjectContexts(conn, ioctx, oid)
	if err != nil {
		return nil, fmt.Errorf("grace db: %w", err)
	}
	return &DB{ioctx: own, aux: aux, oid: oid, where: where}, nil
}

// Close releases the database's I/O contexts. Watches must have ended.
func (d *DB) Close() {
	d.notifies.Wait()
	d.ioctx.Destroy()
	d.aux.Destroy()
}

// Object is the grace object's name.
func (d *DB) Object() string { return d.oid }

// IOContext is an I/O context of the database's pool and namespace for
// other objects (the recovery records live beside the grace object); it is
// not the one whose versions the database relies on.
func (d *DB) IOContext() *rados.IOContext { return d.aux }

// Retries counts version conflicts that made an Update read again.
func (d *DB) Retries() uint64 { return d.retries.Load() }

// NotifyFailures counts notifies after a successful write that failed or
// were not acknowledged by every watcher in time.
func (d *DB) NotifyFailures() uint64 { return d.notifyFailure.Load() }

func (d *DB) logf(format string, args ...any) {
	if d.Logf != nil {
		d.Logf(format, args...)
	}
}

// Create creates the object as Ganesha does, exclusively, as C = 1, R = 0
// with no members. created is false when a database already existed (not
// an error: add creates it if missing). An object that exists but holds
// nothing is given the initial database (see initEmpty).
func (d *DB) Create(ctx context.Context) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	op.Create(rados.CreateExclusive)
	op.WriteFull(encodeEpochs(1, 0))
	err = op.Operate(d.ioctx, d.oid, rados.OperationNoFlag)
	switch {
	case err == nil:
		return true, nil
	case errno(err) == -eEXIST:
		return d.initEmpty(ctx)
	}
	return false, fmt.Errorf("grace db: create %s: %w", d.where, err)
}

// initEmpty writes the initial database into an object that exists but
// holds nothing (no data, no members): a cls lock taken on the grace
// object before the database was created makes such an object. Anything
// else already there is left alone.
func (d *DB) initEmpty(ctx context.Context) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		db, err := d.readLocked()
		if !errors.Is(err, errEmpty) {
			return false, nil // a database, or a corrupt one: not ours to write
		}
		op := rados.CreateWriteOp()
		op.AssertVersion(db.Version)
		op.WriteFull(encodeEpochs(1, 0))
		err = op.Operate(d.ioctx, d.oid, rados.OperationNoFlag)
		op.Release()
		switch e := errno(err); {
		case err == nil:
			return true, nil
		case e == -eRANGE || e == -eOVERFLOW:
			d.retries.Add(1)
			continue
		}
		return false, fmt.Errorf("grace db: initialise %s: %w", d.where, err)
	}
	return false, fmt.Errorf("grace db: initialise %s: it changed under %d attempts in a row", d.where, maxAttempts)
}

// errEmpty: the object exists but holds no database (see initEmpty).
var errEmpty = fmt.Errorf("the object exists but is empty: %w", ErrNoDB)

// Read returns the database with the object version it was read at.
func (d *DB) Read(ctx context.Context) (grace.DB, error) {
	if err := ctx.Err(); err != nil {
		return grace.DB{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.readLocked()
}

func (d *DB) readLocked() (grace.DB, error) {
	op := rados.CreateReadOp()
	defer op.Release()
	// One byte more than the format has, so that longer data is seen.
	buf := make([]byte, 17)
	rd := op.Read(0, buf)
	om := op.GetOmapValues("", "", grace.MaxMembers+1)
	err := op.Operate(d.ioctx, d.oid, rados.OperationNoFlag)
	if err != nil {
		if errno(err) == -eNOENT {
			return grace.DB{}, fmt.Errorf("%s: %w", d.where, ErrNoDB)
		}
		return grace.DB{}, fmt.Errorf("grace db: read %s: %w", d.where, err)
	}
	ver, err := d.ioctx.GetLastVersion()
	if err != nil {
		return grace.DB{}, fmt.Errorf("grace db: version of %s: %w", d.where, err)
	}
	db := grace.DB{Members: map[string]byte{}, Version: ver}
	for {
		kv, err := om.Next()
		if err != nil {
			return grace.DB{}, fmt.Errorf("grace db: members of %s: %w", d.where, err)
		}
		if kv == nil {
			break
		}
		if len(db.Members) == grace.MaxMembers {
			return grace.DB{}, fmt.Errorf("%w: %s has more than %d members", grace.ErrCorruptDB, d.where, grace.MaxMembers)
		}
		if len(kv.Key) == 0 || len(kv.Key) > maxKeyLen {
			return grace.DB{}, fmt.Errorf("%w: %s has a member key of %d bytes", grace.ErrCorruptDB, d.where, len(kv.Key))
		}
		if len(kv.Value) != 1 {
			return grace.DB{}, fmt.Errorf("%w: %s: member %q has a %d-byte value, want 1 flag byte", grace.ErrCorruptDB, d.where, kv.Key, len(kv.Value))
		}
		db.Members[kv.Key] = kv.Value[0]
	}
	if om.More() {
		return grace.DB{}, fmt.Errorf("%w: %s has more than %d members", grace.ErrCorruptDB, d.where, grace.MaxMembers)
	}
	if rd.BytesRead == 0 && len(db.Members) == 0 {
		// The version alone: initEmpty asserts it.
		return grace.DB{Version: ver}, fmt.Errorf("%s: %w", d.where, errEmpty)
	}
	if rd.BytesRead != 16 {
		return grace.DB{}, fmt.Errorf("%w: %s holds %d bytes of data, want 16 (C and R)", grace.ErrCorruptDB, d.where, rd.BytesRead)
	}
	db.C = binary.LittleEndian.Uint64(buf[0:8])
	db.R = binary.LittleEndian.Uint64(buf[8:16])
	if err := db.Check(); err != nil {
		return grace.DB{}, fmt.Errorf("%s: %w", d.where, err)
	}
	return db, nil
}

// Update applies m to the newest database and writes the result if it
// changed, with the read version asserted; on a conflict it reads again
// (at most maxAttempts times, after a short jittered pause). It returns the
// database as written (or as read, when m changed nothing). A refusal of
// the rules (grace.ErrRefused, grace.ErrNotMember) writes nothing.
func (d *DB) Update(ctx context.Context, m grace.Mutation) (grace.DB, error) {
	return d.update(ctx, m, nil)
}

// UpdateGuarded is Update for a node that must not write once it has lost
// its liveness lock (lockName on lockObj, taken with cookie by this
// connection): a partitioned zombie whose lock expired, and which a peer
// may already have fenced, must not change the database.
//
// When lockObj is the grace object itself, the lock is asserted (cls lock
// assert_locked) inside the versioned write: atomic. The price: a lock and
// each renewal are writes to the grace object (its xattrs), so they move
// its version and make concurrent updates retry. Otherwise RADOS cannot
// assert it in the same operation (an operation runs on one object), and
// it is asserted in a read of lockObj just before the write. That leaves a
// window: the lock may expire, and a peer fence this node, between that
// read and the write reaching the OSD. The window is one round trip in the
// normal case; the caller shrinks its risk by renewing well before expiry
// and by not writing in the last part of its lease, and peers by waiting a
// margin past expiry before they fence. ErrFenced when the lock is gone.
func (d *DB) UpdateGuarded(ctx context.Context, m grace.Mutation, lockObj, lockName, cookie string) (grace.DB, error) {
	return d.update(ctx, m, &guard{obj: lockObj, name: lockName, cookie: cookie})
}

type guard struct{ obj, name, cookie string }

// On an error the database is unchanged by this call, and the returned DB
// is the newest snapshot read (the zero DB if none could be read), as
// grace.DBStore asks.
func (d *DB) update(ctx context.Context, m grace.Mutation, g *guard) (grace.DB, error) {
	var last grace.DB
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return last, err
		}
		db, changed, err := d.tryUpdate(m, g)
		if err == nil {
			if changed {
				// Not waited for: a watcher of a killed process stays
				// registered until the OSD times its watch out (30 s),
				// and every notify would wait notifyTimeout for it.
				d.notifies.Add(1)
				go func() { defer d.notifies.Done(); d.notify() }()
			}
			return db, nil
		}
		last = db
		if !errors.Is(err, errConflict) {
			return last, err
		}
		d.retries.Add(1)
		if attempt+1 >= maxAttempts {
			return last, fmt.Errorf("grace db: %s: %s changed under %d attempts in a row", m, d.where, maxAttempts)
		}
		// Jittered, growing pause: writers that collided do not collide
		// again in lock step.
		pause := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 6))) + time.Millisecond
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

var errConflict = errors.New("version conflict")

// tryUpdate is one read-apply-write round.
func (d *DB) tryUpdate(m grace.Mutation, g *guard) (grace.DB, bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	old, err := d.readLocked()
	if err != nil {
		return grace.DB{}, false, err
	}
	next, err := m.Apply(old)
	if err != nil {
		return old, false, err
	}
	if err := next.Check(); err != nil {
		// Refused, not corrupt: what is stored is fine (e.g. an add past
		// grace.MaxMembers).
		return old, false, fmt.Errorf("%w: %s would make an invalid database: %v", grace.ErrRefused, m, err)
	}
	if next.Equal(old) {
		return old, false, nil
	}
	if g != nil && g.obj != d.oid {
		if err := d.assertLocked(g); err != nil {
			return old, false, err
		}
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	if g != nil && g.obj == d.oid {
		op.Exec("lock", "assert_locked", encodeAssertLocked(g.name, g.cookie))
	}
	op.AssertVersion(old.Version)
	if next.C != old.C || next.R != old.R {
		op.WriteFull(encodeEpochs(next.C, next.R))
	}
	set := map[string][]byte{}
	var rm []string
	for n, f := range next.Members {
		if of, ok := old.Members[n]; !ok || of != f {
			set[n] = []byte{f}
		}
	}
	for n := range old.Members {
		if _, ok := next.Members[n]; !ok {
			rm = append(rm, n)
		}
	}
	if len(set) > 0 {
		op.SetOmap(set)
	}
	if len(rm) > 0 {
		op.RmOmapKeys(rm)
	}
	err = op.Operate(d.ioctx, d.oid, rados.OperationNoFlag)
	switch e := errno(err); {
	case err == nil:
	case e == -eRANGE || e == -eOVERFLOW:
		// AssertVersion: the object is newer (ERANGE) or, after a
		// recreation, older (EOVERFLOW) than what was read.
		return old, false, errConflict
	case e == -eBUSY && g != nil:
		return old, false, fmt.Errorf("%w (lock %s on %s, cookie %s)", ErrFenced, g.name, g.obj, g.cookie)
	case e == -eNOENT:
		return old, false, fmt.Errorf("%s: %w", d.where, ErrNoDB)
	default:
		return old, false, fmt.Errorf("grace db: write %s (%s): %w", d.where, m, err)
	}
	if v, err := d.ioctx.GetLastVersion(); err == nil {
		next.Version = v
	}
	return next, true, nil
}

// assertLocked checks, in a read of g.obj, that this connection holds the
// lock with g.cookie.
func (d *DB) assertLocked(g *guard) error {
	op := rados.CreateReadOp()
	defer op.Release()
	op.Exec("lock", "assert_locked", encodeAssertLocked(g.name, g.cookie))
	// On d.ioctx under d.mu, as the write that follows: the lock must be
	// held by the connection that writes, and it is the same one.
	err := op.Operate(d.ioctx, g.obj, rados.OperationNoFlag)
	switch e := errno(err); {
	case err == nil:
		return nil
	case e == -eBUSY || e == -eNOENT:
		return fmt.Errorf("%w (lock %s on %s, cookie %s)", ErrFenced, g.name, g.obj, g.cookie)
	}
	return fmt.Errorf("grace db: checking lock %s on %s: %w", g.name, g.obj, err)
}

// notify wakes the watchers. A failure is counted and logged, not
// returned: the write is done, and watchers poll as well.
func (d *DB) notify() {
	_, timeouts, err := d.aux.NotifyWithTimeout(d.oid, nil, notifyTimeout)
	if err != nil || len(timeouts) > 0 {
		d.notifyFailure.Add(1)
		d.logf("grace db: notify on %s: %d watchers did not answer, err %v", d.oid, len(timeouts), err)
	}
}

func encodeEpochs(c, r uint64) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint64(b[0:8], c)
	binary.LittleEndian.PutUint64(b[8:16], r)
	return b
}

// errno extracts the negative errno from a go-ceph error (0 when none).
func errno(err error) int { return radosconn.Errno(err) }

// Linux errnos the package tells apart (RADOS returns them from the OSD).
const (
	eNOENT    = 2
	eBUSY     = 16
	eEXIST    = 17
	eRANGE    = 34
	eOVERFLOW = 75
)
