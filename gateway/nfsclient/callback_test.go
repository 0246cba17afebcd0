package nfsclient

import (
	"bytes"
	"context"
	"reflect"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

func cbArgs(minor uint32, ops ...[]byte) []byte {
	e := &xdr.Encoder{}
	e.String("cbtag")
	e.Uint32(minor)
	e.Uint32(0) // callback_ident
	e.Uint32(uint32(len(ops)))
	for _, op := range ops {
		e.Buf = append(e.Buf, op...)
	}
	return e.Buf
}

func cbSeqOp(sid [16]byte, seq, slot uint32) []byte {
	e := &xdr.Encoder{}
	e.Uint32(CBOpSequence)
	e.Fixed(sid[:])
	e.Uint32(seq)
	e.Uint32(slot)
	e.Uint32(slot)
	e.Bool(false)
	e.Uint32(1) // one referring_call_list4
	e.Fixed(sid[:])
	e.Uint32(1)
	e.Uint32(4)
	e.Uint32(0)
	return e.Buf
}

func cbRecallOp(sid nfs4.Stateid, fh []byte) []byte {
	e := &xdr.Encoder{}
	e.Uint32(CBOpRecall)
	sid.Encode(e)
	e.Bool(true)
	e.Opaque(fh)
	return e.Buf
}

type cbResult struct {
	op     uint32
	status nfs4.Status
	seq    *SequenceRes
}

type cbReply struct {
	status nfs4.Status
	tag    string
	res    []cbResult
}

// decodeCBReply decodes a CB_COMPOUND4res as the server would.
func decodeCBReply(b []byte) (*cbReply, error) {
	d := xdr.NewDecoder(b)
	r := &cbReply{status: nfs4.Status(d.Uint32()), tag: d.String(1 << 16)}
	n := d.Count(1024, 8)
	for i := 0; i < n && d.Err() == nil; i++ {
		res := cbResult{op: d.Uint32(), status: nfs4.Status(d.Uint32())}
		if res.status == nfs4.OK {
			switch res.op {
			case CBOpSequence:
				res.seq = &SequenceRes{}
				copy(res.seq.SessionID[:], d.Fixed(16))
				res.seq.SequenceID = d.Uint32()
				res.seq.SlotID = d.Uint32()
				res.seq.HighestSlotID = d.Uint32()
				res.seq.TargetHighestSlotID = d.Uint32()
			case CBOpGetattr:
				var a Attrs
				if err := DecodeFattr(d, &a); err != nil {
					return nil, err
				}
			}
		}
		r.res = append(r.res, res)
	}
	if d.Err() == nil && d.Remaining() != 0 {
		return nil, protoErr("%d trailing bytes", d.Remaining())
	}
	return r, d.Err()
}

func newCBTestClient(onRecall func(Recall)) *Client {
	cl := &Client{minor: 1, cbProgram: defaultCBProgram}
	cl.opts.OnRecall = onRecall
	cl.cb.cl = cl
	cl.cb.setSession(tSess, 2)
	return cl
}

func cbCall(t *testing.T, cl *Client, args []byte) (*cbReply, []byte) {
	t.Helper()
	e := &xdr.Encoder{}
	if st := cl.cb.HandleCall(context.Background(), &oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 1, Args: args}, e); st != oncrpc.Success {
		t.Fatalf("accept status %v", st)
	}
	r, err := decodeCBReply(e.Buf)
	if err != nil {
		t.Fatal(err)
	}
	return r, e.Buf
}

