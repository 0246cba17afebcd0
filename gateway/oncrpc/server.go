package oncrpc

import (
	"context"
	"errors"
	"net"
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
	// Logger receives the server's log; nil discards it.
	Logger hclog.Logger
	// ConnState, if set, is called when a connection starts and when it
	// has ended, from the connection's own goroutine.
	ConnState func(c *Conn, s ConnState)

	initOnce    sync.Once
	log         hclog.Logger
	maxRecord   int
	maxInflight int
	budget      *budget

	// progs maps a program number to its registrations. It is replaced
	// whole on Register so that dispatch reads it without locking.
	progs atomic.Pointer[map[uint32][]progEntry]

	// mu guards what follows. It is taken when listeners and connections
	// come and go, never per call.
	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*Conn]struct{}
	closed    bool
	closing   chan struct{} // closed by Shutdown
	connWG    sync.WaitGroup
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
		s.listeners = make(map[net.Listener]struct{})
		s.conns = make(map[*Conn]struct{})
		s.closing = make(chan struct{})
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
		c := s.newConn(nc)
		if c == nil {
			nc.Close()
			return ErrServerClosed
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

// newConn sets up a connection, or returns nil once the server is closed.
func (s *Server) newConn(nc net.Conn) *Conn {
	c := &Conn{id: connIDs.Add(1), srv: s}
	c.ep.init(nc, s.maxRecord, s.maxInflight)
	c.ep.budget = s.budget
	c.ep.stop = s.closing
	c.ep.route = s.route
	c.ep.conn = c
	c.ep.log = s.log
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		c.ep.cancel()
		return nil
	}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	return c
}

// forget removes an ended connection.
func (s *Server) forget(c *Conn) {
	s.mu.Lock()
	delete(s.conns, c)
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
