package oncrpc

import (
	"errors"
	"net"
	"time"
)

// Reply accounting. A reply is held in memory from when its handler builds
// it until the peer has taken it off the socket, and a peer decides how
// long that is: one that pipelines large READs and never reads pins every
// reply it asked for. So reply bytes are counted twice, against the
// connection's share (MaxReplyBytesPerConn) and against the server's
// (MaxReplyBytes), from when they are built until they are written:
//
//   - A handler about to build a large reply calls Call.ReserveReply, which
//     waits for room before anything is allocated. A call reserves once, a
//     whole record's worth, and holds nothing of either reply budget while
//     it waits, so waits cannot form a cycle: holders of reply bytes never
//     wait for more of them. (Requests have their own budget for the same
//     reason: a call holding request bytes may wait for reply bytes.)
//   - Small replies are charged when the handler returns, without waiting;
//     the bytes exist by then, and counting them keeps the next
//     reservation honest.
//   - The reader stops admitting calls while the connection's share is
//     used up, so a peer that does not read its replies stops being read,
//     and TCP pushes back on it.
//   - A reply that cannot be written within ReplyTimeout closes the
//     connection, which releases everything it pinned.

// Defaults of the reply budgets.
const (
	DefaultMaxReplyBytes        int64 = 256 << 20
	DefaultMaxReplyBytesPerConn int64 = 8 << 20
)

// freeReplyBytes is how large a reply may grow before its handler must
// reserve room. Below it, replies are charged only once built: most are a
// few hundred bytes, and a reservation costs more than they do.
const freeReplyBytes = 64 << 10

// ReserveReply tells the server that this call's reply will grow to about
// n bytes. Once n passes a small threshold, it waits until a reply of the
// largest record size fits in the connection's and the server's reply
// budgets and reserves that much; later calls for the same call return at
// once. Handlers call it before allocating a large result (a READ's data),
// so that a peer cannot make the server build replies faster than it takes
// them. It fails when the connection closes or the server shuts down
// while waiting; the handler should then give up, its reply is not sent.
// Calls served by a Client are not accounted, and always succeed.
func (c *Call) ReserveReply(n int) error {
	ic := c.in
	if ic == nil || ic.reserved != 0 || n <= freeReplyBytes {
		return nil
	}
	ep := ic.ep
	if ep.replies == nil {
		return nil
	}
	w := ep.replies.weight(ep.rr.max)
	if !ep.replies.acquire(w, ep.ctx.Done(), ep.stop) {
		return ErrConnClosed
	}
	sw := ep.srvReplies.weight(ep.rr.max)
	if !ep.srvReplies.acquire(sw, ep.ctx.Done(), ep.stop) {
		ep.replies.release(w)
		return ErrConnClosed
	}
	ic.reserved, ic.srvReserved = w, sw
	return nil
}

// chargeReply settles a call's reply accounting once its reply of n bytes
// is built: what was reserved is trimmed to n, or n is charged without
// waiting if nothing was. The charge is held until the reply is written.
func (ep *endpoint) chargeReply(ic *inCall, n int) {
	if ep.replies == nil {
		return
	}
	ep.replies.adjust(ic.reserved, ep.replies.weight(n))
	ep.srvReplies.adjust(ic.srvReserved, ep.srvReplies.weight(n))
	ic.reserved, ic.srvReserved = ep.replies.weight(n), ep.srvReplies.weight(n)
}

// releaseReply returns a call's reply bytes once the reply is written, or
// will never be.
func (ep *endpoint) releaseReply(ic *inCall) {
	if ep.replies == nil {
		return
	}
	ep.replies.release(ic.reserved)
	ep.srvReplies.release(ic.srvReserved)
	ic.reserved, ic.srvReserved = 0, 0
}

// waitReplyRoom holds the reader while the connection's replies already
// use up its share: reading more calls would only build more replies the
// peer is not taking.
func (ep *endpoint) waitReplyRoom() bool {
	return ep.replies == nil || ep.replies.acquire(0, ep.ctx.Done(), ep.stop)
}

// setWriteDeadline bounds the next write by the reply timeout. It is
// called under wmu.
func (ep *endpoint) setWriteDeadline() {
	if ep.replyTimeout > 0 {
		ep.nc.SetWriteDeadline(time.Now().Add(ep.replyTimeout))
	}
}

// writeTimedOut reports whether a write failed because the peer did not
// take the reply within the reply timeout.
func writeTimedOut(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
