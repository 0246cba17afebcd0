package compound

import (
	"bytes"
	"math/bits"
	"os/user"
	"strconv"
	"strings"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// supported holds the attributes served per minor version.
var supported [3]nfs4.Bitmap

// writeOnly are attributes that can be set but not read.
var writeOnly nfs4.Bitmap

// settable are the attributes SETATTR accepts.
var settable nfs4.Bitmap

func init() {
	common := []int{
		nfs4.AttrSupportedAttrs, nfs4.AttrType, nfs4.AttrFhExpireType, nfs4.AttrChange, nfs4.AttrSize,
		nfs4.AttrLinkSupport, nfs4.AttrSymlinkSupport, nfs4.AttrNamedAttr, nfs4.AttrFsid, nfs4.AttrUniqueHandles,
		nfs4.AttrLeaseTime, nfs4.AttrRdattrError, nfs4.AttrACLSupport, nfs4.AttrCansettime,
		nfs4.AttrCaseInsensitive, nfs4.AttrCasePreserving, nfs4.AttrChownRestricted, nfs4.AttrFilehandle,
		nfs4.AttrFileid, nfs4.AttrFilesAvail, nfs4.AttrFilesFree, nfs4.AttrFilesTotal, nfs4.AttrHomogeneous,
		nfs4.AttrMaxfilesize, nfs4.AttrMaxlink, nfs4.AttrMaxname, nfs4.AttrMaxread, nfs4.AttrMaxwrite,
		nfs4.AttrMode, nfs4.AttrNoTrunc, nfs4.AttrNumlinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
		nfs4.AttrRawdev, nfs4.AttrSpaceAvail, nfs4.AttrSpaceFree, nfs4.AttrSpaceTotal, nfs4.AttrSpaceUsed,
		nfs4.AttrTimeAccess, nfs4.AttrTimeAccessSet, nfs4.AttrTimeCreate, nfs4.AttrTimeDelta,
		nfs4.AttrTimeMetadata, nfs4.AttrTimeModify, nfs4.AttrTimeModifySet, nfs4.AttrMountedOnFileid,
	}
	for v := 0; v < 3; v++ {
		for _, a := range common {
			supported[v].Set(a)
		}
		if v > 0 {
			supported[v].Set(nfs4.AttrSuppattrExclcreat)
		}
	}
	supported[2].Set(nfs4.AttrOpenArguments)
	supported[2].Set(nfs4.AttrXattrSupport)
	// The attributes an EXCLUSIVE4_1 create may set along with its
	// verifier (suppattr_exclcreat).
	for _, a := range []int{nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup} {
		fattrTemplate.SuppattrExclcreat.Set(a)
	}
	writeOnly.Set(nfs4.AttrTimeAccessSet)
	writeOnly.Set(nfs4.AttrTimeModifySet)
	for _, a := range []int{nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
		nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet} {
		settable.Set(a)
	}
}

// openArguments is our open_arguments4 (RFC 9754): bit n of each bitmap
// is set when value n of that OPEN argument is supported — share access
// 1-3, deny 0-3, want 1-5 (read, write, any and no delegation, cancel),
// claims NULL, PREVIOUS, DELEGATE_CUR, FH and DELEG_CUR_FH, create modes 0-3.
var openArguments = nfs4.OpenArguments{
	ShareAccess:     nfs4.Bitmap{W: [nfs4.MaxBitmapWords]uint32{0b1110}, N: 1},
	ShareDeny:       nfs4.Bitmap{W: [nfs4.MaxBitmapWords]uint32{0b1111}, N: 1},
	ShareAccessWant: nfs4.Bitmap{W: [nfs4.MaxBitmapWords]uint32{0b111110}, N: 1},
	OpenClaim:       nfs4.Bitmap{W: [nfs4.MaxBitmapWords]uint32{0b110111}, N: 1},
	CreateMode:      nfs4.Bitmap{W: [nfs4.MaxBitmapWords]uint32{0b1111}, N: 1},
}

// Limits advertised in attributes.
const (
	maxFileSize = 1<<63 - 1
	maxLink     = 65000
)

// attrTarget is everything GETATTR may need to describe one object.
type attrTarget struct {
	a         *fsal.Attr
	fh        []byte
	fsid      [2]uint64
	mountedOn uint64
	// exp and key locate the object for space and file counts, which
	// need a statfs; nil for the pseudo-filesystem (all zero).
	exp *export.Export
	key fsal.Handle
}

func ftype(t fsal.FileType) uint32 {
	switch t {
	case fsal.TypeRegular:
		return nfs4.NF4REG
	case fsal.TypeDirectory:
		return nfs4.NF4DIR
	case fsal.TypeBlock:
		return nfs4.NF4BLK
	case fsal.TypeChar:
		return nfs4.NF4CHR
	case fsal.TypeSymlink:
		return nfs4.NF4LNK
	case fsal.TypeSocket:
		return nfs4.NF4SOCK
	case fsal.TypeFIFO:
		return nfs4.NF4FIFO
	}
	return nfs4.NF4REG
}

// fattrTemplate holds the attributes that are the same for every object;
// encodeFattr starts from a copy of it.
var fattrTemplate = nfs4.Fattr{
	FhExpireType: nfs4.FH4Persistent,
	LinkSupport:  true, SymlinkSupport: true, UniqueHandles: true, CasePreserving: true,
	ChownRestricted: true, Homogeneous: true, NoTrunc: true, Cansettime: true,
	RdattrError: nfs4.OK,
	Maxfilesize: maxFileSize, Maxlink: maxLink, Maxname: nfs4.MaxNameLen,
	TimeDelta:     nfs4.Time{Nsec: 1},
	OpenArguments: &openArguments,
}

func fsalTime(t fsal.Time) nfs4.Time { return nfs4.Time{Sec: t.Sec, Nsec: t.Nsec} }

// encodeFattr appends a fattr4 with the attributes of req that are
// supported, written straight into the reply. It allocates nothing but
// owner strings of ids above 99.
func (r *request) encodeFattr(e *xdr.Encoder, req *nfs4.Bitmap, t *attrTarget) nfs4.Status {
	sup := &supported[r.minor]
	out := req.And(sup)
	for i := 0; i < nfs4.MaxBitmapWords; i++ {
		out.W[i] &^= writeOnly.W[i]
	}
	var sf fsal.Statfs
	needStatfs := out.Has(nfs4.AttrFilesAvail) || out.Has(nfs4.AttrFilesFree) || out.Has(nfs4.AttrFilesTotal) ||
		out.Has(nfs4.AttrSpaceAvail) || out.Has(nfs4.AttrSpaceFree) || out.Has(nfs4.AttrSpaceTotal)
	if needStatfs && t.exp != nil {
		var err error
		if sf, err = t.exp.FS.Statfs(r.ctx, r.credFor(t.exp), t.key); err != nil {
			return statusOf(err)
		}
	}
	a := t.a
	f := fattrTemplate
	f.SupportedAttrs = *sup
	f.Type = ftype(a.Type)
	f.Change = a.Change
	f.Size = a.Size
	f.Fsid = t.fsid
	f.LeaseTime = uint32(r.s.cfg.State.Lease().Seconds())
	f.FH = t.fh
	f.Fileid = a.Fileid
	f.FilesAvail, f.FilesFree, f.FilesTotal = sf.AvailFiles, sf.FreeFiles, sf.TotalFiles
	f.Maxread, f.Maxwrite = uint64(r.s.maxIO), uint64(r.s.maxIO)
	f.Mode = a.Mode & 07777
	f.Nlink = a.Nlink
	if out.Has(nfs4.AttrOwner) {
		f.Owner = strconv.FormatUint(uint64(a.UID), 10)
	}
	if out.Has(nfs4.AttrOwnerGroup) {
		f.OwnerGroup = strconv.FormatUint(uint64(a.GID), 10)
	}
	f.Rawdev = [2]uint32{a.RdevMajor, a.RdevMinor}
	f.SpaceAvail, f.SpaceFree, f.SpaceTotal = sf.AvailBytes, sf.FreeBytes, sf.TotalBytes
	f.SpaceUsed = a.SpaceUsed
	f.Atime, f.Btime, f.Ctime, f.Mtime = fsalTime(a.Atime), fsalTime(a.Btime), fsalTime(a.Ctime), fsalTime(a.Mtime)
	f.MountedOnFileid = t.mountedOn
	if out.Has(nfs4.AttrXattrSupport) {
		f.XattrSupport = xattrSupport(t)
	}
	if err := f.EncodeMask(e, &out); err != nil {
		// Every supported attribute has a field.
		r.s.log.Error("encoding attributes", "error", err)
		return nfs4.ErrServerfault
	}
	return nfs4.OK
}

// target builds the attribute source for a file. It is a value, so that
// GETATTR allocates nothing for it.
//
// The target and a copy of a live in the request, which is on the heap
// anyway: the attribute encoders are called through a table, so a target
// of the caller's would escape, two allocations per GETATTR. Each call
// replaces the previous target, so it serves one encodeFattr at a time.
func (r *request) target(ref *fileRef, a *fsal.Attr) *attrTarget {
	r.tgtAttr = *a
	r.tgt = attrTarget{a: &r.tgtAttr, fh: ref.raw, mountedOn: a.Fileid}
	t := &r.tgt
	if exp := ref.exp; exp != nil {
		t.exp, t.key = exp, ref.key
		t.fsid = [2]uint64{uint64(exp.ID), 0}
		if a.Type == fsal.TypeDirectory && bytes.Equal(ref.key, exp.FS.Root()) {
			if n := r.tbl.PseudoNodeOf(exp); n != nil && n.Parent != nil {
				t.mountedOn = n.ID
			}
		}
	}
	return t
}

// getattrRef returns the attributes of a resolved handle.
func (r *request) getattrRef(ref *fileRef) (fsal.Attr, nfs4.Status) {
	if ref.pseudo != nil {
		n := ref.pseudo
		return fsal.Attr{Type: fsal.TypeDirectory, Mode: 0555, Nlink: uint32(2 + len(n.Children)),
			Fileid: n.ID, Change: uint64(r.s.cfg.Boot.UnixNano()),
			Atime: fsal.Time{Sec: r.s.cfg.Boot.Unix()}, Mtime: fsal.Time{Sec: r.s.cfg.Boot.Unix()},
			Ctime: fsal.Time{Sec: r.s.cfg.Boot.Unix()}}, nfs4.OK
	}
	a, err := ref.exp.FS.Getattr(r.ctx, r.credFor(ref.exp), ref.key)
	if err != nil {
		return a, statusOf(err)
	}
	return a, nfs4.OK
}

// decodedAttrs is a fattr4 a client sent (SETATTR, CREATE, OPEN).
type decodedAttrs struct {
	mask nfs4.Bitmap
	sa   fsal.SetAttr
}

// decodeFattr decodes a fattr4 carrying settable attributes. Attributes we
// do not support yield NFS4ERR_ATTRNOTSUPP and read-only ones NFS4ERR_INVAL
// (RFC 7530 section 16.32.5), whichever comes first in the mask, before any
// value is read; values that are not valid XDR yield NFS4ERR_BADXDR.
func (r *request) decodeFattr(d *xdr.Decoder) (decodedAttrs, nfs4.Status) {
	var out decodedAttrs
	mask := nfs4.DecodeBitmap(d)
	vals := d.Opaque(64 << 10)
	if d.Err() != nil {
		return out, nfs4.ErrBadxdr
	}
	out.mask = mask
	for w := 0; w < mask.N; w++ {
		for word := mask.W[w]; word != 0; word &= word - 1 {
			a := w*32 + bits.TrailingZeros32(word)
			if !supported[r.minor].Has(a) {
				return out, nfs4.ErrAttrnotsupp
			}
			if !settable.Has(a) {
				return out, nfs4.ErrInval
			}
		}
	}
	var f nfs4.Fattr
	var st nfs4.Status
	if err := nfs4.DecodeFattrVals(&mask, vals, &f); err != nil {
		return out, nfs4.ErrBadxdr
	}
	// In the mask's order, so that the first bad value decides the status.
	if f.Has(nfs4.AttrSize) {
		out.sa.Mask |= fsal.SetSize
		out.sa.Size = f.Size
	}
	if f.Has(nfs4.AttrMode) {
		out.sa.Mask |= fsal.SetMode
		out.sa.Mode = f.Mode & 07777
	}
	if f.Has(nfs4.AttrOwner) {
		if out.sa.UID, st = ownerID(f.Owner, false); st != nfs4.OK {
			return out, st
		}
		out.sa.Mask |= fsal.SetUID
	}
	if f.Has(nfs4.AttrOwnerGroup) {
		if out.sa.GID, st = ownerID(f.OwnerGroup, true); st != nfs4.OK {
			return out, st
		}
		out.sa.Mask |= fsal.SetGID
	}
	if f.Has(nfs4.AttrTimeAccessSet) {
		if st = setTime(&out.sa, f.AtimeSet, fsal.SetAtimeNow, fsal.SetAtime, &out.sa.Atime); st != nfs4.OK {
			return out, st
		}
	}
	if f.Has(nfs4.AttrTimeModifySet) {
		if st = setTime(&out.sa, f.MtimeSet, fsal.SetMtimeNow, fsal.SetMtime, &out.sa.Mtime); st != nfs4.OK {
			return out, st
		}
	}
	return out, nfs4.OK
}

// ownerID is the id an owner or owner_group attribute names.
func ownerID(s string, group bool) (uint32, nfs4.Status) {
	// Our bound on owner strings is tighter than the codec's.
	if len(s) > nfs4.OpaqueLimit {
		return 0, nfs4.ErrBadxdr
	}
	return parseOwner(s, group)
}

// setTime adds a time_access_set or time_modify_set to sa: now for the
// server's clock, set and *dst for the client's.
func setTime(sa *fsal.SetAttr, t nfs4.SetTime, now, set uint32, dst *fsal.Time) nfs4.Status {
	if t.How == nfs4.SetToServerTime {
		sa.Mask |= now
		return nfs4.OK
	}
	if t.Time.Nsec >= 1e9 {
		return nfs4.ErrInval
	}
	sa.Mask |= set
	*dst = fsal.Time{Sec: t.Time.Sec, Nsec: t.Time.Nsec}
	return nfs4.OK
}

// parseOwner accepts a numeric id ("1000"), or "name@domain" / "name"
// resolved through the local user database.
func parseOwner(s string, group bool) (uint32, nfs4.Status) {
	if s == "" {
		return 0, nfs4.ErrInval
	}
	name := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		name = s[:i]
	}
	if id, err := strconv.ParseUint(name, 10, 32); err == nil {
		return uint32(id), nfs4.OK
	}
	var idStr string
	if group {
		g, err := user.LookupGroup(name)
		if err != nil {
			return 0, nfs4.ErrBadowner
		}
		idStr = g.Gid
	} else {
		u, err := user.Lookup(name)
		if err != nil {
			return 0, nfs4.ErrBadowner
		}
		idStr = u.Uid
	}
	id, err := strconv.ParseUint(idStr, 10, 32)
	if err != nil {
		return 0, nfs4.ErrBadowner
	}
	return uint32(id), nfs4.OK
}
