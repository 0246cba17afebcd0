// Package recovery is each node's client-recovery database: the durable list
// of NFSv4 clients that hold state, so that after a restart exactly those
// clients may reclaim during the grace period (RFC 7530 section 9.6.3,
// RFC 8881 section 8.4.2.1). Without it the server could either refuse every
// reclaim (clients lose their locks) or accept every reclaim (a client that
// lost its state to another client while the server was up could "reclaim" a
// conflicting lock: the edge conditions of RFC 8881 section 8.4.3 and
// RFC 7530 section 9.6.3.4).
//
// # Epochs
//
// An epoch is one server instance's life as far as recovery is concerned.
// Records are kept per epoch, in the layout of NFS-Ganesha's rados_cluster
// backend: one set per epoch (a bbolt bucket, or a RADOS object
// "rec-%016x:NODEID" with one omap entry per client), so that starting an
// epoch never rewrites the previous one. Epoch numbers come from the caller:
// a single node takes LastEpoch()+1, a cluster node takes the current epoch C
// of the shared grace database.
//
// # Lifecycle
//
//  1. Begin(epoch) at start-up, before serving: the returned reclaim set is
//     the list of clients that may reclaim during the grace period.
//  2. Add(client) once a client holds state and before the reply that grants
//     the state is sent; Remove(owner) when the client is destroyed or its
//     lease expires and its state is gone.
//  3. EndGrace once the grace period is over (in a cluster: the cluster-wide
//     grace period, recovery epoch R = 0) and before any non-reclaim state is
//     granted in this epoch. A server that skips the grace period because
//     the reclaim set is empty still calls EndGrace first.
//
// A running cluster node that must move to a new epoch (a peer started a
// cluster-wide grace period) calls Begin with it on the same store and Adds
// its live clients again; until it has, they are in the reclaim set, so a
// crash in between loses none of them.
//
// # The reclaim rule
//
// Let P be the unended reclaim set (the records of older epochs whose grace
// period has not been ended) and S the records of the current epoch C.
// Begin(E) for E > C returns P ∪ S and makes that the new P; epoch E starts
// empty. EndGrace empties P. So a crash between Begin and EndGrace, followed
// by another restart, keeps every client that never got to reclaim: clients
// that reclaimed are in both sets, clients that did not are still in the
// older one. This is safe because, before EndGrace, no non-reclaim state was
// granted, so nothing can conflict with an old client's reclaim.
//
// Begin(E) for E == C is a restart into the same epoch (a cluster node that
// rejoins a grace period still in force, whose grace database epoch has not
// moved): it returns P unchanged and clears S, as Ganesha does. Clearing is
// what keeps the rule exact: everything in S either reclaimed (and so is in
// P) or is a new client that could not get state during grace; keeping S
// instead would let a client that reclaimed in the previous life but not in
// this one survive EndGrace. Once EndGrace ran in epoch C it is refused with
// ErrStaleEpoch if S holds records, since then S holds real state that P no
// longer covers: the caller must begin a newer epoch; with S empty there is
// nothing to lose and it succeeds (a cluster node without clients rejoining
// an epoch that has not moved). E < C is always refused.
//
// # Cost
//
// Add and Remove are durable before they return, so each new client costs
// a synchronous write to stable storage (for the bbolt store, a commit of
// two fdatasync calls, shared among concurrent calls; for RADOS, a
// replicated omap write). Callers record a client once, when it first gets
// state, not on every OPEN. Stores answer a repeated Add of an unchanged
// record and a Remove of an absent owner without writing, but a caller
// that remembers what it recorded avoids even the read.
package recovery

import (
	"context"
	"errors"
	"fmt"
)

// Limits on a record, enforced by every store so that a client cannot make
// the database grow without bound through one record.
const (
	// MaxOwnerLen is NFS4_OPAQUE_LIMIT, the XDR bound on nfs_client_id4.id
	// and client_owner4.co_ownerid.
	MaxOwnerLen = 1024
	// MaxPrincipalLen bounds Record.Principal. Principals are names such as
	// "sys:1000" or "krb5:nfs/host@REALM"; 1024 bytes is generous.
	MaxPrincipalLen = 1024
)

