//go:build !noceph

package exportdb

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"nfsgw/internal/radosconn"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/gateway/config"
)

// pageSize is how many omap entries one read operation asks for; the OSD
// caps a reply (osd_max_omap_entries_per_request), so a large table is
// read in pages, all at one object version.
const pageSize = 1000

// maxAttempts bounds the read-apply-write loop of one Update, and the
// re-reads of a table that changed while it was read page by page.
const maxAttempts = 32

// notifyTimeout bounds how long a writer's notify waits for watchers;
// they poll as well.
const notifyTimeout = 3 * time.Second

// Store is the export table in one RADOS object.
type Store struct {
	// ioctx carries only the table's reads and writes, each with the
	// rados_get_last_version that follows it, serialised by mu (librados
	// keeps that version per I/O context).
	ioctx *rados.IOContext
	mu    sync.Mutex
	// aux carries watch and notify.
	aux   *rados.IOContext
	oid   string
	where string

	retries  atomic.Uint64
	notifies sync.WaitGroup

	// Logf reports what is not an error of the call (a failed notify, a
	// watch set up again); nil: silent. Set it before use.
	Logf func(format string, args ...any)

	// beforeWrite, when set (tests), runs between the read and the write
	// of each Update attempt.
	beforeWrite func()
}

// Open returns the table in object oid (DefaultObject if empty) of the pool
// and namespace ioctx is set to, with I/O contexts of its own on conn.
func Open(conn *rados.Conn, ioctx *rados.IOContext, oid string) (*Store, error) {
	if oid == "" {
		oid = DefaultObject
	}
	own, aux, where, err := radosconn.ObjectContexts(conn, ioctx, oid)
	if err != nil {
		return nil, fmt.Errorf("export table: %w", err)
	}
	return &Store{ioctx: own, aux: aux, oid: oid, where: where}, nil
}

// Close releases the I/O contexts; watches must have ended.
func (s *Store) Close() {
	s.notifies.Wait()
	s.ioctx.Destroy()
	s.aux.Destroy()
}

// Where names the object for messages.
func (s *Store) Where() string { return s.where }

// Retries counts version conflicts that made an Update read again.
func (s *Store) Retries() uint64 { return s.retries.Load() }

func (s *Store) logf(format string, args ...any) {
	if s.Logf != nil {
		s.Logf(format, args...)
	}
}

// Version returns the table object's version without reading the
// exports: a watcher compares it with what it serves.
func (s *Store) Version(ctx context.Context) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := rados.CreateReadOp()
	defer op.Release()
	op.AssertExists()
	err := op.Operate(s.ioctx, s.oid, rados.OperationNoFlag)
	if errno(err) == -eNOENT {
		return 0, fmt.Errorf("%s: %w", s.where, ErrNoTable)
	}
	if err != nil {
		return 0, fmt.Errorf("export table: stat %s: %w", s.where, err)
	}
	return s.ioctx.GetLastVersion()
}

// Read returns the table at one object version: when it changed between
// two pages, it is read again.
func (s *Store) Read(ctx context.Context) (Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range maxAttempts {
		if err := ctx.Err(); err != nil {
			return Table{}, err
		}
		t, err := s.readLocked()
		if !errors.Is(err, errMoved) {
			return t, err
		}
		s.retries.Add(1)
	}
	return Table{}, fmt.Errorf("export table: %s changed under %d reads in a row", s.where, maxAttempts)
}

var errMoved = errors.New("table changed while read")

