package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"nfsgw/cephfsal"
	"nfsgw/gateway/config"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/localfs"
)

// backends opens every export's filesystem. Exports on CephFS that agree on
// filesystem, user and keyring share one libcephfs mount: one CephFS session
// per gateway and user, whose uuid is derived from the node id so that the
// next instance of this node can reset it.
type backends struct {
	cfg *config.Config
	log hclog.Logger

	mu     sync.Mutex
	mounts map[mountKey]*cephfsal.Mount

	countOnce sync.Once
	nCeph     int // CephFS exports in the configuration at start

	// beforeSession runs before a mount opens a new CephFS session (a
	// cluster member records its session uuids in RADOS first, so that a
	// peer fencing it knows what to reset).
	beforeSession func(uuid string) error
}

type mountKey struct{ fs, user, keyring string }

func newBackends(cfg *config.Config, log hclog.Logger) *backends {
	return &backends{cfg: cfg, log: log, mounts: map[mountKey]*cephfsal.Mount{}}
}

// open returns the filesystem for one export and the path to show for it.
func (b *backends) open(ec *config.Export) (fsal.FS, string, error) {
	ro := ec.Access == "ro"
	if p, ok := ec.CephPath(); ok {
		m, err := b.mount(ec)
		if err != nil {
			return nil, "", err
		}
		if b.cephExports() > lazyExports {
			// Thousands of exports: look their directories up in the
			// background instead of one MDS round trip each before
			// serving; a missing one is logged and refuses its handles.
			fs, err := m.ExportLazy(p, ro)
			if err != nil {
				return nil, "", fmt.Errorf("CephFS path %s: %w", p, err)
			}
			go func() {
				if err := fs.Ready(); err != nil {
					b.log.Error("export unusable", "pseudo", ec.Pseudo, "path", ec.Path, "error", err)
				}
			}()
			return fs, ec.Path, nil
		}
		fs, err := m.Export(p, ro)
		if err != nil {
			return nil, "", fmt.Errorf("CephFS path %s: %w", p, err)
		}
		return fs, ec.Path, nil
	}
	path, err := filepath.Abs(ec.Path)
	if err != nil {
		return nil, "", err
	}
	fs, err := localfs.New(path, localfs.Options{ReadOnly: ro, Async: ec.Async, NoAttrCache: !ec.AttrCacheEnabled()})
	return fs, path, err
}

// lazyExports is how many CephFS exports a gateway opens one by one at
// start; beyond it their directories are resolved in the background.
const lazyExports = 64

// expectCephExports sets how many CephFS exports the start opens when they
// are not in the configuration (the cluster's export table in RADOS); call
// it before the first open.
func (b *backends) expectCephExports(n int) {
	b.countOnce.Do(func() { b.nCeph = n })
}

func (b *backends) cephExports() int {
	b.countOnce.Do(func() {
		for i := range b.cfg.Exports {
			if _, ok := b.cfg.Exports[i].CephPath(); ok {
				b.nCeph++
			}
		}
	})
	return b.nCeph
}

func (b *backends) mount(ec *config.Export) (*cephfsal.Mount, error) {
	c := b.cfg.Ceph
	k := b.mountKeyOf(ec)
	b.mu.Lock()
	defer b.mu.Unlock()
	if m := b.mounts[k]; m != nil {
		return m, nil
	}
	uuid := b.sessionUUID(k)
	if b.beforeSession != nil {
		if err := b.beforeSession(uuid); err != nil {
			return nil, err
		}
	}
	node := b.cfg.NodeID
	opts := cephfsal.MountOptions{
		ConfPath:             c.Conf,
		User:                 k.user,
		Keyring:              k.keyring,
		FSName:               k.fs,
		NodeID:               node,
		SessionUUID:          uuid,
		ResetPreviousSession: true,
		TrustFileHandles:     !c.StrictFileHandles,
		SessionTimeout:       time.Duration(c.SessionTimeoutSeconds) * time.Second,
		// Delegations backed by CephFS, so that another gateway's
		// conflicting access recalls the ones granted here; a default
		// timeout is kept below what the MDS accepts.
		DelegationTimeout:      b.cfg.DelegationTimeout(),
		ClampDelegationTimeout: c.DelegationTimeoutSeconds == 0,
		// Several attempts fit in the retry budget.
		MountTimeout: max(2*time.Second, min(cephfsal.DefaultMountTimeout, time.Duration(c.MountTimeoutSeconds)*time.Second/3).Round(time.Second)),
	}
	start := time.Now()
	m, err := mountWithRetry(opts, time.Duration(c.MountTimeoutSeconds)*time.Second, b.log)
	if err != nil {
		return nil, err
	}
	b.log.Info("CephFS mounted", "conf", c.Conf, "user", k.user, "fs", k.fs, "session", uuid, "previous session", resetName(m.Reset()), "took", time.Since(start))
	b.mounts[k] = m
	return m, nil
}

