package nfs4

import (
	"bytes"
	"reflect"
	"testing"

	"nfsgw/gateway/xdr"
)

// fattrSeeds are real encodings: every attribute at once and each alone,
// what the server answers a Linux client's GETATTR and READDIR, what the
// client sends in SETATTR, and an unknown attribute kept raw.
func fattrSeeds(f *testing.F) {
	full := fullFattr()
	f.Add(encodeFattr(f, full))
	for n := 0; n <= MaxKnownAttr; n += 7 {
		one := *full
		one.Mask = bitmapOf(n, n+1, n+2)
		f.Add(encodeFattr(f, &one))
	}
	getattr := Fattr{Type: NF4REG, Change: 1, Size: 4096, Fsid: [2]uint64{3, 0}, Fileid: 12, Mode: 0o644,
		Nlink: 1, Owner: "1000", OwnerGroup: "1000", SpaceUsed: 4096, MountedOnFileid: 12,
		Mask: bitmapOf(AttrType, AttrChange, AttrSize, AttrFsid, AttrFileid, AttrMode, AttrNumlinks, AttrOwner,
			AttrOwnerGroup, AttrRawdev, AttrSpaceUsed, AttrTimeAccess, AttrTimeMetadata, AttrTimeModify,
			AttrMountedOnFileid)}
	f.Add(encodeFattr(f, &getattr))
	readdir := Fattr{Type: NF4DIR, FH: bytes.Repeat([]byte{7}, 29), RdattrError: OK,
		Mask: bitmapOf(AttrType, AttrRdattrError, AttrFilehandle, AttrFileid, AttrMountedOnFileid)}
	f.Add(encodeFattr(f, &readdir))
	setattr := Fattr{Size: 0, Mode: 0o600, AtimeSet: SetTime{How: SetToServerTime},
		MtimeSet: SetTime{How: SetToClientTime, Time: Time{Sec: 1, Nsec: 999999999}},
		Mask:     bitmapOf(AttrSize, AttrMode, AttrTimeAccessSet, AttrTimeModifySet)}
	f.Add(encodeFattr(f, &setattr))
	unknown := Fattr{Mode: 0o7777, Raw: map[int][]byte{200: {1, 2, 3, 4}}, Mask: bitmapOf(AttrMode, 200)}
	f.Add(encodeFattr(f, &unknown))
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0})
}

// FuzzFattrRoundTrip decodes arbitrary bytes as a fattr4. Decoding must
// fail or succeed without panicking, within the codec's bounds; a value
// that decodes must encode, and that encoding must decode to the same value
// and encode to the same bytes again (the encoding is canonical).
func FuzzFattrRoundTrip(f *testing.F) {
	fattrSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var v Fattr
		d := xdr.NewDecoder(b)
		if DecodeFattr(d, &v) != nil {
			return
		}
		var e xdr.Encoder
		if err := v.Encode(&e); err != nil {
			t.Fatalf("decoded value does not encode: %v\n%+v", err, v)
		}
		if consumed := d.Offset(); len(e.Buf) > consumed {
			// Encodings only drop padding and trailing zero bitmap words.
			t.Fatalf("re-encoding is longer than the input: %d > %d", len(e.Buf), consumed)
		}
		var w Fattr
		if err := DecodeFattr(xdr.NewDecoder(e.Buf), &w); err != nil {
			t.Fatalf("re-encoding does not decode: %v\n%x", err, e.Buf)
		}
		if !reflect.DeepEqual(&v, &w) {
			t.Fatalf("round trip changed the value\n got %+v\nwant %+v", w, v)
		}
		var again xdr.Encoder
		if err := w.Encode(&again); err != nil || !bytes.Equal(e.Buf, again.Buf) {
			t.Fatalf("encoding is not canonical: %v\n%x\n%x", err, e.Buf, again.Buf)
		}
	})
}
