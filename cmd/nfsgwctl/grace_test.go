//go:build !noceph

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/grace"
	"nfsgw/grace/radosdb"
	"nfsgw/internal/radosconn"
)

// graceNS is a test namespace on the test cluster and the nfsgwctl flags
// that point at it.
type graceNS struct {
	t    *testing.T
	conn *rados.Conn
	io   *rados.IOContext
	ns   string
	pool string
}

func newGraceNS(t *testing.T) *graceNS {
	conn, io, ns := radosconn.TestIOContext(t)
	pool, err := io.GetPoolName()
	if err != nil {
		t.Fatal(err)
	}
	return &graceNS{t: t, conn: conn, io: io, ns: ns, pool: pool}
}

// ctl runs "nfsgwctl grace ARGS..." against the namespace.
func (g *graceNS) ctl(args ...string) (int, string, string) {
	g.t.Helper()
	full := []string{"--timeout", "20s", "grace", "--ceph-conf", os.Getenv("CEPH_CONF"), "--ceph-user", cephUser(),
		"--ceph-keyring", os.Getenv("CEPH_ADMIN_KEYRING"), "--pool", g.pool, "--ns", g.ns}
	return ctl(g.t, append(full, args...)...)
}

// ok runs a command that must succeed silently.
func (g *graceNS) ok(args ...string) {
	g.t.Helper()
	if code, out, errs := g.ctl(args...); code != 0 || out != "" || errs != "" {
		g.t.Fatalf("nfsgwctl grace %q: exit %d, stdout %q, stderr %q", args, code, out, errs)
	}
}

// dump is nfsgwctl grace dump's output.
func (g *graceNS) dump() string {
	g.t.Helper()
	code, out, errs := g.ctl("dump")
	if code != 0 {
		g.t.Fatalf("nfsgwctl grace dump: exit %d, %s", code, errs)
	}
	return out
}

// ganesha runs Debian's ganesha-rados-grace against the namespace.
// crashed reports that it died by a signal: the 4.3 tool returns from main
// without shutting librados down, and about one run in thirty aborts or
// segfaults in librados' destructors at exit (seen here: "boost::bad_get"
// then SIGABRT, or SIGSEGV), after its work is done but before its
// buffered output is written.
func (g *graceNS) ganesha(args ...string) (code int, out, errs string, crashed bool) {
	g.t.Helper()
	full := append([]string{"--cephconf", os.Getenv("CEPH_CONF"), "--userid", cephUser(), "--pool", g.pool, "--ns", g.ns}, args...)
	cmd := exec.Command(ganeshaTool(g.t), full...)
	var outb, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outb, &errb
	err := cmd.Run()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			g.t.Fatalf("ganesha-rados-grace: %v", err)
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			g.t.Logf("ganesha-rados-grace %q died by %v (its crash at exit): %s", args, ws.Signal(), strings.TrimSpace(errb.String()))
			return -1, outb.String(), errb.String(), true
		}
		code = ee.ExitCode()
	}
	return code, outb.String(), errb.String(), false
}

// ganeshaDump is ganesha-rados-grace's dump, run again when the tool
// crashed at exit (a read changes nothing, so running it again is safe).
func (g *graceNS) ganeshaDump() string {
	g.t.Helper()
	for range 8 {
		code, out, errs, crashed := g.ganesha("dump")
		if crashed {
			continue
		}
		if code != 0 {
			g.t.Fatalf("ganesha-rados-grace dump: exit %d, %s", code, errs)
		}
		return out
	}
	g.t.Fatal("ganesha-rados-grace dump crashed 8 times in a row")
	return ""
}

func cephUser() string {
	if u := os.Getenv("CEPH_USER"); u != "" {
		return u
	}
	return "admin"
}

func ganeshaTool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ganesha-rados-grace")
	if err != nil {
		t.Fatal("ganesha-rados-grace is not installed: run scripts/deps.sh test (Debian package nfs-ganesha-rados-grace)")
	}
	return p
}

// raw is the grace object's bytes, members and modification time, to show
// that nothing was written.
func (g *graceNS) raw() string {
	g.t.Helper()
	buf := make([]byte, 64)
	n, err := g.io.Read("grace", buf, 0)
	if err != nil {
		g.t.Fatal(err)
	}
	omap, err := g.io.GetAllOmapValues("grace", "", "", 100)
	if err != nil {
		g.t.Fatal(err)
	}
	st, err := g.io.Stat("grace")
	if err != nil {
		g.t.Fatal(err)
	}
	return fmt.Sprintf("%x %v %v", buf[:n], omap, st.ModTime)
}

