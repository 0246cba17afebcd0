package admin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// fakeProvider is an in-memory Provider.
type fakeProvider struct {
	mu      sync.Mutex
	status  Status
	exports []ExportInfo
	clients []ClientInfo
	evicted []uint64
	evictFn func(id uint64) error // overrides the default lookup when set
	panic   bool
}

func (f *fakeProvider) Status() Status {
	if f.panic {
		panic("provider bug")
	}
	return f.status
}
func (f *fakeProvider) Exports() []ExportInfo { return f.exports }
func (f *fakeProvider) Clients() []ClientInfo { return f.clients }

func (f *fakeProvider) EvictClient(id uint64) error {
	if f.evictFn != nil {
		return f.evictFn(id)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, c := range f.clients {
		if c.ID == id {
			f.clients = append(f.clients[:i:i], f.clients[i+1:]...)
			f.evicted = append(f.evicted, id)
			return nil
		}
	}
	return fmt.Errorf("client %d: %w", id, ErrNotFound)
}

// Times carry a non-UTC zone and sub-second precision to check that
// nothing is truncated on the way.
var (
	start = time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("X", 3600))
	renew = time.Date(2026, 3, 4, 6, 7, 8, 987654321, time.UTC)
)

func newFake() *fakeProvider {
	return &fakeProvider{
		status: Status{NodeID: "node-a", Version: "v1.2.3", StartTime: start,
			Listen: []string{"127.0.0.1:2049", "[::1]:2049"}, Clients: 2, Sessions: 3, States: 17, InGrace: true},
		exports: []ExportInfo{
			{ID: 1, Pseudo: "/data", Path: "/srv/data", Access: "rw", Squash: "root", Clients: []string{"10.0.0.0/8", "192.168.1.7"}},
			{ID: 65535, Pseudo: "/ro", Path: "/srv/ro", Access: "ro", Squash: "all"},
		},
		clients: []ClientInfo{
			// An id above 2^53 would be rounded by a float64 JSON number.
			{ID: 0xfedcba9876543211, Owner: "Linux NFSv4.1 host-a", Addr: "10.1.2.3:812", MinorVersion: 1,
				Confirmed: true, Sessions: 1, States: 9, LastRenew: renew},
			{ID: 7, Owner: "0x00ff", Addr: "[fd00::1]:700", MinorVersion: 0, Confirmed: false, LastRenew: renew},
		},
	}
}

// startServer serves p on a loopback port and returns a connected client.
func startServer(t *testing.T, p Provider) (*Client, net.Addr) {
	t.Helper()
	ctx := context.Background()
	stop, addr, err := Serve(ctx, "127.0.0.1:0", p, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := Dial(dctx, addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, addr
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestRoundTrip(t *testing.T) {
	p := newFake()
	c, _ := startServer(t, p)
	ctx := ctxT(t)

	st, err := c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st.StartTime.Equal(p.status.StartTime) {
		t.Errorf("StartTime = %v, want %v", st.StartTime, p.status.StartTime)
	}
	st.StartTime = p.status.StartTime // compared above; zone pointers differ
	if !reflect.DeepEqual(st, p.status) {
		t.Errorf("Status =\n%+v\nwant\n%+v", st, p.status)
	}

	ex, err := c.ListExports(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ex, p.exports) {
		t.Errorf("ListExports =\n%+v\nwant\n%+v", ex, p.exports)
	}

	cl, err := c.ListClients(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cl) != len(p.clients) {
		t.Fatalf("ListClients returned %d clients, want %d", len(cl), len(p.clients))
	}
	for i := range cl {
		got, want := cl[i], p.clients[i]
		if !got.LastRenew.Equal(want.LastRenew) {
			t.Errorf("client %d LastRenew = %v, want %v", i, got.LastRenew, want.LastRenew)
		}
		got.LastRenew = want.LastRenew
		if !reflect.DeepEqual(got, want) {
			t.Errorf("client %d =\n%+v\nwant\n%+v", i, got, want)
		}
	}

	if err := c.EvictClient(ctx, 0xfedcba9876543211); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p.evicted, []uint64{0xfedcba9876543211}) {
		t.Errorf("provider saw evictions %x, want the full 64-bit id", p.evicted)
	}
}

func TestEmptyLists(t *testing.T) {
	c, _ := startServer(t, &fakeProvider{})
	ctx := ctxT(t)
	if ex, err := c.ListExports(ctx); err != nil || len(ex) != 0 {
		t.Errorf("ListExports = %v, %v; want empty, nil", ex, err)
	}
	if cl, err := c.ListClients(ctx); err != nil || len(cl) != 0 {
		t.Errorf("ListClients = %v, %v; want empty, nil", cl, err)
	}
}

func TestEvictNotFound(t *testing.T) {
	c, _ := startServer(t, newFake())
	err := c.EvictClient(ctxT(t), 42)
	if err == nil {
		t.Fatal("EvictClient of an unknown id succeeded")
	}
	if got := status.Code(err); got != codes.NotFound {
		t.Errorf("status code = %v, want NotFound (err %v)", got, err)
	}
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("errors.Is(%v, ErrNotFound) = false", err)
	}
	if want := "no client with id 0x000000000000002a"; err.Error() != want {
		t.Errorf("message = %q, want %q", err.Error(), want)
	}
}

func TestEvictProviderErrors(t *testing.T) {
	p := newFake()
	c, _ := startServer(t, p)
	ctx := ctxT(t)

	p.evictFn = func(uint64) error { return errors.New("disk on fire") }
	err := c.EvictClient(ctx, 1)
	if status.Code(err) != codes.Internal || errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("plain provider error: got %v (code %v), want Internal with the cause", err, status.Code(err))
	}

	p.evictFn = func(uint64) error { return status.Error(codes.FailedPrecondition, "client busy") }
	if err := c.EvictClient(ctx, 1); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("status error from provider: got %v, want FailedPrecondition passed through", err)
	}
}

