//go:build !noceph

package radosdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/grace"
	"nfsgw/internal/radosconn"
)

// cluster is one test namespace and a way to open more connections to it.
type cluster struct {
	t    *testing.T
	conn *rados.Conn
	io   *rados.IOContext
	ns   string
}

func newCluster(t *testing.T) *cluster {
	conn, io, ns := radosconn.TestIOContext(t)
	return &cluster{t: t, conn: conn, io: io, ns: ns}
}

// db opens the grace database on the test's own connection.
func (c *cluster) db() *DB {
	c.t.Helper()
	d, err := Open(c.conn, c.io, "")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(d.Close)
	return d
}

// otherDB opens it on a connection of its own: another gateway.
func (c *cluster) otherDB() *DB {
	c.t.Helper()
	conn, err := radosconn.Connect(radosconn.Options{ConfPath: os.Getenv("CEPH_CONF"), User: os.Getenv("CEPH_USER"), Keyring: os.Getenv("CEPH_ADMIN_KEYRING")})
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(conn.Shutdown)
	pool, _ := c.io.GetPoolName()
	io, err := conn.OpenIOContext(pool)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(io.Destroy)
	io.SetNamespace(c.ns)
	d, err := Open(conn, io, "")
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(d.Close)
	return d
}

// raw is the object's bytes and omap, to show that nothing was written.
func (c *cluster) raw(oid string) (data []byte, omap map[string][]byte) {
	c.t.Helper()
	buf := make([]byte, 4096)
	n, err := c.io.Read(oid, buf, 0)
	if err != nil {
		c.t.Fatal(err)
	}
	omap, err = c.io.GetAllOmapValues(oid, "", "", 100)
	if err != nil {
		c.t.Fatal(err)
	}
	return buf[:n], omap
}

func mustUpdate(t *testing.T, d *DB, m grace.Mutation) grace.DB {
	t.Helper()
	db, err := d.Update(context.Background(), m)
	if err != nil {
		t.Fatalf("%s: %v", m, err)
	}
	return db
}

func TestCreateAndRead(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	_, err := d.Read(ctx)
	if !errors.Is(err, ErrNoDB) || !strings.Contains(err.Error(), "nfsgwctl grace add") {
		t.Fatalf("read of a missing db: %v, want ErrNoDB saying how to create it", err)
	}
	if got, err := d.Update(ctx, grace.Add{Nodes: []string{"a"}}); !errors.Is(err, ErrNoDB) || got.C != 0 || got.Version != 0 {
		t.Fatalf("update of a missing db: %+v %v, want ErrNoDB and the zero DB", got, err)
	}
	if created, err := d.Create(ctx); err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	if created, err := d.Create(ctx); err != nil || created {
		t.Fatalf("second create: %v %v, want not created and no error", created, err)
	}
	db, err := d.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if db.C != 1 || db.R != 0 || len(db.Members) != 0 || db.Version == 0 {
		t.Fatalf("fresh db %+v, want C=1 R=0 no members and a version", db)
	}
	data, omap := c.raw(DefaultObject)
	if !bytes.Equal(data, []byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}) || len(omap) != 0 {
		t.Fatalf("object holds %x %v", data, omap)
	}
}

// An object that exists but holds nothing (a cls lock on the grace object
// creates one) is no database yet, and Create makes it one.
func TestCreateOverEmptyObject(t *testing.T) {
	c := newCluster(t)
	if ret, err := c.io.LockExclusive(DefaultObject, "nfsgw.node.a", "i", "", time.Minute, nil); ret != 0 || err != nil {
		t.Fatalf("lock: %d %v", ret, err)
	}
	d := c.db()
	ctx := context.Background()
	if _, err := d.Read(ctx); !errors.Is(err, ErrNoDB) || !strings.Contains(err.Error(), "exists but is empty") {
		t.Fatalf("read of an empty object: %v", err)
	}
	if _, err := d.Update(ctx, grace.Add{Nodes: []string{"a"}}); !errors.Is(err, ErrNoDB) {
		t.Fatalf("update of an empty object: %v", err)
	}
	if created, err := d.Create(ctx); !created || err != nil {
		t.Fatalf("create over an empty object: %v %v", created, err)
	}
	if db, err := d.Read(ctx); err != nil || db.C != 1 || db.R != 0 || len(db.Members) != 0 {
		t.Fatalf("after create: %+v %v", db, err)
	}
	if created, err := d.Create(ctx); created || err != nil {
		t.Fatalf("second create: %v %v", created, err)
	}
	if li, err := c.io.ListLockers(DefaultObject, "nfsgw.node.a"); err != nil || li.NumLockers != 1 {
		t.Fatalf("the lock did not survive: %+v %v", li, err)
	}
}

