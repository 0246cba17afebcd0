package compound

import (
	"time"

	"nfsgw/gateway/metrics"
	"nfsgw/gateway/nfs4"
)

// opClock times the operations of a COMPOUND: base is when it began (wall
// and monotonic clocks), last how long after base its last operation
// ended, which is when the next one began. Each operation then costs one
// read of the monotonic clock (time.Since), not a full time.Now.
type opClock struct {
	base time.Time
	last time.Duration
}

// opDone records an operation that just ran in the metrics and, if it was
// slow or failed, in the log. It allocates nothing unless it logs.
func (r *request) opDone(op uint32, status nfs4.Status, c *opClock) {
	now := time.Since(c.base)
	d := now - c.last
	c.last = now
	var exp *metrics.ExportCounts
	if r.cur.exp != nil && r.cur.pseudo == nil && r.s.m != nil {
		// Looked up once per export a COMPOUND works in, not per
		// operation.
		if r.expCounts == nil || r.expCountsID != r.cur.exp.ID {
			r.expCounts, r.expCountsID = r.s.m.Export(r.cur.exp.ID), r.cur.exp.ID
		}
		exp = r.expCounts
	}
	mop := op
	if op > maxOp || ops[op].fn == nil {
		mop = 0 // every unknown number is one series, ILLEGAL
	}
	r.s.m.Op(r.shard, mop, r.minor, uint32(status), d, exp, int(r.readN), int(r.writeN))
	r.readN, r.writeN = 0, 0
	slow := r.s.cfg.SlowOp > 0 && d >= r.s.cfg.SlowOp
	if status != nfs4.OK || slow {
		r.logOp(op, status, d, slow)
	}
}

// serverFailure tells the failures that say something about the gateway
// or its backend, logged as warnings, from the protocol's routine answers
// (NFS4ERR_NOENT, NFS4ERR_GRACE, NFS4ERR_STALE...), logged at debug level.
func serverFailure(status nfs4.Status) bool {
	switch status {
	case nfs4.ErrServerfault, nfs4.ErrIO, nfs4.ErrResource, nfs4.ErrNospc, nfs4.ErrDquot, nfs4.ErrNxio:
		return true
	}
	return false
}

// logOp writes one line about a slow or failed operation, with the
// request's context (client, principal, xid, minor version, export), if
// the level is enabled and the rate limit allows: a storm of failing
// requests writes at most the limit's lines, then one line saying how
// many it dropped.
func (r *request) logOp(op uint32, status nfs4.Status, d time.Duration, slow bool) {
	log := r.s.log
	warn := slow || serverFailure(status)
	if warn && !log.IsWarn() || !warn && !log.IsDebug() {
		return
	}
	ok, dropped := r.s.cfg.OpLogLimit.Allow()
	if !ok {
		return
	}
	msg := "operation failed"
	if slow {
		msg = "slow operation"
	}
	args := []any{"client", r.remote.String(), "uid", r.cred.UID, "xid", r.call.XID, "minor", r.minor,
		"op", OpName(op), "status", status.String(), "duration", d}
	if r.cur.exp != nil {
		args = append(args, "export", r.cur.exp.Pseudo)
	}
	if dropped > 0 {
		args = append(args, "suppressed", dropped)
	}
	if warn {
		log.Warn(msg, args...)
	} else {
		log.Debug(msg, args...)
	}
}
