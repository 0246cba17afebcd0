package compound

import (
	"fmt"
	"net/netip"
	"testing"
	"time"
)

func TestDRC(t *testing.T) {
	c := newDRC()
	now := time.Unix(100, 0)
	k := drcKeyOf(netip.MustParseAddrPort("127.0.0.1:900"), 7, []byte("args"))
	if c.get(k, now) != nil {
		t.Fatal("hit in an empty cache")
	}
	c.put(k, []byte("reply"), now)
	if string(c.get(k, now)) != "reply" {
		t.Fatal("miss after put")
	}
	if c.get(drcKeyOf(netip.MustParseAddrPort("127.0.0.1:900"), 7, []byte("other args")), now) != nil {
		t.Fatal("a reused xid with other arguments hit")
	}
	if c.get(drcKeyOf(netip.MustParseAddrPort("127.0.0.1:901"), 7, []byte("args")), now) != nil {
		t.Fatal("another client's xid hit")
	}
	if c.get(k, now.Add(drcLifetime)) != nil {
		t.Fatal("entry outlived its lifetime")
	}
	// Bounded: flooding one client's shard evicts the oldest entries.
	for i := 0; i < drcShards*drcPerShard*2; i++ {
		c.put(drcKeyOf(netip.MustParseAddrPort("127.0.0.1:900"), uint32(1000+i), nil), []byte(fmt.Sprint(i)), now)
	}
	total := 0
	for i := range c.shards {
		total += len(c.shards[i].index)
		if len(c.shards[i].index) > drcPerShard {
			t.Fatalf("shard %d holds %d entries", i, len(c.shards[i].index))
		}
	}
	if c.get(k, now) != nil || total == 0 {
		t.Fatalf("old entry not evicted (total %d)", total)
	}
}
