package nfsclient

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
)

// Options configure Dial.
type Options struct {
	// MinorVersion selects NFSv4.0 (Minor(0)) or NFSv4.1 (Minor(1));
	// nil means 4.1.
	MinorVersion *uint32

	// AUTH_SYS credential; AuthNone sends AUTH_NONE instead.
	UID, GID    uint32
	GIDs        []uint32
	MachineName string // default: the host name
	AuthNone    bool

	// ClientOwner is the co_ownerid (4.1) or nfs_client_id4 id (4.0);
	// default: unique to this Client.
	ClientOwner string

	// OnRecall is called, in its own goroutine, for each CB_RECALL. When
	// nil the delegation is returned with DELEGRETURN.
	OnRecall func(Recall)
	// OnCallback, if set, is called with the opcode of each callback
	// operation the server sends.
	OnCallback func(op uint32)

	// ForeChannel and BackChannel replace the channel attributes asked
	// for in CREATE_SESSION (defaults: 1 MiB + 16 KiB requests and
	// responses, 128 operations and 64 slots fore; 64 KiB, 16 operations
	// and 4 slots back).
	ForeChannel, BackChannel *ChannelAttrs
	// NoReclaimComplete skips RECLAIM_COMPLETE after CREATE_SESSION.
	NoReclaimComplete bool
	// CallbackProgram is the callback program number (default 0x40000000).
	CallbackProgram uint32

	// RetryTimeout bounds how long the convenience methods retry
	// NFS4ERR_DELAY and NFS4ERR_GRACE (default 60 s; negative: never).
	// Client.Do never retries.
	RetryTimeout time.Duration
}

// Minor returns a pointer to v, for Options.MinorVersion.
func Minor(v uint32) *uint32 { return &v }

// transport is the RPC client a Client runs on: *oncrpc.Client, or a fake
// in tests.
type transport interface {
	Call(ctx context.Context, prog, vers, proc uint32, cred oncrpc.Cred, args []byte) ([]byte, error)
	SetCallbackHandler(h oncrpc.Handler)
	Close() error
}

