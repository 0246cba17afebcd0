package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// dialDeleg connects a 4.1 client with the given options (owner filled in).
func (g *gateway) dialDeleg(t *testing.T, name string, opts nfsclient.Options) *nfsclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	opts.ClientOwner = fmt.Sprintf("%s-%s-%d", t.Name(), name, time.Now().UnixNano())
	seen := &atomic.Int32{}
	user := opts.OnCallback
	opts.OnCallback = func(op uint32) {
		if op == nfsclient.CBOpSequence || op == nfsclient.CBOpRecall {
			seen.Add(1)
		}
		if user != nil {
			user(op)
		}
	}
	c, err := nfsclient.Dial(ctx, g.Addr, opts)
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, tail(g.log.String(), 20))
	}
	callbacksSeen.Store(c, seen)
	t.Cleanup(func() { c.Abandon(); callbacksSeen.Delete(c) })
	return c
}

// callbacksSeen counts, per client dialled by dialDeleg, the callbacks
// (CB_SEQUENCE or CB_RECALL) that reached it.
var callbacksSeen sync.Map // *nfsclient.Client → *atomic.Int32

func callbacksOf(c *nfsclient.Client) int32 {
	if v, ok := callbacksSeen.Load(c); ok {
		return v.(*atomic.Int32).Load()
	}
	return 0
}

// readDelegation opens path read-only with c and checks that a read
// delegation came with the open.
func readDelegation(t *testing.T, c *nfsclient.Client, path string) (*nfsclient.OpenFile, nfs4.Stateid) {
	t.Helper()
	var f *nfsclient.OpenFile
	if testBackend(t).Name() == "ceph" {
		// Every delegation is a libcephfs one there, which CephFS
		// recalls whenever its caps move, as they may for a moment
		// after the test planted the file: wait for one that lasts.
		f, _ = delegatedOpen(t, c, path)
	} else {
		var err error
		if f, err = c.OpenFile(ctxT(t), path, nfs4.ShareAccessRead, 0); err != nil {
			t.Fatal(err)
		}
	}
	d := f.Open.Delegation
	if d.Type != nfs4.DelegRead {
		t.Fatalf("no read delegation: %+v", d)
	}
	if d.Recall || d.Permissions.Who != "EVERYONE@" {
		t.Fatalf("delegation %+v", d)
	}
	// READ under the delegation stateid works.
	r, err := c.Do(ctxT(t), c.NewCompound("read").PutFH(f.FH).Read(d.Stateid, 0, 100))
	if err != nil || r.Status != nfs4.OK {
		t.Fatalf("READ with delegation stateid: %v %v", err, r)
	}
	return f, d.Stateid
}

