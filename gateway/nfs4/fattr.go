package nfs4

import (
	"errors"
	"fmt"
	"math/bits"

	"nfsgw/gateway/xdr"
)

// Bounds applied while decoding a fattr4. The XDR leaves most lengths
// unbounded; the caller bounds attr_vals (a reply by the session's maximum
// response size, a request by the server's own limit), and every list
// element costs wire bytes, so memory stays a small multiple of attr_vals.
// These limits only stop a broken length from being believed.
const (
	MaxAttrString = 64 << 10 // owner, owner_group, mimetype, ACE who, ...
	MaxAttrList   = 1 << 16  // elements in any attribute array
	MaxAttrVals   = 16 << 20 // bytes in one fattr4 attr_vals
	// maxAttrBitmapWords bounds the words of a bitmap inside a fattr4; the
	// count is checked against the bytes present as well.
	maxAttrBitmapWords = 1024
)

// MaxKnownAttr is the highest attribute number this codec can size.
const MaxKnownAttr = AttrOpenArguments

// ErrUnknownAttr is wrapped when a fattr4 holds an attribute the codec
// cannot size (one in the middle of attr_vals, or a bit past
// MaxBitmapWords words): decoding stops there.
var ErrUnknownAttr = errors.New("unknown attribute")

// ErrAttrTrailing is wrapped when bytes are left in attr_vals after the
// last attribute of the mask.
var ErrAttrTrailing = errors.New("bytes after the last attribute")

// ErrBadTimeHow is wrapped when a settime4 has a time_how4 that is neither
// SET_TO_SERVER_TIME4 nor SET_TO_CLIENT_TIME4.
var ErrBadTimeHow = errors.New("bad time_how4")

// ACE is nfsace4.
type ACE struct {
	Type, Flag, AccessMask uint32
	Who                    string
}

// ACL41 is nfsacl41, the value of the dacl and sacl attributes.
type ACL41 struct {
	Flag uint32
	ACEs []ACE
}

// FsLocation is fs_location4.
type FsLocation struct {
	Servers  []string
	RootPath []string
}

// FsLocations is fs_locations4.
type FsLocations struct {
	FsRoot    []string
	Locations []FsLocation
}

// FsStatus is fs4_status.
type FsStatus struct {
	Absent  bool
	Type    uint32
	Source  string
	Current string
	Age     int32
	Version Time
}

// SetTime is settime4: How is SetToServerTime or SetToClientTime, and Time
// is used only with the latter.
type SetTime struct {
	How  uint32
	Time Time
}

// OpenArguments is open_arguments4 (RFC 9754): for each OPEN argument, a
// bitmap with bit n set when value n is supported.
type OpenArguments struct {
	ShareAccess, ShareDeny, ShareAccessWant, OpenClaim, CreateMode Bitmap
}

