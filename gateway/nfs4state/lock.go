package nfs4state

import (
	"math"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
)

// LockOwner is a lock_owner4.
type LockOwner struct {
	Sequencer
	Client *Client
	Key    string
}

// LockOwner returns the client's lock owner with key, creating it.
func (c *Client) LockOwner(key string) *LockOwner {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lockOwners == nil {
		c.lockOwners = map[string]*LockOwner{}
	}
	o := c.lockOwners[key]
	if o == nil {
		o = &LockOwner{Client: c, Key: key}
		c.lockOwners[key] = o
	}
	return o
}

// FindLockOwner returns the client's lock owner with key, or nil.
func (c *Client) FindLockOwner(key string) *LockOwner {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lockOwners[key]
}

// lockRange is one held byte-range lock: [start, end] inclusive.
type lockRange struct {
	state *State
	start uint64
	end   uint64
	write bool
}

func (l *lockRange) overlaps(start, end uint64) bool { return l.start <= end && start <= l.end }

// Denied describes the lock that conflicts with a request (LOCK4denied).
type Denied struct {
	Offset   uint64
	Length   uint64
	Write    bool
	ClientID uint64
	Owner    string
}

// RangeEnd converts an NFS offset and length to an inclusive end. Length 0
// is invalid and ranges past 2^64 - 1 are invalid unless the length is
// all ones, meaning "to the end of file" (RFC 7530 section 16.10.4).
func RangeEnd(off, length uint64) (uint64, nfs4.Status) {
	if length == 0 {
		return 0, nfs4.ErrInval
	}
	if length == math.MaxUint64 {
		return math.MaxUint64, nfs4.OK
	}
	if off+length-1 < off {
		return 0, nfs4.ErrInval
	}
	return off + length - 1, nfs4.OK
}

func (l *lockRange) denied() *Denied {
	length := uint64(math.MaxUint64)
	if l.end != math.MaxUint64 {
		length = l.end - l.start + 1
	}
	return &Denied{Offset: l.start, Length: length, Write: l.write, ClientID: l.state.Client.ID, Owner: l.state.LockOwner.Key}
}

// conflict returns the first lock of another owner that conflicts with a
// request for [start, end] (caller holds fs.mu). Locks of courtesy clients
// do not count: their clients are appended to courtesy instead, for the
// caller to expire once it let go of fs.mu.
func (m *Manager) conflict(fs *FileState, owner *LockOwner, start, end uint64, write bool, courtesy []*Client) (*lockRange, []*Client) {
	for _, l := range fs.locks {
		if l.state.LockOwner == owner || !l.overlaps(start, end) || !(write || l.write) {
			continue
		}
		if (owner == nil || l.state.Client != owner.Client) && m.isCourtesy(l.state.Client) {
			courtesy = appendClient(courtesy, l.state.Client)
			continue
		}
		return l, courtesy
	}
	return nil, courtesy
}

// LockStateFor returns the lock stateid of owner on the file of open,
// creating it (for LOCK with a new lock owner, RFC 7530 section 16.10.5).
func (m *Manager) LockStateFor(open *State, owner *LockOwner) (*State, nfs4.Status) {
	fs := open.File
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if open.closed {
		return nil, nfs4.ErrBadStateid
	}
	for _, s := range fs.lockStates {
		if s.LockOwner == owner {
			return s, nfs4.OK
		}
	}
	c := owner.Client
	c.mu.Lock()
	if len(c.states) >= m.cfg.MaxStatesPerClient {
		c.mu.Unlock()
		return nil, nfs4.ErrResource
	}
	s := &State{Other: m.newOtherFor(c), Kind: KindLock, Client: c, Owner: open.Owner, LockOwner: owner,
		Open: open, File: fs, FH: open.FH}
	c.states[s.Other] = s
	c.mu.Unlock()
	fs.lockStates = append(fs.lockStates, s)
	m.states.put(s.Other, s)
	return s, nfs4.OK
}

// LockCall is an effect of the lock core: the backend lock (or unlock) that
// a reservation stands for. The engine runs it with no state lock held,
// between ReserveLock (or ReserveUnlock) and Commit: reserve, call, commit.
// While it runs, the file's state mutex is free, so READ, WRITE and GETATTR
// of the file never wait behind a backend round trip (on CephFS an MDS
// request: ceph_ll_setlk).
type LockCall struct {
	// State is the lock state the call is for.
	State *State
	// Start and End are the inclusive range; Write the lock type.
	Start, End uint64
	Write      bool
	// Unlock says the call releases the range rather than takes it.
	Unlock bool

	file *sharedFile // the lock state's backend file, referenced until Commit
	done bool
}

