package nfsclient

import (
	"strconv"

	"nfsgw/gateway/nfs4"
)

var opNames = map[uint32]string{
	nfs4.OpAccess: "ACCESS", nfs4.OpClose: "CLOSE", nfs4.OpCommit: "COMMIT",
	nfs4.OpCreate: "CREATE", nfs4.OpDelegPurge: "DELEGPURGE",
	nfs4.OpDelegReturn: "DELEGRETURN", nfs4.OpGetattr: "GETATTR",
	nfs4.OpGetFH: "GETFH", nfs4.OpLink: "LINK", nfs4.OpLock: "LOCK",
	nfs4.OpLockT: "LOCKT", nfs4.OpLockU: "LOCKU", nfs4.OpLookup: "LOOKUP",
	nfs4.OpLookupP: "LOOKUPP", nfs4.OpNVerify: "NVERIFY", nfs4.OpOpen: "OPEN",
	nfs4.OpOpenAttr: "OPENATTR", nfs4.OpOpenConfirm: "OPEN_CONFIRM",
	nfs4.OpOpenDowngrade: "OPEN_DOWNGRADE", nfs4.OpPutFH: "PUTFH",
	nfs4.OpPutPubFH: "PUTPUBFH", nfs4.OpPutRootFH: "PUTROOTFH",
	nfs4.OpRead: "READ", nfs4.OpReaddir: "READDIR", nfs4.OpReadlink: "READLINK",
	nfs4.OpRemove: "REMOVE", nfs4.OpRename: "RENAME", nfs4.OpRenew: "RENEW",
	nfs4.OpRestoreFH: "RESTOREFH", nfs4.OpSaveFH: "SAVEFH",
	nfs4.OpSecinfo: "SECINFO", nfs4.OpSetattr: "SETATTR",
	nfs4.OpSetClientID: "SETCLIENTID", nfs4.OpSetClientIDConfirm: "SETCLIENTID_CONFIRM",
	nfs4.OpVerify: "VERIFY", nfs4.OpWrite: "WRITE",
	nfs4.OpReleaseLockOwner: "RELEASE_LOCKOWNER",
	nfs4.OpBackchannelCtl:   "BACKCHANNEL_CTL", nfs4.OpBindConnToSession: "BIND_CONN_TO_SESSION",
	nfs4.OpExchangeID: "EXCHANGE_ID", nfs4.OpCreateSession: "CREATE_SESSION",
	nfs4.OpDestroySession: "DESTROY_SESSION", nfs4.OpFreeStateID: "FREE_STATEID",
	nfs4.OpGetDirDelegation: "GET_DIR_DELEGATION", nfs4.OpGetDeviceInfo: "GETDEVICEINFO",
	nfs4.OpGetDeviceList: "GETDEVICELIST", nfs4.OpLayoutCommit: "LAYOUTCOMMIT",
	nfs4.OpLayoutGet: "LAYOUTGET", nfs4.OpLayoutReturn: "LAYOUTRETURN",
	nfs4.OpSecinfoNoName: "SECINFO_NO_NAME", nfs4.OpSequence: "SEQUENCE",
	nfs4.OpSetSSV: "SET_SSV", nfs4.OpTestStateID: "TEST_STATEID",
	nfs4.OpWantDelegation: "WANT_DELEGATION", nfs4.OpDestroyClientID: "DESTROY_CLIENTID",
	nfs4.OpReclaimComplete: "RECLAIM_COMPLETE",
	nfs4.OpAllocate:        "ALLOCATE", nfs4.OpCopy: "COPY", nfs4.OpCopyNotify: "COPY_NOTIFY",
	nfs4.OpDeallocate: "DEALLOCATE", nfs4.OpIOAdvise: "IO_ADVISE",
	nfs4.OpLayoutError: "LAYOUTERROR", nfs4.OpLayoutStats: "LAYOUTSTATS",
	nfs4.OpOffloadCancel: "OFFLOAD_CANCEL", nfs4.OpOffloadStatus: "OFFLOAD_STATUS",
	nfs4.OpReadPlus: "READ_PLUS", nfs4.OpSeek: "SEEK", nfs4.OpWriteSame: "WRITE_SAME",
	nfs4.OpClone: "CLONE", nfs4.OpGetxattr: "GETXATTR", nfs4.OpSetxattr: "SETXATTR",
	nfs4.OpListxattrs: "LISTXATTRS", nfs4.OpRemovexattr: "REMOVEXATTR",
	nfs4.OpIllegal: "ILLEGAL",
}

