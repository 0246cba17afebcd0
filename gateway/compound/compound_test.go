package compound

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

func newTestServer(t testing.TB) *Server {
	t.Helper()
	return newTestServerAt(t, t.TempDir())
}

// newTestServerAt serves dir as /export.
func newTestServerAt(t testing.TB, dir string) *Server {
	t.Helper()
	fs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: fs, Squash: export.SquashNone}})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{
		Exports: export.NewRegistry(tbl),
		State:   nfs4state.NewManager(nfs4state.Config{Lease: 5 * time.Second}),
	})
}

// compoundArgs encodes COMPOUND4args around pre-encoded operations.
func compoundArgs(minor uint32, numOps uint32, ops func(e *xdr.Encoder)) []byte {
	var e xdr.Encoder
	e.String("test")
	e.Uint32(minor)
	e.Uint32(numOps)
	if ops != nil {
		ops(&e)
	}
	return e.Buf
}

type opResult struct {
	op     uint32
	status nfs4.Status
}

// call runs a COMPOUND and returns its status and the (op, status) of each
// result, decoding only the headers: enough for the rules tested here.
func call(t testing.TB, s *Server, args []byte) (nfs4.Status, []opResult, *xdr.Decoder) {
	t.Helper()
	var e xdr.Encoder
	c := &oncrpc.Call{Prog: nfs4.Program, Vers: 4, Proc: nfs4.ProcCompound, Flavor: oncrpc.FlavorSys, Args: args}
	if st := s.HandleCall(context.Background(), c, &e); st != oncrpc.Success {
		t.Fatalf("accept status %d", st)
	}
	d := xdr.NewDecoder(e.Buf)
	status := nfs4.Status(d.Uint32())
	d.Opaque(nfs4.MaxTagLen)
	n := d.Uint32()
	var res []opResult
	for i := uint32(0); i < n && i < 1; i++ {
		res = append(res, opResult{d.Uint32(), nfs4.Status(d.Uint32())})
	}
	if d.Err() != nil {
		t.Fatalf("reply: %v", d.Err())
	}
	return status, res, d
}

func TestMinorVersionMismatch(t *testing.T) {
	s := newTestServer(t)
	st, res, _ := call(t, s, compoundArgs(3, 1, func(e *xdr.Encoder) { e.Uint32(nfs4.OpPutRootFH) }))
	if st != nfs4.ErrMinorVersMismatch || len(res) != 0 {
		t.Fatalf("status %d, %d results", st, len(res))
	}
}

func TestFirstOpRules(t *testing.T) {
	s := newTestServer(t)
	cases := []struct {
		name  string
		minor uint32
		ops   []uint32
		want  opResult
	}{
		{"4.1 without SEQUENCE", 1, []uint32{nfs4.OpPutRootFH}, opResult{nfs4.OpPutRootFH, nfs4.ErrOpNotInSession}},
		{"EXCHANGE_ID not alone", 1, []uint32{nfs4.OpExchangeID, nfs4.OpPutRootFH}, opResult{nfs4.OpExchangeID, nfs4.ErrNotOnlyOp}},
		{"illegal op", 0, []uint32{9999}, opResult{nfs4.OpIllegal, nfs4.ErrOpIllegal}},
		{"4.1 op in 4.0", 0, []uint32{nfs4.OpSequence}, opResult{nfs4.OpIllegal, nfs4.ErrOpIllegal}},
		{"4.0 op in 4.1", 1, []uint32{nfs4.OpSetClientID}, opResult{nfs4.OpSetClientID, nfs4.ErrNotsupp}},
		{"4.2 op in 4.1", 1, []uint32{nfs4.OpSeek}, opResult{nfs4.OpIllegal, nfs4.ErrOpIllegal}},
		{"no filehandle", 0, []uint32{nfs4.OpGetFH}, opResult{nfs4.OpGetFH, nfs4.ErrNofilehandle}},
		{"restorefh without save", 0, []uint32{nfs4.OpRestoreFH}, opResult{nfs4.OpRestoreFH, nfs4.ErrRestorefh}},
		{"putrootfh", 0, []uint32{nfs4.OpPutRootFH}, opResult{nfs4.OpPutRootFH, nfs4.OK}},
	}
	for _, c := range cases {
		args := compoundArgs(c.minor, uint32(len(c.ops)), func(e *xdr.Encoder) {
			for _, op := range c.ops {
				e.Uint32(op)
			}
		})
		_, res, _ := call(t, s, args)
		if len(res) == 0 || res[0] != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, res, c.want)
		}
	}
}

func TestSequencePosition(t *testing.T) {
	s := newTestServer(t)
	// SEQUENCE with an unknown session as first op fails with BADSESSION;
	// a SEQUENCE later in a 4.0 COMPOUND is illegal; in 4.1 a second
	// SEQUENCE is SEQUENCE_POS, which needs a session, so it is covered
	// end to end in e2e.
	args := compoundArgs(1, 1, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpSequence)
		e.Fixed(make([]byte, 16))
		e.Uint32(1)
		e.Uint32(0)
		e.Uint32(0)
		e.Bool(false)
	})
	_, res, _ := call(t, s, args)
	if res[0] != (opResult{nfs4.OpSequence, nfs4.ErrBadsession}) {
		t.Fatalf("got %+v", res)
	}
}

