package nfsclient

import (
	"bytes"
	"errors"
	"nfsgw/gateway/oncrpc"
	"reflect"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// srvRes is one nfs_resop4 as a server encodes it.
type srvRes struct {
	op     uint32
	status nfs4.Status
	body   func(e *xdr.Encoder)
}

// srvReply encodes a COMPOUND4res the way a server would.
func srvReply(status nfs4.Status, tag string, rs ...srvRes) []byte {
	e := &xdr.Encoder{}
	e.Uint32(uint32(status))
	e.String(tag)
	e.Uint32(uint32(len(rs)))
	for _, r := range rs {
		e.Uint32(r.op)
		e.Uint32(uint32(r.status))
		if r.body != nil {
			r.body(e)
		}
	}
	return e.Buf
}

var (
	tSid  = nfs4.Stateid{Seqid: 7, Other: [12]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}}
	tSess = [16]byte{0xa, 0xb, 0xc, 0xd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	tVerf = [8]byte{8, 7, 6, 5, 4, 3, 2, 1}
)

func encCinfo(e *xdr.Encoder, atomic bool, before, after uint64) {
	e.Bool(atomic)
	e.Uint64(before)
	e.Uint64(after)
}

func encAttrsModeSize(e *xdr.Encoder) {
	m := MakeBitmap(nfs4.AttrSize, nfs4.AttrMode)
	m.Encode(e)
	v := &xdr.Encoder{}
	v.Uint64(10)
	v.Uint32(0o600)
	e.Opaque(v.Buf)
}

func encACE(e *xdr.Encoder) {
	e.Uint32(0)
	e.Uint32(0)
	e.Uint32(0x1)
	e.String("EVERYONE@")
}

func encChannel(e *xdr.Encoder, slots uint32, ird bool) {
	for _, v := range []uint32{0, 1 << 20, 1 << 20, 4096, 16, slots} {
		e.Uint32(v)
	}
	if ird {
		e.Uint32(1)
		e.Uint32(4)
	} else {
		e.Uint32(0)
	}
}

type resCase struct {
	name   string
	op     uint32
	status nfs4.Status
	body   func(e *xdr.Encoder)
	want   any
}

func resultCases() []resCase {
	chan1 := ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxResponseSizeCached: 4096, MaxOperations: 16, MaxRequests: 32}
	chan2 := chan1
	chan2.MaxRequests = 2
	chan2.RDMAIrd = []uint32{4}
	return []resCase{
		{"ACCESS", nfs4.OpAccess, 0, func(e *xdr.Encoder) { e.Uint32(0x3f); e.Uint32(0x3) }, &AccessRes{0x3f, 0x3}},
		{"CLOSE", nfs4.OpClose, 0, tSid.Encode, &CloseRes{tSid}},
		{"COMMIT", nfs4.OpCommit, 0, func(e *xdr.Encoder) { e.Fixed(tVerf[:]) }, &CommitRes{tVerf}},
		{"CREATE", nfs4.OpCreate, 0, func(e *xdr.Encoder) {
			encCinfo(e, true, 1, 2)
			m := MakeBitmap(nfs4.AttrMode)
			m.Encode(e)
		}, &CreateRes{ChangeInfo{true, 1, 2}, MakeBitmap(nfs4.AttrMode)}},
		{"DELEGRETURN", nfs4.OpDelegReturn, 0, nil, nil},
		{"DELEGPURGE", nfs4.OpDelegPurge, 0, nil, nil},
		{"GETATTR", nfs4.OpGetattr, 0, encAttrsModeSize, &GetattrRes{Attrs{Mask: MakeBitmap(nfs4.AttrSize, nfs4.AttrMode), Size: 10, Mode: 0o600}}},
		{"GETFH", nfs4.OpGetFH, 0, func(e *xdr.Encoder) { e.Opaque([]byte("fh-1")) }, &GetFHRes{[]byte("fh-1")}},
		{"LINK", nfs4.OpLink, 0, func(e *xdr.Encoder) { encCinfo(e, false, 3, 4) }, &LinkRes{ChangeInfo{false, 3, 4}}},
		{"LOCK", nfs4.OpLock, 0, tSid.Encode, &LockRes{tSid}},
		{"LOCK denied", nfs4.OpLock, nfs4.ErrDenied, func(e *xdr.Encoder) {
			e.Uint64(10)
			e.Uint64(20)
			e.Uint32(nfs4.WriteLT)
			e.Uint64(99)
			e.Opaque([]byte("other"))
		}, &LockDenied{10, 20, nfs4.WriteLT, StateOwner{99, []byte("other")}}},
		{"LOCKT ok", nfs4.OpLockT, 0, nil, nil},
		{"LOCKT denied", nfs4.OpLockT, nfs4.ErrDenied, func(e *xdr.Encoder) {
			e.Uint64(0)
			e.Uint64(^uint64(0))
			e.Uint32(nfs4.ReadLT)
			e.Uint64(1)
			e.Opaque(nil)
		}, &LockDenied{0, ^uint64(0), nfs4.ReadLT, StateOwner{1, []byte{}}}},
		{"LOCKU", nfs4.OpLockU, 0, tSid.Encode, &LockURes{tSid}},
		{"LOOKUP", nfs4.OpLookup, 0, nil, nil},
		{"LOOKUPP", nfs4.OpLookupP, 0, nil, nil},
		{"NVERIFY", nfs4.OpNVerify, 0, nil, nil},
		{"OPEN no deleg", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, true, 5, 6)
			e.Uint32(nfs4.OpenResultConfirm | nfs4.OpenResultLocktypePosix)
			m := MakeBitmap(nfs4.AttrMode)
			m.Encode(e)
			e.Uint32(nfs4.DelegNone)
		}, &OpenRes{tSid, ChangeInfo{true, 5, 6}, 6, MakeBitmap(nfs4.AttrMode), Delegation{}}},
		{"OPEN read deleg", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 1)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegRead)
			tSid.Encode(e)
			e.Bool(true)
			encACE(e)
		}, &OpenRes{tSid, ChangeInfo{false, 0, 1}, 0, nfs4.Bitmap{}, Delegation{Type: nfs4.DelegRead, Stateid: tSid, Recall: true,
			Permissions: ACE{AccessMask: 1, Who: "EVERYONE@"}}}},
		{"OPEN write deleg size", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 1)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegWrite)
			tSid.Encode(e)
			e.Bool(false)
			e.Uint32(1)
			e.Uint64(1 << 30)
			encACE(e)
		}, &OpenRes{tSid, ChangeInfo{false, 0, 1}, 0, nfs4.Bitmap{}, Delegation{Type: nfs4.DelegWrite, Stateid: tSid,
			LimitBy: 1, FileSize: 1 << 30, Permissions: ACE{AccessMask: 1, Who: "EVERYONE@"}}}},
		{"OPEN write deleg blocks", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 1)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegWrite)
			tSid.Encode(e)
			e.Bool(false)
			e.Uint32(2)
			e.Uint32(100)
			e.Uint32(4096)
			encACE(e)
		}, &OpenRes{tSid, ChangeInfo{false, 0, 1}, 0, nfs4.Bitmap{}, Delegation{Type: nfs4.DelegWrite, Stateid: tSid,
			LimitBy: 2, NumBlocks: 100, BytesPerBlock: 4096, Permissions: ACE{AccessMask: 1, Who: "EVERYONE@"}}}},
		{"OPEN none_ext contention", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 1)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegNoneExt)
			e.Uint32(nfs4.WNDTContention)
			e.Bool(true)
		}, &OpenRes{tSid, ChangeInfo{false, 0, 1}, 0, nfs4.Bitmap{}, Delegation{Type: nfs4.DelegNoneExt, WhyNone: nfs4.WNDTContention, WillPushOrSignal: true}}},
		{"OPEN none_ext isdir", nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 1)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegNoneExt)
			e.Uint32(nfs4.WNDTIsDir)
		}, &OpenRes{tSid, ChangeInfo{false, 0, 1}, 0, nfs4.Bitmap{}, Delegation{Type: nfs4.DelegNoneExt, WhyNone: nfs4.WNDTIsDir}}},
		{"OPENATTR", nfs4.OpOpenAttr, 0, nil, nil},
		{"OPEN_CONFIRM", nfs4.OpOpenConfirm, 0, tSid.Encode, &OpenConfirmRes{tSid}},
		{"OPEN_DOWNGRADE", nfs4.OpOpenDowngrade, 0, tSid.Encode, &OpenDowngradeRes{tSid}},
		{"PUTFH", nfs4.OpPutFH, 0, nil, nil},
		{"PUTPUBFH", nfs4.OpPutPubFH, 0, nil, nil},
		{"PUTROOTFH", nfs4.OpPutRootFH, 0, nil, nil},
		{"READ", nfs4.OpRead, 0, func(e *xdr.Encoder) { e.Bool(true); e.Opaque([]byte("hello")) }, &ReadRes{true, []byte("hello")}},
		{"READDIR", nfs4.OpReaddir, 0, func(e *xdr.Encoder) {
			e.Fixed(tVerf[:])
			e.Bool(true)
			e.Uint64(3)
			e.String("a")
			encAttrsModeSize(e)
			e.Bool(true)
			e.Uint64(4)
			e.String("bb")
			e.Uint32(0)
			e.Uint32(0)
			e.Bool(false)
			e.Bool(true)
		}, &ReaddirRes{tVerf, []DirEntry{
			{3, "a", Attrs{Mask: MakeBitmap(nfs4.AttrSize, nfs4.AttrMode), Size: 10, Mode: 0o600}},
			{4, "bb", Attrs{}}}, true}},
		{"READDIR empty", nfs4.OpReaddir, 0, func(e *xdr.Encoder) {
			e.Fixed(tVerf[:])
			e.Bool(false)
			e.Bool(true)
		}, &ReaddirRes{tVerf, nil, true}},
		{"READLINK", nfs4.OpReadlink, 0, func(e *xdr.Encoder) { e.String("../target") }, &ReadlinkRes{"../target"}},
		{"REMOVE", nfs4.OpRemove, 0, func(e *xdr.Encoder) { encCinfo(e, true, 8, 9) }, &RemoveRes{ChangeInfo{true, 8, 9}}},
		{"RENAME", nfs4.OpRename, 0, func(e *xdr.Encoder) { encCinfo(e, true, 1, 2); encCinfo(e, false, 3, 4) },
			&RenameRes{ChangeInfo{true, 1, 2}, ChangeInfo{false, 3, 4}}},
		{"RENEW", nfs4.OpRenew, 0, nil, nil},
		{"RESTOREFH", nfs4.OpRestoreFH, 0, nil, nil},
		{"SAVEFH", nfs4.OpSaveFH, 0, nil, nil},
		{"SECINFO", nfs4.OpSecinfo, 0, func(e *xdr.Encoder) {
			e.Uint32(3)
			e.Uint32(nfs4.RPCSecGSS)
			e.Opaque([]byte{0x2a, 0x86})
			e.Uint32(0)
			e.Uint32(2)
			e.Uint32(nfs4.AuthSys)
			e.Uint32(nfs4.AuthNone)
		}, &SecinfoRes{[]SecFlavor{{nfs4.RPCSecGSS, []byte{0x2a, 0x86}, 0, 2}, {Flavor: nfs4.AuthSys}, {Flavor: nfs4.AuthNone}}}},
		{"SECINFO_NO_NAME", nfs4.OpSecinfoNoName, 0, func(e *xdr.Encoder) { e.Uint32(1); e.Uint32(nfs4.AuthSys) },
			&SecinfoRes{[]SecFlavor{{Flavor: nfs4.AuthSys}}}},
		{"SETATTR ok", nfs4.OpSetattr, 0, func(e *xdr.Encoder) { m := MakeBitmap(nfs4.AttrMode); m.Encode(e) },
			&SetattrRes{MakeBitmap(nfs4.AttrMode)}},
		{"SETATTR failed", nfs4.OpSetattr, nfs4.ErrPerm, func(e *xdr.Encoder) { e.Uint32(0) }, &SetattrRes{nfs4.Bitmap{}}},
		{"SETCLIENTID", nfs4.OpSetClientID, 0, func(e *xdr.Encoder) { e.Uint64(42); e.Fixed(tVerf[:]) },
			&SetClientIDRes{ClientID: 42, Confirm: tVerf}},
		{"SETCLIENTID inuse", nfs4.OpSetClientID, nfs4.ErrClidInuse, func(e *xdr.Encoder) { e.String("tcp"); e.String("10.0.0.1.8.1") },
			&SetClientIDRes{InUseNetid: "tcp", InUseAddr: "10.0.0.1.8.1"}},
		{"SETCLIENTID_CONFIRM", nfs4.OpSetClientIDConfirm, 0, nil, nil},
		{"VERIFY", nfs4.OpVerify, 0, nil, nil},
		{"WRITE", nfs4.OpWrite, 0, func(e *xdr.Encoder) { e.Uint32(512); e.Uint32(nfs4.FileSync); e.Fixed(tVerf[:]) },
			&WriteRes{512, nfs4.FileSync, tVerf}},
		{"RELEASE_LOCKOWNER", nfs4.OpReleaseLockOwner, 0, nil, nil},
		{"BACKCHANNEL_CTL", nfs4.OpBackchannelCtl, 0, nil, nil},
		{"BIND_CONN_TO_SESSION", nfs4.OpBindConnToSession, 0, func(e *xdr.Encoder) { e.Fixed(tSess[:]); e.Uint32(nfs4.CDFS4Both); e.Bool(false) },
			&BindConnRes{tSess, nfs4.CDFS4Both, false}},
		{"EXCHANGE_ID", nfs4.OpExchangeID, 0, func(e *xdr.Encoder) {
			e.Uint64(0x1234)
			e.Uint32(1)
			e.Uint32(nfs4.ExchgidFlagUseNonPNFS | nfs4.ExchgidFlagConfirmedR)
			e.Uint32(nfs4.SP4None)
			e.Uint64(5)
			e.Opaque([]byte("major"))
			e.Opaque([]byte("scope"))
			e.Uint32(1)
			e.String("dom")
			e.String("srv")
			e.Int64(1)
			e.Uint32(2)
		}, &ExchangeIDRes{ClientID: 0x1234, SequenceID: 1, Flags: nfs4.ExchgidFlagUseNonPNFS | nfs4.ExchgidFlagConfirmedR,
			ServerMinorID: 5, ServerMajorID: []byte("major"), ServerScope: []byte("scope"),
			ServerImplID: &ImplID{"dom", "srv", nfs4.Time{Sec: 1, Nsec: 2}}}},
		{"EXCHANGE_ID mach_cred", nfs4.OpExchangeID, 0, func(e *xdr.Encoder) {
			e.Uint64(1)
			e.Uint32(2)
			e.Uint32(0)
			e.Uint32(nfs4.SP4MachCred)
			m := MakeBitmap(nfs4.OpDestroySession)
			m.Encode(e)
			e.Uint32(0)
			e.Uint64(0)
			e.Opaque(nil)
			e.Opaque(nil)
			e.Uint32(0)
		}, &ExchangeIDRes{ClientID: 1, SequenceID: 2, StateProtect: nfs4.SP4MachCred,
			SPOps: StateProtectOps{MustEnforce: MakeBitmap(nfs4.OpDestroySession)}, ServerMajorID: []byte{}, ServerScope: []byte{}}},
		{"CREATE_SESSION", nfs4.OpCreateSession, 0, func(e *xdr.Encoder) {
			e.Fixed(tSess[:])
			e.Uint32(1)
			e.Uint32(nfs4.CreateSessionFlagConnBackChan)
			encChannel(e, 32, false)
			encChannel(e, 2, true)
		}, &CreateSessionRes{tSess, 1, nfs4.CreateSessionFlagConnBackChan, chan1, chan2}},
		{"DESTROY_SESSION", nfs4.OpDestroySession, 0, nil, nil},
		{"SEQUENCE", nfs4.OpSequence, 0, func(e *xdr.Encoder) {
			e.Fixed(tSess[:])
			for _, v := range []uint32{9, 3, 63, 31, nfs4.SeqStatusCBPathDown} {
				e.Uint32(v)
			}
		}, &SequenceRes{tSess, 9, 3, 63, 31, nfs4.SeqStatusCBPathDown}},
		{"TEST_STATEID", nfs4.OpTestStateID, 0, func(e *xdr.Encoder) { e.Uint32(2); e.Uint32(0); e.Uint32(uint32(nfs4.ErrBadStateid)) },
			&TestStateIDRes{[]nfs4.Status{0, nfs4.ErrBadStateid}}},
		{"FREE_STATEID", nfs4.OpFreeStateID, 0, nil, nil},
		{"DESTROY_CLIENTID", nfs4.OpDestroyClientID, 0, nil, nil},
		{"RECLAIM_COMPLETE", nfs4.OpReclaimComplete, 0, nil, nil},
		{"ILLEGAL", nfs4.OpIllegal, nfs4.ErrOpIllegal, nil, nil},
		{"failed READ", nfs4.OpRead, nfs4.ErrOpenmode, nil, nil},
		{"failed OPEN", nfs4.OpOpen, nfs4.ErrShareDenied, nil, nil},
	}
}