// Client is an NFSv4 client on one connection. It is safe for concurrent
// use.
type Client struct {
	rpc       transport
	opts      Options
	minor     uint32
	cred      oncrpc.Cred
	cbProgram uint32
	verifier  [nfs4.VerifierSize]byte
	ownerID   []byte
	clientID  uint64
	sess      *session
	cb        cbServer

	eid *ExchangeIDRes

	lease    time.Duration
	maxRead  uint32
	maxWrite uint32
	maxOps   int

	compounds sync.Pool
	owners    ownerPool
	lastRenew atomic.Int64
	seqFlags  atomic.Uint32
	ownerSeq  atomic.Uint64

	mu     sync.Mutex
	files  map[*OpenFile]struct{}
	delegs map[[nfs4.OtherSize]byte]heldDeleg

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type heldDeleg struct {
	stateid nfs4.Stateid
	fh      []byte
}

// Dial connects to the NFSv4 server at addr (host:port) and sets up the
// client ID and, for 4.1, the session.
func Dial(ctx context.Context, addr string, opts Options) (*Client, error) {
	rc, err := oncrpc.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	cl, err := newClient(ctx, rc, opts)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return cl, nil
}

// DialConn is Dial over an established connection, which the Client owns
// from then on.
func DialConn(ctx context.Context, conn net.Conn, opts Options) (*Client, error) {
	rc := oncrpc.NewClient(conn)
	cl, err := newClient(ctx, rc, opts)
	if err != nil {
		rc.Close()
		return nil, err
	}
	return cl, nil
}

var clientCounter atomic.Uint64

func newClient(ctx context.Context, t transport, opts Options) (*Client, error) {
	cl := &Client{
		rpc:       t,
		opts:      opts,
		minor:     1,
		cbProgram: opts.CallbackProgram,
		lease:     90 * time.Second,
		maxRead:   1 << 20,
		maxWrite:  1 << 20,
		maxOps:    nfs4.MaxOpsPerCompound,
		files:     make(map[*OpenFile]struct{}),
		delegs:    make(map[[nfs4.OtherSize]byte]heldDeleg),
		stop:      make(chan struct{}),
	}
	cl.cb.cl = cl
	cl.owners.cl = cl
	if opts.MinorVersion != nil {
		cl.minor = *opts.MinorVersion
	}
	if cl.minor > 2 {
		return nil, fmt.Errorf("nfsclient: minor version %d not supported", cl.minor)
	}
	if cl.cbProgram == 0 {
		cl.cbProgram = defaultCBProgram
	}
	if cl.opts.RetryTimeout == 0 {
		cl.opts.RetryTimeout = 60 * time.Second
	}
	if _, err := rand.Read(cl.verifier[:]); err != nil {
		return nil, err
	}
	host := opts.MachineName
	if host == "" {
		host, _ = os.Hostname()
		if host == "" {
			host = "localhost"
		}
	}
	if opts.AuthNone {
		cl.cred = oncrpc.CredNone()
	} else {
		cl.cred = oncrpc.CredSys(oncrpc.AuthSys{Stamp: uint32(time.Now().Unix()), MachineName: host,
			UID: opts.UID, GID: opts.GID, GIDs: opts.GIDs})
	}
	owner := opts.ClientOwner
	if owner == "" {
		owner = fmt.Sprintf("nfsgw-nfsclient/%s/%d/%d/%x", host, os.Getpid(), clientCounter.Add(1), cl.verifier)
	}
	cl.ownerID = []byte(owner)
	cl.compounds.New = func() any { return &Compound{} }

	var err error
	if cl.minor == 0 {
		err = cl.setup40(ctx)
	} else {
		t.SetCallbackHandler(&cl.cb)
		err = cl.setup41(ctx)
	}
	if err != nil {
		return nil, err
	}
	cl.fetchLimits(ctx)
	cl.lastRenew.Store(time.Now().UnixNano())
	cl.wg.Add(1)
	go cl.renewLoop()
	return cl, nil
}

// fetchLimits reads lease_time, maxread and maxwrite from the root.
func (cl *Client) fetchLimits(ctx context.Context) {
	r, err := cl.simple(ctx, func(c *Compound) {
		c.PutRootFH().Getattr(MakeBitmap(nfs4.AttrLeaseTime, nfs4.AttrMaxread, nfs4.AttrMaxwrite))
	})
	if err == nil {
		a := &r.Ops[1].Res.(*GetattrRes).Attrs
		if a.Has(nfs4.AttrLeaseTime) && a.LeaseTime > 0 {
			cl.lease = time.Duration(a.LeaseTime) * time.Second
		}
		if a.Has(nfs4.AttrMaxread) && a.Maxread > 0 && a.Maxread < uint64(cl.maxRead) {
			cl.maxRead = uint32(a.Maxread)
		}
		if a.Has(nfs4.AttrMaxwrite) && a.Maxwrite > 0 && a.Maxwrite < uint64(cl.maxWrite) {
			cl.maxWrite = uint32(a.Maxwrite)
		}
	}
	if cl.sess != nil {
		// Leave room for the RPC and COMPOUND headers and the other ops.
		const overhead = 1024
		if f := cl.sess.fore; f.MaxResponseSize > overhead && f.MaxResponseSize-overhead < cl.maxRead {
			cl.maxRead = f.MaxResponseSize - overhead
		}
		if f := cl.sess.fore; f.MaxRequestSize > overhead && f.MaxRequestSize-overhead < cl.maxWrite {
			cl.maxWrite = f.MaxRequestSize - overhead
		}
		if f := cl.sess.fore; f.MaxOperations > 0 && int(f.MaxOperations) < cl.maxOps {
			cl.maxOps = int(f.MaxOperations)
		}
	}
}

// MinorVersion returns the NFSv4 minor version in use.
func (cl *Client) MinorVersion() uint32 { return cl.minor }

// ClientID returns the client ID the server assigned.
func (cl *Client) ClientID() uint64 { return cl.clientID }

// ExchangeIDResult returns the server's EXCHANGE_ID reply (nil for 4.0).
func (cl *Client) ExchangeIDResult() *ExchangeIDRes { return cl.eid }

// Cred returns the RPC credential the client sends.
func (cl *Client) Cred() oncrpc.Cred { return cl.cred }

// LeaseTime returns the server's lease time.
func (cl *Client) LeaseTime() time.Duration { return cl.lease }

// MaxRead returns the largest READ the client issues: the server's maxread
// bounded by the session's fore channel.
func (cl *Client) MaxRead() uint32 { return cl.maxRead }

// MaxWrite is the write counterpart of MaxRead.
func (cl *Client) MaxWrite() uint32 { return cl.maxWrite }

// NewCompound returns a Compound for this client's minor version; on a 4.1
// session it begins with the automatic SEQUENCE.
func (cl *Client) NewCompound(tag string) *Compound {
	c := &Compound{}
	c.init(cl.minor, tag, cl.sess != nil)
	return c
}

func (cl *Client) getCompound() *Compound {
	c := cl.compounds.Get().(*Compound)
	c.init(cl.minor, "", cl.sess != nil)
	return c
}

func (cl *Client) putCompound(c *Compound) {
	if cap(c.e.Buf) > 4<<20 {
		return
	}
	cl.compounds.Put(c)
}

// simple sends one compound built by build and returns the reply, with the
// first failure as a *StatusError. It does not retry.
func (cl *Client) simple(ctx context.Context, build func(c *Compound)) (*Reply, error) {
	c := cl.getCompound()
	defer cl.putCompound(c)
	build(c)
	r, err := cl.Do(ctx, c)
	if err != nil {
		return r, err
	}
	return r, r.Err()
}

// call is simple with retries of NFS4ERR_DELAY and NFS4ERR_GRACE.
func (cl *Client) call(ctx context.Context, build func(c *Compound)) (*Reply, error) {
	var r *Reply
	err := cl.retry(ctx, func() error {
		var err error
		r, err = cl.simple(ctx, build)
		return err
	})
	return r, err
}

// retry runs fn until it succeeds, fails with something other than
// NFS4ERR_DELAY or NFS4ERR_GRACE, or Options.RetryTimeout has passed.
func (cl *Client) retry(ctx context.Context, fn func() error) error {
	var deadline time.Time
	backoff := 10 * time.Millisecond
	for {
		err := fn()
		st := StatusOf(err)
		if st != nfs4.ErrDelay && st != nfs4.ErrGrace || cl.opts.RetryTimeout < 0 {
			return err
		}
		now := time.Now()
		if deadline.IsZero() {
			deadline = now.Add(cl.opts.RetryTimeout)
		}
		if !now.Before(deadline) {
			return err
		}
		if err := sleepCtx(ctx, min(backoff, deadline.Sub(now))); err != nil {
			return err
		}
		backoff = min(backoff*2, time.Second)
	}
}

// renewLoop keeps the lease alive (RFC 8881 section 8.3): for 4.1 a
// SEQUENCE-only COMPOUND when no request has renewed it for a third of
// the lease, for 4.0 a RENEW every third of the lease.
func (cl *Client) renewLoop() {
	defer cl.wg.Done()
	period := cl.lease / 3
	if period < 100*time.Millisecond {
		period = 100 * time.Millisecond
	}
	tick := time.NewTicker(period / 4)
	defer tick.Stop()
	for {
		select {
		case <-cl.stop:
			return
		case <-tick.C:
		}
		if time.Since(time.Unix(0, cl.lastRenew.Load())) < period {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), period)
		go func() {
			select {
			case <-cl.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		if cl.minor == 0 {
			if _, err := cl.simple(ctx, func(c *Compound) { c.Renew(cl.clientID) }); err == nil {
				cl.lastRenew.Store(time.Now().UnixNano())
			}
		} else {
			cl.simple(ctx, func(c *Compound) {}) // SEQUENCE alone
		}
		cancel()
	}
}

// Close releases the client's state on the server and closes the
// connection: open files are closed, delegations returned, and for 4.1
// the session and client ID destroyed (DESTROY_SESSION, then
// DESTROY_CLIENTID alone in its COMPOUND as RFC 8881 section 18.50.3
// requires). It returns the first error of these steps.
func (cl *Client) Close() error {
	cl.closeOnce.Do(func() {
		close(cl.stop)
		cl.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		var errs []error
		cl.mu.Lock()
		files := make([]*OpenFile, 0, len(cl.files))
		for f := range cl.files {
			files = append(files, f)
		}
		cl.mu.Unlock()
		for _, f := range files {
			if err := f.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		cl.mu.Lock()
		delegs := make([]heldDeleg, 0, len(cl.delegs))
		for _, d := range cl.delegs {
			delegs = append(delegs, d)
		}
		cl.mu.Unlock()
		for _, d := range delegs {
			if err := cl.ReturnDelegation(ctx, d.fh, d.stateid); err != nil {
				errs = append(errs, err)
			}
		}
		if cl.sess != nil {
			c := NewCompound(cl.minor, "")
			c.DestroySession(cl.sess.id)
			if r, err := cl.Do(ctx, c); err != nil {
				errs = append(errs, err)
			} else if err := r.Err(); err != nil {
				errs = append(errs, err)
			}
			c = NewCompound(cl.minor, "")
			c.DestroyClientID(cl.clientID)
			if r, err := cl.Do(ctx, c); err != nil {
				errs = append(errs, err)
			} else if err := r.Err(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := cl.rpc.Close(); err != nil && len(errs) == 0 && !errors.Is(err, oncrpc.ErrConnClosed) {
			errs = append(errs, err)
		}
		if len(errs) > 0 {
			cl.closeErr = errs[0]
		}
	})
	return cl.closeErr
}

// Abandon closes the connection without releasing any state, as a client
// that crashed would.
func (cl *Client) Abandon() {
	cl.closeOnce.Do(func() {
		close(cl.stop)
		cl.wg.Wait()
		cl.rpc.Close()
	})
}
