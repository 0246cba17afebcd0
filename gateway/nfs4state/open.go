package nfs4state

import (
	"encoding/binary"
	"math"
	"sync"
	"sync/atomic"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
)

// OpenOwner is an open_owner4. In NFSv4.0 its seqid orders the client's
// OPEN/CLOSE/OPEN_CONFIRM/OPEN_DOWNGRADE requests and its last reply is
// kept to answer a retransmission (RFC 7530 section 9.1.7).
type OpenOwner struct {
	Sequencer
	Client    *Client
	Key       string
	confirmed bool
	// lastClosed is the owner's last closed open (4.0), guarded by
	// Client.mu.
	lastClosed *State
}

// Sequencer orders the seqid-bearing requests of one NFSv4.0 open or lock
// owner and remembers the last reply for retransmissions.
type Sequencer struct {
	// Mu serialises the seqid-bearing operations of this owner.
	Mu        sync.Mutex
	seqid     uint32
	seqSet    bool
	lastReply []byte
	lastOp    uint32
	forget    bool // the next SeqAdvance forgets the seqid (deleg.go)
}

// OpenOwner returns the client's open owner with key, creating it.
func (c *Client) OpenOwner(key string) *OpenOwner {
	c.mu.Lock()
	defer c.mu.Unlock()
	o := c.openOwners[key]
	if o == nil {
		o = &OpenOwner{Client: c, Key: key}
		c.openOwners[key] = o
	}
	return o
}

// FindOpenOwner returns the client's open owner with key, or nil.
func (c *Client) FindOpenOwner(key string) *OpenOwner {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openOwners[key]
}

// SeqCheck classifies a 4.0 seqid for the owner (caller holds Mu): OK for
// the next one (or any for a new owner), a replay of the last request with
// its cached reply, or NFS4ERR_BAD_SEQID.
func (o *Sequencer) SeqCheck(seqid, op uint32) (replay []byte, status nfs4.Status) {
	if !o.seqSet {
		return nil, nfs4.OK
	}
	switch seqid {
	case o.seqid + 1:
		return nil, nfs4.OK
	case o.seqid:
		if o.lastReply != nil && o.lastOp == op {
			return o.lastReply, nfs4.OK
		}
	}
	return nil, nfs4.ErrBadSeqid
}

// SeqAdvance records the outcome of a seqid-bearing request (caller holds
// Mu). Errors that RFC 7530 section 9.1.7 exempts do not advance the seqid.
func (o *Sequencer) SeqAdvance(seqid, op uint32, status nfs4.Status, reply []byte) {
	if o.forget {
		o.forget, o.seqSet, o.lastReply = false, false, o.lastReply[:0]
		return
	}
	switch status {
	case nfs4.ErrStaleClientid, nfs4.ErrStaleStateid, nfs4.ErrBadStateid, nfs4.ErrBadSeqid,
		nfs4.ErrBadxdr, nfs4.ErrResource, nfs4.ErrNofilehandle, nfs4.ErrMoved:
		return
	}
	o.seqid, o.seqSet, o.lastOp = seqid, true, op
	o.lastReply = append(o.lastReply[:0], reply...)
}

// Confirmed reports whether the owner was confirmed (OPEN_CONFIRM, 4.0).
func (o *OpenOwner) Confirmed() bool { return o.confirmed }

// SetConfirmed marks the owner confirmed (caller holds Mu).
func (o *OpenOwner) SetConfirmed() { o.confirmed = true }

// FileState is the shared state of one file: its opens, for share
// reservation checks.
type FileState struct {
	Key        string
	mu         sync.Mutex
	opens      []*State
	lockStates []*State
	locks      []*lockRange
	delegs     []*State // read delegations (deleg.go)
	// pending are the byte-range locks and unlocks whose backend call is
	// running (lock.go: reserve, call, commit).
	pending []*LockCall
	gone    bool
}

// Kind is the kind of a stateid.
type Kind uint8

// Stateid kinds.
const (
	KindOpen Kind = iota + 1
	KindLock
	KindDeleg
)

// State is what a stateid names.
type State struct {
	Other  [nfs4.OtherSize]byte
	Kind   Kind
	Client *Client
	Owner  *OpenOwner
	// LockOwner and Open are set for lock stateids.
	LockOwner *LockOwner
	Open      *State
	File      *FileState
	// FH is the NFS file handle the state was created on; a stateid used
	// with another current file handle is rejected.
	FH string

	// The fields below are guarded by File.mu.
	seqid  uint32
	access uint32
	deny   uint32
	file   *sharedFile
	closed bool
	dl     *delegInfo // delegations only
	// accessSeen and denySeen have bit n set when an OPEN asked for
	// share access (deny) n: OPEN_DOWNGRADE may only go back to one of
	// those (RFC 7530 section 16.19.4).
	accessSeen, denySeen uint8
}

