package compound

import (
	"bytes"
	"testing"

	"nfsgw/gateway/fh"
	"nfsgw/gateway/fsal"
)

// Handles built in the request's arena stay what they were when later
// handles are built, even past the arena's end, and appending to one never
// overwrites the next.
func TestAppendFHKeepsEarlierHandles(t *testing.T) {
	var r request
	var got [][]byte
	for i := range 40 { // 40 × 25 bytes: several arenas
		key := fsal.Handle(bytes.Repeat([]byte{byte(i)}, 20))
		got = append(got, r.appendFH(uint16(i), key))
	}
	for i, h := range got {
		if want := fh.Encode(uint16(i), bytes.Repeat([]byte{byte(i)}, 20)); !bytes.Equal(h, want) || cap(h) != len(h) {
			t.Fatalf("handle %d = %x (cap %d), want %x", i, h, cap(h), want)
		}
	}
	_ = append(got[0], 0xff)
	if got[1][0] != fh.Version {
		t.Fatal("appending to a handle overwrote the next one")
	}
}
