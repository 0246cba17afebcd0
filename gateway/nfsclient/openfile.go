package nfsclient

import (
	"context"
	"errors"
	"strings"
	"sync"

	"nfsgw/gateway/nfs4"
)

// OpenFile is a file opened with OPEN: its file handle, open stateid and,
// once locked, lock state. Read, Write and Commit may be called
// concurrently; the stateful operations (Lock, Unlock, Downgrade, Close)
// are serialized.
type OpenFile struct {
	cl *Client
	// FH is the file's handle, Attrs its DefaultAttrs right after OPEN.
	FH    []byte
	Attrs Attrs
	// Open is OPEN's result (stateid as first returned, change info,
	// rflags, delegation).
	Open OpenRes

	owner *stateOwner
	smu   sync.Mutex // serializes the stateful operations

	mu          sync.Mutex // guards the fields below
	stateid     nfs4.Stateid
	closed      bool
	lockOwner   []byte
	hasLock     bool // lockStateid is valid
	lockStateid nfs4.Stateid
	lockSeqid   uint32
	lockBroken  bool
}

// OpenRequest describes an OPEN for Client.Open.
type OpenRequest struct {
	// Dir and Name name the file (CLAIM_NULL). With Dir nil, FH names it
	// (CLAIM_FH, NFSv4.1 only).
	Dir  []byte
	Name string
	FH   []byte

	Access uint32 // nfs4.ShareAccess*; 0 means read
	Deny   uint32 // nfs4.ShareDeny*
	Want   uint32 // NFSv4.1 OPEN4_SHARE_ACCESS_WANT_* bits, or'ed into Access

	// Create makes the OPEN an OPEN4_CREATE with CreateMode
	// (nfs4.CreateUnchecked, CreateGuarded, CreateExclusive,
	// CreateExclusive41), Attrs and Verifier.
	Create     bool
	CreateMode uint32
	Attrs      *SetAttrs
	Verifier   [nfs4.VerifierSize]byte
}

// Create creates (or opens and truncates) name in dir for reading and
// writing: OPEN4_CREATE with UNCHECKED4, mode and size 0, as creat(2).
func (cl *Client) Create(ctx context.Context, dir []byte, name string, mode uint32) (*OpenFile, error) {
	return cl.Open(ctx, OpenRequest{Dir: dir, Name: name, Access: nfs4.ShareAccessBoth, Create: true,
		CreateMode: nfs4.CreateUnchecked, Attrs: new(SetAttrs).SetMode(mode).SetSize(0)})
}

// OpenFile opens the existing file at path.
func (cl *Client) OpenFile(ctx context.Context, path string, access, deny uint32) (*OpenFile, error) {
	comps := splitPath(path)
	if len(comps) == 0 {
		return nil, errors.New("nfsclient: OpenFile needs a file name")
	}
	dir, _, err := cl.LookupPath(ctx, strings.Join(comps[:len(comps)-1], "/"))
	if err != nil {
		return nil, err
	}
	return cl.OpenAt(ctx, dir, comps[len(comps)-1], access, deny)
}

// OpenAt opens the existing file name in dir.
func (cl *Client) OpenAt(ctx context.Context, dir []byte, name string, access, deny uint32) (*OpenFile, error) {
	return cl.Open(ctx, OpenRequest{Dir: dir, Name: name, Access: access, Deny: deny})
}

