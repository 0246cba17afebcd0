package nfsclient

import (
	"context"
	"errors"
	"sync"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
)

// session is an NFSv4.1 session (RFC 8881 section 2.10).
type session struct {
	id    [nfs4.SessionIDSize]byte
	slots *slotTable
	fore  ChannelAttrs
	back  ChannelAttrs
	flags uint32
}

// slotTable is the client's fore-channel slot table (RFC 8881 section
// 2.10.6.1). Each slot carries the sequence ID of the last request the
// server processed on it. A request takes the lowest free slot below the
// current limit, waiting while none is free, so that concurrent requests
// always use distinct slots.
type slotTable struct {
	mu      sync.Mutex
	slots   []slotState
	limit   int           // slots usable now (from sr_target_highest_slotid)
	wake    chan struct{} // closed when a slot is freed or the limit grows
	waiters int
}

type slotState struct {
	seq       uint32 // sequence ID of the last request processed on the slot
	busy      bool
	uncertain bool // the last request got no reply: seq is a guess
}

// slotLease is a slot held by one request.
type slotLease struct {
	id        uint32
	seqid     uint32 // sequence ID to send
	highest   uint32 // sa_highest_slotid
	uncertain bool
}

// Outcomes of a request on a slot.
const (
	slotAdvanced  = iota // SEQUENCE succeeded: the server's slot is at seqid
	slotUnchanged        // SEQUENCE failed or the call was not executed
	slotUncertain        // no reply: assume processed, verify on next use
)

func newSlotTable(n int) *slotTable {
	return &slotTable{slots: make([]slotState, n), limit: n, wake: make(chan struct{})}
}

func (t *slotTable) acquire(ctx context.Context) (slotLease, error) {
	t.mu.Lock()
	for {
		for i := 0; i < t.limit; i++ {
			s := &t.slots[i]
			if s.busy {
				continue
			}
			s.busy = true
			l := slotLease{id: uint32(i), seqid: s.seq + 1, uncertain: s.uncertain}
			// sa_highest_slotid: the highest slot with a request outstanding.
			for j := len(t.slots) - 1; j >= 0; j-- {
				if t.slots[j].busy {
					l.highest = uint32(j)
					break
				}
			}
			t.mu.Unlock()
			return l, nil
		}
		ch := t.wake
		t.waiters++
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			t.mu.Lock()
			t.waiters--
			t.mu.Unlock()
			return slotLease{}, ctx.Err()
		}
		t.mu.Lock()
		t.waiters--
	}
}

func (t *slotTable) release(l slotLease, outcome int) {
	t.mu.Lock()
	s := &t.slots[l.id]
	s.busy = false
	switch outcome {
	case slotAdvanced:
		s.seq, s.uncertain = l.seqid, false
	case slotUnchanged:
		s.seq = l.seqid - 1
		// A slot that was uncertain stays so: the failure says nothing
		// about the request that went unanswered.
	case slotUncertain:
		s.seq, s.uncertain = l.seqid, true
	}
	t.wakeLocked()
	t.mu.Unlock()
}

func (t *slotTable) wakeLocked() {
	if t.waiters > 0 {
		close(t.wake)
		t.wake = make(chan struct{})
	}
}

// setTarget applies sr_target_highest_slotid: the server would like the
// client to use slots 0..target only (RFC 8881 section 18.46.3).
func (t *slotTable) setTarget(target uint32) {
	n := len(t.slots)
	if uint64(target)+1 < uint64(n) {
		n = int(target) + 1
	}
	t.mu.Lock()
	if n != t.limit {
		grow := n > t.limit
		t.limit = n
		if grow {
			t.wakeLocked()
		}
	}
	t.mu.Unlock()
}

// Slot is a fore-channel slot taken with AcquireSlot, for tests that build
// their own SEQUENCE (after Compound.NoSequence).
type Slot struct {
	SessionID     [nfs4.SessionIDSize]byte
	ID            uint32
	SeqID         uint32 // the sequence ID to send: the slot's last one + 1
	HighestSlotID uint32
	t             *slotTable
	lease         slotLease
	done          bool
}

// AcquireSlot takes a free slot of the session, waiting while all are busy.
// The caller must Release it.
func (cl *Client) AcquireSlot(ctx context.Context) (*Slot, error) {
	if cl.sess == nil {
		return nil, errors.New("nfsclient: no session (NFSv4.0 client)")
	}
	l, err := cl.sess.slots.acquire(ctx)
	if err != nil {
		return nil, err
	}
	return &Slot{SessionID: cl.sess.id, ID: l.id, SeqID: l.seqid, HighestSlotID: l.highest, t: cl.sess.slots, lease: l}, nil
}

