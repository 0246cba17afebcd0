// Package e2e holds end-to-end tests: they start the real nfsgw binary
// (NFSGW_BIN, or one built on the fly) on a loopback address and drive it
// with our own client and with Debian's libnfs-utils.
package e2e

import (
	"bytes"
	"context"
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

	"nfsgw/gateway/nfsclient"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// nfsgwBin returns the binary under test.
func nfsgwBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NFSGW_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nfsgw-e2e")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "nfsgw")
		out, err := exec.Command("go", "build", "-o", binPath, "nfsgw/cmd/nfsgw").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// freeAddr returns a loopback address with a free port.
func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// gateway is a running nfsgw process.
type gateway struct {
	t    testing.TB
	cmd  *exec.Cmd
	Addr string
	Dir  backendDir // the exported directory of the first export
	Node string     // the gateway's node id (kept across restarts)
	args []string
	// adminSock is the gateway's admin API socket, if the test gave it one.
	adminSock string
	prog      string   // what to run instead of nfsgw (a script that runs it)
	env       []string // added to the environment of prog
	log       *syncBuffer
	done      chan struct{}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startGateway starts nfsgw exporting a fresh directory of the backend
// under test at /export, plus any extra arguments. It is stopped when the
// test ends.
func startGateway(t testing.TB, extra ...string) *gateway {
	t.Helper()
	return startGatewayArgs(t, append([]string{"--squash", "none", "--lease", "5"}, extra...)...)
}

// startGatewayArgs is startGateway without the test defaults (root squash
// on, the default lease).
func startGatewayArgs(t testing.TB, extra ...string) *gateway {
	t.Helper()
	return startGatewayOn(t, freeAddr(t), testBackend(t).NewDir(t), extra...)
}

// harnessDefaults come before a test's own flags, which override them: a
// test gateway keeps no recovery state unless the test asks for it (a
// restart would otherwise start a grace period), and serves no admin API
// (every gateway would want nfsgw's one default socket).
var harnessDefaults = []string{"--state-dir", "none", "--admin", "none"}

// startGatewayOn starts a gateway on addr exporting dir at /export.
func startGatewayOn(t testing.TB, addr string, dir backendDir, extra ...string) *gateway {
	t.Helper()
	return startGatewayFlags(t, addr, dir, append(append([]string(nil), harnessDefaults...), extra...)...)
}

// startGatewayFlags is startGatewayOn without harnessDefaults: nfsgw's
// own defaults apply to whatever extra leaves out.
func startGatewayFlags(t testing.TB, addr string, dir backendDir, extra ...string) *gateway {
	t.Helper()
	b := testBackend(t)
	g := &gateway{t: t, Addr: addr, Dir: dir, Node: nodeName(t)}
	g.args = append([]string{"--listen", g.Addr, "--export", "/export=" + dir.Spec()}, b.Args(g.Node)...)
	g.args = append(g.args, extra...)
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() { g.t.Helper(); g.startTimeout(10 * time.Second) }

// startTimeout starts the gateway and waits up to limit for it to listen
// (a cluster member listens only after it joined and every peer
// enforces, so its tests wait longer).
func (g *gateway) startTimeout(limit time.Duration) {
	g.t.Helper()
	g.launch()
	deadline := time.Now().Add(limit)
	for !g.listening() {
		select {
		case <-g.done:
			g.t.Fatalf("nfsgw exited during start:\n%s", g.log.String())
		default:
		}
		if time.Now().After(deadline) {
			g.t.Fatalf("nfsgw did not start listening on %s within %v:\n%s", g.Addr, limit, g.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// launch starts the gateway without waiting for it to listen.
func (g *gateway) launch() {
	g.t.Helper()
	if g.prog != "" {
		g.cmd = exec.Command(g.prog, g.args...)
		g.cmd.Env = append(append(os.Environ(), "NFSGW_BIN="+nfsgwBin(g.t)), g.env...)
	} else {
		g.cmd = exec.Command(nfsgwBin(g.t), g.args...)
	}
	g.log = &syncBuffer{}
	g.cmd.Stdout = g.log
	g.cmd.Stderr = g.log
	if err := g.cmd.Start(); err != nil {
		g.t.Fatal(err)
	}
	g.done = make(chan struct{})
	go func() { g.cmd.Wait(); close(g.done) }()
}

// listening reports whether the gateway accepts connections.
func (g *gateway) listening() bool {
	c, err := net.DialTimeout("tcp", g.Addr, 200*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// stop ends the gateway with SIGTERM and checks it exits cleanly.
func (g *gateway) stop() {
	if g.cmd == nil || g.cmd.Process == nil {
		return
	}
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		g.t.Errorf("nfsgw did not stop on SIGTERM:\n%s", g.log.String())
	}
	if g.t.Failed() {
		g.t.Logf("nfsgw log:\n%s", tail(g.log.String(), 40))
	}
}

// kill ends the gateway with SIGKILL, as a crash would.
func (g *gateway) kill() {
	g.cmd.Process.Kill()
	<-g.done
}

// restart kills and starts the gateway again with the same arguments.
func (g *gateway) restart() {
	g.kill()
	g.start()
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// libnfsURL builds a libnfs URL for a path below /export.
func (g *gateway) libnfsURL(path string) string {
	host, port, _ := net.SplitHostPort(g.Addr)
	return fmt.Sprintf("nfs://%s/export%s?version=4&nfsport=%s", host, path, port)
}

// runTool runs a libnfs-utils command with a deadline.
func runTool(t testing.TB, name string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		t.Fatalf("%s not installed (make deps installs libnfs-utils): %v", name, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

// dial connects our client to the gateway as uid/gid (4.1 unless minor
// says otherwise) and closes it when the test ends.
func (g *gateway) dial(t testing.TB, uid, gid uint32, minor *uint32) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := nfsclient.Dial(ctx, g.Addr, nfsclient.Options{UID: uid, GID: gid, MinorVersion: minor,
		ClientOwner: fmt.Sprintf("%s-%d-%d", t.Name(), uid, time.Now().UnixNano())})
	if err != nil {
		t.Fatalf("dial %s: %v\n%s", g.Addr, err, tail(g.log.String(), 20))
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}
