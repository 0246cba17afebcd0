package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/admin"
)

// fakeProvider is an in-memory admin.Provider.
type fakeProvider struct {
	mu      sync.Mutex
	exports []admin.ExportInfo
	clients []admin.ClientInfo
	evicted []uint64
}

// now is the fixed present of every test; see clock.
var (
	now     = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	started = now.Add(-(2*time.Hour + 3*time.Minute + 4*time.Second))
)

func init() { clock = func() time.Time { return now } }

func (f *fakeProvider) Status() admin.Status {
	return admin.Status{NodeID: "node-a", Version: "v9.8.7", StartTime: started,
		Listen: []string{"127.0.0.1:2049", "[::1]:2049"}, Clients: 2, Sessions: 1, States: 12, InGrace: true}
}

func (f *fakeProvider) Exports() []admin.ExportInfo { return f.exports }

func (f *fakeProvider) Clients() []admin.ClientInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]admin.ClientInfo(nil), f.clients...)
}

func (f *fakeProvider) EvictClient(id uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.clients {
		if c.ID == id {
			f.clients = append(f.clients[:i:i], f.clients[i+1:]...)
			f.evicted = append(f.evicted, id)
			return nil
		}
	}
	return admin.ErrNotFound
}

func newFake() *fakeProvider {
	return &fakeProvider{exports: []admin.ExportInfo{
		{ID: 1, Pseudo: "/data", Path: "/srv/data", Access: "rw", Squash: "root", Clients: []string{"10.0.0.0/8", "192.168.1.7"}},
		{ID: 22, Pseudo: "/archive/long-name", Path: "/srv/archive", Access: "ro", Squash: "all"},
	}, clients: []admin.ClientInfo{
		{ID: 0x6543210f00000001, Owner: "Linux NFSv4.1 host-a", Addr: "10.1.2.3:812", MinorVersion: 1,
			Confirmed: true, Sessions: 1, States: 9, LastRenew: now.Add(-30 * time.Second)},
		{ID: 0x6543210f00000002, Owner: "0x00ff", Addr: "10.1.2.4:700", MinorVersion: 0, States: 3,
			LastRenew: now.Add(-5 * time.Minute)},
	}}
}

// serve starts the admin API on a loopback port for the test's lifetime.
func serve(t *testing.T, p admin.Provider) string {
	t.Helper()
	stop, addr, err := admin.Serve(context.Background(), "127.0.0.1:0", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr.String()
}

// ctl runs the command line and returns exit status, stdout and stderr.
func ctl(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// lines splits output into lines with runs of spaces collapsed, so tests
// check content and column order without depending on exact widths.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

func TestStatus(t *testing.T) {
	addr := serve(t, newFake())
	code, out, errs := ctl(t, "--addr", addr, "status")
	if code != 0 || errs != "" {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := []string{
		"Node ID: node-a",
		"Version: v9.8.7",
		"Started: " + started.Format(time.RFC3339) + " (up 2h3m4s)",
		"Listen: 127.0.0.1:2049, [::1]:2049",
		"Grace period: yes",
		"Clients: 2",
		"Sessions: 1",
		"States: 12",
	}
	got := lines(out)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("status output:\n%s\nwant (spacing collapsed):\n%s", out, strings.Join(want, "\n"))
	}
	// Values line up in one column.
	col := -1
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		i := strings.Index(l, ":") + 1
		for i < len(l) && l[i] == ' ' {
			i++
		}
		if col >= 0 && i != col {
			t.Errorf("misaligned value in %q", l)
		}
		col = i
	}
}

func TestStatusJSON(t *testing.T) {
	addr := serve(t, newFake())
	// Flags after the command work too.
	code, out, errs := ctl(t, "--addr", addr, "status", "--json")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	var st admin.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if st.NodeID != "node-a" || st.Version != "v9.8.7" || !st.StartTime.Equal(started) || len(st.Listen) != 2 ||
		st.Clients != 2 || st.Sessions != 1 || st.States != 12 || !st.InGrace {
		t.Errorf("status JSON = %+v", st)
	}
}

func TestExports(t *testing.T) {
	addr := serve(t, newFake())
	code, out, errs := ctl(t, "--addr", addr, "exports")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := []string{
		"ID PSEUDO PATH ACCESS SQUASH CLIENTS",
		"1 /data /srv/data rw root 10.0.0.0/8,192.168.1.7",
		"22 /archive/long-name /srv/archive ro all *",
	}
	if got := lines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("exports output:\n%s", out)
	}
	// Columns are aligned: PATH starts at the same offset on every line.
	ls := strings.Split(strings.TrimRight(out, "\n"), "\n")
	at := strings.Index(ls[0], "PATH")
	for _, l := range ls[1:] {
		if !strings.HasPrefix(l[at:], "/srv/") {
			t.Errorf("PATH column misaligned in %q", l)
		}
	}

	code, out, _ = ctl(t, "--addr", addr, "--json", "exports")
	var ex []admin.ExportInfo
	if err := json.Unmarshal([]byte(out), &ex); code != 0 || err != nil || len(ex) != 2 || ex[1].Pseudo != "/archive/long-name" {
		t.Errorf("exports --json: exit %d, err %v, %+v", code, err, ex)
	}
	if !strings.Contains(out, `"clients": []`) {
		t.Errorf("an export without a client list should print [] in JSON:\n%s", out)
	}
}