// File returns the backend file to run the call on: the lock state's own
// (backend locks belong to an open file), kept open until Commit even if
// the state is closed meanwhile. nil when the state has no backend file:
// there is no backend call to make.
func (c *LockCall) File() fsal.File {
	if c.file == nil {
		return nil
	}
	return c.file.f
}

// pendingConflict reports whether a reservation of another lock state is
// in the way of a request: a lock of the same state in flight (LOCK and
// LOCKU of one lock owner are serialised), or another owner's lock in
// flight that would conflict once granted (caller holds fs.mu).
func (fs *FileState) pendingConflict(s *State, start, end uint64, write bool) bool {
	for _, p := range fs.pending {
		if p.State == s {
			return true
		}
		if !p.Unlock && p.Start <= end && start <= p.End && (write || p.Write) {
			return true
		}
	}
	return false
}

// ReserveLock is the first step of LOCK: it checks a request for a
// byte-range lock against the state model, and either reports the
// conflicting lock or reserves the range and returns the backend call to
// make before Commit. A lock being reserved or released in the backend by
// the same lock owner, or a conflicting reservation of another owner,
// answers NFS4ERR_DELAY: whether that one is granted is not known yet.
// The effects are the recalls of other clients' delegations (the request
// then answers NFS4ERR_DELAY) and the expiry of courtesy clients in the
// way.
func (m *Manager) ReserveLock(s *State, start, end uint64, write bool) (*LockCall, *Denied, nfs4.Status, Effects) {
	var fx Effects
	for {
		call, denied, st, courtesy, more := m.reserveLock(s, start, end, write, fx)
		fx = more
		if len(courtesy) == 0 {
			return call, denied, st, fx
		}
		fx = m.expireCourtesy(courtesy, fx)
	}
}

// reserveLock is one attempt of ReserveLock; it gives up, returning them,
// when courtesy clients stand in the way.
func (m *Manager) reserveLock(s *State, start, end uint64, write bool, fx Effects) (*LockCall, *Denied, nfs4.Status, []*Client, Effects) {
	fs := s.File
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s.closed {
		return nil, nil, nfs4.ErrBadStateid, nil, fx
	}
	var busy bool
	var courtesy []*Client
	if len(fs.delegs) > 0 {
		busy, courtesy, fx = m.conflictLocked(fs, s.Client, false, nil, fx)
	}
	l, courtesy := m.conflict(fs, s.LockOwner, start, end, write, courtesy)
	if len(courtesy) > 0 {
		return nil, nil, 0, courtesy, fx
	}
	if busy {
		// Another client's delegation is being recalled.
		return nil, nil, nfs4.ErrDelay, nil, fx
	}
	if l != nil {
		return nil, l.denied(), nfs4.ErrDenied, nil, fx
	}
	if fs.pendingConflict(s, start, end, write) {
		return nil, nil, nfs4.ErrDelay, nil, fx
	}
	var owned int
	for _, l := range fs.locks {
		if l.state.Client == s.Client {
			owned++
		}
	}
	if owned >= m.cfg.MaxLocksPerFile {
		return nil, nil, nfs4.ErrResource, nil, fx
	}
	return fs.reserveLocked(&LockCall{State: s, Start: start, End: end, Write: write}), nil, nfs4.OK, nil, fx
}

// reserveLocked records a call as pending and references the state's
// backend file for it (caller holds fs.mu).
func (fs *FileState) reserveLocked(c *LockCall) *LockCall {
	if sf := c.State.file; sf != nil && sf.f != nil {
		sf.refs.Add(1)
		c.file = sf
	}
	fs.pending = append(fs.pending, c)
	return c
}

// ReserveUnlock is the first step of LOCKU: it reserves the release of
// [start, end] of a lock state's locks and returns the backend unlock to
// make before Commit. The backend lets go first and the state model after,
// so a lock granted meanwhile never meets the old one in the backend.
func (m *Manager) ReserveUnlock(s *State, start, end uint64) (*LockCall, nfs4.Status) {
	fs := s.File
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if s.closed {
		return nil, nfs4.ErrBadStateid
	}
	if fs.pendingConflict(s, start, end, false) {
		return nil, nfs4.ErrDelay
	}
	return fs.reserveLocked(&LockCall{State: s, Start: start, End: end, Unlock: true}), nfs4.OK
}