var statusNames = map[uint32]string{
	nfs4.OK: "NFS4_OK", nfs4.ErrPerm: "NFS4ERR_PERM", nfs4.ErrNoent: "NFS4ERR_NOENT",
	nfs4.ErrIO: "NFS4ERR_IO", nfs4.ErrNxio: "NFS4ERR_NXIO", nfs4.ErrAccess: "NFS4ERR_ACCESS",
	nfs4.ErrExist: "NFS4ERR_EXIST", nfs4.ErrXdev: "NFS4ERR_XDEV", nfs4.ErrNotdir: "NFS4ERR_NOTDIR",
	nfs4.ErrIsdir: "NFS4ERR_ISDIR", nfs4.ErrInval: "NFS4ERR_INVAL", nfs4.ErrFbig: "NFS4ERR_FBIG",
	nfs4.ErrNospc: "NFS4ERR_NOSPC", nfs4.ErrRofs: "NFS4ERR_ROFS", nfs4.ErrMlink: "NFS4ERR_MLINK",
	nfs4.ErrNametoolong: "NFS4ERR_NAMETOOLONG", nfs4.ErrNotempty: "NFS4ERR_NOTEMPTY",
	nfs4.ErrDquot: "NFS4ERR_DQUOT", nfs4.ErrStale: "NFS4ERR_STALE",
	nfs4.ErrBadhandle: "NFS4ERR_BADHANDLE", nfs4.ErrBadCookie: "NFS4ERR_BAD_COOKIE",
	nfs4.ErrNotsupp: "NFS4ERR_NOTSUPP", nfs4.ErrToosmall: "NFS4ERR_TOOSMALL",
	nfs4.ErrServerfault: "NFS4ERR_SERVERFAULT", nfs4.ErrBadtype: "NFS4ERR_BADTYPE",
	nfs4.ErrDelay: "NFS4ERR_DELAY", nfs4.ErrSame: "NFS4ERR_SAME", nfs4.ErrDenied: "NFS4ERR_DENIED",
	nfs4.ErrExpired: "NFS4ERR_EXPIRED", nfs4.ErrLocked: "NFS4ERR_LOCKED", nfs4.ErrGrace: "NFS4ERR_GRACE",
	nfs4.ErrFhexpired: "NFS4ERR_FHEXPIRED", nfs4.ErrShareDenied: "NFS4ERR_SHARE_DENIED",
	nfs4.ErrWrongsec: "NFS4ERR_WRONGSEC", nfs4.ErrClidInuse: "NFS4ERR_CLID_INUSE",
	nfs4.ErrResource: "NFS4ERR_RESOURCE", nfs4.ErrMoved: "NFS4ERR_MOVED",
	nfs4.ErrNofilehandle: "NFS4ERR_NOFILEHANDLE", nfs4.ErrMinorVersMismatch: "NFS4ERR_MINOR_VERS_MISMATCH",
	nfs4.ErrStaleClientid: "NFS4ERR_STALE_CLIENTID", nfs4.ErrStaleStateid: "NFS4ERR_STALE_STATEID",
	nfs4.ErrOldStateid: "NFS4ERR_OLD_STATEID", nfs4.ErrBadStateid: "NFS4ERR_BAD_STATEID",
	nfs4.ErrBadSeqid: "NFS4ERR_BAD_SEQID", nfs4.ErrNotSame: "NFS4ERR_NOT_SAME",
	nfs4.ErrLockRange: "NFS4ERR_LOCK_RANGE", nfs4.ErrSymlink: "NFS4ERR_SYMLINK",
	nfs4.ErrRestorefh: "NFS4ERR_RESTOREFH", nfs4.ErrLeaseMoved: "NFS4ERR_LEASE_MOVED",
	nfs4.ErrAttrnotsupp: "NFS4ERR_ATTRNOTSUPP", nfs4.ErrNoGrace: "NFS4ERR_NO_GRACE",
	nfs4.ErrReclaimBad: "NFS4ERR_RECLAIM_BAD", nfs4.ErrReclaimConflict: "NFS4ERR_RECLAIM_CONFLICT",
	nfs4.ErrBadxdr: "NFS4ERR_BADXDR", nfs4.ErrLocksHeld: "NFS4ERR_LOCKS_HELD",
	nfs4.ErrOpenmode: "NFS4ERR_OPENMODE", nfs4.ErrBadowner: "NFS4ERR_BADOWNER",
	nfs4.ErrBadchar: "NFS4ERR_BADCHAR", nfs4.ErrBadname: "NFS4ERR_BADNAME",
	nfs4.ErrBadRange: "NFS4ERR_BAD_RANGE", nfs4.ErrLockNotsupp: "NFS4ERR_LOCK_NOTSUPP",
	nfs4.ErrOpIllegal: "NFS4ERR_OP_ILLEGAL", nfs4.ErrDeadlock: "NFS4ERR_DEADLOCK",
	nfs4.ErrFileOpen: "NFS4ERR_FILE_OPEN", nfs4.ErrAdminRevoked: "NFS4ERR_ADMIN_REVOKED",
	nfs4.ErrCbPathDown: "NFS4ERR_CB_PATH_DOWN", nfs4.ErrBadIomode: "NFS4ERR_BADIOMODE",
	nfs4.ErrBadLayout: "NFS4ERR_BADLAYOUT", nfs4.ErrBadSessionDigest: "NFS4ERR_BAD_SESSION_DIGEST",
	nfs4.ErrBadsession: "NFS4ERR_BADSESSION", nfs4.ErrBadslot: "NFS4ERR_BADSLOT",
	nfs4.ErrCompleteAlready:       "NFS4ERR_COMPLETE_ALREADY",
	nfs4.ErrConnNotBoundToSession: "NFS4ERR_CONN_NOT_BOUND_TO_SESSION",
	nfs4.ErrDelegAlreadyWanted:    "NFS4ERR_DELEG_ALREADY_WANTED",
	nfs4.ErrBackChanBusy:          "NFS4ERR_BACK_CHAN_BUSY", nfs4.ErrLayouttrylater: "NFS4ERR_LAYOUTTRYLATER",
	nfs4.ErrLayoutunavailable: "NFS4ERR_LAYOUTUNAVAILABLE", nfs4.ErrNomatchingLayout: "NFS4ERR_NOMATCHING_LAYOUT",
	nfs4.ErrRecallconflict: "NFS4ERR_RECALLCONFLICT", nfs4.ErrUnknownLayouttype: "NFS4ERR_UNKNOWN_LAYOUTTYPE",
	nfs4.ErrSeqMisordered: "NFS4ERR_SEQ_MISORDERED", nfs4.ErrSequencePos: "NFS4ERR_SEQUENCE_POS",
	nfs4.ErrReqTooBig: "NFS4ERR_REQ_TOO_BIG", nfs4.ErrRepTooBig: "NFS4ERR_REP_TOO_BIG",
	nfs4.ErrRepTooBigToCache: "NFS4ERR_REP_TOO_BIG_TO_CACHE",
	nfs4.ErrRetryUncachedRep: "NFS4ERR_RETRY_UNCACHED_REP", nfs4.ErrUnsafeCompound: "NFS4ERR_UNSAFE_COMPOUND",
	nfs4.ErrTooManyOps: "NFS4ERR_TOO_MANY_OPS", nfs4.ErrOpNotInSession: "NFS4ERR_OP_NOT_IN_SESSION",
	nfs4.ErrHashAlgUnsupp: "NFS4ERR_HASH_ALG_UNSUPP", nfs4.ErrClientidBusy: "NFS4ERR_CLIENTID_BUSY",
	nfs4.ErrPnfsIOHole: "NFS4ERR_PNFS_IO_HOLE", nfs4.ErrSeqFalseRetry: "NFS4ERR_SEQ_FALSE_RETRY",
	nfs4.ErrBadHighSlot: "NFS4ERR_BAD_HIGH_SLOT", nfs4.ErrDeadsession: "NFS4ERR_DEADSESSION",
	nfs4.ErrEncrAlgUnsupp: "NFS4ERR_ENCR_ALG_UNSUPP", nfs4.ErrPnfsNoLayout: "NFS4ERR_PNFS_NO_LAYOUT",
	nfs4.ErrNotOnlyOp: "NFS4ERR_NOT_ONLY_OP", nfs4.ErrWrongCred: "NFS4ERR_WRONG_CRED",
	nfs4.ErrWrongType: "NFS4ERR_WRONG_TYPE", nfs4.ErrDirdelegUnavail: "NFS4ERR_DIRDELEG_UNAVAIL",
	nfs4.ErrRejectDeleg: "NFS4ERR_REJECT_DELEG", nfs4.ErrReturnconflict: "NFS4ERR_RETURNCONFLICT",
	nfs4.ErrDelegRevoked: "NFS4ERR_DELEG_REVOKED", nfs4.ErrPartnerNotsupp: "NFS4ERR_PARTNER_NOTSUPP",
	nfs4.ErrPartnerNoAuth: "NFS4ERR_PARTNER_NO_AUTH", nfs4.ErrUnionNotsupp: "NFS4ERR_UNION_NOTSUPP",
	nfs4.ErrOffloadDenied: "NFS4ERR_OFFLOAD_DENIED", nfs4.ErrWrongLfs: "NFS4ERR_WRONG_LFS",
	nfs4.ErrBadlabel: "NFS4ERR_BADLABEL", nfs4.ErrOffloadNoReqs: "NFS4ERR_OFFLOAD_NO_REQS",
	nfs4.ErrNoxattr: "NFS4ERR_NOXATTR", nfs4.ErrXattr2big: "NFS4ERR_XATTR2BIG",
}

// OpName returns the RFC name of an operation number ("LOOKUP"), or
// "OP_<n>" for a number it does not know.
func OpName(op uint32) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return "OP_" + strconv.FormatUint(uint64(op), 10)
}

// StatusName returns the RFC name of an nfsstat4 ("NFS4ERR_NOENT"), or the
// number for one it does not know.
func StatusName(status uint32) string {
	if s, ok := statusNames[status]; ok {
		return s
	}
	return "NFS4ERR_" + strconv.FormatUint(uint64(status), 10)
}