func TestGraceCommands(t *testing.T) {
	g := newGraceNS(t)
	code, out, errs := g.ctl("dump")
	if code != 1 || out != "" || !strings.Contains(errs, "does not exist") || !strings.Contains(errs, "nfsgwctl grace add NODE") {
		t.Fatalf("dump of a missing db: exit %d, %q %q", code, out, errs)
	}
	g.ok("add", "a", "b")
	g.ok("start", "a")
	want := "cur=2 rec=1\n" + strings.Repeat("=", 54) + "\na\tNE\nb\t E\n"
	if got := g.dump(); got != want {
		t.Fatalf("dump %q, want %q", got, want)
	}
	g.ok("member", "a", "b")
	if code, _, errs := g.ctl("member", "a", "zz"); code != 1 || !strings.Contains(errs, `not a member: "zz"`) {
		t.Fatalf("member zz: exit %d, %q", code, errs)
	}
	// Refusals exit 1 with the reason and change nothing.
	before := g.raw()
	for _, args := range [][]string{{"noenforce", "b"}, {"join", "zz"}, {"lift", "zz"}, {"enforce", "b", "zz"}} {
		code, out, errs := g.ctl(args...)
		if code != 1 || out != "" || errs == "" {
			t.Fatalf("%q: exit %d, %q %q", args, code, out, errs)
		}
	}
	if g.raw() != before {
		t.Fatal("a refused command wrote")
	}
	g.ok("add", "x")
	// Make x a member that does not enforce during the grace period, as
	// Ganesha's noenforce may leave one (nfsgwctl refuses to).
	if err := g.io.SetOmap("grace", map[string][]byte{"x": {0}}); err != nil {
		t.Fatal(err)
	}
	code, _, errs = g.ctl("lift", "a")
	if code != 1 || !strings.Contains(errs, "refused") || !strings.Contains(errs, "not enforcing: x") {
		t.Fatalf("lift while x does not enforce: exit %d, %q", code, errs)
	}
	g.ok("enforce", "x")
	g.ok("lift", "a")
	if got := g.dump(); !strings.HasPrefix(got, "cur=2 rec=0\n") {
		t.Fatalf("after lift: %q", got)
	}

	// A live member is removed only with --force.
	db, err := radosdb.Open(g.conn, g.io, "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if err := db.Lock(ctx, "b", "inst-b", time.Minute); err != nil {
		t.Fatal(err)
	}
	code, out, errs = g.ctl("dump", "-v")
	if code != 0 || !strings.HasPrefix(out, g.dump()) {
		t.Fatalf("dump -v: exit %d, %q %q", code, out, errs)
	}
	rows := lines(strings.TrimPrefix(out, g.dump()))
	if len(rows) != 5 || rows[1] != "MEMBER LIVENESS HOLDER RECORDS" || rows[2] != "a dead - 0" ||
		!strings.HasPrefix(rows[3], "b alive client.") || !strings.HasSuffix(rows[3], "instance inst-b 0") || rows[4] != "x dead - 0" {
		t.Fatalf("dump -v table:\n%s", strings.Join(rows, "\n"))
	}
	// The count comes from the recovery store (none above); a stand-in
	// shows how epochs and errors print.
	orig := countRecords
	countRecords = func(_ context.Context, io *rados.IOContext, node string) (int, []uint64, error) {
		if ns, _ := io.GetNamespace(); ns != g.ns {
			return 0, nil, fmt.Errorf("namespace %q", ns)
		}
		if node == "x" {
			return 0, nil, fmt.Errorf("damaged")
		}
		return len(node), []uint64{1, 2}, nil
	}
	t.Cleanup(func() { countRecords = orig })
	_, out, _ = g.ctl("dump", "-v")
	rows = lines(strings.TrimPrefix(out, g.dump()))
	if rows[2] != "a dead - 1 (epochs 1,2)" || !strings.HasSuffix(rows[3], "inst-b 1 (epochs 1,2)") || rows[4] != "x dead - error: damaged" {
		t.Fatalf("dump -v with counts:\n%s", strings.Join(rows, "\n"))
	}
	code, _, errs = g.ctl("remove", "a", "b")
	if code != 1 || !strings.Contains(errs, "b is alive") || !strings.Contains(errs, "inst-b") || !strings.Contains(errs, "--force") {
		t.Fatalf("remove of a live member: exit %d, %q", code, errs)
	}
	g.ok("remove", "a", "b", "--force")
	if got := g.dump(); got != "cur=2 rec=0\n"+strings.Repeat("=", 54)+"\nx\t E\n" {
		t.Fatalf("after remove: %q", got)
	}
}

