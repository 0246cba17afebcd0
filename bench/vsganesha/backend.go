package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"nfsgw/gateway/nfsclient"
)

// localBackend serves a directory of the local file system: Ganesha with
// FSAL_VFS, nfsgw with its localfs backend.
type localBackend struct {
	root string
}

func (l *localBackend) Name() string { return "local" }

func (l *localBackend) Prepare(context.Context) error { return os.MkdirAll(l.root, 0o777) }

func (l *localBackend) Root() string      { return l.root }
func (l *localBackend) LocalRoot() string { return l.root }

func (l *localBackend) Mkdirs(paths []string) error {
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o777); err != nil {
			return err
		}
	}
	return nil
}

func (l *localBackend) GaneshaFSAL() string         { return "FSAL { Name = VFS; }" }
func (l *localBackend) GaneshaGlobal() string       { return "" }
func (l *localBackend) NfsgwExport(p string) string { return p }
func (l *localBackend) NfsgwArgs() []string         { return nil }
func (l *localBackend) Cleanup() error              { return os.RemoveAll(l.root) }

// cephBackend serves a directory of CephFS: Ganesha with FSAL_CEPH, nfsgw
// with cephfsal (ceph:/PATH exports and --ceph-conf). The cluster is the
// project's throwaway one (scripts/ceph-dev.sh up DIR; -ceph-conf
// DIR/ceph.conf). There is no local path: bench/cephraw makes the fixture
// tree straight through libcephfs (fast enough for the 100,000-entry
// directory), measures the raw figures the same way once per round, and
// removes the tree at the end; a helper nfsgw exporting the CephFS root
// makes the root and the export directories over NFS, and stands in for
// cephraw (fixtures without the big directory, removal) when cephraw
// cannot be built or fails.
type cephBackend struct {
	cleanupLimit time.Duration // for removing everything at the end
	conf, user   string
	nfsgw        string // binary of the helper
	work         string
	root         string // path inside CephFS

	raw  *cephraw // nil: no raw figures, fixtures over NFS
	note func(format string, args ...any)

	helper *proc
	addr   string
	cl     *nfsclient.Client
	rootFH []byte
}

func (c *cephBackend) Name() string { return "cephfs" }

func (c *cephBackend) Prepare(ctx context.Context) error {
	if c.conf == "" {
		return errors.New("the ceph backend needs -ceph-conf (scripts/ceph-dev.sh up DIR makes DIR/ceph.conf)")
	}
	if _, err := os.Stat(c.conf); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	c.addr = fmt.Sprintf("127.0.0.1:%d", port)
	// Its own node id: two gateways with one id would reset each other's
	// CephFS session.
	c.helper, err = startProc("nfsgw (helper)", filepath.Join(c.work, "helper.log"),
		[]string{c.nfsgw, "--listen", c.addr, "--export", "/cephfs=ceph:/", "--squash", "none", "--log-level", "warn",
			"--admin", "none", "--state-dir", "none", "--node-id", "vsganesha-helper", "--ceph-conf", c.conf, "--ceph-user", c.user}, nil)
	if err != nil {
		return err
	}
	if err := waitListen(ctx, c.helper, c.addr, time.Minute); err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if c.cl, err = nfsclient.Dial(dctx, c.addr, nfsclient.Options{}); err != nil {
		return err
	}
	top, _, err := c.cl.LookupPath(dctx, "/cephfs")
	if err != nil {
		return err
	}
	name := strings.TrimPrefix(c.root, "/")
	if c.rootFH, err = c.cl.Mkdir(dctx, top, name, 0o777); err != nil {
		return fmt.Errorf("mkdir %s in CephFS: %w", c.root, err)
	}
	return nil
}

func (c *cephBackend) Root() string      { return c.root }
func (c *cephBackend) LocalRoot() string { return "" }

