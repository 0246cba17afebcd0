package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"nfsgw/recovery"
)

// TestOneByteChanges is issue 11 §2: a one-byte change in a small recovery
// database made bbolt hand validation a key of about 1 GiB, which the
// error path formatted with %q, growing the process to 6.6 GB. Changing
// any one byte of the pages in use must give a working store or
// ErrCorrupt, allocating only what a database of this size needs.
func TestOneByteChanges(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.db")
	makeGood(t, good)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	// Damage in free pages and past the high water mark is harmless and
	// would only slow the test down: aim at the pages in use.
	var inUse [][2]int
	db, err := bolt.Open(good, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	db.View(func(tx *bolt.Tx) error {
		for id := 2; ; {
			info, err := tx.Page(id)
			if err != nil {
				t.Fatal(err)
			}
			if info == nil {
				return nil
			}
			if info.Type != "free" {
				inUse = append(inUse, [2]int{id * page, (id + 1 + info.OverflowCount) * page})
			}
			id += 1 + info.OverflowCount
		}
	})
	db.Close()
	// Each Open may allocate a few times the file; the bug allocated
	// gigabytes.
	const budget = 16 << 20
	path := filepath.Join(dir, "damaged.db")
	var ms runtime.MemStats
	corrupt, harmless := 0, 0
	for off := 2 * page; off < len(goodBytes); off++ {
		if !slices.ContainsFunc(inUse, func(r [2]int) bool { return r[0] <= off && off < r[1] }) {
			continue
		}
		// 0x40 in the high byte of a little-endian 32-bit size or
		// position is a gigabyte; 0xff elsewhere is garbage.
		v := byte(0xff)
		if off%4 == 3 {
			v = 0x40
		}
		if goodBytes[off] == v {
			continue
		}
		b := slices.Clone(goodBytes)
		b[off] = v
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		runtime.ReadMemStats(&ms)
		before := ms.TotalAlloc
		s, err := Open(path, Options{LockTimeout: -1})
		if err == nil {
			// Reading everything is what a start-up does; a write
			// (two fdatasyncs) now and then checks the store works.
			_, err = s.Peek(context.Background())
			if err == nil && harmless%64 == 0 {
				if _, err = s.Begin(context.Background(), 1000); err == nil {
					err = s.Add(context.Background(), recovery.Record{Owner: []byte("after")})
				}
			}
			s.Close()
			if err == nil {
				harmless++
			}
		}
		runtime.ReadMemStats(&ms)
		if grew := ms.TotalAlloc - before; grew > budget {
			t.Fatalf("byte %d set to %#x: Open and use allocated %d MiB (%v)", off, v, grew>>20, clipErr(err))
		}
		if err != nil {
			if !errors.Is(err, recovery.ErrCorrupt) {
				t.Fatalf("byte %d set to %#x: %v, want ErrCorrupt", off, v, clipErr(err))
			}
			if len(err.Error()) > 1000 {
				t.Fatalf("byte %d set to %#x: error of %d bytes: %s", off, v, len(err.Error()), clipErr(err))
			}
			corrupt++
		}
	}
	t.Logf("%d damaged files refused, %d harmless", corrupt, harmless)
	if corrupt == 0 {
		t.Fatal("no change was detected: the test damages nothing")
	}
}

func clipErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	s := err.Error()
	if len(s) > 300 {
		return fmt.Sprintf("%s... (%d bytes)", s[:300], len(s))
	}
	return s
}