// openWriteUntil opens path for write with c (which does not retry),
// counting NFS4ERR_DELAY answers, until it succeeds or the deadline.
func openWriteUntil(t *testing.T, c *nfsclient.Client, path string, deadline time.Duration) (delays int, f *nfsclient.OpenFile) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		f, err := c.OpenFile(ctxT(t), path, nfs4.ShareAccessWrite, 0)
		if err == nil {
			return delays, f
		}
		if nfsclient.StatusOf(err) != nfs4.ErrDelay {
			t.Fatalf("open for write: %v", err)
		}
		delays++
		if time.Now().After(end) {
			t.Fatalf("open for write still delayed after %v", deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReadDelegationRecall: A holds a read delegation, B's write open gets
// NFS4ERR_DELAY while A is recalled, A returns the delegation (nfsclient
// does DELEGRETURN on CB_RECALL), and B's retry succeeds.
func TestReadDelegationRecall(t *testing.T) {
	g := startGateway(t)
	g.plant(t, "d.txt", []byte("delegated"))
	var recalls atomic.Int32
	a := g.dialDeleg(t, "a", nfsclient.Options{OnCallback: func(op uint32) {
		if op == nfsclient.CBOpRecall {
			recalls.Add(1)
		}
	}})
	b := g.dialDeleg(t, "b", nfsclient.Options{RetryTimeout: -1})
	fa, _ := readDelegation(t, a, "/export/d.txt")
	recalls.Store(0) // CephFS may have recalled an earlier one (readDelegation)

	// Another reader neither conflicts nor recalls.
	if fb, err := b.OpenFile(ctxT(t), "/export/d.txt", nfs4.ShareAccessRead, 0); err != nil {
		t.Fatal(err)
	} else if err := fb.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if recalls.Load() != 0 {
		t.Fatal("a reader recalled the delegation")
	}

	start := time.Now()
	delays, fb := openWriteUntil(t, b, "/export/d.txt", 10*time.Second)
	if delays == 0 {
		t.Fatal("write open succeeded at once despite the delegation")
	}
	if recalls.Load() != 1 {
		t.Fatalf("%d CB_RECALLs, want 1", recalls.Load())
	}
	if time.Since(start) > 4*time.Second {
		t.Fatalf("write open took %v: the return did not end the wait", time.Since(start))
	}
	if len(a.Delegations()) != 0 {
		t.Fatal("client A still holds the delegation")
	}
	if err := fb.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if err := fa.Close(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if f := a.SeqStatusFlags(); f&nfs4.SeqStatusRecallableStateRevoked != 0 {
		t.Fatalf("status flags %#x after a clean return", f)
	}
}

// TestReadDelegationRevoked: a client that ignores the recall loses the
// delegation after a lease; the writer then gets in, and the holder sees
// SEQ4_STATUS_RECALLABLE_STATE_REVOKED until it frees the stateid.
func TestReadDelegationRevoked(t *testing.T) {
	g := startGateway(t, "--lease", "2")
	g.plant(t, "d.txt", []byte("delegated"))
	recalled := make(chan nfsclient.Recall, 4)
	a := g.dialDeleg(t, "a", nfsclient.Options{OnRecall: func(r nfsclient.Recall) { recalled <- r }})
	b := g.dialDeleg(t, "b", nfsclient.Options{RetryTimeout: -1})
	fa, dsid := readDelegation(t, a, "/export/d.txt")
	for len(recalled) > 0 {
		<-recalled // CephFS may have recalled an earlier one (readDelegation)
	}

	start := time.Now()
	delays, fb := openWriteUntil(t, b, "/export/d.txt", 10*time.Second)
	if delays == 0 {
		t.Fatal("write open succeeded at once despite the delegation")
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("delegation revoked after %v, long before a lease", el)
	}
	select {
	case r := <-recalled:
		if r.Stateid.Other != dsid.Other || string(r.FH) != string(fa.FH) {
			t.Fatalf("recall %+v", r)
		}
	default:
		t.Fatal("no CB_RECALL")
	}
	fb.Close(ctxT(t))

	ctx := ctxT(t)
	r, err := a.Do(ctx, a.NewCompound("read").PutFH(fa.FH).Read(dsid, 0, 10))
	if err != nil || r.Status != nfs4.ErrDelegRevoked {
		t.Fatalf("READ with a revoked delegation: %v %v", err, r)
	}
	if f := a.SeqStatusFlags(); f&nfs4.SeqStatusRecallableStateRevoked == 0 {
		t.Fatalf("status flags %#x, want RECALLABLE_STATE_REVOKED", f)
	}
	r, err = a.Do(ctx, a.NewCompound("free").FreeStateID(dsid))
	if err != nil || r.Status != nfs4.OK {
		t.Fatalf("FREE_STATEID: %v %v", err, r)
	}
	if _, err := a.Do(ctx, a.NewCompound("seq")); err != nil {
		t.Fatal(err)
	}
	if f := a.SeqStatusFlags(); f&nfs4.SeqStatusRecallableStateRevoked != 0 {
		t.Fatalf("status flags %#x after FREE_STATEID", f)
	}
}

// TestReadDelegationSilentClient: a client whose back channel never
// answers (its CB_SEQUENCE handling blocks) has its delegation revoked
// once the callback times out, and the writer gets in.
func TestReadDelegationSilentClient(t *testing.T) {
	g := startGateway(t, "--lease", "2")
	g.plant(t, "d.txt", []byte("delegated"))
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	a := g.dialDeleg(t, "a", nfsclient.Options{OnCallback: func(op uint32) {
		if op == nfsclient.CBOpSequence {
			<-block
		}
	}})
	b := g.dialDeleg(t, "b", nfsclient.Options{RetryTimeout: -1})
	readDelegation(t, a, "/export/d.txt")
	delays, fb := openWriteUntil(t, b, "/export/d.txt", 10*time.Second)
	if delays == 0 {
		t.Fatal("write open succeeded at once despite the delegation")
	}
	fb.Close(ctxT(t))
}

// plant writes a file through the gateway with a client of its own that is
// gone before the test starts. Not through the backend directly: on CephFS
// that client would keep caps on the file, and their settling recalls the
// first delegations granted on it.
func (g *gateway) plant(t *testing.T, name string, data []byte) {
	t.Helper()
	c := g.dial(t, 0, 0, nil)
	if err := c.WriteFile(ctxT(t), "/export/"+name, data, 0666); err != nil {
		t.Fatal(err)
	}
	c.Close()
}
