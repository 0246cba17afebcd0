package fh

import (
	"bytes"
	"encoding/hex"
	"testing"
)

// TestGaneshaLayout checks the bytes against a handle NFS-Ganesha 4.3 with
// FSAL_CEPH handed out (see docs/cephfs.md): inode 0x10000000000,
// snapshot CEPH_NOSNAP, fscid 0, export id 1.
func TestGaneshaLayout(t *testing.T) {
	key, _ := hex.DecodeString("0000000000010000" + "feffffffffffffff" + "0000000000000000")
	want, _ := hex.DecodeString("43000001180000000000010000feffffffffffffff0000000000000000")
	got := Encode(1, key)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x want %x", got, want)
	}
	id, k, err := Decode(got)
	if err != nil || id != 1 || !bytes.Equal(k, key) {
		t.Fatalf("decode: %d %x %v", id, k, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := Encode(3, []byte{1, 2, 3})
	for name, h := range map[string][]byte{
		"empty":       nil,
		"short":       good[:4],
		"version":     append([]byte{0x42}, good[1:]...),
		"flags":       append([]byte{0x43, 1}, good[2:]...),
		"length":      append(append([]byte{}, good[:4]...), 9, 1, 2, 3),
		"truncated":   good[:len(good)-1],
		"over fhsize": Encode(1, make([]byte, 130)),
	} {
		if _, _, err := Decode(h); err == nil {
			t.Errorf("%s: accepted %x", name, h)
		}
	}
}
