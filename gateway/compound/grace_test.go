package compound

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"nfsgw/gateway/export"
	"nfsgw/gateway/fsal/localfs"
	"nfsgw/gateway/internal/pipenet"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfs4state"
	"nfsgw/gateway/nfsclient"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
	"nfsgw/grace"
)

// memRecorder is a recovery store in memory.
type memRecorder struct {
	mu     sync.Mutex
	owners []string
}

func (m *memRecorder) Add(_ context.Context, owner []byte, _ string, _ uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !slices.Contains(m.owners, string(owner)) {
		m.owners = append(m.owners, string(owner))
	}
	return nil
}

func (m *memRecorder) Remove(_ context.Context, owner []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owners = slices.DeleteFunc(m.owners, func(o string) bool { return o == string(owner) })
	return nil
}

func (m *memRecorder) has(owner string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Contains(m.owners, owner)
}

// serveGrace runs the engine on l with delegations on, the given grace
// gate and a recorder.
func serveGrace(t *testing.T, l net.Listener, gate grace.Gate, rec Recorder) (dir string, sm *nfs4state.Manager) {
	t.Helper()
	dir = t.TempDir()
	fs, err := localfs.New(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := export.NewTable([]*export.Export{{ID: 1, Pseudo: "/export", FS: fs, Squash: export.SquashNone, Delegations: true}})
	if err != nil {
		t.Fatal(err)
	}
	sm = nfs4state.NewManager(nfs4state.Config{Lease: 5 * time.Second})
	eng := New(Config{Exports: export.NewRegistry(tbl), State: sm, Grace: gate, Recorder: rec})
	srv := &oncrpc.Server{}
	srv.Register(nfs4.Program, nfs4.Version, nfs4.Version, eng)
	go srv.Serve(l)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return dir, sm
}

// TestReclaimCompleteRecordsClient: a 4.1 client that sent
// RECLAIM_COMPLETE is in the recovery store even with no state, so that
// after a restart grace waits for it (pynfs REBT2-4 use such a client to
// hold grace open).
func TestReclaimCompleteRecordsClient(t *testing.T) {
	synctest.Test(t, testReclaimCompleteRecordsClient)
}

func testReclaimCompleteRecordsClient(t *testing.T) {
	rec := &memRecorder{}
	l := pipenet.Listen()
	serveGrace(t, l, nil, rec)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "stateless", NoReclaimComplete: true})
	if rec.has("stateless") {
		t.Fatal("recorded before RECLAIM_COMPLETE")
	}
	rc := func() nfs4.Status {
		r, err := c.Do(ctx, c.NewCompound("rc").ReclaimComplete(false))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := rc(); st != nfs4.OK {
		t.Fatalf("RECLAIM_COMPLETE: %d", st)
	}
	if !rec.has("stateless") {
		t.Fatal("RECLAIM_COMPLETE did not record the client")
	}
	if st := rc(); st != nfs4.ErrCompleteAlready {
		t.Fatalf("second RECLAIM_COMPLETE: %d", st)
	}
}

// TestReclaimReadDelegation: CLAIM_PREVIOUS with delegate_type READ gets
// the read delegation back (pynfs REBT8), and counts as reclaim activity.
func TestReclaimReadDelegation(t *testing.T) {
	synctest.Test(t, testReclaimReadDelegation)
}

