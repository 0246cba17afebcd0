// Package storetest is the conformance suite every recovery.Store passes:
// the bbolt store now, the RADOS store later. It checks the documented
// behaviour, above all the reclaim rule across restarts.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"nfsgw/recovery"
)

// Run runs the suite. open returns a new, empty store (and should register
// its cleanup with t). reopen simulates a restart on the same storage: it
// closes old (which must work even if the suite already closed it) and
// returns a fresh Store on the same data.
func Run(t *testing.T, open func(t *testing.T) recovery.Store, reopen func(t *testing.T, old recovery.Store) recovery.Store) {
	h := func(fn func(*harness)) func(*testing.T) {
		return func(t *testing.T) {
			h := &harness{t: t, ctx: context.Background(), reopenFn: reopen}
			h.s = open(t)
			defer func() { h.s.Close() }()
			fn(h)
		}
	}
	t.Run("Empty", h(testEmpty))
	t.Run("AddRemoveIdempotent", h(testAddRemove))
	t.Run("BeginReturnsPreviousEpoch", h(testBeginReturnsPrevious))
	t.Run("RecordsAddedAfterBegin", h(testAddedAfterBegin))
	t.Run("EndGraceForgetsNonReclaimers", h(testEndGrace))
	t.Run("CrashBetweenBeginAndEndGrace", h(testCrashDuringGrace))
	t.Run("RestartIntoSameEpoch", h(testSameEpoch))
	t.Run("StaleEpochs", h(testStaleEpochs))
	t.Run("LiveEpochChange", h(testLiveEpochChange))
	t.Run("NewestRecordWins", h(testNewestWins))
	t.Run("BinaryOwners", h(testBinaryOwners))
	t.Run("Limits", h(testLimits))
	t.Run("NotBegun", h(testNotBegun))
	t.Run("LastEpoch", h(testLastEpoch))
	t.Run("Concurrency", h(testConcurrency))
	t.Run("ContextAndClose", h(testContextAndClose))
	t.Run("ResultsAreCopies", h(testCopies))
	t.Run("Peek", h(testPeek))
	t.Run("PeekAfterEndGrace", h(testPeekAfterEndGrace))
	t.Run("SameEpochAfterEndGraceWhenEmpty", h(testSameEpochEmpty))
	t.Run("SameEpochAfterEndGraceWithRecords", h(testSameEpochWithRecords))
}

type harness struct {
	t        *testing.T
	ctx      context.Context
	s        recovery.Store
	reopenFn func(*testing.T, recovery.Store) recovery.Store
}

func (h *harness) restart() {
	h.t.Helper()
	h.s = h.reopenFn(h.t, h.s)
}

func (h *harness) begin(epoch uint64) []recovery.Record {
	h.t.Helper()
	rs, err := h.s.Begin(h.ctx, epoch)
	if err != nil {
		h.t.Fatalf("Begin(%d): %v", epoch, err)
	}
	return rs
}

// beginNext begins LastEpoch()+1, as a single node does.
func (h *harness) beginNext() []recovery.Record {
	h.t.Helper()
	last, err := h.s.LastEpoch(h.ctx)
	if err != nil {
		h.t.Fatalf("LastEpoch: %v", err)
	}
	return h.begin(last + 1)
}

func (h *harness) add(owners ...string) {
	h.t.Helper()
	for _, o := range owners {
		if err := h.s.Add(h.ctx, rec(o)); err != nil {
			h.t.Fatalf("Add(%q): %v", o, err)
		}
	}
}

func (h *harness) remove(owners ...string) {
	h.t.Helper()
	for _, o := range owners {
		if err := h.s.Remove(h.ctx, []byte(o)); err != nil {
			h.t.Fatalf("Remove(%q): %v", o, err)
		}
	}
}

func (h *harness) endGrace() {
	h.t.Helper()
	if err := h.s.EndGrace(h.ctx); err != nil {
		h.t.Fatalf("EndGrace: %v", err)
	}
}

// rec is the record the suite uses for owner o: principal and minor are
// derived from it so that a round trip checks them too.
func rec(o string) recovery.Record {
	return recovery.Record{Owner: []byte(o), Principal: "sys:" + fmt.Sprint(len(o)), Minor: uint32(len(o) % 3)}
}

// want checks that got holds exactly the records of owners.
func (h *harness) want(what string, got []recovery.Record, owners ...string) {
	h.t.Helper()
	want := make([]recovery.Record, 0, len(owners))
	for _, o := range owners {
		want = append(want, rec(o))
	}
	h.wantRecords(what, got, want)
}

