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

// rawTimed runs n goroutines of fn against the local file system for the
// duration of the matching NFS workload, and names the row "NAME (raw)".
func (b *bench) rawTimed(ctx context.Context, name string, n int, fn func(i int, rng *rand.Rand) error) Result {
	ops := make([]opFunc, n)
	for i := range ops {
		rng := rand.New(rand.NewPCG(uint64(i), 0x726177))
		ops[i] = func(context.Context) error { return fn(i, rng) }
	}
	r := b.timed(ctx, name+" (raw)", b.cfg.durationOf(name), ops)
	r.ServerCPU, r.ServerUsPerOp = 0, 0
	return r
}

// withRaw appends the raw row to nfs and sets nfs's ratio to it.
func withRaw(nfs Result, raw Result) []Result {
	if raw.Rate > 0 {
		nfs.Ratio = nfs.Rate / raw.Rate
	}
	return []Result{nfs, raw}
}

func (b *bench) runGetattrMany(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	fx, err := b.fixtures(ctx)
	if err != nil {
		return nil, err
	}
	n := b.cfg.fix.many
	logf("getattrmany: looking up %d files", n)
	fhs := make([][]byte, n)
	err = b.forEach(ctx, n, func(ctx context.Context, cl *nfsclient.Client, i int) error {
		fh, err := lookupAt(ctx, cl, fx.many, benchkit.ManyName(i))
		fhs[i] = fh
		return err
	})
	if err != nil {
		return nil, err
	}
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		rng := rand.New(rand.NewPCG(uint64(i), 0x6761))
		ops[i] = func(ctx context.Context) error {
			_, err := cl.GetattrMask(ctx, fhs[rng.IntN(n)], linuxAttrs)
			return err
		}
	}
	logf("getattrmany: %d clients for %s", len(ops), b.cfg.durationOf("getattrmany"))
	r := b.timed(ctx, "getattrmany", b.cfg.durationOf("getattrmany"), ops)
	r.note("PUTFH + GETATTR of a random one of %d files", n)
	dir := b.localFixture("many")
	if dir == "" {
		return []Result{r}, nil
	}
	raw := b.rawTimed(ctx, "getattrmany", len(ops), func(_ int, rng *rand.Rand) error {
		var st unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, filepath.Join(dir, benchkit.ManyName(rng.IntN(n))), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	})
	raw.note("statx(2) of a random file by path")
	return withRaw(r, raw), nil
}

func (b *bench) runGetattrRaw(ctx context.Context, r Result) []Result {
	dir := b.rawDir()
	if dir == "" {
		return []Result{r}
	}
	p := filepath.Join(dir, "getattr.raw")
	if err := os.WriteFile(p, make([]byte, 4096), 0o644); err != nil {
		r.note("raw: %v", err)
		return []Result{r}
	}
	defer os.Remove(p)
	fd, err := unix.Open(p, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return []Result{r}
	}
	defer unix.Close(fd)
	raw := b.rawTimed(ctx, "getattr", r.Clients, func(int, *rand.Rand) error {
		var st unix.Statx_t
		return unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_BASIC_STATS, &st)
	})
	raw.note("statx(2) of an open O_PATH descriptor")
	return withRaw(r, raw)
}

func (b *bench) runLookupDeep(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	fx, err := b.fixtures(ctx)
	if err != nil {
		return nil, err
	}
	comps := benchkit.DeepComponents(b.cfg.fix.depth)
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		c := cl.NewCompound("")
		ops[i] = func(ctx context.Context) error {
			c.Reset()
			c.PutFH(fx.deep)
			for _, n := range comps {
				c.Lookup(n)
			}
			c.GetFH().Getattr(linuxAttrs)
			r, err := cl.Do(ctx, c)
			if err != nil {
				return err
			}
			return r.Err()
		}
	}
	d := b.cfg.durationOf("lookupdeep")
	logf("lookupdeep: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "lookupdeep", d, ops)
	r.note("PUTFH + %d LOOKUPs + GETFH + GETATTR in one COMPOUND", len(comps))
	dir := b.localFixture("deep")
	if dir == "" {
		return []Result{r}, nil
	}
	leaf := filepath.Join(append([]string{dir}, comps...)...)
	raw := b.rawTimed(ctx, "lookupdeep", len(ops), func(int, *rand.Rand) error {
		var st unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, leaf, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	})
	raw.note("statx(2) of the %d-component path", len(comps))
	return withRaw(r, raw), nil
}

// walkPath is the path from the pseudo root to the i-th file of the
// fixture tree's walk directory, one component per LOOKUP.
func walkPath(exportPath, fixtures string, i int) []string {
	var out []string
	for _, p := range []string{exportPath, fixtures, "walk"} {
		for c := range strings.SplitSeq(p, "/") {
			if c != "" {
				out = append(out, c)
			}
		}
	}
	wc := benchkit.WalkComponents(i)
	return append(out, wc[0], wc[1])
}

