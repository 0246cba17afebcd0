package compound

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/xdr"
)

// TestReplyLimit40 is issue 11's COMPOUND: 250 READs of 1 MiB in one
// NFSv4.0 request. Its reply must stop at the record size, with the data
// that fits (a full READ, then a short one) and NFS4ERR_RESOURCE for the
// first READ that has no room left (RFC 7530 section 15.2), instead of
// growing to 250 MiB.
func TestReplyLimit40(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "big"), bytes.Repeat([]byte("x"), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s := newTestServerAt(t, dir)
	const reads = 250
	args := compoundArgs(0, 3+reads, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		e.Uint32(nfs4.OpLookup)
		e.String("big")
		for range reads {
			e.Uint32(nfs4.OpRead)
			e.Fixed(make([]byte, 16)) // anonymous stateid
			e.Uint64(0)
			e.Uint32(1 << 20)
		}
	})
	st, res, d := call(t, s, args)
	if st != nfs4.ErrResource {
		t.Fatalf("COMPOUND status %d, want NFS4ERR_RESOURCE", st)
	}
	if size := d.Offset() + d.Remaining(); size > int(s.maxIO)+64<<10-1<<10 {
		t.Fatalf("reply of %d bytes exceeds the 4.0 limit", size)
	}
	// call decoded the first result (PUTROOTFH); the LOOKUPs follow.
	if res[0] != (opResult{nfs4.OpPutRootFH, nfs4.OK}) {
		t.Fatalf("first result %+v", res[0])
	}
	for range 2 {
		if op, st := d.Uint32(), nfs4.Status(d.Uint32()); op != nfs4.OpLookup || st != nfs4.OK {
			t.Fatalf("LOOKUP result %d %d", op, st)
		}
	}
	var lens []int
	for {
		op, st := d.Uint32(), nfs4.Status(d.Uint32())
		if d.Err() != nil {
			t.Fatalf("reply ends without a failed READ: %v", d.Err())
		}
		if op != nfs4.OpRead {
			t.Fatalf("result of op %d", op)
		}
		if st != nfs4.OK {
			if st != nfs4.ErrResource {
				t.Fatalf("READ %d failed with %d, want NFS4ERR_RESOURCE", len(lens), st)
			}
			break
		}
		if eof := d.Uint32(); eof != 0 {
			t.Fatalf("READ %d reports eof", len(lens))
		}
		lens = append(lens, len(d.Opaque(1<<21)))
	}
	if d.Remaining() != 0 {
		t.Fatalf("%d bytes after the failed READ", d.Remaining())
	}
	if len(lens) != 2 || lens[0] != 1<<20 || lens[1] == 0 || lens[1] >= 64<<10 {
		t.Fatalf("READ lengths %v, want a full READ then a short one", lens)
	}
}

// TestReplyLimit40OtherOps: operations other than READ that grow the
// reply past the limit are replaced by NFS4ERR_RESOURCE after the fact.
func TestReplyLimit40OtherOps(t *testing.T) {
	dir := t.TempDir()
	for i := range 200 {
		name := filepath.Join(dir, "a-rather-long-file-name-to-fill-the-directory-listing-"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s := newTestServerAt(t, dir)
	const readdirs = 250
	args := compoundArgs(0, 2+readdirs, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		for range readdirs {
			e.Uint32(nfs4.OpReaddir)
			e.Uint64(0)
			e.Fixed(make([]byte, 8))
			e.Uint32(1 << 20)
			e.Uint32(1 << 20)
			e.Uint32(0) // no attributes
		}
	})
	st, _, d := call(t, s, args)
	if st != nfs4.ErrResource {
		t.Fatalf("COMPOUND status %d, want NFS4ERR_RESOURCE", st)
	}
	if size := d.Offset() + d.Remaining(); size > int(s.maxIO)+64<<10-1<<10 {
		t.Fatalf("reply of %d bytes exceeds the 4.0 limit", size)
	}
}
