package nfsclient

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// fakeServer is a small in-memory NFSv4.0/4.1 server used as the Client's
// transport in tests. It is strict where the client's correctness is at
// stake (slot sequence IDs, slot exclusivity, open-owner and lock-owner
// seqids, stateids) and minimal elsewhere.
type fakeServer struct {
	t     *testing.T
	mu    sync.Mutex
	minor uint32

	clientID   uint64
	confirm    [8]byte
	confirmed  bool
	sess       [16]byte
	hasSession bool
	slots      []fakeSlot
	maxSlots   uint32

	nodes  map[string]*fnode
	root   *fnode
	nextID uint64
	states map[[12]byte]*fstate
	owners map[string]*fowner // 4.0 open-owners and lock-owners by name

	lease      uint32
	readdirPer int
	grantDeleg bool
	sleep      time.Duration // per SEQUENCE'd compound, to overlap requests
	cb         oncrpc.Handler
	log        []uint32 // every opcode processed
	busy, peak int
	inject     func(op uint32) nfs4.Status // status to fail op with (0: none)
	loseReply  func(ops []uint32) (process, lose bool)
	writeVerf  [8]byte
	closed     bool
}

type fakeSlot struct {
	seq  uint32
	busy bool
}

type fnode struct {
	id     uint64
	fh     []byte
	typ    uint32
	mode   uint32
	data   []byte
	kids   map[string]*fnode
	order  []string
	parent *fnode
	link   string
	nlink  uint32
	change uint64
}

type fstate struct {
	node  *fnode
	seq   uint32
	lock  bool
	deleg bool
	owner string
}

type fowner struct {
	seqid     uint32
	confirmed bool
}

func newFakeServer(t *testing.T, minor uint32) *fakeServer {
	s := &fakeServer{t: t, minor: minor, nodes: map[string]*fnode{}, states: map[[12]byte]*fstate{},
		owners: map[string]*fowner{}, maxSlots: 16, lease: 60, readdirPer: 1000, writeVerf: [8]byte{1, 2, 3}}
	s.root = s.newNode(nil, "", nfs4.NF4DIR, 0o755)
	return s
}

func (s *fakeServer) newNode(parent *fnode, name string, typ, mode uint32) *fnode {
	s.nextID++
	n := &fnode{id: s.nextID, fh: []byte(fmt.Sprintf("fh-%04d", s.nextID)), typ: typ, mode: mode, parent: parent, nlink: 1}
	if typ == nfs4.NF4DIR {
		n.kids = map[string]*fnode{}
		n.nlink = 2
	}
	s.nodes[string(n.fh)] = n
	if parent != nil {
		parent.kids[name] = n
		parent.order = append(parent.order, name)
		parent.change++
	}
	return n
}

// mkfile makes path (creating directories) with contents, for test setup.
func (s *fakeServer) mkfile(path string, data []byte) *fnode {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.root
	comps := splitPath(path)
	for i, c := range comps {
		n := cur.kids[c]
		if n == nil {
			if i == len(comps)-1 && data != nil {
				n = s.newNode(cur, c, nfs4.NF4REG, 0o644)
				n.data = data
			} else {
				n = s.newNode(cur, c, nfs4.NF4DIR, 0o755)
			}
		}
		cur = n
	}
	return cur
}

func (s *fakeServer) ops() []uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint32(nil), s.log...)
}

func (s *fakeServer) count(op uint32) int {
	n := 0
	for _, o := range s.ops() {
		if o == op {
			n++
		}
	}
	return n
}

// Transport.

func (s *fakeServer) SetCallbackHandler(h oncrpc.Handler) { s.cb = h }

func (s *fakeServer) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

var errLost = errors.New("fake: reply lost")

func (s *fakeServer) Call(ctx context.Context, prog, vers, proc uint32, cred oncrpc.Cred, args []byte) ([]byte, error) {
	if prog != nfs4.Program || vers != nfs4.Version {
		return nil, &oncrpc.Error{Accept: oncrpc.ProgUnavail}
	}
	if proc == nfs4.ProcNull {
		return nil, nil
	}
	if proc != nfs4.ProcCompound {
		return nil, &oncrpc.Error{Accept: oncrpc.ProcUnavail}
	}
	if s.loseReply != nil {
		process, lose := s.loseReply(peekOps(args))
		if !process {
			return nil, errLost
		}
		if lose {
			s.compound(args)
			return nil, errLost
		}
	}
	return s.compound(args), nil
}

