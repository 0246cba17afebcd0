package oncrpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// pipeConn serves one connection of s over net.Pipe, which buffers
// nothing: a reply is written only as the test reads it, so a test that
// does not read is a peer that never takes its replies, exactly.
func pipeConn(t *testing.T, s *Server, h Handler) (client net.Conn, c *Conn) {
	t.Helper()
	s.init()
	s.Register(testProg, testVers, testVers, h)
	client, server := net.Pipe()
	c, err := s.newConn(server)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { c.serve(); close(served) }()
	t.Cleanup(func() {
		client.Close()
		c.Close()
		<-served
		// Its idle workers go with it.
		s.Shutdown(context.Background())
	})
	return client, c
}

func bigCall(xid uint32, n int) []byte {
	return record(goodCall(xid, procBig, binary.BigEndian.AppendUint32(nil, uint32(n))).bytes())
}

// waitAvail waits until every goroutine of the test's bubble is blocked
// and checks that all of b is available again.
func waitAvail(t *testing.T, b *budget) {
	t.Helper()
	synctest.Wait()
	if b.avail.Load() != b.size || b.nwait.Load() != 0 {
		t.Fatalf("%d of %d available, %d waiting", b.avail.Load(), b.size, b.nwait.Load())
	}
}

// readerWaits reports whether the connection's reader waits for reply
// room: it is the only waiter that asks for nothing.
func readerWaits(b *budget) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, w := range b.waiters {
		if w.n == 0 {
			return true
		}
	}
	return false
}

// A peer that pipelines calls with large replies and reads none of them
// gets as many replies built as its share holds, and is then not read any
// more; once it reads, every call is answered and every byte returned.
func TestReplyBackPressure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		h.reserved = make(chan uint32, 1000)
		const rec = 1 << 20
		// Slots are not what stops the reader here.
		s := &Server{MaxRecordSize: rec, MaxReplyBytesPerConn: 3 * rec, MaxInflightPerConn: 1000}
		client, c := pipeConn(t, s, h)
		const calls = 60
		// The peer writes one call at a time and waits until the server
		// has done all it will with it, so that what the server reads is
		// decided by its accounting, not by how goroutines are scheduled.
		// Three calls reserve a record's worth each; the fourth waits for
		// room, and the reader, which has read the fifth, waits behind it
		// to admit it instead of reading on: the sixth is not taken. Nothing is written
		// (nothing reads the pipe), so no more can reserve.
		write := func(i int) chan error {
			done := make(chan error, 1)
			go func() {
				_, err := client.Write(bigCall(uint32(i+1), 900<<10))
				done <- err
			}()
			return done
		}
		var stuck chan error
		read := 0
		for read < calls {
			w := write(read)
			synctest.Wait()
			select {
			case err := <-w:
				if err != nil {
					t.Fatal(err)
				}
				read++
				continue
			default:
				stuck = w
			}
			break
		}
		if read == calls {
			t.Fatalf("the server read all %d calls of a peer that reads no replies", calls)
		}
		if read != 5 || !readerWaits(c.ep.replies) {
			t.Fatalf("the server read %d calls, want 5; reader waiting for reply room: %v", read, readerWaits(c.ep.replies))
		}
		if n := len(h.reserved); n != 3 {
			t.Fatalf("%d calls reserved a large reply, want 3 (the connection's share)", n)
		}
		if held := s.replies.size - s.replies.avail.Load(); held < 3*(900<<10) || held > 3*rec+1024 {
			t.Fatalf("the server accounts %d reply bytes, want the three replies built", held)
		}
		sent := make(chan int, 1)
		go func() {
			n := read
			if <-stuck == nil {
				n++
			}
			for i := n; i < calls; i++ {
				if err := <-write(i); err != nil {
					break
				}
				n++
			}
			sent <- n
		}()
		// Now the peer reads: everything is answered.
		client.SetReadDeadline(time.Now().Add(10 * time.Second))
		rr := newRecordReader(client, 2<<20)
		for i := range calls {
			r, err := rr.readRecord(nil)
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			if res, err := decodeReply(r); err != nil || len(res) != 900<<10 {
				t.Fatalf("reply %d: %d bytes, %v", i, len(res), err)
			}
		}
		if n := <-sent; n != calls {
			t.Fatalf("sent %d calls", n)
		}
		waitAvail(t, c.ep.replies)
		waitAvail(t, s.replies)
	})
}