func TestResultRoundTrip(t *testing.T) {
	for _, c := range resultCases() {
		t.Run(c.name, func(t *testing.T) {
			// The operation alone, then followed by another result (when it
			// succeeded), to check that exactly its bytes were consumed.
			b := srvReply(c.status, "tag", srvRes{c.op, c.status, c.body})
			r, err := DecodeCompoundReply(b)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != c.status || r.Tag != "tag" || r.NumResults != 1 || len(r.Ops) != 1 {
				t.Fatalf("reply %+v", r)
			}
			o := r.Ops[0]
			if o.Op != c.op || o.Status != c.status {
				t.Fatalf("op %d status %d", o.Op, o.Status)
			}
			if c.want == nil {
				if o.Res != nil {
					t.Fatalf("res %#v, want nil", o.Res)
				}
			} else if !reflect.DeepEqual(o.Res, c.want) {
				t.Fatalf("res\n got %#v\nwant %#v", o.Res, c.want)
			}
			if c.status == nfs4.OK {
				b = srvReply(nfs4.OK, "", srvRes{c.op, 0, c.body}, srvRes{nfs4.OpGetFH, 0, func(e *xdr.Encoder) { e.Opaque([]byte{9}) }})
				r, err := DecodeCompoundReply(b)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Ops) != 2 || !bytes.Equal(r.Ops[1].Res.(*GetFHRes).FH, []byte{9}) {
					t.Fatalf("second result: %+v", r.Ops)
				}
			}
			// Every truncation fails cleanly.
			full := srvReply(c.status, "tag", srvRes{c.op, c.status, c.body})
			for i := 0; i < len(full); i++ {
				if _, err := DecodeCompoundReply(full[:i]); err == nil {
					t.Fatalf("truncated at %d of %d: no error", i, len(full))
				}
			}
		})
	}
}

