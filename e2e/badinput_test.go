package e2e

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// rawConn opens a TCP connection to the gateway for hand-made records.
func rawConn(t *testing.T, g *gateway) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

// expectClosed waits for the server to close the connection.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == io.EOF || (err != nil && !isTimeout(err)) {
			return
		}
		if err != nil {
			t.Fatal("server did not close the connection")
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestBadInputKeepsServing(t *testing.T) {
	g := startGateway(t)

	// A record marker announcing 1 GiB: closed without reading it.
	c := rawConn(t, g)
	binary.Write(c, binary.BigEndian, uint32(0x80000000|1<<30))
	expectClosed(t, c)

	// A fragmented record whose fragments add up past the limit.
	c = rawConn(t, g)
	frag := make([]byte, 4+512<<10)
	binary.BigEndian.PutUint32(frag, 512<<10)
	for i := 0; i < 4; i++ {
		if _, err := c.Write(frag); err != nil {
			break
		}
	}
	expectClosed(t, c)

	// Garbage that is not RPC at all.
	c = rawConn(t, g)
	msg := []byte{0x80, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8}
	c.Write(msg)
	expectClosed(t, c)

	// A COMPOUND claiming 2^32-1 operations and carrying one.
	c = rawConn(t, g)
	var body []byte
	body = binary.BigEndian.AppendUint32(body, 42)                // xid
	body = binary.BigEndian.AppendUint32(body, 0)                 // CALL
	body = binary.BigEndian.AppendUint32(body, 2)                 // rpcvers
	body = binary.BigEndian.AppendUint32(body, nfs4.Program)      //
	body = binary.BigEndian.AppendUint32(body, 4)                 // vers
	body = binary.BigEndian.AppendUint32(body, nfs4.ProcCompound) //
	body = append(body, make([]byte, 16)...)                      // AUTH_NONE cred and verf
	body = binary.BigEndian.AppendUint32(body, 0)                 // tag
	body = binary.BigEndian.AppendUint32(body, 0)                 // minor
	body = binary.BigEndian.AppendUint32(body, 0xffffffff)        // numops
	body = binary.BigEndian.AppendUint32(body, nfs4.OpPutRootFH)
	rec := binary.BigEndian.AppendUint32(nil, 0x80000000|uint32(len(body)))
	c.Write(append(rec, body...))
	reply := make([]byte, 4)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatalf("no reply to an absurd op count: %v", err)
	}

	// After all that, a real client is served normally.
	ctx := ctxT(t)
	cl := g.dial(t, 0, 0, nil)
	if _, _, err := cl.LookupPath(ctx, "/export"); err != nil {
		t.Fatalf("server stopped serving: %v", err)
	}
}