// peekOps returns the opcodes of a COMPOUND (stopping at the first it
// cannot skip; good enough for the loss hooks).
func peekOps(args []byte) []uint32 {
	d := xdr.NewDecoder(args)
	d.Opaque(1 << 20)
	d.Uint32()
	n := d.Uint32()
	var ops []uint32
	for i := uint32(0); i < n && d.Err() == nil; i++ {
		op := d.Uint32()
		ops = append(ops, op)
		if op != nfs4.OpSequence {
			break
		}
		d.Fixed(16 + 16)
	}
	return ops
}

type fctx struct {
	s        *fakeServer
	d        *xdr.Decoder
	e        *xdr.Encoder
	cur, sav *fnode
	minor    uint32
	slot     *fakeSlot
	slotSeq  uint32
}

func (s *fakeServer) compound(args []byte) []byte {
	d := xdr.NewDecoder(args)
	tag := d.Opaque(1024)
	minor := d.Uint32()
	n := d.Count(1024, 4)
	e := &xdr.Encoder{}
	statusOff := e.Reserve(4)
	e.Opaque(tag)
	countOff := e.Reserve(4)
	if d.Err() != nil {
		e.PutUint32At(statusOff, uint32(nfs4.ErrBadxdr))
		return e.Buf
	}
	if minor != s.minor {
		e.PutUint32At(statusOff, uint32(nfs4.ErrMinorVersMismatch))
		return e.Buf
	}
	c := &fctx{s: s, d: d, e: e, minor: minor}
	status, count := nfs4.OK, 0
	for i := 0; i < n; i++ {
		op := d.Uint32()
		e.Uint32(op)
		stOff := e.Reserve(4)
		count++
		var st nfs4.Status
		if minor > 0 && i == 0 && !sessionless(op) {
			st = nfs4.ErrOpNotInSession
		} else if minor > 0 && i > 0 && op == nfs4.OpSequence {
			st = nfs4.ErrSequencePos
		} else if op == nfs4.OpSequence {
			st = c.sequence()
			if st == nfs4.OK && s.sleep > 0 {
				time.Sleep(s.sleep)
			}
		} else {
			s.mu.Lock()
			s.log = append(s.log, op)
			if s.inject != nil {
				st = s.inject(op)
			}
			if st == nfs4.OK {
				st = c.op(op)
			}
			s.mu.Unlock()
		}
		if d.Err() != nil && st == nfs4.OK {
			st = nfs4.ErrBadxdr
		}
		e.PutUint32At(stOff, uint32(st))
		status = st
		if st != nfs4.OK {
			// Results are void on error, except SETATTR's bitmap and
			// LOCK/LOCKT's LOCK4denied.
			if !(st == nfs4.ErrDenied && (op == nfs4.OpLock || op == nfs4.OpLockT)) {
				e.Buf = e.Buf[:stOff+4]
			}
			if op == nfs4.OpSetattr {
				e.Uint32(0)
			}
			break
		}
	}
	if c.slot != nil {
		s.mu.Lock()
		c.slot.busy = false
		c.slot.seq = c.slotSeq
		s.busy--
		s.mu.Unlock()
	}
	e.PutUint32At(statusOff, uint32(status))
	e.PutUint32At(countOff, uint32(count))
	return e.Buf
}

func sessionless(op uint32) bool {
	switch op {
	case nfs4.OpSequence, nfs4.OpExchangeID, nfs4.OpCreateSession, nfs4.OpDestroySession, nfs4.OpDestroyClientID, nfs4.OpBindConnToSession:
		return true
	}
	return false
}

