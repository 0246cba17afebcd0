//go:build !noceph

package main

import (
	"nfsgw/bench/internal/benchkit"

	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"nfsgw/cephfsal"
	"nfsgw/gateway/fsal"
)

// run is one measuring run: one libcephfs client, a work directory of its
// own and the fixture tree.
type run struct {
	cfg *config
	m   *cephfsal.Mount
	fs  fsal.FS // an export of "/": handles, inode cache, no NFS

	dir  string // the work directory (absolute CephFS path)
	dirH fsal.Handle
	fix  string // the fixture tree (absolute CephFS path)

	ioPath  string // the file of write, read and randrw
	ioBytes int64  // bytes in it; 0 until written
}

// fixture returns the handle of fixtures/sub.
func (r *run) fixture(ctx context.Context, sub string) (fsal.Handle, error) {
	h, err := walk(ctx, r.fs, path.Join(r.fix, sub))
	if err != nil {
		return nil, fmt.Errorf("fixture directory %s/%s: %w", r.fix, sub, err)
	}
	return h, nil
}

// getattr: ceph_ll_getattr of one 4 KiB file this client made (nfsbench:
// PUTFH + GETATTR of a file the bench made through the server).
func (r *run) getattr(ctx context.Context) (result, error) {
	name := path.Join(r.dir, "getattr.dat")
	data := make([]byte, 4096)
	if err := putFile(r.m, name, data); err != nil {
		return result{}, err
	}
	h, _, err := r.fs.Lookup(ctx, fsal.Root, r.dirH, "getattr.dat")
	if err != nil {
		return result{}, err
	}
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		ops[i] = func() error {
			_, err := r.fs.Getattr(ctx, fsal.Root, h)
			return err
		}
	}
	res := timed(ctx, "getattr", r.cfg.durationOf("getattr"), ops)
	res.note("getattr of one file's held inode (cephfsal Getattr: one ceph_ll_getattr)")
	return res, nil
}

// getattrmany: the same on a random one of the -many-files files, all
// looked up first (as nfsbench looks up their handles first).
func (r *run) getattrmany(ctx context.Context) (result, error) {
	dir, err := r.fixture(ctx, "many")
	if err != nil {
		return result{}, err
	}
	n := r.cfg.fix.many
	hs := make([]fsal.Handle, n)
	err = parallel(ctx, r.cfg.clients, n, func(i int) error {
		h, _, err := r.fs.Lookup(ctx, fsal.Root, dir, benchkit.ManyName(i))
		hs[i] = h
		return err
	})
	if err != nil {
		return result{}, fmt.Errorf("looking up the %d files: %w", n, err)
	}
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		rng := workerRand(i, 0x6761)
		ops[i] = func() error {
			_, err := r.fs.Getattr(ctx, fsal.Root, hs[rng.IntN(n)])
			return err
		}
	}
	res := timed(ctx, "getattrmany", r.cfg.durationOf("getattrmany"), ops)
	res.note("getattr of a random one of %d files, looked up beforehand", n)
	return res, nil
}

// lookupdeep: the 17 lookups from fixtures/deep to its leaf, then a
// getattr of the leaf (nfsbench: PUTFH + 17 LOOKUPs + GETFH + GETATTR).
func (r *run) lookupdeep(ctx context.Context) (result, error) {
	deep, err := r.fixture(ctx, "deep")
	if err != nil {
		return result{}, err
	}
	comps := benchkit.DeepComponents(r.cfg.fix.depth)
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		ops[i] = func() error {
			h := deep
			for _, c := range comps {
				var err error
				if h, _, err = r.fs.Lookup(ctx, fsal.Root, h, c); err != nil {
					return err
				}
			}
			_, err := r.fs.Getattr(ctx, fsal.Root, h)
			return err
		}
	}
	res := timed(ctx, "lookupdeep", r.cfg.durationOf("lookupdeep"), ops)
	res.note("%d lookups (cephfsal Lookup: ceph_ll_lookup) + getattr of the leaf", len(comps))
	return res, nil
}

// pathwalk: a lookup per component from the CephFS root to a random file
// of fixtures/walk, then a getattr (nfsbench: PUTROOTFH + a LOOKUP per
// component from the pseudo root + GETATTR; the gateway's export prefix
// is walked here as CephFS directories).
func (r *run) pathwalk(ctx context.Context) (result, error) {
	if _, err := r.fixture(ctx, "walk"); err != nil {
		return result{}, err
	}
	const files = benchkit.WalkDirs * benchkit.WalkFiles
	var prefix []string
	for c := range strings.SplitSeq(path.Join(r.fix, "walk"), "/") {
		if c != "" {
			prefix = append(prefix, c)
		}
	}
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		rng := workerRand(i, 0x7061)
		ops[i] = func() error {
			wc := benchkit.WalkComponents(rng.IntN(files))
			h := r.fs.Root()
			for _, c := range slices.Concat(prefix, wc[:]) {
				var err error
				if h, _, err = r.fs.Lookup(ctx, fsal.Root, h, c); err != nil {
					return err
				}
			}
			_, err := r.fs.Getattr(ctx, fsal.Root, h)
			return err
		}
	}
	res := timed(ctx, "pathwalk", r.cfg.durationOf("pathwalk"), ops)
	res.note("%d lookups from the root (cephfsal Lookup) + getattr of a random one of %d files", len(prefix)+2, files)
	return res, nil
}

