package nfsclient

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// TestOverONCRPC runs the client against the fake server behind a real
// oncrpc.Server on loopback TCP: record marking, xids, AUTH_SYS, and the
// back channel (CB_NULL and a CB_RECALL the server sends on the client's
// connection).
func TestOverONCRPC(t *testing.T) {
	fake := newFakeServer(t, 1)
	fake.grantDeleg = true
	fake.mkfile("/dir/file", []byte("over the wire"))

	var mu sync.Mutex
	var conn *oncrpc.Conn
	var sawUID uint32
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, oncrpc.HandlerFunc(
		func(ctx context.Context, call *oncrpc.Call, e *xdr.Encoder) oncrpc.AcceptStat {
			mu.Lock()
			conn = call.Conn
			if call.Flavor == oncrpc.FlavorSys {
				sawUID = call.Sys.UID
			}
			mu.Unlock()
			switch call.Proc {
			case nfs4.ProcNull:
				return oncrpc.Success
			case nfs4.ProcCompound:
				e.Buf = append(e.Buf, fake.compound(call.Args)...)
				return oncrpc.Success
			}
			return oncrpc.ProcUnavail
		}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(l)
	defer srv.Shutdown(context.Background())

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	recalls := make(chan Recall, 1)
	cl, err := Dial(ctx, l.Addr().String(), Options{UID: 4242, GID: 42, MachineName: "tester",
		OnRecall: func(r Recall) { recalls <- r }})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Null(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if sawUID != 4242 {
		t.Errorf("server saw uid %d", sawUID)
	}
	mu.Unlock()
	data, err := cl.ReadFile(ctx, "/dir/file")
	if err != nil || string(data) != "over the wire" {
		t.Fatalf("%q %v", data, err)
	}
	big := bytes.Repeat([]byte{0x5a}, 1<<20)
	if err := cl.WriteFile(ctx, "/dir/big", big, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := cl.OpenFile(ctx, "/dir/big", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if f.Open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("no delegation: %+v", f.Open.Delegation)
	}
	got := make([]byte, len(big))
	if n, err := f.ReadFull(ctx, got, 0); err != nil || n != len(big) || !bytes.Equal(got, big) {
		t.Fatalf("ReadFull %d %v", n, err)
	}

	// The server calls back on the client's connection.
	mu.Lock()
	c := conn
	mu.Unlock()
	if _, err := c.Call(ctx, defaultCBProgram, 1, 0, oncrpc.CredNone(), nil); err != nil {
		t.Fatal("CB_NULL:", err)
	}
	args := cbArgs(1, cbSeqOp(fake.sess, 1, 0), cbRecallOp(f.Open.Delegation.Stateid, f.FH))
	res, err := c.Call(ctx, defaultCBProgram, 1, 1, oncrpc.CredNone(), args)
	if err != nil {
		t.Fatal("CB_COMPOUND:", err)
	}
	if r, err := decodeCBReply(res); err != nil || r.status != nfs4.OK || len(r.res) != 2 {
		t.Fatalf("CB reply %+v %v", r, err)
	}
	select {
	case r := <-recalls:
		if r.Stateid != f.Open.Delegation.Stateid || !bytes.Equal(r.FH, f.FH) {
			t.Fatalf("recall %+v", r)
		}
		if err := cl.ReturnDelegation(ctx, r.FH, r.Stateid); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no recall")
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if fake.hasSession {
		t.Error("session not destroyed")
	}
}
