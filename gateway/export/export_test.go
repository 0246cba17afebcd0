package export

import (
	"net/netip"
	"testing"

	"nfsgw/gateway/fsal"
)

func TestPseudoTree(t *testing.T) {
	tbl, err := NewTable([]*Export{
		{ID: 1, Pseudo: "/export"},
		{ID: 2, Pseudo: "/data/a/"},
		{ID: 3, Pseudo: "data/b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	root := tbl.PseudoRoot()
	if len(root.Children) != 2 || root.Children[0].Name != "data" || root.Children[1].Name != "export" {
		t.Fatalf("root children: %+v", root.Children)
	}
	data := root.Child("data")
	if data.Export != nil || len(data.Children) != 2 {
		t.Fatalf("data node: %+v", data)
	}
	if b := data.Child("b"); b.Export == nil || b.Export.ID != 3 || b.Path != "/data/b" {
		t.Fatalf("junction b: %+v", b)
	}
	if n := tbl.PseudoByKey(data.Key()); n != data {
		t.Fatal("pseudo key lookup")
	}
	if tbl.PseudoNodeOf(tbl.ByID(2)).Parent != data {
		t.Fatal("PseudoNodeOf")
	}
	// Ids are derived from paths: a rebuilt table gives the same handles.
	tbl2, _ := NewTable([]*Export{{ID: 3, Pseudo: "/data/b"}})
	if tbl2.PseudoRoot().Child("data").ID != data.ID {
		t.Fatal("pseudo ids not stable")
	}
	if tbl.PseudoByKey([]byte{1}) != nil {
		t.Fatal("short key accepted")
	}
}

func TestTableRejects(t *testing.T) {
	for name, list := range map[string][]*Export{
		"id 0":      {{ID: 0, Pseudo: "/a"}},
		"dup id":    {{ID: 1, Pseudo: "/a"}, {ID: 1, Pseudo: "/b"}},
		"dup path":  {{ID: 1, Pseudo: "/a"}, {ID: 2, Pseudo: "/a/"}},
		"nested":    {{ID: 1, Pseudo: "/a"}, {ID: 2, Pseudo: "/a/b"}},
		"under one": {{ID: 1, Pseudo: "/"}, {ID: 2, Pseudo: "/x"}},
	} {
		if _, err := NewTable(list); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestSquash(t *testing.T) {
	root := &fsal.Cred{UID: 0, GID: 0, Groups: []uint32{0, 5}}
	user := &fsal.Cred{UID: 1000, GID: 1000, Groups: []uint32{27}}
	e := &Export{Squash: SquashRoot, AnonUID: 65534, AnonGID: 65534}
	if c := e.MapCred(root); c.UID != 65534 || c.GID != 65534 || len(c.Groups) != 1 || c.Groups[0] != 5 {
		t.Fatalf("root squash: %+v", c)
	}
	if root.UID != 0 {
		t.Fatal("MapCred modified its argument")
	}
	if c := e.MapCred(user); c != user {
		t.Fatal("root squash changed a normal user")
	}
	e.Squash = SquashAll
	if c := e.MapCred(user); c.UID != 65534 || len(c.Groups) != 0 {
		t.Fatalf("all squash: %+v", c)
	}
	e.Squash = SquashNone
	if c := e.MapCred(root); c.UID != 0 {
		t.Fatalf("no squash: %+v", c)
	}
	for _, s := range []string{"root", "none", "all"} {
		if q, err := ParseSquash(s); err != nil || q.String() != s {
			t.Errorf("ParseSquash(%q) = %v %v", s, q, err)
		}
	}
}

func TestAllowed(t *testing.T) {
	e := &Export{Clients: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	if !e.Allowed(netip.MustParseAddr("127.0.0.5")) || !e.Allowed(netip.MustParseAddr("::ffff:127.0.0.1")) {
		t.Fatal("allowed network refused")
	}
	if e.Allowed(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("other network allowed")
	}
	if !(&Export{}).Allowed(netip.MustParseAddr("10.0.0.1")) {
		t.Fatal("empty client list must allow all")
	}
}

func TestRegistrySwap(t *testing.T) {
	a, _ := NewTable([]*Export{{ID: 1, Pseudo: "/a"}})
	b, _ := NewTable([]*Export{{ID: 2, Pseudo: "/b"}})
	r := NewRegistry(a)
	r.Store(b)
	if r.Load().ByID(2) == nil || r.Load().ByID(1) != nil || r.Load().ByPseudo("/b") == nil {
		t.Fatal("swap")
	}
}
