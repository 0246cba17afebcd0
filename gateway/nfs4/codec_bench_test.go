package nfs4

// These benchmarks compare github.com/rasky/go-xdr (reflection based) with
// the hand-written codec in gateway/xdr on the three hottest shapes of the
// COMPOUND path: the arguments of PUTFH+WRITE(4 KiB), the reply of a
// READ(4 KiB) and the reply of a GETATTR. Results are in docs/benchmarks.md.

import (
	"bytes"
	"testing"

	rxdr "github.com/rasky/go-xdr/xdr2"

	"nfsgw/gateway/xdr"
)

type rStateid struct {
	Seqid uint32
	Other [12]byte
}

type rWriteCompound struct {
	Tag     string
	Minor   uint32
	NumOps  uint32
	OpPutFH uint32
	FH      []byte
	OpWrite uint32
	Stateid rStateid
	Offset  uint64
	Stable  uint32
	Data    []byte
}

type rReadReply struct {
	Status uint32
	Tag    string
	NumRes uint32
	Op     uint32
	OpStat uint32
	EOF    bool
	Data   []byte
}

type rAttrs struct {
	Type      uint32
	Change    uint64
	Size      uint64
	Fsid      [2]uint64
	Fileid    uint64
	Mode      uint32
	Nlink     uint32
	Owner     string
	Group     string
	SpaceUsed uint64
	Atime     [3]uint32
	Mtime     [3]uint32
	Ctime     [3]uint32
}

type rGetattrReply struct {
	Status uint32
	Tag    string
	NumRes uint32
	Op     uint32
	OpStat uint32
	Mask   []uint32
	Vals   []byte
}

var (
	benchFH   = bytes.Repeat([]byte{7}, 29)
	benchData = bytes.Repeat([]byte{1}, 4096)
)

func writeArgsBytes() []byte {
	var e xdr.Encoder
	e.String("")
	e.Uint32(0)
	e.Uint32(2)
	e.Uint32(OpPutFH)
	e.Opaque(benchFH)
	e.Uint32(OpWrite)
	Stateid{Seqid: 1}.Encode(&e)
	e.Uint64(0)
	e.Uint32(Unstable)
	e.Opaque(benchData)
	return e.Buf
}

func BenchmarkDecodeWriteArgs(b *testing.B) {
	in := writeArgsBytes()
	b.Run("rasky", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var v rWriteCompound
			if _, err := rxdr.Unmarshal(bytes.NewReader(in), &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		var d xdr.Decoder
		for i := 0; i < b.N; i++ {
			d.Reset(in)
			d.Opaque(MaxTagLen)
			d.Uint32()
			d.Uint32()
			d.Uint32()
			d.Opaque(FHSize)
			d.Uint32()
			DecodeStateid(&d)
			d.Uint64()
			d.Uint32()
			if len(d.Opaque(1<<20)) != 4096 || d.Err() != nil {
				b.Fatal("decode")
			}
		}
	})
}

func BenchmarkEncodeReadReply(b *testing.B) {
	b.Run("rasky", func(b *testing.B) {
		b.ReportAllocs()
		var buf bytes.Buffer
		for i := 0; i < b.N; i++ {
			buf.Reset()
			if _, err := rxdr.Marshal(&buf, &rReadReply{NumRes: 1, Op: OpRead, Data: benchData}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		e := xdr.Encoder{Buf: make([]byte, 0, 8192)}
		for i := 0; i < b.N; i++ {
			e.Buf = e.Buf[:0]
			e.Uint32(uint32(OK))
			e.String("")
			e.Uint32(1)
			e.Uint32(OpRead)
			e.Uint32(uint32(OK))
			e.Bool(false)
			e.Opaque(benchData)
		}
	})
}

func BenchmarkEncodeGetattrReply(b *testing.B) {
	attrs := rAttrs{Type: NF4REG, Change: 1, Size: 4096, Fileid: 12, Mode: 0644, Nlink: 1, Owner: "1000", Group: "1000", SpaceUsed: 4096}
	var mask Bitmap
	for _, a := range []int{AttrType, AttrChange, AttrSize, AttrFsid, AttrFileid, AttrMode, AttrNumlinks,
		AttrOwner, AttrOwnerGroup, AttrSpaceUsed, AttrTimeAccess, AttrTimeMetadata, AttrTimeModify} {
		mask.Set(a)
	}
	b.Run("rasky", func(b *testing.B) {
		b.ReportAllocs()
		var vals, buf bytes.Buffer
		for i := 0; i < b.N; i++ {
			vals.Reset()
			buf.Reset()
			if _, err := rxdr.Marshal(&vals, &attrs); err != nil {
				b.Fatal(err)
			}
			r := rGetattrReply{NumRes: 1, Op: OpGetattr, Mask: mask.W[:mask.N], Vals: vals.Bytes()}
			if _, err := rxdr.Marshal(&buf, &r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("handwritten", func(b *testing.B) {
		b.ReportAllocs()
		e := xdr.Encoder{Buf: make([]byte, 0, 512)}
		for i := 0; i < b.N; i++ {
			e.Buf = e.Buf[:0]
			e.Uint32(uint32(OK))
			e.String("")
			e.Uint32(1)
			e.Uint32(OpGetattr)
			e.Uint32(uint32(OK))
			mask.Encode(&e)
			off := e.Reserve(4)
			start := e.Len()
			e.Uint32(attrs.Type)
			e.Uint64(attrs.Change)
			e.Uint64(attrs.Size)
			e.Uint64(attrs.Fsid[0])
			e.Uint64(attrs.Fsid[1])
			e.Uint64(attrs.Fileid)
			e.Uint32(attrs.Mode)
			e.Uint32(attrs.Nlink)
			e.String(attrs.Owner)
			e.String(attrs.Group)
			e.Uint64(attrs.SpaceUsed)
			for j := 0; j < 3; j++ {
				e.Int64(0)
				e.Uint32(0)
			}
			e.PutUint32At(off, uint32(e.Len()-start))
		}
	})
	// The typed codec the server uses: the same reply through Fattr.
	b.Run("fattr", func(b *testing.B) {
		b.ReportAllocs()
		f := Fattr{Type: attrs.Type, Change: attrs.Change, Size: attrs.Size, Fileid: attrs.Fileid,
			Mode: attrs.Mode, Nlink: attrs.Nlink, Owner: attrs.Owner, OwnerGroup: attrs.Group,
			SpaceUsed: attrs.SpaceUsed}
		e := xdr.Encoder{Buf: make([]byte, 0, 512)}
		for i := 0; i < b.N; i++ {
			e.Buf = e.Buf[:0]
			e.Uint32(uint32(OK))
			e.String("")
			e.Uint32(1)
			e.Uint32(OpGetattr)
			e.Uint32(uint32(OK))
			if err := f.EncodeMask(&e, &mask); err != nil {
				b.Fatal(err)
			}
		}
	})
}
