package compound

import (
	"bytes"
	"errors"
	"math"
	"syscall"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// NFSv4.2 extended attributes (RFC 8276) and ALLOCATE (RFC 7862 section
// 15.1). Xattr names travel without a namespace; the backend keeps them in
// its "user." namespace (fsal.Xattrer), as knfsd does.

// maxXattrName bounds a name from the wire: what fits the backend's limit
// once the "user." prefix is added.
const maxXattrName = fsal.MaxXattrName - len(fsal.XattrPrefix)

// RFC 8276 ACCESS bits.
const (
	accessXARead  = 0x40
	accessXAWrite = 0x80
	accessXAList  = 0x100
)

// xattrer returns the backend's xattr support for the current handle, or
// the status to fail with: objects of the pseudo-filesystem and backends
// without xattrs answer NFS4ERR_NOTSUPP (RFC 8276 section 8.4).
func (r *request) xattrer() (fsal.Xattrer, nfs4.Status) {
	if st := r.needFH(); st != nfs4.OK {
		return nil, st
	}
	if r.cur.exp == nil {
		return nil, nfs4.ErrNotsupp
	}
	x, ok := r.cur.exp.FS.(fsal.Xattrer)
	if !ok {
		return nil, nfs4.ErrNotsupp
	}
	return x, nfs4.OK
}

// xattrSupport is the xattr_support attribute of an object.
func xattrSupport(t *attrTarget) bool {
	if t.exp == nil {
		return false
	}
	_, ok := t.exp.FS.(fsal.Xattrer)
	return ok
}

// decodeXattrName reads an xattrkey4. Names the backend cannot store (NUL
// bytes) are NFS4ERR_INVAL; longer than it allows, NFS4ERR_NAMETOOLONG.
// Linux clients send whatever bytes a local name had, so UTF-8 is not
// enforced (knfsd does not either).
func decodeXattrName(d *xdr.Decoder) (string, nfs4.Status) {
	b := d.Opaque(nfs4.MaxPathLen)
	if d.Err() != nil {
		return "", nfs4.ErrBadxdr
	}
	switch {
	case len(b) == 0:
		return "", nfs4.ErrInval
	case len(b) > maxXattrName:
		return "", nfs4.ErrNametoolong
	case bytes.IndexByte(b, 0) >= 0:
		return "", nfs4.ErrInval
	}
	return string(b), nfs4.OK
}

// xattrStatus maps a backend error: E2BIG and ERANGE (a value or list too
// large for the backend, or for us) are NFS4ERR_XATTR2BIG.
func xattrStatus(err error) nfs4.Status {
	if errors.Is(err, syscall.E2BIG) || errors.Is(err, syscall.ERANGE) {
		return nfs4.ErrXattr2big
	}
	return statusOf(err)
}

// changeOf returns the current object's change attribute, for change_info4.
func (r *request) changeOf() uint64 {
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return 0
	}
	return a.Change
}

func opGetxattr(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, nst := decodeXattrName(d)
	if nst == nfs4.ErrBadxdr {
		return nst
	}
	x, st := r.xattrer()
	if st != nfs4.OK {
		return st
	}
	if nst != nfs4.OK {
		return nst
	}
	// Reading attributes of a file another client may be writing under a
	// write delegation.
	if st := r.breakWriteDelegs(r.cur.raw); st != nfs4.OK {
		return st
	}
	v, err := x.GetXattr(r.ctx, r.credFor(r.cur.exp), r.cur.key, name)
	if err != nil {
		return xattrStatus(err)
	}
	if len(v) > fsal.MaxXattrValue {
		return nfs4.ErrXattr2big
	}
	e.Opaque(v)
	return nfs4.OK
}

func opSetxattr(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	option := d.Uint32()
	name, nst := decodeXattrName(d)
	if nst == nfs4.ErrBadxdr {
		return nst
	}
	// The value is a slice of the request, whose size the RPC layer
	// bounds: decode it whole to tell a too-large value (XATTR2BIG) from
	// a malformed request.
	value := d.Opaque(math.MaxInt32)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	x, st := r.xattrer()
	if st != nfs4.OK {
		return st
	}
	if r.cur.exp.ReadOnly {
		return nfs4.ErrRofs
	}
	if nst != nfs4.OK {
		return nst
	}
	var mode fsal.XattrSetMode
	switch option {
	case 0:
		mode = fsal.XattrEither
	case 1:
		mode = fsal.XattrCreate
	case 2:
		mode = fsal.XattrReplace
	default:
		return nfs4.ErrInval
	}
	if len(value) > fsal.MaxXattrValue {
		return nfs4.ErrXattr2big
	}
	if st := r.breakDelegs(r.cur.raw); st != nfs4.OK {
		return st
	}
	before := r.changeOf()
	if err := x.SetXattr(r.ctx, r.credFor(r.cur.exp), r.cur.key, name, value, mode); err != nil {
		return xattrStatus(err)
	}
	encCinfo(e, before, r.changeOf())
	return nfs4.OK
}

