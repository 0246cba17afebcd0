package compound

import (
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// replyOverhead40 is what an NFSv4.0 COMPOUND reply may take beyond the
// largest READ: the room the transport allows a request beyond the largest
// WRITE (max_record_bytes' default), less a margin for the RPC reply
// header, so a 4.0 reply record is never larger than the records the
// server itself accepts.
const replyOverhead40 = 64<<10 - 1<<10

// opFailLen is the length of a failed operation's result, the opcode and
// the status, which the reply must always have room for: a COMPOUND that
// runs out of room ends with one.
const opFailLen = 8

// maxReply40 bounds an NFSv4.0 COMPOUND's reply. NFSv4.1 negotiates this
// with the session (ca_maxresponsesize); 4.0 has no such thing, and
// without a bound one small COMPOUND of many READs made the server build
// a reply of hundreds of megabytes.
func (s *Server) maxReply40() int { return int(s.maxIO) + replyOverhead40 }

// replyRoom returns how many more bytes the reply may take before the
// NFSv4.0 limit; in 4.1 the session's limit is checked after each
// operation instead (checkReplySize), and this is unbounded.
func (r *request) replyRoom(e *xdr.Encoder) int {
	if r.minor != 0 {
		return int(^uint(0) >> 1)
	}
	return r.s.maxReply40() - (e.Len() - r.replyStart) - opFailLen
}

// reserveReply tells the transport that the reply is about to grow by
// more bytes, before they are allocated: it may make the COMPOUND wait
// until the connection's earlier replies have been taken by the peer (see
// oncrpc.Call.ReserveReply). It fails only when the connection is gone,
// and the reply with it.
func (r *request) reserveReply(e *xdr.Encoder, more int) nfs4.Status {
	if r.call == nil {
		return nfs4.OK
	}
	if err := r.call.ReserveReply(e.Len() - r.replyStart + more); err != nil {
		return nfs4.ErrDelay
	}
	return nfs4.OK
}

// afterOp applies the transport's rules to the reply after an operation
// that succeeded: an NFSv4.0 reply that passed the limit ends the COMPOUND
// with NFS4ERR_RESOURCE in place of the operation's result (RFC 7530
// section 15.2: the server ran out of a resource it cannot free), a reply
// that grew large is reserved for, and an operation showing that the peer
// keeps state over this connection exempts it from the idle timeout.
func (r *request) afterOp(e *xdr.Encoder, opStart int, op uint32) nfs4.Status {
	if r.minor == 0 && r.replyRoom(e) < 0 {
		e.Buf = e.Buf[:opStart]
		e.Uint32(op)
		e.Uint32(uint32(nfs4.ErrResource))
		return nfs4.ErrResource
	}
	if st := r.reserveReply(e, 0); st != nfs4.OK {
		return st
	}
	if r.call != nil && r.call.Conn != nil && keepsConn(op) {
		r.call.Conn.Keep()
	}
	return nfs4.OK
}

// keepsConn reports whether an operation's success shows that its client
// holds a lease or a session over the connection.
func keepsConn(op uint32) bool {
	switch op {
	case nfs4.OpSequence, nfs4.OpCreateSession, nfs4.OpBindConnToSession,
		nfs4.OpSetClientIDConfirm, nfs4.OpRenew, nfs4.OpOpen:
		return true
	}
	return false
}
