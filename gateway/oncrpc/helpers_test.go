package oncrpc

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/xdr"
)

// Program numbers used by the tests.
const (
	testProg = 400100
	testVers = 1
	// Procedures of testProg.
	procNull  = 0
	procEcho  = 1 // results = args
	procCreds = 2 // results = flavor, uid, gid, gids...
	procFail  = 3 // returns the accept status given as argument
	procBlock = 4 // waits for a value on the test's channel
	procPanic = 5
	procBig   = 6 // reserves and returns as many bytes as its argument says
	procKeep  = 7 // marks the connection with Conn.Keep
)

// testHandler implements testProg.
type testHandler struct {
	block    chan struct{} // procBlock waits for a receive from it
	entered  chan uint32   // procBlock reports its xid here on entry, if set
	reserved chan uint32   // procBig reports its xid here once it reserved, if set
}

func (h *testHandler) HandleCall(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
	switch call.Proc {
	case procNull:
		return Success
	case procEcho:
		e.Buf = append(e.Buf, call.Args...)
		return Success
	case procCreds:
		e.Uint32(call.Flavor)
		e.Uint32(call.Sys.UID)
		e.Uint32(call.Sys.GID)
		e.String(call.Sys.MachineName)
		e.Uint32(uint32(len(call.Sys.GIDs)))
		for _, g := range call.Sys.GIDs {
			e.Uint32(g)
		}
		return Success
	case procFail:
		d := xdr.NewDecoder(call.Args)
		st := AcceptStat(d.Uint32())
		e.Uint32(0xdeadbeef) // must be discarded
		if d.Err() != nil {
			return GarbageArgs
		}
		return st
	case procBlock:
		if h.entered != nil {
			h.entered <- call.XID
		}
		select {
		case <-h.block:
			return Success
		case <-ctx.Done():
			return SystemErr
		}
	case procPanic:
		panic("handler panic (expected by the test)")
	case procBig:
		d := xdr.NewDecoder(call.Args)
		n := int(d.Uint32())
		if d.Err() != nil || n > 16<<20 {
			return GarbageArgs
		}
		if err := call.ReserveReply(n); err != nil {
			return SystemErr
		}
		if h.reserved != nil {
			h.reserved <- call.XID
		}
		e.Buf = append(e.Buf, make([]byte, n)...)
		return Success
	case procKeep:
		call.Conn.Keep()
		return Success
	}
	return ProcUnavail
}

func newTestHandler() *testHandler {
	return &testHandler{block: make(chan struct{})}
}

// startServer registers h as testProg and serves on a loopback port. The
// server is shut down when the test ends.
func startServer(t testing.TB, s *Server, h Handler) string {
	t.Helper()
	if h != nil {
		s.Register(testProg, testVers, testVers, h)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
}

// startPipeServer is startServer on in-memory connections: a server that
// can run in a testing/synctest bubble, where time only moves when every
// goroutine waits, so a test can wait for "nothing more will happen"
// (synctest.Wait) instead of sleeping through a time window.
func startPipeServer(t testing.TB, s *Server, h Handler) *pipenet.Listener {
	t.Helper()
	if h != nil {
		s.Register(testProg, testVers, testVers, h)
	}
	l := pipenet.Listen()
	served := make(chan error, 1)
	go func() { served <- s.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return l
}

func dialPipe(t testing.TB, l *pipenet.Listener) *Client {
	t.Helper()
	c := NewClient(dialPipeRaw(t, l))
	t.Cleanup(func() { c.Close() })
	return c
}

func dialPipeRaw(t testing.TB, l *pipenet.Listener) net.Conn {
	t.Helper()
	nc, err := l.Dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func dial(t testing.TB, addr string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// callMsg builds a call message (no record mark) with full control over
// every header field.
type callMsg struct {
	xid, rpcvers, prog, vers, proc uint32
	cred, verf                     Cred
	args                           []byte
}

func (m callMsg) bytes() []byte {
	e := xdr.NewEncoder(nil)
	e.Uint32(m.xid)
	e.Uint32(msgCall)
	e.Uint32(m.rpcvers)
	e.Uint32(m.prog)
	e.Uint32(m.vers)
	e.Uint32(m.proc)
	e.Uint32(m.cred.Flavor)
	e.Opaque(m.cred.Body)
	e.Uint32(m.verf.Flavor)
	e.Opaque(m.verf.Body)
	e.Buf = append(e.Buf, m.args...)
	return e.Buf
}

func goodCall(xid, proc uint32, args []byte) callMsg {
	return callMsg{xid: xid, rpcvers: 2, prog: testProg, vers: testVers, proc: proc, args: args}
}

// record frames payload as one record split into fragments of the given
// sizes; the last fragment takes whatever is left.
func record(payload []byte, sizes ...int) []byte {
	var out []byte
	for _, n := range sizes {
		n = min(n, len(payload))
		out = binary.BigEndian.AppendUint32(out, uint32(n))
		out = append(out, payload[:n]...)
		payload = payload[n:]
	}
	out = binary.BigEndian.AppendUint32(out, lastFragment|uint32(len(payload)))
	return append(out, payload...)
}

// readReply reads one reply record from a raw connection and checks its
// xid.
func readReply(t testing.TB, nc net.Conn, xid uint32) ([]byte, error) {
	t.Helper()
	rr := newRecordReader(nc, 1<<20)
	rec, err := rr.readRecord(nil)
	if err != nil {
		t.Fatalf("reading reply: %v", err)
	}
	if got := binary.BigEndian.Uint32(rec); got != xid {
		t.Fatalf("reply xid %#x, want %#x", got, xid)
	}
	return decodeReply(rec)
}

// expectClosed checks that the server closes nc without replying.
func expectClosed(t testing.TB, nc net.Conn) {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	n, err := nc.Read(b[:])
	if err == nil || n != 0 {
		t.Fatalf("connection still open (read %d bytes, err %v)", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("server did not close the connection")
	}
}

func wantRPCError(t testing.TB, err error, want Error) {
	t.Helper()
	var re *Error
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *Error %+v", err, err, want)
	}
	if *re != want {
		t.Fatalf("error %+v, want %+v", *re, want)
	}
}
