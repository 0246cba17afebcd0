package nfs4state

import (
	"fmt"

	"nfsgw/gateway/nfs4"
)

// CheckConsistency verifies the model's invariants: every index agrees
// with every other, share reservations and byte-range locks of different
// owners never conflict, and nothing is left behind by a destroyed client
// or a closed state. It takes every lock in turn and is meant for tests
// (the randomized model test runs it after each step) and for debugging.
func (m *Manager) CheckConsistency() error {
	var errs []error
	fail := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	states := map[[12]byte]*State{}
	m.states.rangeAll(func(s *State) { states[s.Other] = s })
	clients := map[uint64]*Client{}
	m.clients.rangeAll(func(c *Client) { clients[c.ID] = c })

	for other, s := range states {
		if s.Other != other {
			fail("state indexed under the wrong id")
		}
		if s.Owner != nil && s.Kind == KindOpen {
			s.Client.mu.Lock()
			kept := s.Owner.lastClosed == s
			s.Client.mu.Unlock()
			if kept {
				continue // a 4.0 owner's last CLOSE, kept for replays
			}
		}
		if s.Client.destroyed.Load() {
			fail("state %x of destroyed client %d", other, s.Client.ID)
		}
		s.Client.mu.Lock()
		if s.Client.states[other] != s {
			fail("state %x missing from its client", other)
		}
		s.Client.mu.Unlock()
		if s.IsRevoked() {
			// A revoked delegation has left its file; only its
			// client still knows it, until FREE_STATEID.
			continue
		}
		fs, ok := m.files.get(s.File.Key)
		if !ok || fs != s.File {
			fail("state %x: file %q not indexed", other, s.File.Key)
		}
		s.File.mu.Lock()
		if s.closed {
			fail("closed state %x still indexed", other)
		}
		list := s.File.opens
		if s.Kind == KindDeleg {
			list = s.File.delegs
		}
		if s.Kind == KindLock {
			list = s.File.lockStates
			if s.Open == nil || s.Open.closed {
				fail("lock state %x outlived its open", other)
			}
		}
		found := false
		for _, o := range list {
			found = found || o == s
		}
		if !found {
			fail("state %x missing from its file", other)
		}
		s.File.mu.Unlock()
	}
	var writes, backed int64
	m.clients.rangeAll(func(c *Client) {
		// Lock order is File.mu before Client.mu: look at the
		// delegations' files after letting go of the client.
		var delegs []*State
		c.mu.Lock()
		for _, s := range c.states {
			if s.Kind == KindDeleg {
				delegs = append(delegs, s)
			}
		}
		c.mu.Unlock()
		var held int32
		for _, s := range delegs {
			s.File.mu.Lock()
			hasFile := s.file != nil
			s.File.mu.Unlock()
			if !s.IsRevoked() {
				held++
				if s.IsWriteDeleg() {
					writes++
				}
				if hasFile {
					backed++
				}
			} else if hasFile {
				fail("revoked delegation %x still holds its backend file", s.Other)
			}
		}
		if n := c.dc.held.Load(); n != held {
			fail("client %d counts %d delegations, holds %d", c.ID, n, held)
		}
		c.mu.Lock()
		for other, s := range c.states {
			if states[other] != s {
				fail("client %d holds state %x that is not indexed", c.ID, other)
			}
		}
		for id := range c.sessions {
			if s, ok := m.sessions.get(id); !ok || s.Client != c {
				fail("client %d session not indexed", c.ID)
			}
		}
		c.mu.Unlock()
	})
	if n := m.dm.backed.Load(); n != backed {
		fail("%d delegations counted with a backend file, %d hold one (a backend delegation leaked or was closed twice)", n, backed)
	}
	if n := m.dm.writes.Load(); n != writes {
		fail("%d write delegations counted, %d held", n, writes)
	}
	m.sessions.rangeAll(func(s *Session) {
		if clients[s.Client.ID] != s.Client {
			fail("session of a client that is not indexed")
		}
	})
	m.files.rangeAll(func(fs *FileState) {
		fs.mu.Lock()
		defer fs.mu.Unlock()
		if fs.gone {
			fail("file %q indexed after its last state went", fs.Key)
		}
		if fs.emptyLocked() {
			fail("file %q indexed with no state", fs.Key)
		}
		for i, d := range fs.delegs {
			if states[d.Other] != d || d.Kind != KindDeleg {
				fail("file %q holds an unindexed delegation", fs.Key)
			}
			if d.dl == nil || d.dl.revoked {
				fail("file %q lists a revoked delegation", fs.Key)
			}
			for _, o := range fs.delegs[i+1:] {
				if o.Client == d.Client {
					fail("file %q: two delegations of one client", fs.Key)
				}
			}
			for _, o := range fs.opens {
				if o.Client != d.Client && (d.dl.write || o.access&nfs4.ShareAccessWrite != 0) {
					fail("file %q: delegation while another client has it open for write (or at all, for a write delegation)", fs.Key)
				}
			}
			if d.dl.write && len(fs.delegs) > 1 {
				fail("file %q: a write delegation shares the file", fs.Key)
			}
		}
		for i, a := range fs.opens {
			if states[a.Other] != a {
				fail("file %q holds an unindexed open", fs.Key)
			}
			for _, b := range fs.opens[i+1:] {
				if a.Owner == b.Owner {
					fail("file %q: two opens of one owner", fs.Key)
				}
				if a.access&b.deny != 0 || b.access&a.deny != 0 {
					fail("file %q: share reservations conflict", fs.Key)
				}
			}
		}
		for i, p := range fs.pending {
			if p.done {
				fail("file %q: a committed lock reservation is still pending", fs.Key)
			}
			for _, q := range fs.pending[i+1:] {
				if p.State == q.State {
					fail("file %q: two backend lock calls of one lock state in flight", fs.Key)
				} else if !p.Unlock && !q.Unlock && p.Start <= q.End && q.Start <= p.End && (p.Write || q.Write) {
					fail("file %q: conflicting lock reservations", fs.Key)
				}
			}
		}
		for i, a := range fs.locks {
			if a.start > a.end {
				fail("file %q: empty lock range", fs.Key)
			}
			if states[a.state.Other] != a.state {
				fail("file %q: lock of an unindexed state", fs.Key)
			}
			for _, b := range fs.locks[i+1:] {
				if !a.overlaps(b.start, b.end) {
					continue
				}
				if a.state == b.state {
					fail("file %q: overlapping ranges of one owner", fs.Key)
				} else if a.write || b.write {
					fail("file %q: conflicting locks [%d,%d] and [%d,%d]", fs.Key, a.start, a.end, b.start, b.end)
				}
			}
		}
	})
	if len(errs) > 0 {
		return fmt.Errorf("%d inconsistencies, first: %w", len(errs), errs[0])
	}
	return nil
}
