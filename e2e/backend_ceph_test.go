//go:build !noceph

package e2e

import (
	"fmt"
	"io"
	"os"
	"path"
	"sync/atomic"
	"testing"

	"github.com/ceph/go-ceph/cephfs"
)

// cephBackend reaches the test cluster through go-ceph's path-based
// libcephfs binding: an independent view of the files, not the gateway's
// own cephfsal code.
type cephBackend struct {
	conf string
	m    *cephfs.MountInfo
	base string
	seq  atomic.Int64
}

func newCephBackend() (backend, error) {
	conf := os.Getenv("CEPH_CONF")
	if conf == "" {
		return nil, fmt.Errorf("NFSGW_E2E_BACKEND=ceph needs CEPH_CONF (make test starts a cluster; or scripts/ceph-dev.sh up DIR)")
	}
	m, err := cephfs.CreateMount()
	if err != nil {
		return nil, err
	}
	if err := m.ReadConfigFile(conf); err != nil {
		return nil, fmt.Errorf("read %s: %w", conf, err)
	}
	if err := m.Mount(); err != nil {
		return nil, fmt.Errorf("mount CephFS: %w", err)
	}
	b := &cephBackend{conf: conf, m: m, base: fmt.Sprintf("/e2e-%d", os.Getpid())}
	if err := m.MakeDir(b.base, 0777); err != nil {
		return nil, fmt.Errorf("mkdir %s: %w", b.base, err)
	}
	return b, nil
}

func (b *cephBackend) Name() string { return "ceph" }

func (b *cephBackend) Args(node string) []string {
	args := []string{"--ceph-conf", b.conf, "--node-id", node}
	if u := os.Getenv("CEPH_USER"); u != "" {
		args = append(args, "--ceph-user", u)
	}
	return args
}

func (b *cephBackend) NewDir(t testing.TB) backendDir {
	p := fmt.Sprintf("%s/%d", b.base, b.seq.Add(1))
	if err := b.m.MakeDir(p, 0777); err != nil {
		t.Fatal(err)
	}
	// The creator's umask applies to MakeDir.
	if err := b.m.Chmod(p, 0777); err != nil {
		t.Fatal(err)
	}
	return &cephDir{m: b.m, dir: p}
}

type cephDir struct {
	m   *cephfs.MountInfo
	dir string
}

func (d *cephDir) Spec() string { return "ceph:" + d.dir }

func (d *cephDir) WriteFile(rel string, data []byte, perm uint32) error {
	f, err := d.m.Open(path.Join(d.dir, rel), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Fsync(cephfs.SyncAll); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (d *cephDir) ReadFile(rel string) ([]byte, error) {
	f, err := d.m.Open(path.Join(d.dir, rel), os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func (d *cephDir) Mkdir(rel string, perm uint32) error {
	return d.m.MakeDir(path.Join(d.dir, rel), perm)
}

func (d *cephDir) Owner(rel string) (uint32, uint32, error) {
	st, err := d.m.Statx(path.Join(d.dir, rel), cephfs.StatxBasicStats, 0)
	if err != nil {
		return 0, 0, err
	}
	return st.Uid, st.Gid, nil
}

// close unmounts, so the cluster does not keep this process's session (and
// its caps) alive until the session times out.
func (b *cephBackend) close() {
	b.m.Unmount()
	b.m.Release()
}