func (c *fctx) sequence() nfs4.Status {
	s, d, e := c.s, c.d, c.e
	var sid [16]byte
	copy(sid[:], d.Fixed(16))
	seq, slot, highest := d.Uint32(), d.Uint32(), d.Uint32()
	d.Bool()
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.log = append(s.log, nfs4.OpSequence)
	if !s.hasSession || sid != s.sess {
		return nfs4.ErrBadsession
	}
	if slot >= uint32(len(s.slots)) {
		return nfs4.ErrBadslot
	}
	if highest < slot || highest >= uint32(len(s.slots)) {
		s.t.Errorf("fake: sa_highest_slotid %d with slot %d", highest, slot)
	}
	sl := &s.slots[slot]
	if sl.busy {
		s.t.Errorf("fake: slot %d used by two requests at once", slot)
		return nfs4.ErrDelay
	}
	if seq != sl.seq+1 {
		return nfs4.ErrSeqMisordered
	}
	sl.busy = true
	c.slot, c.slotSeq = sl, seq
	s.busy++
	s.peak = max(s.peak, s.busy)
	e.Fixed(sid[:])
	e.Uint32(seq)
	e.Uint32(slot)
	e.Uint32(uint32(len(s.slots) - 1))
	e.Uint32(uint32(len(s.slots) - 1))
	e.Uint32(0)
	return nfs4.OK
}

func (c *fctx) newStateid(n *fnode, owner string, lock, deleg bool) nfs4.Stateid {
	s := c.s
	s.nextID++
	var o [12]byte
	copy(o[:], fmt.Sprintf("st%010d", s.nextID))
	s.states[o] = &fstate{node: n, seq: 1, lock: lock, deleg: deleg, owner: owner}
	return nfs4.Stateid{Seqid: 1, Other: o}
}

// state checks a stateid for I/O or state changes on the current file.
func (c *fctx) state(sid nfs4.Stateid) (*fstate, nfs4.Status) {
	if sid.IsSpecial() {
		return nil, nfs4.OK
	}
	st := c.s.states[sid.Other]
	if st == nil {
		return nil, nfs4.ErrBadStateid
	}
	if c.cur == nil || st.node != c.cur {
		return nil, nfs4.ErrBadStateid
	}
	if sid.Seqid != 0 && sid.Seqid != st.seq {
		return nil, nfs4.ErrOldStateid
	}
	return st, nfs4.OK
}

// seqid enforces an NFSv4.0 owner seqid (RFC 7530 section 9.1.7).
func (c *fctx) seqid(owner string, seqid uint32, isNew bool) nfs4.Status {
	if c.minor > 0 {
		return nfs4.OK
	}
	o := c.s.owners[owner]
	if o == nil {
		if !isNew {
			return nfs4.ErrBadSeqid
		}
		c.s.owners[owner] = &fowner{seqid: seqid}
		return nfs4.OK
	}
	if seqid != o.seqid+1 {
		c.s.t.Errorf("fake: owner %s seqid %d, expected %d", owner, seqid, o.seqid+1)
		return nfs4.ErrBadSeqid
	}
	o.seqid = seqid
	return nfs4.OK
}

