package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/grace"
)

// DefaultWedgeAfter is how long requests may be in flight with none
// finishing before /healthz calls the serving loop wedged.
const DefaultWedgeAfter = 2 * time.Minute

// Health answers the probes: /healthz (the process is alive and its
// serving loop is not wedged) and /readyz (the gateway listens, has its
// exports and is not waiting for its cluster).
type Health struct {
	// UnreadyInGrace makes /readyz fail while the node is in its own
	// startup grace period (its clients reclaim): for deployments that
	// send new clients elsewhere meanwhile. By default a node in grace is
	// ready: it serves, refusing new state as the protocol requires.
	UnreadyInGrace bool
	// WedgeAfter: see DefaultWedgeAfter (0 selects it).
	WedgeAfter time.Duration

	m         *Metrics
	stage     atomic.Pointer[string] // what the start is doing, until it listens
	listening atomic.Bool
	stopped   atomic.Bool

	mu         sync.Mutex // guards the progress snapshot (probes only)
	lastDone   uint64
	lastChange time.Time
	now        func() time.Time // tests
}

// NewHealth returns the probes of a gateway whose requests m counts.
func NewHealth(m *Metrics) *Health {
	h := &Health{m: m, now: time.Now}
	h.SetStage("starting")
	return h
}

// SetStage says what the start is doing, for /readyz until the gateway
// listens ("opening exports", "joining the cluster", ...).
func (h *Health) SetStage(s string) { h.stage.Store(&s) }

// SetListening says the gateway serves NFS on every listen address (or,
// false, that it stopped: a draining or stopping gateway is not ready).
func (h *Health) SetListening(v bool) {
	h.listening.Store(v)
	if !v {
		h.stopped.Store(true)
	}
}

// Live returns nil if the process serves, or why it is wedged: requests
// are in flight and none has finished for WedgeAfter (a backend that
// hangs every call, a deadlock).
func (h *Health) Live() error {
	started, done := h.m.Progress()
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	if done != h.lastDone || h.lastChange.IsZero() || started <= done {
		// Progress, or nothing to do: idle is not wedged.
		h.lastDone, h.lastChange = done, now
		return nil
	}
	after := h.WedgeAfter
	if after <= 0 {
		after = DefaultWedgeAfter
	}
	if stuck := now.Sub(h.lastChange); stuck >= after {
		return fmt.Errorf("wedged: %d requests in flight and none finished for %s", started-done, stuck.Round(time.Second))
	}
	return nil
}

// Ready returns nil if the gateway should get clients now, or every reason
// it should not.
func (h *Health) Ready() error {
	var why []string
	if !h.listening.Load() {
		if h.stopped.Load() {
			why = append(why, "stopping: not accepting connections")
		} else {
			why = append(why, "not listening for NFS yet ("+*h.stage.Load()+")")
		}
	}
	if f := h.m.sources.exports.Load(); f != nil {
		if len((*f)().Exports) == 0 {
			why = append(why, "no exports")
		}
	} else if !h.stopped.Load() {
		why = append(why, "exports not loaded")
	}
	if f := h.m.sources.grace.Load(); f != nil {
		if st, ok := (*f)(); ok {
			why = append(why, h.graceReasons(st)...)
		}
	}
	if err := h.Live(); err != nil {
		why = append(why, err.Error())
	}
	if len(why) == 0 {
		return nil
	}
	return errors.New(strings.Join(why, "; "))
}

func (h *Health) graceReasons(st grace.Status) []string {
	var why []string
	switch st.Phase {
	case grace.PhaseInit, grace.PhaseJoining, grace.PhaseBeginning, grace.PhaseResetting:
		why = append(why, "grace: "+st.Phase.String())
	case grace.PhaseWaiting:
		w := "grace: waiting for peers to enforce"
		if len(st.Waiting) > 0 {
			w += ": " + strings.Join(st.Waiting, ", ")
		}
		why = append(why, w)
	case grace.PhaseStopped:
		why = append(why, "grace: stopped")
	case grace.PhaseFailed:
		w := "grace: failed"
		if st.Err != nil {
			w += ": " + st.Err.Error()
		}
		why = append(why, w)
	case grace.PhaseReclaim, grace.PhaseLifting:
		if h.UnreadyInGrace {
			why = append(why, fmt.Sprintf("in startup grace (unready_in_grace): %d clients still to reclaim", st.Pending))
		}
	}
	return why
}

func probe(check func() error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if err := check(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// Mux returns the handler of /metrics, /healthz and /readyz.
func (h *Health) Mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", h.m.Handler())
	mux.Handle("/healthz", probe(h.Live))
	mux.Handle("/readyz", probe(h.Ready))
	return mux
}

// Serve serves Mux on l until stop is called; it watches the serving
// loop's progress every second meanwhile, so that a wedge is seen even
// when nothing probes for a while.
func (h *Health) Serve(l net.Listener) (stop func()) {
	srv := &http.Server{Handler: h.Mux(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				h.Live()
			}
		}
	}()
	return func() {
		cancel()
		sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
		defer c()
		srv.Shutdown(sctx)
	}
}
