package nfs4

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"nfsgw/gateway/xdr"
)

func bitmapOf(bits ...int) Bitmap {
	var b Bitmap
	for _, n := range bits {
		b.Set(n)
	}
	return b
}

// rawValue returns the XDR of a value for each attribute kept raw.
func rawValue(n int) []byte {
	e := &xdr.Encoder{}
	switch n {
	case AttrLayoutHint:
		e.Uint32(1)
		e.Opaque([]byte{9, 9, 9})
	case AttrFsLocationsInfo:
		e.Uint32(1)   // flags
		e.Int32(60)   // valid_for
		e.Uint32(1)   // fs_root
		e.String("r") //
		e.Uint32(1)   // one item
		e.Uint32(1)   // one server
		e.Int32(0)    // currency
		e.Opaque([]byte{1, 2, 3})
		e.String("server")
		e.Uint32(0) // rootpath
	case AttrMdsthreshold:
		e.Uint32(1)
		e.Uint32(1)
		e.Uint32(1)
		e.Uint32(0x3)
		e.Opaque([]byte{0, 0, 0, 0, 0, 0, 16, 0})
	case AttrRetentionGet, AttrRetentevtGet:
		e.Uint64(60)
		e.Uint32(1)
		Time{Sec: 5, Nsec: 5}.Encode(e)
	case AttrRetentionSet, AttrRetentevtSet:
		e.Bool(true)
		e.Uint32(1)
		e.Uint64(30)
	case AttrSecLabel:
		e.Uint32(1)
		e.Uint32(2)
		e.Opaque([]byte("label"))
	}
	return e.Buf
}

// fullFattr is a value holding every attribute 0..MaxKnownAttr, with
// distinctive values (and the shape Decode gives: nil for empty lists).
func fullFattr() *Fattr {
	ts := func(s int64, ns uint32) Time { return Time{Sec: s, Nsec: ns} }
	f := &Fattr{
		SupportedAttrs: bitmapOf(0, 1, 40, 86), Type: NF4REG, FhExpireType: FH4Persistent,
		Change: 0x1122334455, Size: 4096, LinkSupport: true, SymlinkSupport: true,
		Fsid: [2]uint64{7, 9}, UniqueHandles: true, LeaseTime: 45, RdattrError: ErrAccess,
		ACL:        []ACE{{AccessMask: 1, Who: "OWNER@"}, {Type: 1, Flag: 0x40, AccessMask: 2, Who: "EVERYONE@"}},
		ACLSupport: 3, Cansettime: true, CasePreserving: true, ChownRestricted: true,
		FH: []byte{1, 2, 3, 4, 5}, Fileid: 1234, FilesAvail: 100, FilesFree: 101, FilesTotal: 102,
		FsLocations: &FsLocations{FsRoot: []string{"export"},
			Locations: []FsLocation{{Servers: []string{"srv1", "srv2"}, RootPath: []string{"a", "b"}}, {}}},
		Homogeneous: true, Maxfilesize: 1 << 40, Maxlink: 65000, Maxname: 255, Maxread: 1 << 20,
		Maxwrite: 1 << 19, Mimetype: "text/plain", Mode: 0o644, NoTrunc: true, Nlink: 3,
		Owner: "1000", OwnerGroup: "staff@example", QuotaAvailHard: 1, QuotaAvailSoft: 2, QuotaUsed: 3,
		Rawdev: [2]uint32{8, 1}, SpaceAvail: 10, SpaceFree: 11, SpaceTotal: 12, SpaceUsed: 8192,
		Atime: ts(100, 1), AtimeSet: SetTime{How: SetToClientTime, Time: ts(101, 2)},
		BackupTime: ts(102, 3), Btime: ts(103, 4), TimeDelta: ts(0, 1000), Ctime: ts(105, 6),
		Mtime: ts(-106, 7), MtimeSet: SetTime{How: SetToServerTime}, MountedOnFileid: 4321,
		DirNotifDelay: ts(1, 0), DirentNotifDelay: ts(2, 0),
		Dacl:          &ACL41{Flag: 1, ACEs: []ACE{{AccessMask: 0x20, Who: "GROUP@"}}},
		Sacl:          &ACL41{Flag: 2},
		ChangePolicy:  [2]uint64{5, 6},
		FsStatus:      &FsStatus{Type: 2, Source: "src", Current: "cur", Age: -1, Version: ts(3, 4)},
		FsLayoutTypes: []uint32{1, 3}, LayoutTypes: []uint32{4}, LayoutBlksize: 4096, LayoutAlignment: 512,
		RetentionHold: 77, ModeSetMasked: [2]uint32{0o600, 0o777}, SuppattrExclcreat: bitmapOf(4, 33),
		FsCharsetCap: 2, CloneBlksize: 65536, SpaceFreed: 99, ChangeAttrType: 1,
		ModeUmask: [2]uint32{0o777, 0o022}, XattrSupport: true, Offline: true,
		TimeDelegAccess: ts(7, 8), TimeDelegModify: ts(9, 10),
		OpenArguments: &OpenArguments{ShareAccess: bitmapOf(1, 2, 3), ShareDeny: bitmapOf(0),
			ShareAccessWant: bitmapOf(1, 2), OpenClaim: bitmapOf(0, 4), CreateMode: bitmapOf(0, 1, 2, 3)},
		Raw: map[int][]byte{},
	}
	for n := 0; n <= MaxKnownAttr; n++ {
		f.Mask.Set(n)
		if rawAttrs.Has(n) {
			f.Raw[n] = rawValue(n)
		}
	}
	return f
}

