package recfmt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"nfsgw/recovery"
)

func TestValueRoundTrip(t *testing.T) {
	for _, r := range []recovery.Record{
		{Owner: []byte{0}},
		{Owner: []byte("Linux NFSv4.1 host"), Principal: "sys:1000", Minor: 1},
		{Owner: bytes.Repeat([]byte{0xff}, recovery.MaxOwnerLen), Principal: strings.Repeat("\x00", recovery.MaxPrincipalLen), Minor: 1<<32 - 1},
	} {
		v := EncodeValue(r)
		got, err := DecodeValue(r.Owner, v)
		if err != nil {
			t.Fatalf("%+v: %v", r, err)
		}
		if !bytes.Equal(got.Owner, r.Owner) || got.Principal != r.Principal || got.Minor != r.Minor {
			t.Fatalf("got %+v, want %+v", got, r)
		}
	}
}

// TestValueFormat pins the encoding: values already on disk (and, later,
// in RADOS) must stay readable.
func TestValueFormat(t *testing.T) {
	got := EncodeValue(recovery.Record{Owner: []byte("x"), Principal: "sys:0", Minor: 300})
	want := []byte{1, 0xac, 0x02, 5, 's', 'y', 's', ':', '0'}
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding %x, want %x", got, want)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := EncodeValue(recovery.Record{Owner: []byte("x"), Principal: "sys:0", Minor: 1})
	for name, c := range map[string]struct{ owner, v []byte }{
		"empty value":     {[]byte("x"), nil},
		"version 0":       {[]byte("x"), append([]byte{0}, good[1:]...)},
		"version 2":       {[]byte("x"), append([]byte{2}, good[1:]...)},
		"truncated":       {[]byte("x"), good[:len(good)-1]},
		"trailing":        {[]byte("x"), append(good, 0)},
		"only version":    {[]byte("x"), good[:1]},
		"minor too big":   {[]byte("x"), []byte{1, 0x80, 0x80, 0x80, 0x80, 0x10, 0}},
		"principal limit": {[]byte("x"), append([]byte{1, 0, 0x81, 0x08}, make([]byte, 1025)...)},
		"empty owner":     {nil, good},
		"owner too long":  {make([]byte, recovery.MaxOwnerLen+1), good},
	} {
		if _, err := DecodeValue(c.owner, c.v); !errors.Is(err, recovery.ErrCorrupt) {
			t.Errorf("%s: %v, want ErrCorrupt", name, err)
		}
	}
}

func TestEpochNames(t *testing.T) {
	for _, e := range []uint64{0, 1, 0x2a, 1<<64 - 1} {
		name := EpochName(e)
		if len(name) != 20 {
			t.Errorf("%q: length %d", name, len(name))
		}
		if got, ok := ParseEpochName(name); !ok || got != e {
			t.Errorf("ParseEpochName(%q) = %d, %v", name, got, ok)
		}
	}
	if EpochName(2) != "rec-0000000000000002" {
		t.Errorf("EpochName(2) = %q, want Ganesha's spelling", EpochName(2))
	}
	for _, bad := range []string{"", "rec-", "rec-2", "rec-000000000000000A", "rec-00000000000000002", "meta", "rec-000000000000000g", "REC-0000000000000002", "rec-+000000000000002"} {
		if _, ok := ParseEpochName(bad); ok {
			t.Errorf("ParseEpochName(%q) accepted", bad)
		}
	}
}