// TestGraceMissingPool: only add creates a missing pool (as Ganesha's tool
// does); anything else says there is no database. (add's pool creation is
// not run here: a test cluster may forbid deleting pools, and the pool
// would outlive the test.)
func TestGraceMissingPool(t *testing.T) {
	g := newGraceNS(t)
	g.pool = "nfsgw-no-such-pool-" + g.ns
	for _, args := range [][]string{{"dump"}, {"lift", "a"}, {"member", "a"}} {
		code, _, errs := g.ctl(args...)
		if code != 1 || !strings.Contains(errs, "pool "+g.pool+" does not exist") || !strings.Contains(errs, "nfsgwctl grace add NODE") {
			t.Fatalf("%q in a missing pool: exit %d, %q", args, code, errs)
		}
	}
	if _, err := g.conn.OpenIOContext(g.pool); err == nil {
		t.Fatal("the pool was created")
	}
}

// ganeshaText is the dump Ganesha's tool prints for "CUR REC node:FLAGS...",
// written out here independently of grace.DB.Dump.
func ganeshaText(spec string) string {
	f := strings.Fields(spec)
	var b strings.Builder
	fmt.Fprintf(&b, "cur=%s rec=%s\n%s\n", f[0], f[1], strings.Repeat("=", 54))
	for _, m := range f[2:] {
		n, fl, _ := strings.Cut(m, ":")
		need, enf := " ", " "
		if strings.Contains(fl, "N") {
			need = "N"
		}
		if strings.Contains(fl, "E") {
			enf = "E"
		}
		fmt.Fprintf(&b, "%s\t%s%s\n", n, need, enf)
	}
	return b.String()
}

// TestGraceInterop drives one database alternately with Ganesha 4.3's
// ganesha-rados-grace and nfsgwctl: after every step both tools print the
// same dump, byte for byte, and it is the expected one.
func TestGraceInterop(t *testing.T) {
	g := newGraceNS(t)
	ganeshaTool(t)
	steps := []struct {
		ganesha bool
		args    []string
		want    string // ganeshaText of the database after the step
	}{
		{true, []string{"add", "a", "b", "c"}, "1 0 a:E b:E c:E"},
		{false, []string{"add", "d"}, "1 0 a:E b:E c:E d:E"},
		{true, []string{"start", "a"}, "2 1 a:NE b:E c:E d:E"},
		{false, []string{"join", "b"}, "2 1 a:NE b:NE c:E d:E"},
		{true, []string{"join", "c"}, "2 1 a:NE b:NE c:NE d:E"},
		{false, []string{"lift", "a"}, "2 1 a:E b:NE c:NE d:E"},
		{true, []string{"lift", "b"}, "2 1 a:E b:E c:NE d:E"},
		{false, []string{"enforce", "d"}, "2 1 a:E b:E c:NE d:E"},
		{true, []string{"lift", "c"}, "2 0 a:E b:E c:E d:E"},
		{false, []string{"noenforce", "d"}, "2 0 a:E b:E c:E d:"},
		{true, []string{"noenforce", "c"}, "2 0 a:E b:E c: d:"},
		{false, []string{"join", "a"}, "2 0 a:E b:E c: d:"},
		{true, []string{"enforce", "c", "d"}, "2 0 a:E b:E c:E d:E"},
		{false, []string{"start", "b"}, "3 2 a:E b:NE c:E d:E"},
		{true, []string{"join", "a"}, "3 2 a:NE b:NE c:E d:E"},
		{false, []string{"remove", "c"}, "3 2 a:NE b:NE d:E"},
		{true, []string{"lift", "a"}, "3 2 a:E b:NE d:E"},
		{false, []string{"lift", "b"}, "3 0 a:E b:E d:E"},
		{true, []string{"remove", "d"}, "3 0 a:E b:E"},
		{false, []string{"add", "e", "f"}, "3 0 a:E b:E e:E f:E"},
		{true, []string{"start", "e", "f"}, "4 3 a:E b:E e:NE f:NE"},
		{false, []string{"start", "a"}, "4 3 a:NE b:E e:NE f:NE"},
		{true, []string{"lift", "e", "a"}, "4 3 a:E b:E e:E f:NE"},
		{false, []string{"lift", "f"}, "4 0 a:E b:E e:E f:E"},
		{true, []string{"add", "g"}, "4 0 a:E b:E e:E f:E g:E"},
		{false, []string{"remove", "a", "b"}, "4 0 e:E f:E g:E"},
		{true, []string{"noenforce", "e", "g"}, "4 0 e: f:E g:"},
	}
	for i, s := range steps {
		tool := "nfsgwctl"
		var code int
		var errs string
		if s.ganesha {
			tool = "ganesha-rados-grace"
			// A crash at exit comes after the write; the dumps below
			// show whether it happened.
			code, _, errs, _ = g.ganesha(s.args...)
			if code == -1 {
				code = 0
			}
		} else {
			code, _, errs = g.ctl(s.args...)
		}
		if code != 0 {
			t.Fatalf("step %d: %s %q: exit %d, %s", i, tool, s.args, code, errs)
		}
		ours, theirs := g.dump(), g.ganeshaDump()
		if ours != theirs {
			t.Fatalf("step %d (%s %q): dumps differ:\nnfsgwctl:\n%s\nganesha-rados-grace:\n%s", i, tool, s.args, ours, theirs)
		}
		if want := ganeshaText(s.want); ours != want {
			t.Fatalf("step %d (%s %q):\n%s\nwant\n%s", i, tool, s.args, ours, want)
		}
	}
	// Both agree on membership.
	for _, args := range [][]string{{"member", "e", "g"}, {"member", "e", "a"}} {
		gcode, _, _, crashed := g.ganesha(args...)
		code, _, _ := g.ctl(args...)
		if !crashed && gcode != code {
			t.Fatalf("%q: ganesha-rados-grace exit %d, nfsgwctl exit %d", args, gcode, code)
		}
	}
}

