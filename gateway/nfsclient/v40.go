package nfsclient

import (
	"context"
	"strconv"
	"sync"

	"nfsgw/gateway/nfs4"
)

// This file holds what only NFSv4.0 needs: SETCLIENTID, and the seqids of
// open-owners and lock-owners (RFC 7530 section 9.1.7). NFSv4.1 servers
// ignore those seqids (RFC 8881 section 8.13), and this client sends 0.

// setup40 establishes the client ID with SETCLIENTID and
// SETCLIENTID_CONFIRM (RFC 7530 sections 16.33, 16.34). The callback
// address is a dummy one, so the server grants no delegations.
func (cl *Client) setup40(ctx context.Context) error {
	r, err := cl.call(ctx, func(c *Compound) {
		c.SetClientID(SetClientIDArgs{
			Verifier:  cl.verifier,
			ID:        cl.ownerID,
			CBProgram: cl.cbProgram,
			CBNetid:   "tcp",
			CBAddr:    "127.0.0.1.0.0", // port 0: nothing listens there
		})
	})
	if err != nil {
		return err
	}
	res := r.Ops[0].Res.(*SetClientIDRes)
	_, err = cl.call(ctx, func(c *Compound) { c.SetClientIDConfirm(res.ClientID, res.Confirm) })
	if err != nil {
		return err
	}
	cl.clientID = res.ClientID
	return nil
}

// ownerPool hands out open-owners. An owner is used by one OpenFile at a
// time, so that two opens of one file stay two opens, and returned to the
// pool on close; in 4.0 it carries its seqid, and the mutex serializes the
// seqid-bearing operations (OPEN, OPEN_CONFIRM, OPEN_DOWNGRADE, CLOSE and
// LOCK with a new lock-owner).
type ownerPool struct {
	cl   *Client
	mu   sync.Mutex
	free []*stateOwner
}

type stateOwner struct {
	mu     sync.Mutex
	name   []byte
	seqid  uint32
	broken bool // a seqid-bearing request got no reply: seqid unknown
}

func (p *ownerPool) get() *stateOwner {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n := len(p.free); n > 0 {
		o := p.free[n-1]
		p.free = p.free[:n-1]
		return o
	}
	id := p.cl.ownerSeq.Add(1)
	return &stateOwner{name: []byte("open-owner-" + strconv.FormatUint(id, 10))}
}

func (p *ownerPool) put(o *stateOwner) {
	if o.broken {
		return
	}
	p.mu.Lock()
	p.free = append(p.free, o)
	p.mu.Unlock()
}

// seqidAdvances reports whether an executed seqid-bearing operation that
// returned status consumed the seqid: every status does except those that
// RFC 7530 section 9.1.7 lists, which mean the request could not be
// checked against the owner at all.
func seqidAdvances(status nfs4.Status) bool {
	switch status {
	case nfs4.ErrStaleClientid, nfs4.ErrStaleStateid, nfs4.ErrBadStateid,
		nfs4.ErrBadSeqid, nfs4.ErrBadxdr, nfs4.ErrResource,
		nfs4.ErrNofilehandle, nfs4.ErrMoved:
		return false
	}
	return true
}

// settleSeqid updates a seqid after a request whose seqid-bearing
// operation is op: it advances if the reply holds op's result with a
// status that consumes seqids; a transport failure marks it unknown.
func settleSeqid(seqid *uint32, broken *bool, r *Reply, err error, op uint32) {
	var o *OpResult
	if r != nil {
		o = r.Find(op)
	}
	switch {
	case o != nil:
		if seqidAdvances(o.Status) {
			*seqid++
		}
	case err != nil && StatusOf(err) == NoStatus:
		*broken = true // no reply, or one that could not be decoded
	}
}
