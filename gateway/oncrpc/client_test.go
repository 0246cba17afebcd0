package oncrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/xdr"
)

const cbProg = 0x40000000 // a transient program number, as NFSv4 callbacks use

// backchannelServer serves testProg; procNull also hands the caller's Conn
// to the test, which can then call back over it.
func backchannelServer(t *testing.T) (addr string, conns <-chan *Conn) {
	ch := make(chan *Conn, 10)
	th := newTestHandler()
	h := HandlerFunc(func(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
		if call.Proc == procNull {
			ch <- call.Conn
		}
		return th.HandleCall(ctx, call, e)
	})
	return startServer(t, &Server{}, h), ch
}

// callbackHandler serves cbProg on the client: proc 1 echoes its arguments
// prefixed with the caller's uid, proc 2 blocks until release is closed or
// the connection ends.
type callbackHandler struct {
	release chan struct{}
	entered chan struct{}
}

func (h *callbackHandler) HandleCall(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
	if call.Prog != cbProg || call.Vers != 1 {
		return ProgUnavail
	}
	switch call.Proc {
	case 1:
		e.Uint32(call.Sys.UID)
		e.Buf = append(e.Buf, call.Args...)
		return Success
	case 2:
		h.entered <- struct{}{}
		select {
		case <-h.release:
		case <-ctx.Done():
		}
		return Success
	}
	return ProcUnavail
}

func newCallbackClient(t *testing.T, addr string, conns <-chan *Conn) (*Client, *Conn, *callbackHandler) {
	c := dial(t, addr)
	cb := &callbackHandler{release: make(chan struct{}), entered: make(chan struct{}, 1)}
	c.SetCallbackHandler(cb)
	if _, err := c.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
		t.Fatal(err)
	}
	return c, <-conns, cb
}

func TestBackchannelCall(t *testing.T) {
	addr, conns := backchannelServer(t)
	c, sc, _ := newCallbackClient(t, addr, conns)
	cred := CredSys(AuthSys{MachineName: "server", UID: 42})

	res, err := sc.Call(testCtx(t), cbProg, 1, 1, cred, []byte("ping"))
	if err != nil || !bytes.Equal(res, []byte{0, 0, 0, 42, 'p', 'i', 'n', 'g'}) {
		t.Fatalf("callback: %q %v", res, err)
	}
	_, err = sc.Call(testCtx(t), cbProg, 1, 9, CredNone(), nil)
	wantRPCError(t, err, Error{Accept: ProcUnavail})

	// Fore and back channel concurrently on one connection.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			arg := fmt.Appendf(nil, "b%03d", i)
			if res, err := sc.Call(testCtx(t), cbProg, 1, 1, cred, arg); err != nil || !bytes.Equal(res[4:], arg) {
				errs <- fmt.Errorf("callback %d: %q %v", i, res, err)
			}
		}()
		go func() {
			defer wg.Done()
			arg := fmt.Appendf(nil, "f%03d", i)
			if res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), arg); err != nil || !bytes.Equal(res, arg) {
				errs <- fmt.Errorf("call %d: %q %v", i, res, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestBackchannelFromHandler(t *testing.T) {
	// A handler calling back over its own connection while it serves a
	// call (as a server recalling a delegation might) does not deadlock.
	srv := &Server{}
	srv.Register(testProg, testVers, testVers, HandlerFunc(func(ctx context.Context, call *Call, e *xdr.Encoder) AcceptStat {
		res, err := call.Conn.Call(ctx, cbProg, 1, 1, CredNone(), call.Args)
		if err != nil {
			return SystemErr
		}
		e.Buf = append(e.Buf, res...)
		return Success
	}))
	addr := startServer(t, srv, nil)
	c := dial(t, addr)
	c.SetCallbackHandler(&callbackHandler{})
	res, err := c.Call(testCtx(t), testProg, testVers, 1, CredNone(), []byte("nest"))
	if err != nil || string(res[4:]) != "nest" {
		t.Fatalf("nested callback: %q %v", res, err)
	}
}

func TestBackchannelWithoutHandler(t *testing.T) {
	addr, conns := backchannelServer(t)
	c := dial(t, addr)
	if _, err := c.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
		t.Fatal(err)
	}
	_, err := (<-conns).Call(testCtx(t), cbProg, 1, 1, CredNone(), nil)
	wantRPCError(t, err, Error{Accept: ProgUnavail})
}

func TestBackchannelCancel(t *testing.T) {
	addr, conns := backchannelServer(t)
	_, sc, cb := newCallbackClient(t, addr, conns)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sc.Call(ctx, cbProg, 1, 2, CredNone(), nil)
		done <- err
	}()
	<-cb.entered
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled callback: %v", err)
	}
	// The late reply finds nobody waiting and is dropped; the connection
	// carries on.
	close(cb.release)
	if _, err := sc.Call(testCtx(t), cbProg, 1, 1, CredNone(), nil); err != nil {
		t.Fatalf("callback after a cancelled one: %v", err)
	}
	if _, err := sc.Call(ctx, cbProg, 1, 1, CredNone(), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("callback with a cancelled context: %v", err)
	}
}

func TestBackchannelConnClose(t *testing.T) {
	addr, conns := backchannelServer(t)
	c, sc, cb := newCallbackClient(t, addr, conns)
	done := make(chan error, 1)
	go func() {
		_, err := sc.Call(testCtx(t), cbProg, 1, 2, CredNone(), nil)
		done <- err
	}()
	<-cb.entered
	c.Close()
	if err := <-done; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("callback pending when the client left: %v", err)
	}
	<-sc.Done()
	if _, err := sc.Call(testCtx(t), cbProg, 1, 1, CredNone(), nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("callback on a closed connection: %v", err)
	}
}

func TestClientCancelAndClose(t *testing.T) {
	h := newTestHandler()
	h.entered = make(chan uint32, 1)
	addr := startServer(t, &Server{}, h)
	c := dial(t, addr)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := c.Call(ctx, testProg, testVers, procBlock, CredNone(), nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("call past its deadline: %v", err)
	}
	<-h.entered
	close(h.block) // its reply now arrives for an xid nobody waits for
	if res, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), []byte("next")); err != nil || string(res) != "next" {
		t.Fatalf("call after a cancelled one: %q %v", res, err)
	}

	if _, err := c.Call(testCtx(t), testProg, testVers, procEcho, CredNone(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Call(testCtx(t), 1, 1, 0, Cred{Body: make([]byte, MaxAuthBytes+1)}, nil); err == nil {
		t.Fatal("oversized credential accepted")
	}
	c.Close()
	if _, err := c.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call on a closed client: %v", err)
	}
}

func TestClientServerGone(t *testing.T) {
	conns := make(chan *Conn, 1)
	h := newTestHandler()
	h.entered = make(chan uint32, 1)
	addr := startServer(t, &Server{ConnState: func(c *Conn, st ConnState) {
		if st == StateNew {
			conns <- c
		}
	}}, h)
	c := dial(t, addr)
	done := make(chan error, 1)
	go func() {
		_, err := c.Call(testCtx(t), testProg, testVers, procBlock, CredNone(), nil)
		done <- err
	}()
	<-h.entered
	(<-conns).Close() // the server hangs up with the call in progress
	if err := <-done; !errors.Is(err, ErrConnClosed) {
		t.Fatalf("call pending when the server hung up: %v", err)
	}
	<-c.Done()
}
