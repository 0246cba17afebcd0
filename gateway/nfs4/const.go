// Package nfs4 holds the NFSv4.0/4.1/4.2 wire constants and the small shared
// codecs (stateids, bitmaps, file handles, times) that both the server engine
// and the client use. Numbers are from RFC 7530, RFC 8881 and RFC 7862.
package nfs4

// Program and version numbers (RFC 7530 section 16.1).
const (
	Program = 100003
	Version = 4
	// CallbackVersion is the NFSv4 callback program's version.
	CallbackVersion = 1

	ProcNull     = 0
	ProcCompound = 1
)

// Size limits from the protocol.
const (
	FHSize            = 128
	VerifierSize      = 8
	OtherSize         = 12
	SessionIDSize     = 16
	OpaqueLimit       = 1024
	MaxNameLen        = 255
	MaxPathLen        = 4096
	MaxTagLen         = 1024
	MaxOpsPerCompound = 128
)

// Operation numbers.
const (
	OpAccess             = 3
	OpClose              = 4
	OpCommit             = 5
	OpCreate             = 6
	OpDelegPurge         = 7
	OpDelegReturn        = 8
	OpGetattr            = 9
	OpGetFH              = 10
	OpLink               = 11
	OpLock               = 12
	OpLockT              = 13
	OpLockU              = 14
	OpLookup             = 15
	OpLookupP            = 16
	OpNVerify            = 17
	OpOpen               = 18
	OpOpenAttr           = 19
	OpOpenConfirm        = 20
	OpOpenDowngrade      = 21
	OpPutFH              = 22
	OpPutPubFH           = 23
	OpPutRootFH          = 24
	OpRead               = 25
	OpReaddir            = 26
	OpReadlink           = 27
	OpRemove             = 28
	OpRename             = 29
	OpRenew              = 30
	OpRestoreFH          = 31
	OpSaveFH             = 32
	OpSecinfo            = 33
	OpSetattr            = 34
	OpSetClientID        = 35
	OpSetClientIDConfirm = 36
	OpVerify             = 37
	OpWrite              = 38
	OpReleaseLockOwner   = 39
	// NFSv4.1
	OpBackchannelCtl    = 40
	OpBindConnToSession = 41
	OpExchangeID        = 42
	OpCreateSession     = 43
	OpDestroySession    = 44
	OpFreeStateID       = 45
	OpGetDirDelegation  = 46
	OpGetDeviceInfo     = 47
	OpGetDeviceList     = 48
	OpLayoutCommit      = 49
	OpLayoutGet         = 50
	OpLayoutReturn      = 51
	OpSecinfoNoName     = 52
	OpSequence          = 53
	OpSetSSV            = 54
	OpTestStateID       = 55
	OpWantDelegation    = 56
	OpDestroyClientID   = 57
	OpReclaimComplete   = 58
	// NFSv4.2
	OpAllocate      = 59
	OpCopy          = 60
	OpCopyNotify    = 61
	OpDeallocate    = 62
	OpIOAdvise      = 63
	OpLayoutError   = 64
	OpLayoutStats   = 65
	OpOffloadCancel = 66
	OpOffloadStatus = 67
	OpReadPlus      = 68
	OpSeek          = 69
	OpWriteSame     = 70
	OpClone         = 71
	OpGetxattr      = 72
	OpSetxattr      = 73
	OpListxattrs    = 74
	OpRemovexattr   = 75
	OpIllegal       = 10044
)

