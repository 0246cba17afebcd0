package compound

import (
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/xdr"
)

func opSetClientID(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	var verf [8]byte
	copy(verf[:], d.Fixed(8))
	owner := d.Opaque(nfs4.OpaqueLimit)
	var cb nfs4state.CallbackInfo
	cb.Program = d.Uint32()
	cb.NetID = d.String(64)
	cb.Addr = d.String(128)
	cb.Ident = d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	c, st := r.s.cfg.State.SetClientID(string(owner), verf, r.principalName(), cb, r.remote.String())
	if st == nfs4.ErrClidInuse {
		e.String(c.Callback.NetID)
		e.String(c.Callback.Addr)
		return st
	}
	if st != nfs4.OK {
		return st
	}
	e.Uint64(c.ID)
	e.Fixed(c.Confirm[:])
	return nfs4.OK
}

func opSetClientIDConfirm(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := d.Uint64()
	var confirm [8]byte
	copy(confirm[:], d.Fixed(8))
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	st := r.result(r.s.cfg.State.SetClientIDConfirm(id, confirm, r.principalName()))
	if st == nfs4.OK {
		r.probeCallback40(id)
	}
	return st
}

func opRenew(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := d.Uint64()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	c, st := r.clientFor40(id)
	if st != nfs4.OK {
		return st
	}
	if c.HoldsDelegations() && callbackPath40(c) == nil {
		// The lease is renewed, but delegations cannot be recalled
		// (RFC 7530 section 16.29.4): the client should return them.
		return nfs4.ErrCbPathDown
	}
	return nfs4.OK
}

func opReleaseLockOwner(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := d.Uint64()
	owner := d.Opaque(nfs4.OpaqueLimit)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	c, st := r.clientFor40(id)
	if st != nfs4.OK {
		return st
	}
	return r.s.cfg.State.ReleaseLockOwner(c, string(owner))
}

// Limits negotiated in CREATE_SESSION.
const (
	maxSlots        = 64
	maxOpsPerComp   = 64
	maxCachedReply  = 64 << 10
	sessionOverhead = 16 << 10
	// minBackChannelMsg is the smallest back channel message size that
	// can carry a CB_SEQUENCE and a CB_RECALL.
	minBackChannelMsg = 256
)

func opExchangeID(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	var verf [8]byte
	copy(verf[:], d.Fixed(8))
	owner := d.Opaque(nfs4.OpaqueLimit)
	flags := d.Uint32()
	how := d.Uint32()
	switch how {
	case nfs4.SP4None:
	case nfs4.SP4MachCred:
		nfs4.DecodeBitmap(d)
		nfs4.DecodeBitmap(d)
	case nfs4.SP4SSV:
		return nfs4.ErrEncrAlgUnsupp
	default:
		return nfs4.ErrInval
	}
	if n := d.Count(1, 4); n == 1 {
		d.String(nfs4.OpaqueLimit)
		d.String(nfs4.OpaqueLimit)
		nfs4.DecodeTime(d)
	}
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	const known = nfs4.ExchgidFlagSuppMovedRefer | nfs4.ExchgidFlagSuppMovedMigr |
		nfs4.ExchgidFlagBindPrincStateid | nfs4.ExchgidFlagMaskPNFS | nfs4.ExchgidFlagUpdConfirmedRecA
	if flags&^known != 0 || flags&nfs4.ExchgidFlagConfirmedR != 0 {
		return nfs4.ErrInval
	}
	res, st, fx := r.s.cfg.State.ExchangeID(string(owner), verf, r.principalName(),
		flags&nfs4.ExchgidFlagUpdConfirmedRecA != 0, r.remote.String())
	if st = r.result(st, fx); st != nfs4.OK {
		return st
	}
	if !res.Confirmed {
		// A new record speaks the minor version it was created with;
		// callbacks use it too.
		res.Client.Minor = r.minor
	}
	e.Uint64(res.Client.ID)
	e.Uint32(res.Sequence)
	rflags := uint32(nfs4.ExchgidFlagUseNonPNFS)
	if res.Confirmed {
		rflags |= nfs4.ExchgidFlagConfirmedR
	}
	e.Uint32(rflags)
	e.Uint32(nfs4.SP4None)
	e.Uint64(0) // server_owner4.so_minor_id
	e.String(r.s.cfg.ServerOwner)
	e.String(r.s.cfg.ServerScope)
	e.Uint32(1) // one nfs_impl_id4
	e.String("nfsgw.org")
	e.String("nfsgw")
	e.Int64(r.s.cfg.Boot.Unix())
	e.Uint32(0)
	return nfs4.OK
}