// Fattr is a fattr4 as typed values: the attributes of GETATTR and READDIR
// replies, of SETATTR, CREATE and OPEN arguments, and of VERIFY. Mask holds
// the attributes present (decoding) or is what Encode writes; fields of
// other attributes are ignored by Encode and zero after Decode.
//
// Attributes whose structure has no field here (fs_locations_info,
// mdsthreshold, retention_get/set, retentevt_get/set, layout_hint,
// sec_label) are checked and kept as their raw XDR in Raw, and so is an
// unknown attribute when it is the last of the mask (its size is then what
// remains of attr_vals). On encoding, an attribute present in Raw is written
// from there, which overrides a typed field; byte slices of a decoded Fattr
// alias the decoded buffer.
type Fattr struct {
	Mask Bitmap

	SupportedAttrs    Bitmap         // 0
	Type              uint32         // 1
	FhExpireType      uint32         // 2
	Change            uint64         // 3
	Size              uint64         // 4
	LinkSupport       bool           // 5
	SymlinkSupport    bool           // 6
	NamedAttr         bool           // 7
	Fsid              [2]uint64      // 8: major, minor
	UniqueHandles     bool           // 9
	LeaseTime         uint32         // 10
	RdattrError       Status         // 11
	ACL               []ACE          // 12
	ACLSupport        uint32         // 13
	Archive           bool           // 14
	Cansettime        bool           // 15
	CaseInsensitive   bool           // 16
	CasePreserving    bool           // 17
	ChownRestricted   bool           // 18
	FH                []byte         // 19
	Fileid            uint64         // 20
	FilesAvail        uint64         // 21
	FilesFree         uint64         // 22
	FilesTotal        uint64         // 23
	FsLocations       *FsLocations   // 24
	Hidden            bool           // 25
	Homogeneous       bool           // 26
	Maxfilesize       uint64         // 27
	Maxlink           uint32         // 28
	Maxname           uint32         // 29
	Maxread           uint64         // 30
	Maxwrite          uint64         // 31
	Mimetype          string         // 32
	Mode              uint32         // 33
	NoTrunc           bool           // 34
	Nlink             uint32         // 35
	Owner             string         // 36
	OwnerGroup        string         // 37
	QuotaAvailHard    uint64         // 38
	QuotaAvailSoft    uint64         // 39
	QuotaUsed         uint64         // 40
	Rawdev            [2]uint32      // 41: specdata1, specdata2
	SpaceAvail        uint64         // 42
	SpaceFree         uint64         // 43
	SpaceTotal        uint64         // 44
	SpaceUsed         uint64         // 45
	System            bool           // 46
	Atime             Time           // 47
	AtimeSet          SetTime        // 48 (write-only)
	BackupTime        Time           // 49
	Btime             Time           // 50 time_create
	TimeDelta         Time           // 51
	Ctime             Time           // 52 time_metadata
	Mtime             Time           // 53
	MtimeSet          SetTime        // 54 (write-only)
	MountedOnFileid   uint64         // 55
	DirNotifDelay     Time           // 56
	DirentNotifDelay  Time           // 57
	Dacl              *ACL41         // 58
	Sacl              *ACL41         // 59
	ChangePolicy      [2]uint64      // 60
	FsStatus          *FsStatus      // 61
	FsLayoutTypes     []uint32       // 62
	LayoutTypes       []uint32       // 64
	LayoutBlksize     uint32         // 65
	LayoutAlignment   uint32         // 66
	RetentionHold     uint64         // 73
	ModeSetMasked     [2]uint32      // 74: value, mask
	SuppattrExclcreat Bitmap         // 75
	FsCharsetCap      uint32         // 76
	CloneBlksize      uint32         // 77
	SpaceFreed        uint64         // 78
	ChangeAttrType    uint32         // 79
	ModeUmask         [2]uint32      // 81: mode, umask
	XattrSupport      bool           // 82
	Offline           bool           // 83
	TimeDelegAccess   Time           // 84
	TimeDelegModify   Time           // 85
	OpenArguments     *OpenArguments // 86

	// Raw holds the XDR of attributes without a field above.
	Raw map[int][]byte
}

// Has reports whether attribute n is in the mask.
func (f *Fattr) Has(n int) bool { return f.Mask.Has(n) }

// rawAttrs are the attributes kept as raw XDR; typedAttrs are those Encode
// writes from a field.
var rawAttrs, typedAttrs Bitmap

func init() {
	for _, n := range []int{AttrLayoutHint, AttrFsLocationsInfo, AttrMdsthreshold,
		AttrRetentionGet, AttrRetentionSet, AttrRetentevtGet, AttrRetentevtSet, AttrSecLabel} {
		rawAttrs.Set(n)
	}
	for n := 0; n <= MaxKnownAttr; n++ {
		if !rawAttrs.Has(n) {
			typedAttrs.Set(n)
		}
	}
}

// Encode appends the fattr4 holding the attributes of f.Mask.
func (f *Fattr) Encode(e *xdr.Encoder) error { return f.EncodeMask(e, &f.Mask) }