func (s *Store) readLocked() (Table, error) {
	var t Table
	after := ""
	for page := 0; ; page++ {
		op := rados.CreateReadOp()
		var rd *rados.ReadOpReadStep
		buf := make([]byte, 9) // one more than the format has
		if page == 0 {
			rd = op.Read(0, buf)
		} else {
			op.AssertVersion(t.Version)
		}
		om := op.GetOmapValues(after, "", pageSize)
		err := op.Operate(s.ioctx, s.oid, rados.OperationNoFlag)
		if err != nil {
			op.Release()
			switch e := errno(err); {
			case e == -eNOENT && page == 0:
				return Table{}, fmt.Errorf("%s: %w", s.where, ErrNoTable)
			case e == -eNOENT || e == -eRANGE || e == -eOVERFLOW:
				return Table{}, errMoved
			}
			return Table{}, fmt.Errorf("export table: read %s: %w", s.where, err)
		}
		if page == 0 {
			v, err := s.ioctx.GetLastVersion()
			if err != nil {
				op.Release()
				return Table{}, fmt.Errorf("export table: version of %s: %w", s.where, err)
			}
			t.Version = v
			if t.Gen, err = decodeGen(buf[:rd.BytesRead]); err != nil {
				op.Release()
				return Table{}, fmt.Errorf("%s: %w", s.where, err)
			}
		}
		n := 0
		for {
			kv, err := om.Next()
			if err != nil {
				op.Release()
				return Table{}, fmt.Errorf("export table: read %s: %w", s.where, err)
			}
			if kv == nil {
				break
			}
			n++
			e, err := DecodeExport(kv.Key, kv.Value)
			if err != nil {
				op.Release()
				return Table{}, fmt.Errorf("%s: %w", s.where, err)
			}
			t.Exports = append(t.Exports, e)
			after = kv.Key
		}
		more := om.More()
		op.Release()
		if !more || n == 0 {
			return t, nil
		}
	}
}

// Create creates an empty table; created is false when one existed.
func (s *Store) Create(ctx context.Context) (created bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := rados.CreateWriteOp()
	defer op.Release()
	op.Create(rados.CreateExclusive)
	op.WriteFull(encodeGen(1))
	err = op.Operate(s.ioctx, s.oid, rados.OperationNoFlag)
	switch {
	case err == nil:
		s.notifyAsync(nil)
		return true, nil
	case errno(err) == -eEXIST:
		return false, nil
	}
	return false, fmt.Errorf("export table: create %s: %w", s.where, err)
}

// Update applies m to the newest table and writes the result with the
// version read asserted (creating the table if it does not exist); on a
// conflict it reads again and re-applies m. It returns the table as
// written. A refusal (ErrRefused, ErrNotFound) writes nothing.
func (s *Store) Update(ctx context.Context, m Mutation) (Table, error) {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return Table{}, err
		}
		t, ch, err := s.tryUpdate(ctx, m)
		if err == nil {
			if ch != nil {
				s.notifyAsync(ch.encode())
			}
			return t, nil
		}
		if !errors.Is(err, errConflict) {
			return t, err
		}
		s.retries.Add(1)
		if attempt+1 >= maxAttempts {
			return t, fmt.Errorf("export table: %s: %s changed under %d attempts in a row", m, s.where, maxAttempts)
		}
		pause := time.Duration(rand.Int64N(int64(time.Millisecond)<<min(attempt, 6))) + time.Millisecond
		select {
		case <-ctx.Done():
			return t, ctx.Err()
		case <-time.After(pause):
		}
	}
}

var errConflict = errors.New("version conflict")

