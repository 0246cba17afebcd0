package compound

import (
	"errors"
	"syscall"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/xdr"
)

func encodeDenied(e *xdr.Encoder, d *nfs4state.Denied) {
	e.Uint64(d.Offset)
	e.Uint64(d.Length)
	if d.Write {
		e.Uint32(nfs4.WriteLT)
	} else {
		e.Uint32(nfs4.ReadLT)
	}
	e.Uint64(d.ClientID)
	e.String(d.Owner)
}

// lockArgs checks a lock type and range common to LOCK, LOCKT and LOCKU.
func lockRange(typ uint32, off, length uint64) (end uint64, write bool, st nfs4.Status) {
	if typ < nfs4.ReadLT || typ > nfs4.WriteWLT {
		return 0, false, nfs4.ErrInval
	}
	end, st = nfs4state.RangeEnd(off, length)
	return end, typ == nfs4.WriteLT || typ == nfs4.WriteWLT, st
}

func opLock(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	typ := d.Uint32()
	reclaim := d.Bool()
	off := d.Uint64()
	length := d.Uint64()
	newOwner := d.Bool()
	var openSeqid, lockSeqid, seqid uint32
	var sid nfs4.Stateid
	var ownerClient uint64
	var ownerKey []byte
	if newOwner {
		openSeqid = d.Uint32()
		sid = nfs4.DecodeStateid(d)
		lockSeqid = d.Uint32()
		ownerClient = d.Uint64()
		ownerKey = d.Opaque(nfs4.OpaqueLimit)
		seqid = openSeqid
	} else {
		sid = nfs4.DecodeStateid(d)
		lockSeqid = d.Uint32()
		seqid = lockSeqid
	}
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.regularFile(); st != nfs4.OK {
		return st
	}
	sm := r.s.cfg.State
	s, lst := r.stateFor(sid, r.fileKey())
	if s == nil {
		return lst
	}
	var open, ls *nfs4state.State
	var seq *nfs4state.Sequencer
	if newOwner {
		if s.Kind != nfs4state.KindOpen {
			return nfs4.ErrBadStateid
		}
		open, seq = s, &s.Owner.Sequencer
	} else {
		if s.Kind != nfs4state.KindLock {
			return nfs4.ErrBadStateid
		}
		open, ls, seq = s.Open, s, &s.LockOwner.Sequencer
	}
	if replay, st := r.beginSeqid(seq, seqid, nfs4.OpLock); replay || st != nfs4.OK {
		return st
	}
	if lst != nfs4.OK {
		return lst
	}
	if r.minor == 0 && !open.Owner.Confirmed() {
		return nfs4.ErrBadStateid
	}
	client := open.Client
	client.Renew()
	if newOwner && r.minor == 0 && ownerClient != client.ID {
		return nfs4.ErrStaleClientid
	}
	end, write, st := lockRange(typ, off, length)
	if st != nfs4.OK {
		return st
	}
	if st := r.graceCheck(client, reclaim); st != nfs4.OK {
		return st
	}
	access, _ := open.Access()
	if (write && access&nfs4.ShareAccessWrite == 0) || (!write && access&nfs4.ShareAccessRead == 0) {
		return nfs4.ErrOpenmode
	}
	if newOwner {
		lo := client.LockOwner(string(ownerKey))
		lo.InitSeqid(lockSeqid)
		if ls, st = sm.LockStateFor(open, lo); st != nfs4.OK {
			return st
		}
	}
	// Reserve, call, commit: the backend lock (on CephFS an MDS round
	// trip) runs with no state lock held, so that READ, WRITE and GETATTR
	// of the file are not held up behind it.
	r.openLockFile(ls, access)
	call, denied, st, fx := sm.ReserveLock(ls, off, end, write)
	// Recalls and courtesy expiries (never a Record, which could fail)
	// are performed before the backend call.
	r.perform(fx)
	if st == nfs4.OK {
		nsid, denied2, st2 := sm.Commit(call, r.backendLock(call, off, length))
		if st = st2; st == nfs4.OK {
			r.setCurStateid(nsid)
			nsid.Encode(e)
			return nfs4.OK
		}
		denied = denied2
	}
	if st == nfs4.ErrDenied {
		encodeDenied(e, denied)
	}
	return st
}

// openLockFile gives a lock state its backend file if it has none yet:
// each lock owner gets its own, since backend locks (OFD, CephFS) belong to
// an open file. Without one (the backend cannot lock, or the open failed)
// locks are kept by the state model alone.
func (r *request) openLockFile(ls *nfs4state.State, access uint32) {
	if ls.LockFile() != nil {
		return
	}
	// Read-write, so that the open's later upgrades and downgrades never
	// leave the lock file unable to take a write lock (POSIX locks need a
	// descriptor open for the lock's type).
	nf, err := r.cur.exp.FS.Open(r.ctx, fsal.Root, r.cur.key, fsal.OpenRead|fsal.OpenWrite)
	if err != nil {
		if nf, err = openBackend(r, r.cur, fsal.Root, access); err != nil {
			return
		}
	}
	if _, ok := nf.(fsal.Locker); !ok || !ls.SetLockFile(nf) {
		nf.Close()
	}
}

