// Package config reads nfsgw's configuration file and the quick-start
// flags into one validated Config. See docs/configuration.md.
package config

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/export"
)

// Config is the whole configuration of one gateway.
type Config struct {
	// Listen lists the addresses NFS is served on (host:port).
	Listen []string `yaml:"listen"`
	// Admin is where the gRPC admin API listens: "unix:PATH" (or an
	// absolute PATH) for a unix socket, "host:port" for TCP, "none" for no
	// admin API. Empty selects admin.DefaultSocket. The API can add
	// exports, so TCP needs AdminTLS unless the address is loopback.
	Admin string `yaml:"admin"`
	// AdminTLS makes a TCP admin API require mutual TLS.
	AdminTLS AdminTLS `yaml:"admin_tls"`
	// NodeID names this gateway in a cluster (default: the host name).
	NodeID string `yaml:"node_id"`
	// StateDir holds the node's recovery database. Empty selects
	// DefaultStateDir(); "none" keeps no recovery state (clients cannot
	// reclaim after a restart).
	StateDir string `yaml:"state_dir"`
	// LeaseSeconds is the NFSv4 lease time (default 90).
	LeaseSeconds int `yaml:"lease_seconds"`
	// GraceSeconds is the grace period after a restart (default: lease).
	GraceSeconds int `yaml:"grace_seconds"`
	// CourtesySeconds is how long a client whose lease ran out keeps its
	// uncontended opens, locks and delegations (0: 4 leases; -1: none, the
	// client expires with its lease).
	CourtesySeconds int `yaml:"courtesy_seconds"`
	// MaxIOBytes bounds READ/WRITE sizes (default 1 MiB).
	MaxIOBytes int `yaml:"max_io_bytes"`
	// MaxRecordBytes bounds one RPC record (default MaxIOBytes + 64 KiB).
	MaxRecordBytes int `yaml:"max_record_bytes"`
	// ReplyTimeoutSeconds closes a connection whose peer has not taken a
	// reply off the socket for this long, releasing the memory it pins
	// (default 60; -1: never).
	ReplyTimeoutSeconds int `yaml:"reply_timeout_seconds"`
	// IdleTimeoutSeconds closes a connection that has carried no request
	// for this long and holds no client's lease or session (default 300;
	// -1: never).
	IdleTimeoutSeconds int `yaml:"idle_timeout_seconds"`
	// MaxConnsPerAddress bounds the connections open at once from one
	// client address (default 128; -1: no limit).
	MaxConnsPerAddress int `yaml:"max_connections_per_address"`
	// LogLevel is trace, debug, info, warn or error (default info).
	LogLevel string `yaml:"log_level"`
	// Ceph is how the gateway reaches CephFS, for exports whose path is
	// ceph:/PATH.
	Ceph Ceph `yaml:"ceph"`
	// Exports lists what is served.
	Exports []Export `yaml:"exports"`
	// TopIntervalSeconds is the interval of the top talkers (nfsgwctl
	// top): each report covers this many seconds (default 10).
	TopIntervalSeconds int `yaml:"top_interval_seconds"`
	// DrainSeconds bounds how long a draining gateway (scale-down: SIGUSR2
	// or nfsgwctl drain) waits for its clients to leave before it evicts
	// them (default: 2 × lease).
	DrainSeconds int `yaml:"drain_seconds"`
	// Cluster, when Pool is set, makes this gateway a member of an
	// active/active cluster: grace and recovery live in RADOS
	// (docs/cluster.md).
	Cluster Cluster `yaml:"cluster"`

	// Metrics is the host:port of the Prometheus metrics and the health
	// probes (/metrics, /healthz, /readyz; docs/operations.md); empty:
	// none.
	Metrics string `yaml:"metrics"`
	// UnreadyInGrace makes /readyz fail while the node is in its own
	// startup grace period (default false: a node in grace is ready).
	UnreadyInGrace bool `yaml:"unready_in_grace"`
	// LogFormat is text (default) or json, one object a line.
	LogFormat string `yaml:"log_format"`
	// SlowOpMillis: an operation that takes this long is logged with its
	// client, export, status and duration (default 1000; -1: never).
	SlowOpMillis int `yaml:"slow_op_ms"`
}

