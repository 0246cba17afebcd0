package compound

import (
	"bytes"
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
	supported[2].Set(attrOpenArguments)
	supported[2].Set(nfs4.AttrXattrSupport)
	writeOnly.Set(nfs4.AttrTimeAccessSet)
	writeOnly.Set(nfs4.AttrTimeModifySet)
	for _, a := range []int{nfs4.AttrSize, nfs4.AttrMode, nfs4.AttrOwner, nfs4.AttrOwnerGroup,
		nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet} {
		settable.Set(a)
	}
}

// attrOpenArguments is the NFSv4.2 open_arguments attribute (RFC 9754): which
// OPEN arguments the server supports.
const attrOpenArguments = 86

// encodeOpenArguments encodes our open_arguments4: five bitmaps with bit n
// set when value n of the argument is supported — share access 1-3, deny
// 0-3, want 1-5 (read, write, any and no delegation, cancel), claims NULL,
// PREVIOUS, DELEGATE_CUR, FH and DELEG_CUR_FH, create modes 0-3.
func encodeOpenArguments(e *xdr.Encoder) {
	for _, w := range []uint32{0b1110, 0b1111, 0b111110, 0b110111, 0b1111} {
		e.Uint32(1)
		e.Uint32(w)
	}
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

func encTime(e *xdr.Encoder, t fsal.Time) {
	e.Int64(t.Sec)
	e.Uint32(t.Nsec)
}

// encodeFattr appends a fattr4 with the attributes of req that are
// supported, in bitmap order, written straight into the reply.
func (r *request) encodeFattr(e *xdr.Encoder, req *nfs4.Bitmap, t *attrTarget) uint32 {
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
	out.Encode(e)
	lenOff := e.Reserve(4)
	start := e.Len()
	a := t.a
	for w := 0; w < out.N; w++ {
		word := out.W[w]
		for word != 0 {
			bit := trailingZeros(word)
			word &^= 1 << bit
			switch w*32 + bit {
			case nfs4.AttrSupportedAttrs:
				sup.Encode(e)
			case nfs4.AttrType:
				e.Uint32(ftype(a.Type))
			case nfs4.AttrFhExpireType:
				e.Uint32(nfs4.FH4Persistent)
			case nfs4.AttrChange:
				e.Uint64(a.Change)
			case nfs4.AttrSize:
				e.Uint64(a.Size)
			case nfs4.AttrLinkSupport, nfs4.AttrSymlinkSupport, nfs4.AttrUniqueHandles,
				nfs4.AttrCasePreserving, nfs4.AttrChownRestricted, nfs4.AttrHomogeneous,
				nfs4.AttrNoTrunc, nfs4.AttrCansettime:
				e.Bool(true)
			case nfs4.AttrNamedAttr, nfs4.AttrCaseInsensitive:
				e.Bool(false)
			case nfs4.AttrFsid:
				e.Uint64(t.fsid[0])
				e.Uint64(t.fsid[1])
			case nfs4.AttrLeaseTime:
				e.Uint32(uint32(r.s.cfg.State.Lease().Seconds()))
			case nfs4.AttrRdattrError:
				e.Uint32(nfs4.OK)
			case nfs4.AttrACLSupport:
				e.Uint32(0)
			case nfs4.AttrFilehandle:
				e.Opaque(t.fh)
			case nfs4.AttrFileid:
				e.Uint64(a.Fileid)
			case nfs4.AttrFilesAvail:
				e.Uint64(sf.AvailFiles)
			case nfs4.AttrFilesFree:
				e.Uint64(sf.FreeFiles)
			case nfs4.AttrFilesTotal:
				e.Uint64(sf.TotalFiles)
			case nfs4.AttrMaxfilesize:
				e.Uint64(maxFileSize)
			case nfs4.AttrMaxlink:
				e.Uint32(maxLink)
			case nfs4.AttrMaxname:
				e.Uint32(nfs4.MaxNameLen)
			case nfs4.AttrMaxread, nfs4.AttrMaxwrite:
				e.Uint64(uint64(r.s.maxIO))
			case nfs4.AttrMode:
				e.Uint32(a.Mode & 07777)
			case nfs4.AttrNumlinks:
				e.Uint32(a.Nlink)
			case nfs4.AttrOwner:
				e.String(strconv.FormatUint(uint64(a.UID), 10))
			case nfs4.AttrOwnerGroup:
				e.String(strconv.FormatUint(uint64(a.GID), 10))
			case nfs4.AttrRawdev:
				e.Uint32(a.RdevMajor)
				e.Uint32(a.RdevMinor)
			case nfs4.AttrSpaceAvail:
				e.Uint64(sf.AvailBytes)
			case nfs4.AttrSpaceFree:
				e.Uint64(sf.FreeBytes)
			case nfs4.AttrSpaceTotal:
				e.Uint64(sf.TotalBytes)
			case nfs4.AttrSpaceUsed:
				e.Uint64(a.SpaceUsed)
			case nfs4.AttrTimeAccess:
				encTime(e, a.Atime)
			case nfs4.AttrTimeCreate:
				encTime(e, a.Btime)
			case nfs4.AttrTimeDelta:
				e.Int64(0)
				e.Uint32(1)
			case nfs4.AttrTimeMetadata:
				encTime(e, a.Ctime)
			case nfs4.AttrTimeModify:
				encTime(e, a.Mtime)
			case nfs4.AttrMountedOnFileid:
				e.Uint64(t.mountedOn)
			case nfs4.AttrSuppattrExclcreat:
				var b nfs4.Bitmap
				b.Set(nfs4.AttrSize)
				b.Set(nfs4.AttrMode)
				b.Set(nfs4.AttrOwner)
				b.Set(nfs4.AttrOwnerGroup)
				b.Encode(e)
			case attrOpenArguments:
				encodeOpenArguments(e)
			case nfs4.AttrXattrSupport:
				e.Bool(xattrSupport(t))
			}
		}
	}
	e.PutUint32At(lenOff, uint32(e.Len()-start))
	return nfs4.OK
}

func trailingZeros(w uint32) int {
	n := 0
	for w&1 == 0 {
		w >>= 1
		n++
	}
	return n
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
func (r *request) getattrRef(ref *fileRef) (fsal.Attr, uint32) {
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
// (RFC 7530 section 16.32.5).
func (r *request) decodeFattr(d *xdr.Decoder) (decodedAttrs, uint32) {
	var out decodedAttrs
	mask := nfs4.DecodeBitmap(d)
	vals := d.Opaque(64 << 10)
	if d.Err() != nil {
		return out, nfs4.ErrBadxdr
	}
	out.mask = mask
	vd := xdr.NewDecoder(vals)
	for _, a := range mask.Bits() {
		if !supported[r.minor].Has(a) {
			return out, nfs4.ErrAttrnotsupp
		}
		if !settable.Has(a) {
			return out, nfs4.ErrInval
		}
		switch a {
		case nfs4.AttrSize:
			out.sa.Mask |= fsal.SetSize
			out.sa.Size = vd.Uint64()
		case nfs4.AttrMode:
			out.sa.Mask |= fsal.SetMode
			out.sa.Mode = vd.Uint32() & 07777
		case nfs4.AttrOwner:
			id, st := parseOwner(vd.String(nfs4.OpaqueLimit), false)
			if st != nfs4.OK {
				return out, st
			}
			out.sa.Mask |= fsal.SetUID
			out.sa.UID = id
		case nfs4.AttrOwnerGroup:
			id, st := parseOwner(vd.String(nfs4.OpaqueLimit), true)
			if st != nfs4.OK {
				return out, st
			}
			out.sa.Mask |= fsal.SetGID
			out.sa.GID = id
		case nfs4.AttrTimeAccessSet, nfs4.AttrTimeModifySet:
			how := vd.Uint32()
			var t fsal.Time
			switch how {
			case nfs4.SetToServerTime:
			case nfs4.SetToClientTime:
				t.Sec = vd.Int64()
				t.Nsec = vd.Uint32()
				if t.Nsec >= 1e9 {
					return out, nfs4.ErrInval
				}
			default:
				return out, nfs4.ErrBadxdr
			}
			if a == nfs4.AttrTimeAccessSet {
				if how == nfs4.SetToServerTime {
					out.sa.Mask |= fsal.SetAtimeNow
				} else {
					out.sa.Mask |= fsal.SetAtime
					out.sa.Atime = t
				}
			} else {
				if how == nfs4.SetToServerTime {
					out.sa.Mask |= fsal.SetMtimeNow
				} else {
					out.sa.Mask |= fsal.SetMtime
					out.sa.Mtime = t
				}
			}
		}
		if vd.Err() != nil {
			return out, nfs4.ErrBadxdr
		}
	}
	if vd.Remaining() != 0 {
		return out, nfs4.ErrBadxdr
	}
	return out, nfs4.OK
}

// parseOwner accepts a numeric id ("1000"), or "name@domain" / "name"
// resolved through the local user database.
func parseOwner(s string, group bool) (uint32, uint32) {
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