// EncodeMask appends a fattr4 holding the attributes of mask, in ascending
// order as RFC 8881 section 5.2 lays them out, taking the values from f.
// It fails, writing nothing, when mask holds an attribute with neither a
// field nor a Raw value. It allocates nothing beyond e's growth.
func (f *Fattr) EncodeMask(e *xdr.Encoder, mask *Bitmap) error {
	n := min(mask.N, MaxBitmapWords)
	for w := 0; w < n; w++ {
		for extra := mask.W[w] &^ typedAttrs.W[w]; extra != 0; extra &= extra - 1 {
			a := w*32 + bits.TrailingZeros32(extra)
			if _, ok := f.Raw[a]; !ok {
				return fmt.Errorf("fattr4: no value for attribute %d", a)
			}
		}
	}
	mask.Encode(e)
	lenOff := e.Reserve(4)
	start := e.Len()
	for w := 0; w < n; w++ {
		for word := mask.W[w]; word != 0; word &= word - 1 {
			a := w*32 + bits.TrailingZeros32(word)
			if f.Raw != nil {
				if raw, ok := f.Raw[a]; ok {
					e.Buf = append(e.Buf, raw...)
					continue
				}
			}
			f.encodeAttr(e, a)
		}
	}
	size := e.Len() - start
	if pad := -size & 3; pad != 0 {
		// A raw value of odd length: attr_vals is still an opaque.
		e.Buf = append(e.Buf, make([]byte, pad)...)
	}
	e.PutUint32At(lenOff, uint32(size))
	return nil
}

func encodeStrings(e *xdr.Encoder, l []string) {
	e.Uint32(uint32(len(l)))
	for _, s := range l {
		e.String(s)
	}
}

func encodeACEs(e *xdr.Encoder, l []ACE) {
	e.Uint32(uint32(len(l)))
	for i := range l {
		e.Uint32(l[i].Type)
		e.Uint32(l[i].Flag)
		e.Uint32(l[i].AccessMask)
		e.String(l[i].Who)
	}
}

func encodeUint32s(e *xdr.Encoder, l []uint32) {
	e.Uint32(uint32(len(l)))
	for _, v := range l {
		e.Uint32(v)
	}
}

// Encode encodes t.
func (t SetTime) Encode(e *xdr.Encoder) {
	e.Uint32(t.How)
	if t.How == SetToClientTime {
		t.Time.Encode(e)
	}
}

func encodeACL41(e *xdr.Encoder, acl *ACL41) {
	if acl == nil {
		acl = &ACL41{}
	}
	e.Uint32(acl.Flag)
	encodeACEs(e, acl.ACEs)
}