// SlowOp returns the slow-operation threshold (0: never log).
func (c *Config) SlowOp() time.Duration {
	switch {
	case c.SlowOpMillis < 0:
		return 0
	case c.SlowOpMillis == 0:
		return time.Second
	}
	return time.Duration(c.SlowOpMillis) * time.Millisecond
}

// validateObservability checks the metrics address and the log settings.
func (c *Config) validateObservability() error {
	if c.Metrics != "" {
		if _, port, err := net.SplitHostPort(c.Metrics); err != nil || port == "" {
			return fmt.Errorf("config: metrics address %q: want host:port", c.Metrics)
		}
	}
	switch c.LogFormat {
	case "":
		c.LogFormat = "text"
	case "text", "json":
	default:
		return fmt.Errorf("config: log format %q (want text or json)", c.LogFormat)
	}
	if c.SlowOpMillis < -1 {
		return fmt.Errorf("config: slow_op_ms %d (want -1 for never, or a positive number)", c.SlowOpMillis)
	}
	return nil
}

// Cluster configures the cluster-wide grace database and recovery records
// in RADOS, in the format of NFS-Ganesha's rados_cluster backend.
type Cluster struct {
	// Pool holds the grace database, the recovery records and the
	// members' liveness objects. Empty: single-node mode.
	Pool string `yaml:"pool"`
	// Namespace within Pool (default: none).
	Namespace string `yaml:"namespace"`
	// OID is the grace database object (default "grace").
	OID string `yaml:"oid"`
	// MemberLeaseSeconds is how long a member's liveness lock lasts
	// without renewal (default 15; renewed every third of it).
	MemberLeaseSeconds int `yaml:"member_lease_seconds"`
	// PeerFenceAfterSeconds is how long a member's liveness lock must have
	// been free before the live member with the lowest id fences it
	// (default and minimum: the grace time, and at least twice the member
	// lease).
	PeerFenceAfterSeconds int `yaml:"peer_fence_after_seconds"`
	// PollSeconds is how often the grace database (and the export table)
	// is read when no notify came (default 10).
	PollSeconds int `yaml:"poll_seconds"`
	// ExportsOID is the export table's object, used when the
	// configuration lists no exports (default "nfsgw.exports").
	ExportsOID string `yaml:"exports_oid"`
}

// Enabled reports whether the gateway runs as a cluster member.
func (c *Cluster) Enabled() bool { return c.Pool != "" }

// ExportsInRADOS reports whether the served exports are the cluster's
// export table in RADOS: a cluster member whose configuration lists no
// exports (docs/cluster.md, "Exports in RADOS").
func (c *Config) ExportsInRADOS() bool { return c.Cluster.Enabled() && len(c.Exports) == 0 }

// Ceph configures the CephFS backend. Exports may override the filesystem,
// user and keyring; exports that agree on all three share one libcephfs
// mount (one CephFS session per gateway and user).
type Ceph struct {
	// Conf is the ceph.conf path (default /etc/ceph/ceph.conf).
	Conf string `yaml:"conf"`
	// User is the cephx id without the "client." prefix (default admin).
	User string `yaml:"user"`
	// Keyring is the keyring file (default: what ceph.conf says).
	Keyring string `yaml:"keyring"`
	// FSName selects the CephFS filesystem (default: the cluster's default).
	FSName string `yaml:"fs_name"`
	// SessionTimeoutSeconds is how long the MDS keeps this gateway's
	// session (and so its caps) after it stops responding (default: 2 ×
	// lease, so a dead gateway's caps outlive its clients' leases).
	SessionTimeoutSeconds int `yaml:"session_timeout_seconds"`
	// MountTimeoutSeconds bounds how long the gateway keeps retrying to
	// mount CephFS at start (a cluster still starting, an MDS failing
	// over) before it gives up and exits (default 60).
	MountTimeoutSeconds int `yaml:"mount_timeout_seconds"`
	// DelegationTimeoutSeconds enables delegations backed by CephFS
	// (ceph_ll_delegation), so that an access through another gateway or
	// CephFS client recalls a delegation granted here: a recalled one the
	// NFS client has not returned in time is revoked and given back within
	// this, or libcephfs unmounts the gateway's whole client. 0 selects
	// max(lease + 15 s, 45 s), kept below the MDS's session_autoclose; -1
	// turns backend delegations off (NFS delegations are then only safe
	// while a single gateway serves the files).
	DelegationTimeoutSeconds int `yaml:"delegation_timeout_seconds"`
	// StrictFileHandles refuses, in exports of a sub-directory, handles of
	// files the export has not handed out since the gateway started,
	// because Pacific's libcephfs cannot prove where a file lies. Off by
	// default (as knfsd's no_subtree_check and Ganesha): strict handles
	// break the open files clients reclaim after a failover. Directory
	// handles are always checked against the export's subtree.
	StrictFileHandles bool `yaml:"strict_file_handles"`
}

