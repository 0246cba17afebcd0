package grace

import (
	"errors"
	"strings"
	"testing"
)

// db builds a database from "cur rec" and "node:flags" pairs, flags as
// Dump prints them (N, E), e.g. db(2, 1, "a:NE", "b:E").
func db(c, r uint64, members ...string) DB {
	d := DB{C: c, R: r, Members: map[string]byte{}}
	for _, m := range members {
		n, fl, _ := strings.Cut(m, ":")
		var f byte
		if strings.Contains(fl, "N") {
			f |= FlagNeed
		}
		if strings.Contains(fl, "E") {
			f |= FlagEnforcing
		}
		if strings.Contains(fl, "X") { // an unknown bit, to be kept
			f |= 0x80
		}
		d.Members[n] = f
	}
	return d
}

// Each case: given this database and this mutation, this result (or this
// error, and the database untouched). Where Ganesha 4.3's
// ganesha-rados-grace does the same, the case says "as Ganesha"; where nfsgw
// differs on purpose, it says how.
var mutationCases = []struct {
	name    string
	in      DB
	m       Mutation
	want    DB
	wantErr error
}{
	// Add.
	{"add to empty (as Ganesha: E)", db(1, 0), Add{Nodes: []string{"a", "b"}}, db(1, 0, "a:E", "b:E"), nil},
	{"add keeps existing flags", db(2, 1, "a:NE"), Add{Nodes: []string{"a"}}, db(2, 1, "a:NE"), nil},
	// Ganesha adds none of the nodes when one exists; nfsgw adds the missing ones.
	{"add existing and new", db(1, 0, "a:E"), Add{Nodes: []string{"a", "b"}}, db(1, 0, "a:E", "b:E"), nil},
	{"add during grace (as Ganesha: no NEED)", db(2, 1, "a:NE"), Add{Nodes: []string{"b"}}, db(2, 1, "a:NE", "b:E"), nil},
	{"add invalid id", db(1, 0), Add{Nodes: []string{"a", "b/c"}}, db(1, 0), ErrInvalidNode},

	// Join as Ganesha's join (OnlyInGrace).
	{"join outside grace changes nothing (as Ganesha)", db(1, 0, "a:E"), Join{Node: "a", OnlyInGrace: true}, db(1, 0, "a:E"), nil},
	{"join in grace (as Ganesha)", db(2, 1, "a:NE", "b:E"), Join{Node: "b", OnlyInGrace: true}, db(2, 1, "a:NE", "b:NE"), nil},
	{"join keeps unknown bits", db(2, 1, "a:NE", "b:X"), Join{Node: "b", OnlyInGrace: true}, db(2, 1, "a:NE", "b:NEX"), nil},
	{"join unknown (as Ganesha: ENOKEY)", db(1, 0, "a:E"), Join{Node: "z", OnlyInGrace: true}, db(1, 0, "a:E"), ErrNotMember},
	// Join as a restarted node (Ganesha's start of one node).
	{"join starts grace", db(1, 0, "a:E", "b:"), Join{Node: "a"}, db(2, 1, "a:NE", "b:"), nil},
	{"join in grace keeps epochs", db(5, 4, "a:NE", "b:E"), Join{Node: "b"}, db(5, 4, "a:NE", "b:NE"), nil},

	// Start.
	{"start (as Ganesha)", db(1, 0, "a:E", "b:E", "c:E"), Start{Nodes: []string{"a", "b"}}, db(2, 1, "a:NE", "b:NE", "c:E"), nil},
	{"start in grace", db(3, 2, "a:NE", "b:"), Start{Nodes: []string{"b"}}, db(3, 2, "a:NE", "b:NE"), nil},
	{"start with NEED left at R=0 (after Ganesha's remove)", db(3, 0, "b:NE"), Start{Nodes: []string{"b"}}, db(4, 3, "b:NE"), nil},
	{"start unknown: all or nothing", db(1, 0, "a:E"), Start{Nodes: []string{"a", "z"}}, db(1, 0, "a:E"), ErrNotMember},

	// Enforce.
	{"enforce (as Ganesha)", db(2, 1, "a:NE", "b:"), Enforce{Node: "b"}, db(2, 1, "a:NE", "b:E"), nil},
	{"enforce enforcing", db(1, 0, "a:E"), Enforce{Node: "a"}, db(1, 0, "a:E"), nil},
	{"enforce unknown (as Ganesha: ENOKEY)", db(1, 0), Enforce{Node: "a"}, db(1, 0), ErrNotMember},
	{"enforce with add", db(2, 1, "a:NE"), Enforce{Node: "b", Add: true}, db(2, 1, "a:NE", "b:E"), nil},
	{"enforce with add, invalid id", db(1, 0), Enforce{Node: "b c", Add: true}, db(1, 0), ErrInvalidNode},

	// Unenforce.
	{"noenforce outside grace (as Ganesha)", db(2, 0, "a:E", "b:EX"), Unenforce{Node: "b"}, db(2, 0, "a:E", "b:X"), nil},
	// Ganesha lets a member stop enforcing during grace; nfsgw refuses.
	{"noenforce in grace refused", db(2, 1, "a:NE", "b:E"), Unenforce{Node: "b"}, db(2, 1, "a:NE", "b:E"), ErrRefused},
	{"noenforce with NEED refused", db(2, 0, "a:NE"), Unenforce{Node: "a"}, db(2, 0, "a:NE"), ErrRefused},
	{"noenforce unknown", db(1, 0), Unenforce{Node: "a"}, db(1, 0), ErrNotMember},

	// Lift.
	{"lift one of two (as Ganesha)", db(3, 2, "a:NE", "b:NE"), Lift{Node: "a"}, db(3, 2, "a:E", "b:NE"), nil},
	{"lift the last ends grace (as Ganesha)", db(3, 2, "a:E", "b:NEX"), Lift{Node: "b"}, db(3, 0, "a:E", "b:EX"), nil},
	{"lift without NEED changes nothing (as Ganesha)", db(3, 2, "a:E", "b:NE"), Lift{Node: "a"}, db(3, 2, "a:E", "b:NE"), nil},
	// Ganesha returns success without writing; nfsgw refuses, naming b.
	{"lift while a member does not enforce", db(3, 2, "a:NE", "b:"), Lift{Node: "a"}, db(3, 2, "a:NE", "b:"), ErrRefused},
	{"lift outside grace with a non-enforcer (as Ganesha)", db(3, 0, "a:NE", "b:"), Lift{Node: "a"}, db(3, 0, "a:E", "b:"), nil},
	{"lift unknown (as Ganesha: ENOKEY)", db(3, 2, "a:NE"), Lift{Node: "z"}, db(3, 2, "a:NE"), ErrNotMember},

	// Remove.
	{"remove outside grace (as Ganesha)", db(2, 0, "a:E", "b:"), Remove{Nodes: []string{"b"}}, db(2, 0, "a:E"), nil},
	{"remove the last needing ends grace (as Ganesha)", db(3, 2, "a:E", "b:NE"), Remove{Nodes: []string{"b"}}, db(3, 0, "a:E"), nil},
	// Ganesha counts b as lifted and ends the grace a still needs.
	{"remove keeps a grace another needs", db(3, 2, "a:NE", "b:E"), Remove{Nodes: []string{"b"}}, db(3, 2, "a:NE"), nil},
	// Ganesha: silent no-op; nfsgw: refused until b is marked enforcing.
	{"remove a non-enforcer in grace refused", db(3, 2, "a:NE", "b:"), Remove{Nodes: []string{"b"}}, db(3, 2, "a:NE", "b:"), ErrRefused},
	{"remove unknown: all or nothing", db(2, 0, "a:E"), Remove{Nodes: []string{"a", "z"}}, db(2, 0, "a:E"), ErrNotMember},

	// Fence.
	{"fence a dead needing member", db(3, 2, "a:NE", "b:NE"), Fence{Node: "b"}, db(3, 2, "a:NE", "b:E"), nil},
	{"fence the last needing ends grace", db(3, 2, "a:E", "b:NX"), Fence{Node: "b"}, db(3, 0, "a:E", "b:EX"), nil},
	{"fence unknown", db(3, 2, "a:NE"), Fence{Node: "b"}, db(3, 2, "a:NE"), ErrNotMember},

	// Seq and Noop.
	{"seq applies in order", db(1, 0, "a:E", "b:E"), Seq{Start{Nodes: []string{"a"}}, Lift{Node: "a"}}, db(2, 0, "a:E", "b:E"), nil},
	{"seq all or nothing", db(1, 0, "a:E"), Seq{Enforce{Node: "b", Add: true}, Lift{Node: "z"}}, db(1, 0, "a:E"), ErrNotMember},
	{"noop", db(3, 2, "a:NE"), Noop{}, db(3, 2, "a:NE"), nil},
}

