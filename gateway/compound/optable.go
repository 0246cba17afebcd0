package compound

import (
	"encoding/binary"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// opFunc decodes an operation's arguments from d, runs it, and appends its
// result body (without the status) to e. It returns the status. Unless the
// op is marked errBody, anything it appended is dropped on failure.
type opFunc func(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status

type opDef struct {
	name     string
	fn       opFunc
	minMinor uint32
	maxMinor uint32 // operations removed in 4.1 (SETCLIENTID, ...) stop at 0
	errBody  bool   // the result has a body even on failure
}

const maxOp = nfs4.OpRemovexattr

var ops [maxOp + 1]opDef

func def(op uint32, name string, fn opFunc, minMinor, maxMinor uint32) {
	ops[op] = opDef{name: name, fn: fn, minMinor: minMinor, maxMinor: maxMinor}
}

func init() {
	const v0, v1, v2, any = 0, 1, 2, 2
	def(nfs4.OpAccess, "ACCESS", opAccess, v0, any)
	def(nfs4.OpClose, "CLOSE", opClose, v0, any)
	def(nfs4.OpCommit, "COMMIT", opCommit, v0, any)
	def(nfs4.OpCreate, "CREATE", opCreate, v0, any)
	def(nfs4.OpDelegPurge, "DELEGPURGE", opNotSupp, v0, any)
	def(nfs4.OpDelegReturn, "DELEGRETURN", opDelegReturn, v0, any)
	def(nfs4.OpGetattr, "GETATTR", opGetattr, v0, any)
	def(nfs4.OpGetFH, "GETFH", opGetFH, v0, any)
	def(nfs4.OpLink, "LINK", opLink, v0, any)
	def(nfs4.OpLock, "LOCK", opLock, v0, any)
	ops[nfs4.OpLock].errBody = true
	def(nfs4.OpLockT, "LOCKT", opLockT, v0, any)
	ops[nfs4.OpLockT].errBody = true
	def(nfs4.OpLockU, "LOCKU", opLockU, v0, any)
	def(nfs4.OpLookup, "LOOKUP", opLookup, v0, any)
	def(nfs4.OpLookupP, "LOOKUPP", opLookupP, v0, any)
	def(nfs4.OpNVerify, "NVERIFY", opNVerify, v0, any)
	def(nfs4.OpOpen, "OPEN", opOpen, v0, any)
	def(nfs4.OpOpenAttr, "OPENATTR", opNotSupp, v0, any)
	def(nfs4.OpOpenConfirm, "OPEN_CONFIRM", opOpenConfirm, v0, v0)
	def(nfs4.OpOpenDowngrade, "OPEN_DOWNGRADE", opOpenDowngrade, v0, any)
	def(nfs4.OpPutFH, "PUTFH", opPutFH, v0, any)
	def(nfs4.OpPutPubFH, "PUTPUBFH", opPutRootFH, v0, any)
	def(nfs4.OpPutRootFH, "PUTROOTFH", opPutRootFH, v0, any)
	def(nfs4.OpRead, "READ", opRead, v0, any)
	def(nfs4.OpReaddir, "READDIR", opReaddir, v0, any)
	def(nfs4.OpReadlink, "READLINK", opReadlink, v0, any)
	def(nfs4.OpRemove, "REMOVE", opRemove, v0, any)
	def(nfs4.OpRename, "RENAME", opRename, v0, any)
	def(nfs4.OpRenew, "RENEW", opRenew, v0, v0)
	def(nfs4.OpRestoreFH, "RESTOREFH", opRestoreFH, v0, any)
	def(nfs4.OpSaveFH, "SAVEFH", opSaveFH, v0, any)
	def(nfs4.OpSecinfo, "SECINFO", opSecinfo, v0, any)
	def(nfs4.OpSetattr, "SETATTR", opSetattr, v0, any)
	ops[nfs4.OpSetattr].errBody = true
	def(nfs4.OpSetClientID, "SETCLIENTID", opSetClientID, v0, v0)
	ops[nfs4.OpSetClientID].errBody = true
	def(nfs4.OpSetClientIDConfirm, "SETCLIENTID_CONFIRM", opSetClientIDConfirm, v0, v0)
	def(nfs4.OpVerify, "VERIFY", opVerify, v0, any)
	def(nfs4.OpWrite, "WRITE", opWrite, v0, any)
	def(nfs4.OpReleaseLockOwner, "RELEASE_LOCKOWNER", opReleaseLockOwner, v0, v0)

	def(nfs4.OpBackchannelCtl, "BACKCHANNEL_CTL", opBackchannelCtl, v1, any)
	def(nfs4.OpBindConnToSession, "BIND_CONN_TO_SESSION", opBindConnToSession, v1, any)
	def(nfs4.OpExchangeID, "EXCHANGE_ID", opExchangeID, v1, any)
	def(nfs4.OpCreateSession, "CREATE_SESSION", opCreateSession, v1, any)
	def(nfs4.OpDestroySession, "DESTROY_SESSION", opDestroySession, v1, any)
	def(nfs4.OpFreeStateID, "FREE_STATEID", opFreeStateid, v1, any)
	def(nfs4.OpGetDirDelegation, "GET_DIR_DELEGATION", opNotSupp, v1, any)
	def(nfs4.OpGetDeviceInfo, "GETDEVICEINFO", opNotSupp, v1, any)
	def(nfs4.OpGetDeviceList, "GETDEVICELIST", opNotSupp, v1, any)
	def(nfs4.OpLayoutCommit, "LAYOUTCOMMIT", opNotSupp, v1, any)
	def(nfs4.OpLayoutGet, "LAYOUTGET", opNotSupp, v1, any)
	def(nfs4.OpLayoutReturn, "LAYOUTRETURN", opNotSupp, v1, any)
	def(nfs4.OpSecinfoNoName, "SECINFO_NO_NAME", opSecinfoNoName, v1, any)
	def(nfs4.OpSequence, "SEQUENCE", opSequence, v1, any)
	def(nfs4.OpSetSSV, "SET_SSV", opNotSupp, v1, any)
	def(nfs4.OpTestStateID, "TEST_STATEID", opTestStateid, v1, any)
	def(nfs4.OpWantDelegation, "WANT_DELEGATION", opNotSupp, v1, any)
	def(nfs4.OpDestroyClientID, "DESTROY_CLIENTID", opDestroyClientID, v1, any)
	def(nfs4.OpReclaimComplete, "RECLAIM_COMPLETE", opReclaimComplete, v1, any)
	// NFSv4.2 (RFC 7862, RFC 8276): unsupported unless defined below.
	for i, name := range []string{"ALLOCATE", "COPY", "COPY_NOTIFY", "DEALLOCATE", "IO_ADVISE", "LAYOUTERROR",
		"LAYOUTSTATS", "OFFLOAD_CANCEL", "OFFLOAD_STATUS", "READ_PLUS", "SEEK", "WRITE_SAME", "CLONE",
		"GETXATTR", "SETXATTR", "LISTXATTRS", "REMOVEXATTR"} {
		def(nfs4.OpAllocate+uint32(i), name, opNotSupp, v2, any)
	}
	def(nfs4.OpAllocate, "ALLOCATE", opAllocate, v2, any)
	def(nfs4.OpGetxattr, "GETXATTR", opGetxattr, v2, any)
	def(nfs4.OpSetxattr, "SETXATTR", opSetxattr, v2, any)
	def(nfs4.OpListxattrs, "LISTXATTRS", opListxattrs, v2, any)
	def(nfs4.OpRemovexattr, "REMOVEXATTR", opRemovexattr, v2, any)
}

// OpName returns the name of an operation, for logs and metrics.
func OpName(op uint32) string {
	if op <= maxOp && ops[op].fn != nil {
		return ops[op].name
	}
	return "ILLEGAL"
}

func opNotSupp(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status { return nfs4.ErrNotsupp }

// sessionOnly lists the 4.1 operations that may start a COMPOUND without a
// SEQUENCE, in which case they must be its only operation (RFC 8881 section
// 2.10.6.3 and the operations' descriptions).
func sessionOnly(op uint32) bool {
	switch op {
	case nfs4.OpExchangeID, nfs4.OpCreateSession, nfs4.OpDestroySession,
		nfs4.OpBindConnToSession, nfs4.OpDestroyClientID:
		return true
	}
	return false
}

// sequencing applies the 4.1 rules about SEQUENCE and the operations that
// may appear without it.
func (r *request) sequencing(op uint32) nfs4.Status {
	if r.minor == 0 {
		return nfs4.OK
	}
	if r.opIndex == 0 {
		switch {
		case op == nfs4.OpSequence:
			return nfs4.OK
		case sessionOnly(op):
			if r.numOps > 1 {
				return nfs4.ErrNotOnlyOp
			}
			return nfs4.OK
		}
		return nfs4.ErrOpNotInSession
	}
	if op == nfs4.OpSequence {
		return nfs4.ErrSequencePos
	}
	return nfs4.OK
}

// runOp runs one operation and encodes its result.
func (r *request) runOp(op uint32, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if op > maxOp || ops[op].fn == nil || r.minor < ops[op].minMinor {
		e.Uint32(nfs4.OpIllegal)
		e.Uint32(uint32(nfs4.ErrOpIllegal))
		return nfs4.ErrOpIllegal
	}
	def := &ops[op]
	e.Uint32(op)
	statusOff := e.Reserve(4)
	if r.minor > def.maxMinor {
		e.PutUint32At(statusOff, uint32(nfs4.ErrNotsupp))
		return nfs4.ErrNotsupp
	}
	if st := r.sequencing(op); st != nfs4.OK {
		e.PutUint32At(statusOff, uint32(st))
		return st
	}
	bodyStart := e.Len()
	st := def.fn(r, d, e)
	if r.gateRelease != nil {
		r.gateRelease()
		r.gateRelease = nil
	}
	if r.opReplay != nil {
		// A 4.0 retransmission of a seqid-bearing operation: answer with
		// the recorded result (RFC 7530 section 9.1.7).
		e.Buf = append(e.Buf[:statusOff], r.opReplay...)
		st = nfs4.Status(binary.BigEndian.Uint32(r.opReplay))
		r.opReplay = nil
		return st
	}
	if st != nfs4.OK && !def.errBody {
		e.Buf = e.Buf[:bodyStart]
	}
	e.PutUint32At(statusOff, uint32(st))
	return st
}
