package e2e

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"nfsgw/gateway/admin"
	"nfsgw/gateway/config"
	"nfsgw/gateway/nfs4"
)

// TestReclaimWithDefaultStateDir: a gateway started without --state-dir
// still remembers its clients (issue 10 §6): it says where its recovery
// state is, and after a crash and restart a client gets its lock back.
func TestReclaimWithDefaultStateDir(t *testing.T) {
	node := nodeName(t)
	dir := config.DefaultStateDir()
	t.Cleanup(func() { os.Remove(filepath.Join(dir, "recovery-"+node+".db")) })
	g := startGatewayFlags(t, freeAddr(t), testBackend(t).NewDir(t),
		"--squash", "none", "--lease", "10", "--grace", "30", "--admin", "none", "--node-id", node)
	if !strings.Contains(g.log.String(), "recovery state: dir="+dir) {
		t.Errorf("the start log does not say where the recovery state is (%s):\n%s", dir, g.log.String())
	}
	ctx := ctxT(t)
	a := g.dialOwner(t, "client-A")
	if st, _ := opStatus(t, a, a.NewCompound("rc").ReclaimComplete(false)); st != nfs4.OK {
		t.Fatalf("RECLAIM_COMPLETE: %d", st)
	}
	root, _, err := a.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.Create(ctx, root, "locked", 0666)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Lock(ctx, nfs4.WriteLT, 0, 100); err != nil {
		t.Fatal(err)
	}

	g.kill()
	g.start()

	a2 := g.dialOwner(t, "client-A")
	st, open := reclaimOpen(t, a2, f.FH, "a-open")
	if st != nfs4.OK {
		t.Fatalf("reclaim of the open after a restart without --state-dir: %d (want OK)", st)
	}
	if st, r := opStatus(t, a2, lockOp(a2, f.FH, open, "a-lock", true)); st != nfs4.OK {
		t.Fatalf("reclaim of the lock: %d %+v", st, r)
	}
}

