package boltstore

import (
	"errors"
	"sync"

	bolt "go.etcd.io/bbolt"
)

// groupCommit runs concurrent small writes (Add, Remove) in shared
// transactions, so that N clients recorded at once cost one commit instead
// of N: after a restart every client reclaims within seconds, and each
// commit is two fdatasyncs. A write that finds no commit in progress
// commits at once, alone, so a lone Add waits for no timer (unlike
// bbolt's DB.Batch); writes that arrive during a commit queue up and go
// together in the next one.
type groupCommit struct {
	db *bolt.DB

	mu    sync.Mutex
	busy  bool        // a leader is committing, or is being handed the lead
	queue []*writeReq // writes waiting for the next commit
}

type writeReq struct {
	// fn makes the write in tx. It must change nothing when it fails
	// (each is a single Put or Delete after its checks), since the other
	// writes of the transaction still commit; errNoChange means it had
	// nothing to do.
	fn   func(tx *bolt.Tx) error
	done chan error // receives errLead, then the result
}

// errLead hands a waiting writer the job of committing the queue.
var errLead = errors.New("lead")

// do runs fn in a write transaction, possibly shared, and returns once the
// transaction is durable.
func (g *groupCommit) do(fn func(tx *bolt.Tx) error) error {
	r := &writeReq{fn: fn, done: make(chan error, 1)}
	g.mu.Lock()
	g.queue = append(g.queue, r)
	if g.busy {
		g.mu.Unlock()
		if err := <-r.done; err != errLead {
			return err // a leader committed r
		}
		g.mu.Lock() // r leads now; it is still in the queue
	}
	g.busy = true
	batch := g.queue
	g.queue = nil
	g.mu.Unlock()

	g.commit(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		// Hand the lead to the oldest waiter rather than committing its
		// writes here: this caller's own write is done and it should not
		// be kept busy by others for as long as writes keep coming.
		g.queue[0].done <- errLead
	} else {
		g.busy = false
	}
	g.mu.Unlock()
	return <-r.done
}

// commit runs the batch in one transaction and reports to each writer.
func (g *groupCommit) commit(batch []*writeReq) {
	errs := make([]error, len(batch))
	err := update(g.db, func(tx *bolt.Tx) error {
		changed := false
		for i, r := range batch {
			errs[i] = r.fn(tx)
			if errors.Is(errs[i], errNoChange) {
				errs[i] = nil
			} else if errs[i] == nil {
				changed = true
			}
		}
		if !changed {
			return errNoChange
		}
		return nil
	})
	for i, r := range batch {
		if err != nil {
			errs[i] = err // the commit failed: nothing is durable
		}
		r.done <- errs[i]
	}
}
