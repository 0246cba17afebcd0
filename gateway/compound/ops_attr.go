package compound

import (
	"bytes"
	"context"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

func opGetattr(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	req := nfs4.DecodeBitmap(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	for i := 0; i < req.N; i++ {
		if req.W[i]&writeOnly.W[i] != 0 {
			// time_access_set and time_modify_set cannot be read
			// (RFC 7530 section 16.7.5).
			return nfs4.ErrInval
		}
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return st
	}
	if r.s.cfg.State.WriteDelegations() > 0 && (req.Has(nfs4.AttrChange) || req.Has(nfs4.AttrSize) ||
		req.Has(nfs4.AttrTimeModify) || req.Has(nfs4.AttrTimeMetadata) || req.Has(nfs4.AttrSpaceUsed)) {
		if st := r.writeDelegAttrs(&a); st != nfs4.OK {
			return st
		}
	}
	return r.encodeFattr(e, &req, r.target(&r.cur, &a))
}

// writeDelegAttrs corrects the size and change attribute of the current
// file when another client holds a write delegation on it, which may hide
// changes the backend does not know of yet: its holder is asked with
// CB_GETATTR, and if that fails the delegation is recalled
// (NFS4ERR_DELAY).
func (r *request) writeDelegAttrs(a *fsal.Attr) nfs4.Status {
	sm := r.s.cfg.State
	if d := sm.WriteDelegOf(r.fileKey(), r.requestClient()); d != nil {
		ctx, cancel := context.WithTimeout(r.ctx, cbGetattrTimeout)
		cb, err := r.s.cbGetattr(ctx, d)
		cancel()
		if err == nil {
			a.Size, a.Change = sm.MergeCBGetattr(d, a.Size, a.Change, cb)
			return nfs4.OK
		}
		r.s.log.Debug("CB_GETATTR failed; recalling", "client", d.Client.ID, "error", err)
	}
	return r.breakWriteDelegs(r.cur.raw)
}

func opSetattr(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	attrs, st := r.decodeFattr(d)
	var none nfs4.Bitmap
	fail := func(st nfs4.Status) nfs4.Status {
		none.Encode(e)
		return st
	}
	if st == nfs4.ErrBadxdr {
		return fail(st)
	}
	if st2 := r.needFH(); st2 != nfs4.OK {
		return fail(st2)
	}
	if st != nfs4.OK {
		return fail(st)
	}
	if st := r.writable(); st != nfs4.OK {
		return fail(st)
	}
	sa := attrs.sa
	if sa.Mask&fsal.SetSize != 0 {
		a, st := r.getattrRef(&r.cur)
		if st != nfs4.OK {
			return fail(st)
		}
		switch a.Type {
		case fsal.TypeRegular:
		case fsal.TypeDirectory:
			return fail(nfs4.ErrIsdir)
		default:
			return fail(nfs4.ErrInval)
		}
		// A size change is a write: it needs a stateid allowing writes
		// unless it is a special one (RFC 7530 section 16.32.4).
		_, done, st := r.ioState(sid, true)
		if st != nfs4.OK {
			return fail(st)
		}
		done()
		if st := r.breakDelegs(r.cur.raw); st != nfs4.OK {
			return fail(st)
		}
	}
	if sa.Mask == 0 {
		attrs.mask.Encode(e)
		return nfs4.OK
	}
	// The holder of a write delegation answers opens and caches
	// attributes on its own: any change by another client recalls it.
	if st := r.breakWriteDelegs(r.cur.raw); st != nfs4.OK {
		return fail(st)
	}
	exp := r.cur.exp
	if _, err := exp.FS.Setattr(r.ctx, r.credFor(exp), r.cur.key, &sa); err != nil {
		return fail(statusOf(err))
	}
	attrs.mask.Encode(e)
	return nfs4.OK
}

// verify compares the client's fattr4 with ours: the encodings must be
// equal byte for byte (RFC 7530 section 16.35.4).
func (r *request) verify(d *xdr.Decoder) (same bool, st nfs4.Status) {
	mask := nfs4.DecodeBitmap(d)
	vals := d.Opaque(64 << 10)
	if d.Err() != nil {
		return false, nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return false, st
	}
	for _, b := range mask.Bits() {
		if !supported[r.minor].Has(b) {
			return false, nfs4.ErrAttrnotsupp
		}
		if writeOnly.Has(b) || b == nfs4.AttrRdattrError {
			return false, nfs4.ErrInval
		}
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return false, st
	}
	var tmp xdr.Encoder
	if st := r.encodeFattr(&tmp, &mask, r.target(&r.cur, &a)); st != nfs4.OK {
		return false, st
	}
	// Skip our bitmap and length to compare the values only.
	td := xdr.NewDecoder(tmp.Buf)
	nfs4.DecodeBitmap(td)
	ours := td.Opaque(len(tmp.Buf))
	return bytes.Equal(ours, vals), nfs4.OK
}

func opVerify(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	same, st := r.verify(d)
	if st != nfs4.OK {
		return st
	}
	if !same {
		return nfs4.ErrNotSame
	}
	return nfs4.OK
}

func opNVerify(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	same, st := r.verify(d)
	if st != nfs4.OK {
		return st
	}
	if same {
		return nfs4.ErrSame
	}
	return nfs4.OK
}

func opAccess(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	want := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	valid := uint32(0x3f)
	if r.minor >= 2 {
		valid |= accessXARead | accessXAWrite | accessXAList
	}
	if want&^valid != 0 {
		return nfs4.ErrInval
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return st
	}
	supp := want
	var allowed uint32
	cred := &r.cred
	ro := true
	if r.cur.exp != nil {
		cred = r.credFor(r.cur.exp)
		ro = r.cur.exp.ReadOnly
	}
	perm := modeBits(&a, cred)
	if a.Type == fsal.TypeDirectory {
		if perm&4 != 0 {
			allowed |= nfs4.AccessRead
		}
		if perm&1 != 0 {
			allowed |= nfs4.AccessLookup
		}
		if perm&2 != 0 && perm&1 != 0 && !ro {
			allowed |= nfs4.AccessModify | nfs4.AccessExtend | nfs4.AccessDelete
		}
		supp &^= nfs4.AccessExecute
	} else {
		if perm&4 != 0 {
			allowed |= nfs4.AccessRead
		}
		if perm&2 != 0 && !ro {
			allowed |= nfs4.AccessModify | nfs4.AccessExtend
		}
		if perm&1 != 0 {
			allowed |= nfs4.AccessExecute
		}
		// Deleting a file is decided by its directory.
		supp &^= nfs4.AccessLookup | nfs4.AccessDelete
	}
	if want&(accessXARead|accessXAWrite|accessXAList) != 0 {
		allowed |= xattrAccess(r, &a, perm, ro)
	}
	e.Uint32(supp)
	e.Uint32(allowed & supp)
	return nfs4.OK
}

// modeBits returns the rwx bits (4, 2, 1) that apply to cred. Root gets rw
// always and x when anyone has x, as the kernel's permission check does.
func modeBits(a *fsal.Attr, c *fsal.Cred) uint32 {
	m := a.Mode
	if c.UID == 0 {
		p := uint32(6)
		if m&0111 != 0 || a.Type == fsal.TypeDirectory {
			p |= 1
		}
		return p
	}
	if c.UID == a.UID {
		return (m >> 6) & 7
	}
	if c.GID == a.GID {
		return (m >> 3) & 7
	}
	for _, g := range c.Groups {
		if g == a.GID {
			return (m >> 3) & 7
		}
	}
	return m & 7
}