func TestClients(t *testing.T) {
	addr := serve(t, newFake())
	code, out, errs := ctl(t, "--addr", addr, "clients")
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
	want := []string{
		"ID ADDR MINOR CONFIRMED SESSIONS STATES LAST RENEW OWNER",
		"0x6543210f00000001 10.1.2.3:812 4.1 yes 1 9 30s ago Linux NFSv4.1 host-a",
		"0x6543210f00000002 10.1.2.4:700 4.0 no 0 3 5m0s ago 0x00ff",
	}
	if got := lines(out); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("clients output:\n%s\nwant (spacing collapsed):\n%s", out, strings.Join(want, "\n"))
	}

	code, out, _ = ctl(t, "--json", "--addr", addr, "clients")
	var cl []admin.ClientInfo
	if err := json.Unmarshal([]byte(out), &cl); code != 0 || err != nil || len(cl) != 2 || cl[0].ID != 0x6543210f00000001 {
		t.Errorf("clients --json: exit %d, err %v, %+v", code, err, cl)
	}
}

func TestEmptyListsJSON(t *testing.T) {
	addr := serve(t, &fakeProvider{})
	for _, cmd := range []string{"clients", "exports"} {
		code, out, _ := ctl(t, "--addr", addr, "--json", cmd)
		if code != 0 || strings.TrimSpace(out) != "[]" {
			t.Errorf("%s --json with nothing to list: exit %d, output %q, want []", cmd, code, out)
		}
	}
	code, out, _ := ctl(t, "--addr", addr, "clients")
	if code != 0 || len(lines(out)) != 1 {
		t.Errorf("clients with nothing to list: exit %d, output %q, want only the header", code, out)
	}
}

