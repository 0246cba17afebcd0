package oncrpc

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync/atomic"
	"time"
)

// Conn is one client connection of a Server. Handlers see it as Call.Conn
// and may keep it, for example as the back channel of an NFSv4.1 session.
type Conn struct {
	ep   endpoint
	id   uint64
	srv  *Server
	addr netip.Addr // the peer's address, as MaxConnsPerAddr counts it
	// kept exempts the connection from the idle timeout (Keep).
	kept atomic.Bool
}

// Keep marks the connection as one the peer's state depends on, an
// NFSv4.1 session's or a client's that renews its lease over it, so that
// the idle timeout never closes it: the peer may rightly stay quiet on it
// for longer, and closing it would cost the peer more than its descriptor
// costs the server. It is cheap to call on every request.
func (c *Conn) Keep() {
	if !c.kept.Load() {
		c.kept.Store(true)
	}
}

// idleSince returns how long the connection has been idle at now, or 0
// if it is kept or has a call in flight.
func (c *Conn) idleSince(now time.Time) time.Duration {
	if c.kept.Load() || len(c.ep.slots) > 0 {
		return 0
	}
	return now.Sub(time.Unix(0, c.ep.lastRead.Load()))
}

// ID returns the connection's number, unique within the process.
func (c *Conn) ID() uint64 { return c.id }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.ep.nc.RemoteAddr() }

// LocalAddr returns the server's address of the connection.
func (c *Conn) LocalAddr() net.Addr { return c.ep.nc.LocalAddr() }

// Done returns a channel that is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.ep.ctx.Done() }

// Close closes the connection. Calls being served see their context
// cancelled and their replies are dropped.
func (c *Conn) Close() error { return c.ep.close() }

// Call sends a call from the server to the peer over this connection (the
// NFSv4.1 back channel) and waits for its reply: REPLY messages arriving on
// a server connection are matched by xid. It returns the result bytes of an
// accepted SUCCESS reply, an *Error for any other reply, ErrConnClosed if
// the connection ends first, or ctx's error.
func (c *Conn) Call(ctx context.Context, prog, vers, proc uint32, cred Cred, args []byte) ([]byte, error) {
	return c.ep.call(ctx, prog, vers, proc, cred, args)
}

// aLongTimeAgo is a read deadline in the past, used to wake a reader
// blocked in Read.
var aLongTimeAgo = time.Unix(1, 0)

// stopReading makes the reader give up its current Read, for a graceful
// shutdown: calls already read are still answered.
func (c *Conn) stopReading() { c.ep.nc.SetReadDeadline(aLongTimeAgo) }

// serve runs the connection until it ends.
func (c *Conn) serve() {
	s := c.srv
	s.setState(c, StateNew)
	err := c.ep.readLoop()

	// A peer that half-closes after its last call, and a server that is
	// shutting down, still get the replies of calls already read. Anything
	// else (a broken stream, an oversized record) ends the connection now.
	graceful := err == io.EOF || errors.Is(err, errStopping) || s.stopping()
	switch {
	case graceful:
	case errors.Is(err, errRecordTooLarge):
		s.log.Warn("RPC record exceeds size limit; closing connection",
			"conn", c.id, "remote", c.RemoteAddr().String(), "limit", s.maxRecord)
	case errors.Is(err, errNotCall):
		s.log.Warn("not an RPC message; closing connection", "conn", c.id, "remote", c.RemoteAddr().String())
	case !errors.Is(err, ErrConnClosed) && !errors.Is(err, net.ErrClosed):
		s.log.Debug("RPC connection read failed", "conn", c.id, "error", err)
	}
	// No more replies can arrive for back-channel calls.
	c.ep.failPending()
	if graceful {
		c.ep.calls.Wait()
	}
	c.ep.close()
	c.ep.calls.Wait()
	s.forget(c)
	s.setState(c, StateClosed)
}
