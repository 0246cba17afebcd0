package oncrpc

import (
	"context"
	"errors"

	"nfsgw/gateway/xdr"
)

// Message types, reply types and the protocol version (RFC 5531 section 9).
const (
	msgCall     uint32 = 0
	msgReply    uint32 = 1
	msgAccepted uint32 = 0
	msgDenied   uint32 = 1
	rpcVersion  uint32 = 2
)

// Reasons a call is rejected (reject_stat, RFC 5531 section 9).
const (
	RPCMismatch uint32 = 0 // RPC_MISMATCH: RPC version other than 2
	AuthError   uint32 = 1 // AUTH_ERROR: see Error.AuthStat
)

// AcceptStat is the status of an accepted call (accept_stat).
type AcceptStat uint32

// Accept statuses (RFC 5531 section 9).
const (
	Success      AcceptStat = 0 // SUCCESS: results follow
	ProgUnavail  AcceptStat = 1 // PROG_UNAVAIL: program not served
	ProgMismatch AcceptStat = 2 // PROG_MISMATCH: version not served
	ProcUnavail  AcceptStat = 3 // PROC_UNAVAIL: no such procedure
	GarbageArgs  AcceptStat = 4 // GARBAGE_ARGS: arguments could not be decoded
	SystemErr    AcceptStat = 5 // SYSTEM_ERR: server-side failure
)

var acceptStatNames = [...]string{"SUCCESS", "PROG_UNAVAIL", "PROG_MISMATCH", "PROC_UNAVAIL", "GARBAGE_ARGS", "SYSTEM_ERR"}

// String returns the RFC name of the status.
func (s AcceptStat) String() string {
	if int(s) < len(acceptStatNames) {
		return acceptStatNames[s]
	}
	return "accept_stat(" + utoa(uint32(s)) + ")"
}

// Call is one decoded RPC call as a Handler sees it.
type Call struct {
	XID, Prog, Vers, Proc uint32
	// Flavor is the credential flavor the caller used: FlavorNone or
	// FlavorSys; calls with any other flavor are rejected before dispatch.
	Flavor uint32
	// Sys is the AUTH_SYS credential, valid when Flavor is FlavorSys. Its
	// GIDs slice belongs to the handler and may be kept.
	Sys AuthSys
	// Args holds the procedure's encoded arguments. It aliases a buffer
	// that is reused once HandleCall returns, so copy what must outlive
	// the call.
	Args []byte
	// Conn is the connection the call came in on; nil for callbacks served
	// by a Client.
	Conn *Conn

	in *inCall // the server's accounting of the call; nil on a Client
}

