package oncrpc

import (
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/xdr"
)

// endpoint is what both ends of a connection share. Either side may send
// CALLs and either may serve them: the server's connections carry the
// NFSv4.1 back channel, and a client serves those callbacks. So one reader
// goroutine per connection reads every record, hands REPLYs to the waiting
// caller by xid, and starts a goroutine per CALL.
type endpoint struct {
	nc net.Conn
	rr *recordReader

	// wmu serialises writes; each record goes out in one Write under it so
	// that replies of concurrent calls never interleave. It is a channel
	// rather than a sync.Mutex because writers queue behind a peer that
	// does not read for as long as it likes: a goroutine waiting on a
	// channel counts as durably blocked in a testing/synctest bubble, one
	// waiting on a mutex does not, and synctest.Wait would never return.
	wmu chan struct{}

	// ctx is the context handlers run under; it is cancelled when the
	// connection closes, and its Done channel is the connection's.
	ctx    context.Context
	cancel context.CancelFunc

	closeOnce sync.Once
	closeErr  error

	// Calls this side has sent, awaiting their replies.
	pmu     sync.Mutex
	pending map[uint32]*pendingCall
	pclosed bool // no reply can arrive any more: the reader has stopped
	nextXID uint32
	// freePending are pending calls done with, for reuse.
	freePending []*pendingCall

	// slots bounds the calls served at once on this connection: the reader
	// puts a token in before starting a call and the call takes it out when
	// its reply is written, so a full channel stops the reader.
	slots chan struct{}
	calls sync.WaitGroup // calls being served

	budget *budget // server-wide request bytes; nil on a client
	// replies and srvReplies count the bytes of replies being built or
	// waiting to be written, on this connection and server-wide (see
	// replies.go); nil on a client.
	replies, srvReplies *budget
	replyTimeout        time.Duration // 0: writes wait as long as the peer makes them
	// lastRead is when the reader last received a record (unix
	// nanoseconds), for the idle timeout.
	lastRead atomic.Int64
	stop     <-chan struct{} // closed when the server shuts down; nil on a client
	route    func(*Call) (h Handler, stat AcceptStat, low, high uint32)
	conn     *Conn // Call.Conn for calls served here
	log      hclog.Logger
	workers  *workers // run the calls served here

	// lastName is the machine name of the last AUTH_SYS call; only the
	// reader goroutine touches it.
	lastName string
}

// pendingCall is where the reader delivers the reply record of one call; a
// nil record means the connection closed first. The channel has room for
// the one value ever sent, so delivery never blocks the reader.
type pendingCall struct {
	ch chan *[]byte
}

// maxFreePending bounds the pending calls an endpoint keeps for reuse.
const maxFreePending = 64

// getPending returns a pending call for reuse or a new one. They are kept
// per endpoint, not in a process-wide pool, so that a channel made in a
// testing/synctest bubble never reaches a goroutine outside it.
func (ep *endpoint) getPending() *pendingCall {
	ep.pmu.Lock()
	if n := len(ep.freePending); n > 0 {
		p := ep.freePending[n-1]
		ep.freePending = ep.freePending[:n-1]
		ep.pmu.Unlock()
		return p
	}
	ep.pmu.Unlock()
	return &pendingCall{ch: make(chan *[]byte, 1)}
}

// putPending keeps p (whose channel is empty) for reuse.
func (ep *endpoint) putPending(p *pendingCall) {
	ep.pmu.Lock()
	if len(ep.freePending) < maxFreePending {
		ep.freePending = append(ep.freePending, p)
	}
	ep.pmu.Unlock()
}

// inCall is a call read off the wire on its way to a handler goroutine:
// one allocation carries everything the goroutine needs.
type inCall struct {
	call     Call
	ep       *endpoint
	rec      *[]byte
	weight   int64
	verdict  verdict
	authStat uint32
	// Reply bytes held in ep.replies and ep.srvReplies.
	reserved, srvReserved int64
}

// errNotCall reports a record that is neither a call nor a reply, or too
// short to hold an xid: there is nothing sensible to answer.
var errNotCall = errors.New("oncrpc: record is not an RPC message")