func encodeFattr(t testing.TB, f *Fattr) []byte {
	t.Helper()
	e := &xdr.Encoder{}
	if err := f.Encode(e); err != nil {
		t.Fatal(err)
	}
	return e.Buf
}

func TestFattrRoundTripEveryAttribute(t *testing.T) {
	want := fullFattr()
	buf := encodeFattr(t, want)
	var got Fattr
	d := xdr.NewDecoder(buf)
	if err := DecodeFattr(d, &got); err != nil {
		t.Fatal(err)
	}
	if d.Remaining() != 0 {
		t.Fatalf("%d bytes left", d.Remaining())
	}
	if !reflect.DeepEqual(&got, want) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, *want)
	}
	// Each attribute alone, so that a value whose size the encoder and the
	// decoder disagree on cannot hide behind its neighbours.
	for n := 0; n <= MaxKnownAttr; n++ {
		one := *want
		one.Mask = bitmapOf(n)
		buf := encodeFattr(t, &one)
		var got Fattr
		if err := DecodeFattr(xdr.NewDecoder(buf), &got); err != nil {
			t.Fatalf("attribute %d: %v", n, err)
		}
		again := encodeFattr(t, &got)
		if !bytes.Equal(buf, again) {
			t.Errorf("attribute %d: re-encoded\n got %x\nwant %x", n, again, buf)
		}
	}
}

// The server writes attributes from fields; the layout is fixed by the
// RFC, so the encoding of a typical GETATTR reply is checked byte by byte.
func TestFattrEncodingIsTheRFCs(t *testing.T) {
	f := Fattr{Type: NF4DIR, Size: 4096, Mode: 0o755, Owner: "65534", Mtime: Time{Sec: 1, Nsec: 2}}
	mask := bitmapOf(AttrMode, AttrType, AttrSize, AttrOwner, AttrTimeModify)
	e := &xdr.Encoder{}
	if err := f.EncodeMask(e, &mask); err != nil {
		t.Fatal(err)
	}
	want := &xdr.Encoder{}
	mask.Encode(want)
	v := &xdr.Encoder{}
	v.Uint32(NF4DIR)
	v.Uint64(4096)
	v.Uint32(0o755)
	v.String("65534")
	v.Int64(1)
	v.Uint32(2)
	want.Opaque(v.Buf)
	if !bytes.Equal(e.Buf, want.Buf) {
		t.Fatalf("got %x\nwant %x", e.Buf, want.Buf)
	}
}

func encodeRaw(mask Bitmap, vals []byte) []byte {
	e := &xdr.Encoder{}
	mask.Encode(e)
	e.Opaque(vals)
	return e.Buf
}

func TestFattrUnknownAttributes(t *testing.T) {
	// An unknown attribute that comes last is sized by what remains.
	vals := []byte{0, 0, 1, 0xa4, 1, 2, 3, 4, 5, 6, 7, 8}
	var f Fattr
	if err := DecodeFattr(xdr.NewDecoder(encodeRaw(bitmapOf(AttrMode, 100), vals)), &f); err != nil {
		t.Fatal(err)
	}
	if f.Mode != 0o644 || !bytes.Equal(f.Raw[100], vals[4:]) {
		t.Fatalf("mode %o, raw %x", f.Mode, f.Raw[100])
	}
	if again := encodeFattr(t, &f); !bytes.Equal(again, encodeRaw(bitmapOf(AttrMode, 100), vals)) {
		t.Errorf("re-encoded %x", again)
	}
	// Not last: its size is unknown, so decoding stops.
	err := DecodeFattr(xdr.NewDecoder(encodeRaw(bitmapOf(100, 101), vals)), &f)
	if !errors.Is(err, ErrUnknownAttr) {
		t.Errorf("unknown attribute before another: %v", err)
	}
	// Last but not a whole number of XDR units.
	if err := DecodeFattr(xdr.NewDecoder(encodeRaw(bitmapOf(100), []byte{1, 2})), &f); !errors.Is(err, xdr.ErrShort) {
		t.Errorf("unaligned unknown attribute: %v", err)
	}
	// A bit set in a bitmap word past those a Bitmap holds.
	e := &xdr.Encoder{}
	e.Uint32(10)
	for i := 0; i < 9; i++ {
		e.Uint32(0)
	}
	e.Uint32(1)
	e.Uint32(0)
	if err := DecodeFattr(xdr.NewDecoder(e.Buf), &f); !errors.Is(err, ErrUnknownAttr) {
		t.Errorf("high bitmap word: %v", err)
	}
	// Zero words past them are fine, and not counted.
	e = &xdr.Encoder{}
	e.Uint32(10)
	e.Uint32(1 << AttrType)
	for i := 0; i < 9; i++ {
		e.Uint32(0)
	}
	e.Opaque([]byte{0, 0, 0, 2})
	if err := DecodeFattr(xdr.NewDecoder(e.Buf), &f); err != nil || f.Type != NF4DIR || f.Mask.N != 1 {
		t.Errorf("zero high words: %v, %+v", err, f.Mask)
	}
	// The encoder refuses an attribute it has no value for.
	out := &xdr.Encoder{Buf: []byte{}}
	for _, n := range []int{AttrSecLabel, 100} {
		f := Fattr{Mask: bitmapOf(AttrType, n)}
		if err := f.Encode(out); err == nil || len(out.Buf) != 0 {
			t.Errorf("attribute %d without a value: %v, wrote %x", n, err, out.Buf)
		}
	}
}