// Commit ends a reservation with the outcome of its backend call (nil when
// there was none to make): a lock is granted (merged with the owner's own
// locks, upgrades and downgrades included) or refused, an unlock carves
// its range out whatever the backend said. A state closed while the call
// ran answers NFS4ERR_BAD_STATEID; its backend lock, if any, goes with its
// backend file, which is closed when the call lets go of it here.
func (m *Manager) Commit(c *LockCall, err error) (nfs4.Stateid, *Denied, nfs4.Status) {
	s := c.State
	fs := s.File
	fs.mu.Lock()
	if c.done {
		fs.mu.Unlock()
		panic("nfs4state: lock reservation committed twice")
	}
	c.done = true
	for i, p := range fs.pending {
		if p == c {
			fs.pending = append(fs.pending[:i], fs.pending[i+1:]...)
			break
		}
	}
	sid, denied, st := m.commitLocked(c, err)
	fs.mu.Unlock()
	if c.file != nil {
		c.file.Close()
	}
	return sid, denied, st
}

func (m *Manager) commitLocked(c *LockCall, err error) (nfs4.Stateid, *Denied, nfs4.Status) {
	s, fs := c.State, c.State.File
	if s.closed {
		return nfs4.Stateid{}, nil, nfs4.ErrBadStateid
	}
	if c.Unlock {
		// A failed backend unlock leaves nothing the client can act on:
		// the lock goes from the state model all the same, and with
		// the lock file at the latest from the backend.
		fs.locks = carve(fs.locks, s, c.Start, c.End)
		s.seqid++
		return nfs4.Stateid{Seqid: s.seqid, Other: s.Other}, nil, nfs4.OK
	}
	if err != nil {
		if err == ErrWouldBlock {
			length := uint64(math.MaxUint64)
			if c.End != math.MaxUint64 {
				length = c.End - c.Start + 1
			}
			return nfs4.Stateid{}, &Denied{Offset: c.Start, Length: length, Write: true}, nfs4.ErrDenied
		}
		return nfs4.Stateid{}, nil, nfs4.ErrServerfault
	}
	fs.locks = carve(fs.locks, s, c.Start, c.End)
	fs.locks = merge(append(fs.locks, &lockRange{state: s, start: c.Start, end: c.End, write: c.Write}), s)
	s.seqid++
	return nfs4.Stateid{Seqid: s.seqid, Other: s.Other}, nil, nfs4.OK
}

// Lock grants a byte-range lock to a lock state or reports the
// conflicting lock: ReserveLock, backend (if not nil) with no state lock
// held, Commit. backend's ErrWouldBlock refuses the lock as held
// elsewhere; any other failure answers NFS4ERR_SERVERFAULT. The effects
// are ReserveLock's.
func (m *Manager) Lock(s *State, start, end uint64, write bool, backend func() error) (nfs4.Stateid, *Denied, nfs4.Status, Effects) {
	c, denied, st, fx := m.ReserveLock(s, start, end, write)
	if st != nfs4.OK {
		return nfs4.Stateid{}, denied, st, fx
	}
	var err error
	if backend != nil {
		err = backend()
	}
	sid, denied, st := m.Commit(c, err)
	return sid, denied, st, fx
}

// carve removes [start, end] from the locks of s, splitting ranges that
// straddle it, as POSIX locks do.
func carve(locks []*lockRange, s *State, start, end uint64) []*lockRange {
	out := locks[:0:0]
	for _, l := range locks {
		if l.state != s || !l.overlaps(start, end) {
			out = append(out, l)
			continue
		}
		if l.start < start {
			out = append(out, &lockRange{state: s, start: l.start, end: start - 1, write: l.write})
		}
		if l.end > end {
			out = append(out, &lockRange{state: s, start: end + 1, end: l.end, write: l.write})
		}
	}
	return out
}

// merge coalesces the locks of s that overlap or touch and have the same
// type, as POSIX does, so that LOCKT reports a merged range.
func merge(locks []*lockRange, s *State) []*lockRange {
	for {
		merged := false
		for i, a := range locks {
			if a.state != s {
				continue
			}
			for j := i + 1; j < len(locks); j++ {
				b := locks[j]
				if b.state != s || b.write != a.write {
					continue
				}
				touch := (a.end == math.MaxUint64 || a.end+1 >= b.start) && (b.end == math.MaxUint64 || b.end+1 >= a.start)
				if !touch {
					continue
				}
				a.start = min(a.start, b.start)
				a.end = max(a.end, b.end)
				locks = append(locks[:j], locks[j+1:]...)
				merged = true
				break
			}
			if merged {
				break
			}
		}
		if !merged {
			return locks
		}
	}
}

