//go:build !noceph

package radosdb

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLockHeldRenewUnlock(t *testing.T) {
	c := newCluster(t)
	one, two := c.db(), c.otherDB()
	ctx := context.Background()
	if alive, _, err := one.Liveness(ctx, "a"); alive || err != nil {
		t.Fatalf("liveness of a node never locked: %v %v", alive, err)
	}
	if err := one.Lock(ctx, "a", "inst-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	// Taking it again with the same instance and connection renews it.
	if err := one.Lock(ctx, "a", "inst-1", time.Minute); err != nil {
		t.Fatalf("relock by the holder: %v", err)
	}
	err := two.Lock(ctx, "a", "inst-2", time.Minute)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "inst-1") || !strings.Contains(err.Error(), "client.") {
		t.Fatalf("lock held by another instance: %v, want ErrHeld naming client and instance inst-1", err)
	}
	// The same cookie from another connection is another instance.
	if err := two.Lock(ctx, "a", "inst-1", time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("same cookie, other connection: %v, want ErrHeld", err)
	}
	alive, h, err := two.Liveness(ctx, "a")
	if !alive || err != nil || h.Cookie != "inst-1" || !strings.HasPrefix(h.Client, "client.") || h.Addr == "" {
		t.Fatalf("liveness: %v %+v %v", alive, h, err)
	}
	if err := one.Renew(ctx, "a", "inst-1", time.Minute); err != nil {
		t.Fatalf("renew by the holder: %v", err)
	}
	if err := two.Renew(ctx, "a", "inst-2", time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("renew by a non-holder: %v, want ErrLost", err)
	}
	if err := one.Unlock(ctx, "a", "inst-1"); err != nil {
		t.Fatal(err)
	}
	if err := one.Unlock(ctx, "a", "inst-1"); err != nil {
		t.Fatalf("second unlock: %v", err)
	}
	if alive, _, _ := two.Liveness(ctx, "a"); alive {
		t.Fatal("alive after unlock")
	}
	if err := two.Lock(ctx, "a", "inst-2", time.Minute); err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	if err := one.Renew(ctx, "a", "inst-1", time.Minute); !errors.Is(err, ErrLost) {
		t.Fatalf("renew after another took it: %v, want ErrLost", err)
	}
}

func TestLockArgs(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	for _, tc := range []struct {
		node, inst string
		lease      time.Duration
	}{
		{"", "i", time.Minute},
		{"a/b", "i", time.Minute},
		{"a", "", time.Minute},
		{"a", strings.Repeat("i", 257), time.Minute},
		{"a", "i", 0},
		{"a", "i", time.Millisecond},
	} {
		if err := d.Lock(ctx, tc.node, tc.inst, tc.lease); err == nil {
			t.Errorf("Lock(%q, %q, %v) accepted", tc.node, tc.inst, tc.lease)
		}
	}
}

// TestLockExpiry measures what the package doc relies on: on this Ceph, a
// lock whose duration ran out leaves the lockers list, its holder's renew
// fails from then on, and another instance can take it. It has to wait for a
// real expiry (a one-second lease): the OSD's clock decides.
func TestLockExpiry(t *testing.T) {
	c := newCluster(t)
	one, two := c.db(), c.otherDB()
	ctx := context.Background()
	start := time.Now()
	if err := one.Lock(ctx, "a", "inst-1", time.Second); err != nil {
		t.Fatal(err)
	}
	// b starts with the same short lease and is renewed for longer at
	// once: it must outlive a.
	if err := one.Lock(ctx, "b", "inst-1", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := one.Renew(ctx, "b", "inst-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := two.Lock(ctx, "a", "inst-2", time.Minute); !errors.Is(err, ErrHeld) {
		t.Fatalf("lock before expiry: %v", err)
	}
	var gone time.Duration
	for {
		alive, _, err := two.Liveness(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !alive {
			gone = time.Since(start)
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatal("a 1 s lock still listed after 10 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("1 s lock gone from ListLockers after %v", gone)
	if gone < 900*time.Millisecond {
		t.Fatalf("lock gone after %v, before its duration", gone)
	}
	if alive, _, err := two.Liveness(ctx, "b"); !alive || err != nil {
		t.Fatalf("renewed lock gone with the original lease: %v %v", alive, err)
	}
	// Expired is lost, even when nobody has taken it yet.
	if err := one.Renew(ctx, "a", "inst-1", time.Second); !errors.Is(err, ErrLost) {
		t.Fatalf("renew after expiry: %v, want ErrLost", err)
	}
	if err := two.Lock(ctx, "a", "inst-2", time.Minute); err != nil {
		t.Fatalf("lock after expiry: %v", err)
	}
	if err := one.Renew(ctx, "a", "inst-1", time.Second); !errors.Is(err, ErrLost) {
		t.Fatalf("renew after expiry and takeover: %v, want ErrLost", err)
	}
	if _, h, _ := two.Liveness(ctx, "a"); h.Cookie != "inst-2" {
		t.Fatalf("holder %+v after the failed renew, want inst-2", h)
	}
}

func TestSessions(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	if s, err := d.Sessions(ctx, "a"); s != nil || err != nil {
		t.Fatalf("sessions of an unknown node: %v %v", s, err)
	}
	want := []string{"nfsgw-a-0001", "nfsgw-a-0002"}
	if err := d.SetSessions(ctx, "a", want); err != nil {
		t.Fatal(err)
	}
	// The lock lives on the same object and does not disturb them.
	if err := d.Lock(ctx, "a", "i", time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Sessions(ctx, "a"); !slices.Equal(got, want) || err != nil {
		t.Fatalf("sessions %v %v, want %v", got, err, want)
	}
	if err := d.SetSessions(ctx, "a", nil); err != nil {
		t.Fatal(err)
	}
	if got, err := d.Sessions(ctx, "a"); got != nil || err != nil {
		t.Fatalf("after clearing: %v %v", got, err)
	}
	many := make([]string, MaxSessions+1)
	for i := range many {
		many[i] = fmt.Sprint("s", i)
	}
	for _, bad := range [][]string{many, {""}, {"a b"}, {"a\nb"}, {strings.Repeat("x", MaxSessionLen+1)}} {
		if err := d.SetSessions(ctx, "a", bad); err == nil {
			t.Errorf("SetSessions(%q) accepted", bad)
		}
	}
	// What another writer left there is checked on the way back.
	c.io.SetOmap(NodeObject("b"), map[string][]byte{sessionsKey: []byte(strings.Join(many, "\n"))})
	if _, err := d.Sessions(ctx, "b"); err == nil {
		t.Error("too many stored sessions accepted")
	}
}
