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

// OpName returns the RFC name of an operation number ("LOOKUP"), or
// "OP_<n>" for a number it does not know.
func OpName(op uint32) string {
	if s, ok := opNames[op]; ok {
		return s
	}
	return "OP_" + strconv.FormatUint(uint64(op), 10)
}

// StatusName returns the RFC name of an nfsstat4 ("NFS4ERR_NOENT"), or
// "NFS4ERR_<n>" for one it does not know.
func StatusName(status nfs4.Status) string { return status.String() }
