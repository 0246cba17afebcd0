package oncrpc

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/xdr"
)

func TestNullCall(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	c := dial(t, addr)
	res, err := c.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil)
	if err != nil || len(res) != 0 {
		t.Fatalf("NULL: %x, %v", res, err)
	}
}

func TestEchoSizes(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	c := dial(t, addr)
	// Around the size where results stop being copied, and a big one.
	for _, n := range []int{1, 4096, handOverMin - 1, handOverMin, 1 << 20} {
		args := bytes.Repeat([]byte{byte(n)}, n)
		res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), args)
		if err != nil || !bytes.Equal(res, args) {
			t.Fatalf("echo of %d bytes: got %d bytes, %v", n, len(res), err)
		}
	}
}

func TestMultiFragmentCall(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	nc := dialRaw(t, addr)
	args := bytes.Repeat([]byte("frag"), 300)
	msg := goodCall(77, procEcho, args).bytes()
	// Fragment boundaries inside the xid, inside the header, an empty
	// fragment, and inside the arguments.
	if _, err := nc.Write(record(msg, 2, 9, 0, 30, 500)); err != nil {
		t.Fatal(err)
	}
	res, err := readReply(t, nc, 77)
	if err != nil || !bytes.Equal(res, args) {
		t.Fatalf("echo over fragments: %d bytes, %v", len(res), err)
	}
}

func TestOversizeRecordClosesConnection(t *testing.T) {
	s := &Server{MaxRecordSize: 4096}
	addr := startServer(t, s, newTestHandler())

	// The header alone announces too much: the server must hang up
	// without waiting for (or allocating) the body.
	nc := dialRaw(t, addr)
	nc.Write(binary.BigEndian.AppendUint32(nil, lastFragment|100<<20))
	expectClosed(t, nc)

	// Small fragments that only add up to too much are caught as well.
	nc = dialRaw(t, addr)
	nc.Write(record(make([]byte, 5000), 1000, 1000, 1000, 1000))
	expectClosed(t, nc)

	// Others are still served, and records at the limit are fine.
	c := dial(t, addr)
	hdrLen := len(goodCall(0, procEcho, nil).bytes())
	args := make([]byte, 4096-hdrLen)
	if res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), args); err != nil || len(res) != len(args) {
		t.Fatalf("call at the size limit: %d bytes, %v", len(res), err)
	}
	if _, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), append(args, 0, 0, 0, 0)); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call over the size limit: %v, want ErrConnClosed", err)
	}
}

func TestProgUnavail(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	_, err := dial(t, addr).Call(testCtx(t), testProg+1, 1, procNull, CredNone(), nil)
	wantRPCError(t, err, Error{Accept: ProgUnavail})
}

func TestProgMismatch(t *testing.T) {
	s := &Server{}
	s.Register(testProg, 2, 4, newTestHandler())
	s.Register(testProg, 7, 7, newTestHandler())
	addr := startServer(t, s, nil)
	c := dial(t, addr)
	for _, v := range []uint32{2, 4, 7} {
		if _, err := c.Call(testCtx(t), testProg, v, procNull, CredNone(), nil); err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
	}
	for _, v := range []uint32{1, 5, 8} {
		_, err := c.Call(testCtx(t), testProg, v, procNull, CredNone(), nil)
		wantRPCError(t, err, Error{Accept: ProgMismatch, Low: 2, High: 7})
	}
}

func TestHandlerStatuses(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	c := dial(t, addr)
	_, err := c.Call(testCtx(t), testProg, testVers, 99, CredNone(), nil)
	wantRPCError(t, err, Error{Accept: ProcUnavail})

	for _, st := range []AcceptStat{ProcUnavail, GarbageArgs, SystemErr, ProgUnavail} {
		_, err := c.Call(testCtx(t), testProg, testVers, procFail, CredNone(), binary.BigEndian.AppendUint32(nil, uint32(st)))
		wantRPCError(t, err, Error{Accept: st})
	}
	// A handler returning PROG_MISMATCH gets the registered range filled in.
	_, err = c.Call(testCtx(t), testProg, testVers, procFail, CredNone(), binary.BigEndian.AppendUint32(nil, uint32(ProgMismatch)))
	wantRPCError(t, err, Error{Accept: ProgMismatch, Low: testVers, High: testVers})
	// Undefined statuses do not go on the wire.
	_, err = c.Call(testCtx(t), testProg, testVers, procFail, CredNone(), binary.BigEndian.AppendUint32(nil, 77))
	wantRPCError(t, err, Error{Accept: SystemErr})
	// Arguments the handler cannot decode.
	_, err = c.Call(testCtx(t), testProg, testVers, procFail, CredNone(), []byte{1})
	wantRPCError(t, err, Error{Accept: GarbageArgs})
}