func testReclaimReadDelegation(t *testing.T) {
	gate := grace.NewSwitch()
	gate.Set(grace.GateReclaim, [][]byte{[]byte("holder")})
	l := pipenet.Listen()
	dir, sm := serveGrace(t, l, gate, &memRecorder{})
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, minor := range []uint32{0, 1} {
		owner := "holder"
		c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: owner, NoReclaimComplete: true,
			MinorVersion: nfsclient.Minor(minor), RetryTimeout: -1})
		fh, _, err := c.LookupPath(ctx, "/export/f")
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.Do(ctx, c.NewCompound("reclaim").PutFH(fh).Open(nfsclient.OpenArgs{
			ShareAccess: nfs4.ShareAccessRead, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte("o")},
			Claim: nfs4.ClaimPrevious, DelegType: nfs4.DelegRead}))
		if err != nil || r.Status != nfs4.OK {
			t.Fatalf("4.%d reclaim: %v %v", minor, err, r)
		}
		if d := r.Ops[1].Res.(*nfsclient.OpenRes).Delegation; d.Type != nfs4.DelegRead {
			t.Fatalf("4.%d reclaim: delegation %+v, want a read delegation", minor, d)
		}
		if sm.Delegations() != 1 {
			t.Fatalf("4.%d: %d delegations", minor, sm.Delegations())
		}
		c.Abandon()
		// Let the next incarnation of the owner replace this one.
		sm.Evict(c.ClientID())
	}
	if err := sm.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
}

// TestCBPathDown: SEQUENCE reports the back channel down once the
// connection that carried it is gone: CB_PATH_DOWN_SESSION for the
// session, CB_PATH_DOWN for the client.
func TestCBPathDown(t *testing.T) {
	synctest.Test(t, testCBPathDown)
}