func opRemovexattr(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, nst := decodeXattrName(d)
	if nst == nfs4.ErrBadxdr {
		return nst
	}
	x, st := r.xattrer()
	if st != nfs4.OK {
		return st
	}
	if r.cur.exp.ReadOnly {
		return nfs4.ErrRofs
	}
	if nst != nfs4.OK {
		return nst
	}
	if st := r.breakDelegs(r.cur.raw); st != nfs4.OK {
		return st
	}
	before := r.changeOf()
	if err := x.RemoveXattr(r.ctx, r.credFor(r.cur.exp), r.cur.key, name); err != nil {
		return xattrStatus(err)
	}
	encCinfo(e, before, r.changeOf())
	return nfs4.OK
}

// listxattrsFixed is the size of a LISTXATTRS4resok without names: cookie,
// array length, eof.
const listxattrsFixed = 8 + 4 + 4

// opListxattrs lists names from position cookie (the count of names
// already returned: a cookie is an index into the list, as knfsd's is) in
// at most maxcount bytes of result.
func opListxattrs(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	cookie := d.Uint64()
	maxcount := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	x, st := r.xattrer()
	if st != nfs4.OK {
		return st
	}
	if st := r.breakWriteDelegs(r.cur.raw); st != nfs4.OK {
		return st
	}
	names, err := x.ListXattrs(r.ctx, r.credFor(r.cur.exp), r.cur.key)
	if err != nil {
		return xattrStatus(err)
	}
	if cookie > uint64(len(names)) {
		return nfs4.ErrBadCookie
	}
	names = names[cookie:]
	if maxcount < listxattrsFixed {
		return nfs4.ErrToosmall
	}
	budget := int(maxcount) - listxattrsFixed
	n := 0
	for _, nm := range names {
		sz := 4 + (len(nm)+3)&^3
		if sz > budget {
			break
		}
		budget -= sz
		n++
	}
	if n == 0 && len(names) > 0 {
		return nfs4.ErrToosmall
	}
	e.Uint64(cookie + uint64(n))
	e.Uint32(uint32(n))
	for _, nm := range names[:n] {
		e.String(nm)
	}
	e.Bool(n == len(names))
	return nfs4.OK
}

func opAllocate(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	off := d.Uint64()
	length := d.Uint64()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needExportFH(nfs4.ErrIsdir); st != nfs4.OK {
		return st
	}
	if r.cur.exp.ReadOnly {
		return nfs4.ErrRofs
	}
	if length == 0 {
		return nfs4.ErrInval
	}
	if off+length < off || off+length > maxFileSize {
		return nfs4.ErrFbig
	}
	f, done, st := r.ioState(sid, true)
	if st != nfs4.OK {
		return st
	}
	defer done()
	a, ok := f.(fsal.Allocator)
	if !ok {
		return nfs4.ErrNotsupp
	}
	if err := a.Allocate(r.ctx, off, length); err != nil {
		return statusOf(err)
	}
	return nfs4.OK
}

// xattrAccess answers ACCESS's xattr bits (RFC 8276 section 8.3) as the
// kernel's user-namespace rules would: read permission to read or list,
// write permission to change; only regular files and directories carry
// user xattrs. Without backend support the bits are not granted.
func xattrAccess(r *request, a *fsal.Attr, perm uint32, ro bool) uint32 {
	if _, st := r.xattrer(); st != nfs4.OK {
		return 0
	}
	if a.Type != fsal.TypeRegular && a.Type != fsal.TypeDirectory {
		return 0
	}
	var allowed uint32
	if perm&4 != 0 {
		allowed |= accessXARead | accessXAList
	}
	if perm&2 != 0 && !ro {
		allowed |= accessXAWrite
	}
	return allowed
}