func (h *harness) wantRecords(what string, got, want []recovery.Record) {
	h.t.Helper()
	cmp := func(a, b recovery.Record) int { return bytes.Compare(a.Owner, b.Owner) }
	got, want = slices.Clone(got), slices.Clone(want)
	slices.SortFunc(got, cmp)
	slices.SortFunc(want, cmp)
	eq := slices.EqualFunc(got, want, func(a, b recovery.Record) bool {
		return bytes.Equal(a.Owner, b.Owner) && a.Principal == b.Principal && a.Minor == b.Minor
	})
	if !eq {
		h.t.Fatalf("%s: got %s, want %s", what, show(got), show(want))
	}
}

func show(rs []recovery.Record) string {
	var parts []string
	for _, r := range rs {
		parts = append(parts, fmt.Sprintf("%q(%s,%d)", r.Owner, r.Principal, r.Minor))
	}
	return "{" + strings.Join(parts, " ") + "}"
}

func testEmpty(h *harness) {
	h.want("first Begin", h.begin(1))
	h.endGrace()
	h.restart()
	h.want("Begin after an empty epoch", h.beginNext())
}

func testAddRemove(h *harness) {
	h.begin(1)
	h.add("a", "b", "c", "a", "a") // repeated Adds are no-ops
	h.remove("b", "b", "never-added")
	h.restart()
	h.want("reclaim set", h.beginNext(), "a", "c")
}

func testBeginReturnsPrevious(h *harness) {
	h.begin(1)
	h.add("a", "b")
	h.restart()
	h.want("epoch 2", h.begin(2), "a", "b")
}

func testAddedAfterBegin(h *harness) {
	h.begin(1)
	h.add("a", "b")
	h.restart()
	h.want("epoch 2", h.begin(2), "a", "b")
	h.add("a", "c") // a reclaims, c is new
	h.endGrace()
	h.add("d") // after grace
	h.remove("a")
	h.restart()
	h.want("epoch 3", h.begin(3), "c", "d")
}

func testEndGrace(h *harness) {
	h.begin(1)
	h.add("keep", "lose")
	h.restart()
	h.want("epoch 2", h.begin(2), "keep", "lose")
	h.add("keep")
	h.endGrace()
	h.endGrace() // idempotent
	h.restart()
	h.want("epoch 3", h.begin(3), "keep")
}

func testCrashDuringGrace(h *harness) {
	h.begin(1)
	h.add("a", "b", "c")
	h.restart()
	h.want("epoch 2", h.begin(2), "a", "b", "c")
	h.add("a", "new") // a reclaims; new has no state during grace
	h.restart()       // crash before EndGrace
	h.want("epoch 3 keeps the unreclaimed", h.begin(3), "a", "b", "c", "new")
	h.add("b")
	h.restart() // and again
	h.want("epoch 4", h.begin(4), "a", "b", "c", "new")
	h.add("c")
	h.endGrace()
	h.restart()
	// Only what reclaimed in the epoch whose grace period ended survives:
	// a and b lost their state when that grace period ended.
	h.want("epoch 5", h.begin(5), "c")
}

func testSameEpoch(h *harness) {
	h.begin(1)
	h.add("a", "b")
	h.restart()
	h.want("epoch 2", h.begin(2), "a", "b")
	h.add("a", "new")
	h.restart() // a cluster node rejoining the same grace period
	h.want("epoch 2 again", h.begin(2), "a", "b")
	if last, err := h.s.LastEpoch(h.ctx); err != nil || last != 2 {
		h.t.Fatalf("LastEpoch = %d, %v; want 2", last, err)
	}
	h.add("b")
	h.endGrace()
	h.restart()
	// The first life's reclaim of a and new's record were cleared by the
	// second Begin(2): only b reclaimed in the life whose grace ended.
	h.want("epoch 3", h.begin(3), "b")
}

func (h *harness) wantStale(epoch uint64) {
	h.t.Helper()
	if _, err := h.s.Begin(h.ctx, epoch); !errors.Is(err, recovery.ErrStaleEpoch) {
		h.t.Fatalf("Begin(%d) = %v, want ErrStaleEpoch", epoch, err)
	}
}

