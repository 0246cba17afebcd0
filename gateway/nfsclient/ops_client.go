package nfsclient

import (
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// This file holds the client ID and session operations.

// SetClientIDArgs are the arguments of SETCLIENTID (RFC 7530 section 16.33).
type SetClientIDArgs struct {
	Verifier      [nfs4.VerifierSize]byte
	ID            []byte
	CBProgram     uint32
	CBNetid       string // e.g. "tcp"
	CBAddr        string // universal address, e.g. "127.0.0.1.8.1"
	CallbackIdent uint32
}

// SetClientID appends SETCLIENTID; the result is *SetClientIDRes (also
// with NFS4ERR_CLID_INUSE).
func (c *Compound) SetClientID(a SetClientIDArgs) *Compound {
	e := c.op(nfs4.OpSetClientID)
	e.Fixed(a.Verifier[:])
	e.Opaque(a.ID)
	e.Uint32(a.CBProgram)
	e.String(a.CBNetid)
	e.String(a.CBAddr)
	e.Uint32(a.CallbackIdent)
	return c
}

// SetClientIDRes is the result of SETCLIENTID: ClientID and Confirm on
// success, InUseNetid and InUseAddr (the clientaddr4 of the principal
// using the ID) with NFS4ERR_CLID_INUSE.
type SetClientIDRes struct {
	ClientID   uint64
	Confirm    [nfs4.VerifierSize]byte
	InUseNetid string
	InUseAddr  string
}

func decodeSetClientIDRes(d *xdr.Decoder, status nfs4.Status) *SetClientIDRes {
	r := &SetClientIDRes{}
	if status == nfs4.OK {
		r.ClientID = d.Uint64()
		copy(r.Confirm[:], d.Fixed(nfs4.VerifierSize))
	} else {
		r.InUseNetid = d.String(nfs4.OpaqueLimit)
		r.InUseAddr = d.String(nfs4.OpaqueLimit)
	}
	return r
}

// SetClientIDConfirm appends SETCLIENTID_CONFIRM.
func (c *Compound) SetClientIDConfirm(clientID uint64, confirm [nfs4.VerifierSize]byte) *Compound {
	e := c.op(nfs4.OpSetClientIDConfirm)
	e.Uint64(clientID)
	e.Fixed(confirm[:])
	return c
}

// Renew appends RENEW.
func (c *Compound) Renew(clientID uint64) *Compound {
	c.op(nfs4.OpRenew).Uint64(clientID)
	return c
}

// ImplID is nfs_impl_id4.
type ImplID struct {
	Domain string
	Name   string
	Date   nfs4.Time
}

// StateProtectOps is state_protect_ops4.
type StateProtectOps struct {
	MustEnforce, MustAllow nfs4.Bitmap
}

func (o *StateProtectOps) encode(e *xdr.Encoder) {
	o.MustEnforce.Encode(e)
	o.MustAllow.Encode(e)
}

// ExchangeIDArgs are the arguments of EXCHANGE_ID (RFC 8881 section
// 18.35). StateProtect is nfs4.SP4None or SP4MachCred (SP4_SSV is not
// supported by this client); Ops are used with SP4MachCred.
type ExchangeIDArgs struct {
	Verifier     [nfs4.VerifierSize]byte
	OwnerID      []byte
	Flags        uint32
	StateProtect uint32
	Ops          StateProtectOps
	ImplID       *ImplID
}

// ExchangeID appends EXCHANGE_ID; the result is *ExchangeIDRes.
func (c *Compound) ExchangeID(a ExchangeIDArgs) *Compound {
	e := c.op(nfs4.OpExchangeID)
	e.Fixed(a.Verifier[:])
	e.Opaque(a.OwnerID)
	e.Uint32(a.Flags)
	e.Uint32(a.StateProtect)
	if a.StateProtect == nfs4.SP4MachCred {
		a.Ops.encode(e)
	}
	if a.ImplID == nil {
		e.Uint32(0)
	} else {
		e.Uint32(1)
		e.String(a.ImplID.Domain)
		e.String(a.ImplID.Name)
		a.ImplID.Date.Encode(e)
	}
	return c
}

// ExchangeIDRes is the result of EXCHANGE_ID.
type ExchangeIDRes struct {
	ClientID     uint64
	SequenceID   uint32
	Flags        uint32
	StateProtect uint32          // spr_how
	SPOps        StateProtectOps // SP4_MACH_CRED and SP4_SSV
	// SP4_SSV only.
	SSVHashAlg, SSVEncrAlg, SSVLen, SSVWindow uint32
	SSVHandles                                [][]byte
	ServerMinorID                             uint64
	ServerMajorID                             []byte
	ServerScope                               []byte
	ServerImplID                              *ImplID
}

func decodeExchangeIDRes(d *xdr.Decoder) *ExchangeIDRes {
	r := &ExchangeIDRes{}
	r.ClientID = d.Uint64()
	r.SequenceID = d.Uint32()
	r.Flags = d.Uint32()
	r.StateProtect = d.Uint32()
	switch r.StateProtect {
	case nfs4.SP4None:
	case nfs4.SP4MachCred:
		r.SPOps.MustEnforce = decodeBitmap(d)
		r.SPOps.MustAllow = decodeBitmap(d)
	case nfs4.SP4SSV:
		r.SPOps.MustEnforce = decodeBitmap(d)
		r.SPOps.MustAllow = decodeBitmap(d)
		r.SSVHashAlg = d.Uint32()
		r.SSVEncrAlg = d.Uint32()
		r.SSVLen = d.Uint32()
		r.SSVWindow = d.Uint32()
		n := d.Count(maxAttrList, 4)
		for i := 0; i < n && d.Err() == nil; i++ {
			r.SSVHandles = append(r.SSVHandles, d.Opaque(nfs4.OpaqueLimit))
		}
	default:
		d.SetErr(protoErr("state_protect_how4 %d", r.StateProtect))
	}
	r.ServerMinorID = d.Uint64()
	r.ServerMajorID = d.Opaque(nfs4.OpaqueLimit)
	r.ServerScope = d.Opaque(nfs4.OpaqueLimit)
	if d.Count(1, 20) == 1 {
		r.ServerImplID = &ImplID{Domain: d.String(nfs4.OpaqueLimit), Name: d.String(nfs4.OpaqueLimit), Date: nfs4.DecodeTime(d)}
	}
	return r
}

// ChannelAttrs is channel_attrs4.
type ChannelAttrs struct {
	HeaderPadSize         uint32
	MaxRequestSize        uint32
	MaxResponseSize       uint32
	MaxResponseSizeCached uint32
	MaxOperations         uint32
	MaxRequests           uint32
	RDMAIrd               []uint32 // at most one element
}

func (a *ChannelAttrs) encode(e *xdr.Encoder) {
	e.Uint32(a.HeaderPadSize)
	e.Uint32(a.MaxRequestSize)
	e.Uint32(a.MaxResponseSize)
	e.Uint32(a.MaxResponseSizeCached)
	e.Uint32(a.MaxOperations)
	e.Uint32(a.MaxRequests)
	e.Uint32(uint32(len(a.RDMAIrd)))
	for _, v := range a.RDMAIrd {
		e.Uint32(v)
	}
}

func decodeChannelAttrs(d *xdr.Decoder) ChannelAttrs {
	a := ChannelAttrs{HeaderPadSize: d.Uint32(), MaxRequestSize: d.Uint32(), MaxResponseSize: d.Uint32(),
		MaxResponseSizeCached: d.Uint32(), MaxOperations: d.Uint32(), MaxRequests: d.Uint32()}
	if d.Count(1, 4) == 1 {
		a.RDMAIrd = []uint32{d.Uint32()}
	}
	return a
}

// CBSecParms is one callback_sec_parms4. Flavor nfs4.AuthNone has no body;
// nfs4.AuthSys uses Sys. (RPCSEC_GSS is not supported by this client.)
type CBSecParms struct {
	Flavor uint32
	Sys    oncrpc.AuthSys
}

func encodeCBSecParms(e *xdr.Encoder, parms []CBSecParms) {
	e.Uint32(uint32(len(parms)))
	for _, p := range parms {
		e.Uint32(p.Flavor)
		if p.Flavor == nfs4.AuthSys {
			// authsys_parms is the body of an AUTH_SYS credential.
			e.Buf = append(e.Buf, oncrpc.CredSys(p.Sys).Body...)
		}
	}
}

// CreateSessionArgs are the arguments of CREATE_SESSION (RFC 8881 section
// 18.36).
type CreateSessionArgs struct {
	ClientID  uint64
	Sequence  uint32
	Flags     uint32 // nfs4.CreateSessionFlag*
	Fore      ChannelAttrs
	Back      ChannelAttrs
	CBProgram uint32
	SecParms  []CBSecParms
}

// CreateSession appends CREATE_SESSION; the result is *CreateSessionRes.
func (c *Compound) CreateSession(a CreateSessionArgs) *Compound {
	e := c.op(nfs4.OpCreateSession)
	e.Uint64(a.ClientID)
	e.Uint32(a.Sequence)
	e.Uint32(a.Flags)
	a.Fore.encode(e)
	a.Back.encode(e)
	e.Uint32(a.CBProgram)
	encodeCBSecParms(e, a.SecParms)
	return c
}

// CreateSessionRes is the result of CREATE_SESSION.
type CreateSessionRes struct {
	SessionID [nfs4.SessionIDSize]byte
	Sequence  uint32
	Flags     uint32
	Fore      ChannelAttrs
	Back      ChannelAttrs
}

func decodeCreateSessionRes(d *xdr.Decoder) *CreateSessionRes {
	r := &CreateSessionRes{}
	copy(r.SessionID[:], d.Fixed(nfs4.SessionIDSize))
	r.Sequence = d.Uint32()
	r.Flags = d.Uint32()
	r.Fore = decodeChannelAttrs(d)
	r.Back = decodeChannelAttrs(d)
	return r
}

// BackchannelCtl appends BACKCHANNEL_CTL.
func (c *Compound) BackchannelCtl(cbProgram uint32, parms []CBSecParms) *Compound {
	e := c.op(nfs4.OpBackchannelCtl)
	e.Uint32(cbProgram)
	encodeCBSecParms(e, parms)
	return c
}

// DestroySession appends DESTROY_SESSION.
func (c *Compound) DestroySession(sessionID [nfs4.SessionIDSize]byte) *Compound {
	c.op(nfs4.OpDestroySession).Fixed(sessionID[:])
	return c
}

// BindConnToSession appends BIND_CONN_TO_SESSION; dir is one of
// nfs4.CDFC4*. The result is *BindConnRes.
func (c *Compound) BindConnToSession(sessionID [nfs4.SessionIDSize]byte, dir uint32, rdma bool) *Compound {
	e := c.op(nfs4.OpBindConnToSession)
	e.Fixed(sessionID[:])
	e.Uint32(dir)
	e.Bool(rdma)
	return c
}

// BindConnRes is the result of BIND_CONN_TO_SESSION.
type BindConnRes struct {
	SessionID [nfs4.SessionIDSize]byte
	Dir       uint32 // nfs4.CDFS4*
	RDMA      bool
}

// SequenceArgs are the arguments of SEQUENCE.
type SequenceArgs struct {
	SessionID     [nfs4.SessionIDSize]byte
	SequenceID    uint32
	SlotID        uint32
	HighestSlotID uint32
	CacheThis     bool
}

// Sequence appends an explicit SEQUENCE (for a Compound without the
// automatic one, see NoSequence and Client.AcquireSlot); the result is
// *SequenceRes.
func (c *Compound) Sequence(a SequenceArgs) *Compound {
	e := c.op(nfs4.OpSequence)
	e.Fixed(a.SessionID[:])
	e.Uint32(a.SequenceID)
	e.Uint32(a.SlotID)
	e.Uint32(a.HighestSlotID)
	e.Bool(a.CacheThis)
	return c
}

// SequenceRes is the result of SEQUENCE.
type SequenceRes struct {
	SessionID           [nfs4.SessionIDSize]byte
	SequenceID          uint32
	SlotID              uint32
	HighestSlotID       uint32
	TargetHighestSlotID uint32
	StatusFlags         uint32 // nfs4.SeqStatus*
}

func decodeSequenceRes(d *xdr.Decoder, r *SequenceRes) {
	copy(r.SessionID[:], d.Fixed(nfs4.SessionIDSize))
	r.SequenceID = d.Uint32()
	r.SlotID = d.Uint32()
	r.HighestSlotID = d.Uint32()
	r.TargetHighestSlotID = d.Uint32()
	r.StatusFlags = d.Uint32()
}

// DestroyClientID appends DESTROY_CLIENTID.
func (c *Compound) DestroyClientID(clientID uint64) *Compound {
	c.op(nfs4.OpDestroyClientID).Uint64(clientID)
	return c
}

// ReclaimComplete appends RECLAIM_COMPLETE.
func (c *Compound) ReclaimComplete(oneFS bool) *Compound {
	c.op(nfs4.OpReclaimComplete).Bool(oneFS)
	return c
}
