package nfs4state

import (
	"sync"
	"sync/atomic"

	"nfsgw/gateway/nfs4"
)

// Read delegations (RFC 8881 section 10.2, RFC 7530 section 10.4).
//
// A delegation is a State of KindDeleg, indexed like any other stateid (so
// it counts in the client's state limit and goes with the client), and
// listed in its file's delegs. At most one is held per client and file.
//
// A conflicting request of another client (an OPEN for write or with deny
// read, a LOCK, a REMOVE, RENAME or size change) gets NFS4ERR_DELAY and
// starts a recall, once per delegation: the delegation is marked recalled
// under its file's lock and a Recall effect is returned, which the caller
// (the COMPOUND engine) performs once the lock is released, sending
// CB_RECALL in its own goroutine. A delegation not returned
// within a lease (4.1: ¾) of its recall, or whose recall failed, is revoked: it
// leaves its file (so it no longer conflicts) and, for a 4.1 client, stays
// as a revoked stateid (NFS4ERR_DELEG_REVOKED, with
// SEQ4_STATUS_RECALLABLE_STATE_REVOKED on SEQUENCE) until FREE_STATEID.

// delegInfo is the recall state of a delegation, guarded by File.mu
// (write is set before the delegation is published and never changes).
type delegInfo struct {
	recallAt int64 // when the recall started (0: not recalled)
	revoked  bool
	write    bool

	// Write delegations, for CB_GETATTR (RFC 8881 section 10.4.3):
	// the change attribute at grant, whether the holder has reported
	// changes, the last change value it reported, and the change value
	// the server last answered others with.
	change   uint64
	modified bool
	cbChange uint64
	reported uint64
}

// delegMgr is the Manager's delegation bookkeeping.
type delegMgr struct {
	count    atomic.Int64 // delegations not revoked
	backed   atomic.Int64 // delegations holding a backend file
	writes   atomic.Int64 // write delegations not revoked
	mu       sync.Mutex
	recalled map[*State]struct{} // under recall, for revocation
}

// delegClient is a client's delegation bookkeeping.
type delegClient struct {
	revoked atomic.Int32 // revoked delegations not yet freed
	held    atomic.Int32 // delegations held (not revoked)

	// cbPath is the NFSv4.0 callback connection once a CB_NULL over it
	// succeeded (opaque: the COMPOUND engine owns it), nil otherwise.
	cbMu   sync.Mutex
	cbPath any
	cbGen  uint64
}

// backChannel is a session's callback parameters and back-channel slot.
type backChannel struct {
	mu      sync.Mutex
	set     bool
	program uint32
	flavor  uint32
	body    []byte
	seqid   uint32
	sem     chan struct{} // the one back-channel slot we use
}

// Delegations returns how many delegations (not revoked) exist.
func (m *Manager) Delegations() int64 { return m.dm.count.Load() }

// IsRevoked reports whether a delegation was revoked.
func (s *State) IsRevoked() bool {
	if s.Kind != KindDeleg {
		return false
	}
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	return s.dl != nil && s.dl.revoked
}

// RevokedDelegations reports whether the client has revoked delegations it
// has not freed yet.
func (c *Client) RevokedDelegations() bool { return c.dc.revoked.Load() > 0 }

// GrantReadDeleg grants client c a read delegation on the file it has just
// opened, if nothing stands in the way: no open for write by another
// client and no write lock by anyone, no delegation of c already, no write
// delegation or recall in progress, room in c's state limit. It reports
// false (and WND4_CONTENTION or WND4_RESOURCE as why) when it grants
// nothing.
func (m *Manager) GrantReadDeleg(c *Client, fileKey, fh string) (nfs4.Stateid, uint32, bool) {
	return m.GrantDeleg(c, fileKey, fh, false)
}

// GrantDeleg grants a read delegation (as GrantReadDeleg) or a write
// delegation. A write delegation needs the file to itself: no open and no
// lock of another client, and no delegation at all.
func (m *Manager) GrantDeleg(c *Client, fileKey, fh string, write bool) (nfs4.Stateid, uint32, bool) {
	sid, _, why, ok := m.GrantBackedDeleg(c, fileKey, fh, write, nil)
	return sid, why, ok
}