// AdminTLS names the files of the admin API's mutual TLS: the gateway's
// certificate and key, and the CA that signed the clients' certificates.
type AdminTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// Enabled reports whether any TLS setting is given.
func (t AdminTLS) Enabled() bool { return t.Cert != "" || t.Key != "" || t.ClientCA != "" }

// DefaultCephConf is where Ceph's tools look for the cluster configuration.
const DefaultCephConf = "/etc/ceph/ceph.conf"

// Export configures one export.
type Export struct {
	// ID is the stable export id carried in file handles (1..65535).
	ID int `yaml:"id" json:"id,omitempty"`
	// Pseudo is the path clients mount, e.g. /export.
	Pseudo string `yaml:"pseudo" json:"pseudo,omitempty"`
	// Path is the backend path: a local directory, or ceph:/PATH for a
	// directory of CephFS.
	Path string `yaml:"path" json:"path,omitempty"`
	// CephFS, CephUser and CephKeyring override the gateway-wide Ceph
	// settings for this export.
	CephFS      string `yaml:"ceph_fs" json:"ceph_fs,omitempty"`
	CephUser    string `yaml:"ceph_user" json:"ceph_user,omitempty"`
	CephKeyring string `yaml:"ceph_keyring" json:"ceph_keyring,omitempty"`
	// Access is "rw" (default) or "ro".
	Access string `yaml:"access" json:"access,omitempty"`
	// Squash is "root" (default), "none" or "all".
	Squash string `yaml:"squash" json:"squash,omitempty"`
	// AnonUID and AnonGID are the identity squashed callers get (default
	// 65534, nobody/nogroup).
	AnonUID *uint32 `yaml:"anon_uid" json:"anon_uid,omitempty"`
	AnonGID *uint32 `yaml:"anon_gid" json:"anon_gid,omitempty"`
	// Clients lists the networks (CIDR or address) allowed; empty allows
	// everyone.
	Clients []string `yaml:"clients" json:"clients,omitempty"`
	// Delegations enables read delegations (default true).
	Delegations *bool `yaml:"delegations" json:"delegations,omitempty"`
	// Async (local directories) replies to a create, remove, rename or
	// link before the directory is committed to stable storage, as
	// knfsd's "async": faster, but a power cut can undo what clients were
	// told is done. Default false: the directory is committed first.
	Async bool `yaml:"async" json:"async,omitempty"`
	// AttrCache (local directories, default true) lets READDIR answer
	// from attributes kept while inotify reports no change to the file.
	// Turn it off when local processes write the exported files through
	// shared mappings, which change mtime without an event.
	AttrCache *bool `yaml:"attr_cache" json:"attr_cache,omitempty"`
}

// CephPrefix marks an export path on CephFS.
const CephPrefix = "ceph:"

// CephPath returns the CephFS path of an export and whether it is on CephFS.
func (e *Export) CephPath() (string, bool) {
	p, ok := strings.CutPrefix(e.Path, CephPrefix)
	return p, ok
}

// DelegationsEnabled reports whether the export grants delegations.
func (e *Export) DelegationsEnabled() bool { return e.Delegations == nil || *e.Delegations }

// AttrCacheEnabled reports whether READDIR may cache a local export's
// attributes (default true).
func (e *Export) AttrCacheEnabled() bool { return e.AttrCache == nil || *e.AttrCache }

