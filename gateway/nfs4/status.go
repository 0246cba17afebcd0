package nfs4

import "strconv"

// Status is nfsstat4, the status of an operation or of a COMPOUND.
type Status uint32

// String returns the RFC name of s (NFS4_OK, NFS4ERR_NOENT, ...), or
// NFS4ERR_<n> for a code this package does not know.
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "NFS4ERR_" + strconv.FormatUint(uint64(s), 10)
}

// statusNames are the RFCs' names of the status codes in const.go
// (RFC 7530 section 13, RFC 8881 section 15, RFC 8276).
var statusNames = map[Status]string{
	OK:                       "NFS4_OK",
	ErrPerm:                  "NFS4ERR_PERM",
	ErrNoent:                 "NFS4ERR_NOENT",
	ErrIO:                    "NFS4ERR_IO",
	ErrNxio:                  "NFS4ERR_NXIO",
	ErrAccess:                "NFS4ERR_ACCESS",
	ErrExist:                 "NFS4ERR_EXIST",
	ErrXdev:                  "NFS4ERR_XDEV",
	ErrNotdir:                "NFS4ERR_NOTDIR",
	ErrIsdir:                 "NFS4ERR_ISDIR",
	ErrInval:                 "NFS4ERR_INVAL",
	ErrFbig:                  "NFS4ERR_FBIG",
	ErrNospc:                 "NFS4ERR_NOSPC",
	ErrRofs:                  "NFS4ERR_ROFS",
	ErrMlink:                 "NFS4ERR_MLINK",
	ErrNametoolong:           "NFS4ERR_NAMETOOLONG",
	ErrNotempty:              "NFS4ERR_NOTEMPTY",
	ErrDquot:                 "NFS4ERR_DQUOT",
	ErrStale:                 "NFS4ERR_STALE",
	ErrBadhandle:             "NFS4ERR_BADHANDLE",
	ErrBadCookie:             "NFS4ERR_BAD_COOKIE",
	ErrNotsupp:               "NFS4ERR_NOTSUPP",
	ErrToosmall:              "NFS4ERR_TOOSMALL",
	ErrServerfault:           "NFS4ERR_SERVERFAULT",
	ErrBadtype:               "NFS4ERR_BADTYPE",
	ErrDelay:                 "NFS4ERR_DELAY",
	ErrSame:                  "NFS4ERR_SAME",
	ErrDenied:                "NFS4ERR_DENIED",
	ErrExpired:               "NFS4ERR_EXPIRED",
	ErrLocked:                "NFS4ERR_LOCKED",
	ErrGrace:                 "NFS4ERR_GRACE",
	ErrFhexpired:             "NFS4ERR_FHEXPIRED",
	ErrShareDenied:           "NFS4ERR_SHARE_DENIED",
	ErrWrongsec:              "NFS4ERR_WRONGSEC",
	ErrClidInuse:             "NFS4ERR_CLID_INUSE",
	ErrResource:              "NFS4ERR_RESOURCE",
	ErrMoved:                 "NFS4ERR_MOVED",
	ErrNofilehandle:          "NFS4ERR_NOFILEHANDLE",
	ErrMinorVersMismatch:     "NFS4ERR_MINOR_VERS_MISMATCH",
	ErrStaleClientid:         "NFS4ERR_STALE_CLIENTID",
	ErrStaleStateid:          "NFS4ERR_STALE_STATEID",
	ErrOldStateid:            "NFS4ERR_OLD_STATEID",
	ErrBadStateid:            "NFS4ERR_BAD_STATEID",
	ErrBadSeqid:              "NFS4ERR_BAD_SEQID",
	ErrNotSame:               "NFS4ERR_NOT_SAME",
	ErrLockRange:             "NFS4ERR_LOCK_RANGE",
	ErrSymlink:               "NFS4ERR_SYMLINK",
	ErrRestorefh:             "NFS4ERR_RESTOREFH",
	ErrLeaseMoved:            "NFS4ERR_LEASE_MOVED",
	ErrAttrnotsupp:           "NFS4ERR_ATTRNOTSUPP",
	ErrNoGrace:               "NFS4ERR_NO_GRACE",
	ErrReclaimBad:            "NFS4ERR_RECLAIM_BAD",
	ErrReclaimConflict:       "NFS4ERR_RECLAIM_CONFLICT",
	ErrBadxdr:                "NFS4ERR_BADXDR",
	ErrLocksHeld:             "NFS4ERR_LOCKS_HELD",
	ErrOpenmode:              "NFS4ERR_OPENMODE",
	ErrBadowner:              "NFS4ERR_BADOWNER",
	ErrBadchar:               "NFS4ERR_BADCHAR",
	ErrBadname:               "NFS4ERR_BADNAME",
	ErrBadRange:              "NFS4ERR_BAD_RANGE",
	ErrLockNotsupp:           "NFS4ERR_LOCK_NOTSUPP",
	ErrOpIllegal:             "NFS4ERR_OP_ILLEGAL",
	ErrDeadlock:              "NFS4ERR_DEADLOCK",
	ErrFileOpen:              "NFS4ERR_FILE_OPEN",
	ErrAdminRevoked:          "NFS4ERR_ADMIN_REVOKED",
	ErrCbPathDown:            "NFS4ERR_CB_PATH_DOWN",
	ErrBadIomode:             "NFS4ERR_BADIOMODE",
	ErrBadLayout:             "NFS4ERR_BADLAYOUT",
	ErrBadSessionDigest:      "NFS4ERR_BAD_SESSION_DIGEST",
	ErrBadsession:            "NFS4ERR_BADSESSION",
	ErrBadslot:               "NFS4ERR_BADSLOT",
	ErrCompleteAlready:       "NFS4ERR_COMPLETE_ALREADY",
	ErrConnNotBoundToSession: "NFS4ERR_CONN_NOT_BOUND_TO_SESSION",
	ErrDelegAlreadyWanted:    "NFS4ERR_DELEG_ALREADY_WANTED",
	ErrBackChanBusy:          "NFS4ERR_BACK_CHAN_BUSY",
	ErrLayouttrylater:        "NFS4ERR_LAYOUTTRYLATER",
	ErrLayoutunavailable:     "NFS4ERR_LAYOUTUNAVAILABLE",
	ErrNomatchingLayout:      "NFS4ERR_NOMATCHING_LAYOUT",
	ErrRecallconflict:        "NFS4ERR_RECALLCONFLICT",
	ErrUnknownLayouttype:     "NFS4ERR_UNKNOWN_LAYOUTTYPE",
	ErrSeqMisordered:         "NFS4ERR_SEQ_MISORDERED",
	ErrSequencePos:           "NFS4ERR_SEQUENCE_POS",
	ErrReqTooBig:             "NFS4ERR_REQ_TOO_BIG",
	ErrRepTooBig:             "NFS4ERR_REP_TOO_BIG",
	ErrRepTooBigToCache:      "NFS4ERR_REP_TOO_BIG_TO_CACHE",
	ErrRetryUncachedRep:      "NFS4ERR_RETRY_UNCACHED_REP",
	ErrUnsafeCompound:        "NFS4ERR_UNSAFE_COMPOUND",
	ErrTooManyOps:            "NFS4ERR_TOO_MANY_OPS",
	ErrOpNotInSession:        "NFS4ERR_OP_NOT_IN_SESSION",
	ErrHashAlgUnsupp:         "NFS4ERR_HASH_ALG_UNSUPP",
	ErrClientidBusy:          "NFS4ERR_CLIENTID_BUSY",
	ErrPnfsIOHole:            "NFS4ERR_PNFS_IO_HOLE",
	ErrSeqFalseRetry:         "NFS4ERR_SEQ_FALSE_RETRY",
	ErrBadHighSlot:           "NFS4ERR_BAD_HIGH_SLOT",
	ErrDeadsession:           "NFS4ERR_DEADSESSION",
	ErrEncrAlgUnsupp:         "NFS4ERR_ENCR_ALG_UNSUPP",
	ErrPnfsNoLayout:          "NFS4ERR_PNFS_NO_LAYOUT",
	ErrNotOnlyOp:             "NFS4ERR_NOT_ONLY_OP",
	ErrWrongCred:             "NFS4ERR_WRONG_CRED",
	ErrWrongType:             "NFS4ERR_WRONG_TYPE",
	ErrDirdelegUnavail:       "NFS4ERR_DIRDELEG_UNAVAIL",
	ErrRejectDeleg:           "NFS4ERR_REJECT_DELEG",
	ErrReturnconflict:        "NFS4ERR_RETURNCONFLICT",
	ErrDelegRevoked:          "NFS4ERR_DELEG_REVOKED",
	ErrPartnerNotsupp:        "NFS4ERR_PARTNER_NOTSUPP",
	ErrPartnerNoAuth:         "NFS4ERR_PARTNER_NO_AUTH",
	ErrUnionNotsupp:          "NFS4ERR_UNION_NOTSUPP",
	ErrOffloadDenied:         "NFS4ERR_OFFLOAD_DENIED",
	ErrWrongLfs:              "NFS4ERR_WRONG_LFS",
	ErrBadlabel:              "NFS4ERR_BADLABEL",
	ErrOffloadNoReqs:         "NFS4ERR_OFFLOAD_NO_REQS",
	ErrNoxattr:               "NFS4ERR_NOXATTR",
	ErrXattr2big:             "NFS4ERR_XATTR2BIG",
}

// StatusName returns the RFC name of a status code (NFS4_OK, NFS4ERR_NOENT, ...),
// for logs and metrics; a code this server does not know is "NFS4ERR_UNKNOWN".
func StatusName(st uint32) string {
	if n, ok := statusNames[Status(st)]; ok {
		return n
	}
	// One name for every unknown code keeps metric labels bounded.
	return "NFS4ERR_UNKNOWN"
}