func TestReplyProtocolChecks(t *testing.T) {
	ok := func(op uint32) srvRes { return srvRes{op, 0, nil} }
	cases := []struct {
		name string
		b    []byte
	}{
		{"status differs from last result", srvReply(nfs4.ErrNoent, "", ok(nfs4.OpPutRootFH))},
		{"result after failure", srvReply(nfs4.ErrNoent, "", srvRes{nfs4.OpLookup, nfs4.ErrNoent, nil}, ok(nfs4.OpGetFH))},
		{"trailing bytes", append(srvReply(0, "", ok(nfs4.OpPutRootFH)), 0, 0, 0, 0)},
		{"count beyond data", func() []byte { b := srvReply(0, "", ok(nfs4.OpPutRootFH)); b[11] = 2; return b }()},
		{"bad bool", srvReply(0, "", srvRes{nfs4.OpRead, 0, func(e *xdr.Encoder) { e.Uint32(7); e.Opaque(nil) }})},
		{"long fh", srvReply(0, "", srvRes{nfs4.OpGetFH, 0, func(e *xdr.Encoder) { e.Opaque(make([]byte, 129)) }})},
		{"bad delegation type", srvReply(0, "", srvRes{nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 0)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(9)
		}})},
		{"bad limitby", srvReply(0, "", srvRes{nfs4.OpOpen, 0, func(e *xdr.Encoder) {
			tSid.Encode(e)
			encCinfo(e, false, 0, 0)
			e.Uint32(0)
			e.Uint32(0)
			e.Uint32(nfs4.DelegWrite)
			tSid.Encode(e)
			e.Bool(false)
			e.Uint32(3)
			encACE(e)
		}})},
		{"empty", nil},
	}
	for _, c := range cases {
		if _, err := DecodeCompoundReply(c.b); err == nil {
			t.Errorf("%s: no error", c.name)
		} else {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("%s: %T %v is not a *DecodeError", c.name, err, err)
			}
		}
	}
	// A result after a failed op still yields the decoded part.
	r, err := DecodeCompoundReply(srvReply(nfs4.ErrNoent, "", srvRes{nfs4.OpLookup, nfs4.ErrNoent, nil}, ok(nfs4.OpGetFH)))
	if !errors.Is(err, ErrProtocol) || r == nil || len(r.Ops) != 1 {
		t.Errorf("partial: %v %+v", err, r)
	}
	if se := r.Err(); StatusOf(se) != nfs4.ErrNoent || !errors.Is(se, &StatusError{Op: nfs4.OpLookup, Status: nfs4.ErrNoent}) {
		t.Errorf("Err: %v", se)
	}
	// An unknown operation's result is kept raw and ends decoding.
	r, err = DecodeCompoundReply(srvReply(0, "", ok(nfs4.OpPutRootFH), srvRes{nfs4.OpSeek, 0, func(e *xdr.Encoder) { e.Bool(false); e.Uint64(5) }}))
	if err != nil || len(r.Ops) != 2 || len(r.Ops[1].Res.(*RawRes).Data) != 12 {
		t.Errorf("raw: %v %+v", err, r)
	}
	// Zero results, status only (MINOR_VERS_MISMATCH).
	r, err = DecodeCompoundReply(srvReply(nfs4.ErrMinorVersMismatch, "x"))
	if err != nil || r.NumResults != 0 || StatusOf(r.Err()) != nfs4.ErrMinorVersMismatch {
		t.Errorf("minor mismatch: %v %+v", err, r)
	}
}

