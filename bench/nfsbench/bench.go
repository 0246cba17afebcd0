package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// bench is one run: the server, the bench directory on it and the
// clients.
type bench struct {
	cfg     *config
	started time.Time

	addr       string // host:port
	exportPath string
	srv        *server // nil against an external server
	pid        int     // server pid for /proc figures; 0 if unknown
	tmp        string  // the exported temporary directory, when the bench owns the server
	localDir   string  // local path of the bench directory, when known

	dirName string // the bench directory, below exportPath
	rootFH  []byte
	dirFH   []byte

	admin *nfsclient.Client   // set-up, clean-up, write and read
	pool  []*nfsclient.Client // -clients clients of the timed workloads

	io  ioFiles
	fix *fixtureFHs

	notes   []string
	results []Result
}

// ioFiles are the files of the write and read workloads.
type ioFiles struct {
	ready   bool  // both exist with bytes bytes
	bytes   int64 // bytes in each
	rawPath string
}

// dial connects one 4.1 client with its own connection and session.
func (b *bench) dial(ctx context.Context) (*nfsclient.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return nfsclient.Dial(ctx, b.addr, nfsclient.Options{UID: uint32(b.cfg.uid), GID: uint32(b.cfg.gid)})
}

// dialMany connects n clients, conc at a time, until deadline. It returns
// the clients connected, the latency of each connection and the errors.
func (b *bench) dialMany(ctx context.Context, n, conc int, deadline time.Time) (cls []*nfsclient.Client, lat []time.Duration, errs int, firstErr error) {
	var mu sync.Mutex
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, n) {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if next.Add(1) > int64(n) {
					return
				}
				t0 := time.Now()
				cl, err := b.dial(ctx)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					errs++
					if firstErr == nil {
						firstErr = err
					}
				} else {
					cls = append(cls, cl)
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return cls, lat, errs, firstErr
}