func (b *bench) runPathWalk(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	if _, err := b.fixtures(ctx); err != nil {
		return nil, err
	}
	const files = benchkit.WalkDirs * benchkit.WalkFiles
	paths := make([][]string, files)
	for i := range paths {
		paths[i] = walkPath(b.exportPath, b.cfg.fixtures, i)
	}
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		rng := rand.New(rand.NewPCG(uint64(i), 0x7061))
		c := cl.NewCompound("")
		ops[i] = func(ctx context.Context) error {
			c.Reset()
			c.PutRootFH()
			for _, n := range paths[rng.IntN(files)] {
				c.Lookup(n)
			}
			c.Getattr(linuxAttrs)
			r, err := cl.Do(ctx, c)
			if err != nil {
				return err
			}
			return r.Err()
		}
	}
	d := b.cfg.durationOf("pathwalk")
	logf("pathwalk: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "pathwalk", d, ops)
	r.note("PUTROOTFH + %d LOOKUPs (/%s) + GETATTR of a random one of %d files in %d directories, in one COMPOUND",
		len(paths[0]), strings.Join(paths[0], "/"), files, benchkit.WalkDirs)
	dir := b.localFixture("walk")
	if dir == "" {
		return []Result{r}, nil
	}
	raw := b.rawTimed(ctx, "pathwalk", len(ops), func(_ int, rng *rand.Rand) error {
		wc := benchkit.WalkComponents(rng.IntN(files))
		var st unix.Statx_t
		return unix.Statx(unix.AT_FDCWD, filepath.Join(dir, wc[0], wc[1]), unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st)
	})
	raw.note("statx(2) of a random walk file by its path")
	return withRaw(r, raw), nil
}

// smallStable is the stability of the smallcreate WRITE.
func (b *bench) smallStable() uint32 {
	if b.cfg.smallFileSync {
		return nfs4.FileSync
	}
	return nfs4.Unstable
}

func (b *bench) runSmallCreate(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	dir, err := b.admin.Mkdir(ctx, b.dirFH, "smallcreate", 0o777)
	if err != nil {
		return nil, err
	}
	data := make([]byte, 4096)
	benchkit.FillPattern(data)
	stable := b.smallStable()
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		seq := 0
		ops[i] = func(ctx context.Context) error {
			seq++
			f, err := cl.Open(ctx, nfsclient.OpenRequest{Dir: dir, Name: fmt.Sprintf("c%d-%d", i, seq),
				Access: nfs4.ShareAccessBoth, Create: true, CreateMode: nfs4.CreateUnchecked,
				Attrs: new(nfsclient.SetAttrs).SetMode(0o644)})
			if err != nil {
				return err
			}
			if _, err := f.Write(ctx, data, 0, stable); err != nil {
				f.Close(ctx)
				return err
			}
			return f.Close(ctx)
		}
	}
	d := b.cfg.durationOf("smallcreate")
	logf("smallcreate: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "smallcreate", d, ops)
	how := "UNSTABLE"
	if stable == nfs4.FileSync {
		how = "FILE_SYNC"
	}
	r.note("OPEN4_CREATE of a new file + WRITE 4 KiB %s + CLOSE per op (3 round trips)", how)
	local := b.rawDir()
	if local == "" {
		return []Result{r}, nil
	}
	rawDir := filepath.Join(local, "smallcreate.raw")
	if err := os.Mkdir(rawDir, 0o777); err != nil {
		return []Result{r}, err
	}
	seqs := make([]int, len(ops))
	raw := b.rawTimed(ctx, "smallcreate", len(ops), func(i int, _ *rand.Rand) error {
		seqs[i]++
		fd, err := unix.Open(filepath.Join(rawDir, fmt.Sprintf("c%d-%d", i, seqs[i])), unix.O_CREAT|unix.O_RDWR|unix.O_CLOEXEC, 0o644)
		if err != nil {
			return err
		}
		_, err = unix.Write(fd, data)
		if err == nil && stable == nfs4.FileSync {
			err = unix.Fdatasync(fd)
		}
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
		return err
	})
	raw.note("open(O_CREAT) + write 4 KiB + close")
	return withRaw(r, raw), nil
}

