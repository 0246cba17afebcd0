package nfs4state

import (
	"crypto/rand"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/gateway/nfs4"
)

// Client is a client record (nfs_client_id4 / client_owner4 with the id the
// server gave it).
type Client struct {
	m         *Manager
	ID        uint64
	Owner     string
	Verifier  [8]byte
	Principal string
	Minor     uint32
	// Confirm is the SETCLIENTID confirm verifier (4.0).
	Confirm [8]byte
	// Addr is the network address the client first came from.
	Addr string
	// Callback is the 4.0 callback address from SETCLIENTID.
	Callback CallbackInfo

	lastRenew atomic.Int64
	inflight  atomic.Int32
	confirmed atomic.Bool
	destroyed atomic.Bool
	// reclaimDone mirrors reclaimComplete for lock-free reads.
	reclaimDone atomic.Bool
	recorded    atomic.Bool
	dc          delegClient // delegation bookkeeping (deleg.go)

	mu              sync.Mutex
	sessions        map[SessionID]*Session
	openOwners      map[string]*OpenOwner
	lockOwners      map[string]*LockOwner
	states          map[[nfs4.OtherSize]byte]*State
	csSeq           uint32
	csReply         []byte
	reclaimComplete bool
}

// CallbackInfo is cb_client4 plus the callback ident of SETCLIENTID.
type CallbackInfo struct {
	Program uint32
	NetID   string
	Addr    string
	Ident   uint32
}

// ownerEntry is what one client owner string maps to: at most one
// confirmed and one unconfirmed record (RFC 7530 section 16.33.5).
type ownerEntry struct {
	confirmed   *Client
	unconfirmed *Client
}

func (m *Manager) newClient(owner string, verf [8]byte, principal string, minor uint32, addr string) *Client {
	c := &Client{m: m, ID: m.newClientID(), Owner: owner, Verifier: verf, Principal: principal, Minor: minor, Addr: addr,
		sessions: map[SessionID]*Session{}, openOwners: map[string]*OpenOwner{}, states: map[[nfs4.OtherSize]byte]*State{}}
	rand.Read(c.Confirm[:])
	c.lastRenew.Store(m.now())
	return c
}

// Confirmed reports whether the record is confirmed.
func (c *Client) Confirmed() bool { return c.confirmed.Load() }

// Renew extends the client's lease.
func (c *Client) Renew() { c.lastRenew.Store(c.m.now()) }

// Expired reports whether the client's record was destroyed (expired,
// replaced or destroyed by the client).
func (c *Client) Expired() bool { return c.destroyed.Load() }

// Begin marks a request using the client as in progress; a client with a
// request in progress is never reaped. End must follow.
func (c *Client) Begin() { c.inflight.Add(1); c.Renew() }

// End ends what Begin started.
func (c *Client) End() { c.inflight.Add(-1); c.Renew() }

func (c *Client) busy() bool { return c.inflight.Load() > 0 }

func (c *Client) hasState() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.states) > 0 || len(c.sessions) > 0
}

// StateCount returns how many stateids the client holds.
func (c *Client) StateCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.states)
}

// SessionCount returns how many sessions the client has.
func (c *Client) SessionCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions)
}

// SetClientID implements SETCLIENTID (RFC 7530 section 16.33.5). It returns
// the unconfirmed record to confirm, or NFS4ERR_CLID_INUSE together with the
// record that holds the owner.
func (m *Manager) SetClientID(owner string, verf [8]byte, principal string, cb CallbackInfo, addr string) (*Client, nfs4.Status) {
	var res *Client
	status := nfs4.OK
	var drop *Client
	m.owners.update(owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok {
			e = &ownerEntry{}
		}
		conf := e.confirmed
		if conf != nil && conf.Principal != principal && conf.hasState() && !m.isCourtesy(conf) {
			res, status = conf, nfs4.ErrClidInuse
			return e, true
		}
		u := m.newClient(owner, verf, principal, 0, addr)
		u.Callback = cb
		if conf != nil && conf.Verifier == verf && conf.Principal == principal {
			// A callback update: same client id, new confirm verifier.
			u.ID = conf.ID
		}
		drop = e.unconfirmed
		e.unconfirmed = u
		res = u
		return e, true
	})
	if status != nfs4.OK {
		return res, status
	}
	if drop != nil {
		m.unconfirmed().delIf(drop.ID, func(c *Client) bool { return c == drop })
	}
	m.unconfirmed().put(res.ID, res)
	return res, nfs4.OK
}

// unconfirmed holds unconfirmed records by id. It is separate from the
// confirmed map because a callback update reuses the confirmed id.
func (m *Manager) unconfirmed() *shardMap[uint64, *Client] {
	m.uncOnce.Do(func() { m.unc = newShardMap[uint64, *Client]() })
	return m.unc
}

