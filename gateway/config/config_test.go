package config

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"time"
)

func TestParseAndValidate(t *testing.T) {
	c, err := Parse([]byte(`
listen: ["127.0.0.1:2049", "127.0.0.2:2049"]
lease_seconds: 10
exports:
  - id: 7
    pseudo: /a
    path: /srv/a
    access: ro
    squash: all
    anon_uid: 1000
    clients: ["10.0.0.0/8", "192.168.1.5"]
    delegations: false
    attr_cache: false
`))
	if err != nil {
		t.Fatal(err)
	}
	// A quick-start export (--export) comes without an id.
	b, err := ParseExportFlag("/b=/srv/b")
	if err != nil {
		t.Fatal(err)
	}
	c.Exports = append(c.Exports, b)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.GraceSeconds != 10 || c.MaxIOBytes != DefaultMaxIO || len(c.Listen) != 2 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Exports[1].ID != FlagExportID("/b") || c.Exports[1].Access != "rw" {
		t.Fatalf("quick-start export defaults: %+v", c.Exports[1])
	}
	if c.Exports[0].DelegationsEnabled() || !c.Exports[1].DelegationsEnabled() {
		t.Fatalf("delegations: %v %v", c.Exports[0].DelegationsEnabled(), c.Exports[1].DelegationsEnabled())
	}
	if c.Exports[0].AttrCacheEnabled() || !c.Exports[1].AttrCacheEnabled() {
		t.Fatalf("attr_cache: %v %v", c.Exports[0].AttrCacheEnabled(), c.Exports[1].AttrCacheEnabled())
	}
	nets, err := c.Exports[0].Networks()
	if err != nil || len(nets) != 2 || nets[1].Bits() != 32 {
		t.Fatalf("networks: %v %v", nets, err)
	}
	if uid, gid := c.Exports[0].Anon(); uid != 1000 || gid != DefaultAnonID {
		t.Fatalf("anon = %d/%d", uid, gid)
	}
}