func TestCallbackRecall(t *testing.T) {
	recalls := make(chan Recall, 4)
	cl := newCBTestClient(func(r Recall) { recalls <- r })
	args := cbArgs(1, cbSeqOp(tSess, 1, 1), cbRecallOp(tSid, []byte("the-fh")))
	r, raw := cbCall(t, cl, args)
	want := &cbReply{status: nfs4.OK, tag: "cbtag", res: []cbResult{
		{CBOpSequence, nfs4.OK, &SequenceRes{SessionID: tSess, SequenceID: 1, SlotID: 1, HighestSlotID: 1, TargetHighestSlotID: 1}},
		{CBOpRecall, nfs4.OK, nil}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v", r)
	}
	select {
	case rc := <-recalls:
		if rc.Stateid != tSid || !rc.Truncate || string(rc.FH) != "the-fh" {
			t.Fatalf("recall %+v", rc)
		}
	case <-time.After(time.Second):
		t.Fatal("hook not called")
	}
	// A retransmission gets the cached reply and does not recall again.
	_, raw2 := cbCall(t, cl, args)
	if !bytes.Equal(raw, raw2) {
		t.Fatal("replay differs")
	}
	select {
	case <-recalls:
		t.Fatal("hook called for a replay")
	case <-time.After(20 * time.Millisecond):
	}
	// The next sequence ID on the slot is accepted; a skipped one is not.
	if r, _ := cbCall(t, cl, cbArgs(1, cbSeqOp(tSess, 2, 1))); r.status != nfs4.OK {
		t.Fatalf("seq 2: %+v", r)
	}
	if r, _ := cbCall(t, cl, cbArgs(1, cbSeqOp(tSess, 4, 1))); r.status != nfs4.ErrSeqMisordered {
		t.Fatalf("seq 4: %+v", r)
	}
	// Slot 0 is independent.
	if r, _ := cbCall(t, cl, cbArgs(1, cbSeqOp(tSess, 1, 0))); r.status != nfs4.OK {
		t.Fatalf("slot 0: %+v", r)
	}
}

func TestCallbackErrors(t *testing.T) {
	cl := newCBTestClient(func(Recall) {})
	other := tSess
	other[0]++
	getattr := []byte{0, 0, 0, CBOpGetattr, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x18}
	cases := []struct {
		name   string
		args   []byte
		status nfs4.Status
		ops    []uint32
	}{
		{"bad session", cbArgs(1, cbSeqOp(other, 1, 0)), nfs4.ErrBadsession, []uint32{CBOpSequence}},
		{"bad slot", cbArgs(1, cbSeqOp(tSess, 1, 2)), nfs4.ErrBadslot, []uint32{CBOpSequence}},
		{"not in session", cbArgs(1, cbRecallOp(tSid, nil)), nfs4.ErrOpNotInSession, []uint32{CBOpRecall}},
		{"sequence not first", cbArgs(1, cbSeqOp(tSess, 1, 0), cbSeqOp(tSess, 2, 0)), nfs4.ErrSequencePos, []uint32{CBOpSequence, CBOpSequence}},
		{"illegal", cbArgs(1, cbSeqOp(tSess, 2, 0), []byte{0, 0, 0, 99}), nfs4.ErrOpIllegal, []uint32{CBOpSequence, CBOpIllegal}},
		{"getattr", cbArgs(1, cbSeqOp(tSess, 3, 0), getattr), nfs4.OK, []uint32{CBOpSequence, CBOpGetattr}},
		{"layoutrecall", cbArgs(1, cbSeqOp(tSess, 4, 0), []byte{0, 0, 0, CBOpLayoutRecall}), nfs4.ErrNomatchingLayout, []uint32{CBOpSequence, CBOpLayoutRecall}},
		{"minor mismatch", cbArgs(0, cbSeqOp(tSess, 5, 0)), nfs4.ErrMinorVersMismatch, nil},
		{"truncated op", cbArgs(1, cbSeqOp(tSess, 5, 0), []byte{0, 0, 0, CBOpRecall, 0}), nfs4.ErrBadxdr, []uint32{CBOpSequence, CBOpRecall}},
	}
	for _, c := range cases {
		r, _ := cbCall(t, cl, c.args)
		var ops []uint32
		for _, res := range r.res {
			ops = append(ops, res.op)
		}
		if r.status != c.status || !reflect.DeepEqual(ops, c.ops) {
			t.Errorf("%s: status %s ops %v", c.name, StatusName(r.status), ops)
		}
	}
	e := &xdr.Encoder{}
	if st := cl.cb.HandleCall(context.Background(), &oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 0}, e); st != oncrpc.Success || len(e.Buf) != 0 {
		t.Error("CB_NULL")
	}
	for _, c := range []struct {
		call oncrpc.Call
		want oncrpc.AcceptStat
	}{
		{oncrpc.Call{Prog: 1, Vers: 1}, oncrpc.ProgUnavail},
		{oncrpc.Call{Prog: defaultCBProgram, Vers: 2}, oncrpc.ProgMismatch},
		{oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 2}, oncrpc.ProcUnavail},
		{oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 1, Args: []byte{0, 0}}, oncrpc.GarbageArgs},
	} {
		if st := cl.cb.HandleCall(context.Background(), &c.call, &xdr.Encoder{}); st != c.want {
			t.Errorf("%+v: %v", c.call, st)
		}
	}
}
