package oncrpc

import (
	"context"
	"testing"
)

// BenchmarkNullCall measures NULL calls from goroutines sharing one
// pipelined client connection over loopback: 8 callers per CPU keep
// several calls in flight, as an NFS client does.
func BenchmarkNullCall(b *testing.B) {
	b.SetParallelism(8)
	addr := startServer(b, &Server{}, newTestHandler())
	c := dial(b, addr)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Call(ctx, testProg, testVers, procNull, CredNone(), nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkNullCallSerial measures the round-trip latency of one call at a
// time.
func BenchmarkNullCallSerial(b *testing.B) {
	addr := startServer(b, &Server{}, newTestHandler())
	c := dial(b, addr)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Call(ctx, testProg, testVers, procNull, CredNone(), nil); err != nil {
			b.Fatal(err)
		}
	}
}