// Handler serves the calls of one program.
type Handler interface {
	// HandleCall appends the procedure's results to e (positioned right
	// after the accepted-reply header) and returns the accept status. For
	// any status other than Success whatever was appended is discarded.
	// ctx is cancelled when the connection closes. Neither e nor call.Args
	// may be used after HandleCall returns: both are recycled.
	HandleCall(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat

// HandleCall calls f.
func (f HandlerFunc) HandleCall(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
	return f(ctx, call, e)
}

// verdict is what decoding a call header concluded.
type verdict uint8

const (
	// verdictOK: the header is valid and the call can be dispatched.
	verdictOK verdict = iota
	// verdictDrop: not a call whose xid can be read; nothing can be
	// replied, and the connection is closed.
	verdictDrop
	// verdictGarbage: the header is truncated; reply GARBAGE_ARGS.
	verdictGarbage
	// verdictRPCMismatch: wrong RPC version; reply RPC_MISMATCH.
	verdictRPCMismatch
	// verdictAuth: bad credential or verifier; reply AUTH_ERROR.
	verdictAuth
)

// decodeCallHeader decodes the header of the call record rec into call and
// says what to do with it; for verdictAuth it also returns the auth_stat.
// lastName is the machine name of the connection's previous AUTH_SYS call
// (see decodeAuthSys). It never panics and never allocates beyond the group
// list and a new machine name.
func decodeCallHeader(rec []byte, lastName string, call *Call) (verdict, uint32) {
	var d xdr.Decoder
	d.Reset(rec)
	call.XID = d.Uint32()
	mtype := d.Uint32()
	if d.Offset() < 4 || (d.Err() == nil && mtype != msgCall) {
		return verdictDrop, 0
	}
	vers := d.Uint32()
	if d.Err() != nil {
		return verdictGarbage, 0
	}
	if vers != rpcVersion {
		// The rest of a call of another RPC version need not look like
		// ours, so it is not decoded.
		return verdictRPCMismatch, 0
	}
	call.Prog = d.Uint32()
	call.Vers = d.Uint32()
	call.Proc = d.Uint32()
	credFlavor := d.Uint32()
	credBody := d.Opaque(MaxAuthBytes)
	if err := d.Err(); err != nil {
		if errors.Is(err, xdr.ErrTooLong) {
			return verdictAuth, AuthBadCred
		}
		return verdictGarbage, 0
	}
	verfFlavor := d.Uint32()
	d.Opaque(MaxAuthBytes)
	if err := d.Err(); err != nil {
		if errors.Is(err, xdr.ErrTooLong) {
			return verdictAuth, AuthBadVerf
		}
		return verdictGarbage, 0
	}
	switch credFlavor {
	case FlavorNone:
		call.Sys = AuthSys{}
	case FlavorSys:
		if !decodeAuthSys(credBody, lastName, &call.Sys) {
			return verdictAuth, AuthBadCred
		}
	default:
		// Unsupported flavors (AUTH_DH, RPCSEC_GSS, ...) get AUTH_BADCRED,
		// as from Linux knfsd. AUTH_REJECTEDCRED would tell the client to
		// set up a fresh context of the same flavor and retry, which can
		// never succeed here; AUTH_BADCRED makes it give up on the flavor.
		return verdictAuth, AuthBadCred
	}
	// Both AUTH_NONE and AUTH_SYS calls carry an AUTH_NONE verifier
	// (RFC 5531 appendix A); anything else is a verifier we cannot check.
	if verfFlavor != FlavorNone {
		return verdictAuth, AuthBadVerf
	}
	call.Flavor = credFlavor
	call.Args = d.Rest()
	return verdictOK, 0
}

// putAcceptedHeader appends an accepted-reply header with an AUTH_NONE
// verifier and returns the offset of its accept_stat, to be filled in once
// the handler has run.
func putAcceptedHeader(e *xdr.Encoder, xid uint32) int {
	e.Uint32(xid)
	e.Uint32(msgReply)
	e.Uint32(msgAccepted)
	e.Uint32(FlavorNone)
	e.Uint32(0)
	off := e.Len()
	e.Uint32(uint32(Success))
	return off
}

// putRPCMismatch appends a MSG_DENIED RPC_MISMATCH reply naming version 2
// as the only one supported.
func putRPCMismatch(e *xdr.Encoder, xid uint32) {
	e.Uint32(xid)
	e.Uint32(msgReply)
	e.Uint32(msgDenied)
	e.Uint32(RPCMismatch)
	e.Uint32(rpcVersion)
	e.Uint32(rpcVersion)
}

// putAuthError appends a MSG_DENIED AUTH_ERROR reply.
func putAuthError(e *xdr.Encoder, xid, stat uint32) {
	e.Uint32(xid)
	e.Uint32(msgReply)
	e.Uint32(msgDenied)
	e.Uint32(AuthError)
	e.Uint32(stat)
}

// putCall appends a complete call message.
func putCall(e *xdr.Encoder, xid, prog, vers, proc uint32, cred Cred, args []byte) {
	e.Uint32(xid)
	e.Uint32(msgCall)
	e.Uint32(rpcVersion)
	e.Uint32(prog)
	e.Uint32(vers)
	e.Uint32(proc)
	e.Uint32(cred.Flavor)
	e.Opaque(cred.Body)
	e.Uint32(FlavorNone) // verifier
	e.Uint32(0)
	e.Buf = append(e.Buf, args...)
}

// errMalformedReply reports a reply that does not decode.
var errMalformedReply = errors.New("oncrpc: malformed reply")

// decodeReply decodes a reply record. It returns the results of a
// successful call (aliasing rec), an *Error for any other outcome, or
// errMalformedReply.
func decodeReply(rec []byte) ([]byte, error) {
	var d xdr.Decoder
	d.Reset(rec)
	d.Uint32() // xid, already matched
	if d.Uint32() != msgReply {
		d.SetErr(errMalformedReply)
	}
	switch stat := d.Uint32(); stat {
	case msgAccepted:
		d.Uint32() // verifier flavor: not checked for AUTH_NONE and AUTH_SYS
		d.Opaque(MaxAuthBytes)
		as := AcceptStat(d.Uint32())
		if d.Err() != nil {
			return nil, errMalformedReply
		}
		switch as {
		case Success:
			return d.Rest(), nil
		case ProgMismatch:
			e := &Error{Accept: as, Low: d.Uint32(), High: d.Uint32()}
			if d.Err() != nil {
				return nil, errMalformedReply
			}
			return nil, e
		}
		return nil, &Error{Accept: as}
	case msgDenied:
		e := &Error{Rejected: true, RejectStat: d.Uint32()}
		switch e.RejectStat {
		case RPCMismatch:
			e.Low, e.High = d.Uint32(), d.Uint32()
		case AuthError:
			e.AuthStat = d.Uint32()
		default:
			d.SetErr(errMalformedReply)
		}
		if d.Err() != nil {
			return nil, errMalformedReply
		}
		return nil, e
	}
	return nil, errMalformedReply
}