// rawCodec sends and receives bytes untouched, to put arbitrary bodies on
// the wire.
type rawCodec struct{}

func (rawCodec) Name() string { return "json" } // claim JSON, send garbage
func (rawCodec) Marshal(v any) ([]byte, error) {
	return *v.(*[]byte), nil
}
func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

func TestMalformedRequest(t *testing.T) {
	p := newFake()
	c, addr := startServer(t, p)
	ctx := ctxT(t)

	raw, err := grpc.NewClient("passthrough:///"+addr.String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()

	for _, tc := range []struct{ method, body string }{
		{MethodEvictClient, `{"id":`},           // truncated
		{MethodEvictClient, `{"id":"abc"}`},     // not a number
		{MethodEvictClient, `{"id":5}`},         // number where the wire wants a string
		{MethodEvictClient, `{"id":"-1"}`},      // out of range
		{MethodEvictClient, `[1,2,3]`},          // wrong shape
		{MethodStatus, "\x00\xff\xfe not json"}, // binary
		{MethodListClients, `{"x":1} trailing`}, // trailing garbage
		{MethodListExports, `"just a string"`},  // wrong type
	} {
		body := []byte(tc.body)
		var out []byte
		err := raw.Invoke(ctx, tc.method, &body, &out)
		if status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s %q: got %v, want InvalidArgument", tc.method, tc.body, err)
		}
	}
	if len(p.evicted) != 0 {
		t.Errorf("malformed requests evicted %v", p.evicted)
	}

	// Empty bodies are the conventional empty message and unknown fields
	// are ignored, for forward compatibility.
	for _, body := range []string{"", "{}", `{"future_field":true}`} {
		b := []byte(body)
		var out []byte
		if err := raw.Invoke(ctx, MethodStatus, &b, &out); err != nil {
			t.Errorf("Status with body %q: %v", body, err)
		}
	}

	// The server survived.
	if _, err := c.Status(ctx); err != nil {
		t.Fatalf("server unusable after malformed requests: %v", err)
	}
}

func TestUnknownMethod(t *testing.T) {
	c, _ := startServer(t, newFake())
	var out StatusResponse
	err := c.conn.Invoke(ctxT(t), "/"+ServiceName+"/Reboot", &StatusRequest{}, &out)
	if status.Code(err) != codes.Unimplemented {
		t.Errorf("unknown method: got %v, want Unimplemented", err)
	}
}

func TestProviderPanic(t *testing.T) {
	p := newFake()
	p.panic = true
	c, _ := startServer(t, p)
	ctx := ctxT(t)
	if _, err := c.Status(ctx); status.Code(err) != codes.Internal {
		t.Errorf("panicking provider: got %v, want Internal", err)
	}
	if _, err := c.ListExports(ctx); err != nil {
		t.Errorf("server unusable after a provider panic: %v", err)
	}
}

func TestDialUnreachable(t *testing.T) {
	// Take a free port and release it so nothing listens there.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	begin := time.Now()
	_, err = Dial(ctxT(t), addr)
	if err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "refused") {
		t.Errorf("Dial error %q does not carry the network error", err)
	}
	if time.Since(begin) > 3*time.Second {
		t.Errorf("Dial took %v; it should fail fast on a refused connection", time.Since(begin))
	}
}

func TestDialNotGRPC(t *testing.T) {
	// A listener that accepts and closes, like a port serving something
	// else entirely.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, err = Dial(ctxT(t), l.Addr().String())
	if err == nil {
		t.Fatal("Dial to a non-gRPC peer succeeded")
	}
}

func TestServeStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	stop, addr, err := Serve(ctx, "127.0.0.1:0", newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // ctx ending stops the server...
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("tcp", addr.String())
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("server still accepting after ctx was cancelled")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop() // ...and stop stays safe to call afterwards,
	stop() // as often as wanted.

	if _, _, err := Serve(context.Background(), "256.0.0.1:0", newFake(), nil); err == nil {
		t.Error("Serve on an invalid address succeeded")
	}
}

func TestPrintableOwner(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte("Linux NFSv4.1 host-a"), "Linux NFSv4.1 host-a"},
		{[]byte("hôte-é"), "hôte-é"},
		{[]byte{0xff, 0x00, 0x10}, "0xff0010"},
		{[]byte("tab\there"), "0x7461620968657265"},
		{nil, ""},
	} {
		if got := PrintableOwner(tc.in); got != tc.want {
			t.Errorf("PrintableOwner(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
