package oncrpc

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Server defaults.
const (
	DefaultMaxInflightPerConn       = 128
	DefaultMaxInflightBytes   int64 = 256 << 20
)

// ConnState is a stage in a server connection's life, reported to
// Server.ConnState.
type ConnState int

const (
	// StateNew: the connection was accepted; no call has been read yet.
	StateNew ConnState = iota
	// StateClosed: the connection has closed and its last call has
	// returned, so nothing will use it any more.
	StateClosed
)

// String names the state.
func (s ConnState) String() string {
	switch s {
	case StateNew:
		return "new"
	case StateClosed:
		return "closed"
	}
	return "ConnState(" + utoa(uint32(s)) + ")"
}

// Server serves ONC RPC programs over stream listeners. Set its fields
// before the first call to Serve; they are not read again afterwards.
type Server struct {
	// MaxRecordSize bounds one incoming record; a peer that sends a bigger
	// one is disconnected. Default DefaultMaxRecordSize.
	MaxRecordSize int
	// MaxInflightPerConn bounds the calls served at once on one
	// connection; once reached, the connection is not read until one
	// completes. Default DefaultMaxInflightPerConn.
	MaxInflightPerConn int
	// MaxInflightBytes bounds the request bytes being served across the
	// whole server, counted from when a call has been read until its reply
	// is written. Default DefaultMaxInflightBytes.
	MaxInflightBytes int64
	// MaxReplyBytesPerConn bounds the reply bytes one connection may have
	// built and not yet written; once they are used up its calls wait
	// before building large replies and the connection is not read (see
	// replies.go). Default DefaultMaxReplyBytesPerConn, or four records if
	// that is more.
	MaxReplyBytesPerConn int64
	// MaxReplyBytes bounds the same across the whole server. Default
	// DefaultMaxReplyBytes.
	MaxReplyBytes int64
	// ReplyTimeout closes a connection whose peer has not taken a reply
	// off the socket for this long: it would otherwise pin its replies,
	// and its share of the server, for as long as it likes. 0: no limit.
	ReplyTimeout time.Duration
	// IdleTimeout closes a connection that has carried no call for this
	// long, has none in flight, and was never marked with Conn.Keep, so
	// that abandoned connections do not hold file descriptors for good.
	// 0: no limit.
	IdleTimeout time.Duration
	// MaxConnsPerAddr bounds the connections open at once from one source
	// address; further ones are closed as soon as they are accepted, so
	// one host cannot take every file descriptor. 0: no limit.
	MaxConnsPerAddr int
	// TrimMemory hands memory back to the OS once the server is idle after
	// a burst (see memtrim.go). It acts on the whole process, so only its
	// main server should set it.
	TrimMemory bool
	// Logger receives the server's log; nil discards it.
	Logger hclog.Logger
	// ConnState, if set, is called when a connection starts and when it
	// has ended, from the connection's own goroutine.
	ConnState func(c *Conn, s ConnState)
	// ConnRefused, if set, is called for each connection closed at once
	// because its address is at MaxConnsPerAddr (for metrics).
	ConnRefused func()

	initOnce    sync.Once
	log         hclog.Logger
	maxRecord   int
	maxInflight int
	budget      *budget
	replies     *budget // server-wide reply bytes
	perConnRepl int64
	workers     *workers // serve the calls of every connection

	// progs maps a program number to its registrations. It is replaced
	// whole on Register so that dispatch reads it without locking.
	progs atomic.Pointer[map[uint32][]progEntry]

	// mu guards what follows. It is taken when listeners and connections
	// come and go, never per call.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	perAddr   map[netip.Addr]int // open connections by source address
	// refusedLogged is the second a refused connection was last logged.
	refusedLogged int64
	sweeping      bool // the idle sweeper runs
	trimming      bool // the memory trimmer runs
	closed        bool
	closing       chan struct{} // closed by Shutdown
	connWG        sync.WaitGroup
}

