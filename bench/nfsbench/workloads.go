package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/nfs4"
	"nfsgw/gateway/nfsclient"
)

// linuxAttrs is what the Linux client asks for in its GETATTRs
// (nfs4_fattr_bitmap in fs/nfs/nfs4proc.c).
var linuxAttrs = nfsclient.MakeBitmap(nfs4.AttrType, nfs4.AttrChange, nfs4.AttrSize,
	nfs4.AttrFsid, nfs4.AttrFileid, nfs4.AttrMode, nfs4.AttrNumlinks,
	nfs4.AttrOwner, nfs4.AttrOwnerGroup, nfs4.AttrRawdev, nfs4.AttrSpaceUsed,
	nfs4.AttrTimeAccess, nfs4.AttrTimeMetadata, nfs4.AttrTimeModify,
	nfs4.AttrMountedOnFileid)

// missingAttrs lists the attributes of want a server left out of got.
func missingAttrs(want, got nfs4.Bitmap) []string {
	var out []string
	for _, n := range want.Bits() {
		if !got.Has(n) {
			out = append(out, fmt.Sprint(n))
		}
	}
	return out
}

func (b *bench) runGetattr(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	f, err := b.admin.Create(ctx, b.dirFH, "getattr.dat", 0o644)
	if err != nil {
		return nil, err
	}
	if _, _, err := f.WriteAll(ctx, make([]byte, 4096), 0, nfs4.FileSync); err != nil {
		f.Close(ctx)
		return nil, err
	}
	if err := f.Close(ctx); err != nil {
		return nil, err
	}
	fh := f.FH
	a, err := b.admin.GetattrMask(ctx, fh, linuxAttrs)
	if err != nil {
		return nil, err
	}
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		ops[i] = func(ctx context.Context) error {
			_, err := cl.GetattrMask(ctx, fh, linuxAttrs)
			return err
		}
	}
	d := b.cfg.durationOf("getattr")
	logf("getattr: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "getattr", d, ops)
	if m := missingAttrs(linuxAttrs, a.Mask); len(m) > 0 {
		r.note("the server does not return attributes %s", strings.Join(m, ","))
	}
	return b.runGetattrRaw(ctx, r), nil
}

func (b *bench) runLookup(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	dir, err := b.admin.Mkdir(ctx, b.dirFH, "lookup", 0o777)
	if err != nil {
		return nil, err
	}
	n := b.cfg.lookupFiles
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("file%05d", i)
	}
	logf("lookup: creating %d files", n)
	t0 := time.Now()
	err = b.forEach(ctx, n, func(ctx context.Context, cl *nfsclient.Client, i int) error {
		_, err := createEmpty(ctx, cl, dir, names[i])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("creating the lookup files: %w", err)
	}
	created := time.Since(t0)

	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		rng := rand.New(rand.NewPCG(uint64(i), 0x6e667362))
		c := cl.NewCompound("")
		ops[i] = func(ctx context.Context) error {
			c.Reset()
			c.PutFH(dir).Lookup(names[rng.IntN(n)]).GetFH().Getattr(linuxAttrs)
			r, err := cl.Do(ctx, c)
			if err != nil {
				return err
			}
			return r.Err()
		}
	}
	d := b.cfg.durationOf("lookup")
	logf("lookup: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "lookup", d, ops)
	r.note("%d files; creating them (OPEN4_CREATE + CLOSE, %d clients) took %s",
		n, len(b.pool), created.Round(time.Millisecond))
	return []Result{r}, nil
}