func TestGarbageHeader(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	nc := dialRaw(t, addr)

	// A call cut off inside its credential: the xid is known, so the
	// caller hears GARBAGE_ARGS and the connection stays usable.
	msg := goodCall(5, procNull, nil)
	msg.cred = CredSys(AuthSys{MachineName: "m"})
	nc.Write(record(msg.bytes()[:30]))
	_, err := readReply(t, nc, 5)
	wantRPCError(t, err, Error{Accept: GarbageArgs})

	nc.Write(record(goodCall(6, procNull, nil).bytes()))
	if _, err := readReply(t, nc, 6); err != nil {
		t.Fatalf("call after garbage: %v", err)
	}

	// Records with no readable xid, or that are not RPC messages at all,
	// end the connection.
	for _, rec := range [][]byte{{1, 2}, {0, 0, 0, 1, 0, 0, 0, 9, 0, 0, 0, 2}} {
		nc := dialRaw(t, addr)
		nc.Write(record(rec))
		expectClosed(t, nc)
	}
}

func TestRPCVersionMismatch(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	nc := dialRaw(t, addr)
	msg := goodCall(3, procNull, nil)
	msg.rpcvers = 3
	nc.Write(record(msg.bytes()))
	_, err := readReply(t, nc, 3)
	wantRPCError(t, err, Error{Rejected: true, RejectStat: RPCMismatch, Low: 2, High: 2})
}

func TestAuthSys(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	c := dial(t, addr)
	want := AuthSys{Stamp: 1, MachineName: "host.example", UID: 1001, GID: 2002, GIDs: []uint32{10, 20, 30}}
	// Twice, so that the second call takes the cached machine name.
	for range 2 {
		res, err := c.Call(testCtx(t), testProg, testVers, procCreds, CredSys(want), nil)
		if err != nil {
			t.Fatal(err)
		}
		d := xdr.NewDecoder(res)
		got := AuthSys{Stamp: 1}
		flavor := d.Uint32()
		got.UID, got.GID, got.MachineName = d.Uint32(), d.Uint32(), d.String(255)
		got.GIDs = make([]uint32, d.Uint32())
		for i := range got.GIDs {
			got.GIDs[i] = d.Uint32()
		}
		if d.Err() != nil || flavor != FlavorSys || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("handler saw flavor %d %+v (%v), want %+v", flavor, got, d.Err(), want)
		}
	}

	res, err := c.Call(testCtx(t), testProg, testVers, procCreds, CredNone(), nil)
	if err != nil || binary.BigEndian.Uint32(res) != FlavorNone {
		t.Fatalf("AUTH_NONE call: %x %v", res, err)
	}

	bad := CredSys(want)
	bad.Body = bad.Body[:len(bad.Body)-2]
	for name, cred := range map[string]Cred{
		"truncated body": bad,
		"17 groups":      CredSys(AuthSys{GIDs: make([]uint32, 17)}),
		"RPCSEC_GSS":     {Flavor: 6, Body: []byte{0, 0, 0, 1}},
	} {
		_, err := c.Call(testCtx(t), testProg, testVers, procCreds, cred, nil)
		var re *Error
		if !errors.As(err, &re) || !re.Rejected || re.RejectStat != AuthError || re.AuthStat != AuthBadCred {
			t.Fatalf("%s: %v, want AUTH_ERROR AUTH_BADCRED", name, err)
		}
	}
	// The connection survives rejected calls.
	if _, err := c.Call(testCtx(t), testProg, testVers, procNull, CredSys(want), nil); err != nil {
		t.Fatal(err)
	}
}

