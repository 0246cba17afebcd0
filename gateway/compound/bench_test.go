package compound

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/toptalk"
	"nfsgw/gateway/xdr"
)

// BenchmarkGetattr measures the engine's cost of PUTFH+GETATTR (the most
// frequent request in production NFS) on the local backend, in parallel,
// with the attributes a Linux client asks for.
func BenchmarkGetattr(b *testing.B) { benchGetattr(b, newTestServer(b)) }

// BenchmarkGetattrMetrics is BenchmarkGetattr with the metrics on: the
// difference is their cost on the hot path. Every call comes from no
// connection, so all of them share one shard of the counters (the worst
// case for contention).
func BenchmarkGetattrMetrics(b *testing.B) {
	s := newTestServer(b)
	s.m = metrics.New(metrics.Options{OpName: OpName, StatusName: nfs4.StatusName})
	s.cfg.Metrics, s.timed = s.m, true
	benchGetattr(b, s)
}

// BenchmarkGetattrTalkers is BenchmarkGetattrMetrics with the top talkers
// on as well (as nfsgw runs): the difference is their cost.
func BenchmarkGetattrTalkers(b *testing.B) {
	s := newTestServer(b)
	s.m = metrics.New(metrics.Options{OpName: OpName, StatusName: nfs4.StatusName})
	s.cfg.Metrics, s.timed = s.m, true
	s.cfg.Talkers = toptalk.New(time.Second)
	s.cfg.Talkers.Start()
	defer s.cfg.Talkers.Stop()
	benchGetattr(b, s)
}

func benchGetattr(b *testing.B, s *Server) {
	// Find the export root's handle through the engine itself.
	args := compoundArgs(0, 3, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		e.Uint32(nfs4.OpGetFH)
	})
	_, _, d := call(b, s, args)
	d.Uint32()
	d.Uint32() // LOOKUP
	d.Uint32()
	d.Uint32() // GETFH
	fh := d.Opaque(nfs4.FHSize)
	var req nfs4.Bitmap
	for _, a := range []int{nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFsid, nfs4.AttrFileid,
		nfs4.AttrMode, nfs4.AttrNumlinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawdev,
		nfs4.AttrSpaceUsed, nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify, nfs4.AttrMountedOnFileid} {
		req.Set(a)
	}
	getattr := compoundArgs(0, 2, func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutFH)
		e.Opaque(fh)
		e.Uint32(nfs4.OpGetattr)
		req.Encode(e)
	})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := xdr.Encoder{Buf: make([]byte, 0, 1024)}
		c := &oncrpc.Call{Proc: nfs4.ProcCompound, Flavor: oncrpc.FlavorSys, Args: getattr}
		for pb.Next() {
			e.Buf = e.Buf[:0]
			s.HandleCall(context.Background(), c, &e)
		}
	})
}

// BenchmarkLookupDeep measures PUTFH + 17 LOOKUPs + GETFH + GETATTR, the
// lookupdeep workload of bench/vsganesha, on a path 16 directories deep.
func BenchmarkLookupDeep(b *testing.B) {
	dir := b.TempDir()
	var names []string
	p := dir
	for i := range 16 {
		names = append(names, "d"+strconv.Itoa(i))
		p = filepath.Join(p, names[i])
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		b.Fatal(err)
	}
	// localfs caches the handles of objects older than a second; a real
	// tree is older than that.
	time.Sleep(1100 * time.Millisecond)
	s := newTestServerAt(b, dir)
	var req nfs4.Bitmap
	for _, a := range []int{nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFileid, nfs4.AttrMode} {
		req.Set(a)
	}
	args := compoundArgs(0, uint32(len(names)+4), func(e *xdr.Encoder) {
		e.Uint32(nfs4.OpPutRootFH)
		e.Uint32(nfs4.OpLookup)
		e.String("export")
		for _, n := range names {
			e.Uint32(nfs4.OpLookup)
			e.String(n)
		}
		e.Uint32(nfs4.OpGetFH)
		e.Uint32(nfs4.OpGetattr)
		req.Encode(e)
	})
	if st, _, _ := call(b, s, args); st != nfs4.OK {
		b.Fatalf("status %d", st)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := xdr.Encoder{Buf: make([]byte, 0, 1024)}
		c := &oncrpc.Call{Proc: nfs4.ProcCompound, Flavor: oncrpc.FlavorSys, Args: args}
		for pb.Next() {
			e.Buf = e.Buf[:0]
			s.HandleCall(context.Background(), c, &e)
		}
	})
}

