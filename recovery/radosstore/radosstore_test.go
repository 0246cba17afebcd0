//go:build !noceph

package radosstore

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/internal/radosconn"
	"nfsgw/recovery"
	"nfsgw/recovery/internal/recfmt"
	"nfsgw/recovery/storetest"
)

var bg = context.Background()

func openStore(t *testing.T, ioctx *rados.IOContext, node string) *Store {
	t.Helper()
	s, err := Open(bg, ioctx, node)
	if err != nil {
		t.Fatalf("Open(%s): %v", node, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t *testing.T, old recovery.Store) recovery.Store {
	t.Helper()
	s := old.(*Store)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return openStore(t, s.ioctx, s.node)
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) recovery.Store {
		_, ioctx, _ := radosconn.TestIOContext(t)
		return openStore(t, ioctx, "node1")
	}, reopen)
}

func mustBegin(t *testing.T, s recovery.Store, epoch uint64) []recovery.Record {
	t.Helper()
	rs, err := s.Begin(bg, epoch)
	if err != nil {
		t.Fatalf("Begin(%d): %v", epoch, err)
	}
	return rs
}

func mustAdd(t *testing.T, s recovery.Store, owners ...string) {
	t.Helper()
	for _, o := range owners {
		if err := s.Add(bg, recovery.Record{Owner: []byte(o), Principal: "sys:0"}); err != nil {
			t.Fatalf("Add(%q): %v", o, err)
		}
	}
}

func owners(rs []recovery.Record) []string {
	var os []string
	for _, r := range rs {
		os = append(os, string(r.Owner))
	}
	slices.Sort(os)
	return os
}

func objects(t *testing.T, ioctx *rados.IOContext) []string {
	t.Helper()
	var names []string
	if err := ioctx.ListObjects(func(oid string) { names = append(names, oid) }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return names
}

// TestLayout pins the object names and omap entries, which other tools
// (ceph's rados command, nfsgwctl) read.
func TestLayout(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	s := openStore(t, ioctx, "gw-1")
	want := func(names ...string) {
		t.Helper()
		if got := objects(t, ioctx); !slices.Equal(got, names) {
			t.Fatalf("objects %q, want %q", got, names)
		}
	}
	want()
	mustBegin(t, s, 1)
	mustAdd(t, s, "a\x00b")
	want("nfsgw.rec.gw-1", "rec-0000000000000001:gw-1")
	omap, err := ioctx.GetAllOmapValues("rec-0000000000000001:gw-1", "", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	wantVal := recfmt.EncodeValue(recovery.Record{Owner: []byte("a\x00b"), Principal: "sys:0"})
	if len(omap) != 2 || string(omap["610062"]) != string(wantVal) || string(omap["nfsgw.rec"]) != "\x01" {
		t.Fatalf("omap %q", omap)
	}
	s2 := reopen(t, s)
	mustBegin(t, s2, 0x2a)
	mustBegin(t, s2, 0x2b) // a live epoch change without EndGrace: all kept
	want("nfsgw.rec.gw-1", "rec-0000000000000001:gw-1", "rec-000000000000002a:gw-1", "rec-000000000000002b:gw-1")
	if n, epochs, err := Count(bg, ioctx, "gw-1"); err != nil || n != 1 || !slices.Equal(epochs, []uint64{1, 0x2a, 0x2b}) {
		t.Fatalf("Count = %d, %v, %v", n, epochs, err)
	}
	if err := s2.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	want("nfsgw.rec.gw-1", "rec-000000000000002b:gw-1")
}

// TestCrashedBegin leaves the object a Begin creates before it commits,
// with records in it, as a crash would (with records, as if an earlier
// life had used it): the reclaim set must not see it, a Begin of its
// epoch must empty it, and EndGrace must remove it.
func TestCrashedBegin(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	s := openStore(t, ioctx, "n")
	mustBegin(t, s, 1)
	mustAdd(t, s, "a")
	for _, e := range []uint64{2, 7} {
		obj := ObjectName(e, "n")
		if err := resetObject(bg, ioctx, obj, false); err != nil {
			t.Fatal(err)
		}
		if err := ioctx.SetOmap(obj, map[string][]byte{encodeKey([]byte("ghost")): []byte(encodeValue(recovery.Record{Owner: []byte("ghost")}))}); err != nil {
			t.Fatal(err)
		}
	}
	s2 := reopen(t, s)
	if rs, err := s2.Peek(bg); err != nil || !slices.Equal(owners(rs), []string{"a"}) {
		t.Fatalf("Peek = %q, %v", owners(rs), err)
	}
	if got := owners(mustBegin(t, s2, 2)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("Begin(2) = %q", got)
	}
	mustAdd(t, s2, "b")
	if err := s2.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, ioctx); !slices.Equal(got, []string{"nfsgw.rec.n", "rec-0000000000000002:n"}) {
		t.Fatalf("after EndGrace: %q", got)
	}
	s3 := reopen(t, s2)
	if got := owners(mustBegin(t, s3, 3)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Begin(3) = %q", got)
	}
}

// ganeshaObject writes a record object as NFS-Ganesha's rados_cluster
// backend does.
func ganeshaObject(t *testing.T, ioctx *rados.IOContext, obj string) {
	t.Helper()
	if err := ioctx.SetOmap(obj, map[string][]byte{
		"6917529027641081857": []byte("127.0.0.1-(26:Linux NFSv4.1 client.example)"),
		"1234":                []byte("10.0.0.2-(8:somehost)"),
	}); err != nil {
		t.Fatal(err)
	}
}

func wantForeign(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, recovery.ErrCorrupt) || !strings.Contains(err.Error(), "foreign") || !strings.Contains(err.Error(), "Ganesha") {
		t.Fatalf("%s: %v, want ErrCorrupt saying it is a foreign (Ganesha) object", what, err)
	}
}

