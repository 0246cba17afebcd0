//go:build !noceph

package radosdb

import (
	"context"
	"time"

	"nfsgw/internal/radosconn"
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
	return radosconn.Watch(ctx, d.aux, d.oid, watchRetry, func(f string, a ...any) { d.logf("grace db: "+f, a...) },
		func([]byte) { onChange() })
}