// Unlock releases [start, end] of a lock state's locks (LOCKU):
// ReserveUnlock, backend (if not nil) with no state lock held, Commit.
func (m *Manager) Unlock(s *State, start, end uint64, backend func() error) (nfs4.Stateid, nfs4.Status) {
	c, st := m.ReserveUnlock(s, start, end)
	if st != nfs4.OK {
		return nfs4.Stateid{}, st
	}
	var err error
	if backend != nil {
		err = backend()
	}
	sid, _, st := m.Commit(c, err)
	return sid, st
}

// Test checks whether a lock could be granted to owner (LOCKT) without
// taking it.
// A courtesy client's lock in the way is expired, as LOCK would (the
// effects are those of its expiry).
func (m *Manager) Test(fileKey string, owner *LockOwner, start, end uint64, write bool) (*Denied, Effects) {
	var fx Effects
	for {
		fs, ok := m.files.get(fileKey)
		if !ok {
			return nil, fx
		}
		fs.mu.Lock()
		l, courtesy := m.conflict(fs, owner, start, end, write, nil)
		var d *Denied
		if l != nil {
			d = l.denied()
		}
		fs.mu.Unlock()
		if d != nil || len(courtesy) == 0 {
			return d, fx
		}
		fx = m.expireCourtesy(courtesy, fx)
	}
}

// HoldsLocks reports whether a lock state holds any lock.
func (s *State) HoldsLocks() bool {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	return s.holdsLocksLocked()
}

func (s *State) holdsLocksLocked() bool {
	for _, l := range s.File.locks {
		if l.state == s {
			return true
		}
	}
	return false
}

// ReleaseLockOwner implements RELEASE_LOCKOWNER: an owner still holding
// locks gets NFS4ERR_LOCKS_HELD; otherwise its lock states are freed.
func (m *Manager) ReleaseLockOwner(c *Client, key string) nfs4.Status {
	o := c.FindLockOwner(key)
	if o == nil {
		return nfs4.OK
	}
	var mine []*State
	c.mu.Lock()
	for _, s := range c.states {
		if s.LockOwner == o {
			mine = append(mine, s)
		}
	}
	c.mu.Unlock()
	for _, s := range mine {
		if s.HoldsLocks() {
			return nfs4.ErrLocksHeld
		}
	}
	var files []Closer
	for _, s := range mine {
		files = append(files, m.release(s)...)
	}
	c.mu.Lock()
	delete(c.lockOwners, key)
	c.mu.Unlock()
	m.closeFiles(files)
	return nfs4.OK
}

// SetLockFile attaches a backend file to a lock state: each lock owner gets
// its own open file so that backend locks (OFD locks, CephFS locks) of
// different owners conflict with each other. Returns false if one is set.
func (s *State) SetLockFile(f fsal.File) bool {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	if s.file != nil || s.closed {
		return false
	}
	s.file = newShared(f)
	return true
}

// OwnerLockFile returns the backend file of lock owner o's lock state on
// the file, if it has one, and a function to call when done with it (the
// file stays open until then). Backend lock tests through it do not see
// the owner's own locks as conflicts.
func (m *Manager) OwnerLockFile(fileKey string, o *LockOwner) (fsal.File, func()) {
	if o == nil {
		return nil, nil
	}
	fs, ok := m.files.get(fileKey)
	if !ok {
		return nil, nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, s := range fs.lockStates {
		if s.LockOwner == o && s.file != nil && s.file.f != nil {
			sf := s.file
			sf.refs.Add(1)
			return sf.f, func() { sf.Close() }
		}
	}
	return nil, nil
}

// LockFile returns the lock state's backend file, or nil.
func (s *State) LockFile() fsal.File {
	s.File.mu.Lock()
	defer s.File.mu.Unlock()
	if s.file == nil {
		return nil
	}
	return s.file.f
}

// ErrWouldBlock reports that the backend refused a lock because another
// holder (another gateway, a local process) has a conflicting one.
var ErrWouldBlock = errorString("lock held in the backend")

type errorString string

func (e errorString) Error() string { return string(e) }

// InitSeqid starts a new lock owner's seqid sequence at seqid (the
// lock_seqid of the LOCK that created it).
func (o *Sequencer) InitSeqid(seqid uint32) {
	o.Mu.Lock()
	if !o.seqSet {
		o.seqid, o.seqSet = seqid, true
	}
	o.Mu.Unlock()
}
