package boltstore

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"nfsgw/recovery"
	"nfsgw/recovery/internal/recfmt"
	"nfsgw/recovery/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "recovery.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func reopen(t *testing.T, old recovery.Store) recovery.Store {
	t.Helper()
	path := old.(*Store).Path()
	if err := old.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) recovery.Store { return openTemp(t) }, reopen)
}

// TestLayout pins the on-disk layout that mirrors Ganesha's recovery
// objects: one bucket per epoch, older ones kept until EndGrace.
func TestLayout(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	path := s.Path()
	buckets := func() []string {
		t.Helper()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		db.View(func(tx *bolt.Tx) error {
			return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				names = append(names, string(name))
				return nil
			})
		})
		db.Close()
		if s, err = Open(path, Options{}); err != nil {
			t.Fatal(err)
		}
		return names
	}
	want := func(names ...string) {
		t.Helper()
		if got := buckets(); !slices.Equal(got, names) {
			t.Fatalf("buckets %q, want %q", got, names)
		}
	}
	want("meta")
	mustBegin(t, s, 1)
	if err := s.Add(ctx, recovery.Record{Owner: []byte("a")}); err != nil {
		t.Fatal(err)
	}
	want("meta", "rec-0000000000000001")
	mustBegin(t, s, 0x2a)
	want("meta", "rec-0000000000000001", "rec-000000000000002a")
	mustBegin(t, s, 0x2b) // restart without EndGrace: both kept
	want("meta", "rec-0000000000000001", "rec-000000000000002a", "rec-000000000000002b")
	mustBegin(t, s, 0x2b)
	if err := s.EndGrace(ctx); err != nil {
		t.Fatal(err)
	}
	want("meta", "rec-000000000000002b")
	s.Close()
}

func mustBegin(t testing.TB, s *Store, epoch uint64) []recovery.Record {
	t.Helper()
	rs, err := s.Begin(context.Background(), epoch)
	if err != nil {
		t.Fatalf("Begin(%d): %v", epoch, err)
	}
	return rs
}