// sharedFile counts the users of a backend file so that a CLOSE racing
// with a READ or WRITE on the same stateid never closes the descriptor
// under the I/O (a reused descriptor number would send data to another
// file). The state holds one reference; each I/O holds one more.
type sharedFile struct {
	f    fsal.File
	c    Closer // what closing closes: f, or a delegation's backend file
	refs atomic.Int32
}

func newShared(f fsal.File) *sharedFile {
	s := &sharedFile{f: f, c: f}
	s.refs.Store(1)
	return s
}

// Close drops one reference and closes the file with the last one.
func (s *sharedFile) Close() error {
	if s.refs.Add(-1) == 0 {
		return s.c.Close()
	}
	return nil
}

// Stateid returns the current stateid.
func (s *State) Stateid() nfs4.Stateid {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	return nfs4.Stateid{Seqid: s.seqid, Other: s.Other}
}

// Access returns the share access and deny bits.
func (s *State) Access() (access, deny uint32) {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	return s.access, s.deny
}

// AcquireFile returns the open backend file and a function to call when
// the I/O on it is done; nil if the state has been closed.
func (s *State) AcquireFile() (fsal.File, func()) {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	if s.file == nil || s.file.f == nil {
		return nil, nil
	}
	sf := s.file
	sf.refs.Add(1)
	return sf.f, func() { sf.Close() }
}