func testStaleEpochs(h *harness) {
	h.wantStale(0)
	h.begin(5)
	h.add("a")
	h.wantStale(5) // twice on one store would clear live records
	h.wantStale(4)
	h.wantStale(0)
	h.add("b") // the failed Begins changed nothing
	h.restart()
	h.wantStale(4)
	h.wantStale(0)
	h.want("restart into epoch 5", h.begin(5))
	h.add("a")
	h.endGrace()
	h.restart()
	h.wantStale(5) // its grace ended: a newer epoch is required
	h.want("epoch 6", h.begin(6), "a")
}

func testLiveEpochChange(h *harness) {
	// A running cluster node entering a new grace period started by a
	// peer: it begins the new epoch and records its live clients again.
	h.begin(1)
	h.add("a", "b")
	h.want("live epoch 2", h.begin(2), "a", "b")
	h.add("a", "c")
	h.endGrace()
	h.restart()
	h.want("epoch 3", h.begin(3), "a", "c")
	h.add("a", "c")
	h.endGrace()

	// A crash before the live clients are all recorded again loses none.
	h.want("live epoch 4", h.begin(4), "a", "c")
	h.add("a")
	h.restart()
	h.want("epoch 5", h.begin(5), "a", "c")
}

func testNewestWins(h *harness) {
	h.begin(1)
	h.add("a", "b")
	h.restart()
	h.begin(2)
	newer := recovery.Record{Owner: []byte("a"), Principal: "krb5:alice@EXAMPLE", Minor: 2}
	if err := h.s.Add(h.ctx, newer); err != nil {
		h.t.Fatal(err)
	}
	h.restart() // crash during grace: both epochs are in the reclaim set
	h.wantRecords("epoch 3", h.begin(3), []recovery.Record{newer, rec("b")})
	// Within one epoch, Add replaces.
	h.add("b")
	changed := rec("b")
	changed.Principal = "sys:0"
	if err := h.s.Add(h.ctx, changed); err != nil {
		h.t.Fatal(err)
	}
	h.endGrace()
	h.restart()
	h.wantRecords("epoch 4", h.begin(4), []recovery.Record{changed})
}

func testBinaryOwners(h *harness) {
	owners := []string{
		"\x00", "\x00\x00", "a", "a\x00", "a\x00b", "\xff\xfe\x80", "\xc3\x28", // invalid UTF-8
		"Linux NFSv4.1 host.example", strings.Repeat("\x00", recovery.MaxOwnerLen),
		strings.Repeat("\xff", recovery.MaxOwnerLen), "rec-0000000000000001", "meta", ":",
	}
	var all []byte
	for i := range 256 {
		all = append(all, byte(i))
	}
	owners = append(owners, string(all))
	h.begin(1)
	h.add(owners...)
	h.restart()
	h.want("binary owners", h.begin(2), owners...)
	h.add(owners...)
	h.remove("a", "\x00")
	h.endGrace()
	h.restart()
	rest := slices.DeleteFunc(slices.Clone(owners), func(o string) bool { return o == "a" || o == "\x00" })
	h.want("after removing two", h.begin(3), rest...)
}

func testLimits(h *harness) {
	h.begin(1)
	bad := []recovery.Record{
		{Owner: nil},
		{Owner: []byte{}},
		{Owner: make([]byte, recovery.MaxOwnerLen+1)},
		{Owner: []byte("a"), Principal: strings.Repeat("p", recovery.MaxPrincipalLen+1)},
	}
	for _, r := range bad {
		if err := h.s.Add(h.ctx, r); !errors.Is(err, recovery.ErrInvalidRecord) {
			h.t.Errorf("Add(owner %d bytes, principal %d bytes) = %v, want ErrInvalidRecord", len(r.Owner), len(r.Principal), err)
		}
	}
	for _, o := range [][]byte{nil, make([]byte, recovery.MaxOwnerLen+1)} {
		if err := h.s.Remove(h.ctx, o); !errors.Is(err, recovery.ErrInvalidRecord) {
			h.t.Errorf("Remove(%d bytes) = %v, want ErrInvalidRecord", len(o), err)
		}
	}
	max := recovery.Record{Owner: bytes.Repeat([]byte{7}, recovery.MaxOwnerLen), Principal: strings.Repeat("p", recovery.MaxPrincipalLen), Minor: 1<<32 - 1}
	if err := h.s.Add(h.ctx, max); err != nil {
		h.t.Fatalf("Add at the limits: %v", err)
	}
	h.restart()
	h.wantRecords("at the limits", h.begin(2), []recovery.Record{max})
}