// mountWithRetry retries a mount that fails for a reason that may pass (a
// cluster still starting, an MDS failing over) until budget is spent,
// logging each failure; configuration and permission errors fail at once.
func mountWithRetry(opts cephfsal.MountOptions, budget time.Duration, log hclog.Logger) (*cephfsal.Mount, error) {
	deadline := time.Now().Add(budget)
	delay := 500 * time.Millisecond
	for i := 1; ; i++ {
		m, err := cephfsal.NewMount(opts)
		if err == nil {
			return m, nil
		}
		if !retryable(err) || time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("CephFS mount (conf %s, user %s) failed after %d attempt(s): %w", opts.ConfPath, opts.User, i, err)
		}
		log.Warn("CephFS mount failed; retrying", "attempt", i, "in", delay, "error", err)
		time.Sleep(delay)
		delay = min(2*delay, 8*time.Second)
	}
}

// mountKeyOf is the mount an export uses.
func (b *backends) mountKeyOf(ec *config.Export) mountKey {
	c := b.cfg.Ceph
	k := mountKey{fs: c.FSName, user: c.User, keyring: c.Keyring}
	if ec.CephFS != "" {
		k.fs = ec.CephFS
	}
	if ec.CephUser != "" {
		k.user = ec.CephUser
	}
	if ec.CephKeyring != "" {
		k.keyring = ec.CephKeyring
	}
	return k
}

// sessionUUID names the CephFS session of one mount after the node and the
// mount's key, never after the order mounts were made in (which may change
// between restarts, and then the wrong session would be reset): the mount
// of the gateway-wide settings is "nfsgw-NODE", any other one
// "nfsgw-NODE-" and a hash of its filesystem, user and keyring.
func (b *backends) sessionUUID(k mountKey) string {
	c := b.cfg.Ceph
	if k == (mountKey{fs: c.FSName, user: c.User, keyring: c.Keyring}) {
		return "nfsgw-" + b.cfg.NodeID
	}
	h := sha256.Sum256([]byte(k.fs + "\x00" + k.user + "\x00" + k.keyring))
	return fmt.Sprintf("nfsgw-%s-%x", b.cfg.NodeID, h[:4])
}

// sessionUUIDs lists the sessions the configuration's CephFS exports use.
func (b *backends) sessionUUIDs() []string {
	seen := map[string]bool{}
	var out []string
	for i := range b.cfg.Exports {
		ec := &b.cfg.Exports[i]
		if _, ok := ec.CephPath(); !ok {
			continue
		}
		u := b.sessionUUID(b.mountKeyOf(ec))
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	return out
}

// tardy reports whether every CephFS mount found no previous session to
// reset: the MDS had evicted them, so the previous instance's caps and
// locks were released outside any grace period. False without CephFS
// mounts (a local directory keeps nothing for a dead gateway).
func (b *backends) tardy() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.mounts) == 0 {
		return false
	}
	for _, m := range b.mounts {
		if m.Reset() != cephfsal.ResetNone {
			return false
		}
	}
	return true
}

func resetName(r cephfsal.ResetResult) string {
	switch r {
	case cephfsal.ResetDone:
		return "reset"
	case cephfsal.ResetNone:
		return "none"
	}
	return "not tried"
}

// abort drops every CephFS session without returning caps: a cluster
// member that stops leaves them to its successor's reset, which comes only
// once every peer enforces grace.
func (b *backends) abort() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, m := range b.mounts {
		if err := m.Abort(); err != nil {
			b.log.Warn("CephFS abort", "error", err)
		}
		delete(b.mounts, k)
	}
}

// close unmounts every CephFS mount.
func (b *backends) close() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.mu.Lock()
		defer b.mu.Unlock()
		for k, m := range b.mounts {
			if err := m.Close(); err != nil {
				b.log.Warn("CephFS unmount", "error", err)
			}
			delete(b.mounts, k)
		}
	}()
	// An unmount flushes and returns caps to the MDS; with the cluster
	// unreachable it would block shutdown for good. The MDS ends the
	// session itself after its timeout, and a restart with the same node
	// id resets it at once.
	select {
	case <-done:
	case <-time.After(unmountTimeout):
		b.log.Warn("CephFS unmount did not finish; exiting without it", "waited", unmountTimeout)
	}
}

// unmountTimeout bounds how long shutdown waits for CephFS unmounts.
const unmountTimeout = 20 * time.Second

// retryable reports whether a failed mount may succeed later: the cluster
// did not answer (still starting, no active MDS yet) rather than refused.
func retryable(err error) bool {
	for _, e := range []syscall.Errno{syscall.ETIMEDOUT, syscall.ESHUTDOWN, syscall.ECONNREFUSED,
		syscall.ENOTCONN, syscall.EAGAIN, syscall.EIO} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
