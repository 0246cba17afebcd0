package exportdb

import (
	"errors"
	"strings"
	"testing"

	"nfsgw/gateway/config"
)

func exp(id int, pseudo string) config.Export {
	return config.Export{ID: id, Pseudo: pseudo, Path: "ceph:/vol" + pseudo}
}

func TestCodecRoundTrip(t *testing.T) {
	uid := uint32(1000)
	off := false
	e := config.Export{ID: 42, Pseudo: "/a", Path: "ceph:/a", Access: "ro", Squash: "all", AnonUID: &uid,
		Clients: []string{"10.0.0.0/8"}, Delegations: &off, CephFS: "fs2"}
	b, err := EncodeExport(e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeExport(Key(42), b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 42 || got.Pseudo != "/a" || got.Access != "ro" || *got.AnonUID != 1000 || got.AnonGID != nil ||
		*got.Delegations || got.Clients[0] != "10.0.0.0/8" || got.CephFS != "fs2" {
		t.Fatalf("round trip: %+v", got)
	}
	if Key(42) != "00042" || Key(65535) != "65535" {
		t.Fatalf("keys %q %q", Key(42), Key(65535))
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, c := range map[string]struct{ key, val string }{
		"key mismatch":  {"00007", `{"id":8,"pseudo":"/a","path":"ceph:/a"}`},
		"unpadded key":  {"7", `{"id":7,"pseudo":"/a","path":"ceph:/a"}`},
		"unknown field": {"00007", `{"id":7,"pseudo":"/a","path":"ceph:/a","bogus":1}`},
		"not json":      {"00007", `id: 7`},
		"too long":      {"00007", `{"id":7,"pseudo":"/` + strings.Repeat("a", MaxValueBytes) + `"}`},
	} {
		if _, err := DecodeExport(c.key, []byte(c.val)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
	if _, err := EncodeExport(config.Export{ID: 1, Pseudo: "/" + strings.Repeat("a", MaxValueBytes)}); !errors.Is(err, ErrRefused) {
		t.Errorf("oversized export encoded: %v", err)
	}
	if _, err := decodeGen([]byte{1, 2, 3}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("3-byte generation: %v", err)
	}
}

func TestMutationsRefuse(t *testing.T) {
	cur, err := Add{exp(1, "/a")}.Apply(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cur[0].Access != "rw" {
		t.Fatalf("defaults not filled: %+v", cur[0])
	}
	for name, m := range map[string]Mutation{
		"duplicate id":       Add{exp(1, "/b")},
		"duplicate pseudo":   Add{exp(2, "/a")},
		"nested pseudo":      Add{exp(2, "/a/b")},
		"enclosing pseudo":   Add{config.Export{ID: 2, Pseudo: "/", Path: "ceph:/"}},
		"local path":         Add{config.Export{ID: 2, Pseudo: "/l", Path: "/srv/l"}},
		"id out of range":    Add{exp(70000, "/c")},
		"bad access":         Add{config.Export{ID: 3, Pseudo: "/c", Path: "ceph:/c", Access: "rx"}},
		"relative ceph path": Add{config.Export{ID: 3, Pseudo: "/c", Path: "ceph:c"}},
		"update unknown":     Update{exp(9, "/z")},
		"remove unknown":     Remove{9},
	} {
		if _, err := m.Apply(cur); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrRefused) && !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrRefused or ErrNotFound", name, err)
		}
	}
	next, err := Update{config.Export{ID: 1, Pseudo: "/a", Path: "ceph:/a2", Access: "ro"}}.Apply(cur)
	if err != nil || next[0].Path != "ceph:/a2" || next[0].Access != "ro" {
		t.Fatalf("update: %+v %v", next, err)
	}
	if next, err := (Remove{1}).Apply(cur); err != nil || len(next) != 0 {
		t.Fatalf("remove: %+v %v", next, err)
	}
}

func TestDiff(t *testing.T) {
	old := []config.Export{exp(1, "/a"), exp(2, "/b"), exp(3, "/c")}
	b2 := exp(2, "/b")
	b2.Access = "ro"
	set, rm, err := diff(old, []config.Export{exp(1, "/a"), b2, exp(4, "/d")})
	if err != nil {
		t.Fatal(err)
	}
	if len(set) != 2 || set["00002"] == nil || set["00004"] == nil || len(rm) != 1 || rm[0] != "00003" {
		t.Fatalf("set %v rm %v", set, rm)
	}
}