func TestUpdateFormat(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	d.Create(ctx)
	mustUpdate(t, d, grace.Add{Nodes: []string{"a", "b"}})
	db := mustUpdate(t, d, grace.Start{Nodes: []string{"a"}})
	if db.C != 2 || db.R != 1 || db.Members["a"] != grace.FlagNeed|grace.FlagEnforcing || db.Members["b"] != grace.FlagEnforcing {
		t.Fatalf("after start a: %+v", db)
	}
	data, omap := c.raw(DefaultObject)
	want := map[string][]byte{"a": {3}, "b": {2}}
	if !bytes.Equal(data, encodeEpochs(2, 1)) || !maps.EqualFunc(omap, want, bytes.Equal) {
		t.Fatalf("object holds %x %v, want %x %v", data, omap, encodeEpochs(2, 1), want)
	}
	read, err := d.Read(ctx)
	if err != nil || !read.Equal(db) || read.Version != db.Version {
		t.Fatalf("read back %+v %v, want %+v", read, err, db)
	}
	// Unknown flag bits survive a change to the member.
	c.io.SetOmap(DefaultObject, map[string][]byte{"b": {0x82}})
	db = mustUpdate(t, d, grace.Join{Node: "b", OnlyInGrace: true})
	if db.Members["b"] != 0x83 {
		t.Fatalf("b = %#x, want 0x83", db.Members["b"])
	}
	// A mutation that changes nothing writes nothing.
	before := db.Version
	if db = mustUpdate(t, d, grace.Noop{}); db.Version != before {
		t.Fatalf("noop moved the version %d -> %d", before, db.Version)
	}
	// Remove deletes the key.
	mustUpdate(t, d, grace.Lift{Node: "a"})
	mustUpdate(t, d, grace.Lift{Node: "b"})
	mustUpdate(t, d, grace.Remove{Nodes: []string{"b"}})
	if _, omap := c.raw(DefaultObject); len(omap) != 1 || omap["a"] == nil {
		t.Fatalf("after remove b: %v", omap)
	}
}

func TestRefusedWritesNothing(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	d.Create(ctx)
	mustUpdate(t, d, grace.Add{Nodes: []string{"a", "x"}})
	mustUpdate(t, d, grace.Unenforce{Node: "x"})
	db := mustUpdate(t, d, grace.Start{Nodes: []string{"a"}})
	// A refusal returns the snapshot it was refused against (what
	// grace.DBStore promises the runner).
	for _, m := range []grace.Mutation{grace.Lift{Node: "a"}, grace.Remove{Nodes: []string{"x"}}} {
		got, err := d.Update(ctx, m)
		if !errors.Is(err, grace.ErrRefused) || !strings.Contains(err.Error(), "x") {
			t.Fatalf("%s while x does not enforce: %v, want refused naming x", m, err)
		}
		if !got.Equal(db) || got.Version != db.Version {
			t.Fatalf("%s refused: returned %+v, want the snapshot %+v", m, got, db)
		}
	}
	if got, err := d.Update(ctx, grace.Join{Node: "zz"}); !errors.Is(err, grace.ErrNotMember) || got.Version != db.Version {
		t.Fatalf("join zz: %+v %v", got, err)
	}
	after, _ := d.Read(ctx)
	if after.Version != db.Version || !after.Equal(db) {
		t.Fatalf("refused mutations wrote: %+v -> %+v", db, after)
	}
}