func TestStatusErrors(t *testing.T) {
	err := error(&StatusError{Op: nfs4.OpOpen, Status: nfs4.ErrShareDenied})
	if StatusOf(err) != nfs4.ErrShareDenied || StatusOf(nil) != nfs4.OK || StatusOf(errors.New("x")) != NoStatus {
		t.Error("StatusOf")
	}
	if !errors.Is(err, ErrStatus(nfs4.ErrShareDenied)) || errors.Is(err, ErrStatus(nfs4.ErrNoent)) ||
		errors.Is(err, &StatusError{Op: nfs4.OpClose, Status: nfs4.ErrShareDenied}) {
		t.Error("Is")
	}
	if got := err.Error(); got != "nfs4: OPEN: NFS4ERR_SHARE_DENIED" {
		t.Error(got)
	}
	if OpName(9999) != "OP_9999" || StatusName(1) != "NFS4ERR_PERM" {
		t.Error("names")
	}
}

// argsOf returns the bytes of the single operation in c, after the opcode.
func argsOf(t *testing.T, c *Compound, op uint32) []byte {
	t.Helper()
	d := xdr.NewDecoder(c.Bytes())
	d.Opaque(1 << 20)
	d.Uint32()
	if n := d.Uint32(); n != 1 {
		t.Fatalf("count %d", n)
	}
	if got := d.Uint32(); got != op {
		t.Fatalf("opcode %d, want %d", got, op)
	}
	return d.Rest()
}

