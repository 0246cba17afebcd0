package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// cephOnly skips tests about CephFS faults in the local-directory pass;
// `make test` runs them in its CephFS pass.
func cephOnly(t *testing.T) {
	t.Helper()
	if testBackend(t).Name() != "ceph" {
		t.Skip("CephFS fault test: runs in the CephFS pass (NFSGW_E2E_BACKEND=ceph)")
	}
}

// runToExit runs nfsgw expecting it to give up and exit; it returns the
// output and the exit error.
func runToExit(t *testing.T, within time.Duration, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	args = append(append([]string(nil), harnessDefaults...), args...)
	out, err := exec.CommandContext(ctx, nfsgwBin(t), args...).CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("nfsgw still running after %v:\n%s", within, tail(string(out), 20))
	}
	return string(out), err
}

func TestCephClusterDownAtStart(t *testing.T) {
	cephOnly(t)
	// A ceph.conf whose monitor nobody listens on.
	conf, err := os.ReadFile(os.Getenv("CEPH_CONF"))
	if err != nil {
		t.Fatal(err)
	}
	dead := regexp.MustCompile(`mon host = .*`).ReplaceAllString(string(conf), "mon host = v2:"+freeAddr(t))
	work := t.TempDir()
	deadConf := filepath.Join(work, "ceph.conf")
	os.WriteFile(deadConf, []byte(dead), 0644)
	cfg := filepath.Join(work, "nfsgw.yaml")
	os.WriteFile(cfg, []byte("ceph:\n  mount_timeout_seconds: 8\n"), 0644)
	start := time.Now()
	out, err := runToExit(t, 90*time.Second, "--config", cfg, "--listen", freeAddr(t), "--ceph-conf", deadConf,
		"--node-id", nodeName(t), "--export", "/export=ceph:/")
	if err == nil {
		t.Fatalf("nfsgw started without a cluster:\n%s", out)
	}
	if strings.Contains(out, "panic") || !strings.Contains(out, "CephFS mount") {
		t.Fatalf("want a clear CephFS mount error, got:\n%s", out)
	}
	if !strings.Contains(out, "retrying") {
		t.Fatalf("the mount was not retried:\n%s", out)
	}
	t.Logf("gave up after %v: %s", time.Since(start).Round(time.Second), lastLine(out))
}

func TestCephKeyWithoutCaps(t *testing.T) {
	cephOnly(t)
	dir := os.Getenv("CEPH_DEV_DIR")
	if dir == "" {
		t.Fatal("CEPH_DEV_DIR not set: run under scripts/with-ceph.sh or eval scripts/ceph-dev.sh env")
	}
	out, err := runToExit(t, 90*time.Second, "--listen", freeAddr(t), "--ceph-conf", os.Getenv("CEPH_CONF"),
		"--ceph-user", "nocaps", "--ceph-keyring", filepath.Join(dir, "nocaps.keyring"),
		"--node-id", nodeName(t), "--export", "/export=ceph:/")
	if err == nil {
		t.Fatalf("nfsgw started with a key that has no mds/osd caps:\n%s", out)
	}
	if strings.Contains(out, "panic") || !strings.Contains(out, "caps") || !strings.Contains(out, "mds") {
		t.Fatalf("want an error naming the missing caps, got:\n%s", out)
	}
	t.Logf("error: %s", lastLine(out))
}

// TestCephMDSRestart restarts the MDS under a client that keeps working:
// requests wait (or fail with a clean NFS error) while the MDS is away, and
// the same gateway process serves again once it is back.
func TestCephMDSRestart(t *testing.T) {
	cephOnly(t)
	dir := os.Getenv("CEPH_DEV_DIR")
	if dir == "" {
		t.Fatal("CEPH_DEV_DIR not set: run under scripts/with-ceph.sh or eval scripts/ceph-dev.sh env")
	}
	g := startGateway(t)
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	root, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	var ok, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop) }); <-done }
	defer halt()
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			octx, cancel := context.WithTimeout(ctx, 60*time.Second)
			f, err := c.Create(octx, root, fmt.Sprintf("f%d", i), 0644)
			if err == nil {
				_, _, err = f.WriteAll(octx, []byte("during an MDS restart"), 0, nfs4.FileSync)
				f.Close(octx)
			}
			cancel()
			if err != nil {
				if n := failed.Add(1); n <= 5 {
					t.Logf("op %d: %v", i, err)
				}
				time.Sleep(200 * time.Millisecond)
			} else {
				ok.Add(1)
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	before := ok.Load()
	if before == 0 {
		t.Fatal("no operation succeeded before the MDS restart")
	}
	pidb, err := os.ReadFile(filepath.Join(dir, "run", "mds.a.pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidb), &pid)
	t.Logf("killing mds.a (pid %d) after %d operations", pid, before)
	syscall.Kill(pid, syscall.SIGKILL)
	for syscall.Kill(pid, 0) == nil {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	mds := exec.Command("ceph-mds", "-c", os.Getenv("CEPH_CONF"), "-i", "a")
	// CEPH_KEYRING in the environment would override the MDS's own keyring.
	mds.Env = slices.DeleteFunc(os.Environ(), func(s string) bool { return strings.HasPrefix(s, "CEPH_KEYRING=") })
	if out, err := mds.CombinedOutput(); err != nil {
		t.Fatalf("restart mds: %v\n%s", err, out)
	}
	restarted := time.Now()
	atRestart := ok.Load()
	deadline := time.Now().Add(120 * time.Second)
	for ok.Load() < atRestart+20 {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway did not recover within 120 s of the MDS restart (%d ok, %d failed)\n%s",
				ok.Load(), failed.Load(), tail(g.log.String(), 30))
		}
		select {
		case <-g.done:
			t.Fatalf("nfsgw exited during the MDS restart:\n%s", tail(g.log.String(), 30))
		default:
		}
		time.Sleep(100 * time.Millisecond)
	}
	halt()
	t.Logf("serving again %v after the MDS restart; %d operations ok, %d failed cleanly",
		time.Since(restarted).Round(100*time.Millisecond), ok.Load(), failed.Load())
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestCephShutdownWithClusterFrozen: a gateway asked to stop while its
// cluster does not answer (every daemon stopped with SIGSTOP here) exits
// within the unmount bound instead of hanging in the CephFS unmount.
func TestCephShutdownWithClusterFrozen(t *testing.T) {
	cephOnly(t)
	dir := os.Getenv("CEPH_DEV_DIR")
	if dir == "" {
		t.Fatal("CEPH_DEV_DIR not set: run under scripts/with-ceph.sh or eval scripts/ceph-dev.sh env")
	}
	g := startGateway(t)
	ctx := ctxT(t)
	c := g.dial(t, 0, 0, nil)
	if _, _, err := c.LookupPath(ctx, "/export"); err != nil {
		t.Fatal(err)
	}
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "run", "*.pid"))
	var pids []int
	for _, f := range pidFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var pid int
		if _, err := fmt.Sscan(string(b), &pid); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	if len(pids) < 3 {
		t.Fatalf("found %d daemon pids in %s/run, want mon, osd and mds", len(pids), dir)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	defer func() {
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	start := time.Now()
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("nfsgw still running 60 s after SIGTERM with the cluster frozen:\n%s", tail(g.log.String(), 20))
	}
	if !strings.Contains(g.log.String(), "CephFS unmount did not finish") {
		t.Fatalf("exited without reporting the unfinished unmount:\n%s", tail(g.log.String(), 20))
	}
	t.Logf("exited %v after SIGTERM", time.Since(start).Round(100*time.Millisecond))
}