// errStopping ends a server connection's reader at shutdown.
var errStopping = errors.New("oncrpc: server shutting down")

// handOverMin is the result size from which Call returns results aliasing
// the reply buffer instead of copying them out: copying a READ's megabyte
// costs more than allocating a fresh pooled buffer later.
const handOverMin = 32 << 10

func (ep *endpoint) init(nc net.Conn, maxRecord, maxInflight int) {
	ep.nc = nc
	ep.wmu = make(chan struct{}, 1)
	ep.rr = newRecordReader(nc, maxRecord)
	ep.ctx, ep.cancel = context.WithCancel(context.Background())
	ep.slots = make(chan struct{}, maxInflight)
	// A random first xid keeps a reconnecting caller from reusing xids a
	// server's duplicate request cache may still remember.
	ep.nextXID = rand.Uint32()
}

// close ends the connection: handlers' contexts are cancelled and calls
// waiting for replies fail. It returns the error of closing the socket.
func (ep *endpoint) close() error {
	ep.closeOnce.Do(func() {
		// The socket goes first: a handler that gives up when its context
		// is cancelled must not get its (failure) reply out before it.
		ep.closeErr = ep.nc.Close()
		ep.cancel()
		ep.failPending()
	})
	return ep.closeErr
}

// failPending fails every call awaiting a reply and refuses new ones; it is
// called once the reader can no longer deliver replies.
func (ep *endpoint) failPending() {
	ep.pmu.Lock()
	ep.pclosed = true
	for xid, p := range ep.pending {
		delete(ep.pending, xid)
		p.ch <- nil
	}
	ep.pmu.Unlock()
}

// writeRecord sends the record built in e (see getEncoder) in one Write. A
// failed write leaves the stream in an unknown state, so it closes the
// connection.
func (ep *endpoint) writeRecord(e *xdr.Encoder) error {
	if err := finishRecord(e); err != nil {
		return err
	}
	ep.wmu <- struct{}{}
	ep.setWriteDeadline()
	_, err := ep.nc.Write(e.Buf)
	<-ep.wmu
	if err != nil {
		ep.close()
	}
	return err
}

// readLoop reads records until the connection fails and returns why.
func (ep *endpoint) readLoop() error {
	for {
		bufp := getRecordBuf()
		rec, err := ep.rr.readRecord(*bufp)
		*bufp = rec
		if err != nil {
			putRecordBuf(bufp)
			return err
		}
		if len(rec) >= 8 && binary.BigEndian.Uint32(rec[4:]) == msgReply {
			ep.deliver(binary.BigEndian.Uint32(rec), bufp)
			continue
		}
		// Headers are decoded here rather than in the call's goroutine so
		// that a stream that is not RPC stops the reader at once, and so
		// that lastName needs no lock.
		if ep.replies != nil {
			ep.lastRead.Store(time.Now().UnixNano())
		}
		ic := &inCall{rec: bufp, ep: ep}
		ic.verdict, ic.authStat = decodeCallHeader(rec, ep.lastName, &ic.call)
		if ic.verdict == verdictDrop {
			putRecordBuf(bufp)
			return errNotCall
		}
		if ic.verdict == verdictOK && ic.call.Flavor == FlavorSys {
			ep.lastName = ic.call.Sys.MachineName
		}
		ic.call.Conn = ep.conn
		ic.call.in = ic
		if err := ep.admit(ic, len(rec)); err != nil {
			putRecordBuf(bufp)
			return err
		}
		ep.calls.Add(1)
		ep.workers.dispatch(ep, ic)
	}
}

// A call runs on a pooled worker goroutine rather than a fresh one: a new
// goroutine starts with a small stack that every call then grows again
// (runtime.newstack + copystack were 7% of the server's CPU in a GETATTR
// storm), whereas a worker keeps the stack its earlier calls grew. Workers
// are shared by all connections of a server (a client has a pool of its
// own, for the callbacks it serves) and exit after idling for workerIdle,
// so a burst leaves no lasting goroutines behind, or at once when their
// server shuts down (or their client closes): nothing of a server outlives
// it, so a test can run a whole server in a testing/synctest bubble.
type job struct {
	ep *endpoint
	ic *inCall
}