// Defaults applied by Validate.
const (
	DefaultListen = "127.0.0.1:2049"
	DefaultLease  = 90
	DefaultMaxIO  = 1 << 20
	DefaultAnonID = 65534

	DefaultReplyTimeout       = 60
	DefaultIdleTimeout        = 300
	DefaultMaxConnsPerAddress = 128
)

// Load reads a YAML configuration file. Unknown keys are errors, so a typo
// never silently falls back to a default.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse parses YAML configuration text. Every export in a file must have
// an id: the id is inside every file handle, so numbering exports by their
// place in the file would let a reordered file (and a SIGHUP) swap two
// exports' ids under their clients.
func Parse(b []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && err.Error() != "EOF" {
		return nil, fmt.Errorf("config: %w", err)
	}
	for i, e := range c.Exports {
		if e.ID == 0 {
			name := e.Pseudo
			if name == "" {
				name = fmt.Sprintf("number %d", i+1)
			}
			return nil, fmt.Errorf("config: export %s has no id (1..65535): give every export in the file a fixed id, it is part of every file handle", name)
		}
	}
	return &c, nil
}

// FlagExportID is the id of a quick-start export (--export) at the clean
// pseudo path pseudo: FNV-1a (32 bits) of the path, modulo 65535, plus
// one. The id is in every file handle the export hands out, so it must
// not depend on the order of the flags (which would let a reordered
// command line point clients' handles into another export), and it must
// never change between releases. Ids are 1..65535: the handle (Ganesha's
// layout) holds a uint16, and 0 is the pseudo-filesystem's.
func FlagExportID(pseudo string) int {
	h := fnv.New32a()
	h.Write([]byte(pseudo))
	return int(h.Sum32()%65535) + 1
}

// ParseExportFlag parses the quick-start form PSEUDO=DIR or
// PSEUDO=ceph:/PATH. The export has no id yet: Validate gives it
// FlagExportID's.
func ParseExportFlag(s string) (Export, error) {
	pseudo, dir, ok := strings.Cut(s, "=")
	if !ok || pseudo == "" || dir == "" {
		return Export{}, fmt.Errorf("--export %q: want PSEUDO=DIR or PSEUDO=ceph:/PATH", s)
	}
	return Export{Pseudo: pseudo, Path: dir}, nil
}

