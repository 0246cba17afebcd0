// Package compound is the NFSv4 COMPOUND engine: it decodes each operation
// of a COMPOUND, runs it against the export's backend and the state model,
// and encodes its result, for minor versions 0, 1 and 2 alike. Each
// operation is written once; the per-minor-version rules (which operations
// exist, which must come first or alone) live in the op table and in run.
package compound

import (
	"context"
	"encoding/binary"
	"hash/maphash"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/gateway/export"
	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/toptalk"
	"nfsgw/gateway/xdr"
	"nfsgw/grace"
)

// Config configures the engine. Zero values select the defaults.
type Config struct {
	Exports *export.Registry
	State   *nfs4state.Manager
	Logger  hclog.Logger
	// MaxIO bounds READ and WRITE payloads (default 1 MiB).
	MaxIO uint32
	// ServerOwner names this server in EXCHANGE_ID; gateways that share
	// state would share it (default "nfsgw").
	ServerOwner string
	// ServerScope is eir_server_scope (default: ServerOwner).
	ServerScope string
	// Boot is the server's start time; it seeds the write verifier, which
	// must change when the server restarts (RFC 7530 section 16.36.4).
	Boot time.Time
	// Grace says whether the server is in its grace period and who may
	// reclaim (default: never in grace).
	Grace grace.Gate
	// Recorder durably records clients that get state, so that they may
	// reclaim after a restart (default: none).
	Recorder Recorder
	// Talkers, if set, counts each client's operations for the top
	// talkers (nfsgwctl top); it costs a few atomic stores per operation.
	Talkers *toptalk.Recorder
	// Metrics counts and times COMPOUNDs and operations (default: none).
	Metrics *metrics.Metrics
	// SlowOp: an operation that takes at least this long is logged, with
	// its client, export, status and duration (0: never).
	SlowOp time.Duration
	// OpLogLimit rate-limits the log lines of slow and failed operations
	// (nil: no limit).
	OpLogLimit *metrics.LogLimit
}

// Recorder remembers, durably, the clients that hold state (the recovery
// store). Add must not return before the record is stable. Remove forgets
// the owner's record (a client destroyed or expired).
type Recorder interface {
	Add(ctx context.Context, owner []byte, principal string, minor uint32) error
	Remove(ctx context.Context, owner []byte) error
}

// maxOps40 bounds the operations of an NFSv4.0 COMPOUND; a Linux client
// sends at most a few dozen.
const maxOps40 = 256

// Server serves the NFSv4 program.
type Server struct {
	cfg       Config
	log       hclog.Logger
	writeVerf [8]byte
	maxIO     uint32
	drc       *drc
	delegs    delegSupport // which backends back delegations (backdeleg.go)
	locktest  sync.Map     // fsal.FS → whether its files test locks (LOCKT)
	m         *metrics.Metrics
	timed     bool         // operations are timed (metrics or slow-operation log)
	owners    ownerStripes // recovery store writes, one owner at a time (effects.go)

	// recallHook, set by tests, is called in place of sending CB_RECALL,
	// in the request, before its reply.
	recallHook func(*nfs4state.State)
	// cbDial, set by tests, connects to a 4.0 client's callback address
	// in place of TCP, so that a test can keep the whole exchange in
	// memory (and in a testing/synctest bubble).
	cbDial func(ctx context.Context, addr string) (net.Conn, error)
}

// New returns an engine.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.MaxIO == 0 {
		cfg.MaxIO = 1 << 20
	}
	if cfg.ServerOwner == "" {
		cfg.ServerOwner = "nfsgw"
	}
	if cfg.ServerScope == "" {
		cfg.ServerScope = cfg.ServerOwner
	}
	if cfg.Boot.IsZero() {
		cfg.Boot = time.Now()
	}
	if cfg.Grace == nil {
		cfg.Grace = grace.None{}
	}
	s := &Server{cfg: cfg, log: cfg.Logger, maxIO: cfg.MaxIO, drc: newDRC(), m: cfg.Metrics}
	s.owners.seed = maphash.MakeSeed()
	s.timed = s.m != nil || cfg.SlowOp > 0
	binary.BigEndian.PutUint64(s.writeVerf[:], uint64(cfg.Boot.UnixNano()))
	return s
}

// MaxIO returns the READ/WRITE size limit.
func (s *Server) MaxIO() uint32 { return s.maxIO }

// WriteVerifier returns the current write verifier.
func (s *Server) WriteVerifier() [8]byte { return s.writeVerf }

