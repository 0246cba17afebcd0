//go:build !noceph

// Command cephraw measures what libcephfs itself delivers on a cluster, in
// one process and without NFS: the "raw" limit that nfsgw's CephFS figures
// are compared with (scripts/bench-ceph.sh runs both in one go). Its
// workloads mirror bench/nfsbench's of the same names:
//
//	getattr      concurrent getattrs of one file (cached inode, as nfsgw)
//	smallcreate  create + 4 KiB write + close of new files, concurrently
//	write        sequential writes of -iosize up to -size, then fsync
//	read         sequential reads of that file, by a second libcephfs
//	             client (so from the OSDs, not from the writer's cache)
//
// With -compare FILE (an nfsbench -json report of the same workloads) it
// prints nfsgw/raw for each.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"nfsgw/cephfsal"
	"nfsgw/gateway/fsal"
)

type result struct {
	Name string  `json:"name"`
	Rate float64 `json:"rate"`
	Unit string  `json:"unit"`
	Ops  int64   `json:"ops"`
}

func main() {
	conf := flag.String("conf", os.Getenv("CEPH_CONF"), "ceph.conf")
	user := flag.String("user", "admin", "cephx user")
	dir := flag.String("dir", "/bench-raw", "CephFS directory to work in (created, then removed)")
	clients := flag.Int("clients", 32, "concurrency of getattr and smallcreate")
	dur := flag.Duration("duration", 4*time.Second, "duration of the timed workloads")
	size := flag.Int64("size", 256<<20, "bytes written then read by write and read")
	iosize := flag.Int("iosize", 1<<20, "size of each write and read")
	workloads := flag.String("workloads", "getattr,smallcreate,write,read", "comma list")
	jsonOut := flag.String("json", "", "write the results as JSON here")
	compare := flag.String("compare", "", "nfsbench -json report to print nfsgw/raw ratios against")
	flag.Parse()

	m, err := cephfsal.NewMount(cephfsal.MountOptions{ConfPath: *conf, User: *user,
		NodeID: fmt.Sprintf("cephraw-%d", os.Getpid())})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cephraw:", err)
		os.Exit(1)
	}
	defer m.Close()
	root, err := m.Export("/", false)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cephraw:", err)
		os.Exit(1)
	}
	ctx := context.Background()
	name := strings.TrimPrefix(*dir, "/")
	wd, _, err := root.Mkdir(ctx, fsal.Root, root.Root(), name, &fsal.SetAttr{Mask: fsal.SetMode, Mode: 0o777})
	if err != nil {
		fmt.Fprintln(os.Stderr, "cephraw: mkdir", *dir, err)
		os.Exit(1)
	}
	defer cleanup(ctx, root, wd, name)

	var results []result
	for _, w := range strings.Split(*workloads, ",") {
		var r result
		switch w {
		case "getattr":
			r = getattr(ctx, root, wd, *clients, *dur)
		case "smallcreate":
			r = smallcreate(m, *dir, *clients, *dur)
		case "write":
			r = write(m, *dir+"/big", *size, *iosize)
		case "read":
			// A second client, whose cache does not hold what the first
			// one just wrote: the read comes from the OSDs.
			m2, err := cephfsal.NewMount(cephfsal.MountOptions{ConfPath: *conf, User: *user,
				NodeID: fmt.Sprintf("cephraw-%d-read", os.Getpid())})
			must(err)
			r = read(m2, *dir+"/big", *size, *iosize)
			m2.Close()
		default:
			fmt.Fprintln(os.Stderr, "cephraw: unknown workload", w)
			os.Exit(2)
		}
		fmt.Printf("raw %-12s %12.1f %s\n", r.Name, r.Rate, r.Unit)
		results = append(results, r)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(results, "", "  ")
		os.WriteFile(*jsonOut, b, 0o644)
	}
	if *compare != "" {
		if err := printRatios(*compare, results); err != nil {
			fmt.Fprintln(os.Stderr, "cephraw:", err)
			os.Exit(1)
		}
	}
}

