package compound

import (
	"hash/crc32"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// drc is the duplicate request cache for NFSv4.0 (RFC 7530 section 3.1.1
// asks servers to keep one): a client that lost a reply retransmits the
// call with the same xid, and a non-idempotent COMPOUND (CREATE, REMOVE,
// RENAME, ...) must then be answered from the cache, not run again.
// NFSv4.1 uses the session's slot table instead. The cache is sharded and
// bounded: each shard keeps its most recent entries in a ring.
type drc struct {
	seed   maphash.Seed
	shards [drcShards]drcShard
}

const (
	drcShards   = 32
	drcPerShard = 128
	drcMaxReply = 16 << 10
	drcLifetime = 2 * time.Minute
)

type drcKey struct {
	addr netip.AddrPort // client address and port
	xid  uint32
	size int    // argument length and
	sum  uint32 // checksum of its first drcSumLen bytes: a reused xid is not a retransmission
}

type drcEntry struct {
	key   drcKey
	reply []byte
	at    time.Time
}

type drcShard struct {
	mu    sync.Mutex
	ring  [drcPerShard]drcEntry
	index map[drcKey]int // key -> position in ring
	next  int
}

func newDRC() *drc {
	c := &drc{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].index = make(map[drcKey]int, drcPerShard)
	}
	return c
}

func (c *drc) shard(k *drcKey) *drcShard {
	var h maphash.Hash
	h.SetSeed(c.seed)
	b := k.addr.Addr().As16()
	h.Write(b[:])
	return &c.shards[(h.Sum64()^uint64(k.xid))%drcShards]
}

// drcSumLen bounds the checksummed prefix of the arguments, as knfsd does:
// every NFSv4.0 COMPOUND computes the key, and a 1 MiB WRITE must not pay a
// checksum over its data to tell a retransmission from a reused xid.
const drcSumLen = 256

func drcKeyOf(addr netip.AddrPort, xid uint32, args []byte) drcKey {
	return drcKey{addr: addr, xid: xid, size: len(args), sum: crc32.ChecksumIEEE(args[:min(len(args), drcSumLen)])}
}

// get returns a cached reply for the call, or nil.
func (c *drc) get(k drcKey, now time.Time) []byte {
	sh := c.shard(&k)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	i, ok := sh.index[k]
	if !ok || now.Sub(sh.ring[i].at) >= drcLifetime {
		return nil
	}
	return append([]byte(nil), sh.ring[i].reply...)
}

// put caches a reply (copied), evicting the shard's oldest entry.
func (c *drc) put(k drcKey, reply []byte, now time.Time) {
	if len(reply) > drcMaxReply {
		return
	}
	sh := c.shard(&k)
	sh.mu.Lock()
	e := &sh.ring[sh.next]
	if e.reply != nil {
		delete(sh.index, e.key)
	}
	sh.index[k] = sh.next
	sh.next = (sh.next + 1) % drcPerShard
	e.key, e.at = k, now
	e.reply = append(e.reply[:0], reply...)
	sh.mu.Unlock()
}

// nonIdempotent reports whether running op twice could differ from
// running it once: those are the COMPOUNDs worth caching.
func nonIdempotent(op uint32) bool {
	switch op {
	case 4, 5, 6, 11, 12, 14, 18, 20, 21, 28, 29, 34, 35, 36, 38, 39: // CLOSE COMMIT CREATE LINK LOCK LOCKU OPEN OPEN_CONFIRM OPEN_DOWNGRADE REMOVE RENAME SETATTR SETCLIENTID SETCLIENTID_CONFIRM WRITE RELEASE_LOCKOWNER
		return true
	}
	return false
}
