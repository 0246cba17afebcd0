//go:build !noceph

package cephfsal

import (
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"nfsgw/cephfsal/internal/cephll"
)

// Mount is one libcephfs client: one CephFS session, shared by every export
// of that filesystem (a session per export would multiply the MDS's
// per-client memory and caps, as Ganesha's one-client-per-export did).
type Mount struct {
	ll    *cephll.Mount
	opts  MountOptions
	fscid uint64
	uuid  string
	// reset: what resetting the previous session found.
	reset ResetResult
	root  *cephll.Perm // uid 0, never evicted
	perms *refCache[credKey, *cephll.Perm]

	mu      sync.Mutex // guards exports and closed; never held across cgo
	exports []*FS
	lazySem chan struct{} // bounds ExportLazy's concurrent lookups
	closed  bool
}

// NewMount connects to the cluster and mounts CephFS. A cluster that is
// down or unreachable fails within MountTimeout (wrapping ETIMEDOUT) so the
// caller can retry; a cephx user that lacks caps gets an error naming them.
func NewMount(opts MountOptions) (*Mount, error) {
	if opts.Root == "" {
		opts.Root = "/"
	}
	if !path.IsAbs(opts.Root) {
		return nil, fmt.Errorf("cephfsal: mount root %q is not absolute", opts.Root)
	}
	opts.Root = path.Clean(opts.Root)
	if opts.MountTimeout <= 0 {
		opts.MountTimeout = DefaultMountTimeout
	}
	if opts.InodeCacheSize <= 0 {
		opts.InodeCacheSize = DefaultInodeCacheSize
	}
	ll, err := cephll.Create(opts.User, opts.MaxInflight)
	if err != nil {
		return nil, fmt.Errorf("cephfsal: ceph_create: %w", err)
	}
	m := &Mount{ll: ll, opts: opts, lazySem: make(chan struct{}, 16)}
	if err := m.start(); err != nil {
		ll.Release()
		return nil, err
	}
	m.root = cephll.NewPerm(0, 0, nil)
	m.perms = newRefCache(1024, hashCred, (*cephll.Perm).Destroy)
	return m, nil
}

func (m *Mount) user() string {
	if m.opts.User == "" {
		return "client.admin"
	}
	return "client." + m.opts.User
}

func (m *Mount) start() error {
	o := &m.opts
	if err := m.ll.ConfReadFile(o.ConfPath); err != nil {
		return fmt.Errorf("cephfsal: read ceph config %q: %w", o.ConfPath, err)
	}
	secs := strconv.Itoa(max(1, int(o.MountTimeout.Seconds())))
	set := map[string]string{
		// Without these a mount against a dead cluster waits 300 s.
		"client_mount_timeout": secs,
		"rados_mon_op_timeout": secs,
	}
	if o.Keyring != "" {
		set["keyring"] = o.Keyring
	}
	quiet, err := m.quietLogging()
	if err != nil {
		return err
	}
	for k, v := range quiet {
		set[k] = v
	}
	for k, v := range o.Config {
		set[k] = v
	}
	for k, v := range set {
		if err := m.ll.ConfSet(k, v); err != nil {
			return fmt.Errorf("cephfsal: ceph option %s=%q: %w", k, v, err)
		}
	}
	if err := m.ll.Init(); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("cephfsal: connect to the monitors: no keyring with a key for %s (set the keyring, or keyring in %s): %w",
				m.user(), m.confDesc(), err)
		}
		return m.explain("connect to the monitors", err)
	}
	if o.SessionTimeout > 0 {
		m.ll.SetSessionTimeout(uint(o.SessionTimeout.Seconds()))
	}
	if o.NodeID != "" || o.SessionUUID != "" {
		m.uuid = o.SessionUUID
		if m.uuid == "" {
			m.uuid = "nfsgw-" + o.NodeID
		}
		if o.ResetPreviousSession {
			r, err := resetSession(m.ll, m.uuid)
			if err != nil {
				return m.explain(fmt.Sprintf("reset the previous session %q", m.uuid), err)
			}
			m.reset = r
		}
		m.ll.SetUUID(m.uuid)
	}
	if o.FSName != "" {
		if err := m.ll.SelectFilesystem(o.FSName); err != nil {
			return fmt.Errorf("cephfsal: select filesystem %q: %w", o.FSName, err)
		}
	}
	if err := m.ll.Mount(o.Root); err != nil {
		return m.explain("mount CephFS "+m.fsDesc(), err)
	}
	cid, err := m.ll.FSCID()
	if err != nil {
		m.ll.Unmount()
		return fmt.Errorf("cephfsal: ceph_get_fs_cid: %w", err)
	}
	m.fscid = uint64(cid)
	if o.DelegationTimeout > 0 {
		if limit := time.Duration(m.ll.CapReturnTimeout()) * time.Second; o.ClampDelegationTimeout && limit > 0 && o.DelegationTimeout >= limit {
			o.DelegationTimeout = (limit * 4 / 5).Truncate(time.Second)
		}
		if err := m.ll.SetDelegTimeout(uint32(o.DelegationTimeout.Seconds())); err != nil {
			m.ll.Unmount()
			return fmt.Errorf("cephfsal: delegation timeout %v (must be below the cap return timeout, %d s): %w",
				o.DelegationTimeout, m.ll.CapReturnTimeout(), err)
		}
	}
	return nil
}

