package nfsclient

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// encodeAllAttrs returns, as a server would encode it, a fattr4 holding
// every attribute 0..82 with distinctive values.
func encodeAllAttrs(t testing.TB) []byte {
	var mask nfs4.Bitmap
	v := &xdr.Encoder{}
	tm := func(s int64, ns uint32) { v.Int64(s); v.Uint32(ns) }
	for n := 0; n <= nfs4.AttrXattrSupport; n++ {
		mask.Set(n)
		switch n {
		case nfs4.AttrSupportedAttrs:
			v.Uint32(3)
			v.Uint32(0xffffffff)
			v.Uint32(0xffffffff)
			v.Uint32(0x7ffff)
		case nfs4.AttrType:
			v.Uint32(nfs4.NF4REG)
		case nfs4.AttrFhExpireType:
			v.Uint32(nfs4.FH4Persistent)
		case nfs4.AttrChange:
			v.Uint64(0x1122334455)
		case nfs4.AttrSize:
			v.Uint64(4096)
		case nfs4.AttrLinkSupport, nfs4.AttrSymlinkSupport, nfs4.AttrUniqueHandles,
			nfs4.AttrCansettime, nfs4.AttrCasePreserving, nfs4.AttrChownRestricted,
			nfs4.AttrHomogeneous, nfs4.AttrNoTrunc, nfs4.AttrXattrSupport:
			v.Bool(true)
		case nfs4.AttrNamedAttr, nfs4.AttrArchive, nfs4.AttrCaseInsensitive,
			nfs4.AttrHidden, nfs4.AttrSystem:
			v.Bool(false)
		case nfs4.AttrFsid:
			v.Uint64(7)
			v.Uint64(9)
		case nfs4.AttrLeaseTime:
			v.Uint32(45)
		case nfs4.AttrRdattrError:
			v.Uint32(uint32(nfs4.ErrAccess))
		case nfs4.AttrACL:
			v.Uint32(2)
			v.Uint32(0)
			v.Uint32(0)
			v.Uint32(0x1)
			v.String("OWNER@")
			v.Uint32(1)
			v.Uint32(0x40)
			v.Uint32(0x2)
			v.String("EVERYONE@")
		case nfs4.AttrACLSupport:
			v.Uint32(3)
		case nfs4.AttrFilehandle:
			v.Opaque([]byte{1, 2, 3, 4, 5})
		case nfs4.AttrFileid:
			v.Uint64(1234)
		case nfs4.AttrFilesAvail:
			v.Uint64(100)
		case nfs4.AttrFilesFree:
			v.Uint64(101)
		case nfs4.AttrFilesTotal:
			v.Uint64(102)
		case nfs4.AttrFsLocations:
			v.Uint32(1)
			v.String("export")
			v.Uint32(1) // one location
			v.Uint32(2)
			v.String("srv1")
			v.String("srv2")
			v.Uint32(2)
			v.String("a")
			v.String("b")
		case nfs4.AttrMaxfilesize:
			v.Uint64(1 << 40)
		case nfs4.AttrMaxlink:
			v.Uint32(65000)
		case nfs4.AttrMaxname:
			v.Uint32(255)
		case nfs4.AttrMaxread:
			v.Uint64(1 << 20)
		case nfs4.AttrMaxwrite:
			v.Uint64(1 << 19)
		case nfs4.AttrMimetype:
			v.String("text/plain")
		case nfs4.AttrMode:
			v.Uint32(0o644)
		case nfs4.AttrNumlinks:
			v.Uint32(3)
		case nfs4.AttrOwner:
			v.String("1000")
		case nfs4.AttrOwnerGroup:
			v.String("staff@example")
		case nfs4.AttrQuotaAvailHard:
			v.Uint64(1)
		case nfs4.AttrQuotaAvailSoft:
			v.Uint64(2)
		case nfs4.AttrQuotaUsed:
			v.Uint64(3)
		case nfs4.AttrRawdev:
			v.Uint32(8)
			v.Uint32(1)
		case nfs4.AttrSpaceAvail:
			v.Uint64(10)
		case nfs4.AttrSpaceFree:
			v.Uint64(11)
		case nfs4.AttrSpaceTotal:
			v.Uint64(12)
		case nfs4.AttrSpaceUsed:
			v.Uint64(8192)
		case nfs4.AttrTimeAccess:
			tm(100, 1)
		case nfs4.AttrTimeAccessSet:
			v.Uint32(nfs4.SetToClientTime)
			tm(101, 2)
		case nfs4.AttrTimeBackup:
			tm(102, 3)
		case nfs4.AttrTimeCreate:
			tm(103, 4)
		case nfs4.AttrTimeDelta:
			tm(0, 1000)
		case nfs4.AttrTimeMetadata:
			tm(105, 6)
		case nfs4.AttrTimeModify:
			tm(-106, 7)
		case nfs4.AttrTimeModifySet:
			v.Uint32(nfs4.SetToServerTime)
		case nfs4.AttrMountedOnFileid:
			v.Uint64(4321)
		case nfs4.AttrDirNotifDelay:
			tm(1, 0)
		case nfs4.AttrDirentNotifDelay:
			tm(2, 0)
		case nfs4.AttrDacl, nfs4.AttrSacl:
			v.Uint32(1)
			v.Uint32(1)
			v.Uint32(0)
			v.Uint32(0)
			v.Uint32(0x20)
			v.String("GROUP@")
		case nfs4.AttrChangePolicy:
			v.Uint64(5)
			v.Uint64(6)
		case nfs4.AttrFsStatus:
			v.Bool(false)
			v.Uint32(2)
			v.String("src")
			v.String("cur")
			v.Int32(-1)
			tm(3, 4)
		case nfs4.AttrFsLayoutTypes, nfs4.AttrLayoutType:
			v.Uint32(2)
			v.Uint32(1)
			v.Uint32(3)
		case nfs4.AttrLayoutHint:
			v.Uint32(1)
			v.Opaque([]byte{9, 9, 9})
		case nfs4.AttrLayoutBlksize:
			v.Uint32(4096)
		case nfs4.AttrLayoutAlignment:
			v.Uint32(512)
		case nfs4.AttrFsLocationsInfo:
			v.Uint32(1)   // flags
			v.Int32(60)   // valid_for
			v.Uint32(1)   // fs_root
			v.String("r") //
			v.Uint32(1)   // one item
			v.Uint32(1)   // one server
			v.Int32(0)    // currency
			v.Opaque([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
			v.String("server")
			v.Uint32(0) // rootpath
		case nfs4.AttrMdsthreshold:
			v.Uint32(1)
			v.Uint32(1)
			v.Uint32(1)
			v.Uint32(0x3)
			v.Opaque([]byte{0, 0, 0, 0, 0, 0, 16, 0})
		case nfs4.AttrRetentionGet, nfs4.AttrRetentevtGet:
			v.Uint64(60)
			v.Uint32(1)
			tm(5, 5)
		case nfs4.AttrRetentionSet, nfs4.AttrRetentevtSet:
			v.Bool(true)
			v.Uint32(1)
			v.Uint64(30)
		case nfs4.AttrRetentionHold:
			v.Uint64(77)
		case nfs4.AttrModeSetMasked:
			v.Uint32(0o600)
			v.Uint32(0o777)
		case nfs4.AttrSuppattrExclcreat:
			v.Uint32(2)
			v.Uint32(0x10)
			v.Uint32(0x2)
		case nfs4.AttrFsCharsetCap:
			v.Uint32(2)
		case nfs4.AttrClonePolicy:
			v.Uint32(65536)
		case nfs4.AttrSpaceFreed:
			v.Uint64(99)
		case nfs4.AttrChangeAttrType:
			v.Uint32(1)
		case nfs4.AttrSecLabel:
			v.Uint32(1)
			v.Uint32(2)
			v.Opaque([]byte("label"))
		case nfs4.AttrModeUmask:
			v.Uint32(0o777)
			v.Uint32(0o022)
		default:
			t.Fatalf("test does not encode attribute %d", n)
		}
	}
	e := &xdr.Encoder{}
	mask.Encode(e)
	e.Opaque(v.Buf)
	return e.Buf
}

func TestDecodeFattrAllAttributes(t *testing.T) {
	buf := encodeAllAttrs(t)
	var a Attrs
	d := xdr.NewDecoder(buf)
	if err := DecodeFattr(d, &a); err != nil {
		t.Fatal(err)
	}
	if d.Remaining() != 0 {
		t.Fatalf("%d bytes left", d.Remaining())
	}
	for n := 0; n <= nfs4.AttrXattrSupport; n++ {
		if !a.Has(n) {
			t.Errorf("attribute %d missing from Mask", n)
		}
	}
	ts := func(s int64, ns uint32) nfs4.Time { return nfs4.Time{Sec: s, Nsec: ns} }
	checks := []struct {
		name      string
		got, want any
	}{
		{"supported", a.SupportedAttrs.W[2], uint32(0x7ffff)},
		{"type", a.Type, uint32(nfs4.NF4REG)},
		{"change", a.Change, uint64(0x1122334455)},
		{"size", a.Size, uint64(4096)},
		{"link_support", a.LinkSupport, true},
		{"named_attr", a.NamedAttr, false},
		{"fsid", a.Fsid, [2]uint64{7, 9}},
		{"lease", a.LeaseTime, uint32(45)},
		{"rdattr_error", a.RdattrError, nfs4.ErrAccess},
		{"acl", a.ACL, []ACE{{AccessMask: 1, Who: "OWNER@"}, {Type: 1, Flag: 0x40, AccessMask: 2, Who: "EVERYONE@"}}},
		{"fh", a.FH, []byte{1, 2, 3, 4, 5}},
		{"fileid", a.Fileid, uint64(1234)},
		{"files", [3]uint64{a.FilesAvail, a.FilesFree, a.FilesTotal}, [3]uint64{100, 101, 102}},
		{"fs_locations", a.FsLocations, &FsLocations{FsRoot: []string{"export"},
			Locations: []FsLocation{{Servers: []string{"srv1", "srv2"}, RootPath: []string{"a", "b"}}}}},
		{"maxfilesize", a.Maxfilesize, uint64(1 << 40)},
		{"maxlink", a.Maxlink, uint32(65000)},
		{"maxname", a.Maxname, uint32(255)},
		{"maxread", a.Maxread, uint64(1 << 20)},
		{"maxwrite", a.Maxwrite, uint64(1 << 19)},
		{"mimetype", a.Mimetype, "text/plain"},
		{"mode", a.Mode, uint32(0o644)},
		{"nlink", a.Nlink, uint32(3)},
		{"owner", a.Owner, "1000"},
		{"group", a.OwnerGroup, "staff@example"},
		{"quota", [3]uint64{a.QuotaAvailHard, a.QuotaAvailSoft, a.QuotaUsed}, [3]uint64{1, 2, 3}},
		{"rawdev", a.Rawdev, [2]uint32{8, 1}},
		{"space", [4]uint64{a.SpaceAvail, a.SpaceFree, a.SpaceTotal, a.SpaceUsed}, [4]uint64{10, 11, 12, 8192}},
		{"atime", a.Atime, ts(100, 1)},
		{"atime_set", a.AtimeSet, SetTime{How: nfs4.SetToClientTime, Time: ts(101, 2)}},
		{"backup", a.BackupTime, ts(102, 3)},
		{"btime", a.Btime, ts(103, 4)},
		{"delta", a.TimeDelta, ts(0, 1000)},
		{"ctime", a.Ctime, ts(105, 6)},
		{"mtime", a.Mtime, ts(-106, 7)},
		{"mtime_set", a.MtimeSet, SetTime{How: nfs4.SetToServerTime}},
		{"mounted_on", a.MountedOnFileid, uint64(4321)},
		{"notif", [2]nfs4.Time{a.DirNotifDelay, a.DirentNotifDelay}, [2]nfs4.Time{ts(1, 0), ts(2, 0)}},
		{"dacl", a.Dacl, &ACL41{Flag: 1, ACEs: []ACE{{AccessMask: 0x20, Who: "GROUP@"}}}},
		{"sacl", a.Sacl, &ACL41{Flag: 1, ACEs: []ACE{{AccessMask: 0x20, Who: "GROUP@"}}}},
		{"change_policy", a.ChangePolicy, [2]uint64{5, 6}},
		{"fs_status", a.FsStatus, &FsStatus{Type: 2, Source: "src", Current: "cur", Age: -1, Version: ts(3, 4)}},
		{"fs_layout_types", a.FsLayoutTypes, []uint32{1, 3}},
		{"layout_types", a.LayoutTypes, []uint32{1, 3}},
		{"layout_blksize", a.LayoutBlksize, uint32(4096)},
		{"layout_alignment", a.LayoutAlignment, uint32(512)},
		{"retention_hold", a.RetentionHold, uint64(77)},
		{"mode_set_masked", a.ModeSetMasked, [2]uint32{0o600, 0o777}},
		{"suppattr_exclcreat", a.SuppattrExclcreat.W[1], uint32(0x2)},
		{"charset", a.FsCharsetCap, uint32(2)},
		{"clone_blksize", a.CloneBlksize, uint32(65536)},
		{"space_freed", a.SpaceFreed, uint64(99)},
		{"change_attr_type", a.ChangeAttrType, uint32(1)},
		{"mode_umask", a.ModeUmask, [2]uint32{0o777, 0o022}},
		{"xattr_support", a.XattrSupport, true},
		{"raw sec_label", a.Raw[nfs4.AttrSecLabel], []byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 5, 'l', 'a', 'b', 'e', 'l', 0, 0, 0}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	for _, n := range []int{nfs4.AttrLayoutHint, nfs4.AttrFsLocationsInfo, nfs4.AttrMdsthreshold,
		nfs4.AttrRetentionGet, nfs4.AttrRetentionSet, nfs4.AttrRetentevtGet, nfs4.AttrRetentevtSet, nfs4.AttrSecLabel} {
		if len(a.Raw[n]) == 0 {
			t.Errorf("raw attribute %d not kept", n)
		}
	}
}

// Every truncation of a valid fattr4, and every single-byte corruption,
// must fail cleanly or decode, never panic.
func TestDecodeFattrTruncatedAndCorrupt(t *testing.T) {
	buf := encodeAllAttrs(t)
	for i := 0; i < len(buf); i++ {
		var a Attrs
		if err := DecodeFattr(xdr.NewDecoder(buf[:i]), &a); err == nil {
			t.Fatalf("truncated at %d: no error", i)
		}
	}
	for i := 0; i < len(buf); i++ {
		for _, x := range []byte{0xff, 0x80, 0x01} {
			b := bytes.Clone(buf)
			b[i] ^= x
			var a Attrs
			_ = DecodeFattr(xdr.NewDecoder(b), &a)
		}
	}
}

func TestDecodeFattrErrors(t *testing.T) {
	enc := func(mask nfs4.Bitmap, vals []byte) []byte {
		e := &xdr.Encoder{}
		mask.Encode(e)
		e.Opaque(vals)
		return e.Buf
	}
	var a Attrs
	// Attribute 90 is unknown: followed by another, its size is unknown,
	// so decoding stops; last, it is what remains, kept raw.
	err := DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(90, 91), []byte{0, 0, 0, 1})), &a)
	if !errors.Is(err, ErrUnknownAttr) {
		t.Errorf("unknown attribute: %v", err)
	}
	err = DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(nfs4.AttrType, 90), []byte{0, 0, 0, 2, 0, 0, 0, 1})), &a)
	if err != nil || a.Type != nfs4.NF4DIR || !bytes.Equal(a.Raw[90], []byte{0, 0, 0, 1}) {
		t.Errorf("unknown last attribute: %v, %+v", err, a)
	}
	// A bit set in a bitmap word past those this package keeps.
	e := &xdr.Encoder{}
	e.Uint32(10)
	for i := 0; i < 9; i++ {
		e.Uint32(0)
	}
	e.Uint32(1)
	e.Uint32(0)
	if err := DecodeFattr(xdr.NewDecoder(e.Buf), &a); !errors.Is(err, ErrUnknownAttr) {
		t.Errorf("high bitmap word: %v", err)
	}
	// Trailing bytes inside attr_vals.
	err = DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(nfs4.AttrMode), []byte{0, 0, 1, 0xa4, 0, 0, 0, 0})), &a)
	if !errors.Is(err, ErrProtocol) {
		t.Errorf("trailing bytes: %v", err)
	}
	// A bool that is neither 0 nor 1.
	err = DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(nfs4.AttrLinkSupport), []byte{0, 0, 0, 2})), &a)
	if !errors.Is(err, xdr.ErrBadBool) {
		t.Errorf("bad bool: %v", err)
	}
	// A file handle longer than NFS4_FHSIZE.
	v := &xdr.Encoder{}
	v.Opaque(make([]byte, 129))
	err = DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(nfs4.AttrFilehandle), v.Buf)), &a)
	if !errors.Is(err, xdr.ErrTooLong) {
		t.Errorf("long fh: %v", err)
	}
	// An ACL count far beyond the data.
	err = DecodeFattr(xdr.NewDecoder(enc(MakeBitmap(nfs4.AttrACL), []byte{0, 1, 0, 0})), &a)
	if !errors.Is(err, xdr.ErrShort) {
		t.Errorf("huge acl count: %v", err)
	}
	// Empty fattr4.
	if err := DecodeFattr(xdr.NewDecoder(enc(nfs4.Bitmap{}, nil)), &a); err != nil || !a.Mask.IsZero() {
		t.Errorf("empty: %v %v", err, a.Mask)
	}
}

