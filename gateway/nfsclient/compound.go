package nfsclient

import (
	"context"
	"fmt"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// seqOpLen is the encoded size of a SEQUENCE operation: opcode, sessionid4,
// sequenceid, slotid, highest_slotid and cachethis.
const seqOpLen = 4 + nfs4.SessionIDSize + 4*4

// Reply-side bounds.
const (
	maxReplyTag     = 1 << 20
	maxReplyResults = 1 << 20
)

// Compound builds the arguments of one COMPOUND call (RFC 8881 section
// 16.2.1): tag, minorversion and the encoded operations. Operation methods
// append one operation each and return c, so calls can be chained. Nothing
// is validated: a test can send any name, file handle or count.
//
// A Compound made by Client.NewCompound on an NFSv4.1 session starts with
// room for a SEQUENCE operation that Client.Do fills with a slot of the
// session when it sends c; NoSequence removes it. A Compound may be sent
// again (it gets a new slot each time), or Reset and refilled. It must not
// be used by two goroutines at once.
type Compound struct {
	e        xdr.Encoder
	minorOff int // offset of minorversion
	countOff int // offset of the argarray count
	seqOff   int // offset of the reserved SEQUENCE op, -1 if none
	opsOff   int // offset of the first caller-appended op
	ops      []uint32

	countSet  bool
	count     uint32
	cacheThis bool
	cred      *oncrpc.Cred
}

// NewCompound returns a Compound for the given minor version with no
// automatic SEQUENCE, independent of any Client (Client.Do still sends it).
func NewCompound(minorversion uint32, tag string) *Compound {
	c := &Compound{}
	c.init(minorversion, tag, false)
	return c
}

func (c *Compound) init(minor uint32, tag string, seq bool) {
	c.e.Buf = c.e.Buf[:0]
	c.e.String(tag)
	c.minorOff = c.e.Len()
	c.e.Uint32(minor)
	c.countOff = c.e.Len()
	c.e.Uint32(0)
	c.seqOff = -1
	if seq {
		c.seqOff = c.e.Len()
		c.e.Uint32(nfs4.OpSequence)
		c.e.Reserve(seqOpLen - 4)
	}
	c.opsOff = c.e.Len()
	c.ops = c.ops[:0]
	c.countSet = false
	c.cacheThis = false
	c.cred = nil
}

// Reset removes every operation appended so far, keeping the tag, minor
// version, credential and automatic SEQUENCE.
func (c *Compound) Reset() {
	c.e.Buf = c.e.Buf[:c.opsOff]
	c.ops = c.ops[:0]
	c.countSet = false
}

// NoSequence removes the automatic SEQUENCE, so that c is sent exactly as
// built (a test can then place its own Sequence anywhere, or none).
func (c *Compound) NoSequence() *Compound {
	if c.seqOff < 0 {
		return c
	}
	n := copy(c.e.Buf[c.seqOff:], c.e.Buf[c.seqOff+seqOpLen:])
	c.e.Buf = c.e.Buf[:c.seqOff+n]
	c.opsOff -= seqOpLen
	c.seqOff = -1
	return c
}

// HasAutoSequence reports whether Client.Do will put a SEQUENCE first.
func (c *Compound) HasAutoSequence() bool { return c.seqOff >= 0 }

// SetCacheThis sets sa_cachethis in the automatic SEQUENCE.
func (c *Compound) SetCacheThis(v bool) *Compound { c.cacheThis = v; return c }

// SetMinorVersion overrides the minorversion field.
func (c *Compound) SetMinorVersion(v uint32) *Compound {
	c.e.PutUint32At(c.minorOff, v)
	return c
}

// SetOpCount makes the argarray count n whatever the number of operations
// actually encoded, to test a server's handling of a lying count.
func (c *Compound) SetOpCount(n uint32) *Compound {
	c.countSet, c.count = true, n
	return c
}

// SetCred sends c with cred instead of the Client's credential.
func (c *Compound) SetCred(cred oncrpc.Cred) *Compound {
	c.cred = &cred
	return c
}

// Ops returns the opcodes appended by the caller, in order (not counting
// the automatic SEQUENCE).
func (c *Compound) Ops() []uint32 { return c.ops }

// Bytes returns the encoded COMPOUND4args. The automatic SEQUENCE, if any,
// holds whatever it was last filled with (zeros before the first send).
func (c *Compound) Bytes() []byte {
	n := uint32(len(c.ops))
	if c.seqOff >= 0 {
		n++
	}
	if c.countSet {
		n = c.count
	}
	c.e.PutUint32At(c.countOff, n)
	return c.e.Buf
}

// fillSequence writes the automatic SEQUENCE's arguments.
func (c *Compound) fillSequence(sid *[nfs4.SessionIDSize]byte, seqid, slot, highest uint32) {
	b := c.e.Buf[c.seqOff+4:]
	copy(b, sid[:])
	o := c.seqOff + 4 + nfs4.SessionIDSize
	c.e.PutUint32At(o, seqid)
	c.e.PutUint32At(o+4, slot)
	c.e.PutUint32At(o+8, highest)
	v := uint32(0)
	if c.cacheThis {
		v = 1
	}
	c.e.PutUint32At(o+12, v)
}

func (c *Compound) op(op uint32) *xdr.Encoder {
	c.ops = append(c.ops, op)
	c.e.Uint32(op)
	return &c.e
}

// Raw appends operation opnum with already-encoded arguments, which may be
// anything (an unknown opnum, truncated arguments, trailing garbage).
func (c *Compound) Raw(opnum uint32, encodedArgs []byte) *Compound {
	e := c.op(opnum)
	e.Buf = append(e.Buf, encodedArgs...)
	return c
}

// Reply is a decoded COMPOUND4res.
type Reply struct {
	Status nfs4.Status // COMPOUND status: that of the last result
	Tag    string
	// NumResults is the resarray length as sent, the automatic SEQUENCE's
	// result included.
	NumResults int
	// Sequence is the result of the automatic SEQUENCE (nil if the
	// Compound had none, or if the reply holds no results at all).
	Sequence *OpResult
	// Ops are the results of the caller's operations, in order: Ops[i]
	// belongs to the i-th operation appended. After a failed operation
	// the reply ends (RFC 8881 section 15.2), so Ops may be shorter.
	Ops []OpResult
}

// OpResult is one nfs_resop4.
type OpResult struct {
	Op     uint32
	Status nfs4.Status
	// Res is the decoded result: nil for operations whose result is only
	// a status (LOOKUP, PUTFH, ...) and for failed operations, except
	// LOCK and LOCKT with NFS4ERR_DENIED (*LockDenied), SETATTR (always
	// *SetattrRes) and SETCLIENTID with NFS4ERR_CLID_INUSE
	// (*SetClientIDRes). Otherwise a pointer to the operation's result
	// type (*GetattrRes, *ReadRes, ...); for an operation this package
	// cannot decode, *RawRes with the rest of the reply.
	Res any
}

// Err returns nil for NFS4_OK, else a *StatusError.
func (o *OpResult) Err() error {
	if o.Status == nfs4.OK {
		return nil
	}
	return &StatusError{Op: o.Op, Status: o.Status}
}

// RawRes holds the undecoded remainder of a reply, from the result body of
// an operation this package does not know. Decoding stops there.
type RawRes struct {
	Data []byte
}

// Err returns nil if the COMPOUND succeeded, else a *StatusError naming the
// failed operation (the last result), or with Op 0 if there was none.
func (r *Reply) Err() error {
	if r.Status == nfs4.OK {
		return nil
	}
	if n := len(r.Ops); n > 0 && r.Ops[n-1].Status != nfs4.OK {
		return r.Ops[n-1].Err()
	}
	if r.Sequence != nil && r.Sequence.Status != nfs4.OK {
		return r.Sequence.Err()
	}
	return &StatusError{Status: r.Status}
}

// Find returns the first result of operation op, or nil.
func (r *Reply) Find(op uint32) *OpResult {
	for i := range r.Ops {
		if r.Ops[i].Op == op {
			return &r.Ops[i]
		}
	}
	return nil
}

// replyReader walks a COMPOUND4res without allocating: the hot paths
// (READ, WRITE, GETATTR) use it directly, Do and DecodeCompoundReply build
// a Reply with it.
type replyReader struct {
	d      xdr.Decoder
	status nfs4.Status
	tag    []byte
	n      int // results announced
	i      int // results read
	failed bool
	last   nfs4.Status // status of the last result read

	// automatic SEQUENCE result, when the Compound had one
	autoSeq   bool // the Compound had an automatic SEQUENCE
	hasSeq    bool // and the reply holds its result
	seqStatus nfs4.Status
	seq       SequenceRes
}

func (r *replyReader) init(b []byte) error {
	*r = replyReader{}
	r.d.Reset(b)
	r.status = nfs4.Status(r.d.Uint32())
	r.tag = r.d.Opaque(maxReplyTag)
	r.n = r.d.Count(maxReplyResults, 8)
	if err := r.d.Err(); err != nil {
		return &DecodeError{Index: -1, Err: err}
	}
	return nil
}

// next reads the opcode and status of the next result.
func (r *replyReader) next() (op uint32, status nfs4.Status, err error) {
	if r.i >= r.n {
		return 0, 0, &DecodeError{Index: r.i, Err: protoErr("reply has %d results, expected more", r.n)}
	}
	if r.failed {
		return 0, 0, &DecodeError{Index: r.i, Err: protoErr("result %d follows a failed operation", r.i)}
	}
	op = r.d.Uint32()
	status = nfs4.Status(r.d.Uint32())
	if err := r.d.Err(); err != nil {
		return op, status, &DecodeError{Index: r.i, Op: op, Err: err}
	}
	r.i++
	r.last = status
	if status != nfs4.OK {
		r.failed = true
	}
	return op, status, nil
}

// expect reads the next result and checks its opcode; a failed status
// becomes a *StatusError.
func (r *replyReader) expect(want uint32) error {
	if r.i >= r.n && !r.failed && r.status != nfs4.OK {
		// No result to blame (e.g. NFS4ERR_MINOR_VERS_MISMATCH).
		return &StatusError{Status: r.status}
	}
	op, status, err := r.next()
	if err != nil {
		return err
	}
	if op != want {
		return &DecodeError{Index: r.i - 1, Op: op, Err: protoErr("result is %s, expected %s", OpName(op), OpName(want))}
	}
	if status != nfs4.OK {
		return &StatusError{Op: op, Status: status}
	}
	return nil
}

// begin reports a failed automatic SEQUENCE as a *StatusError.
func (r *replyReader) begin() error {
	if r.hasSeq && r.seqStatus != nfs4.OK {
		return &StatusError{Op: nfs4.OpSequence, Status: r.seqStatus}
	}
	return nil
}

// fail wraps the decoder's error for the result just read.
func (r *replyReader) fail(op uint32) error {
	if err := r.d.Err(); err != nil {
		return &DecodeError{Index: r.i - 1, Op: op, Err: err}
	}
	return nil
}

// finish checks what only the end of the reply can show.
func (r *replyReader) finish() error {
	if r.i < r.n {
		if r.failed {
			return &DecodeError{Index: r.i, Err: protoErr("%d results announced after a failed operation", r.n-r.i)}
		}
		return &DecodeError{Index: r.i, Err: protoErr("%d results left undecoded", r.n-r.i)}
	}
	if rem := r.d.Remaining(); rem != 0 {
		return &DecodeError{Index: r.i, Err: protoErr("%d bytes after the last result", rem)}
	}
	// RFC 8881 section 16.2.3: the COMPOUND status is that of the last
	// operation evaluated.
	if r.n > 0 && r.last != r.status {
		return &DecodeError{Index: -1, Err: protoErr("COMPOUND status %s but last result %s", StatusName(r.status), StatusName(r.last))}
	}
	if r.n == 0 && r.status == nfs4.OK && r.autoSeq {
		return &DecodeError{Index: -1, Err: protoErr("NFS4_OK with no results")}
	}
	return nil
}

// DecodeCompoundReply decodes a COMPOUND4res as sent by a server, every
// result (a SEQUENCE included) in Reply.Ops. On an error the returned Reply
// holds what was decoded before it.
func DecodeCompoundReply(b []byte) (*Reply, error) {
	var rr replyReader
	if err := rr.init(b); err != nil {
		return nil, err
	}
	r := &Reply{Status: rr.status, Tag: string(rr.tag), NumResults: rr.n}
	if err := rr.decodeRest(r); err != nil {
		return r, err
	}
	return r, rr.finish()
}

// decodeRest decodes the remaining results into r.Ops.
func (rr *replyReader) decodeRest(r *Reply) error {
	if cap(r.Ops) == 0 && rr.n > rr.i {
		r.Ops = make([]OpResult, 0, min(rr.n-rr.i, 64))
	}
	for rr.i < rr.n && !rr.failed {
		op, status, err := rr.next()
		if err != nil {
			return err
		}
		res, known := decodeResult(op, status, &rr.d)
		r.Ops = append(r.Ops, OpResult{Op: op, Status: status, Res: res})
		if err := rr.fail(op); err != nil {
			return err
		}
		if !known {
			rr.i = rr.n // the rest is in RawRes
			return nil
		}
	}
	return nil
}

// Do sends c and decodes the reply. For a Compound with an automatic
// SEQUENCE it takes a session slot first (waiting while all are busy) and
// settles the slot from the SEQUENCE result. A non-OK NFS status is not an
// error here: it is in Reply.Status and the results (see Reply.Err). The
// error reports transport failures and replies that cannot be decoded or
// break the protocol; in the latter case the Reply holds what was decoded.
func (cl *Client) Do(ctx context.Context, c *Compound) (*Reply, error) {
	var rr replyReader
	if err := cl.exec(ctx, c, &rr); err != nil {
		return nil, err
	}
	r := &Reply{Status: rr.status, Tag: string(rr.tag), NumResults: rr.n}
	if rr.hasSeq {
		o := &OpResult{Op: nfs4.OpSequence, Status: rr.seqStatus}
		if rr.seqStatus == nfs4.OK {
			s := rr.seq
			o.Res = &s
		}
		r.Sequence = o
	}
	if err := rr.decodeRest(r); err != nil {
		return r, err
	}
	if err := rr.finish(); err != nil {
		return r, err
	}
	return r, checkOps(c, r)
}

// checkOps compares the results with the operations sent.
func checkOps(c *Compound, r *Reply) error {
	if c.countSet {
		return nil
	}
	for i := range r.Ops {
		if i >= len(c.ops) {
			return &DecodeError{Index: i, Op: r.Ops[i].Op, Err: protoErr("more results than operations sent")}
		}
		// An undefined opnum is answered as OP_ILLEGAL (RFC 8881 section 18.51).
		if got := r.Ops[i].Op; got != c.ops[i] && got != nfs4.OpIllegal {
			return &DecodeError{Index: i, Op: got, Err: protoErr("result is %s for %s", OpName(got), OpName(c.ops[i]))}
		}
	}
	if r.Status == nfs4.OK && len(r.Ops) != len(c.ops) {
		if _, raw := lastRes(r).(*RawRes); !raw {
			return &DecodeError{Index: len(r.Ops), Err: protoErr("NFS4_OK with %d results for %d operations", len(r.Ops), len(c.ops))}
		}
	}
	return nil
}

func lastRes(r *Reply) any {
	if len(r.Ops) == 0 {
		return nil
	}
	return r.Ops[len(r.Ops)-1].Res
}

// CallRaw sends a COMPOUND whose arguments are an empty tag, minorversion
// and then body verbatim (body is normally an argarray: a count and the
// operations, possibly malformed). No SEQUENCE is added. It returns the
// COMPOUND4res bytes, which DecodeCompoundReply decodes.
func (cl *Client) CallRaw(ctx context.Context, minorversion uint32, body []byte) ([]byte, error) {
	e := xdr.NewEncoder(make([]byte, 0, 8+len(body)))
	e.Uint32(0)
	e.Uint32(minorversion)
	e.Buf = append(e.Buf, body...)
	return cl.CallProc(ctx, nfs4.ProcCompound, e.Buf)
}

// CallProc calls NFSv4 procedure proc with args verbatim and returns the
// result bytes.
func (cl *Client) CallProc(ctx context.Context, proc uint32, args []byte) ([]byte, error) {
	return cl.rpc.Call(ctx, nfs4.Program, nfs4.Version, proc, cl.cred, args)
}

// Null calls NFSPROC4_NULL.
func (cl *Client) Null(ctx context.Context) error {
	_, err := cl.CallProc(ctx, nfs4.ProcNull, nil)
	return err
}

// decodeResult decodes the body of one result. known is false for an
// operation whose result format this package does not know; res is then a
// *RawRes holding the rest of the input, all of which it consumes.
func decodeResult(op uint32, status nfs4.Status, d *xdr.Decoder) (res any, known bool) {
	ok := status == nfs4.OK
	switch op {
	// Results that are only a status.
	case nfs4.OpDelegPurge, nfs4.OpDelegReturn, nfs4.OpLookup, nfs4.OpLookupP,
		nfs4.OpNVerify, nfs4.OpOpenAttr, nfs4.OpPutFH, nfs4.OpPutPubFH,
		nfs4.OpPutRootFH, nfs4.OpRenew, nfs4.OpRestoreFH, nfs4.OpSaveFH,
		nfs4.OpSetClientIDConfirm, nfs4.OpVerify, nfs4.OpReleaseLockOwner,
		nfs4.OpBackchannelCtl, nfs4.OpDestroySession, nfs4.OpFreeStateID,
		nfs4.OpDestroyClientID, nfs4.OpReclaimComplete, nfs4.OpIllegal,
		nfs4.OpAllocate, nfs4.OpDeallocate, nfs4.OpLayoutError,
		nfs4.OpLayoutStats, nfs4.OpOffloadCancel, nfs4.OpClone:
		return nil, true
	case nfs4.OpSetattr: // SETATTR4res is a struct: attrsset follows any status
		return decodeSetattrRes(d), true
	case nfs4.OpLock, nfs4.OpLockT:
		if status == nfs4.ErrDenied {
			return decodeLockDenied(d), true
		}
		if ok && op == nfs4.OpLock {
			return &LockRes{Stateid: nfs4.DecodeStateid(d)}, true
		}
		return nil, true
	case nfs4.OpSetClientID:
		if ok || status == nfs4.ErrClidInuse {
			return decodeSetClientIDRes(d, status), true
		}
		return nil, true
	}
	if !ok {
		switch {
		case op == nfs4.OpGetDeviceInfo && status == nfs4.ErrToosmall,
			op == nfs4.OpLayoutGet && status == nfs4.ErrLayouttrylater:
			// These two carry a body on error (RFC 8881 sections 18.40, 18.43).
		case op >= nfs4.OpAccess && op <= nfs4.OpReclaimComplete:
			// Every other NFSv4.0/4.1 result is void on error.
			return nil, true
		}
		return &RawRes{Data: d.Fixed(d.Remaining())}, false
	}
	switch op {
	case nfs4.OpAccess:
		return &AccessRes{Supported: d.Uint32(), Access: d.Uint32()}, true
	case nfs4.OpClose:
		return &CloseRes{Stateid: nfs4.DecodeStateid(d)}, true
	case nfs4.OpCommit:
		r := &CommitRes{}
		copy(r.Verifier[:], d.Fixed(nfs4.VerifierSize))
		return r, true
	case nfs4.OpCreate:
		return &CreateRes{Cinfo: decodeChangeInfo(d), Attrset: decodeBitmap(d)}, true
	case nfs4.OpGetattr:
		r := &GetattrRes{}
		if err := DecodeFattr(d, &r.Attrs); err != nil {
			d.SetErr(err)
		}
		return r, true
	case nfs4.OpGetFH:
		return &GetFHRes{FH: d.Opaque(nfs4.FHSize)}, true
	case nfs4.OpLink:
		return &LinkRes{Cinfo: decodeChangeInfo(d)}, true
	case nfs4.OpLockU:
		return &LockURes{Stateid: nfs4.DecodeStateid(d)}, true
	case nfs4.OpOpen:
		return decodeOpenRes(d), true
	case nfs4.OpOpenConfirm:
		return &OpenConfirmRes{Stateid: nfs4.DecodeStateid(d)}, true
	case nfs4.OpOpenDowngrade:
		return &OpenDowngradeRes{Stateid: nfs4.DecodeStateid(d)}, true
	case nfs4.OpRead:
		r := &ReadRes{}
		r.EOF = d.Bool()
		r.Data = d.Opaque(d.Remaining())
		return r, true
	case nfs4.OpReaddir:
		return decodeReaddirRes(d), true
	case nfs4.OpReadlink:
		return &ReadlinkRes{Link: string(d.Opaque(nfs4.MaxPathLen * 16))}, true
	case nfs4.OpRemove:
		return &RemoveRes{Cinfo: decodeChangeInfo(d)}, true
	case nfs4.OpRename:
		return &RenameRes{Source: decodeChangeInfo(d), Target: decodeChangeInfo(d)}, true
	case nfs4.OpSecinfo, nfs4.OpSecinfoNoName:
		return decodeSecinfoRes(d), true
	case nfs4.OpWrite:
		r := &WriteRes{Count: d.Uint32(), Committed: d.Uint32()}
		copy(r.Verifier[:], d.Fixed(nfs4.VerifierSize))
		return r, true
	case nfs4.OpBindConnToSession:
		r := &BindConnRes{}
		copy(r.SessionID[:], d.Fixed(nfs4.SessionIDSize))
		r.Dir = d.Uint32()
		r.RDMA = d.Bool()
		return r, true
	case nfs4.OpExchangeID:
		return decodeExchangeIDRes(d), true
	case nfs4.OpCreateSession:
		return decodeCreateSessionRes(d), true
	case nfs4.OpSequence:
		r := &SequenceRes{}
		decodeSequenceRes(d, r)
		return r, true
	case nfs4.OpTestStateID:
		n := d.Count(maxAttrList, 4)
		r := &TestStateIDRes{Codes: make([]nfs4.Status, n)}
		for i := range r.Codes {
			r.Codes[i] = nfs4.Status(d.Uint32())
		}
		return r, true
	}
	return &RawRes{Data: d.Fixed(d.Remaining())}, false
}

// ChangeInfo is change_info4.
type ChangeInfo struct {
	Atomic        bool
	Before, After uint64
}

func decodeChangeInfo(d *xdr.Decoder) ChangeInfo {
	return ChangeInfo{Atomic: d.Bool(), Before: d.Uint64(), After: d.Uint64()}
}

func (ci ChangeInfo) String() string {
	return fmt.Sprintf("{atomic:%v %d->%d}", ci.Atomic, ci.Before, ci.After)
}
