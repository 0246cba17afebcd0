package compound

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// Callback program constants (RFC 8881 section 20).
const (
	cbVersion    = 1
	cbProcNull   = 0
	cbProcComp   = 1
	cbOpGetattr  = 3
	cbOpRecall   = 4
	cbOpSequence = 11
)

// callbackTimeout bounds one recall: waiting for the back-channel slot and
// for the reply. A client that never answers costs one goroutine for this
// long, no more.
func (s *Server) callbackTimeout() time.Duration {
	t := s.cfg.State.Lease() / 2
	if t < time.Second {
		t = time.Second
	}
	if t > 15*time.Second {
		t = 15 * time.Second
	}
	return t
}

// recall sends CB_RECALL for delegation d over its client's back channel
// (RFC 8881 section 20.2). A failed callback revokes the delegation; a
// delivered one leaves it to the client to return it within a lease
// (the state model's reaper revokes it otherwise).
//
// An NFSv4.0 callback connection that does not answer a CB_RECALL within
// half the usual time is taken down: RENEW then tells the client
// (NFS4ERR_CB_PATH_DOWN) while it still has most of a lease to return its
// delegations, and no new delegation is granted until a SETCLIENTID
// brings a working callback path back.
func (s *Server) recall(d *nfs4state.State) {
	timeout := s.callbackTimeout()
	if d.Client.Minor == 0 {
		timeout /= 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := s.sendRecall(ctx, d)
	if errors.Is(err, context.DeadlineExceeded) {
		// No answer (yet): the client may still return the delegation;
		// the reaper revokes it (¾ of) a lease after the recall otherwise.
		s.log.Debug("delegation recall unanswered", "client", d.Client.ID)
		if d.Client.Minor == 0 {
			closeCallback(d.Client.TakeCallbackPath())
		}
		return
	}
	if err != nil {
		s.log.Info("delegation recall failed; revoking", "client", d.Client.ID, "error", err)
		s.cfg.State.RecallFailed(d)
	}
}

type cbError nfs4.Status

func (e cbError) Error() string { return "callback status " + nfs4.Status(e).String() }

func (s *Server) sendRecall(ctx context.Context, d *nfs4state.State) error {
	c := d.Client
	if c.Minor == 0 {
		return s.cbRecall40(ctx, d)
	}
	var lastErr error = errNoBackChannel
	for {
		sess, raw := s.cfg.State.BackChannel(c, nil, connAlive)
		conn, _ := raw.(*oncrpc.Conn)
		if sess == nil || conn == nil {
			return lastErr
		}
		err := s.cbRecall41(ctx, sess, conn, d)
		if err == nil {
			return nil
		}
		lastErr = err
		if st, ok := err.(cbError); ok && (nfs4.Status(st) == nfs4.ErrDelay || nfs4.Status(st) == nfs4.ErrSeqMisordered || nfs4.Status(st) == nfs4.ErrBadslot) {
			// Try again shortly, within the timeout.
			select {
			case <-time.After(100 * time.Millisecond):
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return err
	}
}

type errString string

func (e errString) Error() string { return string(e) }

const errNoBackChannel = errString("no back channel")

// cbRecall41 sends CB_COMPOUND { CB_SEQUENCE, CB_RECALL } on slot 0 of
// the session's back channel.
func (s *Server) cbRecall41(ctx context.Context, sess *nfs4state.Session, conn *oncrpc.Conn, d *nfs4state.State) error {
	_, err := s.cbCall41(ctx, sess, conn, func(e *xdr.Encoder) {
		e.Uint32(cbOpRecall)
		d.Stateid().Encode(e)
		e.Bool(false) // truncate
		e.Opaque([]byte(d.FH))
	})
	return err
}

// cbCall41 sends CB_COMPOUND { CB_SEQUENCE, op } on slot 0 of the
// session's back channel, op being what encodeOp writes (opcode
// included). On success it returns the reply positioned after op's
// status.
func (s *Server) cbCall41(ctx context.Context, sess *nfs4state.Session, conn *oncrpc.Conn, encodeOp func(e *xdr.Encoder)) (*xdr.Decoder, error) {
	seqid, release, ok := sess.AcquireBackSlot(ctx.Done())
	if !ok {
		return nil, ctx.Err()
	}
	replied := false
	defer func() { release(replied) }()
	prog, flavor, body := sess.Callback()
	cred := oncrpc.CredNone()
	if flavor == oncrpc.FlavorSys {
		cred = oncrpc.Cred{Flavor: flavor, Body: body}
	}
	e := xdr.NewEncoder(make([]byte, 0, 256))
	e.Opaque(nil)                       // tag
	e.Uint32(max(sess.Client.Minor, 1)) // the client's minor version (RFC 7862 section 1.4.1)
	e.Uint32(0)                         // callback_ident (4.0 only)
	e.Uint32(2)
	e.Uint32(cbOpSequence)
	e.Fixed(sess.ID[:])
	e.Uint32(seqid)
	e.Uint32(0)   // slot
	e.Uint32(0)   // highest slot
	e.Bool(false) // cachethis
	e.Uint32(0)   // referring_call_lists
	encodeOp(e)
	res, err := conn.Call(ctx, prog, cbVersion, cbProcComp, cred, e.Buf)
	if err != nil {
		return nil, err
	}
	replied = true
	rd := xdr.NewDecoder(res)
	status := nfs4.Status(rd.Uint32())
	if rd.Err() != nil {
		return nil, errString("bad CB_COMPOUND reply")
	}
	rd.Opaque(nfs4.MaxTagLen)
	n := rd.Uint32()
	if status != nfs4.OK {
		if n > 0 && rd.Uint32() == cbOpSequence {
			if st := nfs4.Status(rd.Uint32()); st != nfs4.OK {
				// A failed CB_SEQUENCE leaves the slot as it was.
				replied = st != nfs4.ErrSeqMisordered && st != nfs4.ErrBadslot && st != nfs4.ErrDelay && st != nfs4.ErrBadsession
				return nil, cbError(st)
			}
		}
		return nil, cbError(status)
	}
	// CB_SEQUENCE's result, then the operation's opcode and status.
	rd.Uint32()
	rd.Uint32()
	rd.Fixed(nfs4.SessionIDSize)
	for i := 0; i < 4; i++ {
		rd.Uint32()
	}
	rd.Uint32()
	rd.Uint32()
	if n != 2 || rd.Err() != nil {
		return nil, errString("bad CB_COMPOUND reply")
	}
	return rd, nil
}

// cbGetattrTimeout bounds a CB_GETATTR, during which another client's
// GETATTR waits; past it, the delegation is recalled instead.
const cbGetattrTimeout = 2 * time.Second

// cbGetattr asks the holder of write delegation d for the file's size
// and change attribute with CB_GETATTR over its back channel (RFC 8881
// section 20.1).
func (s *Server) cbGetattr(ctx context.Context, d *nfs4state.State) (nfs4state.CBAttrs, error) {
	var a nfs4state.CBAttrs
	sess, raw := s.cfg.State.BackChannel(d.Client, nil, connAlive)
	conn, _ := raw.(*oncrpc.Conn)
	if sess == nil || conn == nil {
		return a, errNoBackChannel
	}
	var want nfs4.Bitmap
	want.Set(nfs4.AttrChange)
	want.Set(nfs4.AttrSize)
	rd, err := s.cbCall41(ctx, sess, conn, func(e *xdr.Encoder) {
		e.Uint32(cbOpGetattr)
		e.Opaque([]byte(d.FH))
		want.Encode(e)
	})
	if err != nil {
		return a, err
	}
	var f nfs4.Fattr
	if err := nfs4.DecodeFattr(rd, &f); err != nil {
		return a, fmt.Errorf("bad CB_GETATTR reply: %w", err)
	}
	a.Change, a.HasChange = f.Change, f.Has(nfs4.AttrChange)
	a.Size, a.HasSize = f.Size, f.Has(nfs4.AttrSize)
	return a, nil
}

// NFSv4.0 callbacks go over a connection the server opens to the address
// the client gave in SETCLIENTID (RFC 7530 section 10.2.1), verified with
// CB_NULL before any delegation is granted.

// cbCred40 is the credential of 4.0 callbacks.
var cbCred40 = oncrpc.CredSys(oncrpc.AuthSys{MachineName: "nfsgw"})

// delegationsAnywhere reports whether some export grants delegations.
func (s *Server) delegationsAnywhere() bool {
	for _, e := range s.cfg.Exports.Load().All() {
		if e.Delegations {
			return true
		}
	}
	return false
}

// probeCallback40 (re)checks a confirmed 4.0 client's callback path in
// the background.
func (s *Server) probeCallback40(c *nfs4state.Client) {
	gen, old := c.BeginCallbackProbe()
	closeCallback(old)
	if !s.delegationsAnywhere() {
		return
	}
	info := c.CallbackInfoNow()
	addr, ok := parseUaddr(info.NetID, info.Addr)
	if !ok {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.callbackTimeout())
		defer cancel()
		conn, err := s.dialCallback40(ctx, addr)
		if err != nil {
			s.log.Debug("callback path down", "client", c.ID, "addr", addr, "error", err)
			return
		}
		if _, err := conn.Call(ctx, info.Program, cbVersion, cbProcNull, cbCred40, nil); err != nil {
			s.log.Debug("callback path down", "client", c.ID, "addr", addr, "error", err)
			conn.Close()
			return
		}
		if !c.SetCallbackPath(gen, conn) {
			conn.Close()
		}
	}()
}

func (s *Server) dialCallback40(ctx context.Context, addr string) (*oncrpc.Client, error) {
	if s.cbDial == nil {
		return oncrpc.Dial(ctx, "tcp", addr)
	}
	nc, err := s.cbDial(ctx, addr)
	if err != nil {
		return nil, err
	}
	return oncrpc.NewClient(nc), nil
}

func closeCallback(raw any) {
	if conn, ok := raw.(*oncrpc.Client); ok && conn != nil {
		conn.Close()
	}
}

// callbackPath40 returns the client's verified, open callback connection.
func callbackPath40(c *nfs4state.Client) *oncrpc.Client {
	conn, _ := c.CallbackPath().(*oncrpc.Client)
	if conn == nil {
		return nil
	}
	select {
	case <-conn.Done():
		return nil
	default:
		return conn
	}
}

// parseUaddr turns a universal address (RFC 5665: "h1.h2.h3.h4.p1.p2",
// or an IPv6 address followed by ".p1.p2") into host:port.
func parseUaddr(netid, uaddr string) (string, bool) {
	if netid != "tcp" && netid != "tcp6" {
		return "", false
	}
	i := strings.LastIndexByte(uaddr, '.')
	if i < 0 {
		return "", false
	}
	j := strings.LastIndexByte(uaddr[:i], '.')
	if j < 0 {
		return "", false
	}
	p1, err1 := strconv.Atoi(uaddr[j+1 : i])
	p2, err2 := strconv.Atoi(uaddr[i+1:])
	if err1 != nil || err2 != nil || p1 < 0 || p1 > 255 || p2 < 0 || p2 > 255 {
		return "", false
	}
	host := uaddr[:j]
	ip, err := netip.ParseAddr(host)
	if err != nil || p1*256+p2 == 0 {
		return "", false
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(p1*256+p2)), true
}

// cbRecall40 sends CB_COMPOUND { CB_RECALL } over a 4.0 callback path.
func (s *Server) cbRecall40(ctx context.Context, d *nfs4state.State) error {
	c := d.Client
	conn := callbackPath40(c)
	if conn == nil {
		return errNoBackChannel
	}
	info := c.CallbackInfoNow()
	e := xdr.NewEncoder(make([]byte, 0, 256))
	e.Opaque(nil) // tag
	e.Uint32(0)   // minorversion
	e.Uint32(info.Ident)
	e.Uint32(1)
	e.Uint32(cbOpRecall)
	d.Stateid().Encode(e)
	e.Bool(false) // truncate
	e.Opaque([]byte(d.FH))
	res, err := conn.Call(ctx, info.Program, cbVersion, cbProcComp, cbCred40, e.Buf)
	if err != nil {
		return err
	}
	rd := xdr.NewDecoder(res)
	if st := nfs4.Status(rd.Uint32()); rd.Err() != nil {
		return errString("bad CB_COMPOUND reply")
	} else if st != nfs4.OK {
		return cbError(st)
	}
	return nil
}