func TestAddPastMaxMembersRefused(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	d.Create(ctx)
	full := map[string][]byte{}
	for i := range grace.MaxMembers {
		full[fmt.Sprintf("n%04d", i)] = []byte{grace.FlagEnforcing}
	}
	if err := c.io.SetOmap(DefaultObject, full); err != nil {
		t.Fatal(err)
	}
	db, err := d.Read(ctx)
	if err != nil || len(db.Members) != grace.MaxMembers {
		t.Fatalf("a full database: %d members, %v", len(db.Members), err)
	}
	_, err = d.Update(ctx, grace.Add{Nodes: []string{"one-more"}})
	if !errors.Is(err, grace.ErrRefused) || errors.Is(err, grace.ErrCorruptDB) {
		t.Fatalf("add past the limit: %v, want refused (and not called corrupt)", err)
	}
	if after, _ := d.Read(ctx); after.Version != db.Version {
		t.Fatal("the refused add wrote")
	}
}

// interfere is a mutation that, the first time it is applied, lets another
// writer change the object between this Update's read and its write.
type interfere struct {
	other *DB
	once  sync.Once
	inner grace.Mutation
}

func (m *interfere) Apply(d grace.DB) (grace.DB, error) {
	var err error
	m.once.Do(func() { _, err = m.other.Update(context.Background(), grace.Add{Nodes: []string{"intruder"}}) })
	if err != nil {
		return d, err
	}
	return m.inner.Apply(d)
}

func (m *interfere) String() string { return "interfere " + m.inner.String() }

func TestUpdateConflictRetries(t *testing.T) {
	c := newCluster(t)
	d, other := c.db(), c.otherDB()
	ctx := context.Background()
	d.Create(ctx)
	mustUpdate(t, d, grace.Add{Nodes: []string{"a"}})
	db := mustUpdate(t, d, &interfere{other: other, inner: grace.Start{Nodes: []string{"a"}}})
	if d.Retries() != 1 {
		t.Fatalf("retries %d, want 1", d.Retries())
	}
	if db.Members["intruder"] != grace.FlagEnforcing || db.Members["a"] != grace.FlagNeed|grace.FlagEnforcing || db.R != 1 {
		t.Fatalf("lost an update: %+v", db)
	}
}

func TestConcurrentUpdatesLoseNothing(t *testing.T) {
	c := newCluster(t)
	dbs := []*DB{c.db(), c.otherDB()}
	ctx := context.Background()
	dbs[0].Create(ctx)
	const each = 15
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for i, d := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				if _, err := d.Update(ctx, grace.Add{Nodes: []string{fmt.Sprintf("n%d-%d", i, j)}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	db, err := dbs[0].Read(ctx)
	if err != nil || len(db.Members) != 2*each {
		t.Fatalf("%d members, %v; want %d", len(db.Members), err, 2*each)
	}
	t.Logf("retries: %d + %d", dbs[0].Retries(), dbs[1].Retries())
}

func TestCorruptRefusedAndUnchanged(t *testing.T) {
	many := map[string][]byte{}
	for i := range grace.MaxMembers + 1 {
		many[fmt.Sprintf("n%04d", i)] = []byte{2}
	}
	for _, tc := range []struct {
		name string
		data []byte
		omap map[string][]byte
		want string
	}{
		{"15 bytes", encodeEpochs(2, 1)[:15], nil, "15 bytes"},
		{"17 bytes", append(encodeEpochs(2, 1), 0), nil, "17 bytes"},
		{"no data, members", nil, map[string][]byte{"a": {2}}, "holds 0 bytes"},
		{"C=0", encodeEpochs(0, 0), nil, "current epoch 0"},
		{"R=C", encodeEpochs(3, 3), nil, "recovery epoch 3 not below current epoch 3"},
		{"R>C", encodeEpochs(3, 7), nil, "recovery epoch 7"},
		{"2-byte flags", encodeEpochs(2, 0), map[string][]byte{"a": {2, 0}}, `"a" has a 2-byte value`},
		{"empty flags", encodeEpochs(2, 0), map[string][]byte{"a": {}}, `"a" has a 0-byte value`},
		{"too many members", encodeEpochs(2, 0), many, "more than 1024 members"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCluster(t)
			if err := c.io.Create(DefaultObject, rados.CreateExclusive); err != nil {
				t.Fatal(err)
			}
			if len(tc.data) > 0 {
				if err := c.io.WriteFull(DefaultObject, tc.data); err != nil {
					t.Fatal(err)
				}
			}
			if len(tc.omap) > 0 {
				if err := c.io.SetOmap(DefaultObject, tc.omap); err != nil {
					t.Fatal(err)
				}
			}
			data, omap := c.raw(DefaultObject)
			st, _ := c.io.Stat(DefaultObject)
			d := c.db()
			ctx := context.Background()
			_, err := d.Read(ctx)
			if !errors.Is(err, grace.ErrCorruptDB) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("read: %v, want ErrCorruptDB saying %q", err, tc.want)
			}
			for _, m := range []grace.Mutation{grace.Add{Nodes: []string{"z"}}, grace.Noop{}, grace.Lift{Node: "a"}} {
				if _, err := d.Update(ctx, m); !errors.Is(err, grace.ErrCorruptDB) {
					t.Fatalf("%s: %v, want ErrCorruptDB", m, err)
				}
			}
			if created, err := d.Create(ctx); created || err != nil {
				t.Fatalf("create over it: %v %v", created, err)
			}
			data2, omap2 := c.raw(DefaultObject)
			st2, _ := c.io.Stat(DefaultObject)
			if !bytes.Equal(data, data2) || !maps.EqualFunc(omap, omap2, bytes.Equal) || st.ModTime != st2.ModTime {
				t.Fatal("a corrupt database was rewritten")
			}
		})
	}
}