// TestGroupCommit drives many writers through shared commits: every
// write must come back (leadership passes on), land in order per owner,
// and the commits must be shared.
func TestGroupCommit(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	mustBegin(t, s, 1)
	const writers, rounds = 64, 30
	pageWrites := func() int64 { st := s.db.Stats(); return st.TxStats.GetWrite() }
	before := pageWrites()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				o := []byte(fmt.Sprintf("w%d-%d", w, i))
				if err := s.Add(ctx, recovery.Record{Owner: o, Principal: "sys:0"}); err != nil {
					t.Error(err)
					return
				}
				// Add then Remove of one owner from one goroutine are
				// ordered, so only the odd ones stay.
				if i%2 == 0 {
					if err := s.Remove(ctx, o); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	writes := pageWrites() - before
	ops := int64(writers * (rounds + rounds/2))
	t.Logf("%d Add/Remove calls, %d page writes", ops, writes)
	// Every commit writes at least one data page and the meta page, so
	// unshared commits would need 2*ops page writes or more.
	if writes >= 2*ops {
		t.Errorf("%d page writes for %d writes: commits not shared", writes, ops)
	}
	s2 := reopen(t, s)
	got, err := s2.Begin(ctx, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*rounds/2 {
		t.Fatalf("%d records, want %d", len(got), writers*rounds/2)
	}
	for _, r := range got {
		var w, i int
		if _, err := fmt.Sscanf(string(r.Owner), "w%d-%d", &w, &i); err != nil || i%2 == 0 {
			t.Fatalf("unexpected record %q", r.Owner)
		}
	}
}

func TestLocked(t *testing.T) {
	s := openTemp(t)
	for _, timeout := range []time.Duration{-1, 200 * time.Millisecond} {
		start := time.Now()
		s2, err := Open(s.Path(), Options{LockTimeout: timeout})
		took := time.Since(start)
		if err == nil {
			s2.Close()
			t.Fatalf("second Open with timeout %v succeeded", timeout)
		}
		if !errors.Is(err, recovery.ErrLocked) || !strings.Contains(err.Error(), s.Path()) {
			t.Fatalf("second Open: %v, want ErrLocked naming the file", err)
		}
		if took > timeout+2*time.Second {
			t.Errorf("timeout %v: gave up after %v", timeout, took)
		}
		t.Logf("timeout %v: %v after %v", timeout, err, took.Round(time.Millisecond))
	}
	// The first store is unaffected, and the lock goes with Close.
	mustBegin(t, s, 1)
	s.Close()
	s2, err := Open(s.Path(), Options{LockTimeout: -1})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s2.Close()
}

// TestDamagedFiles feeds Open files that are not recovery databases or are
// damaged: each must give an error wrapping recovery.ErrCorrupt, never a
// panic, and leave the file unlocked.
func TestDamagedFiles(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	makeGood(t, good)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	if len(goodBytes) < 4*page || len(goodBytes)%page != 0 {
		t.Fatalf("good database is %d bytes; the cases below assume whole pages past the two meta pages", len(goodBytes))
	}
	garbage := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	with := func(off int, patch []byte) []byte {
		b := slices.Clone(goodBytes)
		copy(b[off:], patch)
		return b
	}
	cases := map[string][]byte{
		"text":                []byte("this is not a database\n"),
		"random":              garbage(64 << 10),
		"random one page":     garbage(page),
		"zeros":               make([]byte, 64<<10),
		"both metas random":   with(0, garbage(2*page)),
		"both metas zeroed":   with(0, make([]byte, 2*page)),
		"data pages random":   with(2*page, garbage(len(goodBytes)-2*page)),
		"data pages zeroed":   with(2*page, make([]byte, len(goodBytes)-2*page)),
		"data pages 0xff":     with(2*page, []byte(strings.Repeat("\xff", len(goodBytes)-2*page))),
		"truncated to 2 page": goodBytes[:2*page],
		"truncated to 3 page": goodBytes[:3*page],
	}
	// Corrupt each data page on its own: whichever page holds the root,
	// a bucket, the freelist or the records, Open must notice.
	for p := 2; p < len(goodBytes)/page; p++ {
		cases[fmt.Sprintf("page %d random", p)] = with(p*page, garbage(page))
		cases[fmt.Sprintf("page %d header", p)] = with(p*page, garbage(16))
		// A sound header over garbage elements sends bbolt's offsets
		// anywhere, including outside the mapping.
		cases[fmt.Sprintf("page %d body", p)] = with(p*page+16, garbage(page-16))
	}
	// And scattered small damage, as a failing disk would do.
	for i := range 40 {
		b := slices.Clone(goodBytes)
		for range 1 + i%4 {
			var r [4]byte
			rand.Read(r[:])
			off := 2*page + int(binary.LittleEndian.Uint32(r[:]))%(len(b)-2*page)
			b[off] ^= 1 << (r[0] % 8)
		}
		cases[fmt.Sprintf("bit flips %d", i)] = b
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, Options{LockTimeout: -1})
			if err == nil {
				// A page that nothing reachable uses (a free page) may be
				// damaged harmlessly; the store must then still work.
				defer s.Close()
				if _, err := s.Begin(context.Background(), 100); err != nil && !errors.Is(err, recovery.ErrCorrupt) {
					t.Fatalf("Open succeeded, Begin: %v", err)
				}
				t.Logf("harmless damage")
				return
			}
			if !errors.Is(err, recovery.ErrCorrupt) {
				t.Fatalf("Open: %v, want ErrCorrupt", err)
			}
			t.Logf("%v", err)
			// The failed Open released its lock: bbolt can open the file
			// (or fail for its own reasons) without a timeout.
			db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Nanosecond, ReadOnly: true})
			if errors.Is(err, berrors.ErrTimeout) {
				t.Fatal("failed Open left the file locked")
			}
			if err == nil {
				db.Close()
			}
		})
	}
}