func decodeChannelAttrs(d *xdr.Decoder) nfs4state.ChannelAttrs {
	var c nfs4state.ChannelAttrs
	c.HeaderPad = d.Uint32()
	c.MaxRequestSize = d.Uint32()
	c.MaxResponseSize = d.Uint32()
	c.MaxResponseSizeCached = d.Uint32()
	c.MaxOperations = d.Uint32()
	c.MaxRequests = d.Uint32()
	if n := d.Count(1, 4); n == 1 {
		d.Uint32()
	}
	return c
}

func encodeChannelAttrs(e *xdr.Encoder, c nfs4state.ChannelAttrs) {
	e.Uint32(c.HeaderPad)
	e.Uint32(c.MaxRequestSize)
	e.Uint32(c.MaxResponseSize)
	e.Uint32(c.MaxResponseSizeCached)
	e.Uint32(c.MaxOperations)
	e.Uint32(c.MaxRequests)
	e.Uint32(0)
}

func minU32(a, b uint32) uint32 {
	if a < b {
		return a
	}
	return b
}

func opCreateSession(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	bodyStart := e.Len()
	id := d.Uint64()
	seq := d.Uint32()
	flags := d.Uint32()
	fore := decodeChannelAttrs(d)
	back := decodeChannelAttrs(d)
	cbProg := d.Uint32()
	cbFlavor, cbBody, _ := decodeCallbackSecCred(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	maxMsg := r.s.maxIO + sessionOverhead
	fore.HeaderPad = 0
	fore.MaxRequestSize = minU32(fore.MaxRequestSize, maxMsg)
	fore.MaxResponseSize = minU32(fore.MaxResponseSize, maxMsg)
	fore.MaxResponseSizeCached = minU32(fore.MaxResponseSizeCached, maxCachedReply)
	fore.MaxOperations = minU32(fore.MaxOperations, maxOpsPerComp)
	fore.MaxRequests = minU32(fore.MaxRequests, maxSlots)
	if fore.MaxRequests == 0 || fore.MaxOperations == 0 || fore.MaxRequestSize < 256 || fore.MaxResponseSize < 256 {
		return nfs4.ErrToosmall
	}
	if back.MaxRequestSize < minBackChannelMsg || back.MaxResponseSize < minBackChannelMsg || back.MaxRequests == 0 {
		// Too small to carry a CB_RECALL (RFC 8881 section 18.36.3).
		return nfs4.ErrToosmall
	}
	if flags&^(nfs4.CreateSessionFlagPersist|nfs4.CreateSessionFlagConnBackChan|nfs4.CreateSessionFlagConnRDMA) != 0 {
		return nfs4.ErrInval
	}
	back.HeaderPad = 0
	back.MaxRequests = minU32(back.MaxRequests, 16)
	back.MaxOperations = minU32(back.MaxOperations, 8)
	back.MaxRequestSize = minU32(back.MaxRequestSize, 64<<10)
	back.MaxResponseSize = minU32(back.MaxResponseSize, 64<<10)
	back.MaxResponseSizeCached = 0
	flags &= nfs4.CreateSessionFlagConnBackChan // no persistence, no RDMA
	s, replay, st, fx := r.s.cfg.State.CreateSession(id, seq, r.principalName(), fore, back, flags, cbProg)
	if st = r.result(st, fx); st != nfs4.OK {
		return st
	}
	if replay != nil {
		// The replay answers this operation only: what precedes it in
		// this COMPOUND is the client's business (RFC 8881 section 18.36.4).
		e.Buf = append(e.Buf, replay...)
		return nfs4.OK
	}
	s.SetCallback(cbProg, cbFlavor, cbBody)
	if r.call.Conn != nil {
		s.BindConn(r.call.Conn.ID(), flags&nfs4.CreateSessionFlagConnBackChan != 0, r.call.Conn)
	}
	e.Fixed(s.ID[:])
	e.Uint32(seq)
	e.Uint32(flags)
	encodeChannelAttrs(e, s.Fore)
	encodeChannelAttrs(e, s.Back)
	s.Client.SetCreateSessionReply(seq, append([]byte(nil), e.Buf[bodyStart:]...))
	return nfs4.OK
}

func decodeSessionID(d *xdr.Decoder) nfs4state.SessionID {
	var id nfs4state.SessionID
	copy(id[:], d.Fixed(nfs4.SessionIDSize))
	return id
}

func opDestroySession(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := decodeSessionID(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	return r.s.cfg.State.DestroySession(id)
}

func opBindConnToSession(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := decodeSessionID(d)
	dir := d.Uint32()
	d.Bool()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s, st := r.s.cfg.State.Session(id)
	if st != nfs4.OK {
		return st
	}
	var res uint32
	switch dir {
	case nfs4.CDFC4Fore:
		res = nfs4.CDFS4Fore
	case nfs4.CDFC4Back:
		res = nfs4.CDFS4Back
	case nfs4.CDFC4ForeOrBoth, nfs4.CDFC4BackOrBoth:
		res = nfs4.CDFS4Both
	default:
		return nfs4.ErrInval
	}
	if r.call.Conn != nil {
		s.BindConn(r.call.Conn.ID(), res&nfs4.CDFS4Back != 0, r.call.Conn)
	}
	e.Fixed(s.ID[:])
	e.Uint32(res)
	e.Bool(false)
	return nfs4.OK
}

func opBackchannelCtl(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	prog := d.Uint32()
	flavor, body, _ := decodeCallbackSecCred(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if r.session != nil {
		r.session.SetCallback(prog, flavor, body)
	}
	return nfs4.OK
}

func opSequence(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := decodeSessionID(d)
	seqid := d.Uint32()
	slotID := d.Uint32()
	highest := d.Uint32()
	cacheThis := d.Bool()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s, st := r.s.cfg.State.Session(id)
	if st != nfs4.OK {
		return st
	}
	if r.numOps > s.Fore.MaxOperations {
		return nfs4.ErrTooManyOps
	}
	if uint32(len(r.call.Args)) > s.Fore.MaxRequestSize {
		return nfs4.ErrReqTooBig
	}
	if highest >= uint32(s.SlotCount()) && slotID < uint32(s.SlotCount()) {
		return nfs4.ErrBadHighSlot
	}
	res, st := s.Sequence(slotID, seqid)
	if st != nfs4.OK {
		return st
	}
	if res.Replay != nil {
		r.replay = append([]byte(nil), res.Replay...)
		return nfs4.OK
	}
	r.session, r.slotID, r.slotHeld, r.cacheThis = s, slotID, true, cacheThis
	r.client = s.Client
	r.client.Begin()
	e.Fixed(id[:])
	e.Uint32(seqid)
	e.Uint32(slotID)
	e.Uint32(res.HighestSlot)
	e.Uint32(res.HighestSlot)
	e.Uint32(r.seqStatusFlags(s))
	return nfs4.OK
}

func opReclaimComplete(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	oneFS := d.Bool()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if oneFS {
		// Per-filesystem reclaim completion carries no information for
		// us: grace is server-wide.
		return nfs4.OK
	}
	c := r.session.Client
	if c.ReclaimCompleted() {
		return nfs4.ErrCompleteAlready
	}
	// A 4.1 client goes into the recovery store when it finishes
	// reclaiming, state or not (as knfsd does): after a restart, grace
	// then waits for every client that was up before it (a client with
	// nothing to reclaim just sends RECLAIM_COMPLETE again).
	if st := r.recordClient(c); st != nfs4.OK {
		return st
	}
	if st := c.ReclaimComplete(); st != nfs4.OK {
		return st
	}
	r.s.cfg.Grace.ReclaimDone([]byte(c.Owner))
	return nfs4.OK
}

func opDestroyClientID(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	id := d.Uint64()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if r.session != nil && r.session.Client.ID == id {
		return nfs4.ErrClientidBusy
	}
	return r.result(r.s.cfg.State.DestroyClientID(id))
}

func opTestStateid(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	n := d.Count(1024, 16)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	e.Uint32(uint32(n))
	for i := 0; i < n; i++ {
		sid := nfs4.DecodeStateid(d)
		e.Uint32(uint32(r.s.cfg.State.TestStateid(r.session.Client, sid)))
	}
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	return nfs4.OK
}

func opFreeStateid(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	sid, st := r.resolveStateid(sid)
	if st != nfs4.OK {
		return st
	}
	return r.s.cfg.State.FreeStateid(r.session.Client, sid)
}
