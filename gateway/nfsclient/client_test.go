package nfsclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

func dialFake(t *testing.T, s *fakeServer, opts Options) *Client {
	t.Helper()
	if opts.MinorVersion == nil {
		opts.MinorVersion = Minor(s.minor)
	}
	cl, err := newClient(context.Background(), s, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestClient41Flow(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.mkfile("/a/b/hello.txt", []byte("hello, world"))
	cl := dialFake(t, s, Options{UID: 1000, GID: 1000})

	if got := s.ops()[:3]; !reflect.DeepEqual(got, []uint32{nfs4.OpExchangeID, nfs4.OpCreateSession, nfs4.OpSequence}) {
		t.Fatalf("setup ops %v", got)
	}
	if s.count(nfs4.OpReclaimComplete) != 1 {
		t.Error("no RECLAIM_COMPLETE")
	}
	if cl.SessionID() != s.sess || cl.ClientID() != s.clientID || cl.MaxRead() != 256<<10 {
		t.Errorf("session %x client %x maxread %d", cl.SessionID(), cl.ClientID(), cl.MaxRead())
	}
	if _, ok := s.cb.(*cbServer); !ok {
		t.Error("no callback handler installed")
	}

	fh, attrs, err := cl.LookupPath(ctx, "/a/./b//hello.txt")
	if err != nil || attrs.Type != nfs4.NF4REG || attrs.Size != 12 {
		t.Fatalf("LookupPath: %v %+v", err, attrs)
	}
	if _, _, err := cl.LookupPath(ctx, "/a/missing"); StatusOf(err) != nfs4.ErrNoent ||
		!errors.Is(err, &StatusError{Op: nfs4.OpLookup, Status: nfs4.ErrNoent}) {
		t.Fatalf("missing: %v", err)
	}
	bfh, _, err := cl.LookupPath(ctx, "/a/b/hello.txt/../")
	if err != nil {
		t.Fatal(err)
	}
	if a, err := cl.Getattr(ctx, bfh); err != nil || a.Type != nfs4.NF4DIR {
		t.Fatalf("Getattr dir: %v %+v", err, a)
	}
	if a, err := cl.GetattrMask(ctx, fh, MakeBitmap(nfs4.AttrSize, nfs4.AttrFileid)); err != nil || a.Size != 12 || a.Owner != "" {
		t.Fatalf("GetattrMask: %v %+v", err, a)
	}

	data, err := cl.ReadFile(ctx, "/a/b/hello.txt")
	if err != nil || string(data) != "hello, world" {
		t.Fatalf("ReadFile: %q %v", data, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), 40000) // 640000 bytes: several WRITEs
	if err := cl.WriteFile(ctx, "/a/new.bin", big, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := cl.ReadFile(ctx, "/a/new.bin"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back: %d bytes, %v", len(got), err)
	}
	if s.count(nfs4.OpCommit) != 1 {
		t.Errorf("%d COMMITs", s.count(nfs4.OpCommit))
	}

	dfh, err := cl.Mkdir(ctx, bfh, "sub", 0o750)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Mkdir(ctx, bfh, "sub", 0o750); StatusOf(err) != nfs4.ErrExist {
		t.Fatalf("second Mkdir: %v", err)
	}
	lfh, err := cl.Symlink(ctx, dfh, "ln", "../hello.txt")
	if err != nil {
		t.Fatal(err)
	}
	if tgt, err := cl.Readlink(ctx, lfh); err != nil || tgt != "../hello.txt" {
		t.Fatalf("Readlink %q %v", tgt, err)
	}
	if err := cl.Link(ctx, fh, dfh, "hard"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Rename(ctx, dfh, "hard", bfh, "hard2"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Remove(ctx, bfh, "hard2"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Setattr(ctx, fh, new(SetAttrs).SetMode(0o600)); err != nil {
		t.Fatal(err)
	}
	if a, _ := cl.Getattr(ctx, fh); a.Mode != 0o600 {
		t.Fatalf("mode %o", a.Mode)
	}

	// Readdir follows cookies across READDIR replies of 2 entries.
	s.mu.Lock()
	s.readdirPer = 2
	s.mu.Unlock()
	var want []string
	for i := 0; i < 7; i++ {
		name := fmt.Sprintf("f%d", i)
		want = append(want, name)
		f, err := cl.Create(ctx, dfh, name, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	want = append([]string{"ln"}, want...)
	before := s.count(nfs4.OpReaddir)
	ents, err := cl.Readdir(ctx, dfh)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
		if len(e.Attrs.FH) == 0 || e.Attrs.Fileid == 0 {
			t.Errorf("entry %s attrs %+v", e.Name, e.Attrs)
		}
	}
	if !reflect.DeepEqual(names, want) {
		t.Fatalf("Readdir %v", names)
	}
	if n := s.count(nfs4.OpReaddir) - before; n != 4 {
		t.Errorf("%d READDIRs for 8 entries by 2", n)
	}

	// Open file methods, locks included.
	f, err := cl.OpenAt(ctx, bfh, "hello.txt", nfs4.ShareAccessBoth, nfs4.ShareDenyNone)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(ctx, []byte("HELLO"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, eof, err := f.Read(ctx, buf, 0)
	if err != nil || !eof || string(buf[:n]) != "HELLO, world" {
		t.Fatalf("Read %q %v %v", buf[:n], eof, err)
	}
	if err := f.Lock(ctx, nfs4.WriteLT, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := f.Lock(ctx, nfs4.ReadLT, 20, 10); err != nil {
		t.Fatal(err)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 1000, 5); err != nil || d == nil || d.Offset != 1000 || string(d.Owner.Owner) != "someone" {
		t.Fatalf("LockT conflict: %+v %v", d, err)
	}
	if d, err := f.LockT(ctx, nfs4.WriteLT, 0, 5); err != nil || d != nil {
		t.Fatalf("LockT free: %+v %v", d, err)
	}
	if err := f.Unlock(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	if err := f.Setattr(ctx, new(SetAttrs).SetSize(5)); err != nil {
		t.Fatal(err)
	}
	if err := f.Downgrade(ctx, nfs4.ShareAccessRead, nfs4.ShareDenyNone); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.count(nfs4.OpFreeStateID) != 1 {
		t.Error("lock stateid not freed")
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}

	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	ops := s.ops()
	if got := ops[len(ops)-2:]; !reflect.DeepEqual(got, []uint32{nfs4.OpDestroySession, nfs4.OpDestroyClientID}) {
		t.Fatalf("close ops %v", got)
	}
	if len(s.states) != 0 {
		t.Errorf("state left on the server: %d", len(s.states))
	}
}

// Many goroutines share one Client; the fake server fails the test if two
// requests use one slot at once or a slot's sequence ID is wrong.
func TestClient41Concurrent(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.maxSlots = 4
	s.sleep = 200 * time.Microsecond
	s.mkfile("/data", bytes.Repeat([]byte{7}, 8192))
	cl := dialFake(t, s, Options{})
	defer cl.Close()
	if n := len(cl.sess.slots.slots); n != 4 {
		t.Fatalf("%d slots", n)
	}
	f, err := cl.OpenFile(ctx, "/data", nfs4.ShareAccessRead, nfs4.ShareDenyNone)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			buf := make([]byte, 1024)
			for i := 0; i < 50; i++ {
				if g%2 == 0 {
					if n, _, err := f.Read(ctx, buf, uint64(i*100)); err != nil || n != 1024 {
						t.Errorf("Read: %d %v", n, err)
						return
					}
				} else if _, err := cl.Getattr(ctx, f.FH); err != nil {
					t.Error(err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	if s.peak < 2 {
		t.Errorf("peak concurrency %d: requests did not overlap", s.peak)
	}
	if s.peak > 4 {
		t.Errorf("peak concurrency %d with 4 slots", s.peak)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestClient40Flow(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 0)
	s.lease = 1 // RENEW every third of a second
	dir := s.mkfile("/d", nil)
	_ = dir
	cl := dialFake(t, s, Options{})
	if cl.sess != nil || cl.ClientID() != 0xc0 || !s.confirmed {
		t.Fatalf("4.0 setup: %+v", cl.sess)
	}
	dfh, _, err := cl.LookupPath(ctx, "/d")
	if err != nil {
		t.Fatal(err)
	}
	// A new open-owner's OPEN is confirmed; the owner's seqids then follow
	// through LOCK (new lock-owner), LOCKU, LOCK (existing), CLOSE.
	f, err := cl.Create(ctx, dfh, "x", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if s.count(nfs4.OpOpenConfirm) != 1 || f.Stateid().Seqid != 2 {
		t.Fatalf("OPEN_CONFIRM: %d, stateid %+v", s.count(nfs4.OpOpenConfirm), f.Stateid())
	}
	if _, err := f.Write(ctx, []byte("abc"), 0, nfs4.FileSync); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := f.Lock(ctx, nfs4.WriteLT, uint64(i*10), 5); err != nil {
			t.Fatal(i, err)
		}
		if err := f.Unlock(ctx, uint64(i*10), 5); err != nil {
			t.Fatal(i, err)
		}
	}
	if err := f.Downgrade(ctx, nfs4.ShareAccessRead, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s.count(nfs4.OpReleaseLockOwner) != 1 {
		t.Error("no RELEASE_LOCKOWNER")
	}
	// The pooled owner is reused: no second OPEN_CONFIRM, seqids continue.
	f, err = cl.OpenAt(ctx, dfh, "x", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.count(nfs4.OpOpenConfirm) != 1 {
		t.Error("reused owner confirmed again")
	}
	// A failed OPEN (NOENT) still consumes the seqid (RFC 7530 section 9.1.7).
	g, err := cl.OpenAt(ctx, dfh, "nope", nfs4.ShareAccessRead, 0)
	if StatusOf(err) != nfs4.ErrNoent || g != nil {
		t.Fatalf("open missing: %v", err)
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	if s.count(nfs4.OpRenew) < 1 {
		t.Error("no RENEW")
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
}

// A request whose reply was lost leaves the slot's sequence ID uncertain;
// the next request on the slot must succeed whether or not the server had
// processed the lost one.
func TestUncertainSlot(t *testing.T) {
	ctx := context.Background()
	for _, processed := range []bool{true, false} {
		t.Run(fmt.Sprintf("processed=%v", processed), func(t *testing.T) {
			s := newFakeServer(t, 1)
			s.maxSlots = 1
			cl := dialFake(t, s, Options{})
			defer cl.Close()
			var once sync.Once
			s.loseReply = func(ops []uint32) (bool, bool) {
				lost := false
				once.Do(func() { lost = true })
				if !lost {
					return true, false
				}
				return processed, processed
			}
			if _, err := cl.Getattr(ctx, nil); !errors.Is(err, errLost) {
				t.Fatalf("lost call: %v", err)
			}
			if !cl.sess.slots.slots[0].uncertain {
				t.Fatal("slot not marked uncertain")
			}
			before := s.count(nfs4.OpSequence)
			if _, _, err := cl.LookupPath(ctx, "/"); err != nil {
				t.Fatal(err)
			}
			want := 1
			if !processed {
				want = 2 // SEQ_MISORDERED, then the lost sequence ID again
			}
			if got := s.count(nfs4.OpSequence) - before; got != want {
				t.Errorf("%d SEQUENCEs, want %d", got, want)
			}
			if cl.sess.slots.slots[0].uncertain || cl.sess.slots.slots[0].seq != s.slots[0].seq {
				t.Errorf("slot %+v, server at %d", cl.sess.slots.slots[0], s.slots[0].seq)
			}
		})
	}
}

func TestDoLowLevel(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.mkfile("/f", []byte("x"))
	cl := dialFake(t, s, Options{})
	defer cl.Close()

	c := cl.NewCompound("low").PutRootFH().Lookup("f").GetFH().Getattr(MakeBitmap(nfs4.AttrSize))
	r, err := cl.Do(ctx, c)
	if err != nil || r.Err() != nil || r.Tag != "low" || r.NumResults != 5 || len(r.Ops) != 4 || r.Sequence == nil {
		t.Fatalf("%v %+v", err, r)
	}
	if r.Ops[3].Res.(*GetattrRes).Attrs.Size != 1 || r.Sequence.Res.(*SequenceRes).SessionID != s.sess {
		t.Fatalf("%+v", r.Ops)
	}
	// The same Compound can be sent again on a fresh slot sequence.
	if r, err = cl.Do(ctx, c); err != nil || r.Err() != nil {
		t.Fatal(err, r.Err())
	}
	// A failing op ends the reply.
	r, err = cl.Do(ctx, cl.NewCompound("").PutRootFH().Lookup("nope").GetFH())
	if err != nil || len(r.Ops) != 2 || StatusOf(r.Err()) != nfs4.ErrNoent {
		t.Fatalf("%v %+v", err, r)
	}
	// Without SEQUENCE the server refuses: OP_NOT_IN_SESSION.
	r, err = cl.Do(ctx, cl.NewCompound("").NoSequence().PutRootFH())
	if err != nil || r.Sequence != nil || r.Status != nfs4.ErrOpNotInSession {
		t.Fatalf("%v %+v", err, r)
	}
	// An explicit SEQUENCE on a reserved slot, with a wrong sequence ID,
	// then the right one.
	sl, err := cl.AcquireSlot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	args := sl.Args(false)
	args.SequenceID += 5
	r, err = cl.Do(ctx, cl.NewCompound("").NoSequence().Sequence(args).PutRootFH())
	if err != nil || r.Status != nfs4.ErrSeqMisordered || len(r.Ops) != 1 {
		t.Fatalf("%v %+v", err, r)
	}
	r, err = cl.Do(ctx, cl.NewCompound("").NoSequence().Sequence(sl.Args(false)).PutRootFH())
	if err != nil || r.Err() != nil {
		t.Fatal(err, r.Err())
	}
	sl.Release(true)
	// Slot state stays consistent for automatic SEQUENCEs afterwards.
	if _, err := cl.Getattr(ctx, s.root.fh); err != nil {
		t.Fatal(err)
	}
	// An unknown opcode comes back as ILLEGAL.
	r, err = cl.Do(ctx, cl.NewCompound("").PutRootFH().Raw(9999, nil))
	if err != nil || r.Ops[1].Status != nfs4.ErrNotsupp {
		t.Fatalf("%v %+v", err, r)
	}
	// A wrong minor version.
	r, err = cl.Do(ctx, cl.NewCompound("").SetMinorVersion(9).PutRootFH())
	if err != nil || r.Status != nfs4.ErrMinorVersMismatch || r.NumResults != 0 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := cl.Getattr(ctx, s.root.fh); err != nil {
		t.Fatal("after mismatch:", err)
	}
	// CallRaw and NULL.
	e := &xdr.Encoder{}
	e.Uint32(1)
	e.Uint32(nfs4.OpPutRootFH)
	b, err := cl.CallRaw(ctx, 1, e.Buf)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := DecodeCompoundReply(b); err != nil || r.Status != nfs4.ErrOpNotInSession {
		t.Fatalf("%v %+v", err, r)
	}
	if err := cl.Null(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRetryDelay(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.mkfile("/f", []byte("data"))
	cl := dialFake(t, s, Options{})
	defer cl.Close()
	f, err := cl.OpenFile(ctx, "/f", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	delays := 3
	s.mu.Lock()
	s.inject = func(op uint32) nfs4.Status {
		if op == nfs4.OpRead && delays > 0 {
			delays--
			return nfs4.ErrDelay
		}
		return 0
	}
	s.mu.Unlock()
	buf := make([]byte, 10)
	if n, _, err := f.Read(ctx, buf, 0); err != nil || string(buf[:n]) != "data" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	// With retries disabled the status surfaces.
	cl.opts.RetryTimeout = -1
	delays = 1
	if _, _, err := f.Read(ctx, buf, 0); StatusOf(err) != nfs4.ErrDelay {
		t.Fatal(err)
	}
}

func TestDelegationRecall(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.grantDeleg = true
	s.mkfile("/f", []byte("data"))
	cl := dialFake(t, s, Options{})
	defer cl.Close()
	f, err := cl.OpenFile(ctx, "/f", nfs4.ShareAccessRead, 0)
	if err != nil {
		t.Fatal(err)
	}
	d := f.Open.Delegation
	if d.Type != nfs4.DelegRead || len(cl.Delegations()) != 1 {
		t.Fatalf("delegation %+v", d)
	}
	// The server recalls over the back channel; with no OnRecall hook the
	// client returns the delegation itself.
	e := &xdr.Encoder{}
	args := cbArgs(1, cbSeqOp(s.sess, 1, 0), cbRecallOp(d.Stateid, f.FH))
	if st := s.cb.HandleCall(ctx, &oncrpc.Call{Prog: defaultCBProgram, Vers: 1, Proc: 1, Args: args}, e); st != oncrpc.Success {
		t.Fatal(st)
	}
	if r, err := decodeCBReply(e.Buf); err != nil || r.status != nfs4.OK {
		t.Fatalf("%v %+v", err, r)
	}
	deadline := time.Now().Add(2 * time.Second)
	for s.count(nfs4.OpDelegReturn) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if s.count(nfs4.OpDelegReturn) != 1 || len(cl.Delegations()) != 0 {
		t.Fatal("delegation not returned")
	}
	if err := f.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCloseReleasesState(t *testing.T) {
	ctx := context.Background()
	s := newFakeServer(t, 1)
	s.grantDeleg = true
	s.mkfile("/f", []byte("data"))
	cl := dialFake(t, s, Options{})
	var files []*OpenFile
	for i := 0; i < 3; i++ {
		f, err := cl.OpenFile(ctx, "/f", nfs4.ShareAccessRead, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if err := files[0].Lock(ctx, nfs4.ReadLT, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := cl.Close(); err != nil {
		t.Fatal(err)
	}
	if len(s.states) != 0 || s.hasSession {
		var kinds []string
		for _, st := range s.states {
			kinds = append(kinds, fmt.Sprintf("%+v", *st))
		}
		sort.Strings(kinds)
		t.Fatalf("left: %v session %v", kinds, s.hasSession)
	}
	if s.count(nfs4.OpClose) != 3 || s.count(nfs4.OpDelegReturn) != 3 {
		t.Errorf("CLOSE %d DELEGRETURN %d", s.count(nfs4.OpClose), s.count(nfs4.OpDelegReturn))
	}
}

func BenchmarkReadPath(b *testing.B) {
	ctx := context.Background()
	s := newFakeServer(&testing.T{}, 1)
	s.mkfile("/f", bytes.Repeat([]byte{1}, 64<<10))
	cl, err := newClient(ctx, s, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	f, err := cl.OpenFile(ctx, "/f", nfs4.ShareAccessRead, 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := f.Read(ctx, buf, 0); err != nil {
			b.Fatal(err)
		}
	}
}