// makeGood writes a recovery database with two epochs of records, big
// enough to span several pages.
func makeGood(t testing.TB, path string) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mustBegin(t, s, 1)
	for i := range 60 {
		if err := s.Add(ctx, recovery.Record{Owner: []byte(fmt.Sprintf("%0100d", i)), Principal: "sys:0"}); err != nil {
			t.Fatal(err)
		}
	}
	mustBegin(t, s, 2)
	if err := s.Add(ctx, recovery.Record{Owner: []byte("x")}); err != nil {
		t.Fatal(err)
	}
}

// TestForeignDatabases opens bbolt files that are well formed but not
// recovery databases of this format.
func TestForeignDatabases(t *testing.T) {
	cases := map[string]func(tx *bolt.Tx) error{
		"other bucket": func(tx *bolt.Tx) error {
			_, err := tx.CreateBucket([]byte("users"))
			return err
		},
		"meta and other bucket": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			_, err := tx.CreateBucket([]byte("users"))
			return err
		},
		"newer format": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			return m.Put(keyFormat, []byte{formatVersion + 1})
		},
		"bad value": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			b, _ := tx.CreateBucket([]byte(recfmt.EpochName(1)))
			return b.Put([]byte("client"), []byte{9, 9, 9})
		},
		"truncated value": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			b, _ := tx.CreateBucket([]byte(recfmt.EpochName(1)))
			v := recfmt.EncodeValue(recovery.Record{Owner: []byte("client"), Principal: "sys:1000"})
			return b.Put([]byte("client"), v[:len(v)-1])
		},
		"owner too long": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			b, _ := tx.CreateBucket([]byte(recfmt.EpochName(1)))
			return b.Put(make([]byte, recovery.MaxOwnerLen+1), recfmt.EncodeValue(recovery.Record{}))
		},
		"bucket newer than epoch": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			tx.CreateBucket([]byte(recfmt.EpochName(1)))
			_, err := tx.CreateBucket([]byte(recfmt.EpochName(2)))
			return err
		},
		"no current bucket": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			return putUint64(m, keyEpoch, 3)
		},
		// Issue 11: sizes are bounded before anything is printed.
		"huge meta value": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			return m.Put([]byte("x"), make([]byte, 16<<20))
		},
		"huge format value": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			return m.Put(keyFormat, make([]byte, 16<<20))
		},
		"huge bucket name": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			_, err := tx.CreateBucket(make([]byte, bolt.MaxKeySize))
			return err
		},
		"huge owner": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			b, _ := tx.CreateBucket([]byte(recfmt.EpochName(1)))
			return b.Put(make([]byte, bolt.MaxKeySize), []byte{1, 0, 0})
		},
		"huge nested bucket": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			b, _ := tx.CreateBucket([]byte(recfmt.EpochName(1)))
			_, err := b.CreateBucket(make([]byte, bolt.MaxKeySize))
			return err
		},
		"non-canonical bucket name": func(tx *bolt.Tx) error {
			m, _ := tx.CreateBucket(metaBucket)
			m.Put(keyFormat, []byte{formatVersion})
			putUint64(m, keyEpoch, 1)
			tx.CreateBucket([]byte(recfmt.EpochName(1)))
			_, err := tx.CreateBucket([]byte("rec-000000000000000A"))
			return err
		},
	}
	for name, fill := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.db")
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.Update(fill); err != nil {
				t.Fatal(err)
			}
			db.Close()
			s, err := Open(path, Options{})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, recovery.ErrCorrupt) {
				t.Fatalf("Open: %.1000v, want ErrCorrupt", err)
			}
			if msg := err.Error(); len(msg) > 1000 || !strings.Contains(msg, path) || !strings.Contains(msg, "move") {
				t.Fatalf("Open: want a short error naming the file and what to do, got %d bytes: %.1000s", len(msg), msg)
			}
			t.Logf("%v", err)
		})
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing", "x.db"), Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
	if _, err := Open(dir, Options{}); err == nil {
		t.Error("Open of a directory succeeded")
	}
	// An empty file (say, created by a deployment tool) is a new database.
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(empty, Options{})
	if err != nil {
		t.Fatalf("Open of an empty file: %v", err)
	}
	defer s.Close()
	if rs := mustBegin(t, s, 1); len(rs) != 0 {
		t.Fatalf("reclaim set %v", rs)
	}
	if fi, err := os.Stat(empty); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, %v", fi.Mode(), err)
	}
}