func TestArgsEncoding(t *testing.T) {
	attrs := new(SetAttrs).SetMode(0o640)
	encAttrs := func(e *xdr.Encoder) { attrs.Encode(e) }
	owner := StateOwner{ClientID: 77, Owner: []byte("oo")}
	cases := []struct {
		name  string
		op    uint32
		build func(c *Compound)
		want  func(e *xdr.Encoder)
	}{
		{"PUTFH", nfs4.OpPutFH, func(c *Compound) { c.PutFH([]byte{1, 2, 3}) }, func(e *xdr.Encoder) { e.Opaque([]byte{1, 2, 3}) }},
		{"LOOKUP", nfs4.OpLookup, func(c *Compound) { c.Lookup("name") }, func(e *xdr.Encoder) { e.String("name") }},
		{"GETATTR", nfs4.OpGetattr, func(c *Compound) { c.Getattr(MakeBitmap(1, 33)) }, func(e *xdr.Encoder) {
			e.Uint32(2)
			e.Uint32(2)
			e.Uint32(2)
		}},
		{"CREATE dir", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4DIR, Name: "d", Attrs: attrs}) },
			func(e *xdr.Encoder) { e.Uint32(nfs4.NF4DIR); e.String("d"); encAttrs(e) }},
		{"CREATE symlink", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4LNK, Name: "l", LinkData: "tgt", Attrs: attrs}) },
			func(e *xdr.Encoder) { e.Uint32(nfs4.NF4LNK); e.String("tgt"); e.String("l"); encAttrs(e) }},
		{"CREATE chr", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4CHR, Name: "c", Spec: [2]uint32{1, 3}}) },
			func(e *xdr.Encoder) {
				e.Uint32(nfs4.NF4CHR)
				e.Uint32(1)
				e.Uint32(3)
				e.String("c")
				e.Uint32(0)
				e.Uint32(0)
			}},
		{"CREATE blk", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4BLK, Name: "b", Spec: [2]uint32{8, 0}}) },
			func(e *xdr.Encoder) {
				e.Uint32(nfs4.NF4BLK)
				e.Uint32(8)
				e.Uint32(0)
				e.String("b")
				e.Uint32(0)
				e.Uint32(0)
			}},
		{"CREATE fifo", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4FIFO, Name: "f"}) },
			func(e *xdr.Encoder) { e.Uint32(nfs4.NF4FIFO); e.String("f"); e.Uint32(0); e.Uint32(0) }},
		{"CREATE sock", nfs4.OpCreate, func(c *Compound) { c.Create(CreateArgs{Type: nfs4.NF4SOCK, Name: "s"}) },
			func(e *xdr.Encoder) { e.Uint32(nfs4.NF4SOCK); e.String("s"); e.Uint32(0); e.Uint32(0) }},
		{"OPEN nocreate CLAIM_NULL", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{Seqid: 3, ShareAccess: 1, ShareDeny: 2, Owner: owner, Claim: nfs4.ClaimNull, Name: "f"})
		}, func(e *xdr.Encoder) {
			e.Uint32(3)
			e.Uint32(1)
			e.Uint32(2)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenNoCreate)
			e.Uint32(nfs4.ClaimNull)
			e.String("f")
		}},
		{"OPEN UNCHECKED", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 3, Owner: owner, Create: true, CreateMode: nfs4.CreateUnchecked, Attrs: attrs, Name: "f"})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(3)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenCreate)
			e.Uint32(nfs4.CreateUnchecked)
			encAttrs(e)
			e.Uint32(nfs4.ClaimNull)
			e.String("f")
		}},
		{"OPEN GUARDED", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 3, Owner: owner, Create: true, CreateMode: nfs4.CreateGuarded, Attrs: attrs, Name: "f"})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(3)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenCreate)
			e.Uint32(nfs4.CreateGuarded)
			encAttrs(e)
			e.Uint32(nfs4.ClaimNull)
			e.String("f")
		}},
		{"OPEN EXCLUSIVE4", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 3, Owner: owner, Create: true, CreateMode: nfs4.CreateExclusive, Verifier: tVerf, Attrs: attrs, Name: "f"})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(3)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenCreate)
			e.Uint32(nfs4.CreateExclusive)
			e.Fixed(tVerf[:])
			e.Uint32(nfs4.ClaimNull)
			e.String("f")
		}},
		{"OPEN EXCLUSIVE4_1 CLAIM_FH", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 3, Owner: owner, Create: true, CreateMode: nfs4.CreateExclusive41, Verifier: tVerf, Attrs: attrs, Claim: nfs4.ClaimFH})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(3)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenCreate)
			e.Uint32(nfs4.CreateExclusive41)
			e.Fixed(tVerf[:])
			encAttrs(e)
			e.Uint32(nfs4.ClaimFH)
		}},
		{"OPEN CLAIM_PREVIOUS", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 1, Owner: owner, Claim: nfs4.ClaimPrevious, DelegType: nfs4.DelegRead})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(1)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenNoCreate)
			e.Uint32(nfs4.ClaimPrevious)
			e.Uint32(nfs4.DelegRead)
		}},
		{"OPEN CLAIM_DELEGATE_CUR", nfs4.OpOpen, func(c *Compound) {
			c.Open(OpenArgs{ShareAccess: 1, Owner: owner, Claim: nfs4.ClaimDelegateCur, DelegStateid: tSid, Name: "f"})
		}, func(e *xdr.Encoder) {
			e.Uint32(0)
			e.Uint32(1)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
			e.Uint32(nfs4.OpenNoCreate)
			e.Uint32(nfs4.ClaimDelegateCur)
			tSid.Encode(e)
			e.String("f")
		}},
		{"LOCK new owner", nfs4.OpLock, func(c *Compound) {
			c.Lock(LockArgs{LockType: nfs4.WriteLT, Offset: 5, Length: 6, NewLockOwner: true, OpenSeqid: 2, OpenStateid: tSid, LockSeqid: 0, LockOwner: owner})
		}, func(e *xdr.Encoder) {
			e.Uint32(nfs4.WriteLT)
			e.Bool(false)
			e.Uint64(5)
			e.Uint64(6)
			e.Bool(true)
			e.Uint32(2)
			tSid.Encode(e)
			e.Uint32(0)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
		}},
		{"LOCK existing owner", nfs4.OpLock, func(c *Compound) {
			c.Lock(LockArgs{LockType: nfs4.ReadLT, Reclaim: true, Offset: 1, Length: 2, LockStateid: tSid, LockSeqid: 4})
		}, func(e *xdr.Encoder) {
			e.Uint32(nfs4.ReadLT)
			e.Bool(true)
			e.Uint64(1)
			e.Uint64(2)
			e.Bool(false)
			tSid.Encode(e)
			e.Uint32(4)
		}},
		{"LOCKT", nfs4.OpLockT, func(c *Compound) { c.LockT(nfs4.ReadLT, 1, 2, owner) }, func(e *xdr.Encoder) {
			e.Uint32(nfs4.ReadLT)
			e.Uint64(1)
			e.Uint64(2)
			e.Uint64(77)
			e.Opaque([]byte("oo"))
		}},
		{"LOCKU", nfs4.OpLockU, func(c *Compound) { c.LockU(nfs4.WriteLT, 3, tSid, 1, 2) }, func(e *xdr.Encoder) {
			e.Uint32(nfs4.WriteLT)
			e.Uint32(3)
			tSid.Encode(e)
			e.Uint64(1)
			e.Uint64(2)
		}},
		{"WRITE", nfs4.OpWrite, func(c *Compound) { c.Write(tSid, 9, nfs4.DataSync, []byte("abcde")) }, func(e *xdr.Encoder) {
			tSid.Encode(e)
			e.Uint64(9)
			e.Uint32(nfs4.DataSync)
			e.Opaque([]byte("abcde"))
		}},
		{"SETATTR", nfs4.OpSetattr, func(c *Compound) { c.Setattr(tSid, attrs) }, func(e *xdr.Encoder) { tSid.Encode(e); encAttrs(e) }},
		{"SEQUENCE", nfs4.OpSequence, func(c *Compound) {
			c.Sequence(SequenceArgs{SessionID: tSess, SequenceID: 5, SlotID: 2, HighestSlotID: 7, CacheThis: true})
		}, func(e *xdr.Encoder) { e.Fixed(tSess[:]); e.Uint32(5); e.Uint32(2); e.Uint32(7); e.Bool(true) }},
		{"EXCHANGE_ID", nfs4.OpExchangeID, func(c *Compound) {
			c.ExchangeID(ExchangeIDArgs{Verifier: tVerf, OwnerID: []byte("me"), Flags: 1, StateProtect: nfs4.SP4MachCred,
				Ops: StateProtectOps{MustEnforce: MakeBitmap(44)}, ImplID: &ImplID{"d", "n", nfs4.Time{Sec: 1}}})
		}, func(e *xdr.Encoder) {
			e.Fixed(tVerf[:])
			e.Opaque([]byte("me"))
			e.Uint32(1)
			e.Uint32(nfs4.SP4MachCred)
			e.Uint32(2)
			e.Uint32(0)
			e.Uint32(1 << 12)
			e.Uint32(0)
			e.Uint32(1)
			e.String("d")
			e.String("n")
			e.Int64(1)
			e.Uint32(0)
		}},
		{"CREATE_SESSION", nfs4.OpCreateSession, func(c *Compound) {
			c.CreateSession(CreateSessionArgs{ClientID: 9, Sequence: 1, Flags: 2,
				Fore:      ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxResponseSizeCached: 4096, MaxOperations: 16, MaxRequests: 32},
				Back:      ChannelAttrs{MaxRequestSize: 1 << 20, MaxResponseSize: 1 << 20, MaxResponseSizeCached: 4096, MaxOperations: 16, MaxRequests: 2, RDMAIrd: []uint32{4}},
				CBProgram: 0x40000000, SecParms: []CBSecParms{{Flavor: nfs4.AuthNone}, {Flavor: nfs4.AuthSys, Sys: ocSys()}}})
		}, func(e *xdr.Encoder) {
			e.Uint64(9)
			e.Uint32(1)
			e.Uint32(2)
			encChannel(e, 32, false)
			encChannel(e, 2, true)
			e.Uint32(0x40000000)
			e.Uint32(2)
			e.Uint32(nfs4.AuthNone)
			e.Uint32(nfs4.AuthSys)
			e.Uint32(5)    // stamp
			e.String("m")  // machine name
			e.Uint32(1000) // uid
			e.Uint32(100)  // gid
			e.Uint32(1)
			e.Uint32(10)
		}},
		{"SETCLIENTID", nfs4.OpSetClientID, func(c *Compound) {
			c.SetClientID(SetClientIDArgs{Verifier: tVerf, ID: []byte("id"), CBProgram: 7, CBNetid: "tcp", CBAddr: "127.0.0.1.0.0", CallbackIdent: 3})
		}, func(e *xdr.Encoder) {
			e.Fixed(tVerf[:])
			e.Opaque([]byte("id"))
			e.Uint32(7)
			e.String("tcp")
			e.String("127.0.0.1.0.0")
			e.Uint32(3)
		}},
		{"TEST_STATEID", nfs4.OpTestStateID, func(c *Compound) { c.TestStateID(tSid, nfs4.AnonStateid) }, func(e *xdr.Encoder) {
			e.Uint32(2)
			tSid.Encode(e)
			nfs4.AnonStateid.Encode(e)
		}},
		{"READDIR", nfs4.OpReaddir, func(c *Compound) {
			c.Readdir(ReaddirArgs{Cookie: 5, Cookieverf: tVerf, Dircount: 100, Maxcount: 200, Attrs: MakeBitmap(1)})
		}, func(e *xdr.Encoder) {
			e.Uint64(5)
			e.Fixed(tVerf[:])
			e.Uint32(100)
			e.Uint32(200)
			e.Uint32(1)
			e.Uint32(2)
		}},
		{"BIND_CONN_TO_SESSION", nfs4.OpBindConnToSession, func(c *Compound) { c.BindConnToSession(tSess, nfs4.CDFC4BackOrBoth, false) },
			func(e *xdr.Encoder) { e.Fixed(tSess[:]); e.Uint32(nfs4.CDFC4BackOrBoth); e.Bool(false) }},
		{"RECLAIM_COMPLETE", nfs4.OpReclaimComplete, func(c *Compound) { c.ReclaimComplete(true) }, func(e *xdr.Encoder) { e.Bool(true) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cp := NewCompound(1, "t")
			c.build(cp)
			want := &xdr.Encoder{}
			c.want(want)
			if got := argsOf(t, cp, c.op); !bytes.Equal(got, want.Buf) {
				t.Fatalf("\n got %x\nwant %x", got, want.Buf)
			}
		})
	}
}