func getattr(ctx context.Context, fs fsal.FS, dir fsal.Handle, clients int, d time.Duration) result {
	h, _, _, err := fs.Create(ctx, fsal.Root, dir, "getattr", fsal.Unchecked, nil, [8]byte{})
	must(err)
	var ops atomic.Int64
	timed(clients, d, func(stop *atomic.Bool) {
		n := int64(0)
		for !stop.Load() {
			_, err := fs.Getattr(ctx, fsal.Root, h)
			must(err)
			n++
		}
		ops.Add(n)
	})
	return result{Name: "getattr", Rate: float64(ops.Load()) / d.Seconds(), Unit: "ops/s", Ops: ops.Load()}
}

func smallcreate(m *cephfsal.Mount, dir string, clients int, d time.Duration) result {
	buf := make([]byte, 4096)
	var ops, seq atomic.Int64
	timed(clients, d, func(stop *atomic.Bool) {
		for !stop.Load() {
			f, err := m.RawOpen(fmt.Sprintf("%s/small-%d", dir, seq.Add(1)), syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, 0o644)
			must(err)
			_, err = f.WriteAt(buf, 0)
			must(err)
			must(f.Close())
			ops.Add(1)
		}
	})
	return result{Name: "smallcreate", Rate: float64(ops.Load()) / d.Seconds(), Unit: "files/s", Ops: ops.Load()}
}

func write(m *cephfsal.Mount, name string, size int64, iosize int) result {
	f, err := m.RawOpen(name, syscall.O_CREAT|syscall.O_TRUNC|syscall.O_WRONLY, 0o644)
	must(err)
	buf := make([]byte, iosize)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	start := time.Now()
	var off int64
	for off < size {
		n, err := f.WriteAt(buf[:min(int64(iosize), size-off)], off)
		must(err)
		off += int64(n)
	}
	must(f.Sync())
	secs := time.Since(start).Seconds()
	must(f.Close())
	return result{Name: "write", Rate: float64(size) / secs / (1 << 20), Unit: "MiB/s", Ops: size / int64(iosize)}
}

func read(m *cephfsal.Mount, name string, size int64, iosize int) result {
	f, err := m.RawOpen(name, syscall.O_RDONLY, 0)
	must(err)
	defer f.Close()
	buf := make([]byte, iosize)
	start := time.Now()
	var off int64
	for off < size {
		n, err := f.ReadAt(buf, off)
		must(err)
		if n == 0 {
			break
		}
		off += int64(n)
	}
	secs := time.Since(start).Seconds()
	return result{Name: "read", Rate: float64(off) / secs / (1 << 20), Unit: "MiB/s", Ops: off / int64(iosize)}
}

// timed runs fn on n goroutines for d.
func timed(n int, d time.Duration, fn func(stop *atomic.Bool)) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); fn(&stop) }()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
}

func cleanup(ctx context.Context, fs fsal.FS, dir fsal.Handle, name string) {
	var names []string
	fs.Readdir(ctx, fsal.Root, dir, 0, false, func(e *fsal.DirEntry) bool {
		names = append(names, e.Name)
		return true
	})
	for _, n := range names {
		fs.Remove(ctx, fsal.Root, dir, n)
	}
	fs.Remove(ctx, fsal.Root, fs.Root(), name)
}

func printRatios(path string, raw []result) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep struct {
		Results []result `json:"results"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	nfs := map[string]result{}
	for _, r := range rep.Results {
		nfs[r.Name] = r
	}
	sort.Slice(raw, func(i, j int) bool { return raw[i].Name < raw[j].Name })
	fmt.Printf("\n%-12s %14s %14s %8s\n", "workload", "nfsgw", "libcephfs", "ratio")
	for _, r := range raw {
		n, ok := nfs[r.Name]
		if !ok {
			continue
		}
		fmt.Printf("%-12s %10.1f %-3s %10.1f %-3s %8.2f\n", r.Name, n.Rate, short(n.Unit), r.Rate, short(r.Unit), n.Rate/r.Rate)
	}
	return nil
}

func short(u string) string { return strings.TrimSuffix(strings.TrimSuffix(u, "/s"), "s") }

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "cephraw:", err)
		os.Exit(1)
	}
}