func testNotBegun(h *harness) {
	check := func(when string) {
		h.t.Helper()
		if err := h.s.Add(h.ctx, rec("a")); !errors.Is(err, recovery.ErrNotBegun) {
			h.t.Errorf("%s: Add = %v, want ErrNotBegun", when, err)
		}
		if err := h.s.Remove(h.ctx, []byte("a")); !errors.Is(err, recovery.ErrNotBegun) {
			h.t.Errorf("%s: Remove = %v, want ErrNotBegun", when, err)
		}
		if err := h.s.EndGrace(h.ctx); !errors.Is(err, recovery.ErrNotBegun) {
			h.t.Errorf("%s: EndGrace = %v, want ErrNotBegun", when, err)
		}
	}
	check("new store")
	h.begin(1)
	h.add("a")
	h.restart()
	check("after a restart") // the previous instance's epoch is not ours
	h.want("epoch 2", h.begin(2), "a")
}

func testLastEpoch(h *harness) {
	last := func(want uint64) {
		h.t.Helper()
		if got, err := h.s.LastEpoch(h.ctx); err != nil || got != want {
			h.t.Fatalf("LastEpoch = %d, %v; want %d", got, err, want)
		}
	}
	last(0)
	h.restart()
	last(0)
	h.begin(7)
	last(7)
	h.endGrace()
	last(7)
	h.restart()
	last(7)
	h.beginNext()
	last(8)
	h.begin(1 << 40)
	last(1 << 40)
	h.restart()
	last(1 << 40)
}

func testConcurrency(h *harness) {
	const n = 100
	h.begin(1)
	owner := func(i int) string { return fmt.Sprintf("client-%03d", i) }
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := func() error {
				o := owner(i)
				// Every goroutine also hits a shared owner and a missing
				// one, so that writers collide on keys as well as on the
				// database.
				for _, step := range []func() error{
					func() error { return h.s.Add(h.ctx, rec(o)) },
					func() error { return h.s.Add(h.ctx, rec("shared")) },
					func() error { return h.s.Add(h.ctx, rec(o)) },
					func() error { return h.s.Remove(h.ctx, []byte("missing")) },
					func() error { _, err := h.s.LastEpoch(h.ctx); return err },
					func() error {
						if i%2 == 0 {
							return h.s.Remove(h.ctx, []byte(o))
						}
						return nil
					},
				} {
					if err := step(); err != nil {
						return fmt.Errorf("%s: %w", o, err)
					}
				}
				return nil
			}()
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			h.t.Error(err)
		}
	}
	want := []string{"shared"}
	for i := 1; i < n; i += 2 {
		want = append(want, owner(i))
	}
	h.restart()
	h.want("after concurrent writers", h.begin(2), want...)
}

func testContextAndClose(h *harness) {
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	if _, err := h.s.Begin(ctx, 1); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Begin with a canceled context = %v", err)
	}
	h.begin(1)
	if err := h.s.Add(ctx, rec("a")); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Add with a canceled context = %v", err)
	}
	if err := h.s.Close(); err != nil {
		h.t.Fatalf("Close: %v", err)
	}
	if err := h.s.Close(); err != nil {
		h.t.Errorf("second Close = %v, want nil", err)
	}
	if _, err := h.s.Begin(h.ctx, 2); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("Begin after Close = %v", err)
	}
	if err := h.s.Add(h.ctx, rec("a")); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("Add after Close = %v", err)
	}
	if err := h.s.Remove(h.ctx, []byte("a")); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("Remove after Close = %v", err)
	}
	if err := h.s.EndGrace(h.ctx); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("EndGrace after Close = %v", err)
	}
	if _, err := h.s.LastEpoch(h.ctx); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("LastEpoch after Close = %v", err)
	}
	h.restart() // reopening a closed store works
	h.want("epoch 2", h.begin(2))
}

func testCopies(h *harness) {
	h.begin(1)
	r := rec("owner")
	if err := h.s.Add(h.ctx, r); err != nil {
		h.t.Fatal(err)
	}
	r.Owner[0] = 'X' // the caller's buffer is the caller's again
	h.restart()
	got := h.begin(2)
	h.want("caller's buffer reused", got, "owner")
	got[0].Owner[0] = 'Y' // and the result is the caller's to keep
	h.add("owner")
	h.restart()
	h.want("result modified", h.begin(3), "owner")
}