// Status codes (nfsstat4).
const (
	OK                       Status = 0
	ErrPerm                  Status = 1
	ErrNoent                 Status = 2
	ErrIO                    Status = 5
	ErrNxio                  Status = 6
	ErrAccess                Status = 13
	ErrExist                 Status = 17
	ErrXdev                  Status = 18
	ErrNotdir                Status = 20
	ErrIsdir                 Status = 21
	ErrInval                 Status = 22
	ErrFbig                  Status = 27
	ErrNospc                 Status = 28
	ErrRofs                  Status = 30
	ErrMlink                 Status = 31
	ErrNametoolong           Status = 63
	ErrNotempty              Status = 66
	ErrDquot                 Status = 69
	ErrStale                 Status = 70
	ErrBadhandle             Status = 10001
	ErrBadCookie             Status = 10003
	ErrNotsupp               Status = 10004
	ErrToosmall              Status = 10005
	ErrServerfault           Status = 10006
	ErrBadtype               Status = 10007
	ErrDelay                 Status = 10008
	ErrSame                  Status = 10009
	ErrDenied                Status = 10010
	ErrExpired               Status = 10011
	ErrLocked                Status = 10012
	ErrGrace                 Status = 10013
	ErrFhexpired             Status = 10014
	ErrShareDenied           Status = 10015
	ErrWrongsec              Status = 10016
	ErrClidInuse             Status = 10017
	ErrResource              Status = 10018
	ErrMoved                 Status = 10019
	ErrNofilehandle          Status = 10020
	ErrMinorVersMismatch     Status = 10021
	ErrStaleClientid         Status = 10022
	ErrStaleStateid          Status = 10023
	ErrOldStateid            Status = 10024
	ErrBadStateid            Status = 10025
	ErrBadSeqid              Status = 10026
	ErrNotSame               Status = 10027
	ErrLockRange             Status = 10028
	ErrSymlink               Status = 10029
	ErrRestorefh             Status = 10030
	ErrLeaseMoved            Status = 10031
	ErrAttrnotsupp           Status = 10032
	ErrNoGrace               Status = 10033
	ErrReclaimBad            Status = 10034
	ErrReclaimConflict       Status = 10035
	ErrBadxdr                Status = 10036
	ErrLocksHeld             Status = 10037
	ErrOpenmode              Status = 10038
	ErrBadowner              Status = 10039
	ErrBadchar               Status = 10040
	ErrBadname               Status = 10041
	ErrBadRange              Status = 10042
	ErrLockNotsupp           Status = 10043
	ErrOpIllegal             Status = 10044
	ErrDeadlock              Status = 10045
	ErrFileOpen              Status = 10046
	ErrAdminRevoked          Status = 10047
	ErrCbPathDown            Status = 10048
	ErrBadIomode             Status = 10049
	ErrBadLayout             Status = 10050
	ErrBadSessionDigest      Status = 10051
	ErrBadsession            Status = 10052
	ErrBadslot               Status = 10053
	ErrCompleteAlready       Status = 10054
	ErrConnNotBoundToSession Status = 10055
	ErrDelegAlreadyWanted    Status = 10056
	ErrBackChanBusy          Status = 10057
	ErrLayouttrylater        Status = 10058
	ErrLayoutunavailable     Status = 10059
	ErrNomatchingLayout      Status = 10060
	ErrRecallconflict        Status = 10061
	ErrUnknownLayouttype     Status = 10062
	ErrSeqMisordered         Status = 10063
	ErrSequencePos           Status = 10064
	ErrReqTooBig             Status = 10065
	ErrRepTooBig             Status = 10066
	ErrRepTooBigToCache      Status = 10067
	ErrRetryUncachedRep      Status = 10068
	ErrUnsafeCompound        Status = 10069
	ErrTooManyOps            Status = 10070
	ErrOpNotInSession        Status = 10071
	ErrHashAlgUnsupp         Status = 10072
	ErrClientidBusy          Status = 10074
	ErrPnfsIOHole            Status = 10075
	ErrSeqFalseRetry         Status = 10076
	ErrBadHighSlot           Status = 10077
	ErrDeadsession           Status = 10078
	ErrEncrAlgUnsupp         Status = 10079
	ErrPnfsNoLayout          Status = 10080
	ErrNotOnlyOp             Status = 10081
	ErrWrongCred             Status = 10082
	ErrWrongType             Status = 10083
	ErrDirdelegUnavail       Status = 10084
	ErrRejectDeleg           Status = 10085
	ErrReturnconflict        Status = 10086
	ErrDelegRevoked          Status = 10087
	ErrPartnerNotsupp        Status = 10088
	ErrPartnerNoAuth         Status = 10089
	ErrUnionNotsupp          Status = 10090
	ErrOffloadDenied         Status = 10091
	ErrWrongLfs              Status = 10092
	ErrBadlabel              Status = 10093
	ErrOffloadNoReqs         Status = 10094
	ErrNoxattr               Status = 10095
	ErrXattr2big             Status = 10096
)

