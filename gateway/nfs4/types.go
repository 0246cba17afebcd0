package nfs4

import (
	"nfsgw/gateway/xdr"
)

// Stateid is stateid4.
type Stateid struct {
	Seqid uint32
	Other [OtherSize]byte
}

// Special stateids (RFC 8881 section 8.2.3).
var (
	AnonStateid    = Stateid{}
	BypassStateid  = Stateid{Seqid: 0xffffffff, Other: [12]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	CurrentStateid = Stateid{Seqid: 1}
	InvalidStateid = Stateid{Seqid: 0xffffffff}
)

// IsSpecial reports whether s has an all-zero or all-one "other" field.
func (s Stateid) IsSpecial() bool {
	var zero, ones = true, true
	for _, b := range s.Other {
		if b != 0 {
			zero = false
		}
		if b != 0xff {
			ones = false
		}
	}
	return zero || ones
}

// DecodeStateid decodes a stateid4.
func DecodeStateid(d *xdr.Decoder) Stateid {
	var s Stateid
	s.Seqid = d.Uint32()
	copy(s.Other[:], d.Fixed(OtherSize))
	return s
}

// Encode encodes s.
func (s Stateid) Encode(e *xdr.Encoder) {
	e.Uint32(s.Seqid)
	e.Buf = append(e.Buf, s.Other[:]...)
}

// MaxBitmapWords bounds the bitmaps a peer may send; attribute numbers
// defined so far fit in three words.
const MaxBitmapWords = 8

// Bitmap is bitmap4, held in a fixed array to avoid allocation.
type Bitmap struct {
	W [MaxBitmapWords]uint32
	N int // number of words significant on the wire
}

// Has reports whether bit n is set.
func (b *Bitmap) Has(n int) bool {
	w := n / 32
	return w < MaxBitmapWords && b.W[w]&(1<<(n%32)) != 0
}

// Set sets bit n.
func (b *Bitmap) Set(n int) {
	w := n / 32
	b.W[w] |= 1 << (n % 32)
	if w+1 > b.N {
		b.N = w + 1
	}
}

// Clear clears bit n.
func (b *Bitmap) Clear(n int) {
	w := n / 32
	if w < MaxBitmapWords {
		b.W[w] &^= 1 << (n % 32)
	}
}

// IsZero reports whether no bit is set.
func (b *Bitmap) IsZero() bool {
	for i := 0; i < b.N; i++ {
		if b.W[i] != 0 {
			return false
		}
	}
	return true
}

// And returns the intersection of b and o.
func (b Bitmap) And(o *Bitmap) Bitmap {
	var r Bitmap
	for i := 0; i < MaxBitmapWords; i++ {
		r.W[i] = b.W[i] & o.W[i]
		if r.W[i] != 0 {
			r.N = i + 1
		}
	}
	return r
}

// Bits returns the numbers of the set bits in ascending order.
func (b *Bitmap) Bits() []int {
	var out []int
	for i := 0; i < b.N; i++ {
		for j := 0; j < 32; j++ {
			if b.W[i]&(1<<j) != 0 {
				out = append(out, i*32+j)
			}
		}
	}
	return out
}

// DecodeBitmap decodes a bitmap4. Words beyond MaxBitmapWords must be zero
// since no attribute is defined there; anything else is an error.
func DecodeBitmap(d *xdr.Decoder) Bitmap {
	var b Bitmap
	n := d.Count(64, 4)
	for i := 0; i < n; i++ {
		v := d.Uint32()
		if i < MaxBitmapWords {
			b.W[i] = v
		}
	}
	if n > MaxBitmapWords {
		n = MaxBitmapWords
	}
	b.N = n
	return b
}

// Encode encodes b without trailing zero words.
func (b *Bitmap) Encode(e *xdr.Encoder) {
	n := b.N
	for n > 0 && b.W[n-1] == 0 {
		n--
	}
	e.Uint32(uint32(n))
	for i := 0; i < n; i++ {
		e.Uint32(b.W[i])
	}
}

// Time is nfstime4.
type Time struct {
	Sec  int64
	Nsec uint32
}

// DecodeTime decodes an nfstime4.
func DecodeTime(d *xdr.Decoder) Time {
	return Time{Sec: d.Int64(), Nsec: d.Uint32()}
}

// Encode encodes t.
func (t Time) Encode(e *xdr.Encoder) {
	e.Int64(t.Sec)
	e.Uint32(t.Nsec)
}
