package config

import (
	"strings"
	"testing"
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
  - pseudo: /b
    path: /srv/b
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.GraceSeconds != 10 || c.MaxIOBytes != DefaultMaxIO || len(c.Listen) != 2 {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if c.Exports[1].ID != 1 || c.Exports[1].Access != "rw" {
		t.Fatalf("quick-start export defaults: %+v", c.Exports[1])
	}
	if c.Exports[0].DelegationsEnabled() || !c.Exports[1].DelegationsEnabled() {
		t.Fatalf("delegations: %v %v", c.Exports[0].DelegationsEnabled(), c.Exports[1].DelegationsEnabled())
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
		"exports: [{pseudo: /a, path: 'ceph:relative'}]",
		"exports: [{pseudo: /a, path: /srv/a, ceph_fs: x}]",
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
