package compound

import (
	"syscall"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/xdr"
)

// OPEN4_SHARE_ACCESS_WANT_* values of the delegation "want" bits.
const (
	shareWantNoDeleg = 0x0400
	shareWantCancel  = 0x0500
)

type openArgs struct {
	seqid      uint32
	access     uint32
	deny       uint32
	clientID   uint64
	owner      []byte
	create     bool
	createMode uint32
	attrs      decodedAttrs
	attrSt     nfs4.Status
	verf       [8]byte
	claim      uint32
	name       string
	nameSt     nfs4.Status
	delegType  uint32
	delegSid   nfs4.Stateid // CLAIM_DELEGATE_CUR, CLAIM_DELEG_CUR_FH
}

func decodeOpen(r *request, d *xdr.Decoder) (a openArgs, st nfs4.Status) {
	a.seqid = d.Uint32()
	a.access = d.Uint32()
	a.deny = d.Uint32()
	a.clientID = d.Uint64()
	a.owner = d.Opaque(nfs4.OpaqueLimit)
	if d.Uint32() == nfs4.OpenCreate {
		a.create = true
		a.createMode = d.Uint32()
		switch a.createMode {
		case nfs4.CreateUnchecked, nfs4.CreateGuarded:
			a.attrs, a.attrSt = r.decodeFattr(d)
		case nfs4.CreateExclusive:
			copy(a.verf[:], d.Fixed(8))
		case nfs4.CreateExclusive41:
			if r.minor == 0 {
				return a, nfs4.ErrInval
			}
			copy(a.verf[:], d.Fixed(8))
			a.attrs, a.attrSt = r.decodeFattr(d)
		default:
			return a, nfs4.ErrBadxdr
		}
		if a.attrSt == nfs4.ErrBadxdr {
			return a, nfs4.ErrBadxdr
		}
	}
	a.claim = d.Uint32()
	switch a.claim {
	case nfs4.ClaimNull, nfs4.ClaimDelegatePrev:
		a.name, a.nameSt = decodeName(d)
		if a.nameSt == nfs4.ErrBadxdr {
			return a, nfs4.ErrBadxdr
		}
	case nfs4.ClaimPrevious:
		a.delegType = d.Uint32()
	case nfs4.ClaimDelegateCur:
		a.delegSid = nfs4.DecodeStateid(d)
		a.name, a.nameSt = decodeName(d)
		if a.nameSt == nfs4.ErrBadxdr {
			return a, nfs4.ErrBadxdr
		}
	case nfs4.ClaimFH, nfs4.ClaimDelegPrevFH:
	case nfs4.ClaimDelegCurFH:
		a.delegSid = nfs4.DecodeStateid(d)
	default:
		if d.Err() == nil {
			return a, nfs4.ErrInval
		}
	}
	if d.Err() != nil {
		return a, nfs4.ErrBadxdr
	}
	return a, nfs4.OK
}

// clientFor40 finds the confirmed 4.0 client of an owner's client id.
func (r *request) clientFor40(id uint64) (*nfs4state.Client, nfs4.Status) {
	c, st := r.s.cfg.State.Client(id)
	if st != nfs4.OK {
		return nil, st
	}
	c.Renew()
	return c, nfs4.OK
}

// beginSeqid takes an open owner's seqid lock for a 4.0 seqid-bearing
// operation. On a retransmission it arranges for the recorded reply to be
// sent and returns replay=true.
func (r *request) beginSeqid(o *nfs4state.Sequencer, seqid, op uint32) (replay bool, st nfs4.Status) {
	if r.minor > 0 {
		return false, nfs4.OK
	}
	o.Mu.Lock()
	prev, st := o.SeqCheck(seqid, op)
	if st != nfs4.OK {
		o.Mu.Unlock()
		return false, st
	}
	if prev != nil {
		r.opReplay = append([]byte(nil), prev...)
		o.Mu.Unlock()
		return true, nfs4.OK
	}
	r.seqOwner, r.seqid = o, seqid
	return false, nfs4.OK
}