func TestFattrDecodeErrors(t *testing.T) {
	long := &xdr.Encoder{}
	long.Opaque(make([]byte, FHSize+1))
	huge := &xdr.Encoder{}
	huge.String(string(make([]byte, MaxAttrString+1)))
	cases := []struct {
		name string
		mask Bitmap
		vals []byte
		want error
	}{
		{"trailing bytes", bitmapOf(AttrMode), []byte{0, 0, 1, 0xa4, 0, 0, 0, 0}, ErrAttrTrailing},
		{"short value", bitmapOf(AttrSize), []byte{0, 0, 1, 0xa4}, xdr.ErrShort},
		{"bad bool", bitmapOf(AttrLinkSupport), []byte{0, 0, 0, 2}, xdr.ErrBadBool},
		{"long fh", bitmapOf(AttrFilehandle), long.Buf, xdr.ErrTooLong},
		{"long owner", bitmapOf(AttrOwner), huge.Buf, xdr.ErrTooLong},
		{"acl count beyond the data", bitmapOf(AttrACL), []byte{0, 1, 0, 0}, xdr.ErrShort},
		{"acl count beyond the bound", bitmapOf(AttrACL), []byte{0xff, 0xff, 0xff, 0xff}, xdr.ErrTooLong},
		{"bad time_how", bitmapOf(AttrTimeModifySet), []byte{0, 0, 0, 2}, ErrBadTimeHow},
	}
	for _, c := range cases {
		var f Fattr
		if err := DecodeFattr(xdr.NewDecoder(encodeRaw(c.mask, c.vals)), &f); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// Every truncation of a valid fattr4 fails; every one-byte corruption
	// fails or decodes, never panics.
	buf := encodeFattr(t, fullFattr())
	for i := 0; i < len(buf); i++ {
		var f Fattr
		if err := DecodeFattr(xdr.NewDecoder(buf[:i]), &f); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
		for _, x := range []byte{0xff, 0x80, 0x01} {
			b := bytes.Clone(buf)
			b[i] ^= x
			_ = DecodeFattr(xdr.NewDecoder(b), &f)
		}
	}
	// An empty fattr4.
	var f Fattr
	if err := DecodeFattr(xdr.NewDecoder(encodeRaw(Bitmap{}, nil)), &f); err != nil || !f.Mask.IsZero() {
		t.Errorf("empty: %v %v", err, f.Mask)
	}
}

// The GETATTR path encodes and decodes fixed-size attributes and strings
// without allocating.
func TestFattrAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	f := Fattr{Type: NF4REG, Size: 1, Owner: "0", OwnerGroup: "0", FH: []byte("fh"), SupportedAttrs: bitmapOf(1, 2)}
	mask := bitmapOf(AttrSupportedAttrs, AttrType, AttrChange, AttrSize, AttrFsid, AttrFilehandle, AttrFileid,
		AttrMode, AttrNumlinks, AttrOwner, AttrOwnerGroup, AttrRawdev, AttrSpaceUsed, AttrTimeAccess,
		AttrTimeMetadata, AttrTimeModify, AttrMountedOnFileid)
	e := &xdr.Encoder{Buf: make([]byte, 0, 1024)}
	if n := testing.AllocsPerRun(100, func() {
		e.Buf = e.Buf[:0]
		if err := f.EncodeMask(e, &mask); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("EncodeMask: %v allocations", n)
	}
	fixed := bitmapOf(AttrType, AttrChange, AttrSize, AttrFsid, AttrFilehandle, AttrFileid, AttrMode,
		AttrTimeModify)
	e.Buf = e.Buf[:0]
	if err := f.EncodeMask(e, &fixed); err != nil {
		t.Fatal(err)
	}
	var got Fattr
	d := &xdr.Decoder{}
	if n := testing.AllocsPerRun(100, func() {
		d.Reset(e.Buf)
		if err := DecodeFattr(d, &got); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeFattr: %v allocations", n)
	}
}