func TestCompoundBuilder(t *testing.T) {
	c := &Compound{}
	c.init(1, "tg", true)
	c.PutRootFH().Lookup("a").GetFH().SetCacheThis(true)
	c.fillSequence(&tSess, 5, 2, 3)
	want := &xdr.Encoder{}
	want.String("tg")
	want.Uint32(1)
	want.Uint32(4)
	want.Uint32(nfs4.OpSequence)
	want.Fixed(tSess[:])
	want.Uint32(5)
	want.Uint32(2)
	want.Uint32(3)
	want.Bool(true)
	want.Uint32(nfs4.OpPutRootFH)
	want.Uint32(nfs4.OpLookup)
	want.String("a")
	want.Uint32(nfs4.OpGetFH)
	if !bytes.Equal(c.Bytes(), want.Buf) {
		t.Fatalf("\n got %x\nwant %x", c.Bytes(), want.Buf)
	}
	if !reflect.DeepEqual(c.Ops(), []uint32{nfs4.OpPutRootFH, nfs4.OpLookup, nfs4.OpGetFH}) {
		t.Fatal(c.Ops())
	}
	c.NoSequence().SetMinorVersion(7).SetOpCount(99)
	want = &xdr.Encoder{}
	want.String("tg")
	want.Uint32(7)
	want.Uint32(99)
	want.Uint32(nfs4.OpPutRootFH)
	want.Uint32(nfs4.OpLookup)
	want.String("a")
	want.Uint32(nfs4.OpGetFH)
	if !bytes.Equal(c.Bytes(), want.Buf) {
		t.Fatalf("\n got %x\nwant %x", c.Bytes(), want.Buf)
	}
	c.Reset()
	c.Raw(12345, []byte{1, 2})
	want = &xdr.Encoder{}
	want.String("tg")
	want.Uint32(7)
	want.Uint32(1)
	want.Uint32(12345)
	want.Buf = append(want.Buf, 1, 2)
	if !bytes.Equal(c.Bytes(), want.Buf) {
		t.Fatalf("\n got %x\nwant %x", c.Bytes(), want.Buf)
	}
}

func ocSys() oncrpc.AuthSys {
	return oncrpc.AuthSys{Stamp: 5, MachineName: "m", UID: 1000, GID: 100, GIDs: []uint32{10}}
}
