package compound

import (
	"context"
	"errors"
	"sync"
	"syscall"
	"time"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4state"
)

// Delegations backed by the backend (fsal.Delegator: ceph_ll_delegation on
// CephFS). Gateways share one filesystem, and the state model only sees
// what passes through this gateway: a delegation it grants on its own
// would not be recalled by an open for write through another gateway, and
// its holder would go on serving stale cached data. So, on a backend that
// offers delegations, the engine grants an NFS delegation only together
// with a backend one, taken on a backend file of its own (the
// delegation's, not an open's: clients close their files and keep their
// delegations). A backend recall starts the NFS recall, as a local
// conflict does; and since libcephfs unmounts the whole client when a
// recalled delegation is not returned within its timeout, the delegation
// is revoked and handed back a margin before that, whatever the NFS
// client does.

// delegSupport caches, per backend filesystem, whether it backs
// delegations: 1 yes, 2 no (unknown until a first grant tries).
type delegSupport struct{ m sync.Map } // fsal.FS → int

const (
	delegBacked   = 1
	delegUnbacked = 2
)

// backendDeleg is the backend side of one delegation: the file it holds
// and the recall deadline. It is the Closer the state model closes when the
// delegation ends.
type backendDeleg struct {
	s  *Server
	f  fsal.File
	dg fsal.Delegator

	mu       sync.Mutex
	state    *nfs4state.State // nil until granted
	recalled bool
	closed   bool
	timer    *time.Timer
}

// returnMargin is how long before the backend's delegation timeout a
// recalled delegation that the client still holds is revoked: a fifth of
// the timeout, 2 to 15 s.
func returnMargin(timeout time.Duration) time.Duration {
	return min(max(timeout/5, 2*time.Second), 15*time.Second)
}

// backendDelegation opens the dedicated backend file for a delegation on
// ref and asks the backend for the delegation. It returns nil, ok=true
// when the backend does not back delegations (grant as the state model
// alone decides), and nil, ok=false when it does but refused (EAGAIN: a
// conflicting open somewhere; grant nothing).
func (r *request) backendDelegation(ref fileRef, write bool) (*backendDeleg, bool) {
	fs := ref.exp.FS
	if v, ok := r.s.delegs.m.Load(fs); ok && v.(int) == delegUnbacked {
		return nil, true
	}
	flags, t := fsal.OpenRead, fsal.ReadLock
	if write {
		flags, t = fsal.OpenRead|fsal.OpenWrite, fsal.WriteLock
	}
	f, err := fs.Open(r.ctx, fsal.Root, ref.key, flags)
	if err != nil {
		// Cannot tell; no delegation this time.
		return nil, false
	}
	dg, ok := f.(fsal.Delegator)
	if !ok {
		f.Close()
		r.s.delegs.m.Store(fs, delegUnbacked)
		return nil, true
	}
	b := &backendDeleg{s: r.s, f: f, dg: dg}
	err = dg.Delegate(t, b.recall)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		f.Close()
		r.s.delegs.m.Store(fs, delegUnbacked)
		return nil, true
	}
	if err != nil {
		if !errors.Is(err, syscall.EAGAIN) {
			r.s.log.Debug("backend delegation refused", "error", err)
		}
		f.Close()
		return nil, false
	}
	r.s.delegs.m.Store(fs, delegBacked)
	r.s.log.Debug("backend delegation granted", "write", write)
	return b, true
}

// attach ties the granted delegation to its backend side; a backend recall
// that came first starts the NFS recall now.
func (b *backendDeleg) attach(s *nfs4state.State) {
	b.mu.Lock()
	b.state = s
	recalled := b.recalled && !b.closed
	b.mu.Unlock()
	if recalled {
		b.s.Perform(context.Background(), b.s.cfg.State.Recall(s))
	}
}

// recall is the backend's recall callback (on its own goroutine): it
// starts the NFS recall and arms the deadline.
func (b *backendDeleg) recall() {
	b.mu.Lock()
	if b.recalled || b.closed {
		b.mu.Unlock()
		return
	}
	b.recalled = true
	wait := 30 * time.Second
	if dd, ok := b.f.(fsal.DelegationDeadline); ok && dd.ReturnTimeout() > 0 {
		wait = dd.ReturnTimeout() - returnMargin(dd.ReturnTimeout())
	}
	b.timer = time.AfterFunc(wait, b.expire)
	s := b.state
	b.mu.Unlock()
	b.s.log.Debug("backend recalls a delegation", "granted", s != nil, "deadline", wait)
	if s != nil {
		b.s.Perform(context.Background(), b.s.cfg.State.Recall(s))
	}
}

// expire runs at the deadline of a backend recall: the client did not
// return the delegation in time, so it is revoked (which closes this) and
// the backend delegation given back in any case.
func (b *backendDeleg) expire() {
	b.mu.Lock()
	s, closed := b.state, b.closed
	b.mu.Unlock()
	if closed {
		return
	}
	if s != nil {
		b.s.log.Warn("delegation not returned before the backend's deadline; revoking", "client", s.Client.ID)
		b.s.cfg.State.Revoke(s)
	}
	b.dg.ReturnDelegation()
}

// Close gives the backend delegation back and closes its file, once.
func (b *backendDeleg) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.mu.Unlock()
	b.dg.ReturnDelegation()
	return b.f.Close()
}
