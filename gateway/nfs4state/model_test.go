package nfs4state

import (
	"bytes"
	"fmt"
	"math"
	"math/rand"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"nfsgw/gateway/nfs4"
)

// TestRandomizedModel drives the state model with random operations from
// several clients on a few files — opens with random share bits, upgrades,
// downgrades, closes, locks and unlocks of random ranges, lock owner
// releases, session and client destruction, lease expiry with courtesy
// clients that come back or are expired by a conflict — and checks the
// model's invariants after every step, and that every backend file opened
// is closed exactly once in the end.
func TestRandomizedModel(t *testing.T) {
	seeds := []int64{1, 2, 3, 4, 5, 6, 7, 8}
	if testing.Short() {
		seeds = seeds[:2]
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { runModel(t, seed, 3000) })
	}
}

func runModel(t *testing.T, seed int64, steps int) {
	rng := rand.New(rand.NewSource(seed))
	clk := &fakeClock{t: time.Unix(1_000_000, 0)}
	m := NewManager(Config{Lease: 10 * time.Second, Now: clk.Now, Boot: 9, MaxStatesPerClient: 40, MaxLocksPerFile: 8})
	var opened, closed atomic.Int32
	outcomes := map[string]int{}
	newFile := func() fakeFile { opened.Add(1); return fakeFile{&closed} }

	type client struct {
		c *Client
		s *Session
	}
	var clients []*client
	newClient := func() {
		owner := fmt.Sprintf("c%d", rng.Int())
		res, st, _ := m.ExchangeID(owner, [8]byte{1}, "sys:0", false, "")
		if st != nfs4.OK {
			t.Fatalf("exchange id: %d", st)
		}
		s, _, st, _ := m.CreateSession(res.Client.ID, res.Sequence, "sys:0", ChannelAttrs{MaxRequests: 2}, ChannelAttrs{}, 0, 0)
		if st != nfs4.OK {
			t.Fatalf("create session: %d", st)
		}
		clients = append(clients, &client{res.Client, s})
	}
	for i := 0; i < 4; i++ {
		newClient()
	}
	files := []string{"f0", "f1", "f2"}
	pickState := func(c *Client, kind Kind) *State {
		c.mu.Lock()
		defer c.mu.Unlock()
		var list []*State
		for _, s := range c.states {
			if s.Kind == kind {
				list = append(list, s)
			}
		}
		if len(list) == 0 {
			return nil
		}
		// Map order is random: sort, so that a seed is one walk.
		slices.SortFunc(list, func(a, b *State) int { return bytes.Compare(a.Other[:], b.Other[:]) })
		return list[rng.Intn(len(list))]
	}
	randRange := func() (uint64, uint64) {
		start := uint64(rng.Intn(100))
		if rng.Intn(10) == 0 {
			return start, math.MaxUint64
		}
		return start, start + uint64(rng.Intn(30))
	}

	for step := 0; step < steps; step++ {
		// Courtesy clients expired by a conflict (or by the reaper)
		// leave the walk, as their ids would stop working.
		for i := 0; i < len(clients); {
			if clients[i].c.Expired() {
				outcomes["courtesy client expired"]++
				clients = append(clients[:i], clients[i+1:]...)
				continue
			}
			i++
		}
		if len(clients) == 0 {
			newClient()
		}
		ci := rng.Intn(len(clients))
		cl := clients[ci]
		c := cl.c
		if m.IsCourtesy(c) {
			if rng.Intn(4) == 0 {
				// A courtesy client comes back, with its state.
				c.Renew()
				outcomes["courtesy client came back"]++
			} else {
				// It stays away: act for another client, which
				// may run into its state.
				continue
			}
		}
		var what string
		switch op := rng.Intn(100); {
		case op < 30:
			what = "open"
			owner := c.OpenOwner(fmt.Sprintf("o%d", rng.Intn(3)))
			access := uint32(1 + rng.Intn(3))
			deny := uint32(rng.Intn(4))
			if rng.Intn(2) == 0 {
				deny = 0
			}
			_, _, st, _ := m.Open(OpenRequest{Owner: owner, FileKey: files[rng.Intn(len(files))], Access: access, Deny: deny, File: newFile()})
			outcomes[fmt.Sprint("open ", st)]++
		case op < 40:
			what = "close"
			if s := pickState(c, KindOpen); s != nil {
				m.Close(s)
			}
		case op < 45:
			what = "downgrade"
			if s := pickState(c, KindOpen); s != nil {
				m.Downgrade(s, uint32(1+rng.Intn(3)), uint32(rng.Intn(4)))
			}
		case op < 70:
			what = "lock"
			if open := pickState(c, KindOpen); open != nil {
				lo := c.LockOwner(fmt.Sprintf("l%d", rng.Intn(3)))
				if ls, st := m.LockStateFor(open, lo); st == nfs4.OK {
					start, end := randRange()
					_, _, st, _ := m.Lock(ls, start, end, rng.Intn(2) == 0, nil)
					outcomes[fmt.Sprint("lock ", st)]++
				}
			}
		case op < 85:
			what = "unlock"
			if ls := pickState(c, KindLock); ls != nil {
				start, end := randRange()
				m.Unlock(ls, start, end, nil)
			}
		case op < 88:
			what = "release lock owner"
			m.ReleaseLockOwner(c, fmt.Sprintf("l%d", rng.Intn(3)))
		case op < 90:
			what = "free stateid"
			if ls := pickState(c, KindLock); ls != nil {
				m.FreeStateid(c, ls.Stateid())
			}
		case op < 93:
			what = "destroy"
			m.DestroySession(cl.s.ID)
			m.Evict(c.ID)
			clients = append(clients[:ci], clients[ci+1:]...)
		case op < 96:
			what = "expire"
			// Everyone but one client (and the courtesy clients)
			// renews; the lease runs out for it.
			var renew []*client
			for _, o := range clients {
				if o != cl && !m.IsCourtesy(o.c) {
					renew = append(renew, o)
				}
			}
			for _, o := range renew {
				o.c.Renew()
			}
			clk.Add(5 * time.Second)
			for _, o := range renew {
				o.c.Renew()
			}
			clk.Add(6 * time.Second)
			m.Reap()
			if !c.Expired() && !m.IsCourtesy(c) {
				t.Fatalf("seed %d step %d: a client whose lease ran out is neither expired nor courtesy", seed, step)
			}
		default:
			what = "new client"
			newClient()
		}
		if err := m.CheckConsistency(); err != nil {
			t.Fatalf("seed %d step %d (%s): %v", seed, step, what, err)
		}
	}
	for _, cl := range clients {
		m.Evict(cl.c.ID)
	}
	if err := m.CheckConsistency(); err != nil {
		t.Fatal(err)
	}
	if st := m.Stats(); st != (Stats{}) {
		t.Fatalf("state left after every client went: %+v", st)
	}
	// The walk must have reached the interesting cases, or it proves
	// little: granted and refused opens and locks, and the limits.
	for _, k := range []string{"open NFS4_OK", "open NFS4ERR_SHARE_DENIED", "lock NFS4_OK", "lock NFS4ERR_DENIED",
		"courtesy client came back", "courtesy client expired"} {
		if outcomes[k] == 0 {
			t.Errorf("seed %d never produced %q: %v", seed, k, outcomes)
		}
	}
	if m.CourtesyExpired() == 0 {
		t.Errorf("seed %d: no conflict ever expired a courtesy client", seed)
	}
	if opened.Load() != closed.Load() {
		t.Fatalf("opened %d backend files, closed %d", opened.Load(), closed.Load())
	}
}