// Args returns SEQUENCE arguments for the slot.
func (s *Slot) Args(cacheThis bool) SequenceArgs {
	return SequenceArgs{SessionID: s.SessionID, SequenceID: s.SeqID, SlotID: s.ID, HighestSlotID: s.HighestSlotID, CacheThis: cacheThis}
}

// Release returns the slot. advanced says whether the server accepted a
// SEQUENCE with sequence ID s.SeqID on it (the field may be changed first
// to record what was actually sent).
func (s *Slot) Release(advanced bool) {
	if s.done {
		return
	}
	s.done = true
	s.lease.seqid = s.SeqID
	outcome := slotUnchanged
	if advanced {
		outcome = slotAdvanced
	}
	s.t.release(s.lease, outcome)
}

// exec sends c and reads the reply header into rr; for a Compound with an
// automatic SEQUENCE it also takes a slot, fills the SEQUENCE, reads its
// result and settles the slot, leaving rr positioned after it.
func (cl *Client) exec(ctx context.Context, c *Compound, rr *replyReader) error {
	cred := cl.cred
	if c.cred != nil {
		cred = *c.cred
	}
	if c.seqOff < 0 {
		b, err := cl.rpc.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcCompound, cred, c.Bytes())
		if err != nil {
			return err
		}
		return rr.init(b)
	}
	s := cl.sess
	if s == nil {
		return errors.New("nfsclient: automatic SEQUENCE on a client without a session")
	}
	l, err := s.slots.acquire(ctx)
	if err != nil {
		return err
	}
	rewound := false
	delays := 0
	for {
		c.fillSequence(&s.id, l.seqid, l.id, l.highest)
		b, err := cl.rpc.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcCompound, cred, c.Bytes())
		if err != nil {
			var rpcErr *oncrpc.Error
			if errors.As(err, &rpcErr) {
				// An RPC-level rejection: COMPOUND was not executed.
				s.slots.release(l, slotUnchanged)
			} else {
				s.slots.release(l, slotUncertain)
			}
			return err
		}
		if err := rr.init(b); err != nil {
			s.slots.release(l, slotUncertain)
			return err
		}
		rr.autoSeq = true
		if rr.n == 0 {
			// Nothing executed (e.g. NFS4ERR_MINOR_VERS_MISMATCH).
			s.slots.release(l, slotUnchanged)
			return nil
		}
		op, st, err := rr.next()
		if err != nil {
			s.slots.release(l, slotUncertain)
			return err
		}
		if op != nfs4.OpSequence {
			s.slots.release(l, slotUncertain)
			return &DecodeError{Index: 0, Op: op, Err: protoErr("first result is %s, not SEQUENCE", OpName(op))}
		}
		rr.hasSeq, rr.seqStatus = true, st
		if st == nfs4.OK {
			decodeSequenceRes(&rr.d, &rr.seq)
			if err := rr.fail(op); err != nil {
				s.slots.release(l, slotUncertain)
				return err
			}
			if rr.seq.SessionID != s.id || rr.seq.SlotID != l.id || rr.seq.SequenceID != l.seqid {
				s.slots.release(l, slotUncertain)
				return &DecodeError{Index: 0, Op: op, Err: protoErr("SEQUENCE result for slot %d seqid %d, sent slot %d seqid %d",
					rr.seq.SlotID, rr.seq.SequenceID, l.id, l.seqid)}
			}
			s.slots.release(l, slotAdvanced)
			s.slots.setTarget(rr.seq.TargetHighestSlotID)
			cl.seqFlags.Store(rr.seq.StatusFlags)
			cl.lastRenew.Store(time.Now().UnixNano())
			return nil
		}
		// A failed SEQUENCE leaves the slot as it was (RFC 8881 section
		// 18.46.3). After a request that got no reply the slot's sequence
		// ID is a guess: if the server never processed that request it
		// answers the next one with NFS4ERR_SEQ_MISORDERED, and the
		// request is sent again with the lost one's sequence ID; if it is
		// still processing it, NFS4ERR_DELAY.
		if l.uncertain && st == nfs4.ErrSeqMisordered && !rewound {
			rewound = true
			l.seqid--
			continue
		}
		if l.uncertain && st == nfs4.ErrDelay && delays < 20 {
			delays++
			if err := sleepCtx(ctx, time.Duration(delays)*20*time.Millisecond); err != nil {
				s.slots.release(l, slotUnchanged)
				return err
			}
			continue
		}
		s.slots.release(l, slotUnchanged)
		return nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fore-channel defaults: 1 MiB of payload plus room for the headers
// (RFC 8881 section 18.36.3 counts the RPC header in ca_maxrequestsize).
const (
	defaultMaxRequest  = 1<<20 + 16<<10
	defaultSlots       = 64
	defaultCBProgram   = 0x40000000
	defaultMaxOpsFore  = 128
	defaultBackSlots   = 4
	defaultBackMaxSize = 64 << 10
)