// Validate fills in defaults and checks the configuration.
func (c *Config) Validate() error {
	if len(c.Listen) == 0 {
		c.Listen = []string{DefaultListen}
	}
	if c.LeaseSeconds == 0 {
		c.LeaseSeconds = DefaultLease
	}
	if c.LeaseSeconds < 1 || c.LeaseSeconds > 3600 {
		return fmt.Errorf("config: lease_seconds %d out of range 1..3600", c.LeaseSeconds)
	}
	if c.GraceSeconds == 0 {
		c.GraceSeconds = c.LeaseSeconds
	}
	if c.GraceSeconds < 0 {
		return fmt.Errorf("config: grace_seconds must not be negative")
	}
	if c.CourtesySeconds < -1 {
		return fmt.Errorf("config: courtesy_seconds %d (want -1 for none, 0 for 4 leases, or seconds)", c.CourtesySeconds)
	}
	if c.MaxIOBytes == 0 {
		c.MaxIOBytes = DefaultMaxIO
	}
	if c.MaxIOBytes < 4096 || c.MaxIOBytes > 16<<20 {
		return fmt.Errorf("config: max_io_bytes %d out of range 4096..16777216", c.MaxIOBytes)
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = c.MaxIOBytes + 64<<10
	}
	if c.MaxRecordBytes < c.MaxIOBytes+1024 {
		return fmt.Errorf("config: max_record_bytes must exceed max_io_bytes")
	}
	if c.Cluster.Enabled() {
		if err := c.Cluster.validate(c); err != nil {
			return err
		}
	}
	for _, v := range []struct {
		name string
		p    *int
		def  int
	}{
		{"reply_timeout_seconds", &c.ReplyTimeoutSeconds, DefaultReplyTimeout},
		{"idle_timeout_seconds", &c.IdleTimeoutSeconds, DefaultIdleTimeout},
		{"max_connections_per_address", &c.MaxConnsPerAddress, DefaultMaxConnsPerAddress},
	} {
		if *v.p == 0 {
			*v.p = v.def
		}
		if *v.p < -1 {
			return fmt.Errorf("config: %s %d (want -1 for no limit, or a positive number)", v.name, *v.p)
		}
	}
	if c.NodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("config: node_id not set and no host name: %w", err)
		}
		c.NodeID = h
	}
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "trace", "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: log level %q (want trace, debug, info, warn or error)", c.LogLevel)
	}
	if err := c.validateAdmin(); err != nil {
		return err
	}
	if err := c.validateObservability(); err != nil {
		return err
	}
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir()
	}
	if len(c.Exports) == 0 && !c.Cluster.Enabled() {
		// A cluster member with no exports of its own serves the
		// cluster's export table in RADOS (docs/cluster.md).
		return fmt.Errorf("config: no exports")
	}
	hasCeph := false
	used := map[int]string{} // id → pseudo path
	for _, e := range c.Exports {
		if e.ID != 0 {
			used[e.ID] = export.CleanPseudo(e.Pseudo)
		}
	}
	for i := range c.Exports {
		e := &c.Exports[i]
		if e.ID == 0 {
			// A quick-start export: files require ids (Parse).
			pseudo := export.CleanPseudo(e.Pseudo)
			id := FlagExportID(pseudo)
			if o, taken := used[id]; taken {
				if o == pseudo {
					return fmt.Errorf("config: export %s: duplicate pseudo path", pseudo)
				}
				return fmt.Errorf("config: --export %s gets id %d from its pseudo path, which export %s has too: give them explicit ids in a config file (--config)", pseudo, id, o)
			}
			e.ID = id
			used[id] = pseudo
		}
		if e.ID < 1 || e.ID > 65535 {
			return fmt.Errorf("config: export %q: id %d out of range 1..65535", e.Pseudo, e.ID)
		}
		if e.Pseudo == "" || e.Path == "" {
			return fmt.Errorf("config: export %d: pseudo and path are required", e.ID)
		}
		if p, ok := e.CephPath(); ok {
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("config: export %q: CephFS path %q must be absolute (ceph:/PATH)", e.Pseudo, p)
			}
			hasCeph = true
		} else if e.CephFS != "" || e.CephUser != "" || e.CephKeyring != "" {
			return fmt.Errorf("config: export %q: ceph_* settings on an export that is not on CephFS", e.Pseudo)
		}
		switch e.Access {
		case "", "rw", "RW":
			e.Access = "rw"
		case "ro", "RO":
			e.Access = "ro"
		default:
			return fmt.Errorf("config: export %q: access %q (want rw or ro)", e.Pseudo, e.Access)
		}
		if _, err := export.ParseSquash(e.Squash); err != nil {
			return fmt.Errorf("config: export %q: %w", e.Pseudo, err)
		}
		if _, err := e.Networks(); err != nil {
			return fmt.Errorf("config: export %q: %w", e.Pseudo, err)
		}
	}
	if err := c.checkExportTable(); err != nil {
		return err
	}
	if hasCeph || c.Cluster.Enabled() {
		if c.Ceph.Conf == "" {
			c.Ceph.Conf = DefaultCephConf
		}
		if c.Ceph.User == "" {
			c.Ceph.User = "admin"
		}
		c.Ceph.User = strings.TrimPrefix(c.Ceph.User, "client.")
		if c.Ceph.SessionTimeoutSeconds == 0 {
			c.Ceph.SessionTimeoutSeconds = 2 * c.LeaseSeconds
		}
		if c.Ceph.MountTimeoutSeconds == 0 {
			c.Ceph.MountTimeoutSeconds = 60
		}
		if c.Ceph.SessionTimeoutSeconds < 0 || c.Ceph.MountTimeoutSeconds < 0 {
			return fmt.Errorf("config: ceph timeouts must not be negative")
		}
		if d := c.Ceph.DelegationTimeoutSeconds; d < -1 || (d > 0 && d < MinDelegationTimeout) || d >= MaxDelegationTimeout {
			return fmt.Errorf("config: ceph.delegation_timeout_seconds %d (want -1 for off, 0 for the default, or %d..%d, below the MDS's session_autoclose)",
				d, MinDelegationTimeout, MaxDelegationTimeout-1)
		}
	}
	return nil
}