// backendLock runs a reserved lock's backend call, so that the lock
// conflicts with locks taken through other gateways or locally: nil when
// the backend cannot lock, nfs4state.ErrWouldBlock when it holds a
// conflicting lock. It runs with no state lock held.
func (r *request) backendLock(call *nfs4state.LockCall, off, length uint64) error {
	lk, ok := call.File().(fsal.Locker)
	if !ok {
		return nil
	}
	t := fsal.ReadLock
	if call.Write {
		t = fsal.WriteLock
	}
	if length == ^uint64(0) {
		length = 0 // to end of file, in fsal's terms
	}
	err := lk.SetLock(r.ctx, 0, t, off, length)
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) {
		return nfs4state.ErrWouldBlock
	}
	if err != nil {
		r.s.log.Error("backend lock failed", "error", err)
	}
	return err
}

func opLockT(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	typ := d.Uint32()
	off := d.Uint64()
	length := d.Uint64()
	clientID := d.Uint64()
	ownerKey := d.Opaque(nfs4.OpaqueLimit)
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.regularFile(); st != nfs4.OK {
		return st
	}
	// A write delegation's holder may lock locally.
	if st := r.breakWriteDelegs(r.cur.raw); st != nfs4.OK {
		return st
	}
	end, write, st := lockRange(typ, off, length)
	if st != nfs4.OK {
		return st
	}
	// During grace a lock still to be reclaimed is invisible: "no
	// conflict" would be a wrong answer (RFC 7530 section 9.6.2, RFC 8881
	// section 8.4.2; knfsd answers GRACE too).
	if st := r.enterGrace(); st != nfs4.OK {
		return st
	}
	var client *nfs4state.Client
	if r.minor == 0 {
		if client, st = r.clientFor40(clientID); st != nfs4.OK {
			return st
		}
	} else {
		client = r.session.Client
	}
	owner := client.FindLockOwner(string(ownerKey))
	denied, fx := r.s.cfg.State.Test(r.fileKey(), owner, off, end, write)
	if st := r.perform(fx); st != nfs4.OK {
		return st
	}
	if denied != nil {
		encodeDenied(e, denied)
		return nfs4.ErrDenied
	}
	if denied := r.backendLockTest(owner, off, length, write); denied != nil {
		encodeDenied(e, denied)
		return nfs4.ErrDenied
	}
	return nfs4.OK
}

// backendLockTest asks the backend (fsal.LockTester) whether a lock that
// the state model allows conflicts with one held elsewhere: through
// another gateway, another CephFS client or a local process. The test runs
// on the lock owner's own backend file when it has one on this file, so
// that its own locks never conflict; otherwise on a file opened for the
// test alone, read-only and as root (the owner then holds no lock on the
// file, and LOCKT needs no open). The holder is not known: the denial
// names no owner. Errors count as no conflict (LOCK will find out).
func (r *request) backendLockTest(owner *nfs4state.LockOwner, off, length uint64, write bool) *nfs4state.Denied {
	f, done := r.s.cfg.State.OwnerLockFile(r.fileKey(), owner)
	if f == nil {
		if v, ok := r.s.locktest.Load(r.cur.exp.FS); ok && !v.(bool) {
			return nil // this backend cannot test locks
		}
		nf, err := r.cur.exp.FS.Open(r.ctx, fsal.Root, r.cur.key, fsal.OpenRead)
		if err != nil {
			return nil
		}
		f, done = nf, func() { nf.Close() }
	}
	defer done()
	lt, ok := f.(fsal.LockTester)
	if !ok {
		r.s.locktest.Store(r.cur.exp.FS, false)
		return nil
	}
	t := fsal.ReadLock
	if write {
		t = fsal.WriteLock
	}
	if length == ^uint64(0) {
		length = 0
	}
	conflict, ct, coff, clen, err := lt.TestLock(r.ctx, 0, t, off, length)
	if err != nil || !conflict {
		if err != nil {
			r.s.log.Debug("backend lock test failed", "error", err)
		}
		return nil
	}
	if clen == 0 {
		clen = ^uint64(0) // to the end of the file
	}
	return &nfs4state.Denied{Offset: coff, Length: clen, Write: ct == fsal.WriteLock}
}

func opLockU(r *request, d *xdr.Decoder, e *xdr.Encoder) nfs4.Status {
	typ := d.Uint32()
	seqid := d.Uint32()
	sid := nfs4.DecodeStateid(d)
	off := d.Uint64()
	length := d.Uint64()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if st := r.regularFile(); st != nfs4.OK {
		return st
	}
	sm := r.s.cfg.State
	s, lst := r.stateFor(sid, r.fileKey())
	if s == nil {
		return lst
	}
	if s.Kind != nfs4state.KindLock {
		return nfs4.ErrBadStateid
	}
	if replay, st := r.beginSeqid(&s.LockOwner.Sequencer, seqid, nfs4.OpLockU); replay || st != nfs4.OK {
		return st
	}
	if lst != nfs4.OK {
		return lst
	}
	end, _, st := lockRange(typ, off, length)
	if st != nfs4.OK {
		return st
	}
	s.Client.Renew()
	call, st := sm.ReserveUnlock(s, off, end)
	if st != nfs4.OK {
		return st
	}
	var err error
	if f, ok := call.File().(fsal.Locker); ok {
		bl := length
		if bl == ^uint64(0) {
			bl = 0
		}
		// With no state lock held (reserve, call, commit).
		err = f.Unlock(r.ctx, 0, off, bl)
	}
	nsid, _, st := sm.Commit(call, err)
	if st != nfs4.OK {
		return st
	}
	r.setCurStateid(nsid)
	nsid.Encode(e)
	return nfs4.OK
}
