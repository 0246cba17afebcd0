package compound

import (
	"context"
	"testing"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/oncrpc"
	"nfsgw/gateway/xdr"
)

// BenchmarkGetattr measures the engine's cost of PUTFH+GETATTR (the most
// frequent request in production NFS) on the local backend, in parallel,
// with the attributes a Linux client asks for.
func BenchmarkGetattr(b *testing.B) {
	s := newTestServer(b)
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