func defaultForeAttrs() ChannelAttrs {
	return ChannelAttrs{
		MaxRequestSize:        defaultMaxRequest,
		MaxResponseSize:       defaultMaxRequest,
		MaxResponseSizeCached: 64 << 10,
		MaxOperations:         defaultMaxOpsFore,
		MaxRequests:           defaultSlots,
	}
}

func defaultBackAttrs() ChannelAttrs {
	return ChannelAttrs{
		MaxRequestSize:        defaultBackMaxSize,
		MaxResponseSize:       defaultBackMaxSize,
		MaxResponseSizeCached: defaultBackMaxSize,
		MaxOperations:         16,
		MaxRequests:           defaultBackSlots,
	}
}

// setup41 establishes the client ID and session: EXCHANGE_ID,
// CREATE_SESSION (with the back channel on this connection) and
// RECLAIM_COMPLETE (RFC 8881 sections 18.35, 18.36, 18.51).
func (cl *Client) setup41(ctx context.Context) error {
	var eid *ExchangeIDRes
	err := cl.retry(ctx, func() error {
		c := NewCompound(cl.minor, "")
		c.ExchangeID(ExchangeIDArgs{
			Verifier:     cl.verifier,
			OwnerID:      cl.ownerID,
			StateProtect: nfs4.SP4None,
			ImplID:       &ImplID{Domain: "nfsgw", Name: "nfsgw nfsclient"},
		})
		r, err := cl.Do(ctx, c)
		if err != nil {
			return err
		}
		if err := r.Err(); err != nil {
			return err
		}
		eid = r.Ops[0].Res.(*ExchangeIDRes)
		return nil
	})
	if err != nil {
		return err
	}
	cl.clientID = eid.ClientID
	cl.eid = eid

	fore, back := defaultForeAttrs(), defaultBackAttrs()
	if cl.opts.ForeChannel != nil {
		fore = *cl.opts.ForeChannel
	}
	if cl.opts.BackChannel != nil {
		back = *cl.opts.BackChannel
	}
	var cs *CreateSessionRes
	err = cl.retry(ctx, func() error {
		c := NewCompound(cl.minor, "")
		c.CreateSession(CreateSessionArgs{
			ClientID:  eid.ClientID,
			Sequence:  eid.SequenceID,
			Flags:     nfs4.CreateSessionFlagConnBackChan,
			Fore:      fore,
			Back:      back,
			CBProgram: cl.cbProgram,
			SecParms:  []CBSecParms{{Flavor: nfs4.AuthNone}},
		})
		r, err := cl.Do(ctx, c)
		if err != nil {
			return err
		}
		if err := r.Err(); err != nil {
			return err
		}
		cs = r.Ops[0].Res.(*CreateSessionRes)
		return nil
	})
	if err != nil {
		return err
	}
	n := int(cs.Fore.MaxRequests)
	if n > int(fore.MaxRequests) {
		n = int(fore.MaxRequests)
	}
	if n < 1 {
		return &DecodeError{Index: 0, Op: nfs4.OpCreateSession, Err: protoErr("session with %d fore-channel slots", cs.Fore.MaxRequests)}
	}
	cl.cb.setSession(cs.SessionID, cs.Back.MaxRequests)
	cl.sess = &session{id: cs.SessionID, slots: newSlotTable(n), fore: cs.Fore, back: cs.Back, flags: cs.Flags}

	if !cl.opts.NoReclaimComplete {
		_, err := cl.simple(ctx, func(c *Compound) { c.ReclaimComplete(false) })
		if err != nil && StatusOf(err) != nfs4.ErrCompleteAlready {
			return err
		}
	}
	return nil
}

// SessionID returns the session's ID (zero for an NFSv4.0 client).
func (cl *Client) SessionID() [nfs4.SessionIDSize]byte {
	if cl.sess == nil {
		return [nfs4.SessionIDSize]byte{}
	}
	return cl.sess.id
}

// ForeChannel returns the fore-channel attributes the server granted.
func (cl *Client) ForeChannel() ChannelAttrs {
	if cl.sess == nil {
		return ChannelAttrs{}
	}
	return cl.sess.fore
}

// BackChannel returns the back-channel attributes the server granted.
func (cl *Client) BackChannel() ChannelAttrs {
	if cl.sess == nil {
		return ChannelAttrs{}
	}
	return cl.sess.back
}

// SeqStatusFlags returns sr_status_flags of the last successful SEQUENCE.
func (cl *Client) SeqStatusFlags() uint32 { return cl.seqFlags.Load() }
