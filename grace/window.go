package grace

import "time"

// ExtendStep is how long a reclaim keeps the reclaim window open past its
// deadline, at least: the window closes once no reclaim arrived for this
// long (and not every client of the reclaim set is done), as knfsd's
// laundromat does.
const ExtendStep = time.Second

// window is one node's reclaim window: who may reclaim, who has not
// finished, and when the window closes. Pure: time comes in as arguments.
type window struct {
	open        bool
	pending     map[string]bool // reclaim set members not yet done
	known       map[string]bool // the whole reclaim set
	ends        time.Time
	limit       time.Time // latest end, however many reclaims arrive
	lastReclaim time.Time
	step        time.Duration // how long a reclaim keeps it open past the deadline
}

// start opens the window for the reclaim set until deadline, or up to limit
// while reclaims keep arriving. With an empty set it stays closed.
func (w *window) start(set [][]byte, deadline, limit time.Time, step time.Duration) {
	w.pending, w.known = map[string]bool{}, map[string]bool{}
	for _, o := range set {
		w.pending[string(o)] = true
		w.known[string(o)] = true
	}
	w.ends, w.limit = deadline, limit
	if limit.Before(deadline) {
		w.limit = deadline
	}
	w.step = max(step, ExtendStep)
	w.lastReclaim = time.Time{}
	w.open = len(set) > 0
}

// close ends the window at once (a tardy restart, a fence).
func (w *window) close() {
	w.open = false
	w.pending = nil
}

// reclaimed notes that a client of the reclaim set reclaimed at now.
func (w *window) reclaimed(owner string, now time.Time) {
	if w.open && w.known[owner] && now.After(w.lastReclaim) {
		w.lastReclaim = now
	}
}

// mayReclaim reports whether owner is in the reclaim set and the window is
// open.
func (w *window) mayReclaim(owner string) bool { return w.open && w.known[owner] }

// done marks a client finished; it returns true when this closes the
// window.
func (w *window) done(owner string) bool {
	if !w.open {
		return false
	}
	delete(w.pending, owner)
	if len(w.pending) == 0 {
		w.open = false
		return true
	}
	return false
}

// tick advances time; it returns true when this closes the window. At the
// deadline, a reclaim within the last step pushes the deadline out by a
// step (never past the limit): a client that began reclaiming late, and has
// not sent RECLAIM_COMPLETE, is still at it (pynfs REBT5).
func (w *window) tick(now time.Time) bool {
	if !w.open || now.Before(w.ends) {
		return false
	}
	if now.Before(w.limit) && !w.lastReclaim.IsZero() && now.Sub(w.lastReclaim) < w.step {
		w.ends = now.Add(w.step)
		if w.ends.After(w.limit) {
			w.ends = w.limit
		}
		return false
	}
	w.open = false
	return true
}