func (b *bench) runOpenClose(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	dir, err := b.admin.Mkdir(ctx, b.dirFH, "openclose", 0o777)
	if err != nil {
		return nil, err
	}
	d := b.cfg.durationOf("openclose")

	// Each OPEN creates a new file.
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		seq := 0
		ops[i] = func(ctx context.Context) error {
			seq++
			f, err := cl.Open(ctx, nfsclient.OpenRequest{Dir: dir, Name: fmt.Sprintf("new-%d-%d", i, seq),
				Access: nfs4.ShareAccessBoth, Create: true, CreateMode: nfs4.CreateUnchecked,
				Attrs: new(nfsclient.SetAttrs).SetMode(0o644)})
			if err != nil {
				return err
			}
			return f.Close(ctx)
		}
	}
	logf("openclose/create: %d clients for %s", len(ops), d)
	create := b.timed(ctx, "openclose/create", d, ops)
	if ctx.Err() != nil {
		return []Result{create}, ctx.Err()
	}

	// Each client opens a file of its own that exists.
	err = b.forEach(ctx, len(b.pool), func(ctx context.Context, cl *nfsclient.Client, i int) error {
		_, err := createEmpty(ctx, cl, dir, fmt.Sprintf("old-%d", i))
		return err
	})
	if err != nil {
		return []Result{create}, err
	}
	for i, cl := range b.pool {
		name := fmt.Sprintf("old-%d", i)
		ops[i] = func(ctx context.Context) error {
			f, err := cl.OpenAt(ctx, dir, name, nfs4.ShareAccessBoth, nfs4.ShareDenyNone)
			if err != nil {
				return err
			}
			return f.Close(ctx)
		}
	}
	logf("openclose/existing: %d clients for %s", len(ops), d)
	existing := b.timed(ctx, "openclose/existing", d, ops)
	create.note("OPEN4_CREATE (UNCHECKED4) of a new file + CLOSE per op; OPEN carries GETFH + GETATTR as Linux's does")
	existing.note("OPEN4_NOCREATE of the client's own existing file + CLOSE per op")
	return []Result{create, existing}, nil
}

func (b *bench) runLockUnlock(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	dir, err := b.admin.Mkdir(ctx, b.dirFH, "lock", 0o777)
	if err != nil {
		return nil, err
	}
	files := make([]*nfsclient.OpenFile, len(b.pool))
	err = b.forEach(ctx, len(b.pool), func(ctx context.Context, _ *nfsclient.Client, i int) error {
		f, err := b.pool[i].Create(ctx, dir, fmt.Sprintf("lock-%d", i), 0o644)
		files[i] = f
		return err
	})
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close(ctx)
			}
		}
	}()
	if err != nil {
		return nil, err
	}
	const whole = ^uint64(0)
	ops := make([]opFunc, len(files))
	for i, f := range files {
		ops[i] = func(ctx context.Context) error {
			if err := f.Lock(ctx, nfs4.WriteLT, 0, whole); err != nil {
				return err
			}
			return f.Unlock(ctx, 0, whole)
		}
	}
	d := b.cfg.durationOf("lockunlock")
	logf("lockunlock: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "lockunlock", d, ops)
	r.note("LOCK (whole-file write lock) + LOCKU per op; the first LOCK of each client's lock-owner (open_to_lock_owner4) is in the warm-up")
	return []Result{r}, nil
}

// ioResult is one pass of the write or read workloads.
type ioResult struct {
	bytes int64
	took  time.Duration
	lat   []time.Duration
	s0    sample
	s1    sample
}

// ioPass moves total bytes in chunks of size, depth chunks at a time, in
// order of offset, by calling do(off, n) and stopping at the first error
// or after limit.
func ioPass(ctx context.Context, b *bench, total int64, size, depth int, limit time.Duration,
	do func(ctx context.Context, buf []byte, off int64) error) (ioResult, error) {
	var res ioResult
	var next, done atomic.Int64
	var mu sync.Mutex
	var first error
	deadline := time.Now().Add(limit)
	res.s0 = b.sample()
	start := time.Now()
	var wg sync.WaitGroup
	for range depth {
		wg.Go(func() {
			buf := make([]byte, size)
			benchkit.FillPattern(buf)
			var lat []time.Duration
			defer func() {
				mu.Lock()
				res.lat = append(res.lat, lat...)
				mu.Unlock()
			}()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				off := next.Add(int64(size)) - int64(size)
				if off >= total {
					return
				}
				n := int(min(int64(size), total-off))
				t0 := time.Now()
				if err := do(ctx, buf[:n], off); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("at offset %d: %w", off, err)
					}
					mu.Unlock()
					next.Store(total) // stop the others
					return
				}
				lat = append(lat, time.Since(t0))
				done.Add(int64(n))
			}
		})
	}
	wg.Wait()
	res.took = time.Since(start)
	res.bytes = done.Load()
	if first == nil {
		first = ctx.Err()
	}
	return res, first
}