// encodeAttr writes the value of typed attribute n.
func (f *Fattr) encodeAttr(e *xdr.Encoder, n int) {
	switch n {
	case AttrSupportedAttrs:
		f.SupportedAttrs.Encode(e)
	case AttrType:
		e.Uint32(f.Type)
	case AttrFhExpireType:
		e.Uint32(f.FhExpireType)
	case AttrChange:
		e.Uint64(f.Change)
	case AttrSize:
		e.Uint64(f.Size)
	case AttrLinkSupport:
		e.Bool(f.LinkSupport)
	case AttrSymlinkSupport:
		e.Bool(f.SymlinkSupport)
	case AttrNamedAttr:
		e.Bool(f.NamedAttr)
	case AttrFsid:
		e.Uint64(f.Fsid[0])
		e.Uint64(f.Fsid[1])
	case AttrUniqueHandles:
		e.Bool(f.UniqueHandles)
	case AttrLeaseTime:
		e.Uint32(f.LeaseTime)
	case AttrRdattrError:
		e.Uint32(uint32(f.RdattrError))
	case AttrACL:
		encodeACEs(e, f.ACL)
	case AttrACLSupport:
		e.Uint32(f.ACLSupport)
	case AttrArchive:
		e.Bool(f.Archive)
	case AttrCansettime:
		e.Bool(f.Cansettime)
	case AttrCaseInsensitive:
		e.Bool(f.CaseInsensitive)
	case AttrCasePreserving:
		e.Bool(f.CasePreserving)
	case AttrChownRestricted:
		e.Bool(f.ChownRestricted)
	case AttrFilehandle:
		e.Opaque(f.FH)
	case AttrFileid:
		e.Uint64(f.Fileid)
	case AttrFilesAvail:
		e.Uint64(f.FilesAvail)
	case AttrFilesFree:
		e.Uint64(f.FilesFree)
	case AttrFilesTotal:
		e.Uint64(f.FilesTotal)
	case AttrFsLocations:
		l := f.FsLocations
		if l == nil {
			l = &FsLocations{}
		}
		encodeStrings(e, l.FsRoot)
		e.Uint32(uint32(len(l.Locations)))
		for i := range l.Locations {
			encodeStrings(e, l.Locations[i].Servers)
			encodeStrings(e, l.Locations[i].RootPath)
		}
	case AttrHidden:
		e.Bool(f.Hidden)
	case AttrHomogeneous:
		e.Bool(f.Homogeneous)
	case AttrMaxfilesize:
		e.Uint64(f.Maxfilesize)
	case AttrMaxlink:
		e.Uint32(f.Maxlink)
	case AttrMaxname:
		e.Uint32(f.Maxname)
	case AttrMaxread:
		e.Uint64(f.Maxread)
	case AttrMaxwrite:
		e.Uint64(f.Maxwrite)
	case AttrMimetype:
		e.String(f.Mimetype)
	case AttrMode:
		e.Uint32(f.Mode)
	case AttrNoTrunc:
		e.Bool(f.NoTrunc)
	case AttrNumlinks:
		e.Uint32(f.Nlink)
	case AttrOwner:
		e.String(f.Owner)
	case AttrOwnerGroup:
		e.String(f.OwnerGroup)
	case AttrQuotaAvailHard:
		e.Uint64(f.QuotaAvailHard)
	case AttrQuotaAvailSoft:
		e.Uint64(f.QuotaAvailSoft)
	case AttrQuotaUsed:
		e.Uint64(f.QuotaUsed)
	case AttrRawdev:
		e.Uint32(f.Rawdev[0])
		e.Uint32(f.Rawdev[1])
	case AttrSpaceAvail:
		e.Uint64(f.SpaceAvail)
	case AttrSpaceFree:
		e.Uint64(f.SpaceFree)
	case AttrSpaceTotal:
		e.Uint64(f.SpaceTotal)
	case AttrSpaceUsed:
		e.Uint64(f.SpaceUsed)
	case AttrSystem:
		e.Bool(f.System)
	case AttrTimeAccess:
		f.Atime.Encode(e)
	case AttrTimeAccessSet:
		f.AtimeSet.Encode(e)
	case AttrTimeBackup:
		f.BackupTime.Encode(e)
	case AttrTimeCreate:
		f.Btime.Encode(e)
	case AttrTimeDelta:
		f.TimeDelta.Encode(e)
	case AttrTimeMetadata:
		f.Ctime.Encode(e)
	case AttrTimeModify:
		f.Mtime.Encode(e)
	case AttrTimeModifySet:
		f.MtimeSet.Encode(e)
	case AttrMountedOnFileid:
		e.Uint64(f.MountedOnFileid)
	case AttrDirNotifDelay:
		f.DirNotifDelay.Encode(e)
	case AttrDirentNotifDelay:
		f.DirentNotifDelay.Encode(e)
	case AttrDacl:
		encodeACL41(e, f.Dacl)
	case AttrSacl:
		encodeACL41(e, f.Sacl)
	case AttrChangePolicy:
		e.Uint64(f.ChangePolicy[0])
		e.Uint64(f.ChangePolicy[1])
	case AttrFsStatus:
		s := f.FsStatus
		if s == nil {
			s = &FsStatus{}
		}
		e.Bool(s.Absent)
		e.Uint32(s.Type)
		e.String(s.Source)
		e.String(s.Current)
		e.Int32(s.Age)
		s.Version.Encode(e)
	case AttrFsLayoutTypes:
		encodeUint32s(e, f.FsLayoutTypes)
	case AttrLayoutType:
		encodeUint32s(e, f.LayoutTypes)
	case AttrLayoutBlksize:
		e.Uint32(f.LayoutBlksize)
	case AttrLayoutAlignment:
		e.Uint32(f.LayoutAlignment)
	case AttrRetentionHold:
		e.Uint64(f.RetentionHold)
	case AttrModeSetMasked:
		e.Uint32(f.ModeSetMasked[0])
		e.Uint32(f.ModeSetMasked[1])
	case AttrSuppattrExclcreat:
		f.SuppattrExclcreat.Encode(e)
	case AttrFsCharsetCap:
		e.Uint32(f.FsCharsetCap)
	case AttrClonePolicy:
		e.Uint32(f.CloneBlksize)
	case AttrSpaceFreed:
		e.Uint64(f.SpaceFreed)
	case AttrChangeAttrType:
		e.Uint32(f.ChangeAttrType)
	case AttrModeUmask:
		e.Uint32(f.ModeUmask[0])
		e.Uint32(f.ModeUmask[1])
	case AttrXattrSupport:
		e.Bool(f.XattrSupport)
	case AttrOffline:
		e.Bool(f.Offline)
	case AttrTimeDelegAccess:
		f.TimeDelegAccess.Encode(e)
	case AttrTimeDelegModify:
		f.TimeDelegModify.Encode(e)
	case AttrOpenArguments:
		oa := f.OpenArguments
		if oa == nil {
			oa = &OpenArguments{}
		}
		oa.ShareAccess.Encode(e)
		oa.ShareDeny.Encode(e)
		oa.ShareAccessWant.Encode(e)
		oa.OpenClaim.Encode(e)
		oa.CreateMode.Encode(e)
	}
}

