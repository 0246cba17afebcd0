package compound

import (
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/xdr"
)

// ioState resolves the stateid of READ, WRITE or SETATTR(size) to a backend
// file: the open's own file for an open stateid, or a file opened just for
// this request for the anonymous and bypass stateids (RFC 7530 section
// 9.1.4.3). done must be called when the I/O is finished.
func (r *request) ioState(sid nfs4.Stateid, write bool) (f fsal.File, done func(), st nfs4.Status) {
	sid, st = r.resolveStateid(sid)
	if st != nfs4.OK {
		return nil, nil, st
	}
	sm := r.s.cfg.State
	want := uint32(nfs4.ShareAccessRead)
	if write {
		want = nfs4.ShareAccessWrite
	}
	if sid == nfs4.AnonStateid || sid == nfs4.BypassStateid {
		if st := r.regularFile(); st != nfs4.OK {
			return nil, nil, st
		}
		if write {
			// A write without an open could collide with a share
			// reservation still to be reclaimed.
			if st := r.enterGrace(); st != nfs4.OK {
				return nil, nil, st
			}
		}
		if sid == nfs4.AnonStateid {
			conflict, fx := sm.DenyConflict(r.fileKey(), want)
			if st := r.perform(fx); st != nfs4.OK {
				return nil, nil, st
			}
			if conflict {
				return nil, nil, nfs4.ErrLocked
			}
		}
		if write {
			// A write without an open conflicts with others' read
			// delegations.
			if st := r.breakDelegs(r.cur.raw); st != nfs4.OK {
				return nil, nil, st
			}
		} else if st := r.breakWriteDelegs(r.cur.raw); st != nfs4.OK {
			// A read without an open, with another client's write
			// delegations.
			return nil, nil, st
		}
		exp := r.cur.exp
		flags := fsal.OpenRead
		if write {
			flags = fsal.OpenWrite
		}
		f, err := exp.FS.Open(r.ctx, r.credFor(exp), r.cur.key, flags)
		if err != nil {
			return nil, nil, statusOf(err)
		}
		return f, func() { f.Close() }, nfs4.OK
	}
	if sid.IsSpecial() {
		return nil, nil, nfs4.ErrBadStateid
	}
	s, st := sm.LookupState(sid, r.fileKey(), r.minor)
	if st != nfs4.OK {
		// A wrong object type is the better diagnosis than the stateid.
		if tst := r.regularFile(); tst != nfs4.OK {
			return nil, nil, tst
		}
		return nil, nil, st
	}
	// Opens exist only on regular files, so a valid open stateid for this
	// handle proves the type without asking the backend.
	if r.minor == 0 && s.Owner != nil && !s.Owner.Confirmed() {
		return nil, nil, nfs4.ErrBadStateid
	}
	if s.Kind == nfs4state.KindDeleg {
		return r.delegIO(s, write)
	}
	if s.Kind == nfs4state.KindLock {
		// I/O under a lock stateid uses its open's access and file
		// (RFC 8881 section 8.2.2).
		s = s.Open
	}
	access, _ := s.Access()
	// Reads are allowed through write-only opens, as knfsd does: clients
	// read to fill partial pages of files they only opened for writing.
	if write && access&nfs4.ShareAccessWrite == 0 {
		return nil, nil, nfs4.ErrOpenmode
	}
	if s.Client.Principal != r.principalName() {
		// Someone else's stateid: the open proves nothing about this
		// caller, so check the caller's own permission (knfsd does the
		// same on every READ and WRITE).
		a, st := r.getattrRef(&r.cur)
		if st != nfs4.OK {
			return nil, nil, st
		}
		need := uint32(4)
		if write {
			need = 2
		}
		if modeBits(&a, r.credFor(r.cur.exp))&need == 0 && a.UID != r.credFor(r.cur.exp).UID {
			return nil, nil, nfs4.ErrAccess
		}
	}
	s.Client.Renew()
	f, done = s.AcquireFile()
	if f == nil {
		return nil, nil, nfs4.ErrBadStateid
	}
	return f, done, nfs4.OK
}

// regularFile checks that the current handle is a regular file.
func (r *request) regularFile() nfs4.Status {
	if st := r.needFH(); st != nfs4.OK {
		return st
	}
	if r.cur.pseudo != nil {
		return nfs4.ErrIsdir
	}
	a, st := r.getattrRef(&r.cur)
	if st != nfs4.OK {
		return st
	}
	switch a.Type {
	case fsal.TypeRegular:
		return nfs4.OK
	case fsal.TypeDirectory:
		return nfs4.ErrIsdir
	case fsal.TypeSymlink:
		if r.minor == 0 {
			return nfs4.ErrInval
		}
		return nfs4.ErrSymlink
	}
	return nfs4.ErrInval
}