// TestKilledWriter kills a process with SIGKILL while it adds clients, then
// checks that every Add that returned is in the next reclaim set and that
// the dead process's lock is gone. (SIGKILL keeps the page cache, so this
// tests atomicity and locking; power loss is what the fdatasyncs are for.)
func TestKilledWriter(t *testing.T) {
	if path := os.Getenv("BOLTSTORE_KILLED_WRITER"); path != "" {
		killedWriterChild(path)
		return
	}
	if testing.Short() {
		t.Skip("spawns a child process")
	}
	path := filepath.Join(t.TempDir(), "recovery.db")
	ctx := context.Background()
	var acked []string
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
		cmd.Env = append(os.Environ(), "BOLTSTORE_KILLED_WRITER="+path)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		var thisRound []string
		for len(thisRound) < 20+10*round && sc.Scan() {
			if owner, ok := strings.CutPrefix(sc.Text(), "added "); ok {
				thisRound = append(thisRound, owner)
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		// Lines already written by an Add that returned before the kill
		// count as acknowledged too.
		for sc.Scan() {
			if owner, ok := strings.CutPrefix(sc.Text(), "added "); ok {
				thisRound = append(thisRound, owner)
			}
		}
		cmd.Wait()
		if len(thisRound) == 0 {
			t.Fatalf("round %d: child acknowledged nothing", round)
		}
		acked = thisRound
		t.Logf("round %d: killed after %d acknowledged Adds", round, len(acked))

		s, err := Open(path, Options{LockTimeout: -1})
		if err != nil {
			t.Fatalf("Open after kill: %v", err)
		}
		last, err := s.LastEpoch(ctx)
		if err != nil {
			t.Fatal(err)
		}
		reclaim := mustBegin(t, s, last+1)
		have := map[string]bool{}
		for _, r := range reclaim {
			have[string(r.Owner)] = true
		}
		for _, o := range acked {
			if !have[o] {
				t.Errorf("round %d: acknowledged client %q missing from the reclaim set", round, o)
			}
		}
		// Grace ends with nobody reclaiming, so each round starts clean.
		if err := s.EndGrace(ctx); err != nil {
			t.Fatal(err)
		}
		s.Close()
	}
}

func killedWriterChild(path string) {
	ctx := context.Background()
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(1)
	}
	last, err := s.LastEpoch(ctx)
	if err == nil {
		_, err = s.Begin(ctx, last+1)
	}
	if err == nil {
		err = s.EndGrace(ctx)
	}
	for i := 0; err == nil; i++ {
		owner := fmt.Sprintf("epoch%d-client%d", last+1, i)
		if err = s.Add(ctx, recovery.Record{Owner: []byte(owner), Principal: "sys:0"}); err == nil {
			fmt.Printf("added %s\n", owner)
		}
	}
	fmt.Fprintln(os.Stderr, "child:", err)
	os.Exit(1)
}

