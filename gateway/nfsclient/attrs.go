package nfsclient

import (
	"errors"
	"fmt"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// Bounds applied while decoding replies: those of the fattr4 codec.
const (
	maxAttrString = nfs4.MaxAttrString // owner, owner_group, names, ACE who, ...
	maxAttrList   = nfs4.MaxAttrList   // elements in any array
)

// The attribute types are those of the fattr4 codec shared with the server.
type (
	// Attrs is a decoded fattr4 (see nfs4.Fattr): Mask holds the attributes
	// that were present, fields of absent attributes are zero, and byte
	// slices alias the reply buffer.
	Attrs = nfs4.Fattr
	// ACE is nfsace4.
	ACE = nfs4.ACE
	// ACL41 is nfsacl41, the value of the dacl and sacl attributes.
	ACL41 = nfs4.ACL41
	// FsLocation is fs_location4.
	FsLocation = nfs4.FsLocation
	// FsLocations is fs_locations4.
	FsLocations = nfs4.FsLocations
	// FsStatus is fs4_status.
	FsStatus = nfs4.FsStatus
	// SetTime is settime4: How is nfs4.SetToServerTime or
	// nfs4.SetToClientTime, and Time is used only with the latter.
	SetTime = nfs4.SetTime
)

// decodeBitmap decodes a bitmap4, failing on set bits in words beyond
// nfs4.MaxBitmapWords (no attribute or flag is defined there).
func decodeBitmap(d *xdr.Decoder) nfs4.Bitmap { return nfs4.DecodeBitmapStrict(d) }

// DecodeFattr decodes a fattr4 (bitmap4 attrmask; opaque attr_vals<>) into
// a, with the shared codec: values are laid out in ascending attribute
// order (RFC 8881 section 5.2); an attribute it cannot size fails with
// ErrUnknownAttr, and bytes left over after the last one with ErrProtocol.
// An unknown attribute that comes last is sized by what remains, and kept
// in a.Raw.
func DecodeFattr(d *xdr.Decoder, a *Attrs) error {
	err := nfs4.DecodeFattr(d, a)
	if err != nil && errors.Is(err, nfs4.ErrAttrTrailing) {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	return err
}

func decodeString(d *xdr.Decoder) string { return d.String(maxAttrString) }

// SetAttrs is a fattr4 to send: the attributes of SETATTR, CREATE and OPEN,
// and the attributes that VERIFY and NVERIFY compare. Build it with the
// setters; attributes are encoded in ascending order whatever the order the
// setters were called in. The zero value (and a nil *SetAttrs) encodes an
// empty fattr4.
type SetAttrs struct {
	f nfs4.Fattr
}

// Mask returns the attributes set so far.
func (s *SetAttrs) Mask() nfs4.Bitmap {
	if s == nil {
		return nfs4.Bitmap{}
	}
	return s.f.Mask
}

// set marks attribute n as set from its typed field, replacing a raw value.
func (s *SetAttrs) set(n int) *SetAttrs {
	delete(s.f.Raw, n)
	s.f.Mask.Set(n)
	return s
}

// SetMode sets mode (attribute 33).
func (s *SetAttrs) SetMode(mode uint32) *SetAttrs {
	s.f.Mode = mode
	return s.set(nfs4.AttrMode)
}

// SetSize sets size (attribute 4).
func (s *SetAttrs) SetSize(size uint64) *SetAttrs {
	s.f.Size = size
	return s.set(nfs4.AttrSize)
}

// SetOwner sets owner (attribute 36), e.g. "1000" or "user@domain".
func (s *SetAttrs) SetOwner(owner string) *SetAttrs {
	s.f.Owner = owner
	return s.set(nfs4.AttrOwner)
}

// SetOwnerGroup sets owner_group (attribute 37).
func (s *SetAttrs) SetOwnerGroup(group string) *SetAttrs {
	s.f.OwnerGroup = group
	return s.set(nfs4.AttrOwnerGroup)
}

// SetAtime sets time_access_set (attribute 48).
func (s *SetAttrs) SetAtime(t SetTime) *SetAttrs {
	s.f.AtimeSet = t
	return s.set(nfs4.AttrTimeAccessSet)
}

// SetMtime sets time_modify_set (attribute 54).
func (s *SetAttrs) SetMtime(t SetTime) *SetAttrs {
	s.f.MtimeSet = t
	return s.set(nfs4.AttrTimeModifySet)
}

// ClientTime returns a SetTime that sets t.
func ClientTime(t nfs4.Time) SetTime { return SetTime{How: nfs4.SetToClientTime, Time: t} }

// ServerTime returns a SetTime that asks for the server's current time.
func ServerTime() SetTime { return SetTime{How: nfs4.SetToServerTime} }

// SetRaw sets attribute num to the given already-encoded XDR value, for any
// attribute (read-only ones included, to test that a server refuses them)
// and for deliberately malformed values. It replaces an earlier value of
// the same attribute.
func (s *SetAttrs) SetRaw(num int, xdrValue []byte) *SetAttrs {
	if s.f.Raw == nil {
		s.f.Raw = make(map[int][]byte)
	}
	s.f.Raw[num] = append([]byte(nil), xdrValue...)
	s.f.Mask.Set(num)
	return s
}

// SetUint32 sets attribute num to a 32-bit value (type, numlinks, ...).
func (s *SetAttrs) SetUint32(num int, v uint32) *SetAttrs {
	e := xdr.Encoder{}
	e.Uint32(v)
	return s.SetRaw(num, e.Buf)
}

// SetUint64 sets attribute num to a 64-bit value (change, fileid, ...).
func (s *SetAttrs) SetUint64(num int, v uint64) *SetAttrs {
	e := xdr.Encoder{}
	e.Uint64(v)
	return s.SetRaw(num, e.Buf)
}

// Encode appends the fattr4 to e.
func (s *SetAttrs) Encode(e *xdr.Encoder) {
	if s == nil {
		s = &SetAttrs{}
	}
	// Every attribute of the mask has a typed field or a raw value.
	_ = s.f.Encode(e)
}

// MakeBitmap returns a bitmap with the given bits set.
func MakeBitmap(bits ...int) nfs4.Bitmap {
	var b nfs4.Bitmap
	for _, n := range bits {
		b.Set(n)
	}
	return b
}

// DefaultAttrs is the attribute set the convenience methods ask for: the
// usual stat(2) fields.
var DefaultAttrs = MakeBitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize,
	nfs4.AttrFsid, nfs4.AttrFileid, nfs4.AttrMode, nfs4.AttrNumlinks,
	nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawdev, nfs4.AttrSpaceUsed,
	nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify,
	nfs4.AttrMountedOnFileid)

// ReaddirAttrs is the attribute set Readdir asks for by default.
var ReaddirAttrs = MakeBitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize,
	nfs4.AttrFilehandle, nfs4.AttrFileid, nfs4.AttrMode, nfs4.AttrNumlinks)