// File types (nfs_ftype4).
const (
	NF4REG       = 1
	NF4DIR       = 2
	NF4BLK       = 3
	NF4CHR       = 4
	NF4LNK       = 5
	NF4SOCK      = 6
	NF4FIFO      = 7
	NF4ATTRDIR   = 8
	NF4NAMEDATTR = 9
)

// Attribute numbers.
const (
	AttrSupportedAttrs    = 0
	AttrType              = 1
	AttrFhExpireType      = 2
	AttrChange            = 3
	AttrSize              = 4
	AttrLinkSupport       = 5
	AttrSymlinkSupport    = 6
	AttrNamedAttr         = 7
	AttrFsid              = 8
	AttrUniqueHandles     = 9
	AttrLeaseTime         = 10
	AttrRdattrError       = 11
	AttrACL               = 12
	AttrACLSupport        = 13
	AttrArchive           = 14
	AttrCansettime        = 15
	AttrCaseInsensitive   = 16
	AttrCasePreserving    = 17
	AttrChownRestricted   = 18
	AttrFilehandle        = 19
	AttrFileid            = 20
	AttrFilesAvail        = 21
	AttrFilesFree         = 22
	AttrFilesTotal        = 23
	AttrFsLocations       = 24
	AttrHidden            = 25
	AttrHomogeneous       = 26
	AttrMaxfilesize       = 27
	AttrMaxlink           = 28
	AttrMaxname           = 29
	AttrMaxread           = 30
	AttrMaxwrite          = 31
	AttrMimetype          = 32
	AttrMode              = 33
	AttrNoTrunc           = 34
	AttrNumlinks          = 35
	AttrOwner             = 36
	AttrOwnerGroup        = 37
	AttrQuotaAvailHard    = 38
	AttrQuotaAvailSoft    = 39
	AttrQuotaUsed         = 40
	AttrRawdev            = 41
	AttrSpaceAvail        = 42
	AttrSpaceFree         = 43
	AttrSpaceTotal        = 44
	AttrSpaceUsed         = 45
	AttrSystem            = 46
	AttrTimeAccess        = 47
	AttrTimeAccessSet     = 48
	AttrTimeBackup        = 49
	AttrTimeCreate        = 50
	AttrTimeDelta         = 51
	AttrTimeMetadata      = 52
	AttrTimeModify        = 53
	AttrTimeModifySet     = 54
	AttrMountedOnFileid   = 55
	AttrDirNotifDelay     = 56
	AttrDirentNotifDelay  = 57
	AttrDacl              = 58
	AttrSacl              = 59
	AttrChangePolicy      = 60
	AttrFsStatus          = 61
	AttrFsLayoutTypes     = 62
	AttrLayoutHint        = 63
	AttrLayoutType        = 64
	AttrLayoutBlksize     = 65
	AttrLayoutAlignment   = 66
	AttrFsLocationsInfo   = 67
	AttrMdsthreshold      = 68
	AttrRetentionGet      = 69
	AttrRetentionSet      = 70
	AttrRetentevtGet      = 71
	AttrRetentevtSet      = 72
	AttrRetentionHold     = 73
	AttrModeSetMasked     = 74
	AttrSuppattrExclcreat = 75
	AttrFsCharsetCap      = 76
	AttrClonePolicy       = 77 // 4.2: clone_blksize
	AttrSpaceFreed        = 78
	AttrChangeAttrType    = 79
	AttrSecLabel          = 80
	AttrModeUmask         = 81
	AttrXattrSupport      = 82
	AttrOffline           = 83 // offline, as the Linux kernel's nfs4_1.x numbers it
	AttrTimeDelegAccess   = 84 // 84-86: RFC 9754
	AttrTimeDelegModify   = 85
	AttrOpenArguments     = 86
)

// ACCESS bits.
const (
	AccessRead    = 0x01
	AccessLookup  = 0x02
	AccessModify  = 0x04
	AccessExtend  = 0x08
	AccessDelete  = 0x10
	AccessExecute = 0x20
)