// smallcreate: create + 4 KiB write + close of a new file (nfsbench:
// OPEN4_CREATE + WRITE 4 KiB UNSTABLE + CLOSE), each worker its own names.
func (r *run) smallcreate(ctx context.Context) (result, error) {
	if _, err := mkdir(ctx, r.fs, r.dirH, "smallcreate"); err != nil {
		return result{}, err
	}
	dir := path.Join(r.dir, "smallcreate")
	data := make([]byte, 4096)
	benchkit.FillPattern(data)
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		seq := 0
		ops[i] = func() error {
			seq++
			f, err := r.m.RawOpen(path.Join(dir, fmt.Sprintf("c%d-%d", i, seq)), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = f.WriteAt(data, 0)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}
	}
	res := timed(ctx, "smallcreate", r.cfg.durationOf("smallcreate"), ops)
	res.note("ceph_ll_create (O_EXCL) + write 4 KiB + close, by path")
	return res, nil
}

// smallread: stat, open, read 4 KiB, close of a random one of the
// -small-files files (nfsbench: LOOKUP + GETATTR, OPEN, READ, CLOSE).
func (r *run) smallread(ctx context.Context) (result, error) {
	small, err := r.fixture(ctx, "small")
	if err != nil {
		return result{}, err
	}
	n := r.cfg.fix.small
	dir := path.Join(r.fix, "small")
	ops := make([]opFunc, r.cfg.clients)
	for i := range ops {
		rng := workerRand(i, 0x7372)
		buf := make([]byte, 4096)
		ops[i] = func() error {
			name := benchkit.SmallName(rng.IntN(n))
			if _, _, err := r.fs.Lookup(ctx, fsal.Root, small, name); err != nil {
				return err
			}
			f, err := r.m.RawOpen(path.Join(dir, name), syscall.O_RDONLY, 0)
			if err != nil {
				return err
			}
			got, err := f.ReadAt(buf, 0)
			if err == nil && got != len(buf) {
				err = fmt.Errorf("short read of %s: %d bytes", name, got)
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			return err
		}
	}
	res := timed(ctx, "smallread", r.cfg.durationOf("smallread"), ops)
	res.note("lookup (with attributes) + open by path + read 4 KiB + close of a random one of %d files", n)
	return res, nil
}

// readdir and readdirbig: whole listings with attributes of the many or
// big directory by -readdir-clients workers at once, counted in entries
// (nfsbench: READDIR with type, change, size, filehandle, fileid, mode,
// numlinks until EOF).
func (r *run) readdir(ctx context.Context, name string) (result, error) {
	sub, entries := "many", r.cfg.fix.many
	if name == "readdirbig" {
		sub, entries = "big", r.cfg.fix.big
	}
	if entries == 0 {
		return result{}, fmt.Errorf("%s: the fixture directory is empty (-big-dir 0)", name)
	}
	dir, err := r.fixture(ctx, sub)
	if err != nil {
		return result{}, err
	}
	ops := make([]opFunc, min(r.cfg.readdirClients, r.cfg.clients))
	for i := range ops {
		ops[i] = func() error {
			n := 0
			if _, err := r.fs.Readdir(ctx, fsal.Root, dir, 0, true, func(*fsal.DirEntry) bool {
				n++
				return true
			}); err != nil {
				return err
			}
			if n != entries {
				return fmt.Errorf("listed %d entries, want %d", n, entries)
			}
			return nil
		}
	}
	res := timed(ctx, name, r.cfg.durationOf(name), ops)
	res.Rate *= float64(entries)
	res.Unit = "entries/s"
	res.extra("listings", res.Ops)
	res.note("whole listings of %d entries with attributes (cephfsal Readdir: ceph_readdirplus_r, attributes from the reply)", entries)
	return res, nil
}

// ioPass moves total bytes in chunks of size, depth chunks at a time in
// order of offset, as nfsbench's write and read passes do.
func ioPass(ctx context.Context, total int64, size, depth int, do func(buf []byte, off int64) error) (int64, []time.Duration, time.Duration, error) {
	var next, done atomic.Int64
	var mu sync.Mutex
	var first error
	var lat []time.Duration
	start := time.Now()
	var wg sync.WaitGroup
	for range depth {
		wg.Go(func() {
			buf := make([]byte, size)
			benchkit.FillPattern(buf)
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
			for ctx.Err() == nil {
				off := next.Add(int64(size)) - int64(size)
				if off >= total {
					return
				}
				n := int(min(int64(size), total-off))
				t0 := time.Now()
				if err := do(buf[:n], off); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("at offset %d: %w", off, err)
					}
					mu.Unlock()
					next.Store(total)
					return
				}
				mine = append(mine, time.Since(t0))
				done.Add(int64(n))
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return done.Load(), lat, time.Since(start), first
}

func (r *run) ioResult(name string, bytes int64, lat []time.Duration, took time.Duration) result {
	res := result{Name: name + rawSuffix, Clients: 1, Depth: r.cfg.ioDepth, Unit: "MiB/s", Bytes: bytes,
		Ops: int64(len(lat)), Seconds: took.Seconds()}
	if res.Seconds > 0 {
		res.Rate = float64(bytes) / (1 << 20) / res.Seconds
	}
	res.setLatencies(lat)
	return res
}

// write: -size bytes in -iosize writes, then fsync (nfsbench: UNSTABLE
// WRITEs, then COMMIT; the rate counts the COMMIT).
func (r *run) write(ctx context.Context) (result, error) {
	r.ioPath = path.Join(r.dir, "io.dat")
	f, err := r.m.RawOpen(r.ioPath, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o644)
	if err != nil {
		return result{}, err
	}
	bytes, lat, took, err := ioPass(ctx, r.cfg.size, r.cfg.ioSize, r.cfg.ioDepth, func(buf []byte, off int64) error {
		for len(buf) > 0 {
			n, err := f.WriteAt(buf, off)
			if err != nil {
				return err
			}
			if n == 0 {
				return errors.New("write wrote nothing")
			}
			buf, off = buf[n:], off+int64(n)
		}
		return nil
	})
	var syncTook time.Duration
	if err == nil {
		t0 := time.Now()
		err = f.Sync()
		syncTook = time.Since(t0)
		took += syncTook
	}
	res := r.ioResult("write", bytes, lat, took)
	res.extra("fsync_us", us(syncTook))
	res.note("%s in %s writes (%d in flight) + fsync (fsync took %s)", fmtBytes(bytes), fmtBytes(int64(r.cfg.ioSize)),
		r.cfg.ioDepth, syncTook.Round(time.Microsecond))
	// Closed once only: a second ceph_ll_close of the handle crashes.
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return res, err
	}
	r.ioBytes = bytes
	return res, nil
}

// read: that file in -iosize reads (nfsbench: READs of the file just
// written through the same server, so partly from its client's cache). With
// -read-client fresh a second libcephfs client reads it, from the OSDs.
func (r *run) read(ctx context.Context) (result, error) {
	m := r.m
	if r.cfg.readClient == "fresh" {
		m2, err := r.cfg.mount("read")
		if err != nil {
			return result{}, err
		}
		defer m2.Close()
		m = m2
	}
	f, err := m.RawOpen(r.ioPath, syscall.O_RDONLY, 0)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	bytes, lat, took, err := ioPass(ctx, r.ioBytes, r.cfg.ioSize, r.cfg.ioDepth, func(buf []byte, off int64) error {
		for len(buf) > 0 {
			n, err := f.ReadAt(buf, off)
			if err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("short read: end of file at %d", off)
			}
			buf, off = buf[n:], off+int64(n)
		}
		return nil
	})
	res := r.ioResult("read", bytes, lat, took)
	how := "the client that wrote it"
	if r.cfg.readClient == "fresh" {
		how = "a second libcephfs client (from the OSDs)"
	}
	res.note("%s in %s reads (%d in flight) by %s", fmtBytes(bytes), fmtBytes(int64(r.cfg.ioSize)), r.cfg.ioDepth, how)
	return res, err
}

// randrw: 4 KiB reads or writes, half each, at random aligned offsets of
// the io file, every worker with its own open (nfsbench: READ or UNSTABLE
// WRITE, every client with its own OPEN).
func (r *run) randrw(ctx context.Context) (result, error) {
	blocks := int(r.ioBytes / 4096)
	if blocks == 0 {
		return result{}, errors.New("randrw: the io file is smaller than 4 KiB")
	}
	files := make([]*cephfsal.RawFile, r.cfg.clients)
	defer func() {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}()
	for i := range files {
		f, err := r.m.RawOpen(r.ioPath, syscall.O_RDWR, 0)
		if err != nil {
			return result{}, err
		}
		files[i] = f
	}
	ops := make([]opFunc, len(files))
	for i, f := range files {
		rng := workerRand(i, 0x7277)
		buf := make([]byte, 4096)
		benchkit.FillPattern(buf)
		ops[i] = func() error {
			off := int64(rng.IntN(blocks)) * 4096
			var err error
			if rng.IntN(2) == 0 {
				_, err = f.ReadAt(buf, off)
			} else {
				_, err = f.WriteAt(buf, off)
			}
			return err
		}
	}
	res := timed(ctx, "randrw", r.cfg.durationOf("randrw"), ops)
	res.note("4 KiB read or write (half each) at a random aligned offset of the %s file, each worker its own open", fmtBytes(r.ioBytes))
	return res, nil
}