func TestSetAttrsEncode(t *testing.T) {
	s := new(SetAttrs).
		SetMtime(ClientTime(nfs4.Time{Sec: 5, Nsec: 6})).
		SetOwnerGroup("g").
		SetSize(77).
		SetAtime(ServerTime()).
		SetOwner("o").
		SetMode(0o755).
		SetUint64(nfs4.AttrChange, 9)
	e := &xdr.Encoder{}
	s.Encode(e)

	want := &xdr.Encoder{}
	mask := MakeBitmap(nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner,
		nfs4.AttrOwnerGroup, nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet)
	mask.Encode(want)
	v := &xdr.Encoder{}
	v.Uint64(9)     // change (3)
	v.Uint64(77)    // size (4)
	v.Uint32(0o755) // mode (33)
	v.String("o")   // owner (36)
	v.String("g")   // owner_group (37)
	v.Uint32(0)     // time_access_set (48): server time
	v.Uint32(1)     // time_modify_set (54): client time
	v.Int64(5)      //
	v.Uint32(6)     //
	want.Opaque(v.Buf)
	if !bytes.Equal(e.Buf, want.Buf) {
		t.Fatalf("encoding\n got %x\nwant %x", e.Buf, want.Buf)
	}

	// The decoder reads back what the encoder wrote (settime4 included).
	var a Attrs
	if err := DecodeFattr(xdr.NewDecoder(e.Buf), &a); err != nil {
		t.Fatal(err)
	}
	if a.Size != 77 || a.Mode != 0o755 || a.Owner != "o" || a.OwnerGroup != "g" || a.Change != 9 ||
		a.MtimeSet.Time.Sec != 5 || a.AtimeSet.How != nfs4.SetToServerTime {
		t.Errorf("round trip: %+v", a)
	}

	// nil encodes an empty fattr4; SetRaw replaces a typed value.
	e = &xdr.Encoder{}
	(*SetAttrs)(nil).Encode(e)
	if !bytes.Equal(e.Buf, make([]byte, 8)) {
		t.Errorf("nil: %x", e.Buf)
	}
	s = new(SetAttrs).SetMode(1).SetRaw(nfs4.AttrMode, []byte{0, 0, 0, 2})
	e = &xdr.Encoder{}
	s.Encode(e)
	if !bytes.HasSuffix(e.Buf, []byte{0, 0, 0, 4, 0, 0, 0, 2}) {
		t.Errorf("raw override: %x", e.Buf)
	}
}