// benchStore opens a store for a benchmark in $NFSGW_BENCH_DIR if set (to
// measure a particular disk), else in the test's temporary directory.
func benchStore(b *testing.B) *Store {
	dir := os.Getenv("NFSGW_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	} else {
		var err error
		if dir, err = os.MkdirTemp(dir, "boltstore-bench"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
	}
	s, err := Open(filepath.Join(dir, "recovery.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	if _, err := s.Begin(context.Background(), 1); err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkAddRemove is one client arriving and leaving: two durable
// commits. The pairs/s figure is what one node sustains when clients come
// and go one at a time.
func BenchmarkAddRemove(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	i := 0
	for b.Loop() {
		owner := []byte(fmt.Sprintf("Linux NFSv4.1 client-%d.example.com", i))
		i++
		if err := s.Add(ctx, recovery.Record{Owner: owner, Principal: "sys:0", Minor: 1}); err != nil {
			b.Fatal(err)
		}
		if err := s.Remove(ctx, owner); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkAddRemoveParallel is the same with 32 goroutines per CPU, as
// when many clients reclaim at once after a restart: group commit shares
// each commit among the writers that arrived during the previous one.
func BenchmarkAddRemoveParallel(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	var next atomic.Int64
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			owner := []byte(fmt.Sprintf("client-%d", next.Add(1)))
			if err := s.Add(ctx, recovery.Record{Owner: owner, Principal: "sys:0", Minor: 1}); err != nil {
				b.Error(err)
				return
			}
			if err := s.Remove(ctx, owner); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pairs/s")
}

// BenchmarkAddUnchanged is the repeated Add of a recorded client: a read
// transaction, no disk write.
func BenchmarkAddUnchanged(b *testing.B) {
	s := benchStore(b)
	ctx := context.Background()
	r := recovery.Record{Owner: []byte("Linux NFSv4.1 client.example.com"), Principal: "sys:0", Minor: 1}
	if err := s.Add(ctx, r); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if err := s.Add(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzOpen checks that no file content makes Open, or use of a file Open
// accepted, panic, hang or allocate without bound. Plain `go test` runs the
// seeds; fuzz with `go test -fuzz=FuzzOpen ./recovery/boltstore/`.
// (Mutating the meta pages mostly breaks their checksum; TestDamagedFiles
// and TestOneByteChanges aim at the data pages.) The fuzzer itself has no
// per-input time limit: an input that hung used to stall it while it went
// on reporting PASS (issue 11), so each input runs under fuzzInputLimit.
func FuzzOpen(f *testing.F) {
	good := filepath.Join(f.TempDir(), "good.db")
	makeGood(f, good)
	b, err := os.ReadFile(good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte{})
	f.Add([]byte("not a database"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content []byte) {
		path := filepath.Join(dir, "fuzz.db")
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		bounded(t, fuzzInputLimit, 64<<20+int64(len(content))*4, func() error {
			s, err := Open(path, Options{LockTimeout: -1})
			if err != nil {
				if !errors.Is(err, recovery.ErrCorrupt) {
					return fmt.Errorf("Open: %.1000v, want ErrCorrupt", err)
				}
				if len(err.Error()) > 2000 {
					return fmt.Errorf("Open: error of %d bytes: %.1000s", len(err.Error()), err)
				}
				return nil
			}
			ctx := context.Background()
			s.Peek(ctx)
			if _, err := s.Begin(ctx, 1<<62); err == nil {
				s.Add(ctx, recovery.Record{Owner: []byte("fuzz")})
				s.EndGrace(ctx)
			}
			return s.Close()
		})
	})
}

// fuzzInputLimit is how long one FuzzOpen input may take: a hundred times
// what a damaged file takes on a loaded machine, so reaching it means a
// hang, not a slow disk.
const fuzzInputLimit = 10 * time.Second

// bounded runs fn and fails t if it panics, returns an error, takes longer
// than limit, or allocates more than budget bytes. fn runs in a goroutine
// of its own so that a hang is reported instead of stalling the fuzzer; a
// hung fn is left behind, and the failure ends the fuzzing run.
func bounded(t *testing.T, limit time.Duration, budget int64, fn func() error) {
	t.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("panic: %v", p)
			}
		}()
		done <- fn()
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-timer.C:
		t.Fatalf("input still running after %v: a hang", limit)
	}
	runtime.ReadMemStats(&ms)
	if grew := int64(ms.TotalAlloc - before); grew > budget {
		t.Fatalf("input allocated %d MiB, budget %d MiB", grew>>20, budget>>20)
	}
}