// workers is a pool of worker goroutines.
type workers struct {
	// idle is unbuffered: a send succeeds only when a worker is waiting
	// for work, otherwise dispatch starts a new one, so a call never
	// queues behind another.
	idle chan job
	// stop, once closed, makes idle workers exit.
	stop <-chan struct{}
}

func newWorkers(stop <-chan struct{}) *workers {
	return &workers{idle: make(chan job), stop: stop}
}

const workerIdle = 10 * time.Second

func (w *workers) dispatch(ep *endpoint, ic *inCall) {
	select {
	case w.idle <- job{ep, ic}:
	default:
		go w.work(job{ep, ic})
	}
}

func (w *workers) work(j job) {
	var idle *time.Timer
	for {
		j.ep.serveCall(j.ic)
		j = job{} // drop references while idle
		if idle == nil {
			idle = time.NewTimer(workerIdle)
		} else {
			idle.Reset(workerIdle)
		}
		select {
		case j = <-w.idle:
		case <-idle.C:
			return
		case <-w.stop:
			idle.Stop()
			return
		}
	}
}

// admit waits for a slot on this connection and for the call's share of
// the server's byte budget. While it waits nothing more is read from the
// connection, which is what pushes back on a client that sends too much.
func (ep *endpoint) admit(ic *inCall, size int) error {
	select {
	case ep.slots <- struct{}{}:
	case <-ep.ctx.Done():
		return ErrConnClosed
	case <-ep.stop:
		return errStopping
	}
	if !ep.waitReplyRoom() {
		<-ep.slots
		return ep.admitFailed()
	}
	if ep.budget != nil {
		ic.weight = ep.budget.weight(size)
		if !ep.budget.acquire(ic.weight, ep.ctx.Done(), ep.stop) {
			<-ep.slots
			return ep.admitFailed()
		}
	}
	return nil
}

// admitFailed says why admit gave up.
func (ep *endpoint) admitFailed() error {
	if ep.ctx.Err() != nil {
		return ErrConnClosed
	}
	return errStopping
}

// doneWithRequest returns a call's request record and its request bytes,
// once the handler is done with them: a reply that waits for a slow peer
// must not also pin the request it answers (a 1 MiB WRITE).
func (ep *endpoint) doneWithRequest(ic *inCall) {
	putRecordBuf(ic.rec)
	ic.rec = nil
	if ic.weight != 0 {
		ep.budget.release(ic.weight)
		ic.weight = 0
	}
}

// serveCall runs one call and writes its reply.
func (ep *endpoint) serveCall(ic *inCall) {
	e := getEncoder()
	defer func() {
		if r := recover(); r != nil {
			// A panicking handler may have left shared state of this
			// connection (or its own) inconsistent; dropping the
			// connection is the safe way out, and it leaves every other
			// connection untouched.
			ep.log.Error("panic serving RPC call; closing connection",
				"prog", ic.call.Prog, "vers", ic.call.Vers, "proc", ic.call.Proc,
				"panic", r, "stack", string(debug.Stack()))
			ep.close()
		}
		putEncoder(e)
		ep.doneWithRequest(ic)
		ep.releaseReply(ic)
		<-ep.slots
		ep.calls.Done()
	}()

	xid := ic.call.XID
	switch ic.verdict {
	case verdictRPCMismatch:
		putRPCMismatch(e, xid)
	case verdictAuth:
		putAuthError(e, xid, ic.authStat)
	case verdictGarbage:
		off := putAcceptedHeader(e, xid)
		e.PutUint32At(off, uint32(GarbageArgs))
	default:
		off := putAcceptedHeader(e, xid)
		h, stat, low, high := ep.route(&ic.call)
		if h != nil {
			stat = h.HandleCall(ep.ctx, &ic.call, e)
			switch {
			case stat > SystemErr:
				// Only defined statuses may go on the wire.
				stat = SystemErr
			case stat == Success && len(e.Buf)-markLen > maxFragmentLen:
				// Unsendable as one fragment; the caller must hear
				// something rather than wait forever.
				ep.log.Error("RPC reply too large", "prog", ic.call.Prog, "proc", ic.call.Proc, "bytes", len(e.Buf))
				stat = SystemErr
			}
		}
		if stat != Success {
			e.Buf = e.Buf[:off+4]
			e.PutUint32At(off, uint32(stat))
			if stat == ProgMismatch {
				e.Uint32(low)
				e.Uint32(high)
			}
		}
	}
	ep.doneWithRequest(ic)
	ep.chargeReply(ic, len(e.Buf))
	err := ep.writeRecord(e)
	switch {
	case err == nil:
	case ep.replyTimeout > 0 && writeTimedOut(err):
		ep.log.Warn("peer did not read its replies in time; closing connection",
			"remote", ep.nc.RemoteAddr().String(), "timeout", ep.replyTimeout)
	case ep.ctx.Err() == nil:
		ep.log.Debug("writing RPC reply failed", "xid", xid, "error", err)
	}
}