func (b *bench) ioResult(name string, depth int, p ioResult) Result {
	r := Result{Name: name, Clients: 1, Depth: depth, Unit: "MiB/s", Bytes: p.bytes, Ops: int64(len(p.lat)),
		Seconds: p.took.Seconds()}
	if r.Seconds > 0 {
		r.Rate = float64(p.bytes) / (1 << 20) / r.Seconds
	}
	r.setLatencies(p.lat)
	b.account(&r, p.s0, p.s1)
	return r
}

const (
	ioName  = "io.dat"
	rawName = "raw.dat"
)

// writeNFS writes the io file: WRITEs, then COMMIT.
func (b *bench) writeNFS(ctx context.Context) (Result, error) {
	// Start with no dirty pages from earlier work (this run's or another
	// server's), so that write-back throttling hits every write pass alike.
	unix.Sync()
	cl := b.admin
	f, err := cl.Create(ctx, b.dirFH, ioName, 0o644)
	if err != nil {
		return Result{}, err
	}
	defer f.Close(ctx)
	var verfMu sync.Mutex
	var verf [nfs4.VerifierSize]byte
	var haveVerf, verfChanged bool
	var weakest uint32 = nfs4.FileSync
	p, err := ioPass(ctx, b, b.cfg.size, b.cfg.ioSize, b.cfg.ioDepth, b.cfg.ioTimeout,
		func(ctx context.Context, buf []byte, off int64) error {
			for len(buf) > 0 {
				res, err := f.Write(ctx, buf, uint64(off), nfs4.Unstable)
				if err != nil {
					return err
				}
				if res.Count == 0 {
					return errors.New("WRITE wrote nothing")
				}
				verfMu.Lock()
				if haveVerf && res.Verifier != verf {
					verfChanged = true
				}
				verf, haveVerf = res.Verifier, true
				weakest = min(weakest, res.Committed)
				verfMu.Unlock()
				buf = buf[res.Count:]
				off += int64(res.Count)
			}
			return nil
		})
	var commitTook time.Duration
	var cv [nfs4.VerifierSize]byte
	if err == nil {
		t0 := time.Now()
		cv, err = f.Commit(ctx, 0, 0)
		commitTook = time.Since(t0)
		p.took += commitTook
	}
	p.s1 = b.sample()
	r := b.ioResult("write", b.cfg.ioDepth, p)
	r.extra("commit_us", us(commitTook))
	r.note("%s in %s UNSTABLE WRITEs + COMMIT (COMMIT took %s)", fmtBytes(float64(p.bytes)),
		benchkit.FormatSize(int64(b.cfg.ioSize)), commitTook.Round(time.Microsecond))
	if weakest != nfs4.Unstable {
		r.note("the server answered UNSTABLE WRITEs with stability %d", weakest)
	}
	if verfChanged || (err == nil && haveVerf && cv != verf) {
		r.note("the write verifier changed during the run: a client would have to rewrite")
	}
	if cl.MaxWrite() < uint32(b.cfg.ioSize) {
		r.note("the server's maxwrite (%d) is below -iosize: WRITEs were split", cl.MaxWrite())
	}
	if p.bytes < b.cfg.size && err == nil {
		r.note("stopped by -io-timeout after %s of %s", fmtBytes(float64(p.bytes)), fmtBytes(float64(b.cfg.size)))
	}
	if err != nil {
		return r, err
	}
	if cerr := f.Close(ctx); cerr != nil {
		return r, cerr
	}
	b.io.bytes = p.bytes
	return r, nil
}

// writeRaw writes the same number of bytes into the raw file with pwrite
// and fsyncs it.
func (b *bench) writeRaw(ctx context.Context, dir string, total int64) (Result, error) {
	path := filepath.Join(dir, fmt.Sprintf("%s.%d", rawName, os.Getpid()))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return Result{}, err
	}
	b.io.rawPath = path
	defer f.Close()
	unix.Sync() // as in writeNFS

	// pwrite is serialized on the inode anyway: one writer, like a
	// program writing a file sequentially.
	p, err := ioPass(ctx, b, total, b.cfg.ioSize, 1, b.cfg.ioTimeout,
		func(_ context.Context, buf []byte, off int64) error {
			_, err := f.WriteAt(buf, off)
			return err
		})
	var syncTook time.Duration
	if err == nil {
		t0 := time.Now()
		err = f.Sync()
		syncTook = time.Since(t0)
		p.took += syncTook
	}
	p.s1 = b.sample()
	r := b.ioResult("write (raw)", 1, p)
	r.note("pwrite(2) of %s chunks + fsync (fsync took %s) in %s", benchkit.FormatSize(int64(b.cfg.ioSize)),
		syncTook.Round(time.Microsecond), dir)
	r.ServerCPU, r.ServerUsPerOp = 0, 0
	return r, err
}