// TestMakeRunDemo runs what `make run` runs (scripts/dev-run.sh) and
// follows the README: a root client (libnfs-utils) uploads a file through
// the default root squash, the admin API answers on its unix socket, and
// after a restart new files can be created within the short dev grace
// period, although the earlier one-shot client never reclaims.
func TestMakeRunDemo(t *testing.T) {
	if testBackend(t).Name() != "local" {
		t.Skip("make run serves a local directory")
	}
	script, err := filepath.Abs("../scripts/dev-run.sh")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	data := filepath.Join(work, "data")
	// Short: unix socket paths are limited to 108 bytes.
	sockDir, err := os.MkdirTemp("", "nfsgw-run")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := "unix:" + filepath.Join(sockDir, "admin.sock")
	g := &gateway{t: t, Addr: freeAddr(t), prog: script, Dir: localDir(data)}
	g.env = []string{"LISTEN=" + g.Addr, "DATA=" + data, "STATE=" + filepath.Join(work, "state"), "ADMIN=" + sock}
	g.start()
	t.Cleanup(g.stop)

	src := filepath.Join(work, "hello.txt")
	if err := os.WriteFile(src, []byte("hello from root\n"), 0644); err != nil {
		t.Fatal(err)
	}
	if out, err := runTool(t, "nfs-cp", src, g.libnfsURL("/hello.txt")); err != nil {
		t.Fatalf("nfs-cp as root into the make run export: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(data, "hello.txt")); err != nil || string(b) != "hello from root\n" {
		t.Fatalf("uploaded file: %q %v", b, err)
	}

	c, err := admin.Dial(ctxT(t), sock)
	if err != nil {
		t.Fatalf("admin API of make run: %v", err)
	}
	st, err := c.Status(ctxT(t))
	c.Close()
	if err != nil || st.Version == "" {
		t.Fatalf("status: %+v %v", st, err)
	}

	g.kill()
	g.start()
	start := time.Now()
	src2 := filepath.Join(work, "again.txt")
	os.WriteFile(src2, []byte("after the restart\n"), 0644)
	for {
		out, err := runTool(t, "nfs-cp", src2, g.libnfsURL("/again.txt"))
		if err == nil {
			break
		}
		if time.Since(start) > 25*time.Second {
			t.Fatalf("creates still refused %v after a restart of make run: %v\n%s", time.Since(start), err, out)
		}
		time.Sleep(time.Second)
	}
}

// TestStartErrorsExit2 runs the binary with configurations it cannot
// serve: each exits 2 with one line on stderr, before logging anything.
func TestStartErrorsExit2(t *testing.T) {
	if testBackend(t).Name() != "local" {
		t.Skip("configuration checks do not depend on the backend")
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	noID := filepath.Join(dir, "noid.yaml")
	os.WriteFile(noID, []byte("exports: [{pseudo: /a, path: "+dir+"}]\n"), 0644)
	for name, args := range map[string][]string{
		"port in use":    {"--listen", busy.Addr().String(), "--export", "/e=" + dir},
		"missing dir":    {"--listen", freeAddr(t), "--export", "/e=" + filepath.Join(dir, "nope")},
		"nested":         {"--listen", freeAddr(t), "--export", "/e=" + dir, "--export", "/e/f=" + dir},
		"no export id":   {"--listen", freeAddr(t), "--config", noID},
		"admin in use":   {"--listen", freeAddr(t), "--export", "/e=" + dir, "--admin", busy.Addr().String()},
		"admin exposed":  {"--listen", freeAddr(t), "--export", "/e=" + dir, "--admin", "0.0.0.0:2050"},
		"positional arg": {"--listen", freeAddr(t), "--export", "/e=" + dir, "now"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, nfsgwBin(t), append([]string{"--state-dir", "none"}, args...)...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		cancel()
		var ee *exec.ExitError
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "nfsgw: ") {
			t.Errorf("%s: %v, stderr:\n%s\nwant exit status 2 and one line", name, err, stderr.String())
		}
		if strings.Count(lines[0], "admin API") > 1 || strings.Count(lines[0], "listen") > 1 {
			t.Errorf("%s: repeated prefix: %s", name, lines[0])
		}
	}
}

// TestCephQuickstartCommand runs the command `make ceph-up` prints
// (scripts/ceph-dev.sh quickstart) and writes through it as root: the
// documented quick start needed a keyring and a directory that a fresh
// cluster does not have.
func TestCephQuickstartCommand(t *testing.T) {
	if testBackend(t).Name() != "ceph" || os.Getenv("CEPH_DEV_DIR") == "" {
		t.Skip("needs the CephFS pass on a scripts/ceph-dev.sh cluster (CEPH_DEV_DIR)")
	}
	addr := freeAddr(t)
	cmd := exec.Command("../scripts/ceph-dev.sh", "quickstart", os.Getenv("CEPH_DEV_DIR"))
	cmd.Env = append(os.Environ(), "QUICKSTART_LISTEN="+addr, "NFSGW_BIN=nfsgw")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ceph-dev.sh quickstart: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	args := strings.Fields(lines[len(lines)-1])
	if len(args) < 2 || args[0] != "nfsgw" {
		t.Fatalf("no nfsgw command in:\n%s", out)
	}
	// Only what lets it run beside other test gateways is added.
	g := &gateway{t: t, Addr: addr, args: append(args[1:], "--node-id", nodeName(t), "--admin", "none", "--state-dir", "none")}
	g.start()
	t.Cleanup(g.stop)
	src := filepath.Join(t.TempDir(), "hello.txt")
	os.WriteFile(src, []byte("hello\n"), 0644)
	url := strings.Replace(g.libnfsURL("/"+nodeName(t)+".txt"), "/export/", "/cephfs/", 1)
	if out, err := runTool(t, "nfs-cp", src, url); err != nil {
		t.Fatalf("nfs-cp as root into the quick-start export: %v\n%s", err, out)
	}
}