func (b *bench) runSmallRead(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	fx, err := b.fixtures(ctx)
	if err != nil {
		return nil, err
	}
	n := b.cfg.fix.small
	ops := make([]opFunc, len(b.pool))
	for i, cl := range b.pool {
		rng := rand.New(rand.NewPCG(uint64(i), 0x7372))
		buf := make([]byte, 4096)
		c := cl.NewCompound("")
		ops[i] = func(ctx context.Context) error {
			name := benchkit.SmallName(rng.IntN(n))
			// stat: LOOKUP + GETATTR, as a path walk ends.
			c.Reset()
			c.PutFH(fx.small).Lookup(name).GetFH().Getattr(linuxAttrs)
			r, err := cl.Do(ctx, c)
			if err != nil {
				return err
			}
			if err := r.Err(); err != nil {
				return err
			}
			f, err := cl.OpenAt(ctx, fx.small, name, nfs4.ShareAccessRead, nfs4.ShareDenyNone)
			if err != nil {
				return err
			}
			got, err := f.ReadFull(ctx, buf, 0)
			if err == nil && got != len(buf) {
				err = fmt.Errorf("short read of %s: %d bytes", name, got)
			}
			if cerr := f.Close(ctx); err == nil {
				err = cerr
			}
			return err
		}
	}
	d := b.cfg.durationOf("smallread")
	logf("smallread: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "smallread", d, ops)
	r.note("LOOKUP + GETATTR, OPEN, READ 4 KiB, CLOSE of a random one of %d files (4 round trips)", n)
	dir := b.localFixture("small")
	if dir == "" {
		return []Result{r}, nil
	}
	bufs := make([][]byte, len(ops))
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	raw := b.rawTimed(ctx, "smallread", len(ops), func(i int, rng *rand.Rand) error {
		p := filepath.Join(dir, benchkit.SmallName(rng.IntN(n)))
		var st unix.Statx_t
		if err := unix.Statx(unix.AT_FDCWD, p, 0, unix.STATX_BASIC_STATS, &st); err != nil {
			return err
		}
		fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		_, err = unix.Read(fd, bufs[i])
		if cerr := unix.Close(fd); err == nil {
			err = cerr
		}
		return err
	})
	raw.note("statx + open + read 4 KiB + close")
	return withRaw(r, raw), nil
}

func (b *bench) runReaddir(ctx context.Context, name string) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	fx, err := b.fixtures(ctx)
	if err != nil {
		return nil, err
	}
	dirFH, entries, sub := fx.many, b.cfg.fix.many, "many"
	if name == "readdirbig" {
		dirFH, entries, sub = fx.big, b.cfg.fix.big, "big"
	}
	if entries == 0 {
		return nil, fmt.Errorf("%s: the fixture directory is empty", name)
	}
	nc := min(b.cfg.readdirClients, len(b.pool))
	opts := nfsclient.ReaddirOptions{Dircount: 64 << 10, Maxcount: uint32(min(b.admin.MaxRead(), 1<<20))}
	ops := make([]opFunc, nc)
	for i := range ops {
		cl := b.pool[i]
		ops[i] = func(ctx context.Context) error {
			// Counted page by page: the load generator shares the
			// server's cores, and joining 10,000 decoded entries into
			// one slice was a third of its CPU.
			n := 0
			err := cl.ReaddirPages(ctx, dirFH, opts, func(page []nfsclient.DirEntry) error {
				n += len(page)
				return nil
			})
			if err == nil && n != entries {
				err = fmt.Errorf("listed %d entries, want %d", n, entries)
			}
			return err
		}
	}
	d := b.cfg.durationOf(name)
	logf("%s: %d clients listing %d entries for %s", name, nc, entries, d)
	r := b.timed(ctx, name, d, ops)
	toEntries := func(r *Result) {
		r.Rate *= float64(entries)
		r.Unit = "entries/s"
		r.extra("listings", r.Ops)
	}
	toEntries(&r)
	r.note("whole listings of %d entries with type, change, size, filehandle, fileid, mode, numlinks (maxcount %d)", entries, opts.Maxcount)
	dir := b.localFixture(sub)
	if dir == "" {
		return []Result{r}, nil
	}
	raw := b.rawTimed(ctx, name, nc, func(int, *rand.Rand) error {
		return rawListing(dir, entries)
	})
	toEntries(&raw)
	raw.note("getdents64 + statx of each entry (what READDIR with attributes needs)")
	return withRaw(r, raw), nil
}

// rawListing reads dir and stats every entry, as a server answering
// READDIR with attributes must.
func rawListing(dir string, want int) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	var names []string
	n := 0
	for {
		m, err := unix.Getdents(fd, buf)
		if err != nil {
			return err
		}
		if m == 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:m], -1, names[:0])
		for _, name := range names {
			var st unix.Statx_t
			if err := unix.Statx(fd, name, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &st); err != nil {
				return err
			}
			n++
		}
	}
	if n < want {
		return fmt.Errorf("listed %d entries, want %d", n, want)
	}
	return nil
}

