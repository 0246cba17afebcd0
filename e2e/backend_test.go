package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// backendDir is an exported directory seen from behind the gateway's back:
// the tests use it to plant files and to check what the gateway wrote,
// through the backend's own interface (the local file system, or a
// libcephfs mount of the test cluster that is not the gateway's).
type backendDir interface {
	// Spec is the --export value's right-hand side for this directory.
	Spec() string
	WriteFile(rel string, data []byte, perm uint32) error
	ReadFile(rel string) ([]byte, error)
	Mkdir(rel string, perm uint32) error
	// Owner returns a file's uid and gid.
	Owner(rel string) (uid, gid uint32, err error)
}

// backend is where the gateway under test keeps its files. NFSGW_E2E_BACKEND
// selects it: "local" (the default) or "ceph" (CephFS on the cluster that
// CEPH_CONF names; `make test` starts one).
type backend interface {
	Name() string
	// NewDir returns a fresh, empty, world-writable directory.
	NewDir(t testing.TB) backendDir
	// Args are the extra gateway arguments the backend needs, for a
	// gateway instance called node (its CephFS session is derived from it).
	Args(node string) []string
}

var (
	backendOnce sync.Once
	theBackend  backend
	backendErr  error
)

// TestMain releases the backend (a CephFS session) when the tests end.
func TestMain(m *testing.M) {
	code := m.Run()
	if c, ok := theBackend.(interface{ close() }); ok {
		c.close()
	}
	os.Exit(code)
}

func testBackend(t testing.TB) backend {
	t.Helper()
	backendOnce.Do(func() {
		switch name := os.Getenv("NFSGW_E2E_BACKEND"); name {
		case "", "local":
			theBackend = localBackend{}
		case "ceph":
			theBackend, backendErr = newCephBackend()
		default:
			backendErr = fmt.Errorf("NFSGW_E2E_BACKEND=%q: want local or ceph", name)
		}
	})
	if backendErr != nil {
		t.Fatal(backendErr)
	}
	return theBackend
}

// nodeName gives every gateway instance of a run its own node id: two
// gateways sharing one would reset each other's CephFS sessions.
func nodeName(t testing.TB) string {
	return fmt.Sprintf("e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
}

type localBackend struct{}

func (localBackend) Name() string         { return "local" }
func (localBackend) Args(string) []string { return nil }
func (localBackend) NewDir(t testing.TB) backendDir {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0777); err != nil {
		t.Fatal(err)
	}
	return localDir(dir)
}

type localDir string

func (d localDir) Spec() string { return string(d) }
func (d localDir) WriteFile(rel string, data []byte, perm uint32) error {
	return os.WriteFile(filepath.Join(string(d), rel), data, os.FileMode(perm))
}
func (d localDir) ReadFile(rel string) ([]byte, error) {
	return os.ReadFile(filepath.Join(string(d), rel))
}
func (d localDir) Mkdir(rel string, perm uint32) error {
	return os.Mkdir(filepath.Join(string(d), rel), os.FileMode(perm))
}
func (d localDir) Owner(rel string) (uint32, uint32, error) {
	st, err := os.Stat(filepath.Join(string(d), rel))
	if err != nil {
		return 0, 0, err
	}
	s := st.Sys().(*syscall.Stat_t)
	return s.Uid, s.Gid, nil
}