// OPEN constants.
const (
	ShareAccessRead  = 1
	ShareAccessWrite = 2
	ShareAccessBoth  = 3
	ShareDenyNone    = 0
	ShareDenyRead    = 1
	ShareDenyWrite   = 2
	ShareDenyBoth    = 3
	// ShareWantMask selects the 4.1 delegation "want" bits of share_access.
	ShareWantMask = 0xff00

	OpenNoCreate = 0
	OpenCreate   = 1

	CreateUnchecked   = 0
	CreateGuarded     = 1
	CreateExclusive   = 2
	CreateExclusive41 = 3

	ClaimNull         = 0
	ClaimPrevious     = 1
	ClaimDelegateCur  = 2
	ClaimDelegatePrev = 3
	ClaimFH           = 4
	ClaimDelegCurFH   = 5
	ClaimDelegPrevFH  = 6

	DelegNone    = 0
	DelegRead    = 1
	DelegWrite   = 2
	DelegNoneExt = 3

	WNDTNotWanted              = 0 // why_no_delegation4
	WNDTContention             = 1
	WNDTResource               = 2
	WNDTNotSuppFtype           = 3
	WNDTWriteDelegNotSuppFtype = 4
	WNDTNotSuppUpgrade         = 5
	WNDTNotSuppDowngrade       = 6
	WNDTCancelled              = 7
	WNDTIsDir                  = 8

	OpenResultConfirm          = 0x2
	OpenResultLocktypePosix    = 0x4
	OpenResultPreserveUnlinked = 0x8
	OpenResultMayNotifyLock    = 0x20
)

// WRITE stability.
const (
	Unstable = 0
	DataSync = 1
	FileSync = 2
)

// Lock types.
const (
	ReadLT   = 1
	WriteLT  = 2
	ReadWLT  = 3
	WriteWLT = 4
)

// SETATTR time_how4.
const (
	SetToServerTime = 0
	SetToClientTime = 1
)

// EXCHANGE_ID flags.
const (
	ExchgidFlagSuppMovedRefer   = 0x00000001
	ExchgidFlagSuppMovedMigr    = 0x00000002
	ExchgidFlagBindPrincStateid = 0x00000100
	ExchgidFlagUseNonPNFS       = 0x00010000
	ExchgidFlagUsePNFSMDS       = 0x00020000
	ExchgidFlagUsePNFSDS        = 0x00040000
	ExchgidFlagMaskPNFS         = 0x00070000
	ExchgidFlagUpdConfirmedRecA = 0x40000000
	ExchgidFlagConfirmedR       = 0x80000000

	SP4None     = 0
	SP4MachCred = 1
	SP4SSV      = 2

	CreateSessionFlagPersist      = 0x1
	CreateSessionFlagConnBackChan = 0x2
	CreateSessionFlagConnRDMA     = 0x4

	CDFC4Fore       = 0x1
	CDFC4Back       = 0x2
	CDFC4ForeOrBoth = 0x3
	CDFC4BackOrBoth = 0x7
	CDFS4Fore       = 0x1
	CDFS4Back       = 0x2
	CDFS4Both       = 0x3
)

// SEQUENCE status flags.
const (
	SeqStatusCBPathDown              = 0x1
	SeqStatusCBGSSContextsExpiring   = 0x2
	SeqStatusCBGSSContextsExpired    = 0x4
	SeqStatusExpiredAllStateRevoked  = 0x8
	SeqStatusExpiredSomeStateRevoked = 0x10
	SeqStatusAdminStateRevoked       = 0x20
	SeqStatusRecallableStateRevoked  = 0x40
	SeqStatusLeaseMoved              = 0x80
	SeqStatusRestartReclaimNeeded    = 0x100
	SeqStatusCBPathDownSession       = 0x200
	SeqStatusBackchannelFault        = 0x400
	SeqStatusDevidChanged            = 0x800
	SeqStatusDevidDeleted            = 0x1000
)

// Security flavors.
const (
	AuthNone  = 0
	AuthSys   = 1
	RPCSecGSS = 6
)

// FH expire types.
const (
	FH4Persistent = 0
)

// Callback operations.
const (
	CBOpGetattr  = 3
	CBOpRecall   = 4
	CBOpSequence = 11
)