// DecodeBitmapStrict decodes a bitmap4 of attributes or flags, failing
// (ErrUnknownAttr) on a bit set in a word past MaxBitmapWords, where nothing
// is defined, rather than dropping it as DecodeBitmap does. Trailing zero
// words are not counted in N, so equal sets compare equal.
func DecodeBitmapStrict(d *xdr.Decoder) Bitmap {
	var b Bitmap
	n := d.Count(maxAttrBitmapWords, 4)
	for i := 0; i < n; i++ {
		v := d.Uint32()
		if i < MaxBitmapWords {
			b.W[i] = v
		} else if v != 0 && d.Err() == nil {
			d.SetErr(fmt.Errorf("%w: bitmap bit %d", ErrUnknownAttr, i*32+bits.TrailingZeros32(v)))
		}
	}
	b.N = min(n, MaxBitmapWords)
	for b.N > 0 && b.W[b.N-1] == 0 {
		b.N--
	}
	return b
}

// DecodeFattr decodes a fattr4 (bitmap4 attrmask; opaque attr_vals<>) into
// f, with attr_vals bounded by MaxAttrVals.
func DecodeFattr(d *xdr.Decoder, f *Fattr) error {
	mask := DecodeBitmapStrict(d)
	vals := d.Opaque(MaxAttrVals)
	if err := d.Err(); err != nil {
		*f = Fattr{}
		return fmt.Errorf("fattr4: %w", err)
	}
	return DecodeFattrVals(&mask, vals, f)
}

// DecodeFattrVals decodes attr_vals for the attributes of mask into f
// (which it resets first), walking the mask in ascending order. It fails on
// an attribute it cannot size, on a value that is not valid XDR for its
// type or exceeds a bound, and on bytes left after the last attribute. An
// unknown attribute can be sized only when it is the last one: it is then
// kept in f.Raw. Only lists, strings, structured and raw attributes
// allocate.
func DecodeFattrVals(mask *Bitmap, vals []byte, f *Fattr) error {
	*f = Fattr{Mask: *mask}
	var v xdr.Decoder
	v.Reset(vals)
	n := min(mask.N, MaxBitmapWords)
	for w := 0; w < n; w++ {
		for word := mask.W[w]; word != 0; word &= word - 1 {
			a := w*32 + bits.TrailingZeros32(word)
			start := v.Offset()
			switch {
			case a > MaxKnownAttr:
				if !lastAttr(mask, a) {
					return fmt.Errorf("fattr4: %w %d", ErrUnknownAttr, a)
				}
				if v.Remaining()%4 != 0 {
					return fmt.Errorf("fattr4: attribute %d: %w", a, xdr.ErrShort)
				}
				v.Fixed(v.Remaining())
			default:
				f.decodeAttr(&v, a)
			}
			if err := v.Err(); err != nil {
				return fmt.Errorf("fattr4: attribute %d: %w", a, err)
			}
			if a > MaxKnownAttr || rawAttrs.Has(a) {
				if f.Raw == nil {
					f.Raw = make(map[int][]byte)
				}
				f.Raw[a] = vals[start:v.Offset()]
			}
		}
	}
	if v.Remaining() != 0 {
		return fmt.Errorf("fattr4: %w: %d bytes", ErrAttrTrailing, v.Remaining())
	}
	return nil
}