// A peer that does not take a reply within ReplyTimeout is disconnected,
// and what its replies held is returned.
func TestReplyTimeoutClosesConnection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		s := &Server{ReplyTimeout: 100 * time.Millisecond}
		client, c := pipeConn(t, s, h)
		go func() {
			for i := range 10 {
				if _, err := client.Write(bigCall(uint32(i+1), 512<<10)); err != nil {
					return
				}
			}
		}()
		// In the bubble, time passes only while everything waits: the
		// reply timeout fires, or the test deadlocks (and fails).
		<-c.Done()
		client.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, client); err != nil {
			t.Fatalf("reading to the close: %v", err)
		}
		waitAvail(t, s.replies)
		waitAvail(t, s.budget)
	})
}

// A call's request is released when its handler returns, not when its
// reply is written: a peer that does not read replies must not keep the
// server's request budget (1 MiB WRITEs) as well.
func TestRequestReleasedBeforeReplyWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		h.entered = make(chan uint32, 1)
		s := &Server{MaxInflightBytes: 1000}
		client, _ := pipeConn(t, s, h)
		args := make([]byte, 600)
		go func() {
			client.Write(record(goodCall(1, procEcho, args).bytes()))
			client.Write(record(goodCall(2, procBlock, args).bytes()))
		}()
		// The echo's reply cannot be written, as nothing reads it; the second
		// call fits in the budget only if the first one's request is gone.
		synctest.Wait()
		select {
		case <-h.entered:
		default:
			t.Fatal("a call whose reply waits to be written still holds its request bytes")
		}
		close(h.block)
	})
}

// Small replies are charged when built, without waiting, and hold the
// connection's reader while they overdraw its share.
func TestBudgetChargeHoldsAcquirers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBudget(10)
		b.charge(12)
		got := make(chan bool, 1)
		go func() { got <- b.acquire(0, nil, nil) }()
		waitQueued(t, b, 1)
		b.adjust(12, 11) // the reply was smaller than charged, still too big
		select {
		case <-got:
			t.Fatal("acquired while the budget is overdrawn")
		default:
		}
		b.release(11)
		if !<-got {
			t.Fatal("acquire failed")
		}
		if b.avail.Load() != 10 {
			t.Fatalf("%d available, want 10", b.avail.Load())
		}
	})
}

// Connections that carry nothing for IdleTimeout are closed; one marked
// with Conn.Keep is not, however long it is quiet.
func TestIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newTestHandler()
		l := startPipeServer(t, &Server{IdleTimeout: 200 * time.Millisecond}, h)
		kept := dialPipe(t, l)
		if _, err := kept.Call(testCtx(t), testProg, testVers, procKeep, CredNone(), nil); err != nil {
			t.Fatal(err)
		}
		used := dialPipeRaw(t, l)
		used.Write(record(goodCall(1, procNull, nil).bytes()))
		if _, err := readReply(t, used, 1); err != nil {
			t.Fatal(err)
		}
		silent := dialPipeRaw(t, l)
		// Both were quiet for as long as the kept one, which has been quiet
		// longer than either by the time they are closed.
		expectClosed(t, silent)
		expectClosed(t, used)
		if _, err := kept.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
			t.Fatalf("the kept connection was closed: %v", err)
		}
	})
}

// A source address gets MaxConnsPerAddr connections; further ones are
// closed at once, until one of its connections goes away.
func TestMaxConnsPerAddr(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Server{MaxConnsPerAddr: 2}
		l := startPipeServer(t, s, newTestHandler())
		// Pipes have no address: they all count as coming from one.
		a := dialPipe(t, l)
		b := dialPipe(t, l)
		for _, c := range []*Client{a, b} {
			if _, err := c.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
				t.Fatal(err)
			}
		}
		expectClosed(t, dialPipeRaw(t, l))
		a.Close()
		synctest.Wait()
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n != 1 {
			t.Fatalf("%d connections after one of 2 closed", n)
		}
		d := dialPipe(t, l)
		if _, err := d.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
			t.Fatalf("a connection within the limit again: %v", err)
		}
		if _, err := b.Call(testCtx(t), testProg, testVers, procNull, CredNone(), nil); err != nil {
			t.Fatal(err)
		}
	})
}