type progEntry struct {
	low, high uint32
	h         Handler
}

// connIDs numbers connections across all servers of the process, so that
// an ID identifies a connection even where several servers share state.
var connIDs atomic.Uint64

func (s *Server) init() {
	s.initOnce.Do(func() {
		s.log = s.Logger
		if s.log == nil {
			s.log = hclog.NewNullLogger()
		}
		s.maxRecord = s.MaxRecordSize
		if s.maxRecord <= 0 {
			s.maxRecord = DefaultMaxRecordSize
		}
		s.maxInflight = s.MaxInflightPerConn
		if s.maxInflight <= 0 {
			s.maxInflight = DefaultMaxInflightPerConn
		}
		size := s.MaxInflightBytes
		if size <= 0 {
			size = DefaultMaxInflightBytes
		}
		s.budget = newBudget(size)
		size = s.MaxReplyBytes
		if size <= 0 {
			size = DefaultMaxReplyBytes
		}
		s.replies = newBudget(size)
		s.perConnRepl = s.MaxReplyBytesPerConn
		if s.perConnRepl <= 0 {
			// Room for a few large replies in flight whatever the record
			// size, so that one connection still overlaps backend reads
			// with writing replies.
			s.perConnRepl = max(DefaultMaxReplyBytesPerConn, 4*int64(s.maxRecord))
		}
		s.perAddr = make(map[netip.Addr]int)
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*Conn]struct{})
		s.closing = make(chan struct{})
		s.workers = newWorkers(s.closing)
	})
}

// Register serves versions low through high of program prog with h. A
// program may be registered several times with disjoint version ranges. It
// is safe to call while serving.
func (s *Server) Register(prog, low, high uint32, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[uint32][]progEntry)
	if old := s.progs.Load(); old != nil {
		for p, es := range *old {
			next[p] = es
		}
	}
	// A fresh slice, so that readers of the old map never see it change.
	next[prog] = append(append([]progEntry(nil), next[prog]...), progEntry{low: low, high: high, h: h})
	s.progs.Store(&next)
}

// route finds the handler for a call, or the status to reply with and, for
// PROG_MISMATCH, the lowest and highest version served.
func (s *Server) route(call *Call) (Handler, AcceptStat, uint32, uint32) {
	var es []progEntry
	if m := s.progs.Load(); m != nil {
		es = (*m)[call.Prog]
	}
	if len(es) == 0 {
		return nil, ProgUnavail, 0, 0
	}
	low, high := es[0].low, es[0].high
	for _, e := range es {
		if call.Vers >= e.low && call.Vers <= e.high {
			return e.h, Success, e.low, e.high
		}
		low, high = min(low, e.low), max(high, e.high)
	}
	return nil, ProgMismatch, low, high
}

// Serve accepts connections on l and serves them until Shutdown, after
// which it returns ErrServerClosed. It may be called for several listeners
// at once. l is closed when Serve returns.
func (s *Server) Serve(l net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if s.IdleTimeout > 0 && !s.sweeping {
		s.sweeping = true
		go s.sweepIdle()
	}
	if s.TrimMemory && !s.trimming {
		s.trimming = true
		go s.trimMemory()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
		l.Close()
	}()

	var delay time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			if s.stopping() {
				return ErrServerClosed
			}
			if !isTemporary(err) {
				return err
			}
			// Out of file descriptors and the like: retry with back-off
			// instead of spinning, or of giving up on every client.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "error", err, "delay", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-s.closing:
				t.Stop()
				return ErrServerClosed
			}
			continue
		}
		delay = 0
		c, err := s.newConn(nc)
		switch {
		case err == errTooMany:
			nc.Close()
			if s.ConnRefused != nil {
				s.ConnRefused()
			}
			continue
		case err != nil:
			nc.Close()
			return err
		}
		go c.serve()
	}
}

