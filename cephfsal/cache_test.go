//go:build !noceph

package cephfsal

import (
	"sync"
	"sync/atomic"
	"testing"
)

// The cache's contract: a resource is freed exactly once, and never while
// a user holds it, whatever interleaving of get, add, eviction and remove.
func TestRefCacheLifetimes(t *testing.T) {
	type res struct {
		id    int
		freed atomic.Bool
	}
	var frees atomic.Int64
	c := newRefCache(cacheShards*2, func(k uint64) uint64 { return mix(k) }, func(r *res) {
		if r.freed.Swap(true) {
			t.Errorf("resource %d freed twice", r.id)
		}
		frees.Add(1)
	})
	var made atomic.Int64
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5000 {
				k := uint64((i*7 + w) % 500)
				r := c.get(k)
				if r == nil {
					made.Add(1)
					r = c.add(k, &res{id: int(k)})
				}
				if r.v.freed.Load() {
					t.Errorf("got a freed resource for %d", k)
				}
				if i%13 == 0 {
					c.remove(k, r)
				}
				if r.v.freed.Load() {
					t.Errorf("resource %d freed while in use", k)
				}
				r.release()
			}
		}()
	}
	wg.Wait()
	if n := c.len(); n > cacheShards*2 {
		t.Fatalf("%d entries, bound %d", n, cacheShards*2)
	}
	c.clear()
	if frees.Load() != made.Load() {
		t.Fatalf("%d resources made, %d freed", made.Load(), frees.Load())
	}
}

func TestDevNumbers(t *testing.T) {
	for _, d := range [][2]uint32{{0, 0}, {1, 3}, {7, 200}, {259, 65536}, {4095, 1 << 19}} {
		if ma, mi := devMajor(mkdev(d[0], d[1])), devMinor(mkdev(d[0], d[1])); ma != d[0] || mi != d[1] {
			t.Errorf("mkdev(%d, %d) decodes as %d, %d", d[0], d[1], ma, mi)
		}
	}
}