func (m *Mount) fsDesc() string {
	name := m.opts.FSName
	if name == "" {
		name = "(default filesystem)"
	}
	return name + ":" + m.opts.Root
}

// explain turns a failed connect or mount into an error an operator can act
// on, keeping the errno for errors.Is.
func (m *Mount) explain(what string, err error) error {
	switch {
	case errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Errorf("cephfsal: %s: no answer within %v (cluster down or unreachable, or no active MDS; check mon host in %s): %w",
			what, m.opts.MountTimeout, m.confDesc(), err)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		fs := m.opts.FSName
		if fs == "" {
			fs = "<fsname>"
		}
		return fmt.Errorf("cephfsal: %s: cephx user %s lacks caps or key: needs mon 'allow r', mds 'allow rw path=%s', osd 'allow rw tag cephfs data=%s' (and a keyring with its key): %w",
			what, m.user(), m.opts.Root, fs, err)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("cephfsal: %s: no such filesystem or path: %w", what, err)
	}
	return fmt.Errorf("cephfsal: %s: %w", what, err)
}

func (m *Mount) confDesc() string {
	if m.opts.ConfPath == "" {
		return "the default ceph.conf"
	}
	return m.opts.ConfPath
}

// FSCID returns the mounted filesystem's id (the third word of handles).
func (m *Mount) FSCID() uint64 { return m.fscid }

func resetSession(ll *cephll.Mount, uuid string) (ResetResult, error) {
	err := ll.StartReclaim(uuid, cephll.ReclaimReset)
	switch {
	case err == nil:
		ll.FinishReclaim()
		return ResetDone, nil
	case errors.Is(err, syscall.ENOENT):
		return ResetNone, nil
	case errors.Is(err, syscall.EPERM):
		// After an MDS restart Pacific answers EPERM for a session
		// that set a uuid, yet evicts it (it does not persist the
		// session's auth name): count it as reset (NOTES.md).
		ll.FinishReclaim()
		return ResetDone, nil
	}
	return ResetNotTried, err
}

// Reset returns what resetting the previous session found.
func (m *Mount) Reset() ResetResult { return m.reset }

// ResetSession ends the session named uuid of another client instance
// (a dead cluster member being fenced) without mounting: it connects as
// opts' user (the same cephx entity as the session's), resets, and
// disconnects.
func ResetSession(opts MountOptions, uuid string) (ResetResult, error) {
	if opts.MountTimeout <= 0 {
		opts.MountTimeout = DefaultMountTimeout
	}
	ll, err := cephll.Create(opts.User, 4)
	if err != nil {
		return ResetNotTried, fmt.Errorf("cephfsal: ceph_create: %w", err)
	}
	defer ll.Release()
	m := &Mount{ll: ll, opts: opts}
	if err := ll.ConfReadFile(opts.ConfPath); err != nil {
		return ResetNotTried, fmt.Errorf("cephfsal: read ceph config %q: %w", opts.ConfPath, err)
	}
	secs := strconv.Itoa(max(1, int(opts.MountTimeout.Seconds())))
	set := map[string]string{"client_mount_timeout": secs, "rados_mon_op_timeout": secs}
	if opts.Keyring != "" {
		set["keyring"] = opts.Keyring
	}
	for k, v := range set {
		if err := ll.ConfSet(k, v); err != nil {
			return ResetNotTried, fmt.Errorf("cephfsal: ceph option %s=%q: %w", k, v, err)
		}
	}
	if err := ll.Init(); err != nil {
		return ResetNotTried, m.explain("connect to the monitors", err)
	}
	r, err := resetSession(ll, uuid)
	if err != nil {
		return r, m.explain(fmt.Sprintf("reset session %q", uuid), err)
	}
	return r, nil
}

// Abort drops the session without returning caps (ceph_abort_conn): for a
// cluster member that stops, so that its successor's reset — which comes
// only once every peer enforces grace — is what releases them. No FS or
// File of this mount may be used after or during Abort.
func (m *Mount) Abort() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.exports = nil
	m.mu.Unlock()
	if !m.ll.Quiesce(5 * time.Second) {
		// Calls still run (a stuck MDS): dropping the client under
		// them would crash. The process exit that follows drops the
		// connection all the same, without returning caps.
		return errors.New("cephfsal: abort: libcephfs calls still in flight; leaving the session to the process exit")
	}
	err := m.ll.AbortConn()
	if rerr := m.ll.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("cephfsal: abort: %w", err)
	}
	return nil
}

// SessionUUID returns the CephFS session name ("" without a NodeID).
func (m *Mount) SessionUUID() string { return m.uuid }