func TestForeignObjects(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	ganesha := ObjectName(1, "gan1")
	ganeshaObject(t, ioctx, ganesha)
	before, err := ioctx.GetAllOmapValues(ganesha, "", "", 100)
	if err != nil {
		t.Fatal(err)
	}

	// A fresh node whose first epoch's name is taken: Begin must not
	// empty the object.
	s := openStore(t, ioctx, "gan1")
	_, err = s.Begin(bg, 1)
	wantForeign(t, "Begin over a Ganesha object", err)
	if last, err := s.LastEpoch(bg); err != nil || last != 0 {
		t.Fatalf("LastEpoch after the refused Begin = %d, %v", last, err)
	}

	// Metadata that names it (a node that began epoch 1 and whose object
	// Ganesha then overwrote): every read refuses it.
	if err := writeMeta(bg, ioctx, "gan1", nil, false, meta{epoch: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = s.Peek(bg)
	wantForeign(t, "Peek", err)
	_, err = s.Begin(bg, 2)
	wantForeign(t, "Begin(2)", err)
	_, err = s.Begin(bg, 1)
	wantForeign(t, "Begin(1)", err)
	_, _, err = Count(bg, ioctx, "gan1")
	wantForeign(t, "Count", err)
	err = DeleteAll(bg, ioctx, "gan1")
	if !errors.Is(err, recovery.ErrCorrupt) || !strings.Contains(err.Error(), ganesha) {
		t.Fatalf("DeleteAll: %v, want ErrCorrupt naming %s", err, ganesha)
	}
	// DeleteAll removed what was nfsgw's and left the foreign object.
	if got := objects(t, ioctx); !slices.Equal(got, []string{ganesha}) {
		t.Fatalf("objects after DeleteAll %q", got)
	}
	after, err := ioctx.GetAllOmapValues(ganesha, "", "", 100)
	if err != nil || len(after) != len(before) {
		t.Fatalf("Ganesha's object changed: %q, %v", after, err)
	}

	// EndGrace's sweep of leftovers leaves a foreign object alone too.
	s2 := openStore(t, ioctx, "gan1")
	mustBegin(t, s2, 2)
	if err := s2.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, ioctx); !slices.Equal(got, []string{"nfsgw.rec.gan1", ganesha, "rec-0000000000000002:gan1"}) {
		t.Fatalf("objects after EndGrace %q", got)
	}
}

// TestCorrupt damages the metadata and record objects: every case must
// give ErrCorrupt with a short message, never a crash or a misread.
func TestCorrupt(t *testing.T) {
	good := meta{epoch: 3, unended: []uint64{1, 2}}.encode()
	patch := func(off int, b ...byte) []byte {
		c := slices.Clone(good)
		copy(c[off:], b)
		return c
	}
	metas := map[string][]byte{
		"empty":             {},
		"text":              []byte("hello"),
		"bad magic":         patch(0, 'X'),
		"version 2":         patch(8, 2),
		"unknown flag":      patch(9, 4),
		"ended with P":      patch(9, 1),
		"count too big":     patch(10, 0xff, 0xff),
		"count mismatch":    patch(10, 0, 3),
		"epoch 0":           patch(12, 0, 0, 0, 0, 0, 0, 0, 0),
		"unended unordered": patch(20, 0, 0, 0, 0, 0, 0, 0, 2),
		"unended too new":   patch(28, 0, 0, 0, 0, 0, 0, 0, 9),
		"trailing":          append(slices.Clone(good), 0),
		"too large":         make([]byte, metaMaxLen+100),
	}
	for name, content := range metas {
		t.Run("meta/"+name, func(t *testing.T) {
			_, ioctx, _ := radosconn.TestIOContext(t)
			write := func() error { return ioctx.WriteFull(MetaName("n"), content) }
			if len(content) == 0 {
				write = func() error { return ioctx.Create(MetaName("n"), rados.CreateExclusive) }
			}
			if err := write(); err != nil {
				t.Fatal(err)
			}
			_, err := Open(bg, ioctx, "n")
			checkCorrupt(t, err)
			_, _, err = Count(bg, ioctx, "n")
			checkCorrupt(t, err)
		})
	}

	long := strings.Repeat("ab", recovery.MaxOwnerLen+1)
	entries := map[string]map[string][]byte{
		"value version 9":      {"61": {9, 0, 0}},
		"value truncated":      {"61": {1, 0, 5, 's'}},
		"value empty":          {"61": {}},
		"value too long":       {"61": append([]byte{1, 0, 0x90, 0x10}, make([]byte, 2048)...)},
		"key not hex":          {"zz": {1, 0, 0}},
		"key uppercase hex":    {"6A": {1, 0, 0}},
		"key odd length":       {"616": {1, 0, 0}},
		"key too long":         {long: {1, 0, 0}},
		"marker wrong version": {markerKey: {2}},
	}
	for name, omap := range entries {
		t.Run("records/"+name, func(t *testing.T) {
			_, ioctx, _ := radosconn.TestIOContext(t)
			s := openStore(t, ioctx, "n")
			mustBegin(t, s, 1)
			mustAdd(t, s, "fine")
			if err := ioctx.SetOmap(ObjectName(1, "n"), omap); err != nil {
				t.Fatal(err)
			}
			_, err := s.Peek(bg)
			checkCorrupt(t, err)
			_, err = reopen(t, s).Begin(bg, 2)
			checkCorrupt(t, err)
		})
	}

	t.Run("records/missing object", func(t *testing.T) {
		_, ioctx, _ := radosconn.TestIOContext(t)
		s := openStore(t, ioctx, "n")
		mustBegin(t, s, 1)
		if err := ioctx.Delete(ObjectName(1, "n")); err != nil {
			t.Fatal(err)
		}
		_, err := reopen(t, s).Peek(bg)
		checkCorrupt(t, err)
	})
}

func checkCorrupt(t *testing.T, err error) {
	t.Helper()
	if !errors.Is(err, recovery.ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
	if len(err.Error()) > 600 {
		t.Fatalf("message of %d bytes: %.200s...", len(err.Error()), err)
	}
	t.Log(err)
}

func TestDeleteAllAndCount(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	count := func(node string, wantN int, wantEpochs ...uint64) {
		t.Helper()
		n, epochs, err := Count(bg, ioctx, node)
		if err != nil || n != wantN || !slices.Equal(epochs, wantEpochs) {
			t.Fatalf("Count(%s) = %d, %v, %v; want %d, %v", node, n, epochs, err, wantN, wantEpochs)
		}
	}
	count("a", 0)
	sa, sb := openStore(t, ioctx, "a"), openStore(t, ioctx, "b")
	mustBegin(t, sa, 1)
	mustAdd(t, sa, "x", "y")
	sa = reopen(t, sa).(*Store)
	mustBegin(t, sa, 2)
	mustAdd(t, sa, "y", "z")
	mustBegin(t, sb, 1)
	mustAdd(t, sb, "w")
	count("a", 3, 1, 2) // x, y, z: distinct clients
	count("b", 1, 1)

	if err := DeleteAll(bg, ioctx, "a"); err != nil {
		t.Fatal(err)
	}
	if err := DeleteAll(bg, ioctx, "a"); err != nil {
		t.Fatalf("second DeleteAll: %v", err)
	}
	count("a", 0)
	count("b", 1, 1)
	if got := objects(t, ioctx); !slices.Equal(got, []string{"nfsgw.rec.b", "rec-0000000000000001:b"}) {
		t.Fatalf("objects %q", got)
	}
	// The fenced node's running store fails rather than recreating its
	// objects.
	if err := sa.Add(bg, recovery.Record{Owner: []byte("late")}); !errors.Is(err, ErrFenced) {
		t.Fatalf("Add after DeleteAll = %v, want ErrFenced", err)
	}
	if err := sa.EndGrace(bg); !errors.Is(err, ErrFenced) {
		t.Fatalf("EndGrace after DeleteAll = %v, want ErrFenced", err)
	}
	if _, err := sa.Begin(bg, 3); !errors.Is(err, ErrFenced) {
		t.Fatalf("Begin after DeleteAll = %v, want ErrFenced", err)
	}
	if got := objects(t, ioctx); len(got) != 2 {
		t.Fatalf("objects after the fenced store's writes %q", got)
	}
	// A new store of the node starts from nothing.
	sa2 := openStore(t, ioctx, "a")
	if rs := mustBegin(t, sa2, 5); len(rs) != 0 {
		t.Fatalf("reclaim set after DeleteAll: %q", owners(rs))
	}

	for _, bad := range []string{"", "a:b", "a/b", "ä", strings.Repeat("n", 64), "a b"} {
		if err := DeleteAll(bg, ioctx, bad); err == nil {
			t.Errorf("DeleteAll(%q) accepted", bad)
		}
		if _, _, err := Count(bg, ioctx, bad); err == nil {
			t.Errorf("Count(%q) accepted", bad)
		}
		if _, err := Open(bg, ioctx, bad); err == nil {
			t.Errorf("Open(%q) accepted", bad)
		}
	}
	if _, err := Open(bg, ioctx, strings.Repeat("n", 63)); err != nil {
		t.Errorf("63-byte node id: %v", err)
	}
}

// TestTwoNodes runs two nodes in one namespace: neither sees, ends or
// removes the other's records.
func TestTwoNodes(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	s1, s2 := openStore(t, ioctx, "node1"), openStore(t, ioctx, "node2")
	mustBegin(t, s1, 1)
	mustBegin(t, s2, 1)
	mustAdd(t, s1, "one")
	mustAdd(t, s2, "two")
	r1, r2 := reopen(t, s1), reopen(t, s2)
	if got := owners(mustBegin(t, r1, 2)); !slices.Equal(got, []string{"one"}) {
		t.Fatalf("node1 reclaim set %q", got)
	}
	if err := r1.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	// node2's epoch 1 object survives node1's EndGrace.
	if got := owners(mustBegin(t, r2, 2)); !slices.Equal(got, []string{"two"}) {
		t.Fatalf("node2 reclaim set %q", got)
	}
	if rs, err := r1.Peek(bg); err != nil || len(rs) != 0 {
		t.Fatalf("node1 Peek = %q, %v", owners(rs), err)
	}
	// A node id that is a prefix of another's is still another node.
	s3 := openStore(t, ioctx, "node")
	if rs := mustBegin(t, s3, 9); len(rs) != 0 {
		t.Fatalf("node reclaim set %q", owners(rs))
	}
	if err := s3.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	if n, _, err := Count(bg, ioctx, "node2"); err != nil || n != 1 {
		t.Fatalf("Count(node2) = %d, %v", n, err)
	}
}

// TestSameNodeTwice runs two stores with one node id, as two gateways
// misconfigured with the same id would: the metadata compare makes the
// second writer fail instead of overwriting.
func TestSameNodeTwice(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	a, b := openStore(t, ioctx, "n"), openStore(t, ioctx, "n")
	mustBegin(t, a, 1)
	mustBegin(t, b, 2)
	if err := a.EndGrace(bg); !errors.Is(err, recovery.ErrLocked) {
		t.Fatalf("EndGrace of the older store = %v, want ErrLocked", err)
	}
	// A metadata write racing another: the compare fails.
	m, raw, _, err := readMeta(ioctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeMeta(bg, ioctx, "n", raw, true, meta{epoch: m.epoch, ended: true}); err != nil {
		t.Fatal(err)
	}
	if err := writeMeta(bg, ioctx, "n", raw, true, meta{epoch: m.epoch + 1}); !errors.Is(err, recovery.ErrLocked) {
		t.Fatalf("write against stale content = %v, want ErrLocked", err)
	}
	if err := writeMeta(bg, ioctx, "n", nil, false, meta{epoch: 1}); !errors.Is(err, recovery.ErrLocked) {
		t.Fatalf("exclusive create over existing metadata = %v, want ErrLocked", err)
	}
}

func TestTooManyUnendedEpochs(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	m := meta{epoch: MaxUnendedEpochs + 1}
	for e := uint64(1); e <= MaxUnendedEpochs; e++ {
		m.unended = append(m.unended, e)
	}
	if err := writeMeta(bg, ioctx, "n", nil, false, m); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, ioctx, "n")
	if _, err := s.Begin(bg, m.epoch+1); err == nil || !strings.Contains(err.Error(), "never ended") {
		t.Fatalf("Begin past the limit = %v", err)
	}
	if got, _, _, err := readMeta(ioctx, "n"); err != nil || got.epoch != m.epoch || !slices.Equal(got.unended, m.unended) {
		t.Fatalf("metadata changed: epoch %d, %d unended, %v", got.epoch, len(got.unended), err)
	}
}

// TestCrashedEndGrace stops an EndGrace right after its commit point (the
// metadata write), before the ended epochs' objects are removed: they must
// no longer count, and the next EndGrace must remove them.
func TestCrashedEndGrace(t *testing.T) {
	_, ioctx, _ := radosconn.TestIOContext(t)
	s := openStore(t, ioctx, "n")
	mustBegin(t, s, 1)
	mustAdd(t, s, "a")
	s2 := reopen(t, s)
	mustBegin(t, s2, 2)
	mustAdd(t, s2, "b")
	_, raw, _, err := readMeta(ioctx, "n")
	if err != nil {
		t.Fatal(err)
	}
	if err := writeMeta(bg, ioctx, "n", raw, true, meta{epoch: 2, ended: true}); err != nil {
		t.Fatal(err)
	}
	s3 := reopen(t, s2)
	if rs, err := s3.Peek(bg); err != nil || !slices.Equal(owners(rs), []string{"b"}) {
		t.Fatalf("Peek = %q, %v", owners(rs), err)
	}
	if got := owners(mustBegin(t, s3, 3)); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("Begin(3) = %q", got)
	}
	if err := s3.EndGrace(bg); err != nil {
		t.Fatal(err)
	}
	if got := objects(t, ioctx); !slices.Equal(got, []string{"nfsgw.rec.n", "rec-0000000000000003:n"}) {
		t.Fatalf("objects after EndGrace %q", got)
	}
}
