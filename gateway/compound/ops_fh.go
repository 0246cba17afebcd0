package compound

import (
	"bytes"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

func opPutFH(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	raw := d.Opaque(nfs4.FHSize)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	ref, st := r.resolveFH(raw)
	if st != nfs4.OK {
		return st
	}
	r.cur = ref
	r.clearCurStateid()
	return nfs4.OK
}

// opPutRootFH also serves PUTPUBFH: the public handle is the pseudo root.
func opPutRootFH(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	return r.setCurPseudo(r.tbl.PseudoRoot())
}

func opGetFH(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	e.Opaque(r.cur.raw)
	return nfs4.OK
}

func opSaveFH(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	r.saved = r.cur
	r.savedStateid, r.hasSavedSt = r.curStateid, r.hasCurStateid
	return nfs4.OK
}

func opRestoreFH(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if !r.saved.set() {
		return nfs4.ErrRestorefh
	}
	r.cur = r.saved
	r.curStateid, r.hasCurStateid = r.savedStateid, r.hasSavedSt
	return nfs4.OK
}

// lookupIn resolves name in the current directory without changing it.
func (r *request) lookupIn(name string) (fileRef, fsal.Attr, nfs4.Status) {
	if r.cur.pseudo != nil {
		c := r.cur.pseudo.Child(name)
		if c == nil {
			return fileRef{}, fsal.Attr{}, nfs4.ErrNoent
		}
		save := r.cur
		st := r.setCurPseudo(c)
		ref := r.cur
		r.cur = save
		if st != nfs4.OK {
			return fileRef{}, fsal.Attr{}, st
		}
		return ref, fsal.Attr{}, nfs4.OK
	}
	exp := r.cur.exp
	h, a, err := exp.FS.Lookup(r.ctx, r.credFor(exp), r.cur.key, name)
	if err != nil {
		return fileRef{}, a, statusOf(err)
	}
	raw := r.encodeFH(exp, h)
	return fileRef{raw: raw, exp: exp, key: fsal.Handle(raw[5:])}, a, nfs4.OK
}

// lookupRef is lookupIn for callers that need no attributes, through the
// backend's cheaper LookupHandle when it has one.
func (r *request) lookupRef(name string) (fileRef, nfs4.Status) {
	var hl fsal.HandleLookuper
	if r.cur.pseudo == nil {
		hl, _ = r.cur.exp.FS.(fsal.HandleLookuper)
	}
	if hl == nil {
		ref, _, st := r.lookupIn(name)
		return ref, st
	}
	exp := r.cur.exp
	h, err := hl.LookupHandle(r.ctx, r.credFor(exp), r.cur.key, name)
	if err != nil {
		return fileRef{}, statusOf(err)
	}
	raw := r.encodeFH(exp, h)
	return fileRef{raw: raw, exp: exp, key: fsal.Handle(raw[5:])}, nfs4.OK
}

// requireDir checks that the current handle is a directory: LOOKUP and
// friends answer NOTDIR for other types, and SYMLINK for a symlink.
func (r *request) requireDir() nfs4.Status {
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	if r.cur.pseudo != nil {
		return nfs4.OK
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return st
	}
	switch a.Type {
	case fsal.TypeDirectory:
		return nfs4.OK
	case fsal.TypeSymlink:
		return nfs4.ErrSymlink
	}
	return nfs4.ErrNotdir
}

func opLookup(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, st := decodeName(d)
	if st == nfs4.ErrBadxdr {
		return st
	}
	if st2 := r.needFH(); st2 != nfs4.OK {
		return st2
	}
	if st != nfs4.OK {
		return st
	}
	ref, st := r.lookupRef(name)
	if st == nfs4.ErrNotdir || st == nfs4.ErrNoent || st == nfs4.ErrAccess {
		// Distinguish "not a directory" and "symlink" the way RFC 7530
		// section 16.15.5 asks.
		if dst := r.requireDir(); dst != nfs4.OK {
			return dst
		}
	}
	if st != nfs4.OK {
		return st
	}
	r.cur = ref
	r.clearCurStateid()
	return nfs4.OK
}

func opLookupP(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	if n := r.cur.pseudo; n != nil {
		if n.Parent == nil {
			return nfs4.ErrNoent
		}
		r.cur = fileRef{}
		return r.setCurPseudo(r.tbl.PseudoParent(n))
	}
	exp := r.cur.exp
	if bytes.Equal(r.cur.key, exp.FS.Root()) {
		n := r.tbl.PseudoNodeOf(exp)
		if n == nil || n.Parent == nil {
			return nfs4.ErrNoent
		}
		parent := r.tbl.PseudoParent(n)
		r.cur = r.fsalPseudoRef(parent)
		r.clearCurStateid()
		return nfs4.OK
	}
	h, _, err := exp.FS.Parent(r.ctx, r.credFor(exp), r.cur.key)
	if err != nil {
		return statusOf(err)
	}
	r.setCurExport(exp, h)
	return nfs4.OK
}

// secinfo encodes the flavors we accept: AUTH_SYS, then AUTH_NONE.
func secinfo(e *xdr.Encoder) {
	e.Uint32(2)
	e.Uint32(nfs4.AuthSys)
	e.Uint32(nfs4.AuthNone)
}

func opSecinfo(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, st := decodeName(d)
	if st == nfs4.ErrBadxdr {
		return st
	}
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	if st != nfs4.OK {
		return st
	}
	if _, _, st := r.lookupIn(name); st != nfs4.OK {
		return st
	}
	secinfo(e)
	if r.minor > 0 {
		// RFC 8881 section 18.29.3: SECINFO consumes the current handle.
		r.cur = fileRef{}
	}
	return nfs4.OK
}

func opSecinfoNoName(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	style := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	switch style {
	case 0: // SECINFO_STYLE4_CURRENT_FH
	case 1: // SECINFO_STYLE4_PARENT
		if st := opLookupP(r, d, e); st != nfs4.OK {
			return st
		}
	default:
		return nfs4.ErrInval
	}
	secinfo(e)
	r.cur = fileRef{}
	return nfs4.OK
}