// lastAttr reports whether a is the highest attribute of mask.
func lastAttr(mask *Bitmap, a int) bool {
	w := a / 32
	if mask.W[w]>>(a%32)>>1 != 0 {
		return false
	}
	for i := w + 1; i < MaxBitmapWords; i++ {
		if mask.W[i] != 0 {
			return false
		}
	}
	return true
}

func decodeString(d *xdr.Decoder) string { return d.String(MaxAttrString) }

func decodePathname(d *xdr.Decoder) []string {
	n := d.Count(MaxAttrList, 4)
	var p []string
	if n > 0 {
		p = make([]string, 0, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		p = append(p, decodeString(d))
	}
	return p
}

func decodeACEs(d *xdr.Decoder) []ACE {
	n := d.Count(MaxAttrList, 16)
	var aces []ACE
	if n > 0 {
		aces = make([]ACE, 0, n)
	}
	for i := 0; i < n && d.Err() == nil; i++ {
		aces = append(aces, ACE{Type: d.Uint32(), Flag: d.Uint32(), AccessMask: d.Uint32(), Who: decodeString(d)})
	}
	return aces
}

func decodeUint32s(d *xdr.Decoder) []uint32 {
	n := d.Count(MaxAttrList, 4)
	var l []uint32
	if n > 0 {
		l = make([]uint32, n)
	}
	for i := 0; i < n; i++ {
		l[i] = d.Uint32()
	}
	return l
}

// DecodeSetTime decodes a settime4.
func DecodeSetTime(d *xdr.Decoder) SetTime {
	st := SetTime{How: d.Uint32()}
	switch st.How {
	case SetToServerTime:
	case SetToClientTime:
		st.Time = DecodeTime(d)
	default:
		if d.Err() == nil {
			d.SetErr(fmt.Errorf("%w %d", ErrBadTimeHow, st.How))
		}
	}
	return st
}

// skipOptional skips an XDR array of at most one element (T x<1>).
func skipOptional(d *xdr.Decoder, size int) {
	if n := d.Count(1, size); n == 1 {
		d.Fixed(size)
	}
}

// decodeAttr decodes the value of known attribute n. Raw attributes are
// checked and skipped; the caller keeps their bytes.
func (f *Fattr) decodeAttr(d *xdr.Decoder, n int) {
	switch n {
	case AttrSupportedAttrs:
		f.SupportedAttrs = DecodeBitmapStrict(d)
	case AttrType:
		f.Type = d.Uint32()
	case AttrFhExpireType:
		f.FhExpireType = d.Uint32()
	case AttrChange:
		f.Change = d.Uint64()
	case AttrSize:
		f.Size = d.Uint64()
	case AttrLinkSupport:
		f.LinkSupport = d.Bool()
	case AttrSymlinkSupport:
		f.SymlinkSupport = d.Bool()
	case AttrNamedAttr:
		f.NamedAttr = d.Bool()
	case AttrFsid:
		f.Fsid = [2]uint64{d.Uint64(), d.Uint64()}
	case AttrUniqueHandles:
		f.UniqueHandles = d.Bool()
	case AttrLeaseTime:
		f.LeaseTime = d.Uint32()
	case AttrRdattrError:
		f.RdattrError = Status(d.Uint32())
	case AttrACL:
		f.ACL = decodeACEs(d)
	case AttrACLSupport:
		f.ACLSupport = d.Uint32()
	case AttrArchive:
		f.Archive = d.Bool()
	case AttrCansettime:
		f.Cansettime = d.Bool()
	case AttrCaseInsensitive:
		f.CaseInsensitive = d.Bool()
	case AttrCasePreserving:
		f.CasePreserving = d.Bool()
	case AttrChownRestricted:
		f.ChownRestricted = d.Bool()
	case AttrFilehandle:
		f.FH = d.Opaque(FHSize)
	case AttrFileid:
		f.Fileid = d.Uint64()
	case AttrFilesAvail:
		f.FilesAvail = d.Uint64()
	case AttrFilesFree:
		f.FilesFree = d.Uint64()
	case AttrFilesTotal:
		f.FilesTotal = d.Uint64()
	case AttrFsLocations:
		l := &FsLocations{FsRoot: decodePathname(d)}
		cnt := d.Count(MaxAttrList, 8)
		for i := 0; i < cnt && d.Err() == nil; i++ {
			l.Locations = append(l.Locations, FsLocation{Servers: decodePathname(d), RootPath: decodePathname(d)})
		}
		f.FsLocations = l
	case AttrHidden:
		f.Hidden = d.Bool()
	case AttrHomogeneous:
		f.Homogeneous = d.Bool()
	case AttrMaxfilesize:
		f.Maxfilesize = d.Uint64()
	case AttrMaxlink:
		f.Maxlink = d.Uint32()
	case AttrMaxname:
		f.Maxname = d.Uint32()
	case AttrMaxread:
		f.Maxread = d.Uint64()
	case AttrMaxwrite:
		f.Maxwrite = d.Uint64()
	case AttrMimetype:
		f.Mimetype = decodeString(d)
	case AttrMode:
		f.Mode = d.Uint32()
	case AttrNoTrunc:
		f.NoTrunc = d.Bool()
	case AttrNumlinks:
		f.Nlink = d.Uint32()
	case AttrOwner:
		f.Owner = decodeString(d)
	case AttrOwnerGroup:
		f.OwnerGroup = decodeString(d)
	case AttrQuotaAvailHard:
		f.QuotaAvailHard = d.Uint64()
	case AttrQuotaAvailSoft:
		f.QuotaAvailSoft = d.Uint64()
	case AttrQuotaUsed:
		f.QuotaUsed = d.Uint64()
	case AttrRawdev:
		f.Rawdev = [2]uint32{d.Uint32(), d.Uint32()}
	case AttrSpaceAvail:
		f.SpaceAvail = d.Uint64()
	case AttrSpaceFree:
		f.SpaceFree = d.Uint64()
	case AttrSpaceTotal:
		f.SpaceTotal = d.Uint64()
	case AttrSpaceUsed:
		f.SpaceUsed = d.Uint64()
	case AttrSystem:
		f.System = d.Bool()
	case AttrTimeAccess:
		f.Atime = DecodeTime(d)
	case AttrTimeAccessSet:
		f.AtimeSet = DecodeSetTime(d)
	case AttrTimeBackup:
		f.BackupTime = DecodeTime(d)
	case AttrTimeCreate:
		f.Btime = DecodeTime(d)
	case AttrTimeDelta:
		f.TimeDelta = DecodeTime(d)
	case AttrTimeMetadata:
		f.Ctime = DecodeTime(d)
	case AttrTimeModify:
		f.Mtime = DecodeTime(d)
	case AttrTimeModifySet:
		f.MtimeSet = DecodeSetTime(d)
	case AttrMountedOnFileid:
		f.MountedOnFileid = d.Uint64()
	case AttrDirNotifDelay:
		f.DirNotifDelay = DecodeTime(d)
	case AttrDirentNotifDelay:
		f.DirentNotifDelay = DecodeTime(d)
	case AttrDacl:
		f.Dacl = &ACL41{Flag: d.Uint32(), ACEs: decodeACEs(d)}
	case AttrSacl:
		f.Sacl = &ACL41{Flag: d.Uint32(), ACEs: decodeACEs(d)}
	case AttrChangePolicy:
		f.ChangePolicy = [2]uint64{d.Uint64(), d.Uint64()}
	case AttrFsStatus:
		f.FsStatus = &FsStatus{Absent: d.Bool(), Type: d.Uint32(), Source: decodeString(d),
			Current: decodeString(d), Age: d.Int32(), Version: DecodeTime(d)}
	case AttrFsLayoutTypes:
		f.FsLayoutTypes = decodeUint32s(d)
	case AttrLayoutHint: // layouthint4 {type; opaque body<>}
		d.Uint32()
		d.Opaque(MaxAttrVals)
	case AttrLayoutType:
		f.LayoutTypes = decodeUint32s(d)
	case AttrLayoutBlksize:
		f.LayoutBlksize = d.Uint32()
	case AttrLayoutAlignment:
		f.LayoutAlignment = d.Uint32()
	case AttrFsLocationsInfo:
		// fs_locations_info4 {flags; valid_for; pathname4 fs_root;
		// fs_locations_item4 items<>} with fs_locations_item4
		// {fs_locations_server4 entries<>; pathname4 rootpath} and
		// fs_locations_server4 {int32 currency; opaque info<>; utf8str_cis server}.
		d.Uint32()
		d.Int32()
		skipPathname(d)
		items := d.Count(MaxAttrList, 8)
		for i := 0; i < items && d.Err() == nil; i++ {
			entries := d.Count(MaxAttrList, 12)
			for j := 0; j < entries && d.Err() == nil; j++ {
				d.Int32()
				d.Opaque(MaxAttrString)
				d.Opaque(MaxAttrString)
			}
			skipPathname(d)
		}
	case AttrMdsthreshold:
		// mdsthreshold4 {threshold_item4 hints<>}, threshold_item4
		// {layouttype4; bitmap4 hintset; opaque hintlist<>}.
		items := d.Count(MaxAttrList, 12)
		for i := 0; i < items && d.Err() == nil; i++ {
			d.Uint32()
			DecodeBitmapStrict(d)
			d.Opaque(MaxAttrVals)
		}
	case AttrRetentionGet, AttrRetentevtGet:
		// retention_get4 {uint64 duration; nfstime4 begin_time<1>}
		d.Uint64()
		skipOptional(d, 12)
	case AttrRetentionSet, AttrRetentevtSet:
		// retention_set4 {bool enable; uint64 duration<1>}
		d.Bool()
		skipOptional(d, 8)
	case AttrRetentionHold:
		f.RetentionHold = d.Uint64()
	case AttrModeSetMasked:
		f.ModeSetMasked = [2]uint32{d.Uint32(), d.Uint32()}
	case AttrSuppattrExclcreat:
		f.SuppattrExclcreat = DecodeBitmapStrict(d)
	case AttrFsCharsetCap:
		f.FsCharsetCap = d.Uint32()
	case AttrClonePolicy: // clone_blksize (RFC 7862)
		f.CloneBlksize = d.Uint32()
	case AttrSpaceFreed:
		f.SpaceFreed = d.Uint64()
	case AttrChangeAttrType:
		f.ChangeAttrType = d.Uint32()
	case AttrSecLabel:
		// sec_label4 {labelformat_spec4 {lfs; pi}; opaque data<>}
		d.Uint32()
		d.Uint32()
		d.Opaque(MaxAttrVals)
	case AttrModeUmask: // RFC 8275
		f.ModeUmask = [2]uint32{d.Uint32(), d.Uint32()}
	case AttrXattrSupport: // RFC 8276
		f.XattrSupport = d.Bool()
	case AttrOffline:
		f.Offline = d.Bool()
	case AttrTimeDelegAccess:
		f.TimeDelegAccess = DecodeTime(d)
	case AttrTimeDelegModify:
		f.TimeDelegModify = DecodeTime(d)
	case AttrOpenArguments:
		f.OpenArguments = &OpenArguments{ShareAccess: DecodeBitmapStrict(d), ShareDeny: DecodeBitmapStrict(d),
			ShareAccessWant: DecodeBitmapStrict(d), OpenClaim: DecodeBitmapStrict(d), CreateMode: DecodeBitmapStrict(d)}
	}
}

// skipPathname checks and skips a pathname4 without keeping it.
func skipPathname(d *xdr.Decoder) {
	n := d.Count(MaxAttrList, 4)
	for i := 0; i < n && d.Err() == nil; i++ {
		d.Opaque(MaxAttrString)
	}
}
