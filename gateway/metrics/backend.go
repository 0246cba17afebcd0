package metrics

import (
	"errors"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Backend times the calls of one backend (libcephfs) and counts their
// errors. Its calls are numbered by the backend (the index in the names
// given to Backend), so that an observation costs an array index and a
// shard's atomics (the shard picked at random: a backend call does not
// know its connection), nothing else.
type Backend struct {
	m     *Metrics
	name  string
	calls []string
	hists []histogram
}

var backendTimeDesc = desc("backend_call_duration_seconds", "Time of one backend call (libcephfs), by backend and call.", "backend", "call")

// Backend returns the instrumentation of backend name, whose calls are
// named by calls. Call it once per backend, at start.
func (m *Metrics) Backend(name string, calls []string) *Backend {
	b := &Backend{m: m, name: name, calls: calls, hists: make([]histogram, len(calls))}
	m.backendsMu.Lock()
	m.backends = append(m.backends, b)
	m.backendsMu.Unlock()
	return b
}

// Observe records that call number call took d and failed with err (nil:
// it succeeded). An errno is counted by its name (ENOENT, ...).
func (b *Backend) Observe(call int, d time.Duration, err error) {
	if b == nil || call < 0 || call >= len(b.hists) {
		return
	}
	b.hists[call].observe(rand.Uint32(), d)
	if err != nil {
		b.m.backendErrs.WithLabelValues(b.name, b.calls[call], errnoName(err)).Inc()
	}
}

func (b *Backend) collect(ch chan<- prometheus.Metric) {
	for i := range b.hists {
		if h := &b.hists[i]; h.used() {
			ch <- h.metric(backendTimeDesc, b.m.created, b.name, b.calls[i])
		}
	}
}

// errnoName names an errno the way errno(3) does; other errors are
// "other". The set of names is bounded, and so is the label.
func errnoName(err error) string {
	var en syscall.Errno
	if !errors.As(err, &en) {
		return "other"
	}
	if n, ok := errnoNames[en]; ok {
		return n
	}
	return "other"
}

var errnoNames = map[syscall.Errno]string{
	syscall.EPERM: "EPERM", syscall.ENOENT: "ENOENT", syscall.EIO: "EIO", syscall.ENXIO: "ENXIO",
	syscall.EBADF: "EBADF", syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EACCES: "EACCES",
	syscall.EBUSY: "EBUSY", syscall.EEXIST: "EEXIST", syscall.EXDEV: "EXDEV", syscall.ENOTDIR: "ENOTDIR",
	syscall.EISDIR: "EISDIR", syscall.EINVAL: "EINVAL", syscall.EFBIG: "EFBIG", syscall.ENOSPC: "ENOSPC",
	syscall.EROFS: "EROFS", syscall.EMLINK: "EMLINK", syscall.ERANGE: "ERANGE", syscall.EDEADLK: "EDEADLK",
	syscall.ENAMETOOLONG: "ENAMETOOLONG", syscall.ENOSYS: "ENOSYS", syscall.ENOTEMPTY: "ENOTEMPTY",
	syscall.ELOOP: "ELOOP", syscall.ENODATA: "ENODATA", syscall.EOPNOTSUPP: "EOPNOTSUPP",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.ESTALE: "ESTALE", syscall.EDQUOT: "EDQUOT",
	syscall.ENOTCONN: "ENOTCONN", syscall.ESHUTDOWN: "ESHUTDOWN",
	syscall.ECONNREFUSED: "ECONNREFUSED", syscall.EINTR: "EINTR",
}
