package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"reflect"
	"testing"
	"testing/iotest"

	"nfsgw/gateway/xdr"
)

const fuzzMaxRecord = 1024

// refRecords splits a stream into records the simple way, as the reference
// the record reader is checked against. The final element is the error the
// stream ends with.
func refRecords(data []byte, max int) ([][]byte, error) {
	var recs [][]byte
	var cur []byte
	inRecord := false
	for {
		if len(data) == 0 {
			if inRecord {
				return recs, io.ErrUnexpectedEOF
			}
			return recs, io.EOF
		}
		if len(data) < 4 {
			return recs, io.ErrUnexpectedEOF
		}
		h := binary.BigEndian.Uint32(data)
		n := int(h &^ lastFragment)
		data = data[4:]
		if len(cur)+n > max {
			return recs, errRecordTooLarge
		}
		if n > len(data) {
			return recs, io.ErrUnexpectedEOF
		}
		cur = append(cur, data[:n]...)
		data = data[n:]
		inRecord = true
		if h&lastFragment != 0 {
			recs = append(recs, append([]byte{}, cur...))
			cur = cur[:0]
			inRecord = false
		}
	}
}

func FuzzRecordReader(f *testing.F) {
	f.Add([]byte{})
	f.Add(record([]byte("hello")))
	f.Add(record(bytes.Repeat([]byte{7}, 100), 1, 0, 50))
	f.Add(append(record([]byte("a")), record([]byte("bc"), 1)...))
	f.Add(record(make([]byte, fuzzMaxRecord)))
	f.Add(record(make([]byte, fuzzMaxRecord+1), 512))
	f.Add([]byte{0x80, 0, 0})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		want, wantErr := refRecords(data, fuzzMaxRecord)
		for _, r := range []io.Reader{bytes.NewReader(data), iotest.OneByteReader(bytes.NewReader(data))} {
			rr := newRecordReader(r, fuzzMaxRecord)
			var buf []byte
			for i := 0; ; i++ {
				var err error
				buf, err = rr.readRecord(buf)
				// Whatever the input claims, the buffer never exceeds the
				// limit, and never what was actually received.
				if cap(buf) > fuzzMaxRecord || cap(buf) > max(len(data), minGrow) {
					t.Fatalf("buffer capacity %d (limit %d, input %d bytes)", cap(buf), fuzzMaxRecord, len(data))
				}
				if err != nil {
					if i != len(want) || !errors.Is(err, wantErr) {
						t.Fatalf("record %d: error %v; reference has %d records then %v", i, err, len(want), wantErr)
					}
					break
				}
				if i >= len(want) || !bytes.Equal(buf, want[i]) {
					t.Fatalf("record %d differs from the reference", i)
				}
			}
		}
	})
}