// rel turns an absolute CephFS path into one from the mounted Root, which
// is what ceph_ll_walk takes.
func (m *Mount) rel(p string) (string, error) {
	if !path.IsAbs(p) {
		return "", fmt.Errorf("cephfsal: path %q is not absolute", p)
	}
	p = path.Clean(p)
	if m.opts.Root == "/" {
		return p, nil
	}
	rest, ok := strings.CutPrefix(p, m.opts.Root)
	switch {
	case !ok || (rest != "" && rest[0] != '/'):
		return "", fmt.Errorf("cephfsal: path %s is outside the mounted %s", p, m.opts.Root)
	case rest == "":
		return "/", nil
	}
	return rest, nil
}

// Export serves the CephFS directory dir (absolute in the filesystem, at or
// below MountOptions.Root) as an fsal.FS.
func (m *Mount) Export(dir string, readOnly bool) (*FS, error) {
	rel, err := m.rel(dir)
	if err != nil {
		return nil, err
	}
	fs := newFS(m, rel, readOnly)
	fs.ensureRoot()
	if fs.rootErr != nil {
		return nil, fmt.Errorf("cephfsal: export %s: %w", dir, fs.rootErr)
	}
	return m.add(fs)
}

// ExportLazy is Export for gateways with many exports: the directory is
// looked up in the background (a few at a time), so that thousands of
// exports do not hold up the start by one MDS round trip each. The first
// request that needs the export before its turn looks it up itself;
// (*FS).Ready reports a directory that could not be found.
func (m *Mount) ExportLazy(dir string, readOnly bool) (*FS, error) {
	rel, err := m.rel(dir)
	if err != nil {
		return nil, err
	}
	fs := newFS(m, rel, readOnly)
	go func() {
		m.lazySem <- struct{}{}
		fs.ensureRoot()
		<-m.lazySem
	}()
	return m.add(fs)
}

func (m *Mount) add(fs *FS) (*FS, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		fs.close()
		return nil, errors.New("cephfsal: mount closed")
	}
	m.exports = append(m.exports, fs)
	return fs, nil
}

// forget removes fs from the exports; false if it was not there (closed
// already, or by Mount.Close).
func (m *Mount) forget(fs *FS) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, e := range m.exports {
		if e == fs {
			m.exports = append(m.exports[:i], m.exports[i+1:]...)
			return true
		}
	}
	return false
}

// Close drops every export's inode references and ends the session cleanly
// (dirty data is flushed, caps returned). No FS or File of this mount may be
// used after or during Close.
func (m *Mount) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	exports := m.exports
	m.exports = nil
	m.mu.Unlock()
	for _, fs := range exports {
		fs.close()
	}
	m.perms.clear()
	err := m.ll.Unmount()
	m.root.Destroy()
	if rerr := m.ll.Release(); err == nil {
		err = rerr
	}
	if err != nil {
		return fmt.Errorf("cephfsal: unmount: %w", err)
	}
	return nil
}

// LibVersion reports the libcephfs version the gateway runs with.
func LibVersion() string { return cephll.Version() }

// quietSubsystems are the libcephfs log subsystems whose default levels
// make every ceph_ll_* call format entries for the in-memory log (the N of
// "debug_client = 0/N"): on CephFS that was a third of the gateway's CPU
// in a path walk, spent on lines nobody reads unless the process crashes.
var quietSubsystems = []string{"client", "ms", "objecter", "objectcacher", "monc", "auth"}

// quietLogging returns debug_<subsystem> = 0/0 for each quiet subsystem
// whose level ceph.conf left at Ceph's compiled-in default, so an operator
// who sets a level in ceph.conf or in Config keeps it (one who writes the
// default itself into ceph.conf cannot be told apart, and gets 0/0). The
// defaults come from a client that read no configuration.
func (m *Mount) quietLogging() (map[string]string, error) {
	fresh, err := cephll.Create(m.opts.User, 1)
	if err != nil {
		return nil, fmt.Errorf("cephfsal: ceph_create: %w", err)
	}
	defer fresh.Release()
	current := map[string]string{}
	defaults := map[string]string{}
	for _, sub := range quietSubsystems {
		opt := "debug_" + sub
		if current[opt], err = m.ll.ConfGet(opt); err != nil {
			return nil, fmt.Errorf("cephfsal: ceph option %s: %w", opt, err)
		}
		if defaults[opt], err = fresh.ConfGet(opt); err != nil {
			return nil, fmt.Errorf("cephfsal: ceph option %s: %w", opt, err)
		}
	}
	return quietLevels(current, defaults, m.opts.Config), nil
}

// quietLevels is quietLogging's decision: 0/0 for every option whose
// current value is its default and that config does not set (under any of
// Ceph's spellings: "debug_client", "debug client", "debug-client").
func quietLevels(current, defaults, config map[string]string) map[string]string {
	spelling := strings.NewReplacer(" ", "_", "-", "_")
	explicit := map[string]bool{}
	for k := range config {
		explicit[spelling.Replace(strings.TrimSpace(k))] = true
	}
	out := map[string]string{}
	for opt, v := range current {
		if explicit[opt] || v != defaults[opt] || v == "0/0" {
			continue
		}
		out[opt] = "0/0"
	}
	return out
}
