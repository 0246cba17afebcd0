// Package pipenet is a net.Listener of in-memory connections (net.Pipe),
// for tests: a server and its clients need no network, and since every
// goroutine and channel involved is made by the test, a whole server can
// run in a testing/synctest bubble, where loopback TCP cannot (a goroutine
// blocked on a socket is not durably blocked, so synctest.Wait would not
// return).
package pipenet

import (
	"context"
	"net"
	"sync"
)

// Listener hands the server ends of pipes to Accept.
type Listener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

// Listen returns a listener with no connection yet.
func Listen() *Listener {
	return &Listener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// Accept waits for a Dial or for Close.
func (l *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close makes Accept and Dial fail from now on; connections already made
// are not touched.
func (l *Listener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr is a placeholder: pipes have no address.
func (l *Listener) Addr() net.Addr { return Addr{} }

// Dial returns the client end of a new connection, once Accept took the
// server end.
func (l *Listener) Dial(ctx context.Context) (net.Conn, error) {
	c, s := net.Pipe()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		c.Close()
		s.Close()
		return nil, net.ErrClosed
	case <-ctx.Done():
		c.Close()
		s.Close()
		return nil, ctx.Err()
	}
}

// Addr is the address of both ends of a pipe.
type Addr struct{}

// Network returns "pipe".
func (Addr) Network() string { return "pipe" }

// String returns "pipe".
func (Addr) String() string { return "pipe" }