func TestWatchSeesOtherConnectionsUpdate(t *testing.T) {
	c := newCluster(t)
	watcher, writer := c.db(), c.otherDB()
	ctx, cancel := context.WithCancel(context.Background())
	writer.Create(ctx)
	changed := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// The first call says the watch is up.
	waitChange(t, changed)
	start := time.Now()
	db := mustUpdate(t, writer, grace.Add{Nodes: []string{"a"}})
	waitChange(t, changed)
	t.Logf("update seen by the watcher %v after it was issued", time.Since(start))
	got, err := watcher.Read(ctx)
	if err != nil || !got.Equal(db) {
		t.Fatalf("watcher reads %+v %v, want %+v", got, err, db)
	}
	if writer.NotifyFailures() != 0 {
		t.Fatalf("notify failures %d", writer.NotifyFailures())
	}
}

// A watch set up before the object exists (a gateway that starts before
// the operator's add) keeps trying, and sees the database once it is there.
func TestWatchBeforeCreate(t *testing.T) {
	old := watchRetry
	watchRetry = 20 * time.Millisecond
	t.Cleanup(func() { watchRetry = old })
	c := newCluster(t)
	watcher, writer := c.db(), c.otherDB()
	var logged sync.Once
	seen := make(chan struct{})
	watcher.Logf = func(string, ...any) { logged.Do(func() { close(seen) }) }
	ctx, cancel := context.WithCancel(context.Background())
	changed := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Watch returned %v", err)
		}
	})
	// The first attempt failed (no object) and was reported.
	select {
	case <-seen:
	case <-time.After(20 * time.Second):
		t.Fatal("no failed watch reported")
	}
	writer.Create(ctx)
	waitChange(t, changed)
	mustUpdate(t, writer, grace.Add{Nodes: []string{"a"}})
	waitChange(t, changed)
	if db, err := watcher.Read(ctx); err != nil || db.Members["a"] == 0 {
		t.Fatalf("watcher reads %+v %v", db, err)
	}
}