func TestEvict(t *testing.T) {
	p := newFake()
	addr := serve(t, p)

	// Hex, as the table prints it.
	code, out, errs := ctl(t, "--addr", addr, "evict", "0x6543210f00000001")
	if code != 0 || out != "evicted client 0x6543210f00000001\n" {
		t.Fatalf("evict: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	// Decimal, as JSON carries it.
	id := fmt.Sprint(uint64(0x6543210f00000002))
	code, out, _ = ctl(t, "--addr", addr, "--json", "evict", id)
	if code != 0 || !strings.Contains(out, `"evicted": "`+id+`"`) {
		t.Fatalf("evict --json: exit %d, stdout %q", code, out)
	}
	if len(p.evicted) != 2 || p.evicted[0] != 0x6543210f00000001 || p.evicted[1] != 0x6543210f00000002 {
		t.Errorf("provider evicted %x", p.evicted)
	}

	code, out, errs = ctl(t, "--addr", addr, "evict", "0x6543210f00000001")
	if code != 1 || out != "" || errs != "nfsgwctl: evict: no client with id 0x6543210f00000001\n" {
		t.Errorf("evict of a gone client: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	code, out, errs := ctl(t, "--addr", addr, "status")
	prefix := "nfsgwctl: cannot reach nfsgw admin API at " + addr + ": "
	if code != 1 || out != "" || !strings.HasPrefix(errs, prefix) || !strings.Contains(errs, "refused") {
		t.Errorf("unreachable: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{nil, "missing command"},
		{[]string{"reboot"}, `unknown command "reboot"`},
		{[]string{"evict"}, "usage: nfsgwctl evict CLIENTID"},
		{[]string{"evict", "1", "2"}, "usage: nfsgwctl evict CLIENTID"},
		{[]string{"evict", "bogus"}, `invalid client id "bogus"`},
		{[]string{"evict", "0x10000000000000000"}, "invalid client id"},
		{[]string{"status", "extra"}, "status takes no arguments"},
		{[]string{"--timeout", "0s", "status"}, "--timeout must be positive"},
		{[]string{"--no-such-flag", "status"}, "flag provided but not defined"},
		{[]string{"--timeout", "soon", "status"}, "invalid value"},
	} {
		// The address is unreachable on purpose: usage errors must be
		// reported without trying to connect.
		args := append([]string{"--addr", "127.0.0.1:1"}, tc.args...)
		code, out, errs := ctl(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.msg)
		}
	}

	code, _, errs := ctl(t, "-h")
	if code != 0 || !strings.Contains(errs, "evict CLIENTID") || !strings.Contains(errs, "-timeout") {
		t.Errorf("-h: exit %d, stderr %q", code, errs)
	}
}

func TestParseArgsDoubleDash(t *testing.T) {
	// After "--" nothing is a flag, so a command named like a flag is
	// rejected as a command rather than parsed.
	var errb bytes.Buffer
	_, err := parseArgs([]string{"--json", "--", "--addr"}, &errb)
	if err == nil || !strings.Contains(err.Error(), `unknown command "--addr"`) {
		t.Errorf("got %v", err)
	}
	o, err := parseArgs([]string{"clients", "--timeout", "2s", "--json"}, &errb)
	if err != nil || o.cmd != "clients" || !o.json || o.timeout != 2*time.Second || o.addr != defaultAddr {
		t.Errorf("interspersed flags: %+v, %v", o, err)
	}
}

func TestTimeout(t *testing.T) {
	// A peer that accepts TCP but never speaks HTTP/2: the call must give
	// up at --timeout instead of hanging.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	begin := time.Now()
	code, _, errs := ctl(t, "--addr", l.Addr().String(), "--timeout", "300ms", "status")
	if code != 1 || !strings.Contains(errs, "cannot reach nfsgw admin API at "+l.Addr().String()) {
		t.Errorf("silent peer: exit %d, stderr %q", code, errs)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Errorf("took %v with --timeout 300ms", d)
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{"": "-", "plain": "plain", "a\tb": `"a\tb"`, "x\ny": `"x\ny"`} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestUnreachableSaysHow: when no gateway answers, nfsgwctl says how to
// give a gateway an admin API and how to point nfsgwctl at it.
func TestUnreachableSaysHow(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	code, _, errs := ctl(t, "--addr", sock, "status")
	if code != 1 || !strings.Contains(errs, "--admin") || !strings.Contains(errs, "--addr") ||
		!strings.Contains(errs, admin.DefaultSocket) {
		t.Errorf("exit %d, stderr %q: want a hint naming --admin, --addr and the default socket", code, errs)
	}
}

// TestDefaultAddrIsTheSocket: without --addr nfsgwctl talks to the unix
// socket nfsgw listens on by default, so `make run` needs no flags.
func TestDefaultAddrIsTheSocket(t *testing.T) {
	o, err := parseArgs([]string{"status"}, io.Discard)
	if err != nil || o.addr != "unix:/run/nfsgw/admin.sock" {
		t.Fatalf("default address %q (%v), want nfsgw's default socket", o.addr, err)
	}
}

// TestOverUnixSocket runs a command against an admin API on a unix socket.
func TestOverUnixSocket(t *testing.T) {
	sock := "unix:" + filepath.Join(t.TempDir(), "admin.sock")
	stop, _, err := admin.Serve(context.Background(), sock, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	code, out, errs := ctl(t, "--addr", sock, "status")
	if code != 0 || !strings.Contains(out, "v9.8.7") {
		t.Fatalf("status over %s: exit %d, stdout %q, stderr %q", sock, code, out, errs)
	}
}

func TestVersion(t *testing.T) {
	version = "v1.2.3-4-gabcdef"
	defer func() { version = "dev" }()
	code, out, _ := ctl(t, "--version")
	if code != 0 || out != "nfsgwctl v1.2.3-4-gabcdef\n" {
		t.Fatalf("--version: exit %d, %q", code, out)
	}
}

// TestTLSFlagsIncomplete: a client certificate without its key or CA is a
// usage error, not a plaintext attempt.
func TestTLSFlagsIncomplete(t *testing.T) {
	code, _, errs := ctl(t, "--addr", "127.0.0.1:1", "--tls-cert", "c.pem", "status")
	if code != 2 || !strings.Contains(errs, "TLS") {
		t.Fatalf("exit %d, stderr %q", code, errs)
	}
}