func (c *fctx) op(op uint32) nfs4.Status {
	s, d, e := c.s, c.d, c.e
	needFH := func() nfs4.Status {
		if c.cur == nil {
			return nfs4.ErrNofilehandle
		}
		return nfs4.OK
	}
	switch op {
	case nfs4.OpExchangeID:
		d.Fixed(8)
		d.Opaque(1024)
		d.Uint32()
		if d.Uint32() != nfs4.SP4None {
			return nfs4.ErrInval
		}
		if d.Count(1, 20) == 1 {
			d.Opaque(1024)
			d.Opaque(1024)
			d.Fixed(12)
		}
		s.clientID = 0xc1
		e.Uint64(s.clientID)
		e.Uint32(1)
		e.Uint32(nfs4.ExchgidFlagUseNonPNFS)
		e.Uint32(nfs4.SP4None)
		e.Uint64(0)
		e.Opaque([]byte("fake"))
		e.Opaque([]byte("fake"))
		e.Uint32(0)
	case nfs4.OpCreateSession:
		if d.Uint64() != s.clientID || d.Uint32() != 1 {
			return nfs4.ErrStaleClientid
		}
		if d.Uint32()&nfs4.CreateSessionFlagConnBackChan == 0 {
			s.t.Error("fake: no back channel requested")
		}
		fore, back := decodeChannelAttrs(d), decodeChannelAttrs(d)
		d.Uint32()
		nsec := d.Count(8, 4)
		for i := 0; i < nsec; i++ {
			if d.Uint32() != nfs4.AuthNone {
				return nfs4.ErrInval
			}
		}
		if fore.MaxRequestSize < 1<<20 || fore.MaxResponseSize < 1<<20 {
			s.t.Errorf("fake: fore channel sizes %d/%d", fore.MaxRequestSize, fore.MaxResponseSize)
		}
		fore.MaxRequests = min(fore.MaxRequests, s.maxSlots)
		s.slots = make([]fakeSlot, fore.MaxRequests)
		copy(s.sess[:], "fake-session-001")
		s.hasSession = true
		e.Fixed(s.sess[:])
		e.Uint32(1)
		e.Uint32(nfs4.CreateSessionFlagConnBackChan)
		fore.encode(e)
		back.encode(e)
	case nfs4.OpDestroySession:
		var sid [16]byte
		copy(sid[:], d.Fixed(16))
		if !s.hasSession || sid != s.sess {
			return nfs4.ErrBadsession
		}
		s.hasSession = false
	case nfs4.OpDestroyClientID:
		if d.Uint64() != s.clientID {
			return nfs4.ErrStaleClientid
		}
		if s.hasSession {
			return nfs4.ErrClientidBusy
		}
	case nfs4.OpReclaimComplete:
		d.Bool()
	case nfs4.OpSetClientID:
		d.Fixed(8)
		d.Opaque(1024)
		d.Uint32()
		d.String(64)
		d.String(64)
		d.Uint32()
		s.clientID = 0xc0
		s.confirm = [8]byte{'c', 'o', 'n', 'f'}
		e.Uint64(s.clientID)
		e.Fixed(s.confirm[:])
	case nfs4.OpSetClientIDConfirm:
		id := d.Uint64()
		var v [8]byte
		copy(v[:], d.Fixed(8))
		if id != s.clientID || v != s.confirm {
			return nfs4.ErrStaleClientid
		}
		s.confirmed = true
	case nfs4.OpRenew:
		if d.Uint64() != s.clientID || !s.confirmed {
			return nfs4.ErrStaleClientid
		}
	case nfs4.OpPutRootFH:
		c.cur = s.root
	case nfs4.OpPutFH:
		n := s.nodes[string(d.Opaque(128))]
		if n == nil {
			return nfs4.ErrStale
		}
		c.cur = n
	case nfs4.OpGetFH:
		if st := needFH(); st != 0 {
			return st
		}
		e.Opaque(c.cur.fh)
	case nfs4.OpSaveFH:
		c.sav = c.cur
	case nfs4.OpRestoreFH:
		c.cur = c.sav
	case nfs4.OpLookup:
		name := d.String(1024)
		if st := needFH(); st != 0 {
			return st
		}
		if c.cur.typ != nfs4.NF4DIR {
			return nfs4.ErrNotdir
		}
		n := c.cur.kids[name]
		if n == nil {
			return nfs4.ErrNoent
		}
		c.cur = n
	case nfs4.OpLookupP:
		if c.cur.parent == nil {
			return nfs4.ErrNoent
		}
		c.cur = c.cur.parent
	case nfs4.OpGetattr:
		mask := decodeBitmap(d)
		if st := needFH(); st != 0 {
			return st
		}
		s.encodeAttrs(e, c.cur, mask)
	case nfs4.OpAccess:
		m := d.Uint32()
		e.Uint32(0x3f)
		e.Uint32(m)
	case nfs4.OpOpen:
		return c.open()
	case nfs4.OpOpenConfirm:
		sid := nfs4.DecodeStateid(d)
		seqid := d.Uint32()
		st, stat := c.state(sid)
		if stat != 0 {
			return stat
		}
		if stat := c.seqid(st.owner, seqid, false); stat != 0 {
			return stat
		}
		s.owners[st.owner].confirmed = true
		st.seq++
		nfs4.Stateid{Seqid: st.seq, Other: sid.Other}.Encode(e)
	case nfs4.OpOpenDowngrade:
		sid := nfs4.DecodeStateid(d)
		seqid := d.Uint32()
		d.Uint32()
		d.Uint32()
		st, stat := c.state(sid)
		if stat != 0 {
			return stat
		}
		if stat := c.seqid(st.owner, seqid, false); stat != 0 {
			return stat
		}
		st.seq++
		nfs4.Stateid{Seqid: st.seq, Other: sid.Other}.Encode(e)
	case nfs4.OpClose:
		seqid := d.Uint32()
		sid := nfs4.DecodeStateid(d)
		st, stat := c.state(sid)
		if stat != 0 {
			return stat
		}
		if stat := c.seqid(st.owner, seqid, false); stat != 0 {
			return stat
		}
		delete(s.states, sid.Other)
		nfs4.Stateid{Seqid: st.seq + 1, Other: sid.Other}.Encode(e)
	case nfs4.OpRead:
		sid := nfs4.DecodeStateid(d)
		off, cnt := d.Uint64(), d.Uint32()
		if _, st := c.state(sid); st != 0 {
			return st
		}
		data := c.cur.data
		if off > uint64(len(data)) {
			off = uint64(len(data))
		}
		data = data[off:]
		if uint64(len(data)) > uint64(cnt) {
			data = data[:cnt]
		}
		e.Bool(off+uint64(len(data)) >= uint64(len(c.cur.data)))
		e.Opaque(data)
	case nfs4.OpWrite:
		sid := nfs4.DecodeStateid(d)
		off := d.Uint64()
		d.Uint32()
		data := d.Opaque(8 << 20)
		if _, st := c.state(sid); st != 0 {
			return st
		}
		if end := int(off) + len(data); end > len(c.cur.data) {
			c.cur.data = append(c.cur.data, make([]byte, end-len(c.cur.data))...)
		}
		copy(c.cur.data[off:], data)
		c.cur.change++
		e.Uint32(uint32(len(data)))
		e.Uint32(nfs4.Unstable)
		e.Fixed(s.writeVerf[:])
	case nfs4.OpCommit:
		d.Uint64()
		d.Uint32()
		e.Fixed(s.writeVerf[:])
	case nfs4.OpReaddir:
		cookie := d.Uint64()
		d.Fixed(8)
		d.Uint32()
		d.Uint32()
		mask := decodeBitmap(d)
		if c.cur.typ != nfs4.NF4DIR {
			return nfs4.ErrNotdir
		}
		e.Fixed([]byte("cookieve"))
		start := 0
		if cookie != 0 {
			start = int(cookie) - 2 // cookies 3.. name order[i] with cookie i+3
		}
		sent := 0
		for i := start; i < len(c.cur.order) && sent < s.readdirPer; i++ {
			name := c.cur.order[i]
			e.Bool(true)
			e.Uint64(uint64(i + 3))
			e.String(name)
			s.encodeAttrs(e, c.cur.kids[name], mask)
			sent++
			start = i + 1
		}
		e.Bool(false)
		e.Bool(start >= len(c.cur.order))
	case nfs4.OpCreate:
		typ := d.Uint32()
		var link string
		switch typ {
		case nfs4.NF4LNK:
			link = d.String(4096)
		case nfs4.NF4BLK, nfs4.NF4CHR:
			d.Uint32()
			d.Uint32()
		}
		name := d.String(1024)
		var a Attrs
		if err := DecodeFattr(d, &a); err != nil {
			return nfs4.ErrBadxdr
		}
		if c.cur.kids[name] != nil {
			return nfs4.ErrExist
		}
		before := c.cur.change
		n := s.newNode(c.cur, name, typ, a.Mode)
		n.link = link
		encCinfo(e, true, before, c.cur.change)
		a.Mask.Encode(e)
		c.cur = n
	case nfs4.OpRemove:
		name := d.String(1024)
		n := c.cur.kids[name]
		if n == nil {
			return nfs4.ErrNoent
		}
		before := c.cur.change
		c.s.unlink(c.cur, name)
		encCinfo(e, true, before, c.cur.change)
	case nfs4.OpRename:
		oldName, newName := d.String(1024), d.String(1024)
		n := c.sav.kids[oldName]
		if n == nil {
			return nfs4.ErrNoent
		}
		b1, b2 := c.sav.change, c.cur.change
		c.s.unlink(c.sav, oldName)
		c.cur.kids[newName] = n
		c.cur.order = append(c.cur.order, newName)
		c.cur.change++
		n.parent = c.cur
		encCinfo(e, true, b1, c.sav.change)
		encCinfo(e, true, b2, c.cur.change)
	case nfs4.OpLink:
		name := d.String(1024)
		before := c.cur.change
		c.cur.kids[name] = c.sav
		c.cur.order = append(c.cur.order, name)
		c.cur.change++
		c.sav.nlink++
		encCinfo(e, true, before, c.cur.change)
	case nfs4.OpReadlink:
		if c.cur.typ != nfs4.NF4LNK {
			return nfs4.ErrInval
		}
		e.String(c.cur.link)
	case nfs4.OpSetattr:
		sid := nfs4.DecodeStateid(d)
		var a Attrs
		if err := DecodeFattr(d, &a); err != nil {
			return nfs4.ErrBadxdr
		}
		if _, st := c.state(sid); st != 0 {
			return st
		}
		if a.Has(nfs4.AttrMode) {
			c.cur.mode = a.Mode
		}
		if a.Has(nfs4.AttrSize) {
			c.cur.data = append(c.cur.data[:0:0], c.cur.data[:min(uint64(len(c.cur.data)), a.Size)]...)
			c.cur.data = append(c.cur.data, make([]byte, a.Size-uint64(len(c.cur.data)))...)
		}
		a.Mask.Encode(e)
	case nfs4.OpLock:
		return c.lock()
	case nfs4.OpLockU:
		d.Uint32()
		seqid := d.Uint32()
		sid := nfs4.DecodeStateid(d)
		d.Uint64()
		d.Uint64()
		st, stat := c.state(sid)
		if stat != 0 {
			return stat
		}
		if stat := c.seqid(st.owner, seqid, false); stat != 0 {
			return stat
		}
		st.seq++
		nfs4.Stateid{Seqid: st.seq, Other: sid.Other}.Encode(e)
	case nfs4.OpLockT:
		d.Uint32()
		off, length := d.Uint64(), d.Uint64()
		decodeStateOwner(d)
		if off == 1000 { // tests: a conflict lives at offset 1000
			e.Uint64(1000)
			e.Uint64(length)
			e.Uint32(nfs4.WriteLT)
			e.Uint64(99)
			e.Opaque([]byte("someone"))
			return nfs4.ErrDenied
		}
	case nfs4.OpFreeStateID:
		sid := nfs4.DecodeStateid(d)
		if s.states[sid.Other] == nil {
			return nfs4.ErrBadStateid
		}
		delete(s.states, sid.Other)
	case nfs4.OpReleaseLockOwner:
		o := decodeStateOwner(d)
		delete(s.owners, string(o.Owner))
	case nfs4.OpDelegReturn:
		sid := nfs4.DecodeStateid(d)
		st, stat := c.state(sid)
		if stat != 0 {
			return stat
		}
		if !st.deleg {
			return nfs4.ErrBadStateid
		}
		delete(s.states, sid.Other)
	default:
		return nfs4.ErrNotsupp
	}
	return nfs4.OK
}

