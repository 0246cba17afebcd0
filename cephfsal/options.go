package cephfsal

import "time"

// MountOptions configure one libcephfs client. The zero value of every
// optional field is a documented default.
type MountOptions struct {
	// ConfPath is the ceph.conf to read; empty means libcephfs' default
	// search path (CEPH_CONF, /etc/ceph/ceph.conf, ...).
	ConfPath string
	// User is the cephx id without the "client." prefix ("admin", "nfsgw").
	// Empty means libcephfs' default ("admin").
	User string
	// Keyring is the keyring file holding User's key; empty means the one
	// ceph.conf names.
	Keyring string
	// FSName selects the CephFS by name; empty means the cluster's default
	// filesystem.
	FSName string
	// Root is the CephFS path to mount ("/" if empty). Exports must lie at
	// or below it; set it when User's mds caps are restricted to a path.
	Root string

	// NodeID is this gateway's stable identity. The CephFS session is named
	// "nfsgw-"+NodeID, so that the next instance of the same node can end
	// this one's session (ResetPreviousSession). Empty: an anonymous session
	// that cannot be reset.
	NodeID string
	// SessionUUID names the session instead of "nfsgw-"+NodeID: a
	// gateway with several mounts (several filesystems or users) derives
	// one per mount from stable keys, never from the order of mounts.
	SessionUUID string
	// ResetPreviousSession ends the session of a previous instance of
	// NodeID (ceph_start_reclaim with CEPH_RECLAIM_RESET) before mounting,
	// which revokes that instance's caps and locks at once instead of after
	// its session times out. Only safe once no peer can still let clients
	// reclaim through that instance's state (cluster grace enforcement).
	ResetPreviousSession bool
	// SessionTimeout is how long the MDS keeps this client's session after
	// losing contact with it (0: the filesystem's session_timeout).
	SessionTimeout time.Duration
	// MountTimeout bounds connecting to the monitors and mounting, so that
	// a gateway started while the cluster is down fails fast and can retry.
	// 0 means DefaultMountTimeout.
	MountTimeout time.Duration
	// DelegationTimeout enables delegations (fsal.Delegator): a recalled
	// delegation must be returned within it, or libcephfs forcibly unmounts
	// the whole client. It must be below the MDS's cap return timeout
	// (session_autoclose, 300 s by default). 0 disables delegations.
	DelegationTimeout time.Duration
	// ClampDelegationTimeout shortens a DelegationTimeout that the MDS
	// would refuse to four fifths of its cap return timeout, instead of
	// failing the mount (for a default rather than an operator's choice).
	ClampDelegationTimeout bool

	// TrustFileHandles accepts, in exports of a sub-directory, handles of
	// files (non-directories) whose place in the tree cannot be proven:
	// those the export has not handed out since it started. Pacific's
	// libcephfs cannot find a file's parent, so by default such handles are
	// ESTALE, and clients look the names up again; that fails the open
	// files that clients reclaim after a gateway restart. With this option
	// they survive, as with Ganesha and knfsd's no_subtree_check, at the
	// price that a client which guesses an inode number reaches that file
	// even outside its export (within the same filesystem). Exports of the
	// filesystem root are not affected.
	TrustFileHandles bool

	// MaxInflight bounds concurrent libcephfs calls of each class, data
	// (read, write, fsync, fallocate, close) and metadata (the rest), so
	// that stuck writes never hold up a GETATTR; each blocked call pins an
	// OS thread. 0 means 64.
	MaxInflight int
	// InodeCacheSize bounds the inode references each export keeps so that
	// a handle resolves without a round trip (0: DefaultInodeCacheSize).
	InodeCacheSize int
	// Config sets further libcephfs options (ceph_conf_set) before
	// connecting, e.g. "client_oc_size".
	Config map[string]string
}

// Defaults.
const (
	DefaultMountTimeout   = 10 * time.Second
	DefaultInodeCacheSize = 1 << 16
)

// ResetResult says what resetting a previous session found.
type ResetResult int

// Results of a session reset.
const (
	ResetNotTried ResetResult = iota
	// ResetDone: a previous session existed and was ended (its caps and
	// locks revoked).
	ResetDone
	// ResetNone: there was no previous session (ENOENT): the MDS had
	// already evicted it, so its caps were revoked outside any grace
	// period (a tardy restart).
	ResetNone
)