var (
	// ErrInvalidRecord reports an owner that is empty or longer than
	// MaxOwnerLen, or a principal longer than MaxPrincipalLen.
	ErrInvalidRecord = errors.New("recovery: invalid record")
	// ErrNotBegun reports Add, Remove or EndGrace on a store that has not
	// run Begin since it was opened: writing into the previous instance's
	// epoch would put clients into the next reclaim set behind the grace
	// period's back.
	ErrNotBegun = errors.New("recovery: no epoch begun")
	// ErrStaleEpoch reports a Begin whose epoch is 0, older than the
	// store's current epoch, equal to it after its grace period ended, or
	// equal to the one this store already began.
	ErrStaleEpoch = errors.New("recovery: stale epoch")
	// ErrLocked reports a database in use by another process (another
	// gateway with the same state directory or node id).
	ErrLocked = errors.New("recovery: database in use")
	// ErrCorrupt reports stored data that cannot be decoded.
	ErrCorrupt = errors.New("recovery: corrupt database")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("recovery: store closed")
)

// Record identifies a client allowed to reclaim.
type Record struct {
	// Owner is the client's owner id: nfs_client_id4.id (4.0) or
	// client_owner4.co_ownerid (4.1); arbitrary bytes, 1 to MaxOwnerLen
	// of them. It is the record's key: one record per owner, as the state
	// model keeps at most one confirmed client per owner.
	Owner []byte
	// Principal is who created the client, e.g. "sys:1000", so that a
	// reclaim can be checked against the original creator.
	Principal string
	// Minor is the NFSv4 minor version the client used.
	Minor uint32
}

// Check reports whether r fits the limits (ErrInvalidRecord if not).
func (r Record) Check() error {
	if err := CheckOwner(r.Owner); err != nil {
		return err
	}
	if len(r.Principal) > MaxPrincipalLen {
		return fmt.Errorf("%w: principal is %d bytes, limit %d", ErrInvalidRecord, len(r.Principal), MaxPrincipalLen)
	}
	return nil
}

// CheckOwner reports whether owner is a valid record key.
func CheckOwner(owner []byte) error {
	switch {
	case len(owner) == 0:
		return fmt.Errorf("%w: empty owner", ErrInvalidRecord)
	case len(owner) > MaxOwnerLen:
		return fmt.Errorf("%w: owner is %d bytes, limit %d", ErrInvalidRecord, len(owner), MaxOwnerLen)
	}
	return nil
}

// Store is one node's client-recovery database. Its methods are safe for
// concurrent use. See the package documentation for the lifecycle and the
// reclaim rule every implementation follows.
type Store interface {
	// Begin starts epoch (a server instance's life). The returned reclaim
	// set is the unended reclaim set plus the records of the store's
	// current epoch (when epoch is newer), in no particular order, each
	// owner once with its newest record. From now on Add and Remove act on
	// epoch. The epoch comes from the caller: LastEpoch()+1 on a single
	// node, the grace database's current epoch in a cluster. Begin fails
	// with ErrStaleEpoch for epoch 0, for an epoch older than the store's,
	// for a second Begin of the same epoch on one open store, and for the
	// store's epoch once its grace period has ended while that epoch holds
	// records. Begin is atomic: on error nothing changed.
	Begin(ctx context.Context, epoch uint64) (reclaim []Record, err error)
	// Add records a client that now holds state in the current epoch,
	// replacing any record with the same owner. It is idempotent and the
	// record is durable before Add returns.
	Add(ctx context.Context, r Record) error
	// Remove forgets the client with owner in the current epoch (destroyed
	// or expired); removing an absent owner succeeds. The reclaim set
	// returned by Begin is not changed: it is only ever dropped whole by
	// EndGrace, which is safe because no conflicting state exists before
	// then. Add and Remove of one owner must be ordered by the caller: a
	// Remove of an old incarnation of a client that lands after the Add of
	// its replacement (same owner) forgets the replacement.
	Remove(ctx context.Context, owner []byte) error
	// EndGrace drops the reclaim set: clients that did not reclaim (Add
	// again) in this epoch are forgotten. It is idempotent.
	EndGrace(ctx context.Context) error
	// Peek returns what Begin of a newer epoch would return (the unended
	// reclaim set plus the current epoch's records), changing nothing. A
	// cluster node asks it before it begins an epoch: with clients to
	// reclaim it must start a cluster-wide grace period (which moves the
	// epoch), without any it joins the current epoch. It needs no Begin.
	Peek(ctx context.Context) ([]Record, error)
	// LastEpoch returns the newest epoch begun (0 if none), so that a
	// single node can begin LastEpoch()+1. It needs no Begin.
	LastEpoch(ctx context.Context) (uint64, error)
	// Close releases the store; later calls fail with ErrClosed, and a
	// second Close returns nil.
	Close() error
}