func (s *fakeServer) unlink(dir *fnode, name string) {
	delete(dir.kids, name)
	for i, n := range dir.order {
		if n == name {
			dir.order = append(dir.order[:i], dir.order[i+1:]...)
			break
		}
	}
	dir.change++
}

func (c *fctx) open() nfs4.Status {
	s, d, e := c.s, c.d, c.e
	seqid := d.Uint32()
	access, _ := d.Uint32(), d.Uint32()
	d.Uint64()
	owner := string(d.Opaque(1024))
	create := d.Uint32() == nfs4.OpenCreate
	var a Attrs
	mode := uint32(0)
	if create {
		mode = d.Uint32()
		switch mode {
		case nfs4.CreateExclusive:
			d.Fixed(8)
		case nfs4.CreateExclusive41:
			d.Fixed(8)
			fallthrough
		default:
			if err := DecodeFattr(d, &a); err != nil {
				return nfs4.ErrBadxdr
			}
		}
	}
	claim := d.Uint32()
	var name string
	switch claim {
	case nfs4.ClaimNull:
		name = d.String(1024)
	case nfs4.ClaimFH:
	default:
		return nfs4.ErrNotsupp
	}
	if d.Err() != nil {
		return nfs4.ErrBadxdr
	}
	if access&nfs4.ShareAccessBoth == 0 {
		return nfs4.ErrInval
	}
	isNew := s.owners[owner] == nil
	if st := c.seqid(owner, seqid, true); st != 0 {
		return st
	}
	target := c.cur
	var before, after uint64
	if claim == nfs4.ClaimNull {
		if c.cur.typ != nfs4.NF4DIR {
			return nfs4.ErrNotdir
		}
		before = c.cur.change
		target = c.cur.kids[name]
		if target == nil {
			if !create {
				return nfs4.ErrNoent
			}
			target = s.newNode(c.cur, name, nfs4.NF4REG, a.Mode)
		} else if create && mode == nfs4.CreateGuarded {
			return nfs4.ErrExist
		} else if create && a.Has(nfs4.AttrSize) && a.Size == 0 {
			target.data = nil
		}
		after = c.cur.change
	}
	sid := c.newStateid(target, owner, false, false)
	sid.Encode(e)
	encCinfo(e, true, before, after)
	rflags := uint32(nfs4.OpenResultLocktypePosix)
	if c.minor == 0 && isNew {
		rflags |= nfs4.OpenResultConfirm
	}
	e.Uint32(rflags)
	a.Mask.Encode(e)
	if s.grantDeleg && c.minor > 0 {
		e.Uint32(nfs4.DelegRead)
		c.newStateid(target, "", false, true).Encode(e)
		e.Bool(false)
		encACE(e)
	} else {
		e.Uint32(nfs4.DelegNone)
	}
	c.cur = target
	return nfs4.OK
}

