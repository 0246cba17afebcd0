package radosstore

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"nfsgw/recovery"
)

func TestMetaRoundTrip(t *testing.T) {
	many := meta{epoch: MaxUnendedEpochs + 1}
	for e := uint64(1); e <= MaxUnendedEpochs; e++ {
		many.unended = append(many.unended, e)
	}
	for _, m := range []meta{{epoch: 1}, {epoch: 7, ended: true}, {epoch: 1 << 60, unended: []uint64{1, 5, 1 << 59}}, many} {
		got, err := decodeMeta(m.encode())
		if err != nil || got.epoch != m.epoch || got.ended != m.ended || !slices.Equal(got.unended, m.unended) {
			t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
		}
	}
	if len(many.encode()) != metaMaxLen {
		t.Fatalf("largest metadata %d bytes, metaMaxLen %d", len(many.encode()), metaMaxLen)
	}
}

func TestObjectNames(t *testing.T) {
	if got := ObjectName(0x2a, "gw-1"); got != "rec-000000000000002a:gw-1" {
		t.Fatalf("ObjectName = %q", got)
	}
	for name, want := range map[string]bool{
		"rec-000000000000002a:gw-1":  true,
		"rec-000000000000002a:gw-12": false,
		"rec-000000000000002a:gw":    false,
		"rec-000000000000002A:gw-1":  false,
		"rec-2a:gw-1":                false,
		"nfsgw.rec.gw-1":             false,
		"grace":                      false,
	} {
		if _, ok := parseObjectName(name, "gw-1"); ok != want {
			t.Errorf("parseObjectName(%q) ok = %v", name, ok)
		}
	}
	if err := CheckNode(strings.Repeat("x", 1<<20)); err == nil || len(err.Error()) > 200 {
		t.Errorf("CheckNode of 1 MiB: %.300v", err)
	}
}

// FuzzDecode checks that no metadata or omap entry makes decoding panic,
// that metadata that decodes re-encodes to the same bytes (one encoding
// per state), and that errors stay short.
func FuzzDecode(f *testing.F) {
	f.Add(meta{epoch: 3, unended: []uint64{1, 2}}.encode(), "61", []byte{1, 0, 0})
	f.Add([]byte("nfsgwrec"), "zz", []byte{})
	f.Add([]byte{}, "6162", []byte{1, 0x80, 0x00, 0})
	f.Fuzz(func(t *testing.T, b []byte, key string, val []byte) {
		if m, err := decodeMeta(b); err == nil {
			if !slices.Equal(m.encode(), b) {
				t.Fatalf("%x decodes to %+v, which encodes to %x", b, m, m.encode())
			}
		} else if !errors.Is(err, recovery.ErrCorrupt) || len(err.Error()) > 300 {
			t.Fatalf("decodeMeta: %v", err)
		}
		if r, err := decodeEntry(key, val); err == nil {
			// Keys are canonical; values need not be (recfmt accepts
			// overlong varints) but must mean the same once rewritten.
			again, err := decodeEntry(encodeKey(r.Owner), []byte(encodeValue(r)))
			if encodeKey(r.Owner) != key || err != nil || again.Principal != r.Principal || again.Minor != r.Minor {
				t.Fatalf("entry %q=%x: %+v, rewritten %+v, %v", key, val, r, again, err)
			}
		} else if !errors.Is(err, recovery.ErrCorrupt) || len(err.Error()) > 600 {
			t.Fatalf("decodeEntry: %.700v", err)
		}
	})
}
