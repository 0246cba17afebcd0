package admin

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// Client is a connection to a gateway's admin API. It is safe for
// concurrent use.
type Client struct {
	conn *grpc.ClientConn
}

// Dial connects to the admin API at addr (unix:PATH or host:port, see
// ParseAddr) in plaintext and waits until the
// connection is up, so that an unreachable gateway is reported here, with
// the underlying network error, rather than by the first call. It fails as
// soon as the first connection attempt fails instead of retrying until ctx
// expires: the admin API is a loopback service used interactively, where
// "connection refused" now is more useful than a timeout later.
//
// Plaintext is for the unix socket, whose file mode is the access
// control, and for loopback TCP.
func Dial(ctx context.Context, addr string) (*Client, error) {
	return DialTLS(ctx, addr, nil)
}

// DialTLS is Dial over TLS when tlsConf is not nil (a TCP admin API with
// mutual TLS, see ClientTLS).
func DialTLS(ctx context.Context, addr string, tlsConf *tls.Config) (*Client, error) {
	a, err := ParseAddr(addr)
	if err != nil {
		return nil, err
	}
	rec := &dialRecorder{network: a.Network}
	creds := insecure.NewCredentials()
	if tlsConf != nil {
		creds = credentials.NewTLS(tlsConf)
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(rec.dial),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(jsonCodec{})),
	}
	if a.Network == "unix" {
		// A path is no HTTP/2 authority.
		opts = append(opts, grpc.WithAuthority("localhost"))
	}
	conn, err := grpc.NewClient(
		// passthrough hands the address to the dialer as is, so host
		// names are resolved by the system resolver at dial time, like
		// any other local tool, instead of by gRPC's asynchronous DNS
		// resolver.
		"passthrough:///"+a.Address, opts...)
	if err != nil {
		return nil, err
	}
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return &Client{conn: conn}, nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			conn.Close()
			if _, err := rec.last(); err != nil {
				return nil, err
			}
			if tlsConf != nil {
				// With TLS the handshake is the likelier culprit:
				// a certificate the other side does not trust.
				return nil, fmt.Errorf("connected to %s, but the TLS handshake or gRPC setup failed (check the certificates and CA)", addr)
			}
			// The connection was made but the gRPC handshake failed:
			// something other than the admin API is listening there.
			return nil, fmt.Errorf("connected to %s, but it did not answer as a gRPC server", addr)
		}
		if !conn.WaitForStateChange(ctx, s) {
			conn.Close()
			connected, err := rec.last()
			switch {
			case err != nil:
				return nil, fmt.Errorf("%w (last attempt: %v)", ctx.Err(), err)
			case connected:
				// Typically a port serving another protocol, such as
				// the NFS port, which waits for an RPC record.
				return nil, fmt.Errorf("%w: %s accepted the connection but did not answer as a gRPC server", ctx.Err(), addr)
			}
			return nil, ctx.Err()
		}
	}
}

// dialRecorder dials connections and remembers how the last attempt
// went, which gRPC's connectivity states do not carry.
type dialRecorder struct {
	network   string // unix or tcp
	mu        sync.Mutex
	err       error // of the last attempt
	connected bool  // whether any attempt reached the peer
}

func (d *dialRecorder) dial(ctx context.Context, addr string) (net.Conn, error) {
	var nd net.Dialer
	c, err := nd.DialContext(ctx, d.network, addr)
	d.mu.Lock()
	d.err = err
	d.connected = d.connected || err == nil
	d.mu.Unlock()
	return c, err
}

func (d *dialRecorder) last() (connected bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.connected, d.err
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Status returns the gateway's status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var resp StatusResponse
	if err := c.conn.Invoke(ctx, MethodStatus, &StatusRequest{}, &resp); err != nil {
		return Status{}, clientError(err)
	}
	return resp.Status, nil
}

// ListExports returns the gateway's exports.
func (c *Client) ListExports(ctx context.Context) ([]ExportInfo, error) {
	var resp ListExportsResponse
	if err := c.conn.Invoke(ctx, MethodListExports, &ListExportsRequest{}, &resp); err != nil {
		return nil, clientError(err)
	}
	return resp.Exports, nil
}

// ListClients returns the gateway's NFSv4 clients.
func (c *Client) ListClients(ctx context.Context) ([]ClientInfo, error) {
	var resp ListClientsResponse
	if err := c.conn.Invoke(ctx, MethodListClients, &ListClientsRequest{}, &resp); err != nil {
		return nil, clientError(err)
	}
	return resp.Clients, nil
}

// EvictClient destroys the client with the given id and all its state.
// When there is no such client the error satisfies
// errors.Is(err, ErrNotFound) and carries the gRPC NotFound status.
func (c *Client) EvictClient(ctx context.Context, id uint64) error {
	if err := c.conn.Invoke(ctx, MethodEvictClient, &EvictClientRequest{ID: id}, &EvictClientResponse{}); err != nil {
		return clientError(err)
	}
	return nil
}

// clientError maps NotFound back to ErrNotFound so callers need not import
// gRPC's status package; the status stays reachable through Unwrap.
func clientError(err error) error {
	switch status.Code(err) {
	case codes.NotFound:
		return &notFoundError{err: err}
	case codes.AlreadyExists:
		return &codeError{err: err, sentinel: ErrConflict}
	case codes.InvalidArgument:
		return &codeError{err: err, sentinel: ErrInvalid}
	}
	return err
}

// codeError is a status that also matches one of the package's errors.
type codeError struct {
	err      error
	sentinel error
}

func (e *codeError) Error() string              { return status.Convert(e.err).Message() }
func (e *codeError) Unwrap() []error            { return []error{e.sentinel, e.err} }
func (e *codeError) GRPCStatus() *status.Status { return status.Convert(e.err) }

// notFoundError is a NotFound status that also matches ErrNotFound.
type notFoundError struct{ err error }

func (e *notFoundError) Error() string   { return status.Convert(e.err).Message() }
func (e *notFoundError) Unwrap() []error { return []error{ErrNotFound, e.err} }

// GRPCStatus keeps status.FromError and status.Code working on the mapped
// error without them rewriting its message.
func (e *notFoundError) GRPCStatus() *status.Status { return status.Convert(e.err) }