func (s *Store) tryUpdate(ctx context.Context, m Mutation) (Table, *Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var old Table
	var err error
	for range maxAttempts {
		if old, err = s.readLocked(); !errors.Is(err, errMoved) {
			break
		}
	}
	missing := errors.Is(err, ErrNoTable)
	if err != nil && !missing {
		return Table{}, nil, err
	}
	next, err := m.Apply(slices.Clone(old.Exports))
	if err != nil {
		return old, nil, err
	}
	slices.SortFunc(next, func(a, b config.Export) int { return a.ID - b.ID })
	set, rm, err := diff(old.Exports, next)
	if err != nil {
		return old, nil, err
	}
	if !missing && len(set) == 0 && len(rm) == 0 {
		return old, nil, nil
	}
	if s.beforeWrite != nil {
		s.beforeWrite()
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	if missing {
		op.Create(rados.CreateExclusive)
	} else {
		op.AssertVersion(old.Version)
	}
	op.WriteFull(encodeGen(old.Gen + 1))
	if len(set) > 0 {
		op.SetOmap(set)
	}
	if len(rm) > 0 {
		op.RmOmapKeys(rm)
	}
	err = op.Operate(s.ioctx, s.oid, rados.OperationNoFlag)
	switch e := errno(err); {
	case err == nil:
	case e == -eRANGE || e == -eOVERFLOW || e == -eEXIST || e == -eNOENT:
		// Newer (ERANGE), recreated (EOVERFLOW), created meanwhile
		// (EEXIST) or deleted meanwhile (ENOENT): read again.
		return old, nil, errConflict
	default:
		return old, nil, fmt.Errorf("export table: write %s (%s): %w", s.where, m, err)
	}
	t := Table{Gen: old.Gen + 1, Exports: next}
	ch := &Change{From: old.Version}
	if v, err := s.ioctx.GetLastVersion(); err == nil {
		t.Version, ch.To = v, v
	}
	if len(set)+len(rm) <= maxChangeKeys && !missing && ch.To != 0 {
		for k := range set {
			ch.Keys = append(ch.Keys, k)
		}
		ch.Keys = append(ch.Keys, rm...)
	} else {
		ch = &Change{} // too large to list: watchers read the whole table
	}
	return t, ch, nil
}

// ReadKeys reads the exports under keys at exactly object version: the
// incremental read a watcher does on a notify whose Change starts at the
// version it serves. An export missing from the result was removed. When
// the object is at another version (it changed again) it returns
// ErrVersion: read the whole table.
func (s *Store) ReadKeys(ctx context.Context, version uint64, keys []string) (map[string]*config.Export, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	op := rados.CreateReadOp()
	defer op.Release()
	op.AssertVersion(version)
	om := op.GetOmapValuesByKeys(keys)
	err := op.Operate(s.ioctx, s.oid, rados.OperationNoFlag)
	switch e := errno(err); {
	case err == nil:
	case e == -eRANGE || e == -eOVERFLOW || e == -eNOENT:
		return nil, ErrVersion
	default:
		return nil, fmt.Errorf("export table: read %s: %w", s.where, err)
	}
	out := make(map[string]*config.Export, len(keys))
	for _, k := range keys {
		out[k] = nil
	}
	for {
		kv, err := om.Next()
		if err != nil {
			return nil, fmt.Errorf("export table: read %s: %w", s.where, err)
		}
		if kv == nil {
			break
		}
		e, err := DecodeExport(kv.Key, kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.where, err)
		}
		out[kv.Key] = &e
	}
	return out, nil
}

// ErrVersion: the table is not at the version asked for.
var ErrVersion = errors.New("export table: not at that version")

// notifyAsync wakes the watchers without waiting: a watcher of a killed
// process stays registered until the OSD times it out.
func (s *Store) notifyAsync(payload []byte) {
	s.notifies.Add(1)
	go func() {
		defer s.notifies.Done()
		_, timeouts, err := s.aux.NotifyWithTimeout(s.oid, payload, notifyTimeout)
		if err != nil || len(timeouts) > 0 {
			s.logf("export table: notify on %s: %d watchers did not answer, err %v", s.oid, len(timeouts), err)
		}
	}()
}

// NotifyWait is a notify that returns once the watchers answered (or
// notifyTimeout passed): a command-line writer must not exit before its
// notify went out.
func (s *Store) NotifyWait() { s.notifies.Wait() }

// watchRetry is how long a broken watch waits before it is set up again.
var watchRetry = 2 * time.Second

// Watch calls onChange whenever the table object is notified (every
// write notifies) with the notify's payload (see ParseChange), and with
// nil each time the watch is (re-)established. It runs until ctx ends; a
// broken watch is set up again after a pause. A watch on a table that does
// not exist yet fails and is retried. onChange should only hand the
// payload to the caller, which also polls.
func (s *Store) Watch(ctx context.Context, onChange func(payload []byte)) error {
	return radosconn.Watch(ctx, s.aux, s.oid, watchRetry, func(f string, a ...any) { s.logf("export table: "+f, a...) }, onChange)
}

// errno extracts the negative errno from a go-ceph error (0 when none).
func errno(err error) int { return radosconn.Errno(err) }

const (
	eNOENT    = 2
	eEXIST    = 17
	eRANGE    = 34
	eOVERFLOW = 75
)
