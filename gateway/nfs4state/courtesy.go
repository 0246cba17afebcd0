package nfs4state

// Courtesy clients (RFC 8881 section 8.4.1, RFC 7530 section 9.6.1).
//
// A client whose lease ran out is not expired at once when it holds opens,
// locks, delegations or sessions: it becomes a courtesy client and keeps
// them, for at most Config.Courtesy, as long as nobody else wants them.
// (Sessions conflict with nothing; keeping them costs some memory for a
// bounded time and spares a client that was merely slow, such as one of a
// thousand clients reclaiming one after another, from starting over.) Another
// client's request that conflicts with a courtesy client's state (a share
// reservation, a byte-range lock, a delegation) expires the courtesy
// client first and then goes ahead, so that request sees exactly what it
// would have seen had the reaper expired the client on time. A courtesy
// client that comes back before either happens (any renewing request:
// SEQUENCE, RENEW, a stateful 4.0 operation) is an ordinary client again,
// with its state intact; this is what a client that was cut off for a few
// minutes (a network partition, a laptop asleep) gains. A new incarnation
// of its owner with another principal replaces it (no NFS4ERR_CLID_INUSE).
//
// Courtesy is decided from the clock alone (lease run out, no request in
// progress), not from a flag the reaper sets, so that a client that
// renews is never courtesy, whenever the reaper last ran. A conflict check
// only collects courtesy holders under the file's lock; they are expired
// after that lock is released (expiry takes it again), and the request is
// retried.

// defaultCourtesyLeases is the default courtesy period in leases. It is
// short on purpose: conflicts that do not go through this gateway's state
// model — a lock taken by a local process on the backend, or through
// another gateway on CephFS — cannot expire a courtesy client, and wait
// out the whole courtesy period.
const defaultCourtesyLeases = 4

// isCourtesy reports whether c's lease has run out while it still holds
// state that courtesy keeps (caller may hold any lock: it reads only
// atomics).
func (m *Manager) isCourtesy(c *Client) bool {
	return m.cfg.Courtesy > 0 && !c.destroyed.Load() && !c.busy() &&
		m.now()-c.lastRenew.Load() > int64(m.cfg.Lease)
}

// IsCourtesy reports whether c is a courtesy client now (for the admin API
// and tests).
func (m *Manager) IsCourtesy(c *Client) bool { return m.isCourtesy(c) }

// expireCourtesy expires the courtesy clients found in a conflict and
// appends the effects of their expiry to fx; it must be called with no
// file lock held. A client that came back in the meantime is left alone.
func (m *Manager) expireCourtesy(list []*Client, fx Effects) Effects {
	for _, c := range list {
		if m.isCourtesy(c) {
			fx = append(fx, m.destroyClient(c)...)
			m.courtesyExpired.Add(1)
		}
	}
	return fx
}

// CourtesyExpired returns how many courtesy clients conflicts expired.
func (m *Manager) CourtesyExpired() int64 { return m.courtesyExpired.Load() }

// appendClient adds c to list once.
func appendClient(list []*Client, c *Client) []*Client {
	for _, x := range list {
		if x == c {
			return list
		}
	}
	return append(list, c)
}
