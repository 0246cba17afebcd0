// Package nfs4state is the NFSv4 state model: client records, sessions,
// leases, open owners, open stateids and share reservations. It does no I/O
// of its own; backend files are opened and closed by callers, and every
// lookup goes through sharded maps so that no lock is shared by all clients.
// Results are NFS status codes (nfs4.Err*), which the COMPOUND engine passes
// straight to the client.
package nfs4state

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/gateway/nfs4"
)

// Config tunes the state model. Zero values select the defaults.
type Config struct {
	// Lease is the lease time granted to clients (default 90 s, as knfsd).
	Lease time.Duration
	// Now is the clock; tests inject their own.
	Now func() time.Time
	// MaxStatesPerClient bounds opens (and later locks) held by one client;
	// beyond it requests get NFS4ERR_RESOURCE (default 65536).
	MaxStatesPerClient int
	// MaxLocksPerFile bounds the byte-range locks one client holds on one
	// file; beyond it LOCK gets NFS4ERR_RESOURCE (default 4096).
	MaxLocksPerFile int
	// MaxSessionsPerClient bounds sessions of one client (default 16).
	MaxSessionsPerClient int
	// Boot identifies this server instance; stateids and client ids carry it
	// so that ones from an earlier instance are recognised as stale.
	Boot uint32
	// OnClose is called, outside any lock, with backend files whose last
	// state went away (on CLOSE, expiry or client destruction).
	OnClose func(files []Closer)
	// Courtesy is how long a client whose lease ran out keeps its opens,
	// locks and delegations while nobody contends them (courtesy.go).
	// Zero selects 4 leases; a negative value expires clients as soon as
	// their lease runs out.
	Courtesy time.Duration
}

// Closer is a backend file held by an open.
type Closer interface{ Close() error }

// Manager holds all NFSv4 state of one server.
type Manager struct {
	cfg      Config
	nextID   atomic.Uint64
	clients  *shardMap[uint64, *Client]
	owners   *shardMap[string, *ownerEntry]
	sessions *shardMap[SessionID, *Session]
	states   *shardMap[[nfs4.OtherSize]byte, *State]
	files    *shardMap[string, *FileState]

	tombs *shardMap[uint32, int64]

	uncOnce sync.Once
	unc     *shardMap[uint64, *Client]

	dm delegMgr // delegations (deleg.go)

	courtesyExpired atomic.Int64
}

