package nfsclient

import (
	"context"
	"sync"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// Callback operation numbers (RFC 8881 section 20).
const (
	CBOpGetattr            = 3
	CBOpRecall             = 4
	CBOpLayoutRecall       = 5
	CBOpNotify             = 6
	CBOpPushDeleg          = 7
	CBOpRecallAny          = 8
	CBOpRecallableObjAvail = 9
	CBOpRecallSlot         = 10
	CBOpSequence           = 11
	CBOpWantsCancelled     = 12
	CBOpNotifyLock         = 13
	CBOpNotifyDeviceID     = 14
	CBOpOffload            = 15
	CBOpIllegal            = 10044
)

// Recall is a CB_RECALL the server sent: return the delegation Stateid on
// file FH (RFC 8881 section 20.2).
type Recall struct {
	Stateid  nfs4.Stateid
	Truncate bool
	FH       []byte
}

// cbServer answers the server's calls on the back channel: CB_NULL and
// CB_COMPOUND with CB_SEQUENCE, CB_RECALL and a few notifications. It keeps
// the back channel's slot table, with a reply cache of one reply per slot
// (RFC 8881 section 2.10.6.1.3).
type cbServer struct {
	cl *Client

	mu    sync.Mutex
	sid   [nfs4.SessionIDSize]byte
	ready bool
	slots []cbSlot
}

type cbSlot struct {
	seq   uint32
	busy  bool
	reply []byte // last CB_COMPOUND4res sent on the slot
}

func (s *cbServer) setSession(id [nfs4.SessionIDSize]byte, nslots uint32) {
	if nslots == 0 {
		nslots = 1
	}
	if nslots > 64 {
		nslots = 64
	}
	s.mu.Lock()
	s.sid, s.ready = id, true
	s.slots = make([]cbSlot, nslots)
	s.mu.Unlock()
}

// HandleCall implements oncrpc.Handler for the callback program.
func (s *cbServer) HandleCall(ctx context.Context, call *oncrpc.Call, e *xdr.Encoder) oncrpc.AcceptStat {
	if call.Prog != s.cl.cbProgram {
		return oncrpc.ProgUnavail
	}
	if call.Vers != nfs4.CallbackVersion {
		return oncrpc.ProgMismatch
	}
	switch call.Proc {
	case 0: // CB_NULL
		return oncrpc.Success
	case 1: // CB_COMPOUND
		return s.compound(call.Args, e)
	}
	return oncrpc.ProcUnavail
}

func (s *cbServer) compound(args []byte, e *xdr.Encoder) oncrpc.AcceptStat {
	d := xdr.NewDecoder(args)
	tag := d.Opaque(nfs4.MaxTagLen)
	minor := d.Uint32()
	d.Uint32() // callback_ident (NFSv4.0 only)
	n := d.Count(nfs4.MaxOpsPerCompound, 4)
	if d.Err() != nil {
		return oncrpc.GarbageArgs
	}
	start := e.Len()
	statusOff := e.Reserve(4)
	e.Opaque(tag)
	countOff := e.Reserve(4)
	status, count := nfs4.OK, 0
	var slot *cbSlot
	var slotSeq uint32

	if minor != s.cl.minor {
		status = nfs4.ErrMinorVersMismatch
	}
	for i := 0; i < n && status == nfs4.OK; i++ {
		op := d.Uint32()
		if d.Err() != nil {
			status = nfs4.ErrBadxdr
			break
		}
		resOp := op
		var st nfs4.Status
		switch {
		case op == CBOpSequence && i != 0:
			st = nfs4.ErrSequencePos
		case op == CBOpSequence:
			var replay []byte
			var res SequenceRes
			st, slot, slotSeq, replay = s.sequence(d, &res)
			if replay != nil {
				// A retransmission: send the cached reply (RFC 8881 section 2.10.6.1.3).
				e.Buf = append(e.Buf[:start], replay...)
				return oncrpc.Success
			}
			e.Uint32(op)
			e.Uint32(uint32(st))
			if st == nfs4.OK {
				e.Fixed(res.SessionID[:])
				e.Uint32(res.SequenceID)
				e.Uint32(res.SlotID)
				e.Uint32(res.HighestSlotID)
				e.Uint32(res.TargetHighestSlotID)
			}
			count++
			status = st
			if s.cl.opts.OnCallback != nil {
				s.cl.opts.OnCallback(op)
			}
			continue
		case i == 0 && s.cl.minor > 0:
			// NFSv4.1 callbacks must start with CB_SEQUENCE (RFC 8881 section 20.9.3).
			st = nfs4.ErrOpNotInSession
			if !knownCBOp(op) {
				resOp, st = CBOpIllegal, nfs4.ErrOpIllegal
			}
		default:
			resOp, st = s.operation(op, d)
		}
		if d.Err() != nil {
			st = nfs4.ErrBadxdr
		}
		e.Uint32(resOp)
		e.Uint32(uint32(st))
		if resOp == CBOpGetattr && st == nfs4.OK {
			// A write-through client has no modified attributes to report:
			// an empty fattr4.
			e.Uint32(0)
			e.Uint32(0)
		}
		count++
		status = st
		if s.cl.opts.OnCallback != nil {
			s.cl.opts.OnCallback(op)
		}
	}
	e.PutUint32At(statusOff, uint32(status))
	e.PutUint32At(countOff, uint32(count))
	if slot != nil {
		s.mu.Lock()
		slot.busy = false
		slot.seq = slotSeq
		// Cache every reply, whatever csa_cachethis says: one per slot is
		// cheap, and a retransmission then always gets the real reply.
		slot.reply = append(slot.reply[:0], e.Buf[start:]...)
		s.mu.Unlock()
	}
	return oncrpc.Success
}

func knownCBOp(op uint32) bool { return op >= CBOpGetattr && op <= CBOpOffload }

// sequence processes CB_SEQUENCE's arguments. On success it returns the
// slot, now busy, and the sequence ID to record once the reply is built;
// for a retransmission of the slot's last request it returns that
// request's cached reply instead.
func (s *cbServer) sequence(d *xdr.Decoder, res *SequenceRes) (st nfs4.Status, slot *cbSlot, seq uint32, replay []byte) {
	var sid [nfs4.SessionIDSize]byte
	copy(sid[:], d.Fixed(nfs4.SessionIDSize))
	seq = d.Uint32()
	slotID := d.Uint32()
	d.Uint32()               // csa_highest_slotid
	d.Bool()                 // csa_cachethis: every reply is cached anyway
	lists := d.Count(64, 20) // referring_call_list4<>
	for i := 0; i < lists && d.Err() == nil; i++ {
		d.Fixed(nfs4.SessionIDSize)
		calls := d.Count(1024, 8)
		for j := 0; j < calls; j++ {
			d.Uint32()
			d.Uint32()
		}
	}
	if d.Err() != nil {
		return nfs4.ErrBadxdr, nil, 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.ready || sid != s.sid:
		return nfs4.ErrBadsession, nil, 0, nil
	case uint64(slotID) >= uint64(len(s.slots)):
		return nfs4.ErrBadslot, nil, 0, nil
	}
	sl := &s.slots[slotID]
	switch {
	case sl.busy:
		return nfs4.ErrDelay, nil, 0, nil
	case seq == sl.seq && seq != 0:
		if len(sl.reply) == 0 {
			return nfs4.ErrRetryUncachedRep, nil, 0, nil
		}
		return nfs4.OK, nil, 0, append([]byte(nil), sl.reply...)
	case seq != sl.seq+1:
		return nfs4.ErrSeqMisordered, nil, 0, nil
	}
	sl.busy = true
	high := uint32(len(s.slots) - 1)
	*res = SequenceRes{SessionID: sid, SequenceID: seq, SlotID: slotID, HighestSlotID: high, TargetHighestSlotID: high}
	return nfs4.OK, sl, seq, nil
}

// operation decodes and performs one callback operation other than
// CB_SEQUENCE, returning the result's opcode and status.
func (s *cbServer) operation(op uint32, d *xdr.Decoder) (uint32, nfs4.Status) {
	switch op {
	case CBOpGetattr:
		d.Opaque(nfs4.FHSize)
		decodeBitmap(d)
		return op, nfs4.OK
	case CBOpRecall:
		r := Recall{Stateid: nfs4.DecodeStateid(d), Truncate: d.Bool()}
		fh := d.Opaque(nfs4.FHSize)
		if d.Err() != nil {
			return op, nfs4.ErrBadxdr
		}
		r.FH = append([]byte(nil), fh...)
		s.cl.recalled(r)
		return op, nfs4.OK
	case CBOpRecallAny, CBOpRecallableObjAvail:
		d.Uint32()
		decodeBitmap(d)
		return op, nfs4.OK
	case CBOpRecallSlot:
		d.Uint32()
		return op, nfs4.OK
	case CBOpWantsCancelled:
		d.Bool()
		d.Bool()
		return op, nfs4.OK
	case CBOpNotifyLock:
		d.Opaque(nfs4.FHSize)
		decodeStateOwner(d)
		return op, nfs4.OK
	case CBOpLayoutRecall:
		// This client never holds layouts.
		return op, nfs4.ErrNomatchingLayout
	case CBOpPushDeleg:
		return op, nfs4.ErrRejectDeleg
	case CBOpNotify, CBOpNotifyDeviceID, CBOpOffload:
		return op, nfs4.ErrNotsupp
	}
	return CBOpIllegal, nfs4.ErrOpIllegal
}

// recalled handles a CB_RECALL: the user's hook if set, else DELEGRETURN.
// Either runs in its own goroutine: CB_RECALL is answered at once, and the
// delegation is returned over the fore channel afterwards.
func (cl *Client) recalled(r Recall) {
	if h := cl.opts.OnRecall; h != nil {
		go h(r)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl.ReturnDelegation(ctx, r.FH, r.Stateid)
	}()
}