// Open performs an OPEN (followed, for NFSv4.0 when the server asks, by
// OPEN_CONFIRM) and returns the open file. Each OpenFile has an
// open-owner of its own while it is open.
func (cl *Client) Open(ctx context.Context, req OpenRequest) (*OpenFile, error) {
	access := req.Access
	if access == 0 {
		access = nfs4.ShareAccessRead
	}
	args := OpenArgs{
		ShareAccess: access | req.Want,
		ShareDeny:   req.Deny,
		Create:      req.Create,
		CreateMode:  req.CreateMode,
		Attrs:       req.Attrs,
		Verifier:    req.Verifier,
		Claim:       nfs4.ClaimNull,
		Name:        req.Name,
	}
	putfh := req.Dir
	if req.Dir == nil {
		args.Claim = nfs4.ClaimFH
		putfh = req.FH
	}
	o := cl.owners.get()
	args.Owner = StateOwner{ClientID: cl.clientID, Owner: o.name}
	o.mu.Lock()
	defer o.mu.Unlock()

	var r *Reply
	err := cl.retry(ctx, func() error {
		if cl.minor == 0 {
			args.Seqid = o.seqid
		}
		var err error
		r, err = cl.simple(ctx, func(c *Compound) {
			c.PutFH(putfh).Open(args).GetFH().Getattr(DefaultAttrs)
		})
		if cl.minor == 0 {
			settleSeqid(&o.seqid, &o.broken, r, err, nfs4.OpOpen)
		}
		return err
	})
	if err != nil {
		cl.abandonOpen(ctx, o, r)
		cl.owners.put(o)
		return nil, err
	}
	f := &OpenFile{cl: cl, owner: o}
	f.Open = *r.Ops[1].Res.(*OpenRes)
	f.FH = r.Ops[2].Res.(*GetFHRes).FH
	f.Attrs = r.Ops[3].Res.(*GetattrRes).Attrs
	f.stateid = f.Open.Stateid

	if cl.minor == 0 && f.Open.Rflags&nfs4.OpenResultConfirm != 0 {
		// RFC 7530 section 16.18: a new open-owner's first OPEN must be
		// confirmed before its stateid can be used.
		r, err := cl.simple(ctx, func(c *Compound) {
			c.PutFH(f.FH).OpenConfirm(f.stateid, o.seqid)
		})
		settleSeqid(&o.seqid, &o.broken, r, err, nfs4.OpOpenConfirm)
		if err != nil {
			cl.owners.put(o)
			return nil, err
		}
		f.stateid = r.Ops[1].Res.(*OpenConfirmRes).Stateid
	}

	cl.mu.Lock()
	cl.files[f] = struct{}{}
	if d := f.Open.Delegation; d.Type == nfs4.DelegRead || d.Type == nfs4.DelegWrite {
		cl.delegs[d.Stateid.Other] = heldDeleg{stateid: d.Stateid, fh: f.FH}
	}
	cl.mu.Unlock()
	return f, nil
}

// abandonOpen closes what an OPEN opened when a later operation of its
// COMPOUND (GETFH, GETATTR) failed, so that no open state is left behind.
// The owner's lock is held.
func (cl *Client) abandonOpen(ctx context.Context, o *stateOwner, r *Reply) {
	if r == nil || len(r.Ops) < 3 || r.Ops[1].Status != nfs4.OK || r.Ops[2].Status != nfs4.OK {
		return
	}
	or, ok1 := r.Ops[1].Res.(*OpenRes)
	fr, ok2 := r.Ops[2].Res.(*GetFHRes)
	if !ok1 || !ok2 {
		return
	}
	seqid := uint32(0)
	if cl.minor == 0 {
		if or.Rflags&nfs4.OpenResultConfirm != 0 {
			return // never confirmed: the server forgets it
		}
		seqid = o.seqid
	}
	r2, err := cl.simple(ctx, func(c *Compound) { c.PutFH(fr.FH).Close(seqid, or.Stateid) })
	if cl.minor == 0 {
		settleSeqid(&o.seqid, &o.broken, r2, err, nfs4.OpClose)
	}
}

// Stateid returns the current open stateid.
func (f *OpenFile) Stateid() nfs4.Stateid {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stateid
}

// ioStateid is the stateid for READ and WRITE: the lock stateid once the
// file's lock-owner holds one, else the open stateid (RFC 8881 section
// 8.2.2).
func (f *OpenFile) ioStateid() nfs4.Stateid {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.hasLock {
		return f.lockStateid
	}
	return f.stateid
}