// NewManager returns an empty state model.
func NewManager(cfg Config) *Manager {
	if cfg.Lease <= 0 {
		cfg.Lease = 90 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxStatesPerClient <= 0 {
		cfg.MaxStatesPerClient = 65536
	}
	if cfg.MaxLocksPerFile <= 0 {
		cfg.MaxLocksPerFile = 4096
	}
	if cfg.MaxSessionsPerClient <= 0 {
		cfg.MaxSessionsPerClient = 16
	}
	if cfg.Boot == 0 {
		cfg.Boot = uint32(cfg.Now().Unix())
	}
	if cfg.Courtesy == 0 {
		cfg.Courtesy = defaultCourtesyLeases * cfg.Lease
	}
	return &Manager{
		cfg:      cfg,
		clients:  newShardMap[uint64, *Client](),
		owners:   newShardMap[string, *ownerEntry](),
		sessions: newShardMap[SessionID, *Session](),
		states:   newShardMap[[nfs4.OtherSize]byte, *State](),
		files:    newShardMap[string, *FileState](),
		tombs:    newShardMap[uint32, int64](),
	}
}

// Lease returns the lease time.
func (m *Manager) Lease() time.Duration { return m.cfg.Lease }

// Boot returns the server instance id.
func (m *Manager) Boot() uint32 { return m.cfg.Boot }

func (m *Manager) now() int64 { return m.cfg.Now().UnixNano() }

// newClientID returns a client id whose high half is the boot id, so ids
// from an earlier instance are recognisably stale (NFS4ERR_STALE_CLIENTID).
func (m *Manager) newClientID() uint64 {
	return uint64(m.cfg.Boot)<<32 | (m.nextID.Add(1) & 0xffffffff)
}

// newOtherFor returns a stateid "other" that also carries the low half of
// the client id, so that a stateid of an expired client can be answered
// with NFS4ERR_EXPIRED rather than NFS4ERR_BAD_STATEID.
func (m *Manager) newOtherFor(c *Client) [nfs4.OtherSize]byte {
	var o [nfs4.OtherSize]byte
	binary.BigEndian.PutUint32(o[0:4], m.cfg.Boot)
	binary.BigEndian.PutUint32(o[4:8], uint32(c.ID))
	binary.BigEndian.PutUint32(o[8:12], uint32(m.nextID.Add(1)))
	return o
}

// bury remembers that a client's state was purged, for two leases, so that
// its client id and stateids answer NFS4ERR_EXPIRED (RFC 7530 section
// 8.6.3) instead of looking like garbage.
func (m *Manager) bury(c *Client) {
	m.tombs.put(uint32(c.ID), m.now())
}

// buried reports whether the client with this id (low half) expired lately.
func (m *Manager) buried(idLow uint32) bool {
	_, ok := m.tombs.get(idLow)
	return ok
}

// StaleClientID reports whether id was issued by another server instance.
func (m *Manager) StaleClientID(id uint64) bool { return uint32(id>>32) != m.cfg.Boot }

// Stats is a snapshot of the state model's size.
type Stats struct {
	Clients, Sessions, States, Files int
}

// Stats counts what the model holds.
func (m *Manager) Stats() Stats {
	return Stats{Clients: m.clients.len(), Sessions: m.sessions.len(), States: m.states.len(), Files: m.files.len()}
}

// Kinds counts the stateids of each kind: opens, lock stateids and
// delegations. It visits every state (shard by shard, each under its
// shard's lock only while it is copied), so it is for metrics scrapes,
// not for the request path.
func (m *Manager) Kinds() (opens, locks, delegs int) {
	m.states.rangeAll(func(s *State) {
		switch s.Kind {
		case KindOpen:
			opens++
		case KindLock:
			locks++
		case KindDeleg:
			delegs++
		}
	})
	return opens, locks, delegs
}

// Reap expires every client whose lease ran out and returns how many it
// expired, and the effects of their expiry. The server calls it
// periodically. A confirmed client that holds
// state or a session is kept as a courtesy client until Config.Courtesy
// after its lease ran out (or until someone contends its state,
// courtesy.go).
func (m *Manager) Reap() (int, Effects) {
	now := m.now()
	lease := int64(m.cfg.Lease)
	m.revokeLate(now)
	var expired []*Client
	check := func(c *Client) {
		idle := now - c.lastRenew.Load()
		if idle <= lease || c.busy() {
			return
		}
		if m.cfg.Courtesy > 0 && idle <= lease+int64(m.cfg.Courtesy) && c.Confirmed() && c.hasState() {
			return
		}
		expired = append(expired, c)
	}
	m.clients.rangeAll(check)
	// Unconfirmed records that are not confirmed within a lease go too
	// (RFC 8881 section 18.35.4).
	m.unconfirmed().rangeAll(check)
	var fx Effects
	for _, c := range expired {
		fx = append(fx, m.destroyClient(c)...)
	}
	var old []uint32
	for i := range m.tombs.shards {
		sh := &m.tombs.shards[i]
		sh.mu.RLock()
		for id, t := range sh.m {
			if now-t > 2*lease {
				old = append(old, id)
			}
		}
		sh.mu.RUnlock()
	}
	for _, id := range old {
		m.tombs.del(id)
	}
	return len(expired), fx
}

// Clients returns a snapshot of all client records, for the admin API.
func (m *Manager) Clients() []*Client {
	var out []*Client
	m.clients.rangeAll(func(c *Client) { out = append(out, c) })
	return out
}
