package nfsclient

import (
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// This file holds the operations on open, lock and delegation state.

// StateOwner is state_owner4 (open_owner4, lock_owner4).
type StateOwner struct {
	ClientID uint64
	Owner    []byte
}

func (o StateOwner) encode(e *xdr.Encoder) {
	e.Uint64(o.ClientID)
	e.Opaque(o.Owner)
}

func decodeStateOwner(d *xdr.Decoder) StateOwner {
	return StateOwner{ClientID: d.Uint64(), Owner: d.Opaque(nfs4.OpaqueLimit)}
}

// OpenArgs are the arguments of OPEN (RFC 8881 section 18.16, RFC 7530
// section 16.16).
type OpenArgs struct {
	Seqid       uint32 // open-owner seqid (NFSv4.0; ignored by 4.1 servers)
	ShareAccess uint32 // nfs4.ShareAccess*, optionally with 4.1 WANT bits
	ShareDeny   uint32
	Owner       StateOwner

	// Create selects OPEN4_CREATE; CreateMode, Attrs and Verifier then
	// form the createhow4: Attrs for UNCHECKED4 and GUARDED4, Verifier for
	// EXCLUSIVE4, both for EXCLUSIVE4_1.
	Create     bool
	CreateMode uint32
	Attrs      *SetAttrs
	Verifier   [nfs4.VerifierSize]byte

	// Claim is the open_claim4 type (nfs4.ClaimNull, ClaimPrevious,
	// ClaimFH, ...). Name is the file for CLAIM_NULL, CLAIM_DELEGATE_CUR
	// and CLAIM_DELEGATE_PREV; DelegType is CLAIM_PREVIOUS's
	// delegate_type; DelegStateid is the delegation stateid of
	// CLAIM_DELEGATE_CUR and CLAIM_DELEG_CUR_FH.
	Claim        uint32
	Name         string
	DelegType    uint32
	DelegStateid nfs4.Stateid
}

// Open appends OPEN; the result is *OpenRes.
func (c *Compound) Open(a OpenArgs) *Compound {
	e := c.op(nfs4.OpOpen)
	e.Uint32(a.Seqid)
	e.Uint32(a.ShareAccess)
	e.Uint32(a.ShareDeny)
	a.Owner.encode(e)
	if a.Create {
		e.Uint32(nfs4.OpenCreate)
		e.Uint32(a.CreateMode)
		switch a.CreateMode {
		case nfs4.CreateExclusive:
			e.Fixed(a.Verifier[:])
		case nfs4.CreateExclusive41:
			e.Fixed(a.Verifier[:])
			a.Attrs.Encode(e)
		default: // UNCHECKED4, GUARDED4 (and anything else a test sends)
			a.Attrs.Encode(e)
		}
	} else {
		e.Uint32(nfs4.OpenNoCreate)
	}
	e.Uint32(a.Claim)
	switch a.Claim {
	case nfs4.ClaimNull, nfs4.ClaimDelegatePrev:
		e.String(a.Name)
	case nfs4.ClaimPrevious:
		e.Uint32(a.DelegType)
	case nfs4.ClaimDelegateCur:
		a.DelegStateid.Encode(e)
		e.String(a.Name)
	case nfs4.ClaimDelegCurFH:
		a.DelegStateid.Encode(e)
	}
	return c
}

// OpenConfirm appends OPEN_CONFIRM (NFSv4.0); the result is *OpenConfirmRes.
func (c *Compound) OpenConfirm(stateid nfs4.Stateid, seqid uint32) *Compound {
	e := c.op(nfs4.OpOpenConfirm)
	stateid.Encode(e)
	e.Uint32(seqid)
	return c
}

// OpenDowngrade appends OPEN_DOWNGRADE; the result is *OpenDowngradeRes.
func (c *Compound) OpenDowngrade(stateid nfs4.Stateid, seqid, access, deny uint32) *Compound {
	e := c.op(nfs4.OpOpenDowngrade)
	stateid.Encode(e)
	e.Uint32(seqid)
	e.Uint32(access)
	e.Uint32(deny)
	return c
}

// Close appends CLOSE; the result is *CloseRes.
func (c *Compound) Close(seqid uint32, stateid nfs4.Stateid) *Compound {
	e := c.op(nfs4.OpClose)
	e.Uint32(seqid)
	stateid.Encode(e)
	return c
}

// DelegReturn appends DELEGRETURN.
func (c *Compound) DelegReturn(stateid nfs4.Stateid) *Compound {
	stateid.Encode(c.op(nfs4.OpDelegReturn))
	return c
}

// DelegPurge appends DELEGPURGE.
func (c *Compound) DelegPurge(clientID uint64) *Compound {
	c.op(nfs4.OpDelegPurge).Uint64(clientID)
	return c
}

// LockArgs are the arguments of LOCK. With NewLockOwner the locker is an
// open_to_lock_owner4 (OpenSeqid, OpenStateid, LockSeqid, LockOwner),
// otherwise an exist_lock_owner4 (LockStateid, LockSeqid).
type LockArgs struct {
	LockType uint32 // nfs4.ReadLT, WriteLT, ReadWLT, WriteWLT
	Reclaim  bool
	Offset   uint64
	Length   uint64

	NewLockOwner bool
	OpenSeqid    uint32
	OpenStateid  nfs4.Stateid
	LockOwner    StateOwner
	LockStateid  nfs4.Stateid
	LockSeqid    uint32
}

// Lock appends LOCK; the result is *LockRes, or *LockDenied with
// NFS4ERR_DENIED.
func (c *Compound) Lock(a LockArgs) *Compound {
	e := c.op(nfs4.OpLock)
	e.Uint32(a.LockType)
	e.Bool(a.Reclaim)
	e.Uint64(a.Offset)
	e.Uint64(a.Length)
	e.Bool(a.NewLockOwner)
	if a.NewLockOwner {
		e.Uint32(a.OpenSeqid)
		a.OpenStateid.Encode(e)
		e.Uint32(a.LockSeqid)
		a.LockOwner.encode(e)
	} else {
		a.LockStateid.Encode(e)
		e.Uint32(a.LockSeqid)
	}
	return c
}

// LockT appends LOCKT; with NFS4ERR_DENIED the result is *LockDenied.
func (c *Compound) LockT(lockType uint32, offset, length uint64, owner StateOwner) *Compound {
	e := c.op(nfs4.OpLockT)
	e.Uint32(lockType)
	e.Uint64(offset)
	e.Uint64(length)
	owner.encode(e)
	return c
}

// LockU appends LOCKU; the result is *LockURes.
func (c *Compound) LockU(lockType, seqid uint32, stateid nfs4.Stateid, offset, length uint64) *Compound {
	e := c.op(nfs4.OpLockU)
	e.Uint32(lockType)
	e.Uint32(seqid)
	stateid.Encode(e)
	e.Uint64(offset)
	e.Uint64(length)
	return c
}

// ReleaseLockOwner appends RELEASE_LOCKOWNER (NFSv4.0).
func (c *Compound) ReleaseLockOwner(owner StateOwner) *Compound {
	owner.encode(c.op(nfs4.OpReleaseLockOwner))
	return c
}

// TestStateID appends TEST_STATEID; the result is *TestStateIDRes.
func (c *Compound) TestStateID(stateids ...nfs4.Stateid) *Compound {
	e := c.op(nfs4.OpTestStateID)
	e.Uint32(uint32(len(stateids)))
	for _, s := range stateids {
		s.Encode(e)
	}
	return c
}

// FreeStateID appends FREE_STATEID.
func (c *Compound) FreeStateID(stateid nfs4.Stateid) *Compound {
	stateid.Encode(c.op(nfs4.OpFreeStateID))
	return c
}

// Delegation is an open_delegation4.
type Delegation struct {
	Type    uint32 // nfs4.DelegNone, DelegRead, DelegWrite, DelegNoneExt
	Stateid nfs4.Stateid
	Recall  bool
	// Write delegations: nfs_space_limit4. LimitBy is 1 (NFS_LIMIT_SIZE,
	// FileSize valid) or 2 (NFS_LIMIT_BLOCKS, NumBlocks and
	// BytesPerBlock valid).
	LimitBy       uint32
	FileSize      uint64
	NumBlocks     uint32
	BytesPerBlock uint32
	Permissions   ACE
	// OPEN_DELEGATE_NONE_EXT (4.1): why_no_delegation4, and the boolean
	// of WND4_CONTENTION (server_will_push_deleg) or WND4_RESOURCE
	// (server_will_signal_avail).
	WhyNone          uint32
	WillPushOrSignal bool
}

// OpenRes is the result of OPEN.
type OpenRes struct {
	Stateid    nfs4.Stateid
	Cinfo      ChangeInfo
	Rflags     uint32
	Attrset    nfs4.Bitmap
	Delegation Delegation
}

func decodeOpenRes(d *xdr.Decoder) *OpenRes {
	r := &OpenRes{}
	r.Stateid = nfs4.DecodeStateid(d)
	r.Cinfo = decodeChangeInfo(d)
	r.Rflags = d.Uint32()
	r.Attrset = decodeBitmap(d)
	decodeDelegation(d, &r.Delegation)
	return r
}

func decodeACE(d *xdr.Decoder) ACE {
	return ACE{Type: d.Uint32(), Flag: d.Uint32(), AccessMask: d.Uint32(), Who: decodeString(d)}
}

func decodeDelegation(d *xdr.Decoder, dl *Delegation) {
	dl.Type = d.Uint32()
	switch dl.Type {
	case nfs4.DelegNone:
	case nfs4.DelegRead:
		dl.Stateid = nfs4.DecodeStateid(d)
		dl.Recall = d.Bool()
		dl.Permissions = decodeACE(d)
	case nfs4.DelegWrite:
		dl.Stateid = nfs4.DecodeStateid(d)
		dl.Recall = d.Bool()
		dl.LimitBy = d.Uint32()
		switch dl.LimitBy {
		case 1: // NFS_LIMIT_SIZE
			dl.FileSize = d.Uint64()
		case 2: // NFS_LIMIT_BLOCKS
			dl.NumBlocks = d.Uint32()
			dl.BytesPerBlock = d.Uint32()
		default:
			d.SetErr(protoErr("nfs_space_limit4 limitby %d", dl.LimitBy))
		}
		dl.Permissions = decodeACE(d)
	case nfs4.DelegNoneExt:
		dl.WhyNone = d.Uint32()
		switch dl.WhyNone {
		case nfs4.WNDTContention, nfs4.WNDTResource:
			dl.WillPushOrSignal = d.Bool()
		}
	default:
		d.SetErr(protoErr("open_delegation_type4 %d", dl.Type))
	}
}

// OpenConfirmRes is the result of OPEN_CONFIRM.
type OpenConfirmRes struct {
	Stateid nfs4.Stateid
}

// OpenDowngradeRes is the result of OPEN_DOWNGRADE.
type OpenDowngradeRes struct {
	Stateid nfs4.Stateid
}

// CloseRes is the result of CLOSE.
type CloseRes struct {
	Stateid nfs4.Stateid
}

// LockRes is the result of a successful LOCK.
type LockRes struct {
	Stateid nfs4.Stateid
}

// LockURes is the result of LOCKU.
type LockURes struct {
	Stateid nfs4.Stateid
}

// LockDenied is LOCK4denied: the conflicting lock, returned by LOCK and
// LOCKT with NFS4ERR_DENIED.
type LockDenied struct {
	Offset, Length uint64
	LockType       uint32
	Owner          StateOwner
}

func decodeLockDenied(d *xdr.Decoder) *LockDenied {
	return &LockDenied{Offset: d.Uint64(), Length: d.Uint64(), LockType: d.Uint32(), Owner: decodeStateOwner(d)}
}

// TestStateIDRes is the result of TEST_STATEID: one status per stateid.
type TestStateIDRes struct {
	Codes []nfs4.Status
}