func TestRejects(t *testing.T) {
	for name, text := range map[string]string{
		"unknown key":  "listen: [x]\nexportz: []\n",
		"no exports":   "listen: ['127.0.0.1:1']\n",
		"bad access":   "exports: [{pseudo: /a, path: /a, access: rx}]\n",
		"bad squash":   "exports: [{pseudo: /a, path: /a, squash: some}]\n",
		"bad client":   "exports: [{pseudo: /a, path: /a, clients: [nonsense]}]\n",
		"bad id":       "exports: [{id: 70000, pseudo: /a, path: /a}]\n",
		"missing path": "exports: [{pseudo: /a}]\n",
		"bad lease":    "lease_seconds: -4\nexports: [{pseudo: /a, path: /a}]\n",
	} {
		c, err := Parse([]byte(text))
		if err == nil {
			err = c.Validate()
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestExportFlag(t *testing.T) {
	e, err := ParseExportFlag("/export=./data")
	if err != nil || e.Pseudo != "/export" || e.Path != "./data" {
		t.Fatalf("got %+v %v", e, err)
	}
	for _, bad := range []string{"", "/x", "=dir", "/x="} {
		if _, err := ParseExportFlag(bad); err == nil || !strings.Contains(err.Error(), "PSEUDO=DIR") {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCephExports(t *testing.T) {
	c, err := Parse([]byte(`
lease_seconds: 30
ceph:
  conf: /etc/ceph/test.conf
  user: client.nfsgw
exports:
  - id: 1
    pseudo: /cephfs
    path: ceph:/volumes/a
  - id: 2
    pseudo: /other
    path: ceph:/b
    ceph_fs: second
    ceph_user: other
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Ceph.User != "nfsgw" || c.Ceph.SessionTimeoutSeconds != 60 {
		t.Fatalf("ceph defaults: %+v", c.Ceph)
	}
	if p, ok := c.Exports[0].CephPath(); !ok || p != "/volumes/a" {
		t.Fatalf("CephPath = %q %v", p, ok)
	}
	e, err := ParseExportFlag("/x=ceph:/data")
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := e.CephPath(); !ok || p != "/data" {
		t.Fatalf("flag CephPath = %q %v", p, ok)
	}
	for _, bad := range []string{
		"exports: [{id: 1, pseudo: /a, path: 'ceph:relative'}]",
		"exports: [{id: 1, pseudo: /a, path: /srv/a, ceph_fs: x}]",
	} {
		c, err := Parse([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil {
			t.Errorf("%s: validated", bad)
		}
	}
}

func TestCourtesyAndDelegationTimeout(t *testing.T) {
	parse := func(extra string) (*Config, error) {
		c, err := Parse([]byte("lease_seconds: 20\n" + extra + "exports:\n  - id: 1\n    pseudo: /c\n    path: ceph:/c\n"))
		if err != nil {
			return nil, err
		}
		return c, c.Validate()
	}
	c, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	if c.Courtesy() != 0 || c.DelegationTimeout().Seconds() != 45 {
		t.Fatalf("defaults: courtesy %v, delegation timeout %v", c.Courtesy(), c.DelegationTimeout())
	}
	c.LeaseSeconds = 90
	if c.DelegationTimeout().Seconds() != 105 {
		t.Fatalf("delegation timeout for a 90 s lease: %v", c.DelegationTimeout())
	}
	c.LeaseSeconds = 3600
	if c.DelegationTimeout().Seconds() != 240 {
		t.Fatalf("delegation timeout for a long lease: %v, want capped at 240 s", c.DelegationTimeout())
	}
	c, err = parse("courtesy_seconds: -1\nceph:\n  delegation_timeout_seconds: -1\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Courtesy() >= 0 || c.DelegationTimeout() != 0 {
		t.Fatalf("off: courtesy %v, delegation timeout %v", c.Courtesy(), c.DelegationTimeout())
	}
	c, err = parse("courtesy_seconds: 600\nceph:\n  delegation_timeout_seconds: 30\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Courtesy().Seconds() != 600 || c.DelegationTimeout().Seconds() != 30 {
		t.Fatalf("set: courtesy %v, delegation timeout %v", c.Courtesy(), c.DelegationTimeout())
	}
	for _, bad := range []string{"courtesy_seconds: -2\n", "ceph:\n  delegation_timeout_seconds: 2\n",
		"ceph:\n  delegation_timeout_seconds: 300\n", "ceph:\n  delegation_timeout_seconds: -5\n"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestFileExportsNeedIDs: an export without an id in a file would be
// numbered by its place in the file, so reordering the file (and a SIGHUP)
// would swap two exports' ids under their clients' file handles.
func TestFileExportsNeedIDs(t *testing.T) {
	for _, text := range []string{
		"exports: [{id: 1, pseudo: /a, path: /a}, {pseudo: /b, path: /b}]\n",
		"exports: [{id: 0, pseudo: /a, path: /a}]\n",
	} {
		_, err := Parse([]byte(text))
		if err == nil || !strings.Contains(err.Error(), "has no id") {
			t.Errorf("%q: err = %v, want the missing id named", text, err)
		}
	}
}

// flagConfig validates a configuration of quick-start exports, one per
// --export value, in the order given.
func flagConfig(t *testing.T, flags ...string) (*Config, error) {
	t.Helper()
	c := &Config{NodeID: "gw1", Admin: "none", StateDir: StateDirNone}
	for _, f := range flags {
		e, err := ParseExportFlag(f)
		if err != nil {
			t.Fatal(err)
		}
		c.Exports = append(c.Exports, e)
	}
	return c, c.Validate()
}

// TestFlagExportIDs: a quick-start export's id comes from its pseudo path
// alone, so that reordering the flags, or adding one, leaves every other
// export's id (and its clients' handles) as it was.
func TestFlagExportIDs(t *testing.T) {
	ids := func(flags ...string) map[string]int {
		t.Helper()
		c, err := flagConfig(t, flags...)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, e := range c.Exports {
			m[path.Clean(e.Pseudo)] = e.ID
		}
		return m
	}
	one := ids("/a=/srv/a", "/b=/srv/b", "/c/d=/srv/d")
	other := ids("/c/d/=/srv/d", "/b=/srv/b", "/x=/srv/x", "/a=/srv/a")
	for _, p := range []string{"/a", "/b", "/c/d"} {
		if one[p] != other[p] || one[p] != FlagExportID(p) {
			t.Errorf("%s: id %d, then %d after reordering (FlagExportID %d)", p, one[p], other[p], FlagExportID(p))
		}
	}
	// Handles of existing quick-start exports carry these ids: the hash
	// must never change.
	for p, want := range map[string]int{"/export": 28129, "/cephfs": 2108, "/": 49515} {
		if got := FlagExportID(p); got != want {
			t.Errorf("FlagExportID(%q) = %d, want %d", p, got, want)
		}
	}
	for i := range 200000 {
		if id := FlagExportID(fmt.Sprint("/p", i)); id < 1 || id > 65535 {
			t.Fatalf("FlagExportID(/p%d) = %d, out of 1..65535", i, id)
		}
	}
}

// TestFlagExportIDCollision: two quick-start exports whose pseudo paths
// hash to the same id, or one whose id a file's export already has, are
// refused with a request for explicit ids, whatever their order.
func TestFlagExportIDCollision(t *testing.T) {
	// /e138 and /e248 both hash to 2500.
	if a, b := FlagExportID("/e138"), FlagExportID("/e248"); a != b {
		t.Fatalf("no collision: %d, %d", a, b)
	}
	for _, flags := range [][]string{{"/e138=/a", "/e248=/b"}, {"/e248=/b", "/e138=/a"}} {
		_, err := flagConfig(t, flags...)
		if err == nil || !strings.Contains(err.Error(), "explicit ids in a config file") || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: err = %v, want one line asking for explicit ids", flags, err)
		}
	}
	c, err := Parse([]byte(fmt.Sprintf("node_id: gw1\nadmin: none\nexports: [{id: %d, pseudo: /file, path: /srv/f}]\n", FlagExportID("/quick"))))
	if err != nil {
		t.Fatal(err)
	}
	e, err := ParseExportFlag("/quick=/srv/q")
	if err != nil {
		t.Fatal(err)
	}
	c.Exports = append(c.Exports, e)
	c.StateDir = StateDirNone
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "explicit ids in a config file") {
		t.Errorf("flag export on a file export's id: err = %v", err)
	}
	if _, err := flagConfig(t, "/e=/a", "/e/=/b"); err == nil || !strings.Contains(err.Error(), "duplicate pseudo path") {
		t.Errorf("same pseudo path twice: err = %v", err)
	}
}

func validated(t *testing.T, text string) (*Config, error) {
	t.Helper()
	c, err := Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c, c.Validate()
}

// TestStaticExportErrors: clashes between exports are found by Validate,
// before any backend is opened or anything is served.
func TestStaticExportErrors(t *testing.T) {
	for name, text := range map[string]string{
		"duplicate id":     "exports: [{id: 1, pseudo: /a, path: /a}, {id: 1, pseudo: /b, path: /b}]\n",
		"duplicate pseudo": "exports: [{id: 1, pseudo: /a, path: /a}, {id: 2, pseudo: /a/, path: /b}]\n",
		"nested pseudo":    "exports: [{id: 1, pseudo: /a, path: /a}, {id: 2, pseudo: /a/b, path: /b}]\n",
		"bad log level":    "log_level: verbose\nexports: [{id: 1, pseudo: /a, path: /a}]\n",
	} {
		if _, err := validated(t, text); err == nil {
			t.Errorf("%s: accepted", name)
		} else if strings.Count(err.Error(), "config:") != 1 {
			t.Errorf("%s: %q repeats its prefix", name, err)
		}
	}
}

// TestAdminAddress: the admin API defaults to a unix socket; TCP is
// refused off loopback unless it has mutual TLS.
func TestAdminAddress(t *testing.T) {
	const exp = "exports: [{id: 1, pseudo: /a, path: /a}]\n"
	c, err := validated(t, exp)
	if err != nil {
		t.Fatal(err)
	}
	if c.Admin != "unix:/run/nfsgw/admin.sock" {
		t.Errorf("default admin = %q, want the unix socket", c.Admin)
	}
	for _, ok := range []string{
		"admin: none\n",
		"admin: unix:/tmp/x.sock\n",
		"admin: /tmp/x.sock\n",
		"admin: 127.0.0.1:2050\n",
		"admin: '[::1]:2050'\n",
		"admin: localhost:2050\n",
		"admin: 0.0.0.0:2050\nadmin_tls: {cert: c.pem, key: k.pem, client_ca: ca.pem}\n",
	} {
		if _, err := validated(t, ok+exp); err != nil {
			t.Errorf("%q refused: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"admin: 0.0.0.0:2050\n",
		"admin: ':2050'\n",
		"admin: 10.1.2.3:2050\n",
		"admin: gw.example.com:2050\n",
		"admin: 10.1.2.3:2050\nadmin_tls: {cert: c.pem, key: k.pem}\n",
		"admin: unix:/tmp/x.sock\nadmin_tls: {cert: c.pem, key: k.pem, client_ca: ca.pem}\n",
		"admin: nonsense\n",
	} {
		if _, err := validated(t, bad+exp); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestDefaultStateDir: without state_dir the gateway still keeps recovery
// state (a server must remember its clients); "none" opts out.
func TestDefaultStateDir(t *testing.T) {
	c, err := validated(t, "exports: [{id: 1, pseudo: /a, path: /a}]\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir == "" || c.StateDir != DefaultStateDir() {
		t.Errorf("state dir = %q, want %q", c.StateDir, DefaultStateDir())
	}
	c, err = validated(t, "state_dir: none\nexports: [{id: 1, pseudo: /a, path: /a}]\n")
	if err != nil || c.StateDir != StateDirNone {
		t.Errorf("state_dir none: %q %v", c.StateDir, err)
	}
}

func TestConnectionLimits(t *testing.T) {
	parse := func(extra string) (*Config, error) {
		c, err := Parse([]byte(extra + "exports: [{id: 1, pseudo: /a, path: /a}]\n"))
		if err != nil {
			return nil, err
		}
		return c, c.Validate()
	}
	c, err := parse("")
	if err != nil {
		t.Fatal(err)
	}
	if c.ReplyTimeout().Seconds() != 60 || c.IdleTimeout().Seconds() != 300 || c.ConnsPerAddress() != 128 {
		t.Fatalf("defaults: reply timeout %v, idle timeout %v, per address %d", c.ReplyTimeout(), c.IdleTimeout(), c.ConnsPerAddress())
	}
	c, err = parse("reply_timeout_seconds: -1\nidle_timeout_seconds: -1\nmax_connections_per_address: -1\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.ReplyTimeout() != 0 || c.IdleTimeout() != 0 || c.ConnsPerAddress() != 0 {
		t.Fatalf("off: reply timeout %v, idle timeout %v, per address %d", c.ReplyTimeout(), c.IdleTimeout(), c.ConnsPerAddress())
	}
	c, err = parse("reply_timeout_seconds: 5\nidle_timeout_seconds: 7\nmax_connections_per_address: 3\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.ReplyTimeout().Seconds() != 5 || c.IdleTimeout().Seconds() != 7 || c.ConnsPerAddress() != 3 {
		t.Fatalf("set: reply timeout %v, idle timeout %v, per address %d", c.ReplyTimeout(), c.IdleTimeout(), c.ConnsPerAddress())
	}
	for _, bad := range []string{"reply_timeout_seconds: -2\n", "idle_timeout_seconds: -3\n", "max_connections_per_address: -9\n"} {
		if _, err := parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// TestObservability: the metrics address, the log format and the slow
// operation threshold are checked, and default as documented.
func TestObservability(t *testing.T) {
	const exports = "exports: [{id: 1, pseudo: /a, path: /a}]\n"
	c, err := validated(t, exports)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "" || c.LogFormat != "text" || c.SlowOp() != time.Second || c.UnreadyInGrace {
		t.Errorf("defaults: metrics %q format %q slow %v unready %v", c.Metrics, c.LogFormat, c.SlowOp(), c.UnreadyInGrace)
	}
	c, err = validated(t, "metrics: 0.0.0.0:9100\nlog_format: json\nslow_op_ms: -1\nunready_in_grace: true\n"+exports)
	if err != nil {
		t.Fatal(err)
	}
	if c.Metrics != "0.0.0.0:9100" || c.LogFormat != "json" || c.SlowOp() != 0 || !c.UnreadyInGrace {
		t.Errorf("set: metrics %q format %q slow %v unready %v", c.Metrics, c.LogFormat, c.SlowOp(), c.UnreadyInGrace)
	}
	if c, _ = validated(t, "slow_op_ms: 250\n"+exports); c.SlowOp() != 250*time.Millisecond {
		t.Errorf("slow_op_ms 250: %v", c.SlowOp())
	}
	for name, text := range map[string]string{
		"metrics without port": "metrics: localhost\n",
		"metrics empty port":   "metrics: 'localhost:'\n",
		"bad log format":       "log_format: xml\n",
		"bad slow_op_ms":       "slow_op_ms: -5\n",
	} {
		if _, err := validated(t, text+exports); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestClusterWithoutExports(t *testing.T) {
	c := &Config{NodeID: "gw1", Admin: "none", Cluster: Cluster{Pool: "nfsgw"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("a cluster member without exports: %v", err)
	}
	if !c.ExportsInRADOS() || c.Cluster.ExportsOID != "nfsgw.exports" || c.Ceph.Conf != DefaultCephConf || c.Ceph.User != "admin" {
		t.Fatalf("defaults: in RADOS %v, %+v, %+v", c.ExportsInRADOS(), c.Cluster, c.Ceph)
	}
	c = &Config{NodeID: "gw1", Admin: "none", Cluster: Cluster{Pool: "nfsgw", OID: "x", ExportsOID: "x"}}
	if err := c.Validate(); err == nil {
		t.Fatal("exports_oid equal to oid accepted")
	}
	c = &Config{NodeID: "gw1", Admin: "none"}
	if err := c.Validate(); err == nil {
		t.Fatal("a single gateway without exports accepted")
	}
}
