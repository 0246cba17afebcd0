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
)

// ACE4 constants of the delegation's nfsace4.
const (
	ace4AccessAllowed = 0
	ace4ReadData      = 0x00000001
	ace4ReadAttrs     = 0x00000080
	ace4ReadACL       = 0x00020000
	ace4Synchronize   = 0x00100000
	ace4Execute       = 0x00000020
)

// encodeOpenDeleg decides on and encodes the open_delegation4 of a
// successful OPEN (claim NULL or FH, or a 4.0 CLAIM_NULL): a read
// delegation when the client asked for one or left it to us, the access
// is read-only, its session has a back channel and nothing conflicts.
func (r *request) encodeOpenDeleg(e *xdr.Encoder, c *nfs4state.Client, owner *nfs4state.OpenOwner, ref fileRef, access, deny, want uint32, claim uint32) {
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
	if !ref.exp.Delegations || access != nfs4.ShareAccessRead || want == shareWantWriteDeleg {
		// Write delegations are never granted.
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
	sid, why, ok := r.s.cfg.State.GrantReadDeleg(c, string(ref.raw), string(ref.raw))
	if !ok {
		noneExt(why)
		return
	}
	e.Uint32(nfs4.DelegRead)
	sid.Encode(e)
	e.Bool(false) // recall
	e.Uint32(ace4AccessAllowed)
	e.Uint32(0)
	e.Uint32(ace4ReadData | ace4ReadAttrs | ace4ReadACL | ace4Synchronize | ace4Execute)
	e.String("EVERYONE@")
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
func (r *request) delegClaim(c *nfs4state.Client, sid nfs4.Stateid) (*nfs4state.State, uint32) {
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
func (r *request) breakDelegs(raw []byte) uint32 {
	sm := r.s.cfg.State
	if sm.Delegations() == 0 || raw == nil {
		return nfs4.OK
	}
	return sm.BreakDelegations(string(raw), r.requestClient())
}

// breakDelegsNamed is breakDelegs for the object name in directory dir
// (REMOVE, RENAME): a missing object has no delegation.
func (r *request) breakDelegsNamed(dir fileRef, name string) uint32 {
	if r.s.cfg.State.Delegations() == 0 || dir.exp == nil {
		return nfs4.OK
	}
	h, _, err := dir.exp.FS.Lookup(r.ctx, r.credFor(dir.exp), dir.key, name)
	if err != nil {
		return nfs4.OK
	}
	return r.breakDelegs(encodeFH(dir.exp, h))
}

// delegIO opens the backend file for a READ under a read delegation
// stateid; a delegation does not allow writes.
func (r *request) delegIO(s *nfs4state.State, write bool) (fsal.File, func(), uint32) {
	if write {
		return nil, nil, nfs4.ErrOpenmode
	}
	s.Client.Renew()
	exp := r.cur.exp
	f, err := exp.FS.Open(r.ctx, r.credFor(exp), r.cur.key, fsal.OpenRead)
	if err != nil {
		return nil, nil, statusOf(err)
	}
	return f, func() { f.Close() }, nfs4.OK
}

// seqStatusFlags returns sr_status_flags of SEQUENCE for client c.
func seqStatusFlags(c *nfs4state.Client) uint32 {
	var f uint32
	if c.RevokedDelegations() {
		f |= nfs4.SeqStatusRecallableStateRevoked
	}
	return f
}

func opDelegReturn(r *request, d *xdr.Decoder, e *xdr.Encoder) uint32 {
	sid := nfs4.DecodeStateid(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	sid, st := r.resolveStateid(sid)
	if st != nfs4.OK {
		return st
	}
	if sid.IsSpecial() {
		return nfs4.ErrBadStateid
	}
	sm := r.s.cfg.State
	s, st := sm.LookupState(sid, r.fileKey(), r.minor)
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
