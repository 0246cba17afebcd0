package compound

import (
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// OPEN4_SHARE_ACCESS_WANT_* delegation wishes (RFC 8881 section 18.16.3).
const (
	shareWantReadDeleg  = 0x0100
	shareWantWriteDeleg = 0x0200
	shareWantAnyDeleg   = 0x0300

	// OPEN4_SHARE_ACCESS_WANT_SIGNAL_DELEG_WHEN_RESRC_AVAIL and
	// _PUSH_DELEG_WHEN_UNCONTENDED (RFC 8881 section 18.16.3).
	shareWantHints41 = 0x30000
	// OPEN4_SHARE_ACCESS_WANT_DELEG_TIMESTAMPS (RFC 9754).
	shareWantDelegTimestamps = 0x100000
)

// ACE4 constants of the delegation's nfsace4.
const (
	ace4AccessAllowed = 0
	ace4ReadData      = 0x00000001
	ace4ReadAttrs     = 0x00000080
	ace4ReadACL       = 0x00020000
	ace4Synchronize   = 0x00100000
	ace4Execute       = 0x00000020
	ace4WriteData     = 0x00000002
	ace4AppendData    = 0x00000004
	ace4WriteAttrs    = 0x00000100

	nfsLimitSize = 1 // limit_by4 NFS_LIMIT_SIZE
)

// encodeOpenDeleg decides on and encodes the open_delegation4 of a
// successful OPEN (claim NULL or FH, or a 4.0 CLAIM_NULL): a read
// delegation when the client asked for one or left it to us, the access
// is read-only, its session has a back channel and nothing conflicts; a
// write delegation only when a 4.1 client asks for one
// (OPEN4_SHARE_ACCESS_WANT_WRITE_DELEG, or WANT_ANY_DELEG with write
// access), since its holder keeps writes and attributes to itself until
// it is recalled.
func (r *request) encodeOpenDeleg(e *xdr.Encoder, c *nfs4state.Client, owner *nfs4state.OpenOwner, ref fileRef, access, deny, want uint32, claim uint32, change uint64) {
	noneExt := func(why uint32) {
		if r.minor == 0 || want == 0 {
			e.Uint32(nfs4.DelegNone)
			return
		}
		e.Uint32(nfs4.DelegNoneExt)
		e.Uint32(why)
		if why == nfs4.WNDTContention || why == nfs4.WNDTResource {
			e.Bool(false) // ond_server_will_push_deleg / _signal_avail
		}
	}
	switch want {
	case shareWantNoDeleg, shareWantCancel:
		noneExt(nfs4.WNDTNotWanted)
		return
	}
	if claim != nfs4.ClaimNull && claim != nfs4.ClaimFH {
		noneExt(nfs4.WNDTNotWanted)
		return
	}
	wantWrite := r.minor > 0 && access&nfs4.ShareAccessWrite != 0 &&
		(want == shareWantWriteDeleg || want == shareWantAnyDeleg)
	if !ref.exp.Delegations || (access != nfs4.ShareAccessRead && !wantWrite) || want == shareWantWriteDeleg && !wantWrite {
		why := uint32(nfs4.WNDTResource)
		if want == shareWantWriteDeleg {
			why = nfs4.WNDTContention
		}
		noneExt(why)
		return
	}
	if r.minor == 0 {
		// A verified callback path, and (as knfsd) a confirmed owner.
		if callbackPath40(c) == nil || !owner.Confirmed() {
			noneExt(nfs4.WNDTResource)
			return
		}
	} else if s, _ := r.s.cfg.State.BackChannel(c, r.session, connAlive); s == nil {
		noneExt(nfs4.WNDTResource)
		return
	}
	sid, why, ok := r.grantDeleg(c, ref, wantWrite)
	if !ok {
		noneExt(why)
		return
	}
	if wantWrite {
		r.s.cfg.State.SetDelegChange(sid, change)
		encodeWriteDeleg(e, sid, false)
		return
	}
	encodeReadDeleg(e, sid, false)
}

// grantDeleg grants client c a delegation on ref if the state model
// allows it and, on a backend that backs delegations, the backend grants
// one too (backdeleg.go); a backend refusal is WND4_CONTENTION.
func (r *request) grantDeleg(c *nfs4state.Client, ref fileRef, write bool) (nfs4.Stateid, uint32, bool) {
	sm := r.s.cfg.State
	key := string(ref.raw)
	if why, ok := sm.CanGrantDeleg(c, key, write); !ok {
		return nfs4.Stateid{}, why, false
	}
	b, ok := r.backendDelegation(ref, write)
	if !ok {
		return nfs4.Stateid{}, nfs4.WNDTContention, false
	}
	if b == nil {
		return sm.GrantDeleg(c, key, key, write)
	}
	sid, s, why, ok := sm.GrantBackedDeleg(c, key, key, write, b)
	if !ok {
		b.Close()
		return nfs4.Stateid{}, why, false
	}
	b.attach(s)
	return sid, 0, true
}

// encodeWriteDeleg encodes open_write_delegation4. The space limit is
// zero: the server promises no space, so the client flushes on close as
// without a delegation (RFC 8881 section 10.4.1).
func encodeWriteDeleg(e *xdr.Encoder, sid nfs4.Stateid, recall bool) {
	e.Uint32(nfs4.DelegWrite)
	sid.Encode(e)
	e.Bool(recall)
	e.Uint32(nfsLimitSize)
	e.Uint64(0)
	e.Uint32(ace4AccessAllowed)
	e.Uint32(0)
	e.Uint32(ace4ReadData | ace4WriteData | ace4AppendData | ace4ReadAttrs | ace4WriteAttrs | ace4ReadACL | ace4Synchronize | ace4Execute)
	e.String("EVERYONE@")
}

// encodeReadDeleg encodes open_read_delegation4.
func encodeReadDeleg(e *xdr.Encoder, sid nfs4.Stateid, recall bool) {
	e.Uint32(nfs4.DelegRead)
	sid.Encode(e)
	e.Bool(recall)
	e.Uint32(ace4AccessAllowed)
	e.Uint32(0)
	e.Uint32(ace4ReadData | ace4ReadAttrs | ace4ReadACL | ace4Synchronize | ace4Execute)
	e.String("EVERYONE@")
}

// encodeReclaimedDeleg answers the reclaim (CLAIM_PREVIOUS) of an open
// that held a read delegation before the restart: the delegation is
// granted again (RFC 7530 section 16.16.5, RFC 8881 section 18.16.3),
// whatever the export's policy or the callback path, since the client held
// it and nothing new can conflict during grace. When the callback path is
// not known to work (a 4.0 client's probe may still be running) the recall
// flag asks the client to return it at once. Only another client's reclaim
// that conflicts with it (an open for write) makes it none. Write
// delegations are reclaimed the same way (4.1 clients only get them).
func (r *request) encodeReclaimedDeleg(e *xdr.Encoder, c *nfs4state.Client, ref fileRef, write bool, change uint64) {
	sid, _, ok := r.grantDeleg(c, ref, write)
	if !ok {
		e.Uint32(nfs4.DelegNone)
		return
	}
	recall := false
	if r.minor == 0 {
		recall = callbackPath40(c) == nil
	} else if s, _ := r.s.cfg.State.BackChannel(c, r.session, connAlive); s == nil {
		recall = true
	}
	if write {
		r.s.cfg.State.SetDelegChange(sid, change)
		encodeWriteDeleg(e, sid, recall)
		return
	}
	encodeReadDeleg(e, sid, recall)
}

func connAlive(raw any) bool {
	conn, ok := raw.(*oncrpc.Conn)
	if !ok || conn == nil {
		return false
	}
	select {
	case <-conn.Done():
		return false
	default:
		return true
	}
}

// delegClaim validates the delegation stateid of CLAIM_DELEGATE_CUR or
// CLAIM_DELEG_CUR_FH: a current delegation of client c.
func (r *request) delegClaim(c *nfs4state.Client, sid nfs4.Stateid) (*nfs4state.State, nfs4.Status) {
	if sid.IsSpecial() {
		return nil, nfs4.ErrBadStateid
	}
	s, st := r.s.cfg.State.LookupState(sid, "", r.minor)
	if st != nfs4.OK {
		return nil, st
	}
	if s.Kind != nfs4state.KindDeleg || s.Client != c {
		return nil, nfs4.ErrBadStateid
	}
	return s, nfs4.OK
}

// requestClient is the client a request acts for, if known: the session's
// in 4.1. In 4.0 it is unknown (nil), and every delegation conflicts.
func (r *request) requestClient() *nfs4state.Client {
	if r.session != nil {
		return r.session.Client
	}
	return nil
}

// breakDelegs answers NFS4ERR_DELAY and starts recalls when others hold
// delegations on the file of handle raw.
func (r *request) breakDelegs(raw []byte) nfs4.Status {
	sm := r.s.cfg.State
	if sm.Delegations() == 0 || raw == nil {
		return nfs4.OK
	}
	return r.result(sm.BreakDelegations(string(raw), r.requestClient()))
}

// breakWriteDelegs is breakDelegs for requests that only read the file or
// its attributes: only others' write delegations conflict.
func (r *request) breakWriteDelegs(raw []byte) nfs4.Status {
	sm := r.s.cfg.State
	if sm.WriteDelegations() == 0 || raw == nil {
		return nfs4.OK
	}
	return r.result(sm.BreakWriteDelegations(string(raw), r.requestClient()))
}

// breakDelegsNamed is breakDelegs for the object name in directory dir
// (REMOVE, RENAME): a missing object has no delegation.
func (r *request) breakDelegsNamed(dir fileRef, name string) nfs4.Status {
	if r.s.cfg.State.Delegations() == 0 || dir.exp == nil {
		return nfs4.OK
	}
	h, _, err := dir.exp.FS.Lookup(r.ctx, r.credFor(dir.exp), dir.key, name)
	if err != nil {
		return nfs4.OK
	}
	return r.breakDelegs(r.encodeFH(dir.exp, h))
}

// delegIO opens the backend file for a READ under a delegation stateid, or
// a WRITE under a write delegation.
func (r *request) delegIO(s *nfs4state.State, write bool) (fsal.File, func(), nfs4.Status) {
	flags := fsal.OpenRead
	if write {
		if !s.IsWriteDeleg() {
			return nil, nil, nfs4.ErrOpenmode
		}
		flags = fsal.OpenWrite
	}
	s.Client.Renew()
	exp := r.cur.exp
	f, err := exp.FS.Open(r.ctx, r.credFor(exp), r.cur.key, flags)
	if err != nil {
		return nil, nil, statusOf(err)
	}
	return f, func() { f.Close() }, nfs4.OK
}

// seqStatusFlags returns sr_status_flags of a SEQUENCE on session s. The
// callback path is reported down (RFC 8881 section 18.46.3) when the
// session's own back channel connection was lost (CB_PATH_DOWN_SESSION),
// and when the client has no working back channel on any session although
// it had one or holds delegations (CB_PATH_DOWN): the client should then
// bind a connection with BIND_CONN_TO_SESSION or BACKCHANNEL_CTL, and
// until it does no recall can reach it.
func (r *request) seqStatusFlags(s *nfs4state.Session) uint32 {
	c := s.Client
	var f uint32
	if c.RevokedDelegations() {
		f |= nfs4.SeqStatusRecallableStateRevoked
	}
	conn := s.BackConn()
	if conn != nil && connAlive(conn) {
		return f
	}
	if conn != nil {
		f |= nfs4.SeqStatusCBPathDownSession
	}
	if up, had := r.s.cfg.State.BackChannelState(c, connAlive); !up && (had || c.HoldsDelegations()) {
		f |= nfs4.SeqStatusCBPathDown
	}
	return f
}

func opDelegReturn(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	sm := r.s.cfg.State
	s, st := r.stateFor(sid, r.fileKey())
	if st != nfs4.OK {
		return st
	}
	if s.Kind != nfs4state.KindDeleg {
		return nfs4.ErrBadStateid
	}
	c := r.requestClient()
	if c == nil {
		c = s.Client
		c.Renew()
	}
	return sm.DelegReturn(c, s)
}

// decodeCallbackSecCred reads callback_sec_parms4<> and returns the first
// entry we can use: AUTH_SYS (with its encoded body) or AUTH_NONE.
func decodeCallbackSecCred(d *xdr.Decoder) (flavor uint32, body []byte, ok bool) {
	n := d.Count(16, 4)
	for i := 0; i < n && d.Err() == nil; i++ {
		switch fl := d.Uint32(); fl {
		case nfs4.AuthNone:
			if !ok {
				flavor, ok = oncrpc.FlavorNone, true
			}
		case nfs4.AuthSys:
			var a oncrpc.AuthSys
			a.Stamp = d.Uint32()
			a.MachineName = d.String(255)
			a.UID = d.Uint32()
			a.GID = d.Uint32()
			for j, m := 0, d.Count(16, 4); j < m; j++ {
				a.GIDs = append(a.GIDs, d.Uint32())
			}
			if !ok && d.Err() == nil {
				flavor, body, ok = oncrpc.FlavorSys, oncrpc.CredSys(a).Body, true
			}
		case nfs4.RPCSecGSS:
			d.Uint32()
			d.Opaque(nfs4.OpaqueLimit)
			d.Opaque(nfs4.OpaqueLimit)
		default:
			d.SetErr(xdr.ErrShort)
		}
	}
	return flavor, body, ok
}

// probeCallback40 checks the callback path of the 4.0 client just
// confirmed with SETCLIENTID_CONFIRM.
func (r *request) probeCallback40(id uint64) {
	if c, st := r.s.cfg.State.Client(id); st == nfs4.OK && c.Minor == 0 {
		r.s.probeCallback40(c)
	}
}