func opRead(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	off := d.Uint64()
	count := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.needExportFH(nfs4.ErrIsdir); st != nfs4.OK {
		return st
	}
	f, done, st := r.ioState(sid, false)
	if st != nfs4.OK {
		return st
	}
	defer done()
	if count > r.s.maxIO {
		count = r.s.maxIO
	}
	if off >= maxFileSize {
		// Nothing can be stored there: an empty read at end of file.
		e.Bool(true)
		e.Uint32(0)
		return nfs4.OK
	}
	if uint64(count) > maxFileSize-off {
		// Keep off+count within what the kernel accepts (2^63 - 1).
		count = uint32(maxFileSize - off)
	}
	// The room must also hold eof, the length and up to 3 bytes of padding.
	if room := r.replyRoom(e) - 11; int64(count) > int64(room) {
		if room <= 0 {
			return nfs4.ErrResource
		}
		// A short read is a correct answer, and lets a COMPOUND that
		// just fits end with its data rather than with an error.
		count = uint32(room)
	}
	if st := r.reserveReply(e, int(count)); st != nfs4.OK {
		return st
	}
	eofOff := e.Reserve(4)
	lenOff := e.Reserve(4)
	// Read straight into the reply buffer: no intermediate copy.
	start := e.Len()
	e.Buf = growTo(e.Buf, start+int(count))
	n, eof, err := f.ReadAt(r.ctx, e.Buf[start:start+int(count)], off)
	if err != nil {
		e.Buf = e.Buf[:eofOff]
		return statusOf(err)
	}
	e.Buf = e.Buf[:start+n]
	if pad := (4 - n&3) & 3; pad != 0 {
		e.Buf = append(e.Buf, make([]byte, pad)...)
	}
	if eof {
		e.PutUint32At(eofOff, 1)
	}
	e.PutUint32At(lenOff, uint32(n))
	r.readN = int32(n)
	return nfs4.OK
}

// growTo extends b to length n, reallocating at most once.
func growTo(b []byte, n int) []byte {
	if n <= cap(b) {
		return b[:n]
	}
	nb := make([]byte, n, n+n/4)
	copy(nb, b)
	return nb
}

func opWrite(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	sid := nfs4.DecodeStateid(d)
	off := d.Uint64()
	stable := d.Uint32()
	data := d.Opaque(int(r.s.maxIO))
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if stable > nfs4.FileSync {
		return nfs4.ErrInval
	}
	if st := r.needExportFH(nfs4.ErrIsdir); st != nfs4.OK {
		return st
	}
	if r.cur.exp.ReadOnly {
		return nfs4.ErrRofs
	}
	if off+uint64(len(data)) < off || off+uint64(len(data)) > maxFileSize {
		return nfs4.ErrFbig
	}
	f, done, st := r.ioState(sid, true)
	if st != nfs4.OK {
		return st
	}
	defer done()
	n, err := f.WriteAt(r.ctx, data, off)
	if err != nil {
		return statusOf(err)
	}
	committed := uint32(nfs4.Unstable)
	if stable != nfs4.Unstable && n > 0 {
		if err := f.Sync(r.ctx, stable == nfs4.DataSync); err != nil {
			return statusOf(err)
		}
		committed = stable
	}
	r.writeN = int32(n)
	e.Uint32(uint32(n))
	e.Uint32(committed)
	e.Fixed(r.s.writeVerf[:])
	return nfs4.OK
}

func opCommit(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	off := d.Uint64()
	count := d.Uint32()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.regularFile(); st != nfs4.OK {
		return st
	}
	if off+uint64(count) < off {
		return nfs4.ErrInval
	}
	// fsync flushes the inode, whichever descriptor it is called on, so
	// a short-lived one avoids racing with CLOSE of the open's file.
	f, err := r.cur.exp.FS.Open(r.ctx, fsal.Root, r.cur.key, fsal.OpenRead)
	if err != nil {
		return statusOf(err)
	}
	err = f.Sync(r.ctx, false)
	f.Close()
	if err != nil {
		return statusOf(err)
	}
	e.Fixed(r.s.writeVerf[:])
	return nfs4.OK
}