// runRandRW does 4 KiB reads and writes (half each, UNSTABLE) at random
// aligned offsets of the io file, every client with its own open.
func (b *bench) runRandRW(ctx context.Context) ([]Result, error) {
	if err := b.ensurePool(ctx); err != nil {
		return nil, err
	}
	if !b.io.ready {
		logf("randrw: writing the files first")
		if _, err := b.runWrite(ctx); err != nil {
			return nil, err
		}
	}
	blocks := int(b.io.bytes / 4096)
	files := make([]*nfsclient.OpenFile, len(b.pool))
	err := b.forEach(ctx, len(b.pool), func(ctx context.Context, _ *nfsclient.Client, i int) error {
		f, err := b.pool[i].OpenAt(ctx, b.dirFH, ioName, nfs4.ShareAccessBoth, nfs4.ShareDenyNone)
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
	ops := make([]opFunc, len(files))
	for i, f := range files {
		rng := rand.New(rand.NewPCG(uint64(i), 0x7277))
		buf := make([]byte, 4096)
		benchkit.FillPattern(buf)
		ops[i] = func(ctx context.Context) error {
			off := uint64(rng.IntN(blocks)) * 4096
			if rng.IntN(2) == 0 {
				_, err := f.ReadFull(ctx, buf, off)
				return err
			}
			_, err := f.Write(ctx, buf, off, nfs4.Unstable)
			return err
		}
	}
	d := b.cfg.durationOf("randrw")
	logf("randrw: %d clients for %s", len(ops), d)
	r := b.timed(ctx, "randrw", d, ops)
	r.note("4 KiB READ or UNSTABLE WRITE (half each) at a random aligned offset of the %s file", fmtBytes(float64(b.io.bytes)))
	if b.io.rawPath == "" {
		return []Result{r}, nil
	}
	fd, err := unix.Open(b.io.rawPath, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return []Result{r}, err
	}
	defer unix.Close(fd)
	bufs := make([][]byte, len(ops))
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
		benchkit.FillPattern(bufs[i])
	}
	raw := b.rawTimed(ctx, "randrw", len(ops), func(i int, rng *rand.Rand) error {
		off := int64(rng.IntN(blocks)) * 4096
		var err error
		if rng.IntN(2) == 0 {
			_, err = unix.Pread(fd, bufs[i], off)
		} else {
			_, err = unix.Pwrite(fd, bufs[i], off)
		}
		return err
	})
	raw.note("pread/pwrite 4 KiB at random offsets of the raw file")
	return withRaw(r, raw), nil
}

// runConnect connects -connect-clients clients all at once, each with its
// own connection and session, and has each read one small file; the rate
// is clients served per second, from the first dial to the last byte.
func (b *bench) runConnect(ctx context.Context) ([]Result, error) {
	fx, err := b.fixtures(ctx)
	if err != nil {
		return nil, err
	}
	n := b.cfg.connectClients
	r := Result{Name: "connect", Clients: n, Unit: "clients/s"}
	var mu sync.Mutex
	var lat []time.Duration
	var cls []*nfsclient.Client
	var errs atomic.Int64
	var first error
	start := make(chan struct{})
	var wg sync.WaitGroup
	s0 := b.sample()
	for i := range n {
		wg.Go(func() {
			<-start
			t0 := time.Now()
			cl, err := b.dial(ctx)
			if err == nil {
				mu.Lock()
				cls = append(cls, cl)
				mu.Unlock()
				var f *nfsclient.OpenFile
				f, err = cl.OpenAt(ctx, fx.small, benchkit.SmallName(i%b.cfg.fix.small), nfs4.ShareAccessRead, nfs4.ShareDenyNone)
				if err == nil {
					buf := make([]byte, 4096)
					_, err = f.ReadFull(ctx, buf, 0)
					if cerr := f.Close(ctx); err == nil {
						err = cerr
					}
				}
			}
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs.Add(1)
				if first == nil {
					first = err
				}
				return
			}
			lat = append(lat, d)
		})
	}
	logf("connect: %d clients at once", n)
	t0 := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(t0)
	s1 := b.sample()
	r.Ops = int64(len(lat))
	r.Errors = errs.Load()
	if first != nil {
		r.FirstError = first.Error()
	}
	r.Seconds = took.Seconds()
	r.Rate = float64(r.Ops) / r.Seconds
	r.setLatencies(lat)
	b.account(&r, s0, s1)
	r.extra("wall_s", took.Seconds())
	r.note("%d clients dialled at once: TCP + EXCHANGE_ID + CREATE_SESSION + RECLAIM_COMPLETE, then OPEN + READ 4 KiB + CLOSE; all done in %s",
		n, took.Round(time.Millisecond))
	if err := closeMany(cls, 64); err != nil {
		r.note("closing: %v", err)
	}
	if r.Ops == 0 {
		return []Result{r}, errors.Join(errors.New("no client finished"), first)
	}
	return []Result{r}, nil
}
