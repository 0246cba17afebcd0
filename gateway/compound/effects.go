package compound

import (
	"context"
	"hash/maphash"
	"sync"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
)

// The runner of the state model's effects (nfs4state.Effects). The state
// model decides under its locks and returns what must happen; the engine
// performs it here once those locks are released, and before the reply of
// the request that caused it is sent:
//
//   - Record is written, durably, before the state that needs it is
//     granted (recordClient): a client is never told it holds state that
//     it could not reclaim after a crash;
//   - Forget is removed from the store before the reply too, so that a new
//     incarnation of the owner, which the reply lets the client create,
//     records itself after its predecessor was forgotten, not before;
//   - Recall starts CB_RECALL in its own goroutine (the request answers
//     NFS4ERR_DELAY without waiting for the client), from where it may
//     call back into the state model on the same file at will.
//
// The recovery store is keyed by client owner, while records and forgets
// are of client incarnations; writes of one owner are serialised (ownerMu)
// and a Forget leaves the record alone when a newer incarnation of the
// owner is recorded, so that a forget racing with its successor's record
// (a reaper expiring the old incarnation while the new one opens) never
// removes the successor's record.

// ownerStripes serialises recovery store writes per client owner.
type ownerStripes struct {
	seed maphash.Seed
	mu   [64]sync.Mutex
}

func (o *ownerStripes) lock(owner string) func() {
	m := &o.mu[maphash.String(o.seed, owner)%uint64(len(o.mu))]
	m.Lock()
	return m.Unlock
}

// Perform carries out effects of the state model in order, with no state
// lock held (the caller must hold none). It returns the first error of a
// Record, after which the remaining effects are still performed: a
// client whose record failed must not be granted the state it asked for,
// while recalls and forgets decided with it are due anyway.
func (s *Server) Perform(ctx context.Context, fx nfs4state.Effects) error {
	var first error
	for _, e := range fx {
		switch e.Kind {
		case nfs4state.Recall:
			if s.recallHook != nil {
				s.recallHook(e.State)
				continue
			}
			go s.recall(e.State)
		case nfs4state.Record:
			if err := s.record(ctx, e.Client); err != nil && first == nil {
				first = err
			}
		case nfs4state.Forget:
			s.forget(ctx, e.Client)
		case nfs4state.Gone:
			closeCallback(e.Client.TakeCallbackPath())
		}
	}
	return first
}

// record writes c to the recovery store, once.
func (s *Server) record(ctx context.Context, c *nfs4state.Client) error {
	rec := s.cfg.Recorder
	if rec == nil {
		return nil
	}
	unlock := s.owners.lock(c.Owner)
	defer unlock()
	if c.Recorded() {
		return nil // another request of the client recorded it meanwhile
	}
	if err := rec.Add(ctx, []byte(c.Owner), c.Principal, c.Minor); err != nil {
		s.log.Error("recovery store: cannot record client", "client", c.ID, "error", err)
		return err
	}
	c.SetRecorded()
	if c.Expired() {
		// Destroyed while its record was written: its expiry found it
		// unrecorded and returned no Forget, so the record goes here.
		s.removeRecord(ctx, c)
	}
	return nil
}

// forget removes a destroyed client from the recovery store.
func (s *Server) forget(ctx context.Context, c *nfs4state.Client) {
	if s.cfg.Recorder == nil {
		return
	}
	unlock := s.owners.lock(c.Owner)
	defer unlock()
	s.removeRecord(ctx, c)
}

// removeRecord removes c's owner from the store unless a newer
// incarnation is recorded (caller holds c's owner stripe).
func (s *Server) removeRecord(ctx context.Context, c *nfs4state.Client) {
	if s.cfg.State.RecordedOwner(c.Owner, c) {
		return
	}
	// The client's request may be over (its connection gone): the
	// record goes all the same.
	if err := s.cfg.Recorder.Remove(context.WithoutCancel(ctx), []byte(c.Owner)); err != nil {
		s.log.Error("recovery store: cannot forget client", "client", c.ID, "error", err)
	}
}

// perform is Perform for a request: a failed Record fails the operation
// with NFS4ERR_SERVERFAULT.
func (r *request) perform(fx nfs4state.Effects) nfs4.Status {
	if len(fx) == 0 {
		return nfs4.OK
	}
	if r.s.Perform(r.ctx, fx) != nil {
		return nfs4.ErrServerfault
	}
	return nfs4.OK
}

// result performs the effects of a state model call for a request and
// passes its status on (SERVERFAULT if it was OK but a Record failed).
func (r *request) result(st nfs4.Status, fx nfs4state.Effects) nfs4.Status {
	if p := r.perform(fx); st == nfs4.OK {
		st = p
	}
	return st
}

// Reap expires the clients whose lease ran out (nfs4state.Manager.Reap)
// and performs the effects of their expiry; the server calls it
// periodically. It returns how many clients it expired.
func (s *Server) Reap(ctx context.Context) int {
	n, fx := s.cfg.State.Reap()
	s.Perform(ctx, fx)
	return n
}

// Evict destroys a client and its state, as an administrator asks, and
// reports whether the client existed.
func (s *Server) Evict(ctx context.Context, id uint64) bool {
	ok, fx := s.cfg.State.Evict(id)
	s.Perform(ctx, fx)
	return ok
}