// Mkdirs creates directories below Root over NFS.
func (c *cephBackend) Mkdirs(paths []string) error {
	ctx := context.Background()
	return parallel(8, len(paths), func(i int) error {
		rel := strings.TrimPrefix(strings.TrimPrefix(paths[i], c.root), "/")
		dir := c.rootFH
		parts := strings.Split(rel, "/")
		for j, p := range parts {
			fh, err := lookupOrMkdir(ctx, c.cl, dir, p, j < len(parts)-1)
			if err != nil {
				return fmt.Errorf("mkdir %s: %w", paths[i], err)
			}
			dir = fh
		}
		return nil
	})
}

func (c *cephBackend) NfsgwExport(p string) string { return "ceph:" + p }
func (c *cephBackend) NfsgwArgs() []string {
	return []string{"--node-id", "vsganesha-bench", "--ceph-conf", c.conf, "--ceph-user", c.user}
}

func (c *cephBackend) GaneshaFSAL() string {
	return fmt.Sprintf("FSAL { Name = CEPH; User_Id = %q; }", c.user)
}

func (c *cephBackend) GaneshaGlobal() string {
	return fmt.Sprintf("CEPH { Ceph_Conf = %q; }", c.conf)
}

// MakeFixtures makes nfsbench's fixture tree below Root with cephraw, or
// over NFS without the big directory when cephraw is missing or fails; it
// reports whether the big directory was made.
func (c *cephBackend) MakeFixtures(ctx context.Context, s fixtureSpec) (bool, error) {
	if c.raw != nil {
		err := c.raw.run(ctx, "make fixtures", append([]string{"-make-fixtures", c.root}, s.args()...)...)
		if err == nil {
			return s.big > 0, nil
		}
		if ctx.Err() != nil {
			return false, err
		}
		c.note("%v: fixture tree made over NFS instead, without readdirbig", err)
		if err := removeTreeNFS(ctx, c.cl, c.rootFH, benchkit.FixtureDir); err != nil {
			return false, fmt.Errorf("removing cephraw's partial tree: %w", err)
		}
	}
	return false, makeFixturesNFS(ctx, c.cl, c.rootFH, s.many, s.small, s.depth)
}

// AfterStop ends the CephFS sessions a stopped server left open. Ganesha
// 4.3 exits on SIGTERM without unmounting: the MDS keeps its session, and
// the caps it held on the bench's directories, until the session times out
// (60 s by default), and until then the next client to touch them (cephraw,
// the next round's servers, the removal) waits. Evicting the sessions of
// the dead process frees them at once.
func (c *cephBackend) AfterStop(name string, pid int) {
	if err := evictSessions(c.conf, c.user, pid); err != nil {
		c.note("%s (pid %d) exited; its CephFS session is left to time out: %v", name, pid, err)
	}
}

// RawReady says whether RunRaw can measure.
func (c *cephBackend) RawReady() bool { return c.raw != nil }

// RunRaw measures the raw figures with cephraw in a directory of its own
// below Root, on the fixture tree, writing nfsbench-shaped JSON to out.
func (c *cephBackend) RunRaw(ctx context.Context, round int, args []string, out string) error {
	return c.raw.run(ctx, "measure", append([]string{"-dir", path.Join(c.root, fmt.Sprintf("cephraw-%d", round)),
		"-fixtures", path.Join(c.root, benchkit.FixtureDir), "-json", out}, args...)...)
}

// Cleanup removes Root (through libcephfs, then whatever is left over NFS)
// and stops the helper. The limit is generous: on a slow day the one-node
// cluster took over 5 minutes to remove the 112,000-file fixture tree.
func (c *cephBackend) Cleanup() error {
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), max(c.cleanupLimit, 15*time.Minute))
	defer cancel()
	if c.raw != nil && c.rootFH != nil {
		if err := c.raw.run(ctx, "remove", "-remove", c.root); err != nil {
			// Not fatal: the NFS removal below tries again.
			logf("%v; removing %s over NFS", err, c.root)
		}
	}
	if c.cl != nil && c.rootFH != nil {
		top, _, err := c.cl.LookupPath(ctx, "/cephfs")
		if err == nil {
			err = removeTreeNFS(ctx, c.cl, top, strings.TrimPrefix(c.root, "/"))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove %s from CephFS: %w", c.root, err))
		}
		c.cl.Close()
	}
	if err := c.helper.stop(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
