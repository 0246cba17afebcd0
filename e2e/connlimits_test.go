package e2e

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIdleConnectionsClosed: a connection that carries nothing and holds no
// state is closed after idle_timeout_seconds, so abandoned connections do
// not keep file descriptors for good; clients with a session (4.1) or a
// confirmed client id (4.0) keep theirs however quiet they are. The lease
// is long so that the clients renew less often than the idle timeout.
func TestIdleConnectionsClosed(t *testing.T) {
	g := startGatewayArgs(t, "--squash", "none", "--lease", "60",
		"--config", writeConfig(t, "idle_timeout_seconds: 1\n"))
	ctx := ctxT(t)
	zero := uint32(0)
	v41 := g.dial(t, 0, 0, nil)
	v40 := g.dial(t, 0, 0, &zero)
	// Opened after the clients, so they have been quiet for longer when
	// it is closed.
	silent := rawConn(t, g)
	expectClosed(t, silent)
	if _, _, err := v41.LookupPath(ctx, "/export"); err != nil {
		t.Fatalf("the 4.1 client's connection was closed: %v", err)
	}
	if _, _, err := v40.LookupPath(ctx, "/export"); err != nil {
		t.Fatalf("the 4.0 client's connection was closed: %v", err)
	}
}

// TestConnectionsPerAddressCapped: one address cannot open more than
// max_connections_per_address connections, and while it holds them all,
// clients from other addresses are served. Loopback accepts any 127/8
// source address, which stands in for a second host.
func TestConnectionsPerAddressCapped(t *testing.T) {
	g := startGateway(t, "--config", writeConfig(t, "max_connections_per_address: 4\n"))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	var held []net.Conn
	for range 4 {
		c, err := d.Dial("tcp", g.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		held = append(held, c)
	}
	extra, err := d.Dial("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { extra.Close() })
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	expectClosed(t, extra)
	cl := g.dial(t, 0, 0, nil)
	if _, _, err := cl.LookupPath(ctxT(t), "/export"); err != nil {
		t.Fatalf("a client from another address is not served: %v", err)
	}
	// The held connections are still served.
	for i, c := range held {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Write(rpcCall(uint32(i+1), 0, nil, 0)); err != nil {
			t.Fatal(err)
		}
		if st, _ := readReplyStatus(t, c); st != 0 {
			t.Fatalf("empty COMPOUND on a held connection: status %d", st)
		}
	}
}

// TestFileLimitRaised: the gateway starts with its soft limit on open files
// at the hard limit, whatever soft limit it was started with.
func TestFileLimitRaised(t *testing.T) {
	wrapper := t.TempDir() + "/nfsgw"
	script := fmt.Sprintf("#!/bin/sh\nulimit -Sn 256 || exit 1\nexec %q \"$@\"\n", nfsgwBin(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NFSGW_BIN", wrapper)
	g := startGateway(t)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", g.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(strings.TrimPrefix(line, "Max open files")); len(f) >= 2 && strings.HasPrefix(line, "Max open files") {
			soft, _ := strconv.Atoi(f[0])
			hard, _ := strconv.Atoi(f[1])
			if soft != hard || soft <= 256 {
				t.Fatalf("open file limit %d (soft), %d (hard): want the hard limit", soft, hard)
			}
			return
		}
	}
	t.Fatalf("no open file limit in /proc/PID/limits:\n%s", b)
}
