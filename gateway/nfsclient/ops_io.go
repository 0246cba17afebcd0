package nfsclient

import (
	"nfsgw/gateway/nfs4"
)

// This file holds the data operations.

// Read appends READ; the result is *ReadRes.
func (c *Compound) Read(stateid nfs4.Stateid, offset uint64, count uint32) *Compound {
	e := c.op(nfs4.OpRead)
	stateid.Encode(e)
	e.Uint64(offset)
	e.Uint32(count)
	return c
}

// Write appends WRITE; stable is nfs4.Unstable, DataSync or FileSync. The
// result is *WriteRes.
func (c *Compound) Write(stateid nfs4.Stateid, offset uint64, stable uint32, data []byte) *Compound {
	e := c.op(nfs4.OpWrite)
	stateid.Encode(e)
	e.Uint64(offset)
	e.Uint32(stable)
	e.Opaque(data)
	return c
}

// Commit appends COMMIT; the result is *CommitRes.
func (c *Compound) Commit(offset uint64, count uint32) *Compound {
	e := c.op(nfs4.OpCommit)
	e.Uint64(offset)
	e.Uint32(count)
	return c
}

// ReadRes is the result of READ. Data aliases the reply.
type ReadRes struct {
	EOF  bool
	Data []byte
}

// WriteRes is the result of WRITE.
type WriteRes struct {
	Count     uint32
	Committed uint32 // stable_how4 the server actually used
	Verifier  [nfs4.VerifierSize]byte
}

// CommitRes is the result of COMMIT.
type CommitRes struct {
	Verifier [nfs4.VerifierSize]byte
}