// StateDirNone is the state_dir value that keeps no recovery state.
const StateDirNone = "none"

// DefaultStateDir is where the recovery database lives when state_dir is
// not set: a server must remember its clients across a restart, or a
// client holding a lock loses it. Root (the local backend needs root) uses
// /var/lib/nfsgw; anyone else the XDG state directory.
func DefaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/nfsgw"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "nfsgw")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "state", "nfsgw")
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("nfsgw-state-%d", os.Geteuid()))
}

// validateAdmin fills in the default admin address and refuses an admin
// API that anyone on the network could use: the API can add an export of
// any directory with squashing off, so TCP needs mutual TLS unless it is
// bound to loopback.
func (c *Config) validateAdmin() error {
	if c.Admin == "" {
		c.Admin = admin.DefaultSocket
	}
	if c.Admin == admin.Disabled {
		if c.AdminTLS.Enabled() {
			return fmt.Errorf("config: admin_tls given, but the admin API is off (admin: none)")
		}
		return nil
	}
	a, err := admin.ParseAddr(c.Admin)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	switch {
	case a.Network == "unix" && c.AdminTLS.Enabled():
		return fmt.Errorf("config: admin_tls is for a TCP admin address, not the unix socket %s", a.Address)
	case a.Network == "tcp" && c.AdminTLS.Enabled():
		t := c.AdminTLS
		if t.Cert == "" || t.Key == "" || t.ClientCA == "" {
			return fmt.Errorf("config: admin_tls needs cert, key and client_ca")
		}
	case a.Network == "tcp" && !a.Loopback():
		return fmt.Errorf("config: admin address %s is not loopback: the admin API on the network needs mutual TLS (admin_tls: cert, key, client_ca), or use a unix socket", a.Address)
	}
	return nil
}