func (b *bench) readNFS(ctx context.Context) (Result, error) {
	f, err := b.admin.OpenAt(ctx, b.dirFH, ioName, nfs4.ShareAccessRead, nfs4.ShareDenyNone)
	if err != nil {
		return Result{}, err
	}
	defer f.Close(ctx)
	p, err := ioPass(ctx, b, b.io.bytes, b.cfg.ioSize, b.cfg.ioDepth, b.cfg.ioTimeout,
		func(ctx context.Context, buf []byte, off int64) error {
			n, err := f.ReadFull(ctx, buf, uint64(off))
			if err == nil && n < len(buf) {
				err = fmt.Errorf("short read: %d of %d bytes", n, len(buf))
			}
			return err
		})
	p.s1 = b.sample()
	r := b.ioResult("read", b.cfg.ioDepth, p)
	r.note("%s in %s READs", fmtBytes(float64(p.bytes)), benchkit.FormatSize(int64(b.cfg.ioSize)))
	if b.admin.MaxRead() < uint32(b.cfg.ioSize) {
		r.note("the server's maxread (%d) is below -iosize: READs were split", b.admin.MaxRead())
	}
	return r, err
}

func (b *bench) readRaw(ctx context.Context) (Result, error) {
	f, err := os.Open(b.io.rawPath)
	if err != nil {
		return Result{}, err
	}
	defer f.Close()
	p, err := ioPass(ctx, b, b.io.bytes, b.cfg.ioSize, 1, b.cfg.ioTimeout,
		func(_ context.Context, buf []byte, off int64) error {
			_, err := f.ReadAt(buf, off)
			return err
		})
	p.s1 = b.sample()
	r := b.ioResult("read (raw)", 1, p)
	r.note("pread(2) of %s chunks, from the page cache like the server's", benchkit.FormatSize(int64(b.cfg.ioSize)))
	r.ServerCPU, r.ServerUsPerOp = 0, 0
	return r, err
}

// runWrite writes the io file over NFS, then the raw file locally.
func (b *bench) runWrite(ctx context.Context) ([]Result, error) {
	logf("write: %s over NFS (iodepth %d)", benchkit.FormatSize(b.cfg.size), b.cfg.ioDepth)
	w, err := b.writeNFS(ctx)
	if err != nil {
		return []Result{w}, err
	}
	out := []Result{w}
	if dir := b.rawDir(); dir != "" {
		logf("write: %s to the local disk", fmtBytes(float64(b.io.bytes)))
		raw, err := b.writeRaw(ctx, dir, b.io.bytes)
		out = append(out, raw)
		if err != nil {
			return out, err
		}
		if raw.Rate > 0 {
			out[0].Ratio = w.Rate / raw.Rate
		}
	} else {
		out[0].note("no raw-disk figure: give -raw-dir with -addr")
	}
	b.io.ready = true
	return out, nil
}

// runRead reads the io file over NFS, then the raw file locally. Without
// a write run before it writes them first, unmeasured.
func (b *bench) runRead(ctx context.Context) ([]Result, error) {
	if !b.io.ready {
		logf("read: writing the files to read first")
		if _, err := b.runWrite(ctx); err != nil {
			return nil, err
		}
	}
	logf("read: %s over NFS (iodepth %d)", fmtBytes(float64(b.io.bytes)), b.cfg.ioDepth)
	r, err := b.readNFS(ctx)
	if err != nil {
		return []Result{r}, err
	}
	out := []Result{r}
	if b.io.rawPath != "" {
		logf("read: %s from the local disk", fmtBytes(float64(b.io.bytes)))
		raw, err := b.readRaw(ctx)
		out = append(out, raw)
		if err != nil {
			return out, err
		}
		if raw.Rate > 0 {
			out[0].Ratio = r.Rate / raw.Rate
		}
	}
	return out, nil
}