// isTemporary reports whether an Accept error may clear up by itself.
func isTemporary(err error) bool {
	for _, errno := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED, syscall.EINTR} {
		if errors.Is(err, errno) {
			return true
		}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	// Listeners that are not from package net may still say so.
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// errTooMany refuses a connection from an address that has
// MaxConnsPerAddr open already.
var errTooMany = errors.New("oncrpc: too many connections from one address")

// newConn sets up a connection. It fails with ErrServerClosed once the
// server is closed, and with errTooMany for an address at its limit.
func (s *Server) newConn(nc net.Conn) (*Conn, error) {
	c := &Conn{id: connIDs.Add(1), srv: s}
	c.ep.init(nc, s.maxRecord, s.maxInflight)
	c.ep.budget = s.budget
	c.ep.replies = newBudget(s.perConnRepl)
	c.ep.srvReplies = s.replies
	c.ep.replyTimeout = s.ReplyTimeout
	c.ep.lastRead.Store(time.Now().UnixNano())
	c.ep.stop = s.closing
	c.ep.route = s.route
	c.ep.conn = c
	c.ep.log = s.log
	c.ep.workers = s.workers
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.ep.cancel()
		return nil, ErrServerClosed
	}
	c.addr = addrOf(nc.RemoteAddr())
	if s.MaxConnsPerAddr > 0 && s.perAddr[c.addr] >= s.MaxConnsPerAddr {
		c.ep.cancel()
		// One line per second at most: a host hammering the limit must
		// not flood the log as well.
		if now := time.Now().Unix(); s.refusedLogged != now {
			s.refusedLogged = now
			s.log.Warn("too many connections from one address; refusing", "remote", nc.RemoteAddr().String(), "limit", s.MaxConnsPerAddr)
		}
		return nil, errTooMany
	}
	s.perAddr[c.addr]++
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return c, nil
}

// addrOf is the source address connections are counted by. IPv4-mapped
// IPv6 addresses count as the IPv4 address they are.
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap.Addr().Unmap()
}

// sweepIdle closes idle connections (see IdleTimeout) until the server
// shuts down. It looks at every connection a few times per timeout, which
// costs the hot path nothing but the reader's store of lastRead.
func (s *Server) sweepIdle() {
	t := time.NewTicker(max(s.IdleTimeout/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.closing:
			return
		case now := <-t.C:
			var idle []*Conn
			s.mu.Lock()
			for c := range s.conns {
				if c.idleSince(now) >= s.IdleTimeout {
					idle = append(idle, c)
				}
			}
			s.mu.Unlock()
			for _, c := range idle {
				s.log.Debug("closing idle connection", "conn", c.id, "remote", c.RemoteAddr().String())
				c.ep.close()
			}
		}
	}
}

// forget removes an ended connection.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perAddr[c.addr]--; s.perAddr[c.addr] <= 0 {
		delete(s.perAddr, c.addr)
	}
	s.mu.Unlock()
	s.connWG.Done()
}

func (s *Server) setState(c *Conn, st ConnState) {
	if s.ConnState != nil {
		s.ConnState(c, st)
	}
}

func (s *Server) stopping() bool {
	select {
	case <-s.closing:
		return true
	default:
		return false
	}
}

// Shutdown stops the server: it closes the listeners, stops reading new
// calls, lets the calls already read finish and send their replies, and
// closes every connection once its calls are done. If ctx ends first, the
// remaining connections are closed at once (their handlers see their
// contexts cancelled) and ctx's error is returned.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.closing)
	}
	for l := range s.listeners {
		l.Close()
	}
	conns := make([]*Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	// Readers blocked waiting for a slot or the budget watch s.closing;
	// those blocked in Read are woken by a deadline in the past.
	for _, c := range conns {
		c.stopReading()
	}
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	for c := range s.conns {
		c.ep.close()
	}
	s.mu.Unlock()
	return ctx.Err()
}
