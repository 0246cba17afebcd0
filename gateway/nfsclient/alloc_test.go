package nfsclient

import (
	"context"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// cannedTransport answers every COMPOUND with one fixed reply whose
// SEQUENCE result it patches to match the request, without allocating.
type cannedTransport struct {
	reply []byte
}

func (c *cannedTransport) SetCallbackHandler(oncrpc.Handler) {}
func (c *cannedTransport) Close() error                      { return nil }
func (c *cannedTransport) Call(_ context.Context, _, _, _ uint32, _ oncrpc.Cred, args []byte) ([]byte, error) {
	// args: tag "" (4), minorversion (4), count (4), OP_SEQUENCE (4),
	// sessionid (16), sequenceid, slotid; reply: status (4), tag "" (4),
	// count (4), OP_SEQUENCE (4), status (4), sessionid (16), sequenceid, slotid.
	copy(c.reply[20:44], args[16:40])
	return c.reply, nil
}

func cannedClient(t testing.TB, rest ...srvRes) *Client {
	seq := srvRes{nfs4.OpSequence, 0, func(e *xdr.Encoder) {
		e.Fixed(tSess[:])
		for _, v := range []uint32{0, 0, 3, 3, 0} {
			e.Uint32(v)
		}
	}}
	cl := &Client{rpc: &cannedTransport{reply: srvReply(0, "", append([]srvRes{seq}, rest...)...)},
		minor: 1, maxRead: 1 << 20, maxWrite: 1 << 20, opts: Options{RetryTimeout: -1}}
	cl.compounds.New = func() any { return &Compound{} }
	cl.sess = &session{id: tSess, slots: newSlotTable(4)}
	return cl
}

func TestHotPathAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	ctx := context.Background()
	data := make([]byte, 4096)
	putfh := srvRes{nfs4.OpPutFH, 0, nil}

	cl := cannedClient(t, putfh, srvRes{nfs4.OpRead, 0, func(e *xdr.Encoder) { e.Bool(false); e.Opaque(data) }})
	f := &OpenFile{cl: cl, FH: []byte("fh"), stateid: tSid}
	buf := make([]byte, 4096)
	if n := testing.AllocsPerRun(100, func() {
		if n, _, err := f.Read(ctx, buf, 0); err != nil || n != 4096 {
			t.Fatal(n, err)
		}
	}); n != 0 {
		t.Errorf("Read: %v allocations", n)
	}

	cl = cannedClient(t, putfh, srvRes{nfs4.OpWrite, 0, func(e *xdr.Encoder) { e.Uint32(4096); e.Uint32(0); e.Fixed(tVerf[:]) }})
	f = &OpenFile{cl: cl, FH: []byte("fh"), stateid: tSid}
	if n := testing.AllocsPerRun(100, func() {
		if r, err := f.Write(ctx, data, 0, nfs4.Unstable); err != nil || r.Count != 4096 {
			t.Fatal(r, err)
		}
	}); n != 0 {
		t.Errorf("Write: %v allocations", n)
	}

	mask := MakeBitmap(nfs4.AttrType, nfs4.AttrSize, nfs4.AttrChange, nfs4.AttrMode, nfs4.AttrFileid, nfs4.AttrTimeModify)
	cl = cannedClient(t, putfh, srvRes{nfs4.OpGetattr, 0, func(e *xdr.Encoder) {
		mask.Encode(e)
		v := &xdr.Encoder{}
		v.Uint32(1)
		v.Uint64(2)
		v.Uint64(3)
		v.Uint32(0o644)
		v.Uint64(5)
		v.Int64(6)
		v.Uint32(7)
		e.Opaque(v.Buf)
	}})
	fh := []byte("fh")
	if n := testing.AllocsPerRun(100, func() {
		if a, err := cl.GetattrMask(ctx, fh, mask); err != nil || a.Size != 3 || a.Mtime.Nsec != 7 {
			t.Fatal(a, err)
		}
	}); n != 0 {
		t.Errorf("GetattrMask: %v allocations", n)
	}
	// The slot table advanced once per call.
	if s := cl.sess.slots.slots[0].seq; s != 101 {
		t.Errorf("slot 0 at %d", s)
	}
}