// HandleCall implements oncrpc.Handler for program 100003 version 4.
func (s *Server) HandleCall(ctx context.Context, call *oncrpc.Call, e *xdr.Encoder) oncrpc.AcceptStat {
	switch call.Proc {
	case nfs4.ProcNull:
		return oncrpc.Success
	case nfs4.ProcCompound:
		if s.m == nil {
			var clock opClock
			if s.timed {
				clock.base = time.Now()
			}
			return s.compound(ctx, call, e, &clock, 0)
		}
		var sh uint32
		if call.Conn != nil {
			sh = metrics.ShardOf(call.Conn.ID())
		}
		clock := opClock{base: time.Now()}
		start := e.Len()
		s.m.CompoundStart(sh)
		st := s.compound(ctx, call, e, &clock, sh)
		// The reply begins with the COMPOUND's status; the minor version
		// follows the tag in the arguments, which decoded.
		var status, minor uint32 = uint32(nfs4.ErrBadxdr), 0
		if e.Len() >= start+4 {
			status = binary.BigEndian.Uint32(e.Buf[start:])
		}
		if st == oncrpc.Success {
			minor = compoundMinor(call.Args)
		}
		// Until its last operation ended: a clock read saved.
		s.m.CompoundDone(sh, minor, status, clock.last)
		return st
	}
	return oncrpc.ProcUnavail
}