// Read issues one READ of up to len(p) bytes (at most Client.MaxRead) at
// off into p.
func (f *OpenFile) Read(ctx context.Context, p []byte, off uint64) (n int, eof bool, err error) {
	cl := f.cl
	count := min(len(p), int(cl.maxRead))
	sid := f.ioStateid()
	err = cl.retry(ctx, func() error {
		c := cl.getCompound()
		defer cl.putCompound(c)
		c.PutFH(f.FH).Read(sid, off, uint32(count))
		var rr replyReader
		if err := cl.exec(ctx, c, &rr); err != nil {
			return err
		}
		if err := rr.begin(); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpPutFH); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpRead); err != nil {
			return err
		}
		eof = rr.d.Bool()
		data := rr.d.Opaque(count) // more than asked for is an error
		if err := rr.fail(nfs4.OpRead); err != nil {
			return err
		}
		if err := rr.finish(); err != nil {
			return err
		}
		n = copy(p, data)
		return nil
	})
	return n, eof, err
}

// ReadFull reads len(p) bytes at off, or up to EOF, with as many READs as
// needed; it returns the number of bytes read.
func (f *OpenFile) ReadFull(ctx context.Context, p []byte, off uint64) (int, error) {
	total := 0
	for total < len(p) {
		n, eof, err := f.Read(ctx, p[total:], off+uint64(total))
		total += n
		if err != nil || eof {
			return total, err
		}
		if n == 0 {
			return total, errors.New("nfsclient: READ returned no data before EOF")
		}
	}
	return total, nil
}

// Write issues one WRITE of p (at most Client.MaxWrite bytes of it) at off
// with the given stability (nfs4.Unstable, DataSync, FileSync).
func (f *OpenFile) Write(ctx context.Context, p []byte, off uint64, stable uint32) (WriteRes, error) {
	cl := f.cl
	if len(p) > int(cl.maxWrite) {
		p = p[:cl.maxWrite]
	}
	sid := f.ioStateid()
	var res WriteRes
	err := cl.retry(ctx, func() error {
		c := cl.getCompound()
		defer cl.putCompound(c)
		c.PutFH(f.FH).Write(sid, off, stable, p)
		var rr replyReader
		if err := cl.exec(ctx, c, &rr); err != nil {
			return err
		}
		if err := rr.begin(); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpPutFH); err != nil {
			return err
		}
		if err := rr.expect(nfs4.OpWrite); err != nil {
			return err
		}
		res.Count = rr.d.Uint32()
		res.Committed = rr.d.Uint32()
		copy(res.Verifier[:], rr.d.Fixed(nfs4.VerifierSize))
		if err := rr.fail(nfs4.OpWrite); err != nil {
			return err
		}
		if res.Count > uint32(len(p)) {
			return &DecodeError{Index: rr.i - 1, Op: nfs4.OpWrite, Err: protoErr("WRITE of %d bytes reports %d written", len(p), res.Count)}
		}
		return rr.finish()
	})
	return res, err
}

// ErrVerifierChanged is returned by WriteAll when the server's write
// verifier changed between its WRITEs: unstable data may have been lost.
var ErrVerifierChanged = errors.New("nfsclient: write verifier changed")

// WriteAll writes all of p at off in WRITEs of at most Client.MaxWrite
// bytes and returns the write verifier and the weakest stability the
// server reported.
func (f *OpenFile) WriteAll(ctx context.Context, p []byte, off uint64, stable uint32) (verf [nfs4.VerifierSize]byte, committed uint32, err error) {
	committed = nfs4.FileSync
	for i := 0; len(p) > 0; i++ {
		res, err := f.Write(ctx, p, off, stable)
		if err != nil {
			return verf, committed, err
		}
		if res.Count == 0 {
			return verf, committed, errors.New("nfsclient: WRITE wrote nothing")
		}
		if i > 0 && res.Verifier != verf {
			return res.Verifier, committed, ErrVerifierChanged
		}
		verf = res.Verifier
		committed = min(committed, res.Committed)
		p = p[res.Count:]
		off += uint64(res.Count)
	}
	return verf, committed, nil
}

// Commit issues COMMIT for count bytes at off (0, 0: the whole file) and
// returns the write verifier.
func (f *OpenFile) Commit(ctx context.Context, off uint64, count uint32) ([nfs4.VerifierSize]byte, error) {
	r, err := f.cl.call(ctx, func(c *Compound) { c.PutFH(f.FH).Commit(off, count) })
	if err != nil {
		return [nfs4.VerifierSize]byte{}, err
	}
	return r.Ops[1].Res.(*CommitRes).Verifier, nil
}

