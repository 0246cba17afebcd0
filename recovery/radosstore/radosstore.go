//go:build !noceph

package radosstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"sync"

	"github.com/ceph/go-ceph/rados"

	"nfsgw/recovery"
)

// ErrFenced reports that a node's objects were removed under its running
// store (DeleteAll, when the node was fenced or drained): the store must
// not recreate them.
var ErrFenced = errors.New("recovery: node's records were removed (fenced or drained)")

// omapPage is how many omap entries one read asks for: at most
// omapPage*(maxKeyLen+maxValueLen), some 1.5 MiB, for well-formed entries.
const omapPage = 512

// maxListed bounds the record objects of one node that a listing
// collects: the unended epochs, the current one and a few left behind by
// crashes.
const maxListed = 2*MaxUnendedEpochs + 64

// Store is a recovery.Store in RADOS for one node. Its methods are safe for
// concurrent use.
type Store struct {
	ioctx *rados.IOContext
	node  string

	// mu is held exclusively by Begin, EndGrace and Close and shared by
	// the rest, so that Add and Remove never write into an epoch that
	// Begin is replacing.
	mu     sync.RWMutex
	closed bool
	began  bool
	epoch  uint64 // begun by this store
	obj    string // the object of epoch

	// S, the records of the current epoch, as this store wrote them:
	// Begin leaves S empty and only this store writes it, so an Add that
	// would change nothing and a Remove of an absent owner are answered
	// without a round trip. keyMu orders each owner's check, write and
	// update of the cache, so that two racing Adds of one owner leave the
	// cache as RADOS is.
	keyMu   [64]sync.Mutex
	seed    maphash.Seed
	cacheMu sync.Mutex
	cache   map[string]entry
}

// entry is what the cache knows of an owner present or in doubt (a write
// that failed may or may not have landed).
type entry struct {
	val     string
	unknown bool
}

var _ recovery.Store = (*Store)(nil)

// Open returns node's store in ioctx, whose pool and namespace the caller
// has set (and keeps: Close does not destroy it). It reads the node's
// metadata, so that damage is found at start-up.
func Open(ctx context.Context, ioctx *rados.IOContext, node string) (*Store, error) {
	if err := CheckNode(node); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, _, _, err := readMeta(ioctx, node); err != nil {
		return nil, err
	}
	return &Store{ioctx: ioctx, node: node, seed: maphash.MakeSeed()}, nil
}

// Node returns the node id.
func (s *Store) Node() string { return s.node }

// enter checks ctx and the store and takes mu (exclusively if excl); the
// caller unlocks it.
func (s *Store) enter(ctx context.Context, excl, needBegun bool) (unlock func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	unlock = s.mu.RUnlock
	if excl {
		s.mu.Lock()
		unlock = s.mu.Unlock
	} else {
		s.mu.RLock()
	}
	switch {
	case s.closed:
		err = recovery.ErrClosed
	case needBegun && !s.began:
		err = recovery.ErrNotBegun
	}
	if err != nil {
		unlock()
		return nil, err
	}
	return unlock, nil
}