func TestMutations(t *testing.T) {
	for _, tc := range mutationCases {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in.Clone()
			got, err := tc.m.Apply(tc.in)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("%s: error %v, want %v", tc.m, err, tc.wantErr)
			}
			if !got.Equal(tc.want) {
				t.Fatalf("%s:\n%s want\n%s", tc.m, got.Dump(), tc.want.Dump())
			}
			if !tc.in.Equal(in) {
				t.Fatalf("%s changed its input:\n%s", tc.m, tc.in.Dump())
			}
			if err == nil {
				if cerr := got.Check(); cerr != nil {
					t.Fatalf("%s produced an invalid database: %v", tc.m, cerr)
				}
			}
		})
	}
}

func TestRefusalNamesTheNonEnforcers(t *testing.T) {
	_, err := Lift{Node: "a"}.Apply(db(3, 2, "a:NE", "c:", "b:"))
	if err == nil || !strings.Contains(err.Error(), "not enforcing: b, c") {
		t.Fatalf("%v", err)
	}
}

func TestCheck(t *testing.T) {
	many := db(2, 0)
	for i := range MaxMembers + 1 {
		many.Members[strings.Repeat("x", 1+i/26)+string(rune('a'+i%26))] = FlagEnforcing
	}
	for _, tc := range []struct {
		d  DB
		ok bool
	}{
		{db(1, 0), true},
		{db(5, 4, "a:NE"), true},
		{db(0, 0), false},
		{db(3, 3), false},
		{db(3, 4), false},
		{many, false},
	} {
		if err := tc.d.Check(); (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrCorruptDB)) {
			t.Errorf("Check(cur=%d rec=%d, %d members) = %v", tc.d.C, tc.d.R, len(tc.d.Members), err)
		}
	}
}

func TestDump(t *testing.T) {
	got := db(3, 2, "b:", "a:NE", "c:EX", "d:N").Dump()
	want := "cur=3 rec=2\n" +
		"======================================================\n" +
		"a\tNE\n" +
		"b\t  \n" +
		"c\t E\n" +
		"d\tN \n"
	if got != want {
		t.Fatalf("%q\nwant %q", got, want)
	}
}

func TestValidNodeID(t *testing.T) {
	for _, ok := range []string{"a", "gw-1.example_2", strings.Repeat("x", 63)} {
		if err := ValidNodeID(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a/b", "a:b", "é", strings.Repeat("x", 64)} {
		if err := ValidNodeID(bad); !errors.Is(err, ErrInvalidNode) {
			t.Errorf("%q accepted", bad)
		}
	}
}