func TestGarbage(t *testing.T) {
	s := newTestServer(t)
	var e xdr.Encoder
	c := &oncrpc.Call{Proc: nfs4.ProcCompound, Args: []byte{0, 0, 0}}
	if st := s.HandleCall(context.Background(), c, &e); st != oncrpc.GarbageArgs {
		t.Fatalf("truncated header: %d", st)
	}
	c.Proc = 7
	if st := s.HandleCall(context.Background(), c, &e); st != oncrpc.ProcUnavail {
		t.Fatalf("unknown procedure: %d", st)
	}
	// A COMPOUND that promises more ops than it carries.
	st, res, _ := call(t, s, compoundArgs(0, 5, func(e *xdr.Encoder) { e.Uint32(nfs4.OpPutRootFH) }))
	if st != nfs4.ErrBadxdr || len(res) != 1 {
		t.Fatalf("short COMPOUND: status %d results %+v", st, res)
	}
	// Truncated arguments of an op.
	st, res, _ = call(t, s, compoundArgs(0, 1, func(e *xdr.Encoder) { e.Uint32(nfs4.OpPutFH); e.Uint32(100) }))
	if st != nfs4.ErrBadxdr || res[0].op != nfs4.OpPutFH {
		t.Fatalf("truncated PUTFH: %d %+v", st, res)
	}
}

func TestBadHandles(t *testing.T) {
	s := newTestServer(t)
	for name, fh := range map[string][]byte{
		"garbage":        {1, 2, 3, 4, 5, 6, 7},
		"unknown export": {0x43, 0, 0, 9, 1, 1},
		"unknown pseudo": {0x43, 0, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8},
	} {
		_, res, _ := call(t, s, compoundArgs(0, 1, func(e *xdr.Encoder) { e.Uint32(nfs4.OpPutFH); e.Opaque(fh) }))
		if res[0].status != nfs4.ErrBadhandle && res[0].status != nfs4.ErrStale {
			t.Errorf("%s: status %d", name, res[0].status)
		}
	}
}

func TestRootGetattr(t *testing.T) {
	s := newTestServer(t)
	var req nfs4.Bitmap
	req.Set(nfs4.AttrType)
	req.Set(nfs4.AttrFileid)
	args := compoundArgs(0, 2, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpGetattr)
		req.Encode(e)
	})
	st, _, d := call(t, s, args)
	if st != nfs4.OK {
		t.Fatalf("status %d", st)
	}
	if op, st := d.Uint32(), nfs4.Status(d.Uint32()); op != nfs4.OpGetattr || st != nfs4.OK {
		t.Fatalf("GETATTR %d %d", op, st)
	}
	got := nfs4.DecodeBitmap(d)
	vals := d.Opaque(1000)
	if !got.Has(nfs4.AttrType) || !got.Has(nfs4.AttrFileid) || len(vals) != 12 {
		t.Fatalf("bitmap %v, %d value bytes", got.Bits(), len(vals))
	}
	if typ := binary.BigEndian.Uint32(vals); typ != nfs4.NF4DIR {
		t.Fatalf("root type %d", typ)
	}
}

// FuzzCompound feeds arbitrary COMPOUND arguments to the engine: whatever
// arrives, it must answer without panicking.
func FuzzCompound(f *testing.F) {
	s := newTestServer(f)
	var req nfs4.Bitmap
	req.Set(nfs4.AttrSupportedAttrs)
	req.Set(nfs4.AttrOwner)
	f.Add(compoundArgs(0, 3, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		e.Uint32(nfs4.OpGetattr)
		req.Encode(e)
	}))
	f.Add(compoundArgs(1, 1, func(e *xdr.Encoder) { e.Uint32(nfs4.OpExchangeID) }))
	f.Add(compoundArgs(0, 2, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpReaddir)
		e.Uint64(0)
		e.Fixed(make([]byte, 8))
		e.Uint32(100)
		e.Uint32(1000)
		req.Encode(e)
	}))
	f.Fuzz(func(t *testing.T, args []byte) {
		var e xdr.Encoder
		c := &oncrpc.Call{Proc: nfs4.ProcCompound, Flavor: oncrpc.FlavorSys, Args: args}
		s.HandleCall(context.Background(), c, &e)
	})
}

func TestLongCompound40(t *testing.T) {
	s := newTestServer(t)
	st, res, _ := call(t, s, compoundArgs(0, maxOps40+1, func(e *xdr.Encoder) {
		for i := 0; i <= maxOps40; i++ {
			e.Uint32(nfs4.OpPutRootFH)
		}
	}))
	if st != nfs4.ErrResource || len(res) != 0 {
		t.Fatalf("status %d, %d results", st, len(res))
	}
	st, _, _ = call(t, s, compoundArgs(0, maxOps40, func(e *xdr.Encoder) {
		for i := 0; i < maxOps40; i++ {
			e.Uint32(nfs4.OpPutRootFH)
		}
	}))
	if st != nfs4.OK {
		t.Fatalf("a COMPOUND at the limit: %d", st)
	}
}
