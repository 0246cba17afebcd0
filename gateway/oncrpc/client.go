package oncrpc

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// clientMaxRecordSize bounds the records a Client accepts. It is larger
// than the server's default because the client cannot know the server's
// maximum READ size; record buffers grow only as bytes arrive, so the bound
// is only reached by a server that actually sends that much.
const clientMaxRecordSize = 16 << 20

// Client is the calling end of one connection. It is safe for concurrent
// use: calls are pipelined, each matched to its reply by xid, so a slow
// call does not delay the others.
type Client struct {
	ep endpoint
	cb atomic.Pointer[Handler]
}

// Dial connects to addr and returns a Client on the connection.
func Dial(ctx context.Context, network, addr string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return NewClient(nc), nil
}

// NewClient returns a Client using conn, which it owns from now on.
func NewClient(conn net.Conn) *Client {
	c := &Client{}
	c.ep.init(conn, clientMaxRecordSize, DefaultMaxInflightPerConn)
	c.ep.rr.eager = true
	c.ep.route = c.route
	c.ep.log = hclog.NewNullLogger()
	c.ep.workers = newWorkers(c.ep.ctx.Done())
	go func() {
		c.ep.readLoop()
		c.ep.close()
	}()
	return c
}

// Call calls procedure proc of version vers of program prog with the
// encoded arguments args and waits for the reply or for ctx. It returns the
// result bytes of an accepted SUCCESS reply, an *Error for any other reply,
// ErrConnClosed if the connection ends first, or ctx's error.
func (c *Client) Call(ctx context.Context, prog, vers, proc uint32, cred Cred, args []byte) ([]byte, error) {
	return c.ep.call(ctx, prog, vers, proc, cred, args)
}

// SetCallbackHandler serves CALL messages the server sends on this
// connection (NFSv4.1 back channel / callbacks). Must be set before the
// server calls back; until then such calls get PROG_UNAVAIL. The handler
// sees every program and version and a nil Call.Conn, and a panic in it
// closes the client.
func (c *Client) SetCallbackHandler(h Handler) {
	if h == nil {
		c.cb.Store(nil)
		return
	}
	c.cb.Store(&h)
}

func (c *Client) route(*Call) (Handler, AcceptStat, uint32, uint32) {
	if h := c.cb.Load(); h != nil {
		return *h, Success, 0, 0
	}
	return nil, ProgUnavail, 0, 0
}

// LocalAddr returns the client's address of the connection.
func (c *Client) LocalAddr() net.Addr { return c.ep.nc.LocalAddr() }

// RemoteAddr returns the server's address.
func (c *Client) RemoteAddr() net.Addr { return c.ep.nc.RemoteAddr() }

// Done returns a channel that is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.ep.ctx.Done() }

// Close closes the connection; calls in progress fail with ErrConnClosed.
func (c *Client) Close() error { return c.ep.close() }