func opOpen(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	a, st := decodeOpen(r, d)
	if st != nfs4.OK {
		return st
	}
	// Whose open is this?
	var client *nfs4state.Client
	if r.minor == 0 {
		if client, st = r.clientFor40(a.clientID); st != nfs4.OK {
			return st
		}
	} else {
		if r.session == nil {
			return nfs4.ErrOpNotInSession
		}
		client = r.session.Client
	}
	owner := client.OpenOwner(string(a.owner))
	if replay, st := r.beginSeqid(&owner.Sequencer, a.seqid, nfs4.OpOpen); replay || st != nfs4.OK {
		return st
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	reclaim := a.claim == nfs4.ClaimPrevious || a.claim == nfs4.ClaimDelegatePrev || a.claim == nfs4.ClaimDelegPrevFH
	if st := r.graceCheck(client, reclaim); st != nfs4.OK {
		return st
	}
	if r.minor > 0 && !reclaim && !client.ReclaimCompleted() {
		// A 4.1 client must finish reclaiming before it takes new state
		// (RFC 8881 section 18.51.3).
		return nfs4.ErrGrace
	}
	access := a.access &^ nfs4.ShareWantMask
	if r.minor > 0 {
		// Hints we may ignore: 4.1's "signal / push the delegation
		// later" (we never do), 4.2's delegated timestamps (not
		// offered in open_arguments).
		access &^= shareWantHints41
		if r.minor > 1 {
			access &^= shareWantDelegTimestamps
		}
	}
	if access == 0 || access > nfs4.ShareAccessBoth || a.deny > nfs4.ShareDenyBoth ||
		(r.minor == 0 && a.access&nfs4.ShareWantMask != 0) {
		return nfs4.ErrInval
	}

	// Find or create the file.
	var ref fileRef
	var attr fsal.Attr
	var attrset nfs4.Bitmap
	var before, after uint64
	created := false
	// pre is the new file as a CreateOpener backend left it open: used
	// instead of opening it again, closed if the OPEN fails before that.
	var pre fsal.File
	defer func() {
		if pre != nil {
			pre.Close()
		}
	}()
	switch a.claim {
	case nfs4.ClaimNull:
		if st := r.requireDir(); st != nfs4.OK {
			return st
		}
		if a.nameSt != nfs4.OK {
			return a.nameSt
		}
		if r.cur.pseudo != nil {
			if a.create {
				return nfs4.ErrRofs
			}
			if r.cur.pseudo.Child(a.name) != nil {
				return nfs4.ErrIsdir
			}
			return nfs4.ErrNoent
		}
		if a.create {
			if st := r.writable(); st != nfs4.OK {
				return st
			}
			if a.attrSt != nfs4.OK {
				return a.attrSt
			}
			exp := r.cur.exp
			before = r.dirChange(&r.cur)
			mode := fsal.Unchecked
			switch a.createMode {
			case nfs4.CreateGuarded:
				mode = fsal.Guarded
			case nfs4.CreateExclusive, nfs4.CreateExclusive41:
				mode = fsal.Exclusive
			}
			sa := a.attrs.sa
			if sa.Mask&fsal.SetMode == 0 {
				sa.Mask |= fsal.SetMode
				sa.Mode = 0644
			}
			var h fsal.Handle
			var fa fsal.Attr
			var existed bool
			var err error
			if co, ok := exp.FS.(fsal.CreateOpener); ok {
				h, fa, existed, pre, err = co.CreateOpen(r.ctx, r.credFor(exp), r.cur.key, a.name, mode, &sa, a.verf, openFlags(access))
			} else {
				h, fa, existed, err = exp.FS.Create(r.ctx, r.credFor(exp), r.cur.key, a.name, mode, &sa, a.verf)
			}
			if err != nil {
				return statusOf(err)
			}
			after = r.dirChange(&r.cur)
			created = !existed
			raw := r.encodeFH(exp, h)
			ref = fileRef{raw: raw, exp: exp, key: fsal.Handle(raw[5:])}
			attr = fa
			if a.createMode != nfs4.CreateExclusive {
				attrset = a.attrs.mask
			}
			if existed && a.createMode == nfs4.CreateUnchecked && a.attrs.sa.Mask&fsal.SetSize != 0 && a.attrs.sa.Size == 0 && access&nfs4.ShareAccessWrite != 0 {
				// UNCHECKED on an existing file applies the size (a
				// truncating open), which others' delegations forbid.
				if st := r.breakDelegs(ref.raw); st != nfs4.OK {
					return st
				}
				if _, err := exp.FS.Setattr(r.ctx, r.credFor(exp), ref.key, &fsal.SetAttr{Mask: fsal.SetSize}); err != nil {
					return statusOf(err)
				}
			} else if existed {
				attrset = nfs4.Bitmap{}
			}
		} else {
			var st nfs4.Status
			ref, attr, st = r.lookupIn(a.name)
			if st != nfs4.OK {
				return st
			}
		}
	case nfs4.ClaimFH:
		if r.minor == 0 {
			return nfs4.ErrInval
		}
		if r.cur.pseudo != nil {
			return nfs4.ErrIsdir
		}
		ref = r.cur
		var st nfs4.Status
		if attr, st = r.getattrRef(&ref); st != nfs4.OK {
			return st
		}
	case nfs4.ClaimPrevious:
		// Reclaim of an open held before the restart: the current
		// handle is the file itself (RFC 7530 section 16.16.5).
		if a.delegType != nfs4.DelegNone && a.delegType != nfs4.DelegRead &&
			(a.delegType != nfs4.DelegWrite || r.minor == 0) {
			// 4.0 clients never get write delegations, so cannot
			// reclaim one.
			return nfs4.ErrReclaimBad
		}
		if r.cur.pseudo != nil {
			return nfs4.ErrIsdir
		}
		ref = r.cur
		var st nfs4.Status
		if attr, st = r.getattrRef(&ref); st != nfs4.OK {
			return st
		}
	case nfs4.ClaimDelegatePrev, nfs4.ClaimDelegPrevFH:
		return nfs4.ErrReclaimBad
	case nfs4.ClaimDelegateCur, nfs4.ClaimDelegCurFH:
		// An open under a delegation the client holds (RFC 8881
		// section 10.4.1): the file is named or is the current handle.
		dl, st := r.delegClaim(client, a.delegSid)
		if st != nfs4.OK {
			return st
		}
		if a.claim == nfs4.ClaimDelegCurFH {
			if r.minor == 0 {
				return nfs4.ErrInval
			}
			if r.cur.pseudo != nil {
				return nfs4.ErrIsdir
			}
			ref = r.cur
		} else {
			if st := r.requireDir(); st != nfs4.OK {
				return st
			}
			if a.nameSt != nfs4.OK {
				return a.nameSt
			}
			if r.cur.pseudo != nil {
				return nfs4.ErrBadStateid
			}
			if ref, _, st = r.lookupIn(a.name); st != nfs4.OK {
				return st
			}
		}
		if string(ref.raw) != dl.FH {
			return nfs4.ErrBadStateid
		}
		if attr, st = r.getattrRef(&ref); st != nfs4.OK {
			return st
		}
	}
	if ref.pseudo != nil {
		return nfs4.ErrIsdir
	}
	switch attr.Type {
	case fsal.TypeRegular:
	case fsal.TypeDirectory:
		return nfs4.ErrIsdir
	case fsal.TypeSymlink:
		return nfs4.ErrSymlink
	default:
		if r.minor > 0 {
			return nfs4.ErrWrongType
		}
		// NFSv4.0 has no WRONG_TYPE; pynfs and knfsd use SYMLINK for
		// every non-regular, non-directory object.
		return nfs4.ErrSymlink
	}
	if access&nfs4.ShareAccessWrite != 0 && ref.exp.ReadOnly {
		return nfs4.ErrRofs
	}

	// Open the backend file with the owner's union of accesses; a newly
	// created file is opened regardless of its mode, as its creator may.
	sm := r.s.cfg.State
	fileKey := string(ref.raw)
	union := access
	if prev := sm.FindOpen(owner, fileKey); prev != nil {
		pa, _ := prev.Access()
		union |= pa
	}
	cred := r.credFor(ref.exp)
	if created {
		cred = fsal.Root
	}
	if st := r.recordClient(client); st != nfs4.OK {
		return st
	}
	// Recall conflicting delegations before opening the backend file: a
	// backend that backs delegations would hold the open until they are
	// returned, rather than let it answer NFS4ERR_DELAY.
	if st := r.result(sm.OpenConflict(fileKey, client, access, a.deny)); st != nfs4.OK {
		if r.seqOwner != nil && !owner.Confirmed() && !sm.OwnerHasStates(owner) {
			owner.ForgetSeqid()
		}
		return st
	}
	f := pre
	pre = nil
	if f == nil || union != access {
		if f != nil {
			f.Close()
		}
		var err error
		if f, err = openBackend(r, ref, cred, union); err != nil {
			return statusOf(err)
		}
	}
	state, sid, st, fx := sm.Open(nfs4state.OpenRequest{Owner: owner, FileKey: fileKey, FH: fileKey,
		Access: access, Deny: a.deny, File: f})
	r.perform(fx) // recalls and courtesy expiries: no Record
	if st == nfs4.ErrDelay && r.seqOwner != nil && !owner.Confirmed() && !sm.OwnerHasStates(owner) {
		owner.ForgetSeqid()
	}
	if st != nfs4.OK {
		return st
	}
	_ = state
	r.cur = ref
	r.setCurStateid(sid)

	sid.Encode(e)
	encCinfo(e, before, after)
	rflags := uint32(nfs4.OpenResultLocktypePosix)
	if r.minor == 0 && !owner.Confirmed() {
		rflags |= nfs4.OpenResultConfirm
	}
	e.Uint32(rflags)
	attrset.Encode(e)
	if a.claim == nfs4.ClaimPrevious && a.delegType != nfs4.DelegNone {
		r.encodeReclaimedDeleg(e, client, ref, a.delegType == nfs4.DelegWrite, attr.Change)
		return nfs4.OK
	}
	r.encodeOpenDeleg(e, client, owner, ref, access, a.deny, a.access&nfs4.ShareWantMask, a.claim, attr.Change)
	return nfs4.OK
}

// openFlags are the fsal open flags openBackend tries first for access.
func openFlags(access uint32) int {
	if access == nfs4.ShareAccessRead {
		return fsal.OpenRead
	}
	return fsal.OpenRead | fsal.OpenWrite
}

// openBackend opens the backend file for the share access wanted. Write
// access opens read-write when permitted, since NFS clients read through
// write opens (to fill partial pages).
func openBackend(r *request, ref fileRef, cred *fsal.Cred, access uint32) (fsal.File, error) {
	fs := ref.exp.FS
	switch access {
	case nfs4.ShareAccessRead:
		return fs.Open(r.ctx, cred, ref.key, fsal.OpenRead)
	case nfs4.ShareAccessWrite:
		f, err := fs.Open(r.ctx, cred, ref.key, fsal.OpenRead|fsal.OpenWrite)
		if err == syscall.EACCES {
			return fs.Open(r.ctx, cred, ref.key, fsal.OpenWrite)
		}
		return f, err
	}
	return fs.Open(r.ctx, cred, ref.key, fsal.OpenRead|fsal.OpenWrite)
}

// stateForSeqidOp validates the stateid of CLOSE, OPEN_CONFIRM and
// OPEN_DOWNGRADE and takes the owner's seqid lock in 4.0.
func (r *request) stateForSeqidOp(sid nfs4.Stateid, seqid, op uint32) (s *nfs4state.State, replay bool, st nfs4.Status) {
	if st := r.needFH(); st != nfs4.OK {
		return nil, false, st
	}
	s, st = r.stateFor(sid, "")
	if st != nfs4.OK && st != nfs4.ErrOldStateid && st != nfs4.ErrBadStateid {
		return nil, false, st
	}
	if s == nil {
		// A retransmitted CLOSE finds its state gone; the owner's record
		// still answers it.
		return nil, false, st
	}
	if s.Kind != nfs4state.KindOpen {
		return nil, false, nfs4.ErrBadStateid
	}
	if replay, st2 := r.beginSeqid(&s.Owner.Sequencer, seqid, op); replay || st2 != nfs4.OK {
		return nil, replay, st2
	}
	if st != nfs4.OK {
		return nil, false, st
	}
	if s.FH != r.fileKey() {
		return nil, false, nfs4.ErrBadStateid
	}
	s.Client.Renew()
	return s, false, nfs4.OK
}

func opOpenConfirm(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	seqid := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s, replay, st := r.stateForSeqidOp(sid, seqid, nfs4.OpOpenConfirm)
	if replay || st != nfs4.OK {
		return st
	}
	if s.Owner.Confirmed() {
		return nfs4.ErrBadStateid
	}
	s.Owner.SetConfirmed()
	nsid, _ := r.s.cfg.State.Bump(s)
	nsid.Encode(e)
	return nfs4.OK
}

func opOpenDowngrade(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	seqid := d.Uint32()
	access := d.Uint32()
	deny := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s, replay, st := r.stateForSeqidOp(sid, seqid, nfs4.OpOpenDowngrade)
	if replay || st != nfs4.OK {
		return st
	}
	if r.minor == 0 && !s.Owner.Confirmed() {
		return nfs4.ErrBadStateid
	}
	nsid, st := r.s.cfg.State.Downgrade(s, access&^nfs4.ShareWantMask, deny)
	if st != nfs4.OK {
		return st
	}
	r.setCurStateid(nsid)
	nsid.Encode(e)
	return nfs4.OK
}

func opClose(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	seqid := d.Uint32()
	sid := nfs4.DecodeStateid(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s, replay, st := r.stateForSeqidOp(sid, seqid, nfs4.OpClose)
	if replay || st != nfs4.OK {
		return st
	}
	nsid := r.s.cfg.State.Close(s)
	if r.minor > 0 {
		// RFC 8881 section 18.2.4: return the invalid special stateid.
		nsid = nfs4.InvalidStateid
	}
	r.clearCurStateid()
	nsid.Encode(e)
	return nfs4.OK
}
