package nfsclient

import (
	"context"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

func fuzzSeeds(f *testing.F) {
	for _, c := range resultCases() {
		f.Add(srvReply(c.status, "tag", srvRes{c.op, c.status, c.body}))
	}
	all := encodeAllAttrs(f)
	f.Add(srvReply(0, "", srvRes{nfs4.OpPutFH, 0, nil}, srvRes{nfs4.OpGetattr, 0, func(e *xdr.Encoder) { e.Buf = append(e.Buf, all...) }}))
	f.Add(srvReply(0, "", srvRes{nfs4.OpSequence, 0, func(e *xdr.Encoder) {
		e.Fixed(tSess[:])
		for _, v := range []uint32{1, 0, 63, 63, 0} {
			e.Uint32(v)
		}
	}}, srvRes{nfs4.OpPutFH, 0, nil}, srvRes{nfs4.OpRead, 0, func(e *xdr.Encoder) { e.Bool(false); e.Opaque([]byte("data")) }}))
	f.Add(srvReply(nfs4.ErrMinorVersMismatch, ""))
	f.Add([]byte{})
}

// FuzzDecodeCompoundReply feeds arbitrary bytes to the reply decoders: the
// generic one and the allocation-free GETATTR/READ paths. They must return
// errors, never panic, and never report success for an inconsistent reply.
func FuzzDecodeCompoundReply(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeCompoundReply(b)
		if err == nil {
			if r.NumResults != len(r.Ops) {
				if _, raw := lastRes(r).(*RawRes); !raw {
					t.Fatalf("%d results announced, %d decoded", r.NumResults, len(r.Ops))
				}
			}
			if len(r.Ops) > 0 && r.Ops[len(r.Ops)-1].Status != r.Status {
				if _, raw := lastRes(r).(*RawRes); !raw {
					t.Fatal("status mismatch accepted")
				}
			}
			_ = r.Err()
		}
		var rr replyReader
		if rr.init(b) == nil && rr.expect(nfs4.OpPutFH) == nil && rr.expect(nfs4.OpGetattr) == nil {
			var a Attrs
			if DecodeFattr(&rr.d, &a) == nil {
				_ = rr.finish()
			}
		}
		if rr.init(b) == nil && rr.expect(nfs4.OpSequence) == nil {
			var s SequenceRes
			decodeSequenceRes(&rr.d, &s)
			if rr.fail(nfs4.OpSequence) == nil && rr.expect(nfs4.OpPutFH) == nil && rr.expect(nfs4.OpRead) == nil {
				rr.d.Bool()
				rr.d.Opaque(4096)
				_ = rr.finish()
			}
		}
	})
}

// FuzzCallback feeds arbitrary CB_COMPOUND arguments to the back-channel
// server.
func FuzzCallback(f *testing.F) {
	f.Add(cbArgs(1, cbSeqOp(tSess, 1, 0), cbRecallOp(tSid, []byte("fh"))))
	f.Add(cbArgs(1, cbSeqOp(tSess, 1, 0), []byte{0, 0, 0, CBOpGetattr, 0, 0, 0, 1, 9, 0, 0, 0, 0, 0, 0, 0}))
	f.Add(cbArgs(0, []byte{0, 0, 0, 99}))
	f.Fuzz(func(t *testing.T, b []byte) {
		cl := &Client{minor: 1, cbProgram: defaultCBProgram, opts: Options{OnRecall: func(Recall) {}}}
		cl.cb.cl = cl
		cl.cb.setSession(tSess, 2)
		e := &xdr.Encoder{}
		if cl.cb.HandleCall(context.Background(), &oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 1, Args: b}, e) == oncrpc.Success {
			r, err := decodeCBReply(e.Buf)
			if err != nil {
				t.Fatalf("undecodable CB_COMPOUND reply: %v", err)
			}
			_ = r
		}
	})
}
