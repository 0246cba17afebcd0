package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/config"
	"nfsgw/gateway/nfsclient"
)

// TestGaneshaHandleCompat runs NFS-Ganesha 4.3 (FSAL_CEPH) and nfsgw on the
// same CephFS directory under the same export id and checks that both hand
// out the same bytes for the same objects, so a site can put nfsgw behind
// Ganesha's address without its clients remounting.
func TestGaneshaHandleCompat(t *testing.T) {
	b := testBackend(t)
	if b.Name() != "ceph" {
		t.Skip("FSAL_CEPH handles: this test runs in the CephFS pass (NFSGW_E2E_BACKEND=ceph)")
	}
	ganesha, err := exec.LookPath("ganesha.nfsd")
	if err != nil {
		t.Fatal("ganesha.nfsd not installed (make deps installs nfs-ganesha and nfs-ganesha-ceph)")
	}
	dir := b.NewDir(t)
	if err := dir.Mkdir("sub", 0755); err != nil {
		t.Fatal(err)
	}
	if err := dir.WriteFile("sub/same.txt", []byte("one file, two servers"), 0644); err != nil {
		t.Fatal(err)
	}
	cephPath := strings.TrimPrefix(dir.Spec(), "ceph:")

	gaddr := startGanesha(t, ganesha, cephPath)
	g := startGatewayOn(t, freeAddr(t), dir, "--squash", "none")

	ctx := ctxT(t)
	gc := dialAddr(t, gaddr)
	nc := g.dial(t, 0, 0, nil)
	for _, p := range []string{"", "/sub", "/sub/same.txt"} {
		want, _, err := gc.LookupPath(ctx, "/ganesha"+p)
		if err != nil {
			t.Fatalf("Ganesha: lookup %s: %v", p, err)
		}
		got, _, err := nc.LookupPath(ctx, "/export"+p)
		if err != nil {
			t.Fatalf("nfsgw: lookup %s: %v", p, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("handle of %q:\n  Ganesha %s\n  nfsgw   %s", p, hex.EncodeToString(want), hex.EncodeToString(got))
		} else {
			t.Logf("handle of %q: %s (both)", p, hex.EncodeToString(got))
		}
		if len(got) != 29 || got[0] != 0x43 {
			t.Errorf("handle of %q is not the 29-byte 0x43 layout: %x", p, got)
		}
	}
	// A handle Ganesha handed out works on nfsgw.
	fh, _, err := gc.LookupPath(ctx, "/ganesha/sub/same.txt")
	if err != nil {
		t.Fatal(err)
	}
	a, err := nc.Getattr(ctx, fh)
	if err != nil || a.Size != uint64(len("one file, two servers")) {
		t.Fatalf("GETATTR through nfsgw with Ganesha's handle: %+v %v", a, err)
	}
}

func dialAddr(t *testing.T, addr string) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, addr, nfsclient.Options{ClientOwner: fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startGanesha runs ganesha.nfsd exporting cephPath of the test cluster as
// the export id nfsgw derives for /export, at /ganesha, and stops it (by pid) when the test ends.
func startGanesha(t *testing.T, bin, cephPath string) string {
	t.Helper()
	work := t.TempDir()
	addr := freeAddr(t)
	host, port, _ := net.SplitHostPort(addr)
	user := os.Getenv("CEPH_USER")
	if user == "" {
		user = "admin"
	}
	conf := fmt.Sprintf(`NFS_CORE_PARAM {
    Protocols = 4; NFS_Port = %s; Bind_addr = %s;
    Enable_NLM = false; Enable_RQUOTA = false;
}
NFSV4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = "%s/recov"; }
CEPH { Ceph_Conf = "%s"; }
EXPORT {
    Export_Id = %d; Path = "%s"; Pseudo = /ganesha;
    Access_Type = RW; Squash = No_Root_Squash; Protocols = 4; Transports = TCP;
    FSAL { Name = CEPH; User_Id = "%s"; }
}
`, port, host, work, os.Getenv("CEPH_CONF"), config.FlagExportID("/export"), cephPath, user)
	cf := filepath.Join(work, "ganesha.conf")
	if err := os.WriteFile(cf, []byte(conf), 0644); err != nil {
		t.Fatal(err)
	}
	runGanesha(t, bin, addr, cf)
	return addr
}

// runGanesha runs ganesha.nfsd with the configuration file cf, which must
// make it listen on addr, and waits until it does. The returned function
// stops it (by pid) and evicts its CephFS session; it runs at the end of
// the test too.
func runGanesha(t *testing.T, bin, addr, cf string) (stop func()) {
	t.Helper()
	work := filepath.Dir(cf)
	os.MkdirAll(filepath.Join(work, "recov"), 0755)
	logf := filepath.Join(work, "ganesha.log")
	cmd := exec.Command(bin, "-F", "-f", cf, "-L", logf, "-p", filepath.Join(work, "ganesha.pid"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			// Ganesha 4.3 exits on SIGTERM without closing its CephFS session:
			// evict it, or its caps hold up the next test until the MDS times
			// the session out.
			evict := exec.Command("ceph", "-c", os.Getenv("CEPH_CONF"), "tell", "mds.*", "client", "evict",
				fmt.Sprintf("client_metadata.pid=%d", cmd.Process.Pid))
			if out, err := evict.CombinedOutput(); err != nil {
				t.Logf("evict Ganesha's CephFS session: %v\n%s", err, out)
			}
			if t.Failed() {
				b, _ := os.ReadFile(logf)
				t.Logf("ganesha log:\n%s", tail(string(b), 30))
			}
		})
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return stop
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf)
			t.Fatalf("ganesha exited during start:\n%s", tail(string(b), 30))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logf)
			t.Fatalf("ganesha did not listen on %s:\n%s", addr, tail(string(b), 30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}