// A watch that breaks (here: the object is deleted under it, which
// disconnects its watchers) is set up again and sees the new database.
func TestWatchReestablished(t *testing.T) {
	old := watchRetry
	watchRetry = 20 * time.Millisecond
	t.Cleanup(func() { watchRetry = old })
	c := newCluster(t)
	watcher, writer := c.db(), c.otherDB()
	ctx, cancel := context.WithCancel(context.Background())
	writer.Create(ctx)
	var mu sync.Mutex
	var logs []string
	watcher.Logf = func(f string, a ...any) {
		mu.Lock()
		logs = append(logs, fmt.Sprintf(f, a...))
		mu.Unlock()
	}
	changed := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- watcher.Watch(ctx, func() {
			select {
			case changed <- struct{}{}:
			default:
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitChange(t, changed)
	if err := c.io.Delete(DefaultObject); err != nil {
		t.Fatal(err)
	}
	writer.Create(ctx)
	mustUpdate(t, writer, grace.Add{Nodes: []string{"a"}})
	deadline := time.Now().Add(20 * time.Second)
	for {
		waitChange(t, changed)
		if db, err := watcher.Read(ctx); err == nil && db.Members["a"] != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher never saw the recreated database")
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 || !strings.Contains(logs[0], "watching again") {
		t.Fatalf("the watch did not break and come back: %q", logs)
	}
}

func waitChange(t *testing.T, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(20 * time.Second):
		t.Fatal("watcher not called")
	}
}

func TestUpdateGuardedOnGraceObject(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	d.Create(ctx)
	mustUpdate(t, d, grace.Add{Nodes: []string{"a"}})
	// A lock on the grace object itself is asserted inside the write.
	if ret, err := c.io.LockExclusive(DefaultObject, "nfsgw.node.a", "inst-1", "", time.Minute, nil); ret != 0 || err != nil {
		t.Fatalf("lock: %d %v", ret, err)
	}
	db, err := d.UpdateGuarded(ctx, grace.Start{Nodes: []string{"a"}}, DefaultObject, "nfsgw.node.a", "inst-1")
	if err != nil || db.R != 1 {
		t.Fatalf("guarded update while holding the lock: %+v %v", db, err)
	}
	if _, err := d.UpdateGuarded(ctx, grace.Lift{Node: "a"}, DefaultObject, "nfsgw.node.a", "other-cookie"); !errors.Is(err, ErrFenced) {
		t.Fatalf("guarded update with another cookie: %v, want ErrFenced", err)
	}
	li, _ := c.io.ListLockers(DefaultObject, "nfsgw.node.a")
	if _, err := c.otherDB().aux.BreakLock(DefaultObject, "nfsgw.node.a", li.Clients[0], "inst-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateGuarded(ctx, grace.Lift{Node: "a"}, DefaultObject, "nfsgw.node.a", "inst-1"); !errors.Is(err, ErrFenced) {
		t.Fatalf("guarded update after the lock was broken: %v, want ErrFenced", err)
	}
	// (The version moved: lock and break change the object's xattrs.)
	if after, _ := d.Read(ctx); !after.Equal(db) {
		t.Fatalf("a fenced update wrote: %+v", after)
	}
}

func TestUpdateGuardedOnNodeObject(t *testing.T) {
	c := newCluster(t)
	d := c.db()
	ctx := context.Background()
	d.Create(ctx)
	mustUpdate(t, d, grace.Add{Nodes: []string{"a"}})
	if err := d.Lock(ctx, "a", "inst-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	db, err := d.UpdateGuarded(ctx, grace.Start{Nodes: []string{"a"}}, NodeObject("a"), LockName, "inst-1")
	if err != nil || db.R != 1 {
		t.Fatalf("guarded update while holding the lock: %+v %v", db, err)
	}
	other := c.otherDB()
	_, h, _ := other.Liveness(ctx, "a")
	if _, err := other.aux.BreakLock(NodeObject("a"), LockName, h.Client, h.Cookie); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateGuarded(ctx, grace.Lift{Node: "a"}, NodeObject("a"), LockName, "inst-1"); !errors.Is(err, ErrFenced) {
		t.Fatalf("guarded update after the lock was broken: %v, want ErrFenced", err)
	}
	// The other connection takes the lock with the same cookie: still not
	// this connection's lock.
	if err := other.Lock(ctx, "a", "inst-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := d.UpdateGuarded(ctx, grace.Lift{Node: "a"}, NodeObject("a"), LockName, "inst-1"); !errors.Is(err, ErrFenced) {
		t.Fatalf("guarded update under another connection's lock: %v, want ErrFenced", err)
	}
	if after, _ := d.Read(ctx); after.Version != db.Version {
		t.Fatal("a fenced update wrote")
	}
}

func TestEncodeAssertLocked(t *testing.T) {
	got := encodeAssertLocked("ab", "c")
	want := []byte{1, 1, 16, 0, 0, 0, 2, 0, 0, 0, 'a', 'b', 1, 1, 0, 0, 0, 'c', 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Fatalf("% x, want % x", got, want)
	}
}