// CanGrantDeleg reports whether GrantDeleg would grant now (and why not),
// without granting: the caller may then prepare a backend delegation.
func (m *Manager) CanGrantDeleg(c *Client, fileKey string, write bool) (uint32, bool) {
	fs, ok := m.files.get(fileKey)
	if !ok {
		return nfs4.WNDTContention, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return m.canGrantLocked(fs, c, write)
}

// GrantBackedDeleg is GrantDeleg for a delegation that the backend backs
// too (fsal.Delegator): backend is its dedicated backend file, which the
// delegation keeps until it ends however it ends (DELEGRETURN, revocation,
// expiry, the client's destruction), and then closes (the Closer gives the
// backend delegation back). It is not taken when nothing is granted: the
// caller closes it then.
func (m *Manager) GrantBackedDeleg(c *Client, fileKey, fh string, write bool, backend Closer) (nfs4.Stateid, *State, uint32, bool) {
	fs, ok := m.files.get(fileKey)
	if !ok {
		return nfs4.Stateid{}, nil, nfs4.WNDTContention, false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if why, ok := m.canGrantLocked(fs, c, write); !ok {
		return nfs4.Stateid{}, nil, why, false
	}
	s := &State{Other: m.newOtherFor(c), Kind: KindDeleg, Client: c, File: fs, FH: fh, seqid: 1, dl: &delegInfo{write: write}}
	if backend != nil {
		s.file = &sharedFile{c: backend}
		s.file.refs.Store(1)
		m.dm.backed.Add(1)
	}
	c.mu.Lock()
	c.states[s.Other] = s
	c.mu.Unlock()
	fs.delegs = append(fs.delegs, s)
	m.states.put(s.Other, s)
	m.dm.count.Add(1)
	if write {
		m.dm.writes.Add(1)
	}
	c.dc.held.Add(1)
	return nfs4.Stateid{Seqid: 1, Other: s.Other}, s, 0, true
}

// canGrantLocked checks GrantDeleg's conditions (caller holds fs.mu).
func (m *Manager) canGrantLocked(fs *FileState, c *Client, write bool) (uint32, bool) {
	if fs.gone || c.destroyed.Load() {
		return nfs4.WNDTContention, false
	}
	for _, s := range fs.opens {
		if s.Client != c && (write || s.access&nfs4.ShareAccessWrite != 0) {
			return nfs4.WNDTContention, false
		}
	}
	for _, l := range fs.locks {
		if (write && l.state.Client != c) || (!write && l.write) {
			return nfs4.WNDTContention, false
		}
	}
	for _, d := range fs.delegs {
		if write || d.Client == c || d.dl.recallAt != 0 || d.dl.write {
			return nfs4.WNDTContention, false
		}
	}
	c.mu.Lock()
	full := len(c.states) >= m.cfg.MaxStatesPerClient
	c.mu.Unlock()
	if full {
		return nfs4.WNDTResource, false
	}
	return 0, true
}

// conflictLocked reports whether the file has delegations of clients other
// than c (nil: anyone) and starts their recall, appending the Recall
// effects to fx (caller holds fs.mu); with writeOnly, only write
// delegations count (the request only reads). The delegations of courtesy
// clients are not recalled: their clients are appended to courtesy, for
// the caller to expire once it let go of fs.mu.
func (m *Manager) conflictLocked(fs *FileState, c *Client, writeOnly bool, courtesy []*Client, fx Effects) (bool, []*Client, Effects) {
	busy := false
	for _, d := range fs.delegs {
		if d.Client == c || (writeOnly && !d.dl.write) {
			continue
		}
		if m.isCourtesy(d.Client) {
			courtesy = appendClient(courtesy, d.Client)
			continue
		}
		busy = true
		if d.dl.recallAt == 0 {
			fx = append(fx, m.startRecallLocked(d))
		}
	}
	return busy, courtesy, fx
}

// startRecallLocked marks delegation d recalled, so that it is recalled
// once and revoked if not returned in time, and returns the Recall for
// the caller to perform after it let go of d.File.mu (caller holds
// d.File.mu; d.dl.recallAt is 0).
func (m *Manager) startRecallLocked(d *State) Effect {
	d.dl.recallAt = m.now()
	m.dm.mu.Lock()
	if m.dm.recalled == nil {
		m.dm.recalled = map[*State]struct{}{}
	}
	m.dm.recalled[d] = struct{}{}
	m.dm.mu.Unlock()
	return Effect{Kind: Recall, State: d, Client: d.Client}
}

// openConflictLocked is conflictLocked for an OPEN: only write access or
// deny read conflicts with read delegations; any open conflicts with
// another client's write delegation.
func (m *Manager) openConflictLocked(fs *FileState, c *Client, access, deny uint32, courtesy []*Client, fx Effects) (bool, []*Client, Effects) {
	readOnly := access&nfs4.ShareAccessWrite == 0 && deny&nfs4.ShareDenyRead == 0
	return m.conflictLocked(fs, c, readOnly, courtesy, fx)
}

// BreakDelegations answers NFS4ERR_DELAY, after starting their recall
// (the Recall effects), if clients other than c (nil: anyone) hold
// delegations on the file; it is for REMOVE, RENAME and size changes.
func (m *Manager) BreakDelegations(fileKey string, c *Client) (nfs4.Status, Effects) {
	return m.breakDelegations(fileKey, c, false)
}

// BreakWriteDelegations is BreakDelegations for requests that only look at
// the file (GETATTR of its size or change, READ without an open, LOCKT):
// only write delegations conflict, since their holders may have changed
// the file without telling the server yet. It costs one atomic load while
// no write delegation exists.
func (m *Manager) BreakWriteDelegations(fileKey string, c *Client) (nfs4.Status, Effects) {
	if m.dm.writes.Load() == 0 {
		return nfs4.OK, nil
	}
	return m.breakDelegations(fileKey, c, true)
}

func (m *Manager) breakDelegations(fileKey string, c *Client, writeOnly bool) (nfs4.Status, Effects) {
	var fx Effects
	for {
		if m.dm.count.Load() == 0 {
			return nfs4.OK, fx
		}
		fs, ok := m.files.get(fileKey)
		if !ok {
			return nfs4.OK, fx
		}
		fs.mu.Lock()
		busy, courtesy, more := m.conflictLocked(fs, c, writeOnly, nil, fx)
		fx = more
		fs.mu.Unlock()
		if len(courtesy) > 0 {
			fx = m.expireCourtesy(courtesy, fx)
			continue
		}
		if busy {
			return nfs4.ErrDelay, fx
		}
		return nfs4.OK, fx
	}
}

// DelegReturn implements DELEGRETURN of a delegation of client c.
func (m *Manager) DelegReturn(c *Client, s *State) nfs4.Status {
	if s.Kind != KindDeleg || s.Client != c {
		return nfs4.ErrBadStateid
	}
	if s.IsRevoked() {
		return nfs4.ErrDelegRevoked
	}
	m.closeFiles(m.release(s))
	return nfs4.OK
}

// RecallFailed revokes a delegation whose recall could not be delivered.
func (m *Manager) RecallFailed(s *State) { m.revoke(s) }

// Recall starts the recall of delegation s as a conflicting request of
// another client would (for a backend that recalls its own delegation: an
// access through another gateway). A courtesy client's delegation is not
// recalled: the client is expired, which returns it.
func (m *Manager) Recall(s *State) Effects {
	fs := s.File
	fs.mu.Lock()
	if s.closed || s.dl == nil || s.dl.revoked || s.dl.recallAt != 0 {
		fs.mu.Unlock()
		return nil
	}
	if m.isCourtesy(s.Client) {
		fs.mu.Unlock()
		return m.expireCourtesy([]*Client{s.Client}, nil)
	}
	e := m.startRecallLocked(s)
	fs.mu.Unlock()
	return Effects{e}
}

// Revoke takes delegation s away from its client now, recalled or not (its
// backend delegation must be given back before a deadline the client did
// not meet).
func (m *Manager) Revoke(s *State) { m.revoke(s) }

// BackedDelegations returns how many delegations hold a backend file.
func (m *Manager) BackedDelegations() int64 { return m.dm.backed.Load() }

// OpenConflict is the delegation check of an OPEN, made before the
// backend file is opened: NFS4ERR_DELAY, after starting their recall, if
// delegations stand in the way. Besides other clients' delegations that
// conflict with the access (as Open checks), an open for write recalls the
// client's own delegations backed by the backend, whose backend would
// otherwise stall the open until they are returned (libcephfs breaks its
// delegations on any open for write, its own included).
func (m *Manager) OpenConflict(fileKey string, c *Client, access, deny uint32) (nfs4.Status, Effects) {
	var fx Effects
	for {
		if m.dm.count.Load() == 0 {
			return nfs4.OK, fx
		}
		fs, ok := m.files.get(fileKey)
		if !ok {
			return nfs4.OK, fx
		}
		fs.mu.Lock()
		busy, courtesy, more := m.openConflictLocked(fs, c, access, deny, nil, fx)
		fx = more
		if access&nfs4.ShareAccessWrite != 0 {
			for _, d := range fs.delegs {
				if d.Client == c && d.file != nil {
					busy = true
					if d.dl.recallAt == 0 {
						fx = append(fx, m.startRecallLocked(d))
					}
				}
			}
		}
		fs.mu.Unlock()
		if len(courtesy) > 0 {
			fx = m.expireCourtesy(courtesy, fx)
			continue
		}
		if busy {
			return nfs4.ErrDelay, fx
		}
		return nfs4.OK, fx
	}
}

// revokeLate revokes the delegations recalled more than a lease ago, or
// for 4.1 clients three quarters of one: a 4.1 holder that stopped renewing
// when it was recalled (pynfs DELEG8 does) would otherwise expire in the
// same reaper tick, and see its whole state gone instead of
// NFS4ERR_DELEG_REVOKED. (A 4.0 revocation just drops the stateid, so 4.0
// holders get the full lease to answer late.)
func (m *Manager) revokeLate(now int64) {
	// Lock order is File.mu before dm.mu: snapshot, then look.
	m.dm.mu.Lock()
	recalled := make([]*State, 0, len(m.dm.recalled))
	for d := range m.dm.recalled {
		recalled = append(recalled, d)
	}
	m.dm.mu.Unlock()
	for _, d := range recalled {
		d.File.mu.Lock()
		limit := int64(m.cfg.Lease)
		if d.Client.Minor > 0 {
			limit = limit * 3 / 4
		}
		late := now-d.dl.recallAt > limit
		d.File.mu.Unlock()
		if late {
			m.revoke(d)
		}
	}
}

// revoke takes a delegation away from its client.
func (m *Manager) revoke(s *State) {
	m.dm.mu.Lock()
	delete(m.dm.recalled, s)
	m.dm.mu.Unlock()
	if s.Client.Minor == 0 {
		// 4.0 has no FREE_STATEID: the stateid simply goes.
		m.closeFiles(m.release(s))
		return
	}
	fs := s.File
	fs.mu.Lock()
	if s.closed || s.dl.revoked {
		fs.mu.Unlock()
		return
	}
	s.dl.revoked = true
	fs.delegs = removeState(fs.delegs, s)
	empty := fs.emptyLocked()
	if empty {
		fs.gone = true
	}
	// The stateid stays until FREE_STATEID; the backend delegation goes
	// now.
	var files []Closer
	if s.file != nil {
		files = append(files, s.file)
		s.file = nil
		m.dm.backed.Add(-1)
	}
	fs.mu.Unlock()
	m.closeFiles(files)
	if empty {
		m.files.delIf(fs.Key, func(v *FileState) bool { return v == fs })
	}
	m.dm.count.Add(-1)
	if s.dl.write {
		m.dm.writes.Add(-1)
	}
	s.Client.dc.held.Add(-1)
	s.Client.dc.revoked.Add(1)
}

// released is called by release for a delegation it unlinked, with the
// revoked flag as it was (the state is closed now, so it runs once).
func (m *Manager) released(s *State, revoked bool) {
	m.dm.mu.Lock()
	delete(m.dm.recalled, s)
	m.dm.mu.Unlock()
	if revoked {
		s.Client.dc.revoked.Add(-1)
	} else {
		m.dm.count.Add(-1)
		if s.dl.write {
			m.dm.writes.Add(-1)
		}
		s.Client.dc.held.Add(-1)
	}
}

// SetDelegChange records the file's change attribute when write
// delegation sid was granted; CB_GETATTR answers are compared with it.
func (m *Manager) SetDelegChange(sid nfs4.Stateid, change uint64) {
	s, ok := m.states.get(sid.Other)
	if !ok || s.Kind != KindDeleg {
		return
	}
	s.File.mu.Lock()
	s.dl.change = change
	s.File.mu.Unlock()
}

// WriteDelegOf returns the write delegation another client than c (nil:
// anyone) holds on the file, if it can be asked for attributes: not being
// recalled and its client not a courtesy client. Otherwise nil.
func (m *Manager) WriteDelegOf(fileKey string, c *Client) *State {
	if m.dm.writes.Load() == 0 {
		return nil
	}
	fs, ok := m.files.get(fileKey)
	if !ok {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, d := range fs.delegs {
		if d.dl.write && d.Client != c && d.dl.recallAt == 0 && !m.isCourtesy(d.Client) {
			return d
		}
	}
	return nil
}

// CBAttrs is what a write delegation's holder answered to CB_GETATTR.
type CBAttrs struct {
	HasSize, HasChange bool
	Size, Change       uint64
}

// MergeCBGetattr combines the backend's size and change attribute of the
// file of write delegation d with what its holder answered to CB_GETATTR
// and returns what to tell another client. A holder whose change
// attribute moved since the grant (or whose size differs) has modified
// the file: its size is reported, and a change attribute above both the
// backend's and any reported before, new each time the holder reports a
// new change (RFC 8881 section 10.4.3).
func (m *Manager) MergeCBGetattr(d *State, size, change uint64, cb CBAttrs) (uint64, uint64) {
	d.File.mu.Lock()
	defer d.File.mu.Unlock()
	dl := d.dl
	modified := (cb.HasChange && cb.Change != dl.change) || (cb.HasSize && cb.Size != size)
	if !modified && !dl.modified {
		return size, change
	}
	if !dl.modified || (cb.HasChange && cb.Change != dl.cbChange) {
		dl.reported = max(change, dl.reported) + 1
	} else if change >= dl.reported {
		dl.reported = change + 1
	}
	dl.modified = true
	if cb.HasChange {
		dl.cbChange = cb.Change
	}
	if cb.HasSize {
		size = cb.Size
	}
	return size, dl.reported
}

// IsWriteDeleg reports whether s is a write delegation.
func (s *State) IsWriteDeleg() bool { return s.Kind == KindDeleg && s.dl != nil && s.dl.write }

// WriteDelegations returns how many write delegations (not revoked) exist.
func (m *Manager) WriteDelegations() int64 { return m.dm.writes.Load() }

// HoldsDelegations reports whether the client holds delegations (not
// revoked ones).
func (c *Client) HoldsDelegations() bool { return c.dc.held.Load() > 0 }

func (fs *FileState) emptyLocked() bool {
	return len(fs.opens) == 0 && len(fs.lockStates) == 0 && len(fs.delegs) == 0
}

// SetCallback records a session's callback program and security (from
// CREATE_SESSION or BACKCHANNEL_CTL): flavor AUTH_NONE or AUTH_SYS with the
// encoded authsys_parms in body.
func (s *Session) SetCallback(program, flavor uint32, body []byte) {
	s.cb.mu.Lock()
	s.cb.set = true
	s.cb.program, s.cb.flavor, s.cb.body = program, flavor, append([]byte(nil), body...)
	s.cb.mu.Unlock()
}

// Callback returns the session's callback program and security.
func (s *Session) Callback() (program, flavor uint32, body []byte) {
	s.cb.mu.Lock()
	defer s.cb.mu.Unlock()
	if !s.cb.set {
		return s.CBProgram, 0, nil
	}
	return s.cb.program, s.cb.flavor, s.cb.body
}

func (s *Session) cbSem() chan struct{} {
	s.cb.mu.Lock()
	defer s.cb.mu.Unlock()
	if s.cb.sem == nil {
		s.cb.sem = make(chan struct{}, 1)
	}
	return s.cb.sem
}

// AcquireBackSlot takes the session's back-channel slot 0, waiting until
// done is closed at most; it returns the sequence id to send and a function
// to release the slot, told whether a reply arrived (only then does the
// sequence id advance; otherwise the next call retries it).
func (s *Session) AcquireBackSlot(done <-chan struct{}) (seqid uint32, release func(replied bool), ok bool) {
	sem := s.cbSem()
	select {
	case sem <- struct{}{}:
	case <-done:
		return 0, nil, false
	}
	s.cb.mu.Lock()
	next := s.cb.seqid + 1
	s.cb.mu.Unlock()
	return next, func(replied bool) {
		if replied {
			s.cb.mu.Lock()
			s.cb.seqid = next
			s.cb.mu.Unlock()
		}
		<-sem
	}, true
}

// BackChannel returns a session of client c with a back channel
// connection for which alive reports true, preferring prefer, or nil.
func (m *Manager) BackChannel(c *Client, prefer *Session, alive func(conn any) bool) (*Session, any) {
	if prefer != nil {
		if conn := prefer.BackConn(); conn != nil && alive(conn) {
			return prefer, conn
		}
	}
	c.mu.Lock()
	sessions := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	for _, s := range sessions {
		if conn := s.BackConn(); conn != nil && alive(conn) {
			return s, conn
		}
	}
	return nil, nil
}

// BackChannelState reports whether one of c's sessions has a back channel
// for which alive reports true (up), and whether any of them has had one
// at all (had).
func (m *Manager) BackChannelState(c *Client, alive func(conn any) bool) (up, had bool) {
	c.mu.Lock()
	sessions := make([]*Session, 0, len(c.sessions))
	for _, s := range c.sessions {
		sessions = append(sessions, s)
	}
	c.mu.Unlock()
	for _, s := range sessions {
		if conn := s.BackConn(); conn != nil {
			had = true
			if alive(conn) {
				return true, true
			}
		}
	}
	return false, had
}

// CallbackInfoNow returns the client's 4.0 callback address (it may be
// updated by SETCLIENTID).
func (c *Client) CallbackInfoNow() CallbackInfo {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Callback
}

// BeginCallbackProbe starts a new probe of the 4.0 callback path and
// returns its generation; the path is down until SetCallbackPath.
func (c *Client) BeginCallbackProbe() (gen uint64, old any) {
	c.dc.cbMu.Lock()
	defer c.dc.cbMu.Unlock()
	c.dc.cbGen++
	old, c.dc.cbPath = c.dc.cbPath, nil
	return c.dc.cbGen, old
}

// SetCallbackPath records the verified callback connection of probe gen;
// it reports false (and the caller must close conn) when a newer probe
// started or the client is gone.
func (c *Client) SetCallbackPath(gen uint64, conn any) bool {
	c.dc.cbMu.Lock()
	defer c.dc.cbMu.Unlock()
	if gen != c.dc.cbGen || c.destroyed.Load() {
		return false
	}
	c.dc.cbPath = conn
	return true
}

// CallbackPath returns the verified 4.0 callback connection, or nil.
func (c *Client) CallbackPath() any {
	c.dc.cbMu.Lock()
	defer c.dc.cbMu.Unlock()
	return c.dc.cbPath
}

// TakeCallbackPath removes and returns the callback connection.
func (c *Client) TakeCallbackPath() any {
	c.dc.cbMu.Lock()
	defer c.dc.cbMu.Unlock()
	c.dc.cbGen++
	old := c.dc.cbPath
	c.dc.cbPath = nil
	return old
}

// ForgetSeqid makes the owner's current 4.0 seqid-bearing request (caller
// holds Mu) leave no seqid behind, as if the owner were new: for an OPEN of
// a new, unconfirmed owner that waits with NFS4ERR_DELAY for a recall, so
// that its retry is not answered from the replay cache (knfsd forgets such
// owners too).
func (o *OpenOwner) ForgetSeqid() { o.forget = true }
