// Package xdr is a small, allocation-conscious XDR (RFC 4506) codec used on
// the NFS hot path. The Decoder never allocates more than the input already
// holds: every length a peer sends is checked against the bytes that remain
// and against a caller-supplied bound before anything is sliced or copied.
package xdr

import (
	"encoding/binary"
	"errors"
	"math"
)

// ErrShort reports input that ends before the value being decoded.
var ErrShort = errors.New("xdr: truncated input")

// ErrTooLong reports a length or count above the bound the caller allows.
var ErrTooLong = errors.New("xdr: length exceeds limit")

// ErrBadBool reports a boolean that is neither 0 nor 1.
var ErrBadBool = errors.New("xdr: invalid boolean")

// Decoder reads XDR from a byte slice. Errors are sticky: after the first
// failure every further read returns zero values, so decoders of composite
// types can check Err once at the end.
type Decoder struct {
	buf []byte
	off int
	err error
}

// NewDecoder returns a decoder over b. Byte slices returned by the decoder
// alias b.
func NewDecoder(b []byte) *Decoder { return &Decoder{buf: b} }

// Reset points the decoder at b and clears any error.
func (d *Decoder) Reset(b []byte) { d.buf, d.off, d.err = b, 0, nil }

// Err returns the first error met, if any.
func (d *Decoder) Err() error { return d.err }

// SetErr records err unless an earlier error is already recorded.
func (d *Decoder) SetErr(err error) {
	if d.err == nil {
		d.err = err
	}
}

// Remaining is the number of undecoded bytes.
func (d *Decoder) Remaining() int { return len(d.buf) - d.off }

// Offset is the number of bytes consumed so far.
func (d *Decoder) Offset() int { return d.off }

// Rest returns the undecoded bytes without consuming them.
func (d *Decoder) Rest() []byte { return d.buf[d.off:] }

func (d *Decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.buf)-d.off {
		d.err = ErrShort
		return nil
	}
	b := d.buf[d.off : d.off+n]
	d.off += n
	return b
}

// Uint32 decodes an unsigned int.
func (d *Decoder) Uint32() uint32 {
	b := d.take(4)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

// Int32 decodes an int.
func (d *Decoder) Int32() int32 { return int32(d.Uint32()) }

// Uint64 decodes an unsigned hyper.
func (d *Decoder) Uint64() uint64 {
	b := d.take(8)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Int64 decodes a hyper.
func (d *Decoder) Int64() int64 { return int64(d.Uint64()) }

// Bool decodes a boolean, rejecting values other than 0 and 1.
func (d *Decoder) Bool() bool {
	v := d.Uint32()
	if v > 1 {
		d.SetErr(ErrBadBool)
		return false
	}
	return v == 1
}

// Fixed decodes fixed-length opaque data of n bytes (plus padding). The
// result aliases the input.
func (d *Decoder) Fixed(n int) []byte {
	b := d.take(n)
	if b == nil {
		return nil
	}
	if pad := (4 - n&3) & 3; pad != 0 {
		d.take(pad)
	}
	return b
}

// Opaque decodes variable-length opaque data of at most max bytes. The
// result aliases the input.
func (d *Decoder) Opaque(max int) []byte {
	n := d.Uint32()
	if d.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		d.err = ErrTooLong
		return nil
	}
	return d.Fixed(int(n))
}

// String decodes a string of at most max bytes. The string is copied.
func (d *Decoder) String(max int) string { return string(d.Opaque(max)) }

// Count decodes an array length and checks it against max and against the
// remaining input, given that each element takes at least minSize bytes.
func (d *Decoder) Count(max, minSize int) int {
	n := d.Uint32()
	if d.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		d.err = ErrTooLong
		return 0
	}
	if minSize > 0 && uint64(n)*uint64(minSize) > uint64(d.Remaining()) {
		d.err = ErrShort
		return 0
	}
	return int(n)
}

// Encoder appends XDR to a byte slice.
type Encoder struct {
	Buf []byte
}

// NewEncoder returns an encoder that appends to b.
func NewEncoder(b []byte) *Encoder { return &Encoder{Buf: b} }

// Len is the number of bytes encoded so far.
func (e *Encoder) Len() int { return len(e.Buf) }

// Uint32 encodes an unsigned int.
func (e *Encoder) Uint32(v uint32) { e.Buf = binary.BigEndian.AppendUint32(e.Buf, v) }

// Int32 encodes an int.
func (e *Encoder) Int32(v int32) { e.Uint32(uint32(v)) }

// Uint64 encodes an unsigned hyper.
func (e *Encoder) Uint64(v uint64) { e.Buf = binary.BigEndian.AppendUint64(e.Buf, v) }

// Int64 encodes a hyper.
func (e *Encoder) Int64(v int64) { e.Uint64(uint64(v)) }

// Bool encodes a boolean.
func (e *Encoder) Bool(v bool) {
	if v {
		e.Uint32(1)
	} else {
		e.Uint32(0)
	}
}

var zeros [4]byte

// Fixed encodes fixed-length opaque data with padding.
func (e *Encoder) Fixed(b []byte) {
	e.Buf = append(e.Buf, b...)
	if pad := (4 - len(b)&3) & 3; pad != 0 {
		e.Buf = append(e.Buf, zeros[:pad]...)
	}
}

// Opaque encodes variable-length opaque data.
func (e *Encoder) Opaque(b []byte) {
	if uint64(len(b)) > math.MaxUint32 {
		panic("xdr: opaque too long")
	}
	e.Uint32(uint32(len(b)))
	e.Fixed(b)
}

// String encodes a string.
func (e *Encoder) String(s string) {
	e.Uint32(uint32(len(s)))
	e.Buf = append(e.Buf, s...)
	if pad := (4 - len(s)&3) & 3; pad != 0 {
		e.Buf = append(e.Buf, zeros[:pad]...)
	}
}

// Reserve appends n zero bytes and returns their offset, for values such as
// lengths that are only known after what follows has been encoded.
func (e *Encoder) Reserve(n int) int {
	off := len(e.Buf)
	e.Buf = append(e.Buf, make([]byte, n)...)
	return off
}

// PutUint32At overwrites the four bytes at off.
func (e *Encoder) PutUint32At(off int, v uint32) {
	binary.BigEndian.PutUint32(e.Buf[off:], v)
}