func FuzzCallHeader(f *testing.F) {
	sys := CredSys(AuthSys{Stamp: 1, MachineName: "host", UID: 1, GID: 2, GIDs: []uint32{3, 4}})
	f.Add(goodCall(1, 0, nil).bytes())
	f.Add(callMsg{xid: 2, rpcvers: 2, prog: 100003, vers: 4, proc: 1, cred: sys, args: []byte{0, 0, 0, 0}}.bytes())
	f.Add(callMsg{xid: 3, rpcvers: 3}.bytes())
	f.Add(callMsg{xid: 4, rpcvers: 2, cred: Cred{Flavor: 6, Body: []byte{1, 2, 3, 4}}}.bytes())
	f.Add(callMsg{xid: 5, rpcvers: 2, cred: sys, verf: sys}.bytes())
	f.Add(callMsg{xid: 6, rpcvers: 2, cred: Cred{Flavor: 1, Body: sys.Body[:9]}}.bytes())
	f.Add(goodCall(7, 0, nil).bytes()[:20])
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 1})
	f.Add([]byte{1, 2})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		var call Call
		v, authStat := decodeCallHeader(data, "host", &call)

		// Whatever the verdict, the reply the server would send decodes
		// to the matching outcome.
		if v != verdictDrop {
			e := xdr.NewEncoder(nil)
			switch v {
			case verdictRPCMismatch:
				putRPCMismatch(e, call.XID)
			case verdictAuth:
				putAuthError(e, call.XID, authStat)
			default:
				off := putAcceptedHeader(e, call.XID)
				if v == verdictGarbage {
					e.PutUint32At(off, uint32(GarbageArgs))
				}
			}
			_, err := decodeReply(e.Buf)
			var re *Error
			switch {
			case v == verdictOK && err != nil,
				v == verdictGarbage && !(errors.As(err, &re) && re.Accept == GarbageArgs),
				v == verdictRPCMismatch && !(errors.As(err, &re) && re.Rejected && re.Low == 2),
				v == verdictAuth && !(errors.As(err, &re) && re.Rejected && re.AuthStat == authStat):
				t.Fatalf("verdict %v: reply decodes to %v", v, err)
			}
		}
		if v != verdictOK {
			return
		}
		if call.Flavor != FlavorNone && call.Flavor != FlavorSys {
			t.Fatalf("accepted flavor %d", call.Flavor)
		}
		if len(call.Sys.MachineName) > MaxMachineNameLen || len(call.Sys.GIDs) > MaxAuthSysGroups {
			t.Fatalf("AUTH_SYS past its limits: %d-byte name, %d groups", len(call.Sys.MachineName), len(call.Sys.GIDs))
		}
		if len(call.Args) > len(data) || !bytes.HasSuffix(data, call.Args) {
			t.Fatal("arguments are not the tail of the message")
		}
		// Encoding what was decoded and decoding it again gives the same
		// call.
		m := callMsg{xid: call.XID, rpcvers: 2, prog: call.Prog, vers: call.Vers, proc: call.Proc, cred: CredNone(), args: call.Args}
		if call.Flavor == FlavorSys {
			m.cred = CredSys(call.Sys)
		}
		var again Call
		if v2, _ := decodeCallHeader(m.bytes(), "", &again); v2 != verdictOK {
			t.Fatalf("re-encoded call: verdict %v", v2)
		}
		if len(again.Args) == 0 {
			again.Args = call.Args[:0:0]
		}
		if len(call.Args) == 0 {
			call.Args = call.Args[:0:0]
		}
		if !reflect.DeepEqual(call, again) {
			t.Fatalf("round trip:\n%+v\n%+v", call, again)
		}
	})
}

// FuzzServeConn runs arbitrary bytes through a server connection: whatever
// arrives, the server must not panic, must answer or hang up, and must
// finish the connection.
func FuzzServeConn(f *testing.F) {
	sys := CredSys(AuthSys{MachineName: "host", UID: 1, GIDs: []uint32{3}})
	f.Add(record(goodCall(1, procEcho, []byte("abcd")).bytes()))
	f.Add(append(record(goodCall(1, procNull, nil).bytes(), 3, 5), record(callMsg{xid: 2, rpcvers: 2, prog: testProg, vers: 9, cred: sys}.bytes())...))
	f.Add(record(callMsg{xid: 3, rpcvers: 3}.bytes()))
	f.Add(record(callMsg{xid: 4, rpcvers: 2, prog: testProg, vers: testVers, proc: procFail, args: []byte{0, 0, 0, 9}}.bytes()))
	f.Add(record([]byte{0, 0, 0, 5, 0, 0, 0, 1, 0, 0, 0, 0}))
	f.Add([]byte{0x80, 0, 0, 1, 0})

	s := &Server{MaxRecordSize: 512, MaxInflightPerConn: 4}
	s.init()
	s.Register(testProg, testVers, testVers, HandlerFunc(func(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
		switch call.Proc {
		case procEcho:
			e.Buf = append(e.Buf, call.Args...)
			return Success
		case procFail:
			if len(call.Args) >= 4 {
				return AcceptStat(binary.BigEndian.Uint32(call.Args))
			}
		}
		return ProcUnavail
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		c, _ := s.newConn(server)
		served := make(chan struct{})
		go func() {
			c.serve()
			close(served)
		}()
		drained := make(chan struct{})
		go func() {
			io.Copy(io.Discard, client)
			close(drained)
		}()
		client.Write(data) // fails early if the server hangs up
		client.Close()
		<-served
		<-drained
	})
}