func TestPipelining(t *testing.T) {
	h := newTestHandler()
	h.entered = make(chan uint32, 1)
	addr := startServer(t, &Server{}, h)
	c := dial(t, addr)

	slow := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), nil)
		slow <- err
	}()
	<-h.entered // the slow call is being served

	// A fast call sent after it, on the same connection, completes while
	// the slow one is still blocked.
	if res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), []byte("fast")); err != nil || string(res) != "fast" {
		t.Fatalf("fast call: %q %v", res, err)
	}
	select {
	case err := <-slow:
		t.Fatalf("slow call finished early: %v", err)
	default:
	}
	close(h.block)
	if err := <-slow; err != nil {
		t.Fatalf("slow call: %v", err)
	}
}

func TestPipelinedRawReplyOrder(t *testing.T) {
	// Several calls in one write; the blocked first one is answered last.
	h := newTestHandler()
	h.entered = make(chan uint32, 1)
	addr := startServer(t, &Server{}, h)
	nc := dialRaw(t, addr)
	var batch []byte
	batch = append(batch, record(goodCall(1, procBlock, nil).bytes())...)
	for xid := uint32(2); xid <= 4; xid++ {
		batch = append(batch, record(goodCall(xid, procEcho, []byte{byte(xid), 0, 0, 0}).bytes())...)
	}
	nc.Write(batch)
	<-h.entered
	rr := newRecordReader(nc, 1<<10)
	seen := map[uint32]bool{}
	for range 3 {
		rec, err := rr.readRecord(nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[binary.BigEndian.Uint32(rec)] = true
	}
	if !seen[2] || !seen[3] || !seen[4] {
		t.Fatalf("replies before the blocked call: %v", seen)
	}
	close(h.block)
	rec, err := rr.readRecord(nil)
	if err != nil || binary.BigEndian.Uint32(rec) != 1 {
		t.Fatalf("last reply: %x %v", rec, err)
	}
}

func TestMaxInflightPerConn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		h.entered = make(chan uint32, 10)
		l := startPipeServer(t, &Server{MaxInflightPerConn: 2}, h)
		c := dialPipe(t, l)

		errs := make(chan error, 3)
		for range 3 {
			go func() {
				_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), nil)
				errs <- err
			}()
		}
		<-h.entered
		<-h.entered
		// The third call is not started while two are being served: the
		// reader waits for a slot, however long everything waits.
		synctest.Wait()
		select {
		case <-h.entered:
			t.Fatal("third call started beyond MaxInflightPerConn")
		default:
		}
		h.block <- struct{}{}
		<-h.entered // the freed slot admits the third
		close(h.block)
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestMaxInflightBytes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		h.entered = make(chan uint32, 10)
		// Each blocking call is ~40 bytes plus 200 of arguments, so the budget
		// holds two of them, across connections.
		l := startPipeServer(t, &Server{MaxInflightBytes: 500}, h)
		args := make([]byte, 200)
		errs := make(chan error, 3)
		for range 3 {
			c := dialPipe(t, l)
			go func() {
				_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), args)
				errs <- err
			}()
		}
		<-h.entered
		<-h.entered
		synctest.Wait()
		select {
		case <-h.entered:
			t.Fatal("third call started beyond MaxInflightBytes")
		default:
		}
		h.block <- struct{}{}
		<-h.entered
		close(h.block)
		for range 3 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestManyConnections(t *testing.T) {
	var conns atomic.Int32
	s := &Server{ConnState: func(c *Conn, st ConnState) {
		if st == StateNew {
			conns.Add(1)
		}
	}}
	addr := startServer(t, s, newTestHandler())
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Dial(testCtx(t), "tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range 10 {
				arg := fmt.Appendf(nil, "%04d%04d", i, j)
				res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), arg)
				if err != nil || !bytes.Equal(res, arg) {
					errs <- fmt.Errorf("conn %d call %d: %q %v", i, j, res, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n != 100 {
		t.Fatalf("%d connections seen, want 100", n)
	}
}

func TestHandlerPanicClosesOnlyItsConnection(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	victim, bystander := dial(t, addr), dial(t, addr)
	if _, err := victim.Call(testCtx(t), testProg, testVers, procPanic, CredNone(), nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call that panicked: %v, want ErrConnClosed", err)
	}
	<-victim.Done()
	if _, err := bystander.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
		t.Fatalf("other connection: %v", err)
	}
	if _, err := dial(t, addr).Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
		t.Fatalf("new connection: %v", err)
	}
}

func TestUnknownReplyXIDIgnored(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	nc := dialRaw(t, addr)
	e := xdr.NewEncoder(nil)
	putAcceptedHeader(e, 12345)
	nc.Write(record(e.Buf))
	nc.Write(record(goodCall(8, procNull, nil).bytes()))
	if _, err := readReply(t, nc, 8); err != nil {
		t.Fatal(err)
	}
}