// closeMany closes clients, conc at a time, and returns the first error.
func closeMany(cls []*nfsclient.Client, conc int) error {
	var mu sync.Mutex
	var first error
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(conc, len(cls)) {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(len(cls)) {
					return
				}
				if err := cls[i].Close(); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	return first
}

func (b *bench) setup(ctx context.Context) error {
	want := uint64(b.cfg.clients + 1024)
	if slices.Contains(b.cfg.workloads, "idleclients") {
		want += uint64(b.cfg.idleClients)
	}
	lim, err := raiseNofile(want)
	if err != nil {
		b.notes = append(b.notes, fmt.Sprintf("RLIMIT_NOFILE: %v; running with %d", err, lim))
	} else if b.cfg.addr == "" {
		b.notes = append(b.notes, fmt.Sprintf("RLIMIT_NOFILE %d for the bench and, inherited, for nfsgw", lim))
	}
	if b.cfg.addr == "" {
		tmp, err := os.MkdirTemp(b.cfg.tmpParent, "nfsbench-")
		if err != nil {
			return err
		}
		b.tmp = tmp
		if err := os.Chmod(tmp, 0o777); err != nil {
			return err
		}
		srv, err := startServer(b.cfg.nfsgw, tmp, b.cfg.nfsgwArgs)
		if err != nil {
			return err
		}
		b.srv, b.addr, b.exportPath, b.pid = srv, srv.addr, "/export", srv.pid()
		if got, err := readNofileLimit(b.pid); err == nil && got >= 0 && uint64(got) < lim {
			b.notes = append(b.notes, fmt.Sprintf("nfsgw runs with RLIMIT_NOFILE %d, below the bench's %d", got, lim))
		}
		logf("started %s (pid %d) on %s exporting %s", b.cfg.nfsgw, b.pid, b.addr, tmp)
	} else {
		b.addr, b.exportPath, b.pid = b.cfg.addr, b.cfg.exportPath, b.cfg.serverPID
		logf("using the server at %s%s", b.addr, b.exportPath)
	}
	if b.admin, err = b.dial(ctx); err != nil {
		return fmt.Errorf("connect to %s: %w", b.addr, err)
	}
	if b.rootFH, _, err = b.admin.LookupPath(ctx, b.exportPath); err != nil {
		return fmt.Errorf("lookup %s: %w", b.exportPath, err)
	}
	b.dirName = fmt.Sprintf("nfsbench-%d-%d", os.Getpid(), time.Now().UnixNano())
	if b.dirFH, err = b.admin.Mkdir(ctx, b.rootFH, b.dirName, 0o777); err != nil {
		return fmt.Errorf("mkdir %s/%s: %w", b.exportPath, b.dirName, err)
	}
	if root := b.tmp; root != "" || b.cfg.localRoot != "" {
		if root == "" {
			root = b.cfg.localRoot
		}
		b.localDir = filepath.Join(root, b.dirName)
		if _, err := os.Stat(b.localDir); err != nil {
			b.localDir = ""
			b.notes = append(b.notes, "the bench directory is not at the expected local path: no raw-disk figures")
		}
	}
	return nil
}

// rawDir is where the raw-disk files go: the bench directory itself when
// the bench runs the server, else -raw-dir ("" for none).
func (b *bench) rawDir() string {
	if b.localDir != "" {
		return b.localDir
	}
	return b.cfg.rawDir
}

// ensurePool connects the -clients clients of the timed workloads.
func (b *bench) ensurePool(ctx context.Context) error {
	if b.pool != nil {
		return nil
	}
	logf("connecting %d clients", b.cfg.clients)
	cls, _, errs, err := b.dialMany(ctx, b.cfg.clients, b.cfg.dialConc, time.Now().Add(2*time.Minute))
	if errs > 0 {
		closeMany(cls, b.cfg.dialConc)
		return fmt.Errorf("%d of %d clients failed to connect: %w", errs, b.cfg.clients, err)
	}
	b.pool = cls
	return nil
}

// forEach runs fn(cl, i) for i in [0, n) spread over the pool's clients.
func (b *bench) forEach(ctx context.Context, n int, fn func(ctx context.Context, cl *nfsclient.Client, i int) error) error {
	cls := b.pool
	if len(cls) == 0 {
		cls = []*nfsclient.Client{b.admin}
	}
	var next atomic.Int64
	errc := make(chan error, len(cls))
	var wg sync.WaitGroup
	for _, cl := range cls {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(ctx, cl, i); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return err
	}
	return ctx.Err()
}

// lookupAt returns the file handle of name in dir.
func lookupAt(ctx context.Context, cl *nfsclient.Client, dir []byte, name string) ([]byte, error) {
	c := cl.NewCompound("")
	c.PutFH(dir).Lookup(name).GetFH()
	r, err := cl.Do(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Ops[2].Res.(*nfsclient.GetFHRes).FH, nil
}

// createEmpty creates (or truncates) name in dir and closes it.
func createEmpty(ctx context.Context, cl *nfsclient.Client, dir []byte, name string) ([]byte, error) {
	f, err := cl.Create(ctx, dir, name, 0o644)
	if err != nil {
		return nil, err
	}
	return f.FH, f.Close(ctx)
}

// removeTree removes parent/name and everything below it over NFS.
func (b *bench) removeTree(ctx context.Context, parent []byte, name string) error {
	fh, err := lookupAt(ctx, b.admin, parent, name)
	if err != nil {
		return err
	}
	ents, err := b.admin.ReaddirWith(ctx, fh, nfsclient.ReaddirOptions{Attrs: &nfs4.Bitmap{}})
	if err != nil {
		return err
	}
	// Everything in parallel; what is not empty is a directory, emptied
	// and removed afterwards.
	var mu sync.Mutex
	var dirs []string
	err = b.forEach(ctx, len(ents), func(ctx context.Context, cl *nfsclient.Client, i int) error {
		err := cl.Remove(ctx, fh, ents[i].Name)
		if nfsclient.StatusOf(err) == nfs4.ErrNotempty {
			mu.Lock()
			dirs = append(dirs, ents[i].Name)
			mu.Unlock()
			return nil
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, d := range dirs {
		if err := b.removeTree(ctx, fh, d); err != nil {
			return err
		}
	}
	return b.admin.Remove(ctx, parent, name)
}

func (b *bench) cleanup() error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var errs []error
	if b.srv == nil && b.localDir != "" {
		// The raw files sit beside the NFS ones, behind the server's back:
		// remove the whole directory locally.
		logf("removing %s", b.localDir)
		if err := os.RemoveAll(b.localDir); err != nil {
			errs = append(errs, err)
		}
	} else if b.srv == nil && b.admin != nil && b.dirFH != nil {
		logf("removing %s/%s", b.exportPath, b.dirName)
		if err := b.removeTree(ctx, b.rootFH, b.dirName); err != nil {
			errs = append(errs, fmt.Errorf("remove %s/%s: %w", b.exportPath, b.dirName, err))
		}
	}
	if b.pool != nil {
		if err := closeMany(b.pool, b.cfg.dialConc); err != nil && b.srv != nil && !b.srv.exited() {
			errs = append(errs, fmt.Errorf("close clients: %w", err))
		}
	}
	if b.admin != nil {
		if err := b.admin.Close(); err != nil && b.srv != nil && !b.srv.exited() {
			errs = append(errs, fmt.Errorf("close client: %w", err))
		}
	}
	if b.srv != nil {
		if b.srv.exited() {
			errs = append(errs, fmt.Errorf("nfsgw had exited before the end: %v\n%s", b.srv.err, b.srv.log.Tail()))
		} else {
			took, err := b.srv.stop()
			if err != nil {
				errs = append(errs, err)
			}
			b.notes = append(b.notes, fmt.Sprintf("nfsgw (pid %d) stopped by SIGTERM in %s", b.pid, took.Round(time.Millisecond)))
		}
	}
	if b.tmp != "" {
		if err := os.RemoveAll(b.tmp); err != nil {
			errs = append(errs, err)
		}
	} else if b.io.rawPath != "" {
		if err := os.Remove(b.io.rawPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sample is a snapshot of the CPU used so far.
type sample struct {
	at     time.Time
	srvCPU time.Duration
	srvOK  bool
	self   time.Duration
	sys    time.Duration // busy CPU time of the whole machine
	sysOK  bool
}

func (b *bench) sample() sample {
	s := sample{at: time.Now(), self: selfCPU()}
	if t, err := readSystemCPU(); err == nil {
		s.sys, s.sysOK = t, true
	}
	if b.pid > 0 {
		if ps, err := readProcStat(b.pid); err == nil {
			s.srvCPU, s.srvOK = ps.cpu, true
		}
	}
	return s
}

// account fills r's CPU and memory figures from two samples.
func (b *bench) account(r *Result, s0, s1 sample) {
	r.BenchCPU = (s1.self - s0.self).Seconds()
	if s0.srvOK && s1.srvOK {
		r.ServerCPU = (s1.srvCPU - s0.srvCPU).Seconds()
		if r.Ops > 0 {
			r.ServerUsPerOp = r.ServerCPU * 1e6 / float64(r.Ops)
		}
	}
	// /proc/stat counts in ticks of 10 ms: too coarse for short windows.
	if s0.sysOK && s1.sysOK && s1.at.Sub(s0.at) >= time.Second {
		// What neither the server nor the bench used: other processes
		// competing for the CPUs, which makes the figures unreliable.
		other := (s1.sys - s0.sys).Seconds() - r.BenchCPU - r.ServerCPU
		r.OtherCPU = max(0, other)
	}
	if b.pid > 0 {
		if rss, _, err := readRSS(b.pid); err == nil {
			r.ServerRSS = rss
		}
	}
}

// opFunc is one operation of a timed workload.
type opFunc func(ctx context.Context) error

// timed runs each ops[i] in a loop on a goroutine of its own for a short
// warm-up and then d, and returns the operations that started within d,
// their rate and latencies. An operation that fails with an NFS status is
// counted as an error and the loop goes on; any other failure (transport,
// decoding) ends that goroutine.
func (b *bench) timed(ctx context.Context, name string, d time.Duration, ops []opFunc) Result {
	var s0 sample
	l := benchkit.Run(ctx, d, len(ops), func(ctx context.Context, i int) error { return ops[i](ctx) },
		func(err error) bool { return nfsclient.StatusOf(err) == nfsclient.NoStatus },
		func() { s0 = b.sample() })
	s1 := b.sample()
	r := Result{Name: name, Clients: len(ops), Depth: 1, Unit: "ops/s",
		Ops: int64(len(l.Lat)), Errors: l.Errors, Seconds: l.Seconds(), Rate: l.Rate()}
	if l.FirstError != nil {
		r.FirstError = l.FirstError.Error()
	}
	r.setLatencies(l.Lat)
	b.account(&r, s0, s1)
	return r
}
