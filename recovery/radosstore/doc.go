// Package radosstore is the cluster node's recovery.Store, kept in RADOS
// in the pool and namespace the caller chooses (the grace database's), in
// the layout of NFS-Ganesha's rados_cluster recovery backend.
//
// # Layout
//
// For node N:
//
//   - "rec-%016x:N" (the epoch in 16 lowercase hex digits): one object per
//     epoch, one omap entry per client. The key is the client owner in
//     lowercase hex; the value is recfmt's encoding, as in the bbolt store.
//     The omap key "nfsgw.rec" (value 0x01, the format version) marks the
//     object as nfsgw's. NFS-Ganesha names its objects the same way but
//     keys them by decimal client id with values "addr-(len:owner)" and
//     never writes that key: reading an object without it fails with
//     recovery.ErrCorrupt saying it is a foreign object, never misreads it,
//     and nfsgw never empties or removes it.
//   - "nfsgw.rec.N": the node's metadata, a few bytes of data (see meta):
//     the current epoch C, whether C's grace period ended, and the
//     unended epochs P (older epochs whose objects form the reclaim set).
//     Every change is one write that compares the whole previous content
//     (cmpext), so a second gateway with the same node id, or a DeleteAll,
//     makes it fail (recovery.ErrLocked, ErrFenced) instead of being
//     overwritten.
//
// # Crashes
//
// The metadata write is the commit point of Begin and EndGrace; objects
// are created before it and removed after it, so a crash anywhere keeps
// the reclaim rule of package recovery:
//
//   - Begin(E > C) reads P ∪ {C} (nothing written yet), empties or creates
//     rec-E (a crash now leaves an object the metadata does not name: the
//     next Begin(E) empties it again, the next EndGrace removes it), then
//     writes {C: E, P: P ∪ {C}, not ended}.
//   - Begin(E == C) empties rec-C in one write (its records are in P or
//     belong to clients that got no state), and, if C's grace had ended
//     (allowed only when rec-C is empty), writes "not ended".
//   - EndGrace writes {C, P: none, ended}, then removes the objects of P
//     and any unnamed ones left by a crashed Begin; a crash in between
//     leaves unnamed objects for the next EndGrace.
//   - Add and Remove are one omap write to rec-C, asserting that the
//     object exists, so a store whose node was fenced never recreates it.
//
// # Cost
//
// Add of a new client and Remove of a recorded one are one replicated
// omap write each (a round trip to the primary OSD, which answers once
// every replica has it). The store remembers what it wrote in the current
// epoch, so a repeated Add of an unchanged record and a Remove of an
// absent owner cost nothing. Begin reads every record of P ∪ {C} in pages
// of 512; EndGrace lists the namespace once to find leftovers.
package radosstore