// Getattr returns the file's DefaultAttrs.
func (f *OpenFile) Getattr(ctx context.Context) (Attrs, error) {
	return f.cl.Getattr(ctx, f.FH)
}

// Setattr sets attributes with the open stateid (needed to change size).
func (f *OpenFile) Setattr(ctx context.Context, attrs *SetAttrs) error {
	return f.cl.setattr(ctx, f.FH, f.Stateid(), attrs)
}

// openSeqid returns the open-owner seqid to send (0 for NFSv4.1).
func (f *OpenFile) openSeqid() uint32 {
	if f.cl.minor == 0 {
		return f.owner.seqid
	}
	return 0
}

// Downgrade reduces the open's share access and deny with OPEN_DOWNGRADE.
func (f *OpenFile) Downgrade(ctx context.Context, access, deny uint32) error {
	f.smu.Lock()
	defer f.smu.Unlock()
	o := f.owner
	o.mu.Lock()
	defer o.mu.Unlock()
	var r *Reply
	err := f.cl.retry(ctx, func() error {
		var err error
		sid, seqid := f.Stateid(), f.openSeqid()
		r, err = f.cl.simple(ctx, func(c *Compound) { c.PutFH(f.FH).OpenDowngrade(sid, seqid, access, deny) })
		if f.cl.minor == 0 {
			settleSeqid(&o.seqid, &o.broken, r, err, nfs4.OpOpenDowngrade)
		}
		return err
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.stateid = r.Ops[1].Res.(*OpenDowngradeRes).Stateid
	f.mu.Unlock()
	return nil
}

func (f *OpenFile) lockOwnerName() []byte {
	if f.lockOwner == nil {
		f.lockOwner = []byte("lock-owner-" + itoa(f.cl.ownerSeq.Add(1)))
	}
	return f.lockOwner
}

// Lock takes a byte-range lock (nfs4.ReadLT, WriteLT, or the blocking
// variants ReadWLT, WriteWLT) on length bytes at off; a length of all ones
// (^uint64(0)) means up to the end of the file. A
// conflicting lock fails with NFS4ERR_DENIED. The first lock creates the
// file's lock-owner from its open stateid (open_to_lock_owner4), later
// ones use the lock stateid (exist_lock_owner4).
func (f *OpenFile) Lock(ctx context.Context, lockType uint32, off, length uint64) error {
	f.smu.Lock()
	defer f.smu.Unlock()
	cl := f.cl
	var r *Reply
	var newOwner bool
	err := cl.retry(ctx, func() error {
		f.mu.Lock()
		a := LockArgs{LockType: lockType, Offset: off, Length: length, NewLockOwner: !f.hasLock,
			OpenStateid: f.stateid, LockStateid: f.lockStateid}
		if cl.minor == 0 {
			a.LockSeqid = f.lockSeqid
		}
		f.mu.Unlock()
		newOwner = a.NewLockOwner
		if newOwner {
			a.LockOwner = StateOwner{ClientID: cl.clientID, Owner: f.lockOwnerName()}
			f.owner.mu.Lock()
			a.OpenSeqid = f.openSeqid()
		}
		var err error
		r, err = cl.simple(ctx, func(c *Compound) { c.PutFH(f.FH).Lock(a) })
		if cl.minor == 0 {
			if newOwner {
				// Both the open-owner's and the new lock-owner's seqids are
				// used; the lock-owner exists only if LOCK succeeded.
				settleSeqid(&f.owner.seqid, &f.owner.broken, r, err, nfs4.OpLock)
			} else {
				f.mu.Lock()
				settleSeqid(&f.lockSeqid, &f.lockBroken, r, err, nfs4.OpLock)
				f.mu.Unlock()
			}
		}
		if newOwner {
			f.owner.mu.Unlock()
		}
		return err
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.lockStateid = r.Ops[1].Res.(*LockRes).Stateid
	if newOwner {
		f.hasLock = true
		f.lockSeqid = 1
	}
	f.mu.Unlock()
	return nil
}

// LockT tests for a conflicting lock: it returns nil, nil when none, the
// conflicting lock when NFS4ERR_DENIED, or an error.
func (f *OpenFile) LockT(ctx context.Context, lockType uint32, off, length uint64) (*LockDenied, error) {
	owner := StateOwner{ClientID: f.cl.clientID}
	f.smu.Lock()
	owner.Owner = f.lockOwnerName()
	f.smu.Unlock()
	r, err := f.cl.call(ctx, func(c *Compound) { c.PutFH(f.FH).LockT(lockType, off, length, owner) })
	if StatusOf(err) == nfs4.ErrDenied && r != nil && len(r.Ops) == 2 {
		if d, ok := r.Ops[1].Res.(*LockDenied); ok {
			return d, nil
		}
	}
	return nil, err
}

// Unlock releases the byte range with LOCKU.
func (f *OpenFile) Unlock(ctx context.Context, off, length uint64) error {
	f.smu.Lock()
	defer f.smu.Unlock()
	return f.unlock(ctx, off, length)
}

func (f *OpenFile) unlock(ctx context.Context, off, length uint64) error {
	cl := f.cl
	f.mu.Lock()
	if !f.hasLock {
		f.mu.Unlock()
		return errors.New("nfsclient: Unlock without a lock")
	}
	f.mu.Unlock()
	var r *Reply
	err := cl.retry(ctx, func() error {
		f.mu.Lock()
		sid, seqid := f.lockStateid, uint32(0)
		if cl.minor == 0 {
			seqid = f.lockSeqid
		}
		f.mu.Unlock()
		var err error
		r, err = cl.simple(ctx, func(c *Compound) { c.PutFH(f.FH).LockU(nfs4.WriteLT, seqid, sid, off, length) })
		if cl.minor == 0 {
			f.mu.Lock()
			settleSeqid(&f.lockSeqid, &f.lockBroken, r, err, nfs4.OpLockU)
			f.mu.Unlock()
		}
		return err
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.lockStateid = r.Ops[1].Res.(*LockURes).Stateid
	f.mu.Unlock()
	return nil
}

// Close releases the open: any locks are unlocked and the lock-owner
// released (FREE_STATEID in 4.1, RELEASE_LOCKOWNER in 4.0), then CLOSE.
// Closing twice is a no-op.
func (f *OpenFile) Close(ctx context.Context) error {
	f.smu.Lock()
	defer f.smu.Unlock()
	f.mu.Lock()
	closed, hasLock := f.closed, f.hasLock
	f.mu.Unlock()
	if closed {
		return nil
	}
	cl := f.cl
	if hasLock {
		// RFC 8881 section 18.2.3: CLOSE with locks held fails with
		// NFS4ERR_LOCKS_HELD. Errors here are ignored: CLOSE reports.
		f.unlock(ctx, 0, ^uint64(0))
		if cl.minor > 0 {
			f.mu.Lock()
			lsid := f.lockStateid
			f.mu.Unlock()
			cl.call(ctx, func(c *Compound) { c.FreeStateID(lsid) })
		}
	}
	o := f.owner
	o.mu.Lock()
	var r *Reply
	err := cl.retry(ctx, func() error {
		var err error
		sid, seqid := f.Stateid(), f.openSeqid()
		r, err = cl.simple(ctx, func(c *Compound) { c.PutFH(f.FH).Close(seqid, sid) })
		if cl.minor == 0 {
			settleSeqid(&o.seqid, &o.broken, r, err, nfs4.OpClose)
		}
		return err
	})
	o.mu.Unlock()
	if err != nil && StatusOf(err) == NoStatus {
		return err // transport failure: the file may still be open
	}
	f.mu.Lock()
	f.closed = true
	if err == nil {
		f.stateid = r.Ops[1].Res.(*CloseRes).Stateid
	}
	f.mu.Unlock()
	cl.mu.Lock()
	delete(cl.files, f)
	cl.mu.Unlock()
	if hasLock && cl.minor == 0 {
		cl.call(ctx, func(c *Compound) {
			c.ReleaseLockOwner(StateOwner{ClientID: cl.clientID, Owner: f.lockOwner})
		})
	}
	cl.owners.put(o)
	return err
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