// BenchmarkPathWalk measures PUTROOTFH + 5 LOOKUPs + GETATTR, the pathwalk
// workload of bench/nfsbench (a client that stats by path from the pseudo
// root), over 16 directories of 64 files, with the attributes a Linux
// client asks for.
func BenchmarkPathWalk(b *testing.B) {
	dir := b.TempDir()
	const dirs, files = 16, 64
	for d := range dirs {
		p := filepath.Join(dir, "fixtures", "walk", "w"+strconv.Itoa(d))
		if err := os.MkdirAll(p, 0o755); err != nil {
			b.Fatal(err)
		}
		for f := range files {
			if err := os.WriteFile(filepath.Join(p, "f"+strconv.Itoa(f)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
	}
	time.Sleep(1100 * time.Millisecond) // as in BenchmarkLookupDeep
	s := newTestServerAt(b, dir)
	var req nfs4.Bitmap
	for _, a := range []int{nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFsid, nfs4.AttrFileid,
		nfs4.AttrMode, nfs4.AttrNumlinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawdev,
		nfs4.AttrSpaceUsed, nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify, nfs4.AttrMountedOnFileid} {
		req.Set(a)
	}
	args := make([][]byte, dirs*files)
	for i := range args {
		args[i] = compoundArgs(0, 7, func(e *xdr.Encoder) {
			e.Uint32(nfs4.OpPutRootFH)
			for _, n := range []string{"export", "fixtures", "walk", "w" + strconv.Itoa(i/files), "f" + strconv.Itoa(i%files)} {
				e.Uint32(nfs4.OpLookup)
				e.String(n)
			}
			e.Uint32(nfs4.OpGetattr)
			req.Encode(e)
		})
		if st, _, _ := call(b, s, args[i]); st != nfs4.OK {
			b.Fatalf("status %d", st)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		e := xdr.Encoder{Buf: make([]byte, 0, 1024)}
		c := &oncrpc.Call{Proc: nfs4.ProcCompound, Flavor: oncrpc.FlavorSys}
		i := 0
		for pb.Next() {
			i = (i + 97) % len(args)
			c.Args = args[i]
			e.Buf = e.Buf[:0]
			s.HandleCall(context.Background(), c, &e)
		}
	})
}

// BenchmarkEncodeFattr measures the attribute encoding of one GETATTR
// reply alone (no backend, no COMPOUND), with the attributes a Linux client
// asks for: the part of BenchmarkGetattr the fattr4 codec decides.
func BenchmarkEncodeFattr(b *testing.B) {
	s := newTestServer(b)
	r := &request{s: s, minor: 1}
	a := fsal.Attr{Type: fsal.TypeRegular, Mode: 0o644, Nlink: 1, UID: 1000, GID: 1000, Size: 4096,
		SpaceUsed: 4096, Fileid: 12, Change: 99, Mtime: fsal.Time{Sec: 1700000000, Nsec: 5}}
	t := &attrTarget{a: &a, fh: make([]byte, 29), fsid: [2]uint64{1, 0}, mountedOn: 12}
	var req nfs4.Bitmap
	for _, n := range []int{nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize, nfs4.AttrFsid, nfs4.AttrFileid,
		nfs4.AttrMode, nfs4.AttrNumlinks, nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawdev,
		nfs4.AttrSpaceUsed, nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify, nfs4.AttrMountedOnFileid} {
		req.Set(n)
	}
	e := xdr.Encoder{Buf: make([]byte, 0, 1024)}
	b.ReportAllocs()
	for b.Loop() {
		e.Buf = e.Buf[:0]
		if st := r.encodeFattr(&e, &req, t); st != nfs4.OK {
			b.Fatal(st)
		}
	}
}
