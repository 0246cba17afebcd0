//go:build !noceph

package radosdb

import (
	"context"
	"time"
)

// watchRetry is how long a broken watch waits before it is set up again;
// the callers poll meanwhile. A variable for tests.
var watchRetry = 2 * time.Second

// Watch calls onChange whenever the grace object is notified (every
// successful Update notifies), and once each time the watch is
// (re-)established, since changes made while it was down were not seen. It
// runs until ctx ends. A watch that breaks (the OSD or the connection
// failed, the object was deleted) is set up again after a pause. onChange
// runs on Watch's goroutine and should only wake the caller, which re-reads
// the database; the caller also polls slowly, because a notify can be lost.
func (d *DB) Watch(ctx context.Context, onChange func()) error {
	for {
		err := d.watchOnce(ctx, onChange)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		d.logf("grace db: watch on %s: %v; watching again in %v", d.oid, err, watchRetry)
		t := time.NewTimer(watchRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (d *DB) watchOnce(ctx context.Context, onChange func()) error {
	w, err := d.aux.Watch(d.oid)
	if err != nil {
		return err
	}
	defer w.Delete()
	onChange()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-w.Events():
			if !ok {
				return errWatchClosed
			}
			// Ack at once: the notifier waits for every watcher.
			_ = ev.Ack(nil)
			onChange()
		case err, ok := <-w.Errors():
			if !ok {
				return errWatchClosed
			}
			return err
		}
	}
}

type watchError string

func (e watchError) Error() string { return string(e) }

const errWatchClosed = watchError("watch closed")
