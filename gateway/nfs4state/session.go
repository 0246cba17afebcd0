package nfs4state

import (
	"crypto/rand"
	"sync"

	"nfsgw/gateway/nfs4"
)

// SessionID is sessionid4.
type SessionID [nfs4.SessionIDSize]byte

// ChannelAttrs is channel_attrs4 as negotiated.
type ChannelAttrs struct {
	HeaderPad, MaxRequestSize, MaxResponseSize, MaxResponseSizeCached, MaxOperations, MaxRequests uint32
}

// Session is an NFSv4.1 session.
type Session struct {
	ID        SessionID
	Client    *Client
	Fore      ChannelAttrs
	Back      ChannelAttrs
	Flags     uint32
	CBProgram uint32

	slots []slot

	mu sync.Mutex
	// backConn is the connection callbacks go over (an *oncrpc.Conn, kept
	// opaque so that this package stays free of I/O).
	backConn any
	conns    map[uint64]bool
	cb       backChannel // callback parameters and slot (deleg.go)
}

type slot struct {
	mu       sync.Mutex
	seqid    uint32
	inUse    bool
	hasReply bool
	reply    []byte
}

// CreateSession implements CREATE_SESSION's record keeping (RFC 8881
// section 18.36). A replay of the previous request returns that reply's
// bytes in replay.
func (m *Manager) CreateSession(clientID uint64, seq uint32, principal string, fore, back ChannelAttrs, flags, cbProg uint32) (s *Session, replay []byte, status nfs4.Status, fx Effects) {
	if m.StaleClientID(clientID) {
		return nil, nil, nfs4.ErrStaleClientid, nil
	}
	c := m.lookupAny(clientID)
	if c == nil || c.destroyed.Load() {
		return nil, nil, nfs4.ErrStaleClientid, nil
	}
	if !c.Confirmed() && c.Principal != principal {
		// Only the principal that created an unconfirmed record may
		// confirm it; a confirmed one may be used by another principal
		// (RFC 8881 section 18.36.4).
		return nil, nil, nfs4.ErrClidInuse, nil
	}
	c.mu.Lock()
	switch {
	case seq == c.csSeq && c.csReply != nil:
		r := c.csReply
		c.mu.Unlock()
		return nil, r, nfs4.OK, nil
	case seq != c.csSeq+1:
		c.mu.Unlock()
		return nil, nil, nfs4.ErrSeqMisordered, nil
	}
	if len(c.sessions) >= m.cfg.MaxSessionsPerClient {
		c.mu.Unlock()
		return nil, nil, nfs4.ErrResource, nil
	}
	s = &Session{Client: c, Fore: fore, Back: back, Flags: flags, CBProgram: cbProg, conns: map[uint64]bool{}}
	rand.Read(s.ID[:])
	s.slots = make([]slot, fore.MaxRequests)
	c.sessions[s.ID] = s
	c.csSeq = seq
	c.csReply = nil
	c.mu.Unlock()
	m.sessions.put(s.ID, s)
	fx = m.confirm(c)
	c.Renew()
	return s, nil, nfs4.OK, fx
}

// SetCreateSessionReply caches the encoded reply of the CREATE_SESSION with
// sequence seq, for replays.
func (c *Client) SetCreateSessionReply(seq uint32, reply []byte) {
	c.mu.Lock()
	if c.csSeq == seq {
		c.csReply = reply
	}
	c.mu.Unlock()
}

// Session looks a session up.
func (m *Manager) Session(id SessionID) (*Session, nfs4.Status) {
	s, ok := m.sessions.get(id)
	if !ok || s.Client.destroyed.Load() {
		return nil, nfs4.ErrBadsession
	}
	return s, nfs4.OK
}

// DestroySession implements DESTROY_SESSION.
func (m *Manager) DestroySession(id SessionID) nfs4.Status {
	s, status := m.Session(id)
	if status != nfs4.OK {
		return status
	}
	m.sessions.del(id)
	c := s.Client
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
	return nfs4.OK
}

// SequenceResult is the outcome of the slot checks of SEQUENCE.
type SequenceResult struct {
	// Replay holds the cached reply of a retransmitted request.
	Replay []byte
	// HighestSlot is the highest slot id the server allows now.
	HighestSlot uint32
}

// Sequence checks and claims a slot (RFC 8881 section 18.46.3). On success
// with no Replay the caller runs the COMPOUND and must call Finish.
func (s *Session) Sequence(slotID, seqid uint32) (SequenceResult, nfs4.Status) {
	res := SequenceResult{HighestSlot: uint32(len(s.slots) - 1)}
	if slotID >= uint32(len(s.slots)) {
		return res, nfs4.ErrBadslot
	}
	sl := &s.slots[slotID]
	sl.mu.Lock()
	defer sl.mu.Unlock()
	switch seqid {
	case sl.seqid + 1:
		if sl.inUse {
			// The client reused a slot before the reply to its previous
			// request; it cannot have seen that reply, so this is
			// misordered rather than new.
			return res, nfs4.ErrSeqMisordered
		}
		sl.seqid = seqid
		sl.inUse = true
		sl.hasReply = false
		sl.reply = sl.reply[:0]
		s.Client.Renew()
		return res, nfs4.OK
	case sl.seqid:
		if sl.inUse {
			// The original is still running: tell the client to retry
			// later instead of waiting here (a waiting retry would pin a
			// goroutine per retransmission).
			return res, nfs4.ErrDelay
		}
		if !sl.hasReply {
			return res, nfs4.ErrRetryUncachedRep
		}
		res.Replay = sl.reply
		return res, nfs4.OK
	}
	return res, nfs4.ErrSeqMisordered
}

// Finish releases a slot claimed by Sequence and caches reply (copied) if
// cache is set.
func (s *Session) Finish(slotID uint32, reply []byte, cache bool) {
	sl := &s.slots[slotID]
	sl.mu.Lock()
	sl.inUse = false
	if cache {
		sl.reply = append(sl.reply[:0], reply...)
		sl.hasReply = true
	} else {
		sl.reply = nil
	}
	sl.mu.Unlock()
}

// Abort releases a slot claimed by Sequence as if that SEQUENCE had failed:
// the slot's sequence id goes back, so the client may reuse it.
func (s *Session) Abort(slotID uint32) {
	sl := &s.slots[slotID]
	sl.mu.Lock()
	sl.inUse = false
	sl.seqid--
	sl.hasReply = false
	sl.reply = nil
	sl.mu.Unlock()
}

// SlotCount returns the number of slots of the fore channel.
func (s *Session) SlotCount() int { return len(s.slots) }

// BindConn records that connection id is bound to the session; back says
// whether it carries the back channel, and conn is the connection itself.
func (s *Session) BindConn(id uint64, back bool, conn any) {
	s.mu.Lock()
	s.conns[id] = true
	if back {
		s.backConn = conn
	}
	s.mu.Unlock()
}

// BackConn returns the back-channel connection, or nil.
func (s *Session) BackConn() any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.backConn
}

// DropConn forgets a closed connection.
func (s *Session) DropConn(id uint64, conn any) {
	s.mu.Lock()
	delete(s.conns, id)
	if s.backConn == conn {
		s.backConn = nil
	}
	s.mu.Unlock()
}
