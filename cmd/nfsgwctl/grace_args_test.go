package main

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

func TestGraceUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"grace", "frob"}, `grace: unknown command "frob"`},
		{[]string{"grace", "dump", "a"}, "grace dump takes no nodes"},
		{[]string{"grace", "add"}, "usage: nfsgwctl grace add NODE..."},
		{[]string{"grace", "lift"}, "usage: nfsgwctl grace lift NODE..."},
		{[]string{"grace", "add", "a/b"}, `invalid node id "a/b"`},
		{[]string{"grace", "add", "a", ""}, "invalid node id"},
		{[]string{"grace", "lift", ""}, "empty node id"},
		{[]string{"grace", "-v", "lift", "a"}, "-v is for grace dump"},
		{[]string{"grace", "lift", "--force", "a"}, "--force is for grace remove"},
		{[]string{"grace", "--pool", "", "dump"}, "--pool and --oid must not be empty"},
		{[]string{"grace", "--no-such", "dump"}, "flag provided but not defined"},
	} {
		// The ceph.conf does not exist: usage errors must come first.
		args := append([]string{tc.args[0], "--ceph-conf", "/nonexistent/ceph.conf"}, tc.args[1:]...)
		code, out, errs := ctl(t, args...)
		if code != 2 || out != "" || !strings.Contains(errs, tc.msg) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errs, tc.msg)
		}
	}
	code, _, errs := ctl(t, "grace", "-h")
	if code != 0 || !strings.Contains(errs, "noenforce NODE...") || !strings.Contains(errs, "-ceph-conf") {
		t.Errorf("grace -h: exit %d, stderr %q", code, errs)
	}
}

func TestGraceArgs(t *testing.T) {
	var errb bytes.Buffer
	t.Setenv("CEPH_CONF", "/x/ceph.conf")
	o, err := parseArgs([]string{"--timeout", "9s", "grace", "remove", "a", "--force", "--ns", "n1", "b"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	g := o.grace
	if g.op != "remove" || !slices.Equal(g.nodes, []string{"a", "b"}) || !g.force || g.ns != "n1" ||
		g.pool != "nfsgw" || g.oid != "grace" || g.user != "admin" || g.conf != "/x/ceph.conf" || o.timeout.Seconds() != 9 {
		t.Fatalf("%+v", g)
	}
	// No command is dump, as for ganesha-rados-grace.
	if o, err := parseArgs([]string{"grace", "--oid", "g2"}, &errb); err != nil || o.grace.op != "dump" || o.grace.oid != "g2" {
		t.Fatalf("%+v %v", o, err)
	}
	t.Setenv("CEPH_CONF", "")
	if o, _ := parseArgs([]string{"grace", "dump"}, &errb); o.grace.conf != "/etc/ceph/ceph.conf" {
		t.Fatalf("default conf %q", o.grace.conf)
	}
}