func testCBPathDown(t *testing.T) {
	l := pipenet.Listen()
	serveGrace(t, l, nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialPipe(t, ctx, l, nfsclient.Options{ClientOwner: "cbdown"})
	sess := c.SessionID()
	nc, err := l.Dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	other := oncrpc.NewClient(nc)
	defer other.Close()
	// SEQUENCE over a second connection, on slots the client never uses.
	sequence := func(slot uint32) uint32 {
		t.Helper()
		args := compoundArgs(1, 1, func(e *xdr.Encoder) {
			e.Uint32(nfs4.OpSequence)
			e.Fixed(sess[:])
			e.Uint32(1) // seqid: a fresh slot
			e.Uint32(slot)
			e.Uint32(slot)
			e.Bool(false)
		})
		reply, err := other.Call(ctx, nfs4.Program, nfs4.Version, nfs4.ProcCompound, oncrpc.CredNone(), args)
		if err != nil {
			t.Fatal(err)
		}
		d := xdr.NewDecoder(reply)
		st := nfs4.Status(d.Uint32())
		d.Opaque(nfs4.MaxTagLen)
		d.Uint32()
		d.Uint32()
		if opSt := nfs4.Status(d.Uint32()); st != nfs4.OK || opSt != nfs4.OK {
			t.Fatalf("SEQUENCE: %d/%d", st, opSt)
		}
		d.Fixed(nfs4.SessionIDSize)
		d.Uint32()
		d.Uint32()
		d.Uint32()
		d.Uint32()
		flags := d.Uint32()
		if d.Err() != nil {
			t.Fatal(d.Err())
		}
		return flags
	}
	if f := sequence(40); f != 0 {
		t.Fatalf("flags %#x with a working back channel", f)
	}
	c.Abandon() // closes the connection that carries the back channel
	// Once the server has seen the connection go (everything in the
	// bubble waits), the next SEQUENCE says so.
	synctest.Wait()
	want := uint32(nfs4.SeqStatusCBPathDown | nfs4.SeqStatusCBPathDownSession)
	if f := sequence(41); f != want {
		t.Fatalf("flags %#x after the back channel went, want %#x", f, want)
	}
}

// silentCB is a 4.0 callback service that answers CB_NULL and never
// answers CB_COMPOUND.
type silentCB struct{ block chan struct{} }

func (s silentCB) HandleCall(ctx context.Context, call *oncrpc.Call, e *xdr.Encoder) oncrpc.AcceptStat {
	if call.Proc == 0 {
		return oncrpc.Success
	}
	select {
	case <-s.block:
	case <-ctx.Done():
	}
	return oncrpc.SystemErr
}

// TestRenewCBPathDown40: a 4.0 client whose callback service stops
// answering loses its callback path when a recall goes unanswered, and
// RENEW then says NFS4ERR_CB_PATH_DOWN while it still holds the
// delegation, which it can still return.
func TestRenewCBPathDown40(t *testing.T) {
	synctest.Test(t, testRenewCBPathDown40)
}

func testRenewCBPathDown40(t *testing.T) {
	l := pipenet.Listen()
	dir := t.TempDir()
	_, eng := serveDelegOn(t, l, dir, 2*time.Second)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	block := make(chan struct{})
	defer close(block)
	cbSrv := &oncrpc.Server{}
	const cbProg = 0x40000123
	cbSrv.Register(cbProg, 1, 1, silentCB{block})
	cbl := pipenet.Listen()
	go cbSrv.Serve(cbl)
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), time.Second)
		defer scancel()
		cbSrv.Shutdown(sctx)
	}()
	// The callback address names a port for the server to parse; the
	// connection goes to cbl.
	const port = 2049
	eng.cbDial = func(ctx context.Context, addr string) (net.Conn, error) {
		if addr != fmt.Sprintf("127.0.0.1:%d", port) {
			return nil, fmt.Errorf("callback to %s", addr)
		}
		return cbl.Dial(ctx)
	}
	c := dialPipe(t, ctx, l, nfsclient.Options{MinorVersion: nfsclient.Minor(0)})
	do := func(cmp *nfsclient.Compound) *nfsclient.Reply {
		t.Helper()
		r, err := c.Do(ctx, cmp)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	// A client of our own, with a working callback path.
	r := do(c.NewCompound("setclientid").SetClientID(nfsclient.SetClientIDArgs{Verifier: [8]byte{7}, ID: []byte("cb40"),
		CBProgram: cbProg, CBNetid: "tcp", CBAddr: fmt.Sprintf("127.0.0.1.%d.%d", port>>8, port&0xff)}))
	res := r.Ops[0].Res.(*nfsclient.SetClientIDRes)
	if r := do(c.NewCompound("confirm").SetClientIDConfirm(res.ClientID, res.Confirm)); r.Status != nfs4.OK {
		t.Fatalf("SETCLIENTID_CONFIRM: %v", r)
	}
	id := res.ClientID
	dirFH, _, err := c.LookupPath(ctx, "/export")
	if err != nil {
		t.Fatal(err)
	}
	fh, _, err := c.LookupPath(ctx, "/export/f")
	if err != nil {
		t.Fatal(err)
	}
	owner := nfsclient.StateOwner{ClientID: id, Owner: []byte("o")}
	// The callback path is probed in the background; once everything
	// waits, the probe is done. A delegation also needs a confirmed open
	// owner, so the first OPEN gets none.
	synctest.Wait()
	openF := func(seqid uint32) *nfsclient.OpenRes {
		t.Helper()
		r := do(c.NewCompound("open").PutFH(dirFH).Open(nfsclient.OpenArgs{Seqid: seqid, ShareAccess: nfs4.ShareAccessRead,
			Owner: owner, Claim: nfs4.ClaimNull, Name: "f"}))
		if r.Status != nfs4.OK {
			t.Fatalf("OPEN: %v", r)
		}
		return r.Ops[1].Res.(*nfsclient.OpenRes)
	}
	open := openF(0)
	if r := do(c.NewCompound("confirm").PutFH(fh).OpenConfirm(open.Stateid, 1)); r.Status != nfs4.OK {
		t.Fatalf("OPEN_CONFIRM: %v", r)
	}
	if open = openF(2); open.Delegation.Type != nfs4.DelegRead {
		t.Fatalf("no read delegation with a working callback path: %+v", open.Delegation)
	}
	if st := do(c.NewCompound("renew").Renew(id)).Status; st != nfs4.OK {
		t.Fatalf("RENEW with a working callback path: %d", st)
	}
	// Another client's write open starts a recall nobody answers.
	b := dialPipe(t, ctx, l, nfsclient.Options{RetryTimeout: -1})
	if _, err := b.OpenFile(ctx, "/export/f", nfs4.ShareAccessWrite, 0); nfsclient.StatusOf(err) != nfs4.ErrDelay {
		t.Fatalf("write open under the delegation: %v", err)
	}
	// The recall is on its way and unanswered; the path stays up until
	// the recall gives up (in the bubble's time), within a callback
	// timeout.
	synctest.Wait()
	if st := do(c.NewCompound("renew").Renew(id)).Status; st != nfs4.OK {
		t.Fatalf("RENEW while the recall waits: %d", st)
	}
	time.Sleep(eng.callbackTimeout())
	synctest.Wait()
	if st := do(c.NewCompound("renew").Renew(id)).Status; st != nfs4.ErrCbPathDown {
		t.Fatalf("RENEW after an unanswered recall: %d, want NFS4ERR_CB_PATH_DOWN", st)
	}
	if r := do(c.NewCompound("return").PutFH(fh).DelegReturn(open.Delegation.Stateid)); r.Status != nfs4.OK {
		t.Fatalf("DELEGRETURN after CB_PATH_DOWN: %v", r)
	}
}