func (h *harness) peek() []recovery.Record {
	h.t.Helper()
	rs, err := h.s.Peek(h.ctx)
	if err != nil {
		h.t.Fatalf("Peek: %v", err)
	}
	return rs
}

func testPeek(h *harness) {
	h.want("Peek of a new store", h.peek())
	h.restart()
	h.want("Peek of a reopened empty store", h.peek())
	h.begin(1)
	h.want("Peek right after Begin", h.peek())
	h.add("a", "b")
	h.want("Peek in epoch 1", h.peek(), "a", "b")
	h.restart()
	// Peek needs no Begin and enables nothing.
	h.want("Peek after a restart", h.peek(), "a", "b")
	if err := h.s.Add(h.ctx, rec("x")); !errors.Is(err, recovery.ErrNotBegun) {
		h.t.Fatalf("Add after Peek without Begin = %v, want ErrNotBegun", err)
	}
	if last, err := h.s.LastEpoch(h.ctx); err != nil || last != 1 {
		h.t.Fatalf("LastEpoch after Peek = %d, %v; want 1", last, err)
	}
	h.want("epoch 2", h.begin(2), "a", "b")
	h.want("Peek during grace: the reclaim set", h.peek(), "a", "b")
	newer := recovery.Record{Owner: []byte("a"), Principal: "krb5:alice@EXAMPLE", Minor: 2}
	if err := h.s.Add(h.ctx, newer); err != nil {
		h.t.Fatal(err)
	}
	h.add("c")
	want := []recovery.Record{newer, rec("b"), rec("c")}
	h.wantRecords("Peek after reclaims", h.peek(), want)
	h.restart() // crash during grace
	h.wantRecords("Peek after the crash", h.peek(), want)
	h.wantRecords("Peek again: it changed nothing", h.peek(), want)
	h.wantRecords("epoch 3 returns what Peek did", h.begin(3), want)
	if err := h.s.Close(); err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.s.Peek(h.ctx); !errors.Is(err, recovery.ErrClosed) {
		h.t.Errorf("Peek after Close = %v, want ErrClosed", err)
	}
	h.restart()
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	if _, err := h.s.Peek(ctx); !errors.Is(err, context.Canceled) {
		h.t.Errorf("Peek with a canceled context = %v", err)
	}
}

func testPeekAfterEndGrace(h *harness) {
	h.begin(1)
	h.add("a", "b")
	h.restart()
	h.begin(2)
	h.add("b", "c")
	h.endGrace()
	// The reclaim set is gone; what stays is what this epoch recorded.
	h.want("Peek after EndGrace", h.peek(), "b", "c")
	h.remove("c")
	h.want("Peek after Remove", h.peek(), "b")
	h.restart()
	h.want("Peek after a restart", h.peek(), "b")
	h.want("epoch 3", h.begin(3), "b")
}

func testSameEpochEmpty(h *harness) {
	h.begin(1)
	h.add("a")
	h.restart()
	h.want("epoch 2", h.begin(2), "a")
	h.endGrace()   // a did not reclaim: epoch 2 holds nothing
	h.wantStale(2) // one store never begins an epoch twice
	h.restart()
	// A node without clients rejoining an epoch that has not moved.
	h.want("epoch 2 after its grace ended, empty", h.begin(2))
	h.add("x")  // e.g. RECLAIM_COMPLETE during this life's grace
	h.restart() // crash before this life's EndGrace
	// This life's grace never ended, so x got no state: the restart
	// into epoch 2 is allowed again and clears x.
	h.want("epoch 2 again", h.begin(2))
	h.want("Peek", h.peek())
	h.add("y")
	h.endGrace()
	h.restart()
	h.wantStale(2) // now it holds y
	h.want("epoch 3", h.begin(3), "y")

	// Emptied by Remove after EndGrace counts as empty too.
	h.add("z")
	h.endGrace()
	h.remove("y", "z")
	h.restart()
	h.want("epoch 3 again, emptied by Remove", h.begin(3))
}

func testSameEpochWithRecords(h *harness) {
	h.begin(1)
	h.add("a")
	h.endGrace()
	h.restart()
	h.wantStale(1)
	h.wantStale(1) // and the refusal changed nothing
	h.want("Peek after the refusals", h.peek(), "a")
	if last, err := h.s.LastEpoch(h.ctx); err != nil || last != 1 {
		h.t.Fatalf("LastEpoch = %d, %v; want 1", last, err)
	}
	h.want("epoch 2", h.begin(2), "a")
}