func (c *fctx) lock() nfs4.Status {
	d, e := c.d, c.e
	d.Uint32()
	d.Bool()
	d.Uint64()
	d.Uint64()
	if d.Bool() {
		openSeqid := d.Uint32()
		osid := nfs4.DecodeStateid(d)
		lockSeqid := d.Uint32()
		lo := decodeStateOwner(d)
		st, stat := c.state(osid)
		if stat != 0 {
			return stat
		}
		if stat := c.seqid(st.owner, openSeqid, false); stat != 0 {
			return stat
		}
		lname := string(lo.Owner)
		if stat := c.seqid(lname, lockSeqid, true); stat != 0 {
			return stat
		}
		c.newStateid(c.cur, lname, true, false).Encode(e)
		return nfs4.OK
	}
	lsid := nfs4.DecodeStateid(d)
	lockSeqid := d.Uint32()
	st, stat := c.state(lsid)
	if stat != 0 {
		return stat
	}
	if stat := c.seqid(st.owner, lockSeqid, false); stat != 0 {
		return stat
	}
	st.seq++
	nfs4.Stateid{Seqid: st.seq, Other: lsid.Other}.Encode(e)
	return nfs4.OK
}

// fakeAttrs are the attributes the fake server serves.
var fakeAttrs = MakeBitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFsid,
	nfs4.AttrLeaseTime, nfs4.AttrFilehandle, nfs4.AttrFileid, nfs4.AttrMaxread, nfs4.AttrMaxwrite,
	nfs4.AttrMode, nfs4.AttrNumlinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrSpaceUsed,
	nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify)

// encodeAttrs encodes the supported subset of mask for n.
func (s *fakeServer) encodeAttrs(e *xdr.Encoder, n *fnode, mask nfs4.Bitmap) {
	t := nfs4.Time{Sec: int64(n.change)}
	f := nfs4.Fattr{Type: n.typ, Change: n.change, Size: uint64(len(n.data)), Fsid: [2]uint64{1, 2},
		LeaseTime: s.lease, FH: n.fh, Fileid: n.id, Maxread: 256 << 10, Maxwrite: 256 << 10,
		Mode: n.mode, Nlink: n.nlink, Owner: "0", OwnerGroup: "0", SpaceUsed: uint64(len(n.data)),
		Atime: t, Ctime: t, Mtime: t}
	out := mask.And(&fakeAttrs)
	if err := f.EncodeMask(e, &out); err != nil {
		s.t.Errorf("fake: %v", err)
	}
}