// remoteAddrPort returns the caller's address and port. TCP addresses
// convert without formatting and parsing a string, which every COMPOUND
// would otherwise pay.
func remoteAddrPort(call *oncrpc.Call) netip.AddrPort {
	if call.Conn == nil {
		return netip.AddrPort{}
	}
	a := call.Conn.RemoteAddr()
	if t, ok := a.(*net.TCPAddr); ok {
		ap := t.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// compound runs one COMPOUND (RFC 7530 section 15.2, RFC 8881 section
// 16.2). Operations are decoded and run one at a time, so a COMPOUND never
// allocates per operation up front and processing stops at the first
// failure, as the protocol requires.
//
// When operations are timed, clock times them (observe.go); sh is the
// COMPOUND's metrics shard.
func (s *Server) compound(ctx context.Context, call *oncrpc.Call, e *xdr.Encoder, clock *opClock, sh uint32) oncrpc.AcceptStat {
	d := xdr.NewDecoder(call.Args)
	tag := d.Opaque(nfs4.MaxTagLen)
	minor := d.Uint32()
	numOps := d.Uint32()
	if d.Err() != nil {
		return oncrpc.GarbageArgs
	}
	start := e.Len()
	statusOff := e.Reserve(4)
	e.Opaque(tag)
	if minor > 2 {
		e.PutUint32At(statusOff, uint32(nfs4.ErrMinorVersMismatch))
		e.Uint32(0)
		return oncrpc.Success
	}
	remote := remoteAddrPort(call)
	var dkey drcKey
	useDRC := minor == 0 && call.Conn != nil
	if useDRC {
		dkey = drcKeyOf(remote, call.XID, call.Args)
		if cached := s.drc.get(dkey, time.Now()); cached != nil {
			e.Buf = append(e.Buf[:start], cached...)
			return oncrpc.Success
		}
	}
	cacheReply := false
	countOff := e.Reserve(4)
	if minor == 0 && numOps > maxOps40 {
		// NFSv4.0 has no session to negotiate a limit: refuse absurdly
		// long COMPOUNDs outright (RFC 7530 section 15.2.4), before they
		// can make the reply grow without bound.
		e.PutUint32At(statusOff, uint32(nfs4.ErrResource))
		e.PutUint32At(countOff, 0)
		return oncrpc.Success
	}

	r := &request{
		s:      s,
		call:   call,
		minor:  minor,
		tbl:    s.cfg.Exports.Load(),
		remote: remote.Addr(),
		numOps: numOps,

		replyStart: start,
		shard:      sh,
	}
	r.sctx.Context = ctx
	r.ctx = &r.sctx
	r.setCred(call)
	defer r.finish()

	status := nfs4.OK
	var n uint32
	trace := s.log.IsTrace()
	var opsSeen []string
	if trace {
		defer func() { s.log.Trace("compound", "xid", call.XID, "minor", minor, "ops", opsSeen, "status", status) }()
	}
	for i := uint32(0); i < numOps; i++ {
		if d.Remaining() < 4 {
			// The client promised more operations than it sent.
			status = nfs4.ErrBadxdr
			if n == 0 {
				e.Uint32(nfs4.OpIllegal)
				e.Uint32(uint32(status))
				n++
			}
			break
		}
		op := d.Uint32()
		if useDRC && nonIdempotent(op) {
			cacheReply = true
		}
		if trace {
			opsSeen = append(opsSeen, OpName(op))
		}
		r.opIndex = i
		opStart := e.Len()
		status = r.runOp(op, d, e)
		n++
		if tk := s.cfg.Talkers; tk != nil && talkerOp(op) {
			tk.Record(r.remote, op, int(r.readN+r.writeN))
		}
		if s.timed {
			r.opDone(op, status, clock)
		} else {
			r.readN, r.writeN = 0, 0
		}
		if r.replay != nil {
			// SEQUENCE found a retransmission: the cached reply replaces
			// everything, header included.
			e.Buf = append(e.Buf[:start], r.replay...)
			return oncrpc.Success
		}
		if r.seqOwner != nil {
			r.seqOwner.SeqAdvance(r.seqid, op, status, e.Buf[opStart+4:])
			r.seqOwner.Mu.Unlock()
			r.seqOwner = nil
		}
		if r.session != nil && status == nfs4.OK {
			status = r.checkReplySize(e, start, opStart, op)
		}
		if status == nfs4.OK {
			status = r.afterOp(e, opStart, op)
		}
		if status != nfs4.OK {
			break
		}
	}
	e.PutUint32At(statusOff, uint32(status))
	e.PutUint32At(countOff, n)
	if cacheReply {
		s.drc.put(dkey, e.Buf[start:], time.Now())
	}
	if r.slotHeld {
		cache := uint32(e.Len()-start) <= r.session.Fore.MaxResponseSizeCached
		if r.abortSlot {
			r.session.Abort(r.slotID)
			r.slotHeld = false
		}
		if r.slotHeld {
			r.session.Finish(r.slotID, e.Buf[start:], cache)
			r.slotHeld = false
		}
	}
	return oncrpc.Success
}

// compoundMinor returns the minor version of a COMPOUND's arguments (tag,
// then minor version).
func compoundMinor(args []byte) uint32 {
	d := xdr.NewDecoder(args)
	d.Opaque(nfs4.MaxTagLen)
	return d.Uint32()
}

// checkReplySize enforces the session's reply limits after each operation
// (RFC 8881 section 18.46.3): a reply over ca_maxresponsesize fails with
// NFS4ERR_REP_TOO_BIG, and one the client asked to cache that exceeds
// ca_maxresponsesize_cached with NFS4ERR_REP_TOO_BIG_TO_CACHE. The failing
// operation's result replaces whatever it had encoded.
func (r *request) checkReplySize(e *xdr.Encoder, start, opStart int, op uint32) nfs4.Status {
	size := uint32(e.Len() - start)
	var st nfs4.Status
	switch {
	case size > r.session.Fore.MaxResponseSize:
		st = nfs4.ErrRepTooBig
	case r.cacheThis && size > r.session.Fore.MaxResponseSizeCached:
		st = nfs4.ErrRepTooBigToCache
	default:
		return nfs4.OK
	}
	e.Buf = e.Buf[:opStart]
	e.Uint32(op)
	e.Uint32(uint32(st))
	if op == nfs4.OpSequence {
		// A failed SEQUENCE must leave the slot as it was.
		r.abortSlot = true
	}
	return st
}

// recordClient makes sure a client that is about to hold state is in the
// recovery store: it is written once per client and epoch, before the
// state is granted, so that a crash right after the reply still lets the
// client reclaim.
func (r *request) recordClient(c *nfs4state.Client) nfs4.Status {
	return r.perform(r.s.cfg.State.Record(c))
}

// graceCheck applies the grace rules to a state-creating request of client
// c: reclaims only during grace and only by clients of the reclaim set;
// anything else waits until grace is over (RFC 8881 section 8.4.2.1). An
// admitted request holds its admission until the operation is over.
func (r *request) graceCheck(c *nfs4state.Client, reclaim bool) nfs4.Status {
	g := r.s.cfg.Grace
	if reclaim {
		if _, a := g.Enter([]byte(c.Owner), true); a != grace.Admitted {
			return nfs4.ErrNoGrace
		}
		// Any reclaim by a client of the reclaim set, even one refused
		// below, shows that recovery is still under way: it keeps grace
		// from ending on time while clients are still at it.
		g.Reclaimed([]byte(c.Owner))
		if r.minor > 0 && c.ReclaimCompleted() {
			return nfs4.ErrNoGrace
		}
		return nfs4.OK
	}
	// An NFSv4.0 client has no RECLAIM_COMPLETE and may reclaim at any
	// time during grace, even after a new request was refused (pynfs
	// REBT11): only 4.1 clients can end grace early, as with knfsd.
	return r.enterGrace()
}

// enterGrace admits an operation that creates state without reclaiming
// it, or could conflict with state still to be reclaimed (REMOVE, RENAME,
// a WRITE without an open): NFS4ERR_GRACE during a grace period.
func (r *request) enterGrace() nfs4.Status {
	release, a := r.s.cfg.Grace.Enter(nil, false)
	if a != grace.Admitted {
		return nfs4.ErrGrace
	}
	if r.gateRelease != nil {
		r.gateRelease()
	}
	r.gateRelease = release
	return nfs4.OK
}

// talkerOp reports whether an operation counts for the top talkers: the
// ones that do work, not those that only frame a COMPOUND (SEQUENCE, the
// current-filehandle juggling), which would drown the rest.
func talkerOp(op uint32) bool {
	switch op {
	case nfs4.OpSequence, nfs4.OpPutFH, nfs4.OpPutRootFH, nfs4.OpPutPubFH, nfs4.OpSaveFH, nfs4.OpRestoreFH, nfs4.OpGetFH:
		return false
	}
	return true
}
