package oncrpc

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"nfsgw/gateway/xdr"
)

func TestDecodeCallHeader(t *testing.T) {
	sys := AuthSys{Stamp: 7, MachineName: "client1", UID: 1000, GID: 100, GIDs: []uint32{4, 24, 27}}
	okCall := goodCall(9, procEcho, []byte{1, 2, 3, 4})
	okCall.cred = CredSys(sys)

	var call Call
	v, _ := decodeCallHeader(okCall.bytes(), "", &call)
	if v != verdictOK {
		t.Fatalf("verdict %v", v)
	}
	want := Call{XID: 9, Prog: testProg, Vers: testVers, Proc: procEcho, Flavor: FlavorSys, Sys: sys, Args: []byte{1, 2, 3, 4}}
	if !reflect.DeepEqual(call, want) {
		t.Fatalf("decoded %+v\nwant %+v", call, want)
	}
	// The previous machine name is reused rather than allocated again.
	msg := okCall.bytes()
	if allocs := testing.AllocsPerRun(50, func() { decodeCallHeader(msg, "client1", &call) }); allocs > 1 {
		t.Fatalf("%v allocations per header", allocs) // only the group list
	}

	with := func(f func(*callMsg)) []byte {
		m := goodCall(9, procNull, nil)
		f(&m)
		return m.bytes()
	}
	longName := AuthSys{MachineName: strings.Repeat("n", MaxMachineNameLen+1)}
	manyGroups := AuthSys{GIDs: make([]uint32, MaxAuthSysGroups+1)}
	trailing := CredSys(sys)
	trailing.Body = append(trailing.Body, 0, 0, 0, 0)

	for _, tc := range []struct {
		name     string
		msg      []byte
		verdict  verdict
		authStat uint32
	}{
		{"empty", nil, verdictDrop, 0},
		{"xid only", []byte{0, 0, 0, 9}, verdictGarbage, 0},
		{"reply type", []byte{0, 0, 0, 9, 0, 0, 0, 1}, verdictDrop, 0},
		{"bad type", []byte{0, 0, 0, 9, 0, 0, 0, 7}, verdictDrop, 0},
		{"no rpcvers", []byte{0, 0, 0, 9, 0, 0, 0, 0}, verdictGarbage, 0},
		{"rpcvers 3", with(func(m *callMsg) { m.rpcvers = 3 }), verdictRPCMismatch, 0},
		{"rpcvers 3 truncated", []byte{0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 3}, verdictRPCMismatch, 0},
		{"truncated cred", with(func(m *callMsg) { m.cred = Cred{Flavor: FlavorSys, Body: make([]byte, 40)} })[:40], verdictGarbage, 0},
		{"cred too long", with(func(m *callMsg) { m.cred = Cred{Flavor: FlavorSys, Body: make([]byte, MaxAuthBytes+4)} }), verdictAuth, AuthBadCred},
		{"verf too long", with(func(m *callMsg) { m.verf = Cred{Body: make([]byte, MaxAuthBytes+4)} }), verdictAuth, AuthBadVerf},
		{"gss cred", with(func(m *callMsg) { m.cred = Cred{Flavor: 6, Body: make([]byte, 20)} }), verdictAuth, AuthBadCred},
		{"sys verifier", with(func(m *callMsg) { m.verf = CredSys(sys) }), verdictAuth, AuthBadVerf},
		{"sys name too long", with(func(m *callMsg) { m.cred = CredSys(longName) }), verdictAuth, AuthBadCred},
		{"sys 17 groups", with(func(m *callMsg) { m.cred = CredSys(manyGroups) }), verdictAuth, AuthBadCred},
		{"sys trailing bytes", with(func(m *callMsg) { m.cred = trailing }), verdictAuth, AuthBadCred},
		{"sys truncated body", with(func(m *callMsg) { m.cred = Cred{Flavor: FlavorSys, Body: CredSys(sys).Body[:12]} }), verdictAuth, AuthBadCred},
		{"sys empty body", with(func(m *callMsg) { m.cred = Cred{Flavor: FlavorSys} }), verdictAuth, AuthBadCred},
	} {
		var call Call
		v, as := decodeCallHeader(tc.msg, "", &call)
		if v != tc.verdict || as != tc.authStat {
			t.Errorf("%s: verdict %v auth %d, want %v auth %d", tc.name, v, as, tc.verdict, tc.authStat)
		}
	}
}

func TestDecodeReply(t *testing.T) {
	build := func(f func(e *xdr.Encoder)) []byte {
		e := xdr.NewEncoder(nil)
		f(e)
		return e.Buf
	}
	for _, tc := range []struct {
		name string
		rec  []byte
		res  []byte
		err  *Error
	}{
		{"success", build(func(e *xdr.Encoder) { putAcceptedHeader(e, 1); e.Uint32(42) }), []byte{0, 0, 0, 42}, nil},
		{"prog mismatch", build(func(e *xdr.Encoder) {
			off := putAcceptedHeader(e, 1)
			e.PutUint32At(off, uint32(ProgMismatch))
			e.Uint32(2)
			e.Uint32(4)
		}), nil, &Error{Accept: ProgMismatch, Low: 2, High: 4}},
		{"rpc mismatch", build(func(e *xdr.Encoder) { putRPCMismatch(e, 1) }), nil, &Error{Rejected: true, RejectStat: RPCMismatch, Low: 2, High: 2}},
		{"auth error", build(func(e *xdr.Encoder) { putAuthError(e, 1, AuthTooWeak) }), nil, &Error{Rejected: true, RejectStat: AuthError, AuthStat: AuthTooWeak}},
	} {
		res, err := decodeReply(tc.rec)
		if tc.err != nil {
			wantRPCError(t, err, *tc.err)
			continue
		}
		if err != nil || !bytes.Equal(res, tc.res) {
			t.Errorf("%s: %x %v", tc.name, res, err)
		}
	}
	// Truncations of a valid reply fail cleanly.
	full := build(func(e *xdr.Encoder) { putRPCMismatch(e, 1) })
	for n := range len(full) {
		if _, err := decodeReply(full[:n]); err != errMalformedReply {
			t.Errorf("reply cut at %d: %v", n, err)
		}
	}
}

func TestErrorStrings(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{Accept: ProcUnavail}, "oncrpc: PROC_UNAVAIL"},
		{Error{Accept: ProgMismatch, Low: 2, High: 4}, "oncrpc: PROG_MISMATCH (supported 2-4)"},
		{Error{Rejected: true, RejectStat: AuthError, AuthStat: AuthBadCred}, "oncrpc: call denied: AUTH_ERROR AUTH_BADCRED"},
		{Error{Rejected: true, RejectStat: RPCMismatch, Low: 2, High: 2}, "oncrpc: call denied: RPC_MISMATCH (supported 2-2)"},
		{Error{Accept: 99}, "oncrpc: accept_stat(99)"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.e, got, tc.want)
		}
	}
}