// FindOpen returns the owner's open state on the file, if any, so the
// caller can open the backend file with the union of the accesses.
func (m *Manager) FindOpen(o *OpenOwner, fileKey string) *State {
	fs, ok := m.files.get(fileKey)
	if !ok {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, s := range fs.opens {
		if s.Owner == o {
			return s
		}
	}
	return nil
}

// OpenRequest describes an OPEN once the backend object is known.
type OpenRequest struct {
	Owner   *OpenOwner
	FileKey string
	FH      string
	Access  uint32
	Deny    uint32
	// File is the backend file opened for (at least) Access, or for the
	// union of Access and an existing open's access by the same owner.
	File fsal.File
}

// Open records an open, upgrading the owner's existing open of the file
// (RFC 8881 section 18.16.3) or creating a new open stateid. It takes
// ownership of req.File in every case. The effects are the recalls of
// delegations in the way (the open then answers NFS4ERR_DELAY) and the
// expiry of courtesy clients in the way.
func (m *Manager) Open(req OpenRequest) (*State, nfs4.Stateid, nfs4.Status, Effects) {
	c := req.Owner.Client
	var fx Effects
	for {
		fs := m.fileState(req.FileKey)
		fs.mu.Lock()
		if fs.gone {
			// Lost a race with the last close of this file; retry.
			fs.mu.Unlock()
			continue
		}
		var mine *State
		var courtesy []*Client
		denied := false
		for _, s := range fs.opens {
			if s.Owner == req.Owner {
				mine = s
			}
			// The owner's own open counts too: an owner that denied
			// reads cannot open for reading (RFC 7530 section 16.16.5).
			if s.access&req.Deny != 0 || s.deny&req.Access != 0 {
				if s.Client != c && m.isCourtesy(s.Client) {
					courtesy = appendClient(courtesy, s.Client)
					continue
				}
				denied = true
			}
		}
		if denied {
			fs.mu.Unlock()
			m.closeFiles([]Closer{req.File})
			return nil, nfs4.Stateid{}, nfs4.ErrShareDenied, fx
		}
		busy, courtesy, more := m.openConflictLocked(fs, c, req.Access, req.Deny, courtesy, fx)
		fx = more
		if len(courtesy) > 0 {
			fs.mu.Unlock()
			fx = m.expireCourtesy(courtesy, fx)
			continue
		}
		if busy {
			// Another client's delegation is being recalled.
			fs.mu.Unlock()
			m.closeFiles([]Closer{req.File})
			return nil, nfs4.Stateid{}, nfs4.ErrDelay, fx
		}
		if mine != nil {
			old := mine.file
			mine.file = newShared(req.File)
			mine.access |= req.Access
			mine.deny |= req.Deny
			mine.accessSeen |= 1 << req.Access
			mine.denySeen |= 1 << req.Deny
			mine.seqid++
			sid := nfs4.Stateid{Seqid: mine.seqid, Other: mine.Other}
			fs.mu.Unlock()
			if old != nil {
				m.closeFiles([]Closer{old})
			}
			return mine, sid, nfs4.OK, fx
		}
		c.mu.Lock()
		if len(c.states) >= m.cfg.MaxStatesPerClient {
			c.mu.Unlock()
			fs.mu.Unlock()
			m.closeFiles([]Closer{req.File})
			return nil, nfs4.Stateid{}, nfs4.ErrResource, fx
		}
		s := &State{Other: m.newOtherFor(c), Kind: KindOpen, Client: c, Owner: req.Owner, File: fs, FH: req.FH,
			seqid: 1, access: req.Access, deny: req.Deny, file: newShared(req.File),
			accessSeen: 1 << req.Access, denySeen: 1 << req.Deny}
		c.states[s.Other] = s
		c.mu.Unlock()
		fs.opens = append(fs.opens, s)
		fs.mu.Unlock()
		m.states.put(s.Other, s)
		return s, nfs4.Stateid{Seqid: 1, Other: s.Other}, nfs4.OK, fx
	}
}

func (m *Manager) fileState(key string) *FileState {
	var fs *FileState
	m.files.update(key, func(v *FileState, ok bool) (*FileState, bool) {
		if !ok {
			v = &FileState{Key: key}
		}
		fs = v
		return v, true
	})
	return fs
}

// CheckResult is a validated stateid.
type CheckResult struct {
	State *State
}

// LookupState validates a non-special stateid for use on the file handle fh
// (RFC 8881 section 8.2.4). minor selects the 4.0 or 4.1 error for a
// stateid of an earlier server instance; a zero seqid in 4.1 means "the
// current one".
func (m *Manager) LookupState(sid nfs4.Stateid, fh string, minor uint32) (*State, nfs4.Status) {
	s, ok := m.states.get(sid.Other)
	if !ok {
		if m.staleOther(sid.Other) {
			if minor == 0 {
				return nil, nfs4.ErrStaleStateid
			}
			return nil, nfs4.ErrBadStateid
		}
		if m.buried(binary.BigEndian.Uint32(sid.Other[4:8])) {
			return nil, nfs4.ErrExpired
		}
		return nil, nfs4.ErrBadStateid
	}
	if s.Client.destroyed.Load() {
		return nil, nfs4.ErrExpired
	}
	if fh != "" && s.FH != fh {
		return nil, nfs4.ErrBadStateid
	}
	s.File.mu.Lock()
	cur, closed := s.seqid, s.closed
	revoked := s.dl != nil && s.dl.revoked
	s.File.mu.Unlock()
	if closed {
		return s, nfs4.ErrBadStateid
	}
	if revoked {
		return nil, nfs4.ErrDelegRevoked
	}
	if sid.Seqid == 0 && minor > 0 {
		return s, nfs4.OK
	}
	if sid.Seqid > cur {
		return nil, nfs4.ErrBadStateid
	}
	if sid.Seqid < cur {
		return s, nfs4.ErrOldStateid
	}
	return s, nfs4.OK
}

func (m *Manager) staleOther(o [nfs4.OtherSize]byte) bool {
	return uint32(o[0])<<24|uint32(o[1])<<16|uint32(o[2])<<8|uint32(o[3]) != m.cfg.Boot
}

// Close ends an open (CLOSE). It returns the final stateid.
func (m *Manager) Close(s *State) nfs4.Stateid {
	s.File.mu.Lock()
	s.seqid++
	sid := nfs4.Stateid{Seqid: s.seqid, Other: s.Other}
	s.File.mu.Unlock()
	m.closeFiles(m.release(s))
	if s.Client.Minor == 0 && s.Owner != nil {
		m.keepClosed(s)
	}
	return sid
}

// keepClosed keeps an NFSv4.0 owner's last closed stateid findable, so that
// a retransmitted CLOSE is answered from the owner's replay cache instead
// of failing with NFS4ERR_BAD_STATEID. One per owner, dropped with the
// owner's next CLOSE or with its client.
func (m *Manager) keepClosed(s *State) {
	c, o := s.Client, s.Owner
	c.mu.Lock()
	prev := o.lastClosed
	o.lastClosed = s
	c.mu.Unlock()
	if prev != nil {
		m.states.delIf(prev.Other, func(x *State) bool { return x == prev })
	}
	if !c.destroyed.Load() {
		m.states.put(s.Other, s)
	}
}

// release unlinks a state from every index and returns the backend files to
// close.
func (m *Manager) release(s *State) []Closer {
	fs := s.File
	fs.mu.Lock()
	if s.closed {
		fs.mu.Unlock()
		return nil
	}
	var files []Closer
	var deps []*State
	revoked := s.dl != nil && s.dl.revoked
	if s.Kind == KindOpen {
		// An open's lock states (and their locks) go with it.
		for _, ls := range fs.lockStates {
			if ls.Open == s {
				deps = append(deps, ls)
			}
		}
	}
	deps = append(deps, s)
	for _, d := range deps {
		d.closed = true
		fs.opens = removeState(fs.opens, d)
		fs.lockStates = removeState(fs.lockStates, d)
		fs.delegs = removeState(fs.delegs, d)
		fs.locks = carve(fs.locks, d, 0, math.MaxUint64)
		if d.file != nil {
			files = append(files, d.file)
			d.file = nil
			if d.Kind == KindDeleg {
				m.dm.backed.Add(-1)
			}
		}
	}
	empty := fs.emptyLocked()
	if empty {
		fs.gone = true
	}
	fs.mu.Unlock()
	if empty {
		m.files.delIf(fs.Key, func(v *FileState) bool { return v == fs })
	}
	if s.Kind == KindDeleg {
		m.released(s, revoked)
	}
	c := s.Client
	for _, d := range deps {
		m.states.del(d.Other)
	}
	c.mu.Lock()
	for _, d := range deps {
		delete(c.states, d.Other)
	}
	c.mu.Unlock()
	return files
}

func removeState(list []*State, s *State) []*State {
	for i, o := range list {
		if o == s {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

// Downgrade implements OPEN_DOWNGRADE: the new bits must be a subset of
// those held (RFC 7530 section 16.19.4).
func (m *Manager) Downgrade(s *State, access, deny uint32) (nfs4.Stateid, nfs4.Status) {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	if access&^s.access != 0 || deny&^s.deny != 0 || access == 0 || access > 3 || deny > 3 ||
		s.accessSeen&(1<<access) == 0 || s.denySeen&(1<<deny) == 0 {
		return nfs4.Stateid{}, nfs4.ErrInval
	}
	s.access, s.deny = access, deny
	s.seqid++
	return nfs4.Stateid{Seqid: s.seqid, Other: s.Other}, nfs4.OK
}

// TestStateid implements one entry of TEST_STATEID for client c.
func (m *Manager) TestStateid(c *Client, sid nfs4.Stateid) nfs4.Status {
	if sid.IsSpecial() {
		return nfs4.ErrBadStateid
	}
	s, ok := m.states.get(sid.Other)
	if !ok || s.Client != c {
		return nfs4.ErrBadStateid
	}
	_, st := m.LookupState(sid, "", 1)
	return st
}

// FreeStateid implements FREE_STATEID: an open stateid cannot be freed
// while open (NFS4ERR_LOCKS_HELD, RFC 8881 section 18.38.3).
func (m *Manager) FreeStateid(c *Client, sid nfs4.Stateid) nfs4.Status {
	s, ok := m.states.get(sid.Other)
	if !ok || s.Client != c {
		return nfs4.ErrBadStateid
	}
	if s.Kind == KindOpen || s.HoldsLocks() || (s.Kind == KindDeleg && !s.IsRevoked()) {
		return nfs4.ErrLocksHeld
	}
	m.closeFiles(m.release(s))
	return nfs4.OK
}

// HasOpens reports whether any open is held on a file.
func (m *Manager) HasOpens(fileKey string) bool {
	fs, ok := m.files.get(fileKey)
	if !ok {
		return false
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.opens) > 0
}

// OwnerHasStates reports whether the open owner still holds any open.
func (m *Manager) OwnerHasStates(o *OpenOwner) bool {
	c := o.Client
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.states {
		if s.Owner == o {
			return true
		}
	}
	return false
}

// Bump increments a state's seqid (OPEN_CONFIRM) and returns the stateid.
func (m *Manager) Bump(s *State) (nfs4.Stateid, nfs4.Status) {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	s.seqid++
	return nfs4.Stateid{Seqid: s.seqid, Other: s.Other}, nfs4.OK
}

// DenyConflict reports whether an I/O with a special stateid wanting access
// (read or write) conflicts with a share deny held on the file.
// A deny held by a courtesy client expires it instead (the effects are
// those of its expiry).
func (m *Manager) DenyConflict(fileKey string, access uint32) (bool, Effects) {
	var fx Effects
	for {
		fs, ok := m.files.get(fileKey)
		if !ok {
			return false, fx
		}
		var courtesy []*Client
		fs.mu.Lock()
		for _, s := range fs.opens {
			if s.deny&access != 0 {
				if !m.isCourtesy(s.Client) {
					fs.mu.Unlock()
					return true, fx
				}
				courtesy = appendClient(courtesy, s.Client)
			}
		}
		fs.mu.Unlock()
		if len(courtesy) == 0 {
			return false, fx
		}
		fx = m.expireCourtesy(courtesy, fx)
	}
}