// checkExportTable finds duplicate ids or pseudo paths and nested pseudo
// paths before any backend is opened, so that such a file fails at once.
func (c *Config) checkExportTable() error {
	list := make([]*export.Export, len(c.Exports))
	for i, e := range c.Exports {
		list[i] = &export.Export{ID: uint16(e.ID), Pseudo: e.Pseudo}
	}
	if _, err := export.NewTable(list); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

// Networks parses the export's client list.
func (e *Export) Networks() ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range e.Clients {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("client %q is neither an address nor a CIDR network", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Anon returns the anonymous uid and gid.
func (e *Export) Anon() (uint32, uint32) {
	uid, gid := uint32(DefaultAnonID), uint32(DefaultAnonID)
	if e.AnonUID != nil {
		uid = *e.AnonUID
	}
	if e.AnonGID != nil {
		gid = *e.AnonGID
	}
	return uid, gid
}

// Bounds of ceph.delegation_timeout_seconds. A recalled delegation is
// revoked a margin before the timeout, so very short ones leave NFS clients
// no time to answer; libcephfs refuses any at or above the MDS's
// session_autoclose (300 s by default).
const (
	MinDelegationTimeout = 5
	MaxDelegationTimeout = 300
)

// DelegationTimeout returns the CephFS delegation timeout, 0 when backend
// delegations are off. The default is max(lease + 15 s, 45 s), at most
// 240 s; the backend may shorten it further to stay below the MDS's
// session_autoclose.
func (c *Config) DelegationTimeout() time.Duration {
	switch d := c.Ceph.DelegationTimeoutSeconds; {
	case d < 0:
		return 0
	case d > 0:
		return time.Duration(d) * time.Second
	}
	return time.Duration(min(max(c.LeaseSeconds+15, 45), 240)) * time.Second
}

// Courtesy returns the courtesy period in nfs4state.Config's terms (0: the
// default, negative: none).
func (c *Config) Courtesy() time.Duration {
	if c.CourtesySeconds < 0 {
		return -1
	}
	return time.Duration(c.CourtesySeconds) * time.Second
}

// Lease returns the lease time.
func (c *Config) Lease() time.Duration { return time.Duration(c.LeaseSeconds) * time.Second }

// Grace returns the grace period.
func (c *Config) Grace() time.Duration { return time.Duration(c.GraceSeconds) * time.Second }

var nodeIDRe = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

func (cl *Cluster) validate(c *Config) error {
	if c.NodeID == "" {
		// Never the host name by default: a rescheduled pod or a
		// renamed host would then come back as another member, and its
		// clients could not reclaim.
		return fmt.Errorf("config: cluster mode needs node_id (or --node-id, --node-id-from-ordinal)")
	}
	if !nodeIDRe.MatchString(c.NodeID) {
		return fmt.Errorf("config: node_id %q: want 1 to 63 of A-Z a-z 0-9 . _ -", c.NodeID)
	}
	if cl.OID == "" {
		cl.OID = "grace"
	}
	if cl.ExportsOID == "" {
		cl.ExportsOID = "nfsgw.exports"
	}
	if cl.ExportsOID == cl.OID {
		return fmt.Errorf("config: cluster.exports_oid must differ from cluster.oid")
	}
	if cl.MemberLeaseSeconds == 0 {
		cl.MemberLeaseSeconds = 15
	}
	if cl.MemberLeaseSeconds < 3 || cl.MemberLeaseSeconds > 600 {
		return fmt.Errorf("config: cluster.member_lease_seconds %d out of range 3..600", cl.MemberLeaseSeconds)
	}
	min := max(c.GraceSeconds, 2*cl.MemberLeaseSeconds)
	if cl.PeerFenceAfterSeconds == 0 {
		cl.PeerFenceAfterSeconds = min
	}
	if cl.PeerFenceAfterSeconds < min {
		return fmt.Errorf("config: cluster.peer_fence_after_seconds %d must be at least %d (the grace time and twice the member lease)", cl.PeerFenceAfterSeconds, min)
	}
	if cl.PollSeconds == 0 {
		cl.PollSeconds = 10
	}
	if cl.PollSeconds < 1 {
		return fmt.Errorf("config: cluster.poll_seconds must be positive")
	}
	return nil
}

// TopInterval returns the top talkers' interval.
func (c *Config) TopInterval() time.Duration {
	if c.TopIntervalSeconds > 0 {
		return time.Duration(c.TopIntervalSeconds) * time.Second
	}
	return 10 * time.Second
}

// DrainTimeout returns how long a drain waits for clients.
func (c *Config) DrainTimeout() time.Duration {
	if c.DrainSeconds > 0 {
		return time.Duration(c.DrainSeconds) * time.Second
	}
	return 2 * c.Lease()
}

// MemberLease returns the liveness lock's duration.
func (cl *Cluster) MemberLease() time.Duration {
	return time.Duration(cl.MemberLeaseSeconds) * time.Second
}

// FenceAfter returns how long a member must be dead before it is fenced.
func (cl *Cluster) FenceAfter() time.Duration {
	return time.Duration(cl.PeerFenceAfterSeconds) * time.Second
}

// Poll returns how often the grace database is polled.
func (cl *Cluster) Poll() time.Duration { return time.Duration(cl.PollSeconds) * time.Second }

// NodeIDFromOrdinal derives a node id from a StatefulSet pod name
// ("nfsgw-2" → prefix + "2"): the ordinal is what survives rescheduling.
func NodeIDFromOrdinal(podName, prefix string) (string, error) {
	i := strings.LastIndexByte(podName, '-')
	if i < 0 || i == len(podName)-1 {
		return "", fmt.Errorf("config: pod name %q has no -ORDINAL suffix", podName)
	}
	ord := podName[i+1:]
	for _, r := range ord {
		if r < '0' || r > '9' {
			return "", fmt.Errorf("config: pod name %q has no -ORDINAL suffix", podName)
		}
	}
	return prefix + ord, nil
}

// ReplyTimeout returns the reply timeout, 0 for none.
func (c *Config) ReplyTimeout() time.Duration { return limitSeconds(c.ReplyTimeoutSeconds) }

// IdleTimeout returns the idle connection timeout, 0 for none.
func (c *Config) IdleTimeout() time.Duration { return limitSeconds(c.IdleTimeoutSeconds) }

// ConnsPerAddress returns the per-address connection limit, 0 for none.
func (c *Config) ConnsPerAddress() int { return max(c.MaxConnsPerAddress, 0) }

func limitSeconds(n int) time.Duration { return time.Duration(max(n, 0)) * time.Second }