// countingGate is always in grace for everyone and counts Reclaimed.
type countingGate struct {
	mu        sync.Mutex
	reclaimed int
}

func (g *countingGate) InGrace() bool { return true }
func (g *countingGate) Enter(_ []byte, reclaim bool) (func(), grace.Admission) {
	if reclaim {
		return func() {}, grace.Admitted
	}
	return func() {}, grace.RefuseGrace
}
func (g *countingGate) ReclaimDone([]byte)     {}
func (g *countingGate) Reclaimed(owner []byte) { g.mu.Lock(); g.reclaimed++; g.mu.Unlock() }
func (g *countingGate) count() int             { g.mu.Lock(); defer g.mu.Unlock(); return g.reclaimed }

// TestReclaimAttemptsKeepGrace: a reclaim refused because the client
// already sent RECLAIM_COMPLETE still tells the gate that recovery is
// under way (pynfs REBT4c reclaims twice with a thousand clients), and a
// successful one does too.
func TestReclaimAttemptsKeepGrace(t *testing.T) {
	synctest.Test(t, testReclaimAttemptsKeepGrace)
}

func testReclaimAttemptsKeepGrace(t *testing.T) {
	gate := &countingGate{}
	l := pipenet.Listen()
	dir, _ := serveGrace(t, l, gate, &memRecorder{})
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0666); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := dialPipe(t, ctx, l, nfsclient.Options{NoReclaimComplete: true, RetryTimeout: -1})
	fh, _, err := c.LookupPath(ctx, "/export/f")
	if err != nil {
		t.Fatal(err)
	}
	reclaim := func(owner string) nfs4.Status {
		r, err := c.Do(ctx, c.NewCompound("reclaim").PutFH(fh).Open(nfsclient.OpenArgs{
			ShareAccess: nfs4.ShareAccessRead, Owner: nfsclient.StateOwner{ClientID: c.ClientID(), Owner: []byte(owner)},
			Claim: nfs4.ClaimPrevious}))
		if err != nil {
			t.Fatal(err)
		}
		return r.Status
	}
	if st := reclaim("a"); st != nfs4.OK || gate.count() != 1 {
		t.Fatalf("reclaim: %d, %d reclaims seen", st, gate.count())
	}
	if r, err := c.Do(ctx, c.NewCompound("rc").ReclaimComplete(false)); err != nil || r.Status != nfs4.OK {
		t.Fatalf("RECLAIM_COMPLETE: %v %v", err, r)
	}
	if st := reclaim("b"); st != nfs4.ErrNoGrace || gate.count() != 2 {
		t.Fatalf("reclaim after RECLAIM_COMPLETE: %d, %d reclaims seen", st, gate.count())
	}
}