// SetClientIDConfirm implements SETCLIENTID_CONFIRM. The effects are
// those of the confirmed record it replaces, if any (Forget, Gone).
func (m *Manager) SetClientIDConfirm(id uint64, confirm [8]byte, principal string) (nfs4.Status, Effects) {
	if m.StaleClientID(id) {
		return nfs4.ErrStaleClientid, nil
	}
	u, ok := m.unconfirmed().get(id)
	if !ok || u.Confirm != confirm {
		if c, ok := m.clients.get(id); ok && c.Confirm == confirm {
			return nfs4.OK, nil // a retransmission of a confirm that succeeded
		}
		if ok && u.Principal != principal {
			return nfs4.ErrClidInuse, nil
		}
		return nfs4.ErrStaleClientid, nil
	}
	if u.Principal != principal {
		return nfs4.ErrClidInuse, nil
	}
	var destroy *Client
	m.owners.update(u.Owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok || e.unconfirmed != u {
			return e, ok
		}
		e.unconfirmed = nil
		if conf := e.confirmed; conf != nil {
			if conf.ID == u.ID {
				// Callback update: keep the confirmed record and its state.
				conf.mu.Lock()
				conf.Callback = u.Callback
				conf.Confirm = u.Confirm
				conf.mu.Unlock()
				return e, true
			}
			destroy = conf
		}
		u.confirmed.Store(true)
		e.confirmed = u
		m.clients.put(u.ID, u)
		return e, true
	})
	m.unconfirmed().delIf(id, func(c *Client) bool { return c == u })
	if destroy != nil {
		return nfs4.OK, m.destroyClient(destroy)
	}
	return nfs4.OK, nil
}

// Client returns the confirmed client with id, or a status: STALE_CLIENTID
// for ids of another instance or unknown ids, EXPIRED for destroyed ones.
func (m *Manager) Client(id uint64) (*Client, nfs4.Status) {
	if m.StaleClientID(id) {
		return nil, nfs4.ErrStaleClientid
	}
	c, ok := m.clients.get(id)
	if !ok {
		if m.buried(uint32(id)) {
			return nil, nfs4.ErrExpired
		}
		return nil, nfs4.ErrStaleClientid
	}
	if c.destroyed.Load() {
		return nil, nfs4.ErrExpired
	}
	return c, nfs4.OK
}

// ExchangeIDResult is what EXCHANGE_ID returns.
type ExchangeIDResult struct {
	Client    *Client
	Sequence  uint32
	Confirmed bool
}

// ExchangeID implements the client record rules of EXCHANGE_ID (RFC 8881
// section 18.35.5). The effects are those of the confirmed record it
// replaces, if any.
func (m *Manager) ExchangeID(owner string, verf [8]byte, principal string, update bool, addr string) (ExchangeIDResult, nfs4.Status, Effects) {
	var res ExchangeIDResult
	status := nfs4.OK
	var drop, destroyConf *Client
	m.owners.update(owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok {
			e = &ownerEntry{}
		}
		conf := e.confirmed
		if update {
			switch {
			case conf == nil:
				status = nfs4.ErrNoent
			case conf.Verifier != verf:
				status = nfs4.ErrNotSame
			case conf.Principal != principal:
				status = nfs4.ErrPerm
			default:
				res = ExchangeIDResult{Client: conf, Sequence: conf.nextCSSeq(), Confirmed: true}
			}
			return e, ok
		}
		if conf != nil && conf.Verifier == verf && conf.Principal == principal {
			res = ExchangeIDResult{Client: conf, Sequence: conf.nextCSSeq(), Confirmed: true}
			return e, true
		}
		if conf != nil && conf.Principal != principal {
			// A courtesy client's state gives way to the owner's
			// new incarnation as it would to any conflict.
			if conf.hasState() && !m.isCourtesy(conf) {
				status = nfs4.ErrClidInuse
				return e, true
			}
			// A different principal and no state: the old record is
			// simply replaced (case 3 of RFC 8881 section 18.35.5).
			destroyConf = conf
		}
		u := m.newClient(owner, verf, principal, 1, addr)
		drop = e.unconfirmed
		e.unconfirmed = u
		res = ExchangeIDResult{Client: u, Sequence: 1}
		return e, true
	})
	if status != nfs4.OK {
		return res, status, nil
	}
	if drop != nil {
		m.unconfirmed().delIf(drop.ID, func(c *Client) bool { return c == drop })
	}
	if !res.Confirmed {
		m.unconfirmed().put(res.Client.ID, res.Client)
	}
	var fx Effects
	if destroyConf != nil {
		fx = m.destroyClient(destroyConf)
	}
	return res, nfs4.OK, fx
}

func (c *Client) nextCSSeq() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.csSeq + 1
}

