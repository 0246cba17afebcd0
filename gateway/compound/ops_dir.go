package compound

import (
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// dirChange returns the change attribute of a directory, for change_info4.
func (r *request) dirChange(ref *fileRef) uint64 {
	a, st := r.getattrRef(ref)
	if st != nfs4.OK {
		return 0
	}
	return a.Change
}

func encCinfo(e *xdr.Encoder, before, after uint64) {
	e.Bool(false) // not atomic: the backend cannot say nothing raced
	e.Uint64(before)
	e.Uint64(after)
}

func opCreate(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	typ := d.Uint32()
	var target string
	var major, minor uint32
	switch typ {
	case nfs4.NF4LNK:
		b := d.Opaque(nfs4.MaxPathLen)
		if d.Err() == nil && (len(b) == 0 || !validUTF8(b)) {
			return nfs4.ErrInval
		}
		target = string(b)
	case nfs4.NF4BLK, nfs4.NF4CHR:
		major, minor = d.Uint32(), d.Uint32()
	}
	name, nst := decodeName(d)
	if nst == nfs4.ErrBadxdr {
		return nst
	}
	attrs, ast := r.decodeFattr(d)
	if d.Err() != nil || ast == nfs4.ErrBadxdr {
		return nfs4.ErrBadxdr
	}
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	if st := r.writable(); st != nfs4.OK {
		return st
	}
	if nst != nfs4.OK {
		return nst
	}
	if ast != nfs4.OK {
		return ast
	}
	exp, dir := r.cur.exp, r.cur.key
	cred := r.credFor(exp)
	sa := &attrs.sa
	before := r.dirChange(&r.cur)
	var h fsal.Handle
	var err error
	switch typ {
	case nfs4.NF4DIR:
		h, _, err = exp.FS.Mkdir(r.ctx, cred, dir, name, sa)
	case nfs4.NF4LNK:
		h, _, err = exp.FS.Symlink(r.ctx, cred, dir, name, target, sa)
	case nfs4.NF4BLK:
		h, _, err = exp.FS.Mknod(r.ctx, cred, dir, name, fsal.TypeBlock, major, minor, sa)
	case nfs4.NF4CHR:
		h, _, err = exp.FS.Mknod(r.ctx, cred, dir, name, fsal.TypeChar, major, minor, sa)
	case nfs4.NF4SOCK:
		h, _, err = exp.FS.Mknod(r.ctx, cred, dir, name, fsal.TypeSocket, 0, 0, sa)
	case nfs4.NF4FIFO:
		h, _, err = exp.FS.Mknod(r.ctx, cred, dir, name, fsal.TypeFIFO, 0, 0, sa)
	default:
		return nfs4.ErrBadtype
	}
	if err != nil {
		return statusOf(err)
	}
	after := r.dirChange(&r.cur)
	r.setCurExport(exp, h)
	encCinfo(e, before, after)
	attrs.mask.Encode(e)
	return nfs4.OK
}

func opRemove(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, st := decodeName(d)
	if st == nfs4.ErrBadxdr {
		return st
	}
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	if st := r.writable(); st != nfs4.OK {
		return st
	}
	if st != nfs4.OK {
		return st
	}
	if st := r.enterGrace(); st != nfs4.OK {
		// The file may be one a client is about to reclaim.
		return st
	}
	if st := r.breakDelegsNamed(r.cur, name); st != nfs4.OK {
		return st
	}
	exp := r.cur.exp
	before := r.dirChange(&r.cur)
	if err := exp.FS.Remove(r.ctx, r.credFor(exp), r.cur.key, name); err != nil {
		return statusOf(err)
	}
	encCinfo(e, before, r.dirChange(&r.cur))
	return nfs4.OK
}

func opRename(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	oldName, st1 := decodeName(d)
	newName, st2 := decodeName(d)
	if st1 == nfs4.ErrBadxdr || st2 == nfs4.ErrBadxdr {
		return nfs4.ErrBadxdr
	}
	if !r.saved.set() {
		return nfs4.ErrNofilehandle
	}
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	src := r.saved
	if src.pseudo == nil {
		if a, st := r.getattrRef(&src); st != nfs4.OK {
			return st
		} else if a.Type != fsal.TypeDirectory {
			return nfs4.ErrNotdir
		}
	}
	if st := r.writable(); st != nfs4.OK {
		return st
	}
	if src.exp == nil {
		return nfs4.ErrRofs
	}
	if src.exp != r.cur.exp {
		return nfs4.ErrXdev
	}
	if st1 != nfs4.OK {
		return st1
	}
	if st2 != nfs4.OK {
		return st2
	}
	if st := r.enterGrace(); st != nfs4.OK {
		return st
	}
	if st := r.breakDelegsNamed(src, oldName); st != nfs4.OK {
		return st
	}
	if st := r.breakDelegsNamed(r.cur, newName); st != nfs4.OK {
		return st
	}
	exp := r.cur.exp
	sb, tb := r.dirChange(&src), r.dirChange(&r.cur)
	if err := exp.FS.Rename(r.ctx, r.credFor(exp), src.key, oldName, r.cur.key, newName); err != nil {
		return statusOf(err)
	}
	encCinfo(e, sb, r.dirChange(&src))
	encCinfo(e, tb, r.dirChange(&r.cur))
	return nfs4.OK
}

func opLink(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	name, st := decodeName(d)
	if st == nfs4.ErrBadxdr {
		return st
	}
	if !r.saved.set() {
		return nfs4.ErrNofilehandle
	}
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	src := r.saved
	if src.pseudo != nil {
		return nfs4.ErrIsdir
	}
	if a, st := r.getattrRef(&src); st != nfs4.OK {
		return st
	} else if a.Type == fsal.TypeDirectory {
		return nfs4.ErrIsdir
	}
	if st := r.writable(); st != nfs4.OK {
		return st
	}
	if src.exp != r.cur.exp {
		return nfs4.ErrXdev
	}
	if st != nfs4.OK {
		return st
	}
	if st := r.breakDelegs(src.raw); st != nfs4.OK {
		return st
	}
	exp := r.cur.exp
	before := r.dirChange(&r.cur)
	if err := exp.FS.Link(r.ctx, r.credFor(exp), src.key, r.cur.key, name); err != nil {
		return statusOf(err)
	}
	encCinfo(e, before, r.dirChange(&r.cur))
	return nfs4.OK
}

func opReadlink(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	if r.cur.pseudo != nil {
		return nfs4.ErrInval
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return st
	}
	if a.Type != fsal.TypeSymlink {
		return nfs4.ErrInval
	}
	target, err := r.cur.exp.FS.Readlink(r.ctx, r.credFor(r.cur.exp), r.cur.key)
	if err != nil {
		return statusOf(err)
	}
	e.String(target)
	return nfs4.OK
}

// cookieVerf is the READDIR cookie verifier. Cookies are positions the
// backend can resume from at any time (stable across restarts), so the
// verifier never needs to change.
var cookieVerf = [8]byte{'n', 'f', 's', 'g', 'w', 0, 0, 1}

// Cookies 1 and 2 are reserved (RFC 7530 section 16.24.4); the pseudo
// filesystem numbers its entries from 3.
const firstCookie = 3

func opReaddir(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	cookie := d.Uint64()
	verf := d.Fixed(8)
	dircount := d.Uint32()
	maxcount := d.Uint32()
	req := nfs4.DecodeBitmap(d)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	_ = dircount // maxcount is the binding limit; dircount is only a hint
	if st := r.requireDir(); st != nfs4.OK {
		return st
	}
	if cookie == 1 || cookie == 2 {
		return nfs4.ErrBadCookie
	}
	if maxcount < 16 {
		// Not even the verifier, an empty list and eof fit.
		return nfs4.ErrToosmall
	}
	if cookie != 0 && string(verf) != string(cookieVerf[:]) {
		return nfs4.ErrNotSame
	}
	for _, b := range req.Bits() {
		if writeOnly.Has(b) {
			return nfs4.ErrInval
		}
	}
	// The reply so far is op header; READDIR4resok is the verifier, the
	// entries and eof. maxcount bounds all of it.
	limit := int(maxcount)
	if limit > int(r.s.maxIO)+4096 {
		limit = int(r.s.maxIO) + 4096
	}
	// A 4.0 reply with too little room left for the entries the client
	// allowed is cut short; if not even one fits, it is the reply that is
	// out of room, not the client's maxcount that is too small.
	roomErr := nfs4.ErrToosmall
	if room := r.replyRoom(e); limit > room {
		if room < 16 {
			return nfs4.ErrResource
		}
		limit, roomErr = room, nfs4.ErrResource
	}
	if st := r.reserveReply(e, limit); st != nfs4.OK {
		return st
	}
	start := e.Len()
	e.Fixed(cookieVerf[:])
	count := 0
	tooSmall := false
	put := func(name string, ck uint64, ref *fileRef, a *fsal.Attr) bool {
		mark := e.Len()
		e.Bool(true)
		e.Uint64(ck)
		e.String(name)
		if st := r.encodeFattr(e, &req, r.target(ref, a)); st != nfs4.OK {
			e.Buf = e.Buf[:mark]
			return false
		}
		// 8 bytes remain to be written: the final "no more entries" and eof.
		if e.Len()-start+8 > limit {
			e.Buf = e.Buf[:mark]
			if count == 0 {
				tooSmall = true
			}
			return false
		}
		count++
		return true
	}
	eof := true
	if n := r.cur.pseudo; n != nil {
		first := 0
		if cookie != 0 {
			first = int(cookie-firstCookie) + 1
		}
		for idx := first; idx >= 0 && idx < len(n.Children); idx++ {
			c := n.Children[idx]
			save := r.cur
			st := r.setCurPseudo(c)
			ref := r.cur
			r.cur = save
			if st != nfs4.OK {
				continue
			}
			a, st := r.getattrRef(&ref)
			if st != nfs4.OK {
				continue
			}
			if !put(c.Name, uint64(idx+firstCookie), &ref, &a) {
				eof = false
				break
			}
		}
	} else {
		exp := r.cur.exp
		withAttrs := !req.IsZero()
		var err error
		eof, err = exp.FS.Readdir(r.ctx, r.credFor(exp), r.cur.key, cookie, withAttrs, func(de *fsal.DirEntry) bool {
			var ref fileRef
			if withAttrs {
				raw := r.encodeFH(exp, de.Handle)
				ref = fileRef{raw: raw, exp: exp, key: fsal.Handle(raw[5:])}
			}
			return put(de.Name, de.Cookie, &ref, &de.Attr)
		})
		if err != nil {
			e.Buf = e.Buf[:start]
			return statusOf(err)
		}
	}
	if tooSmall {
		e.Buf = e.Buf[:start]
		return roomErr
	}
	e.Bool(false)
	e.Bool(eof)
	return nfs4.OK
}
