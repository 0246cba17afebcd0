package main

import (
	"context"
	"errors"
	"fmt"
	"os"
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
// DIR/ceph.conf). There is no local path, so a helper nfsgw exporting the
// CephFS root makes the directories and the fixtures over NFS, and removes
// them at the end; there are no raw figures (direct libcephfs calls would
// give them: still to do).
type cephBackend struct {
	conf, user string
	nfsgw      string // binary of the helper
	work       string
	root       string // path inside CephFS

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
			"--node-id", "vsganesha-helper", "--ceph-conf", c.conf, "--ceph-user", c.user}, nil)
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

// MakeFixtures makes nfsbench's fixture tree below Root over NFS.
func (c *cephBackend) MakeFixtures(ctx context.Context, many, small, depth int) error {
	return makeFixturesNFS(ctx, c.cl, c.rootFH, many, small, depth)
}

// Cleanup removes Root over NFS and stops the helper.
func (c *cephBackend) Cleanup() error {
	var errs []error
	if c.cl != nil && c.rootFH != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
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