// Begin implements recovery.Store.
func (s *Store) Begin(ctx context.Context, epoch uint64) ([]recovery.Record, error) {
	unlock, err := s.enter(ctx, true, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if epoch == 0 {
		return nil, fmt.Errorf("%w: epoch 0 is reserved", recovery.ErrStaleEpoch)
	}
	if s.began && epoch <= s.epoch {
		return nil, fmt.Errorf("%w: epoch %d, this store already began epoch %d", recovery.ErrStaleEpoch, epoch, s.epoch)
	}
	m, raw, exists, err := readMeta(s.ioctx, s.node)
	if err != nil {
		return nil, err
	}
	if s.began && !exists {
		return nil, fmt.Errorf("%w: %s is gone", ErrFenced, MetaName(s.node))
	}
	obj := ObjectName(epoch, s.node)
	var reclaim []recovery.Record
	switch {
	case epoch < m.epoch:
		return nil, fmt.Errorf("%w: epoch %d is older than the current epoch %d", recovery.ErrStaleEpoch, epoch, m.epoch)

	case epoch == m.epoch:
		// A restart into the same epoch: S is either in P already or
		// belongs to clients without state (see package recovery), so
		// it starts over; once grace ended, only if S is empty.
		if m.ended {
			errHolds := fmt.Errorf("%w: the grace period of epoch %d has ended and it holds records; begin a newer epoch", recovery.ErrStaleEpoch, epoch)
			// One record is enough to refuse.
			if err := readRecords(ctx, s.ioctx, obj, func(recovery.Record) error { return errHolds }); err != nil {
				if errors.Is(err, errHolds) {
					return nil, errHolds
				}
				return nil, err
			}
		}
		if reclaim, err = collect(ctx, s.ioctx, s.node, m.unended); err != nil {
			return nil, err
		}
		if err := resetObject(ctx, s.ioctx, obj, true); err != nil {
			return nil, err
		}
		if m.ended {
			// This life has a grace period of its own, so the epoch is
			// no longer ended (S is empty: nothing changed if this write
			// fails).
			next := m
			next.ended = false
			if err := writeMeta(ctx, s.ioctx, s.node, raw, true, next); err != nil {
				return nil, err
			}
		}

	default: // a newer epoch: P ∪ S becomes P
		next := meta{epoch: epoch, unended: slices.Clone(m.unended)}
		if m.epoch != 0 {
			next.unended = append(next.unended, m.epoch)
		}
		if len(next.unended) > MaxUnendedEpochs {
			return nil, fmt.Errorf("recovery: node %s has %d epochs whose grace period never ended (limit %d): end a grace period, or remove the node's records (nfsgwctl) and lose its clients' right to reclaim",
				s.node, len(m.unended)+1, MaxUnendedEpochs)
		}
		if reclaim, err = collect(ctx, s.ioctx, s.node, next.unended); err != nil {
			return nil, err
		}
		// The new epoch's object first: until the metadata names it, it
		// is an orphan that the next EndGrace removes, and the metadata
		// write is what commits the Begin.
		if err := resetObject(ctx, s.ioctx, obj, false); err != nil {
			return nil, err
		}
		if err := writeMeta(ctx, s.ioctx, s.node, raw, exists, next); err != nil {
			return nil, err
		}
	}
	s.began, s.epoch, s.obj = true, epoch, obj
	s.cacheMu.Lock()
	s.cache = map[string]entry{}
	s.cacheMu.Unlock()
	return reclaim, nil
}

// Add implements recovery.Store.
func (s *Store) Add(ctx context.Context, r recovery.Record) error {
	if err := r.Check(); err != nil {
		return err
	}
	key, val := encodeKey(r.Owner), encodeValue(r)
	return s.write(ctx, key, &val)
}

// Remove implements recovery.Store.
func (s *Store) Remove(ctx context.Context, owner []byte) error {
	if err := recovery.CheckOwner(owner); err != nil {
		return err
	}
	return s.write(ctx, encodeKey(owner), nil)
}

// write sets key to *val in the current epoch's object, or removes it if
// val is nil; it is durable (on every replica) when the call returns.
func (s *Store) write(ctx context.Context, key string, val *string) error {
	unlock, err := s.enter(ctx, false, true)
	if err != nil {
		return err
	}
	defer unlock()
	km := &s.keyMu[maphash.String(s.seed, key)%uint64(len(s.keyMu))]
	km.Lock()
	defer km.Unlock()
	s.cacheMu.Lock()
	cur, present := s.cache[key]
	s.cacheMu.Unlock()
	if !cur.unknown && (val == nil && !present || val != nil && present && cur.val == *val) {
		return nil
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	// Never recreate an object DeleteAll removed.
	op.AssertExists()
	if val != nil {
		op.SetOmap(map[string][]byte{key: []byte(*val)})
	} else {
		op.RmOmapKeys([]string{key})
	}
	err = op.Operate(s.ioctx, s.obj, rados.OperationNoFlag)
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	switch {
	case err != nil:
		s.cache[key] = entry{unknown: true}
		if errors.Is(cause(err), rados.ErrNotFound) {
			return fmt.Errorf("%w: %s is gone", ErrFenced, s.obj)
		}
		return fmt.Errorf("recovery: writing %s: %w", s.obj, cause(err))
	case val == nil:
		delete(s.cache, key)
	default:
		s.cache[key] = entry{val: *val}
	}
	return nil
}

// EndGrace implements recovery.Store.
func (s *Store) EndGrace(ctx context.Context) error {
	unlock, err := s.enter(ctx, true, true)
	if err != nil {
		return err
	}
	defer unlock()
	m, raw, exists, err := readMeta(s.ioctx, s.node)
	switch {
	case err != nil:
		return err
	case !exists:
		return fmt.Errorf("%w: %s is gone", ErrFenced, MetaName(s.node))
	case m.epoch != s.epoch:
		return fmt.Errorf("%w: node %s is in epoch %d, this store began %d: is another gateway running with this node id?",
			recovery.ErrLocked, s.node, m.epoch, s.epoch)
	}
	if !m.ended {
		// The commit point: P is dropped. The old objects go next; a
		// crash in between leaves them unreferenced, and the next
		// EndGrace removes them.
		if err := writeMeta(ctx, s.ioctx, s.node, raw, true, meta{epoch: m.epoch, ended: true}); err != nil {
			return err
		}
	}
	for _, e := range m.unended {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := deleteObject(s.ioctx, ObjectName(e, s.node)); err != nil {
			return fmt.Errorf("recovery: grace ended, but removing a record object of an ended epoch failed: %w", err)
		}
	}
	// Objects of epochs whose Begin crashed before it committed.
	epochs, err := listEpochs(ctx, s.ioctx, s.node)
	if err != nil {
		return fmt.Errorf("recovery: grace ended, but listing record objects failed: %w", err)
	}
	for _, e := range epochs {
		if e == m.epoch {
			continue
		}
		obj := ObjectName(e, s.node)
		// Someone else's object under our name is left alone (Count
		// and DeleteAll report it).
		if err := checkMarker(s.ioctx, obj); errors.Is(err, recovery.ErrCorrupt) {
			continue
		} else if err != nil && !errors.Is(err, rados.ErrNotFound) {
			return fmt.Errorf("recovery: grace ended, but checking an old record object failed: %w", err)
		}
		if err := deleteObject(s.ioctx, obj); err != nil {
			return fmt.Errorf("recovery: grace ended, but removing an old record object failed: %w", err)
		}
	}
	return nil
}

// Peek implements recovery.Store.
func (s *Store) Peek(ctx context.Context) ([]recovery.Record, error) {
	unlock, err := s.enter(ctx, false, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	m, _, exists, err := readMeta(s.ioctx, s.node)
	if err != nil || !exists {
		return nil, err
	}
	return collect(ctx, s.ioctx, s.node, append(slices.Clone(m.unended), m.epoch))
}

// LastEpoch implements recovery.Store.
func (s *Store) LastEpoch(ctx context.Context) (uint64, error) {
	unlock, err := s.enter(ctx, false, false)
	if err != nil {
		return 0, err
	}
	defer unlock()
	m, _, _, err := readMeta(s.ioctx, s.node)
	return m.epoch, err
}

// Close implements recovery.Store. It leaves the I/O context to its owner.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.cache = nil
	return nil
}

// Count returns how many distinct clients node's records hold (what Begin
// of a newer epoch would return) and the epochs they are kept in, oldest
// first: the unended ones and the current one. It reads every record, so
// damage gives an error wrapping recovery.ErrCorrupt.
func Count(ctx context.Context, ioctx *rados.IOContext, node string) (records int, epochs []uint64, err error) {
	if err := CheckNode(node); err != nil {
		return 0, nil, err
	}
	m, _, exists, err := readMeta(ioctx, node)
	if err != nil || !exists {
		return 0, nil, err
	}
	epochs = append(slices.Clone(m.unended), m.epoch)
	rs, err := collect(ctx, ioctx, node, epochs)
	if err != nil {
		return 0, nil, err
	}
	return len(rs), epochs, nil
}

// DeleteAll removes node's metadata and every record object of it, for a
// node that was fenced or drained: its clients lose the right to reclaim.
// The metadata goes first, so that an interrupted DeleteAll leaves a node
// without records, never one whose metadata names missing objects; run
// it again to finish. Objects under node's names that nfsgw did not write
// (no marker) are left alone and reported in an error wrapping
// recovery.ErrCorrupt once the rest is gone.
func DeleteAll(ctx context.Context, ioctx *rados.IOContext, node string) error {
	if err := CheckNode(node); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := deleteObject(ioctx, MetaName(node)); err != nil {
		return err
	}
	epochs, err := listEpochs(ctx, ioctx, node)
	if err != nil {
		return err
	}
	var foreign []string
	for _, e := range epochs {
		if err := ctx.Err(); err != nil {
			return err
		}
		obj := ObjectName(e, node)
		if err := checkMarker(ioctx, obj); errors.Is(err, recovery.ErrCorrupt) {
			foreign = append(foreign, obj)
			continue
		} else if errors.Is(err, rados.ErrNotFound) {
			continue
		} else if err != nil {
			return err
		}
		if err := deleteObject(ioctx, obj); err != nil {
			return err
		}
	}
	if len(foreign) > 0 {
		return fmt.Errorf("%w: left %d objects that nfsgw did not write, e.g. %s (NFS-Ganesha's rados_cluster records use the same names: remove them by hand if they are stale)",
			recovery.ErrCorrupt, len(foreign), foreign[0])
	}
	return nil
}

// readMeta reads node's metadata; exists is false (and m the zero meta)
// when there is none. raw is the content, for writeMeta's compare.
func readMeta(ioctx *rados.IOContext, node string) (m meta, raw []byte, exists bool, err error) {
	name := MetaName(node)
	buf := make([]byte, metaMaxLen+1)
	n, err := ioctx.Read(name, buf, 0)
	switch {
	case errors.Is(err, rados.ErrNotFound):
		return meta{}, nil, false, nil
	case err != nil:
		return meta{}, nil, false, fmt.Errorf("recovery: reading %s: %w", name, err)
	case n > metaMaxLen:
		return meta{}, nil, false, fmt.Errorf("%w: %s is larger than %d bytes: not nfsgw's node metadata", recovery.ErrCorrupt, name, metaMaxLen)
	}
	raw = buf[:n]
	if m, err = decodeMeta(raw); err != nil {
		return meta{}, nil, false, fmt.Errorf("%s: %w", name, err)
	}
	return m, raw, true, nil
}

// writeMeta replaces node's metadata by m in one write that asserts it
// still holds old (or, if !exists, that there is none): a node's store
// is its only writer, so a failed assertion means a second gateway with
// the same node id, or a DeleteAll.
func writeMeta(ctx context.Context, ioctx *rados.IOContext, node string, old []byte, exists bool, m meta) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	name := MetaName(node)
	op := rados.CreateWriteOp()
	defer op.Release()
	if exists {
		op.AssertExists()
		op.CmpExt(old, 0)
	} else {
		op.Create(rados.CreateExclusive)
	}
	op.WriteFull(m.encode())
	err := cause(op.Operate(ioctx, name, rados.OperationNoFlag))
	var coded interface{ ErrorCode() int }
	switch {
	case err == nil:
		return nil
	case exists && errors.Is(err, rados.ErrNotFound):
		return fmt.Errorf("%w: %s is gone", ErrFenced, name)
	case !exists && errors.Is(err, rados.ErrObjectExists),
		// A failed compare returns -MAX_ERRNO minus the offset.
		errors.As(err, &coded) && coded.ErrorCode() <= -4095:
		return fmt.Errorf("%w: %s changed under this store: is another gateway running with node id %s?", recovery.ErrLocked, name, node)
	default:
		return fmt.Errorf("recovery: writing %s: %w", name, err)
	}
}

// resetObject makes obj an empty record object in one write. mustExist is
// for the current epoch's object, which the metadata says is there.
func resetObject(ctx context.Context, ioctx *rados.IOContext, obj string, mustExist bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Emptying a foreign object would destroy someone else's records.
	switch err := checkMarker(ioctx, obj); {
	case errors.Is(err, rados.ErrNotFound) && mustExist:
		return fmt.Errorf("%w: %s, the current epoch's record object, is missing", recovery.ErrCorrupt, obj)
	case err != nil && !errors.Is(err, rados.ErrNotFound):
		return err
	}
	op := rados.CreateWriteOp()
	defer op.Release()
	if mustExist {
		op.AssertExists()
	} else {
		op.Create(rados.CreateIdempotent)
	}
	op.CleanOmap()
	op.SetOmap(map[string][]byte{markerKey: markerValue})
	if err := cause(op.Operate(ioctx, obj, rados.OperationNoFlag)); err != nil {
		return fmt.Errorf("recovery: writing %s: %w", obj, err)
	}
	return nil
}

// checkMarker returns nil if obj is an nfsgw record object, an error
// wrapping recovery.ErrCorrupt if it is someone else's, and one wrapping
// rados.ErrNotFound if it does not exist.
func checkMarker(ioctx *rados.IOContext, obj string) error {
	op := rados.CreateReadOp()
	defer op.Release()
	op.AssertExists()
	step := op.GetOmapValuesByKeys([]string{markerKey})
	if err := cause(op.Operate(ioctx, obj, rados.OperationNoFlag)); err != nil {
		return fmt.Errorf("recovery: reading %s: %w", obj, err)
	}
	kv, err := step.Next()
	if err != nil {
		return fmt.Errorf("recovery: reading %s: %w", obj, err)
	}
	if kv == nil {
		return fmt.Errorf("%w: %s is not an nfsgw record object (no %q omap key): a foreign object, such as NFS-Ganesha's rados_cluster recovery records, which use the same names; give nfsgw its own pool namespace or node ids",
			recovery.ErrCorrupt, obj, markerKey)
	}
	if !bytes.Equal(kv.Value, markerValue) {
		return fmt.Errorf("%w: %s: record object format %x, want %x", recovery.ErrCorrupt, obj, clip(string(kv.Value)), markerValue)
	}
	return nil
}

// readRecords calls fn for every record of obj, checking the marker first
// and bounding every entry and the count.
func readRecords(ctx context.Context, ioctx *rados.IOContext, obj string, fn func(recovery.Record) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkMarker(ioctx, obj); errors.Is(err, rados.ErrNotFound) {
		return fmt.Errorf("%w: record object %s is missing", recovery.ErrCorrupt, obj)
	} else if err != nil {
		return err
	}
	n := 0
	after := ""
	for more := true; more; {
		if err := ctx.Err(); err != nil {
			return err
		}
		op := rados.CreateReadOp()
		step := op.GetOmapValues(after, "", omapPage)
		err := cause(op.Operate(ioctx, obj, rados.OperationNoFlag))
		if err != nil {
			op.Release()
			return fmt.Errorf("recovery: reading %s: %w", obj, err)
		}
		for {
			kv, err := step.Next()
			if err != nil {
				op.Release()
				return fmt.Errorf("recovery: reading %s: %w", obj, err)
			}
			if kv == nil {
				break
			}
			after = kv.Key
			if kv.Key == markerKey {
				continue
			}
			if n++; n > MaxRecordsPerEpoch {
				op.Release()
				return fmt.Errorf("%w: %s holds more than %d records", recovery.ErrCorrupt, obj, MaxRecordsPerEpoch)
			}
			r, err := decodeEntry(kv.Key, kv.Value)
			if err == nil {
				err = fn(r)
			}
			if err != nil {
				op.Release()
				return fmt.Errorf("%s: %w", obj, err)
			}
		}
		more = step.More()
		op.Release()
	}
	return nil
}

// collect returns the records of node's objects for epochs (ascending),
// each owner once with its newest record, sorted by owner.
func collect(ctx context.Context, ioctx *rados.IOContext, node string, epochs []uint64) ([]recovery.Record, error) {
	byOwner := map[string]recovery.Record{}
	for _, e := range epochs {
		obj := ObjectName(e, node)
		err := readRecords(ctx, ioctx, obj, func(r recovery.Record) error {
			byOwner[string(r.Owner)] = r
			if len(byOwner) > MaxRecordsPerEpoch {
				return fmt.Errorf("%w: more than %d distinct clients", recovery.ErrCorrupt, MaxRecordsPerEpoch)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	rs := make([]recovery.Record, 0, len(byOwner))
	for _, r := range byOwner {
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b recovery.Record) int { return bytes.Compare(a.Owner, b.Owner) })
	return rs, nil
}

// listEpochs returns the epochs of node's record objects in ioctx's
// namespace, ascending.
func listEpochs(ctx context.Context, ioctx *rados.IOContext, node string) ([]uint64, error) {
	var epochs []uint64
	err := ioctx.ListObjects(func(oid string) {
		if e, ok := parseObjectName(oid, node); ok && len(epochs) <= maxListed {
			epochs = append(epochs, e)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("recovery: listing objects: %w", err)
	}
	if len(epochs) > maxListed {
		return nil, fmt.Errorf("%w: more than %d record objects for node %s", recovery.ErrCorrupt, maxListed, node)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.Sort(epochs)
	return epochs, nil
}

// deleteObject removes obj; an absent one is fine.
func deleteObject(ioctx *rados.IOContext, obj string) error {
	if err := ioctx.Delete(obj); err != nil && !errors.Is(err, rados.ErrNotFound) {
		return fmt.Errorf("recovery: removing %s: %w", obj, err)
	}
	return nil
}

// cause unwraps go-ceph's OperationError, which hides the errno from
// errors.Is.
func cause(err error) error {
	var oe rados.OperationError
	if errors.As(err, &oe) && oe.OpError != nil {
		return oe.OpError
	}
	return err
}
