package compound

import (
	"context"
	"errors"
	"net/netip"
	"strconv"
	"syscall"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fh"
	"nfsgw/gateway/fsal"
	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// fileRef is a current or saved file handle, resolved.
type fileRef struct {
	raw    []byte // the NFS file handle
	exp    *export.Export
	key    fsal.Handle
	pseudo *export.PseudoNode // set for pseudo-filesystem directories
}

func (f *fileRef) set() bool { return f.raw != nil }

// request is the state of one COMPOUND.
type request struct {
	s       *Server
	ctx     context.Context // &sctx
	sctx    fsal.ScopedContext
	call    *oncrpc.Call
	minor   uint32
	tbl     *export.Table
	remote  netip.Addr
	numOps  uint32
	opIndex uint32

	cred      fsal.Cred
	principal string // see principalName
	authSys   bool

	cur, saved                fileRef
	curStateid, savedStateid  nfs4.Stateid
	hasCurStateid, hasSavedSt bool

	// 4.1 session state.
	session  *nfs4state.Session
	slotID   uint32
	slotHeld bool
	client   *nfs4state.Client // client of the session, while begun
	replay   []byte

	// 4.0 seqid-bearing operation in progress: its owner's Mu is held
	// until the result is encoded and recorded.
	seqOwner *nfs4state.Sequencer
	seqid    uint32
	opReplay []byte

	cacheThis bool
	abortSlot bool
	// For metrics (observe.go), packed beside the flags: the export of
	// expCounts, and the connection's shard.
	expCountsID uint16
	shard       uint32

	// gateRelease ends the grace admission of the running operation
	// (enterGrace): held until the operation, backend call included, is
	// over, so that a node entering a grace period can drain it.
	gateRelease func()

	// fhArena holds the file handles the COMPOUND builds (appendFH).
	fhArena []byte
	// tgt and tgtAttr are what target returns.
	tgt     attrTarget
	tgtAttr fsal.Attr

	// replyStart is where the COMPOUND's reply begins in the encoder.
	replyStart int

	// For metrics: the file bytes the running operation read or wrote,
	// and the counters of the export it last ran in.
	readN, writeN int32
	expCounts     *metrics.ExportCounts
}

func (r *request) setCred(call *oncrpc.Call) {
	r.principal = ""
	r.authSys = call.Flavor == oncrpc.FlavorSys
	if r.authSys {
		r.cred = fsal.Cred{UID: call.Sys.UID, GID: call.Sys.GID, Groups: call.Sys.GIDs}
		return
	}
	// AUTH_NONE callers are anonymous: they get the export's anonymous
	// identity through squashing of an all-squash-like mapping below.
	r.cred = fsal.Cred{UID: 65534, GID: 65534}
}

// principalName names the caller for the state model's client records. It
// is built on first use: most COMPOUNDs (GETATTR, LOOKUP, ...) never need
// it, and formatting it on every request was measurable.
func (r *request) principalName() string {
	if r.principal == "" {
		if r.authSys {
			r.principal = "sys:" + strconv.FormatUint(uint64(r.cred.UID), 10)
		} else {
			r.principal = "none"
		}
	}
	return r.principal
}

// finish releases what the COMPOUND still holds.
func (r *request) finish() {
	if r.seqOwner != nil {
		r.seqOwner.Mu.Unlock()
		r.seqOwner = nil
	}
	if r.slotHeld {
		// Only reached if the COMPOUND loop panicked; never cache.
		r.session.Finish(r.slotID, nil, false)
	}
	if r.client != nil {
		r.client.End()
		r.client = nil
	}
}

// credFor returns the caller's identity as mapped by the export.
func (r *request) credFor(exp *export.Export) *fsal.Cred {
	return exp.MapCred(&r.cred)
}

// fhArenaSize holds the handles of a path walk of a few components
// (localfs handles are 20 bytes, Ganesha-compatible CephFS ones 29).
const fhArenaSize = 256

// encodeFH builds the NFS handle of a backend object of export exp.
func (r *request) encodeFH(exp *export.Export, key fsal.Handle) []byte {
	return r.appendFH(exp.ID, key)
}

// appendFH builds a handle in the request's arena: a LOOKUP per component
// of a path walk would otherwise allocate one each (a sixth of a path
// walk's allocations). The arena is never reused, only replaced when full,
// so a handle stays valid for as long as anything refers to it, in the
// request or beyond; its capacity is capped so that appending to it
// copies instead of overwriting its neighbour.
func (r *request) appendFH(exportID uint16, key fsal.Handle) []byte {
	need := fh.HeaderSize + len(key)
	if cap(r.fhArena)-len(r.fhArena) < need {
		r.fhArena = make([]byte, 0, max(fhArenaSize, need))
	}
	start := len(r.fhArena)
	r.fhArena = fh.Append(r.fhArena, exportID, key)
	end := len(r.fhArena)
	return r.fhArena[start:end:end]
}

// setCurExport makes a backend object of exp the current file handle.
func (r *request) setCurExport(exp *export.Export, key fsal.Handle) {
	raw := r.encodeFH(exp, key)
	r.cur = fileRef{raw: raw, exp: exp, key: fsal.Handle(raw[fh.HeaderSize:])}
	r.clearCurStateid()
}

// setCurPseudo makes a pseudo-filesystem node current; a junction leads
// into its export's root.
func (r *request) setCurPseudo(n *export.PseudoNode) nfs4.Status {
	if n.Export != nil {
		if !n.Export.Allowed(r.remote) {
			return nfs4.ErrAccess
		}
		r.setCurExport(n.Export, n.Export.FS.Root())
		return nfs4.OK
	}
	r.cur = r.fsalPseudoRef(n)
	r.clearCurStateid()
	return nfs4.OK
}

func (r *request) clearCurStateid() { r.hasCurStateid = false }

// resolveFH turns a client-supplied handle into a fileRef.
func (r *request) resolveFH(raw []byte) (fileRef, nfs4.Status) {
	id, key, err := fh.Decode(raw)
	if err != nil {
		return fileRef{}, nfs4.ErrBadhandle
	}
	own := append([]byte(nil), raw...)
	if id == fh.PseudoExportID {
		n := r.tbl.PseudoByKey(key)
		if n == nil {
			return fileRef{}, nfs4.ErrStale
		}
		return fileRef{raw: own, pseudo: n}, nfs4.OK
	}
	exp := r.tbl.ByID(id)
	if exp == nil {
		return fileRef{}, nfs4.ErrStale
	}
	if !exp.Allowed(r.remote) {
		return fileRef{}, nfs4.ErrAccess
	}
	if err := exp.FS.Check(r.ctx, key); err != nil {
		if errors.Is(err, syscall.EACCES) {
			// Outside the export, or another export's object: PUTFH
			// may not answer NFS4ERR_ACCESS (RFC 7530 section 16.20.5,
			// RFC 8881 section 18.19.3), and to this export the
			// object does not exist (knfsd answers the same).
			return fileRef{}, nfs4.ErrStale
		}
		return fileRef{}, statusOf(err)
	}
	return fileRef{raw: own, exp: exp, key: fsal.Handle(own[fh.HeaderSize:])}, nfs4.OK
}

// needFH checks that there is a current file handle.
func (r *request) needFH() nfs4.Status {
	if !r.cur.set() {
		return nfs4.ErrNofilehandle
	}
	return nfs4.OK
}

// needExportFH checks for a current handle inside an export (not the
// pseudo-filesystem, which is read-only).
func (r *request) needExportFH(pseudoErr nfs4.Status) nfs4.Status {
	if !r.cur.set() {
		return nfs4.ErrNofilehandle
	}
	if r.cur.exp == nil {
		return pseudoErr
	}
	return nfs4.OK
}

// writable checks that the current handle's export accepts modifications.
func (r *request) writable() nfs4.Status {
	if st := r.needExportFH(nfs4.ErrRofs); st != nfs4.OK {
		return st
	}
	if r.cur.exp.ReadOnly {
		return nfs4.ErrRofs
	}
	return nfs4.OK
}

// fileKey names the current file in the state model.
func (r *request) fileKey() string { return string(r.cur.raw) }

// resolveStateid substitutes the 4.1 current stateid (RFC 8881 section
// 16.2.3.1.2).
func (r *request) resolveStateid(sid nfs4.Stateid) (nfs4.Stateid, nfs4.Status) {
	if r.minor > 0 && sid == nfs4.CurrentStateid {
		if !r.hasCurStateid {
			return sid, nfs4.ErrBadStateid
		}
		return r.curStateid, nfs4.OK
	}
	return sid, nfs4.OK
}

// stateFor finds the state named by the stateid argument of an operation
// that needs a real one (CLOSE, OPEN_CONFIRM, OPEN_DOWNGRADE, LOCK, LOCKU,
// DELEGRETURN): the 4.1 current stateid is substituted, and a special
// stateid is NFS4ERR_BAD_STATEID. fh, unless empty, is the file the state
// must be on. A nil state comes with the error to return. A state can also
// come with an error (an old seqid, a closed open): it still names its
// owner, whose seqid may show the request is a retransmission to answer
// from the replay cache (RFC 7530 section 9.1.7), so the caller returns
// that error only after the seqid check.
func (r *request) stateFor(sid nfs4.Stateid, fh string) (*nfs4state.State, nfs4.Status) {
	sid, st := r.resolveStateid(sid)
	if st != nfs4.OK {
		return nil, st
	}
	if sid.IsSpecial() {
		return nil, nfs4.ErrBadStateid
	}
	return r.s.cfg.State.LookupState(sid, fh, r.minor)
}

func (r *request) setCurStateid(sid nfs4.Stateid) {
	r.curStateid, r.hasCurStateid = sid, true
}

// checkName validates a component name (RFC 7530 section 12.7).
func checkName(name []byte) nfs4.Status {
	switch {
	case len(name) == 0:
		return nfs4.ErrInval
	case len(name) > nfs4.MaxNameLen:
		return nfs4.ErrNametoolong
	case string(name) == "." || string(name) == "..":
		return nfs4.ErrBadname
	}
	for _, c := range name {
		if c == '/' || c == 0 {
			return nfs4.ErrBadchar
		}
	}
	if !validUTF8(name) {
		return nfs4.ErrInval
	}
	return nfs4.OK
}

// decodeName reads a component name, checking it.
func decodeName(d *xdr.Decoder) (string, nfs4.Status) {
	b := d.Opaque(nfs4.MaxPathLen)
	if d.Err() != nil {
		return "", nfs4.ErrBadxdr
	}
	if st := checkName(b); st != nfs4.OK {
		return "", st
	}
	return string(b), nfs4.OK
}

// fsalPseudoRef returns the handle of a pseudo directory (never a junction).
func (r *request) fsalPseudoRef(n *export.PseudoNode) fileRef {
	return fileRef{raw: r.appendFH(fh.PseudoExportID, n.Key()), pseudo: n}
}
