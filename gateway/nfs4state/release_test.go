package nfs4state

import (
	"sync/atomic"
	"testing"

	"nfsgw/gateway/nfs4"
)

// TestReleaseWhere: the states on the matched handles go, their backend
// files are closed; the others stay.
func TestReleaseWhere(t *testing.T) {
	m := NewManager(Config{})
	c, _ := confirmed41(t, m, "c1")
	var closed atomic.Int32
	files := []string{"gone-1", "gone-2", "kept"}
	var sids []nfs4.Stateid
	for _, f := range files {
		_, sid, st, _ := m.Open(OpenRequest{Owner: c.OpenOwner("o-" + f), FileKey: f, FH: f,
			Access: nfs4.ShareAccessBoth, File: fakeFile{&closed}})
		mustStatus(t, "open "+f, st, nfs4.OK)
		sids = append(sids, sid)
	}
	if n := m.ReleaseWhere(func(fh string) bool { return fh != "kept" }); n != 2 {
		t.Fatalf("released %d states, want 2", n)
	}
	if closed.Load() != 2 {
		t.Fatalf("%d backend files closed, want 2", closed.Load())
	}
	for i, f := range files {
		_, st := m.LookupState(sids[i], f, 1)
		if (st == nfs4.OK) != (f == "kept") {
			t.Errorf("%s: stateid lookup status %d", f, st)
		}
	}
	if m.HasOpens("gone-1") || !m.HasOpens("kept") {
		t.Error("opens left on a released file, or gone from a kept one")
	}
}
