package xdr

import (
	"bytes"
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var e Encoder
	e.Uint32(7)
	e.Int64(-3)
	e.Bool(true)
	e.Opaque([]byte{1, 2, 3})
	e.String("hello")
	e.Fixed([]byte{9})
	off := e.Reserve(4)
	e.PutUint32At(off, 42)
	if e.Len()%4 != 0 {
		t.Fatalf("unaligned length %d", e.Len())
	}
	d := NewDecoder(e.Buf)
	if d.Uint32() != 7 || d.Int64() != -3 || !d.Bool() {
		t.Fatal("scalars")
	}
	if !bytes.Equal(d.Opaque(3), []byte{1, 2, 3}) || d.String(5) != "hello" || !bytes.Equal(d.Fixed(1), []byte{9}) {
		t.Fatal("opaques")
	}
	if d.Uint32() != 42 || d.Remaining() != 0 || d.Err() != nil {
		t.Fatalf("tail: %v", d.Err())
	}
}

func TestBounds(t *testing.T) {
	var e Encoder
	e.Opaque(make([]byte, 10))
	if d := NewDecoder(e.Buf); d.Opaque(9) != nil || !errors.Is(d.Err(), ErrTooLong) {
		t.Fatal("limit not enforced")
	}
	// A length larger than the input must fail without allocating.
	d := NewDecoder([]byte{0x7f, 0xff, 0xff, 0xf0})
	if d.Opaque(1<<31) != nil || !errors.Is(d.Err(), ErrShort) {
		t.Fatal("huge length accepted")
	}
	d = NewDecoder([]byte{0, 0, 0, 200})
	if d.Count(1000, 4) != 0 || !errors.Is(d.Err(), ErrShort) {
		t.Fatal("count beyond input accepted")
	}
	d = NewDecoder([]byte{0, 0, 0, 2})
	if d.Bool() || !errors.Is(d.Err(), ErrBadBool) {
		t.Fatal("bad bool accepted")
	}
	// Errors are sticky.
	d = NewDecoder([]byte{1})
	d.Uint32()
	if d.Uint64() != 0 || d.Err() == nil {
		t.Fatal("error not sticky")
	}
}