// deliver hands a reply record to the call waiting for it. Replies nobody
// waits for (the caller gave up, or the peer is confused) are dropped.
func (ep *endpoint) deliver(xid uint32, bufp *[]byte) {
	ep.pmu.Lock()
	p := ep.pending[xid]
	delete(ep.pending, xid)
	ep.pmu.Unlock()
	if p == nil {
		putRecordBuf(bufp)
		return
	}
	p.ch <- bufp
}

// call sends a call to the peer and waits for its reply or for ctx.
// Cancellation is honoured while waiting for the reply; a Write that blocks
// because the peer stopped reading ends only when the connection closes.
func (ep *endpoint) call(ctx context.Context, prog, vers, proc uint32, cred Cred, args []byte) ([]byte, error) {
	if len(cred.Body) > MaxAuthBytes {
		return nil, errors.New("oncrpc: credential body exceeds 400 bytes")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p := ep.getPending()
	ep.pmu.Lock()
	if ep.pclosed {
		ep.pmu.Unlock()
		ep.putPending(p)
		return nil, ErrConnClosed
	}
	if ep.pending == nil {
		ep.pending = make(map[uint32]*pendingCall)
	}
	xid := ep.nextXID
	for ep.pending[xid] != nil {
		xid++ // after wrapping around, skip xids still in use
	}
	ep.nextXID = xid + 1
	ep.pending[xid] = p
	ep.pmu.Unlock()

	e := getEncoder()
	putCall(e, xid, prog, vers, proc, cred, args)
	err := ep.writeRecord(e)
	putEncoder(e)
	if err != nil {
		ep.withdraw(xid, p)
		if ep.ctx.Err() != nil {
			return nil, ErrConnClosed
		}
		return nil, err
	}

	select {
	case bufp := <-p.ch:
		ep.putPending(p)
		if bufp == nil {
			return nil, ErrConnClosed
		}
		res, err := decodeReply(*bufp)
		switch {
		case err != nil || len(res) == 0:
			putRecordBuf(bufp)
			return nil, err
		case len(res) >= handOverMin:
			return res, nil
		}
		out := make([]byte, len(res))
		copy(out, res)
		putRecordBuf(bufp)
		return out, nil
	case <-ctx.Done():
		ep.withdraw(xid, p)
		return nil, ctx.Err()
	}
}

// withdraw removes a call that no longer waits for its reply. If the reader
// (or failPending) has already taken it out of the table, a value is on its
// way to p.ch and is drained so that p can be reused.
func (ep *endpoint) withdraw(xid uint32, p *pendingCall) {
	ep.pmu.Lock()
	mine := ep.pending[xid] == p
	if mine {
		delete(ep.pending, xid)
	}
	ep.pmu.Unlock()
	if !mine {
		if bufp := <-p.ch; bufp != nil {
			putRecordBuf(bufp)
		}
	}
	ep.putPending(p)
}