func TestHalfCloseStillAnswered(t *testing.T) {
	addr := startServer(t, &Server{}, newTestHandler())
	nc := dialRaw(t, addr)
	nc.Write(record(goodCall(4, procEcho, []byte("last")).bytes()))
	nc.(*net.TCPConn).CloseWrite()
	res, err := readReply(t, nc, 4)
	if err != nil || string(res) != "last" {
		t.Fatalf("reply after half-close: %q %v", res, err)
	}
	expectClosed(t, nc)
}

func TestShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		h.entered = make(chan uint32, 1)
		states := make(chan ConnState, 4)
		s := &Server{ConnState: func(c *Conn, st ConnState) { states <- st }}
		s.Register(testProg, testVers, testVers, h)
		l := pipenet.Listen()
		served := make(chan error, 1)
		go func() { served <- s.Serve(l) }()

		c := dialPipe(t, l)
		slow := make(chan error, 1)
		go func() {
			_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), nil)
			slow <- err
		}()
		<-h.entered
		if st := <-states; st != StateNew {
			t.Fatalf("first state %v", st)
		}

		shut := make(chan error, 1)
		go func() { shut <- s.Shutdown(testCtx(t)) }()
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve returned %v", err)
		}
		if _, err := l.Dial(t.Context()); err == nil {
			t.Fatal("listener still accepting after Shutdown")
		}
		synctest.Wait()
		select {
		case err := <-shut:
			t.Fatalf("Shutdown returned %v with a call in flight", err)
		default:
		}
		// The call in flight completes and its reply is delivered; then the
		// connection closes and Shutdown returns.
		close(h.block)
		if err := <-slow; err != nil {
			t.Fatalf("in-flight call: %v", err)
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if st := <-states; st != StateClosed {
			t.Fatalf("final state %v", st)
		}
		<-c.Done()
		if err := s.Serve(l); !errors.Is(err, ErrServerClosed) {
			t.Fatalf("Serve after Shutdown: %v", err)
		}
	})
}

func TestShutdownDeadline(t *testing.T) {
	h := newTestHandler()
	h.entered = make(chan uint32, 1)
	s := &Server{}
	addr := startServer(t, s, h)
	c := dial(t, addr)
	slow := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), nil)
		slow <- err
	}()
	<-h.entered
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a stuck call: %v", err)
	}
	// The connection was closed under the stuck call, whose handler saw
	// its context cancelled.
	if err := <-slow; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("stuck call: %v", err)
	}
}

func TestConnAccessors(t *testing.T) {
	got := make(chan *Conn, 1)
	addr := startServer(t, &Server{}, HandlerFunc(func(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
		got <- call.Conn
		return Success
	}))
	c := dial(t, addr)
	if _, err := c.Call(testCtx(t), testProg, testVers, 0, CredNone(), nil); err != nil {
		t.Fatal(err)
	}
	sc := <-got
	if sc.ID() == 0 || sc.RemoteAddr().String() != c.LocalAddr().String() || sc.LocalAddr().String() != addr {
		t.Fatalf("conn %d %v %v", sc.ID(), sc.RemoteAddr(), sc.LocalAddr())
	}
	sc.Close()
	<-sc.Done()
	<-c.Done()
}

// fakeListener returns a temporary error a few times before a real one.
type fakeListener struct {
	net.Listener
	temp atomic.Int32
}

type tempErr struct{}

func (tempErr) Error() string   { return "temporary" }
func (tempErr) Temporary() bool { return true }

func (l *fakeListener) Close() error { return nil }

func (l *fakeListener) Accept() (net.Conn, error) {
	if l.temp.Add(-1) >= 0 {
		return nil, tempErr{}
	}
	return nil, errors.New("permanent")
}

func TestAcceptBackoff(t *testing.T) {
	l := &fakeListener{}
	l.temp.Store(3)
	start := time.Now()
	err := (&Server{}).Serve(l)
	if err == nil || err.Error() != "permanent" {
		t.Fatalf("Serve: %v", err)
	}
	// 5 + 10 + 20 ms of back-off.
	if d := time.Since(start); d < 35*time.Millisecond {
		t.Fatalf("no back-off: returned after %v", d)
	}
}