// TestGraceInteropConcurrent: nfsgwctl and Ganesha's tool change the
// database at the same time; both assert the object version, so neither
// loses the other's change.
func TestGraceInteropConcurrent(t *testing.T) {
	g := newGraceNS(t)
	ganeshaTool(t)
	g.ok("add", "seed")
	const theirs = 6
	// Ours keep adding members until Ganesha's tool has added all of its.
	stop := make(chan struct{})
	type result struct {
		added   int
		retries uint64
		err     error
	}
	done := make(chan result, 1)
	go func() {
		db, err := radosdb.Open(g.conn, g.io, "")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer db.Close()
		for i := 0; ; i++ {
			// At most 500, well below grace.MaxMembers, however slow
			// the other tool is.
			if i == 500 {
				<-stop
			}
			select {
			case <-stop:
				done <- result{added: i, retries: db.Retries()}
				return
			default:
			}
			if _, err := db.Update(context.Background(), grace.Add{Nodes: []string{fmt.Sprintf("n%d", i)}}); err != nil {
				done <- result{err: err}
				return
			}
		}
	}()
	for i := range theirs {
		node := fmt.Sprintf("g%d", i)
		// Run again after a crash (at exit): add is idempotent.
		for attempt := 0; ; attempt++ {
			code, _, errs, crashed := g.ganesha("add", node)
			if !crashed && code != 0 {
				close(stop)
				t.Fatalf("ganesha-rados-grace add %s: exit %d, %s", node, code, errs)
			}
			if !crashed || attempt == 5 {
				break
			}
		}
	}
	close(stop)
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Logf("nfsgwctl side: %d adds, %d version conflicts retried", r.added, r.retries)
	ours := r.added
	dump := g.dump()
	if got := strings.Count(dump, "\t E\n"); got != 1+ours+theirs {
		t.Fatalf("%d members, want %d:\n%s", got, 1+ours+theirs, dump)
	}
	if dump != g.ganeshaDump() {
		t.Fatal("the tools disagree")
	}
}

// TestGraceCorrupt: objects that break the format are refused by every
// command with a clear error, and left exactly as they were.
func TestGraceCorrupt(t *testing.T) {
	le := func(c, r uint64) []byte {
		b := make([]byte, 16)
		for i := range 8 {
			b[i], b[8+i] = byte(c>>(8*i)), byte(r>>(8*i))
		}
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		omap map[string][]byte
		want string
	}{
		{"15-byte data", le(2, 0)[:15], nil, "holds 15 bytes of data, want 16"},
		{"C=0", le(0, 0), nil, "current epoch 0"},
		{"R>=C", le(2, 2), nil, "recovery epoch 2 not below current epoch 2"},
		{"2-byte flag value", le(2, 0), map[string][]byte{"a": {2, 0}}, `member "a" has a 2-byte value`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGraceNS(t)
			if err := g.io.WriteFull("grace", tc.data); err != nil {
				t.Fatal(err)
			}
			if tc.omap != nil {
				if err := g.io.SetOmap("grace", tc.omap); err != nil {
					t.Fatal(err)
				}
			}
			before := g.raw()
			for _, args := range [][]string{{"dump"}, {"dump", "-v"}, {"add", "z"}, {"start", "a"}, {"lift", "a"},
				{"enforce", "a"}, {"remove", "a"}, {"member", "a"}} {
				code, out, errs := g.ctl(args...)
				if code != 1 || out != "" || !strings.Contains(errs, "corrupt grace database") || !strings.Contains(errs, tc.want) {
					t.Fatalf("%q: exit %d, stdout %q, stderr %q; want exit 1 and %q", args, code, out, errs, tc.want)
				}
			}
			if after := g.raw(); after != before {
				t.Fatalf("rewritten: %s -> %s", before, after)
			}
		})
	}
}