// runIdle connects -idle-clients clients with sessions and reports what
// they cost the server in resident memory.
func (b *bench) runIdle(ctx context.Context) ([]Result, error) {
	n := b.cfg.idleClients
	r := Result{Name: "idleclients", Clients: n, Unit: "B/client"}
	var rss0, rss1, rss2, hwm1 int64
	var fds0, fds1 int
	if b.pid > 0 {
		time.Sleep(500 * time.Millisecond) // let the server settle
		var err error
		if rss0, _, err = readRSS(b.pid); err != nil {
			return nil, err
		}
		fds0 = countFDs(b.pid)
		if lim, err := readNofileLimit(b.pid); err == nil && lim >= 0 && lim < int64(n)+16 {
			r.note("the server's RLIMIT_NOFILE is %d: not enough for %d clients", lim, n)
		} else if err == nil {
			r.extra("server_nofile", lim)
		}
	} else {
		r.note("no server pid (-server-pid): no memory figures")
	}
	logf("idleclients: connecting %d clients (%d at a time)", n, b.cfg.dialConc)
	s0 := b.sample()
	t0 := time.Now()
	cls, lat, errs, firstErr := b.dialMany(ctx, n, b.cfg.dialConc, time.Now().Add(b.cfg.idleTimeout))
	connectTook := time.Since(t0)
	s1 := b.sample()
	defer func() {
		if cls != nil {
			closeMany(cls, b.cfg.dialConc)
		}
	}()
	r.Ops = int64(len(cls))
	r.Errors = int64(errs)
	if firstErr != nil {
		r.FirstError = firstErr.Error()
	}
	r.Seconds = connectTook.Seconds()
	r.setLatencies(lat)
	b.account(&r, s0, s1)
	r.ServerUsPerOp = 0
	if r.Ops > 0 {
		r.ServerUsPerOp = r.ServerCPU * 1e6 / float64(r.Ops)
	}
	r.extra("connected", len(cls))
	r.extra("connect_s", connectTook.Seconds())
	r.note("%d clients connected in %s (%.0f/s): TCP connect + EXCHANGE_ID + CREATE_SESSION + RECLAIM_COMPLETE + GETATTR each; p50/p99 are per client",
		len(cls), connectTook.Round(time.Millisecond), float64(len(cls))/connectTook.Seconds())

	if b.pid > 0 && len(cls) > 0 {
		time.Sleep(2 * time.Second) // let the server settle
		var err error
		if rss1, hwm1, err = readRSS(b.pid); err != nil {
			return []Result{r}, err
		}
		fds1 = countFDs(b.pid)
		ps, _ := readProcStat(b.pid)
		r.Rate = float64(rss1-rss0) / float64(len(cls))
		r.ServerRSS = rss1
		r.extra("rss_before", rss0)
		r.extra("rss_after", rss1)
		r.extra("hwm_after", hwm1)
		r.extra("fds_before", fds0)
		r.extra("fds_after", fds1)
		r.extra("threads_after", ps.threads)
		r.note("server VmRSS %s before, %s with %d idle clients (VmHWM %s); %d fds before, %d after; %d threads",
			fmtBytes(float64(rss0)), fmtBytes(float64(rss1)), len(cls), fmtBytes(float64(hwm1)), fds0, fds1, ps.threads)
	}

	logf("idleclients: disconnecting %d clients", len(cls))
	t1 := time.Now()
	closeErr := closeMany(cls, b.cfg.dialConc)
	closeTook := time.Since(t1)
	cls = nil
	r.extra("close_s", closeTook.Seconds())
	if b.pid > 0 && rss1 > 0 {
		time.Sleep(time.Second)
		rss2, _, _ = readRSS(b.pid)
		r.extra("rss_after_close", rss2)
		r.note("closing them (DESTROY_SESSION + DESTROY_CLIENTID) took %s; VmRSS %s one second later",
			closeTook.Round(time.Millisecond), fmtBytes(float64(rss2)))
	}
	if closeErr != nil {
		r.note("closing: %v", closeErr)
	}
	if errs > 0 && len(cls) == 0 && r.Ops == 0 {
		return []Result{r}, fmt.Errorf("no client connected: %v", firstErr)
	}
	return []Result{r}, nil
}