// lookupAny finds a confirmed or unconfirmed record by id.
func (m *Manager) lookupAny(id uint64) *Client {
	if c, ok := m.clients.get(id); ok {
		return c
	}
	if c, ok := m.unconfirmed().get(id); ok {
		return c
	}
	return nil
}

// confirm promotes an unconfirmed 4.1 record (on its first CREATE_SESSION),
// destroying the confirmed record it replaces.
func (m *Manager) confirm(u *Client) Effects {
	if u.confirmed.Load() {
		return nil
	}
	var destroy *Client
	m.owners.update(u.Owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok {
			e = &ownerEntry{}
		}
		if e.unconfirmed == u {
			e.unconfirmed = nil
		}
		if e.confirmed != nil && e.confirmed != u {
			destroy = e.confirmed
		}
		e.confirmed = u
		u.confirmed.Store(true)
		m.clients.put(u.ID, u)
		return e, true
	})
	m.unconfirmed().delIf(u.ID, func(c *Client) bool { return c == u })
	if destroy != nil {
		return m.destroyClient(destroy)
	}
	return nil
}

// DestroyClientID implements DESTROY_CLIENTID: a client with sessions or
// state gets NFS4ERR_CLIENTID_BUSY.
func (m *Manager) DestroyClientID(id uint64) (nfs4.Status, Effects) {
	c := m.lookupAny(id)
	if c == nil {
		return nfs4.ErrStaleClientid, nil
	}
	if c.hasState() {
		return nfs4.ErrClientidBusy, nil
	}
	return nfs4.OK, m.destroyClient(c)
}

// destroyClient removes a client and everything it holds. Its backend
// files are closed here (after the locks are let go); the rest is
// returned: Forget if it was recorded, then Gone.
func (m *Manager) destroyClient(c *Client) Effects {
	if c.destroyed.Swap(true) {
		return nil
	}
	if c.confirmed.Load() {
		m.bury(c)
	}
	m.owners.update(c.Owner, func(e *ownerEntry, ok bool) (*ownerEntry, bool) {
		if !ok {
			return e, false
		}
		if e.confirmed == c {
			e.confirmed = nil
		}
		if e.unconfirmed == c {
			e.unconfirmed = nil
		}
		return e, e.confirmed != nil || e.unconfirmed != nil
	})
	m.clients.delIf(c.ID, func(x *Client) bool { return x == c })
	m.unconfirmed().delIf(c.ID, func(x *Client) bool { return x == c })
	var fx Effects
	if c.recorded.Load() {
		fx = append(fx, Effect{Kind: Forget, Client: c})
	}
	c.mu.Lock()
	for _, o := range c.openOwners {
		if o.lastClosed != nil {
			m.states.delIf(o.lastClosed.Other, func(x *State) bool { return x == o.lastClosed })
		}
	}
	sessions := c.sessions
	states := make([]*State, 0, len(c.states))
	for _, s := range c.states {
		states = append(states, s)
	}
	c.sessions = map[SessionID]*Session{}
	c.mu.Unlock()
	for id := range sessions {
		m.sessions.del(id)
	}
	var files []Closer
	for _, s := range states {
		files = append(files, m.release(s)...)
	}
	m.closeFiles(files)
	return append(fx, Effect{Kind: Gone, Client: c})
}

func (m *Manager) closeFiles(files []Closer) {
	if len(files) == 0 {
		return
	}
	if m.cfg.OnClose != nil {
		m.cfg.OnClose(files)
		return
	}
	for _, f := range files {
		f.Close()
	}
}

// ReclaimComplete records RECLAIM_COMPLETE; a second one is an error
// (RFC 8881 section 18.51.3).
func (c *Client) ReclaimComplete() nfs4.Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reclaimComplete {
		return nfs4.ErrCompleteAlready
	}
	c.reclaimDone.Store(true)
	c.reclaimComplete = true
	return nfs4.OK
}

// LastRenew returns when the client last renewed its lease.
func (c *Client) LastRenew() time.Time { return time.Unix(0, c.lastRenew.Load()) }

// Evict destroys a client and all its state, as an administrator asks.
// It reports whether the client existed.
func (m *Manager) Evict(id uint64) (bool, Effects) {
	c := m.lookupAny(id)
	if c == nil {
		return false, nil
	}
	return true, m.destroyClient(c)
}

// ReclaimCompleted reports whether the client sent RECLAIM_COMPLETE.
func (c *Client) ReclaimCompleted() bool { return c.reclaimDone.Load() }

// Recorded reports whether the client is in the recovery store.
func (c *Client) Recorded() bool { return c.recorded.Load() }

// SetRecorded notes that the client is in the recovery store.
func (c *Client) SetRecorded() { c.recorded.Store(true) }
