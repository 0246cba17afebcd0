//go:build !noceph

// Package cephll is nfsgw's only cgo: a thin binding of libcephfs' mount
// lifecycle and handle-based ceph_ll_* API (go-ceph binds the path-based API
// only), written against Ceph Pacific's libcephfs.h.
//
// Conventions: every libcephfs failure comes back as a syscall.Errno (its
// negative return, negated), except a request's context error when the
// request ended before its call was admitted; nothing here takes a Go lock;
// and every call that may wait on the network holds a slot of one of the
// Mount's two semaphores (data and metadata), because a blocked cgo call
// pins an OS thread and thousands of stalled requests must not become
// thousands of threads.
//
// The process links tcmalloc (as Ceph's own daemons do), so libcephfs'
// allocations do not go to glibc's malloc: with glibc, every 1 MiB buffer
// of a READ or WRITE was a fresh mmap whose pages faulted in on the copy,
// and the gateway spent three times the CPU per MiB (docs/benchmarks.md).
// Go's own heap does not use malloc, so only the C side changes.
package cephll

/*
#cgo CFLAGS: -D_FILE_OFFSET_BITS=64
#cgo LDFLAGS: -lcephfs -ltcmalloc_minimal
#include <stdlib.h>
#include <errno.h>
#include <cephfs/libcephfs.h>
*/
import "C"

import (
	"context"
	"syscall"
	"time"
	"unsafe"
)

// NoSnap is the snapshot id of live (non-snapshot) objects.
const NoSnap = uint64(C.CEPH_NOSNAP)

// RootIno is the inode number of a CephFS root directory.
const RootIno = 1

// ReclaimReset asks StartReclaim to end the old session instead of
// reclaiming its state.
const ReclaimReset = C.CEPH_RECLAIM_RESET

// errno turns a libcephfs return value into an error.
func errno[T ~int32 | ~int64](r T) error {
	if r >= 0 {
		return nil
	}
	return syscall.Errno(-r)
}

// Mount is one libcephfs client instance (one CephFS session). Its methods
// are safe for concurrent use once Mount has returned; the setup calls
// before it are not.
//
// Calls are admitted in two classes, each with its own bound: data calls
// (read, write, fsync, fallocate, close, which may wait on OSDs) and
// metadata calls (everything else, answered by the client's caps or the
// MDS), so that WRITEs and COMMITs stuck on a full or slow OSD never hold
// up a cached GETATTR. A call that waits for admission gives up when its
// context ends, freeing its place: only calls already in libcephfs hold a
// slot, since a cgo call cannot be interrupted.
type Mount struct {
	cm   *C.struct_ceph_mount_info
	meta chan struct{}
	data chan struct{}
}

// DefaultMaxInflight bounds concurrent blocking calls of each class per
// Mount when the caller does not choose.
const DefaultMaxInflight = 64

// Create makes an unmounted client that authenticates as cephx user id
// ("admin" for client.admin; empty for libcephfs' default). maxInflight
// bounds the metadata calls in flight, and the data calls.
func Create(id string, maxInflight int) (*Mount, error) {
	if maxInflight <= 0 {
		maxInflight = DefaultMaxInflight
	}
	var cid *C.char
	if id != "" {
		cid = C.CString(id)
		defer C.free(unsafe.Pointer(cid))
	}
	m := &Mount{meta: make(chan struct{}, maxInflight), data: make(chan struct{}, maxInflight)}
	if err := errno(C.ceph_create(&m.cm, cid)); err != nil {
		return nil, err
	}
	return m, nil
}

// admit takes a slot of sem, or returns ctx's error if ctx ends first (or
// has ended: a cancelled request starts no call).
func admit(ctx context.Context, sem chan struct{}) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case sem <- struct{}{}:
		return nil
	default:
	}
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Mount) enterMeta(ctx context.Context) error { return admit(ctx, m.meta) }
func (m *Mount) leaveMeta()                          { <-m.meta }
func (m *Mount) enterData(ctx context.Context) error { return admit(ctx, m.data) }
func (m *Mount) leaveData()                          { <-m.data }

// enter and leave admit the setup and teardown calls (metadata calls made
// by no request).
func (m *Mount) enter() { m.meta <- struct{}{} }
func (m *Mount) leave() { <-m.meta }

// Quiesce takes every call slot of both classes, so that no call is in
// flight and none can start; false if calls still run after d (the slots
// taken stay taken: no new call starts either way, and calls waiting for
// admission wait until their context ends). For a client about to be
// dropped: a call racing ceph_abort_conn or ceph_release would use freed
// memory.
func (m *Mount) Quiesce(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for _, sem := range []chan struct{}{m.meta, m.data} {
		for range cap(sem) {
			select {
			case sem <- struct{}{}:
			case <-t.C:
				return false
			}
		}
	}
	return true
}

// ConfReadFile reads a ceph.conf; an empty path means the default search
// path.
func (m *Mount) ConfReadFile(path string) error {
	var p *C.char
	if path != "" {
		p = C.CString(path)
		defer C.free(unsafe.Pointer(p))
	}
	return errno(C.ceph_conf_read_file(m.cm, p))
}

// ConfSet sets one configuration option (before Init).
func (m *Mount) ConfSet(option, value string) error {
	o, v := C.CString(option), C.CString(value)
	defer C.free(unsafe.Pointer(o))
	defer C.free(unsafe.Pointer(v))
	return errno(C.ceph_conf_set(m.cm, o, v))
}

// ConfGet returns one configuration option's current value.
func (m *Mount) ConfGet(option string) (string, error) {
	o := C.CString(option)
	defer C.free(unsafe.Pointer(o))
	var buf [256]C.char
	if err := errno(C.ceph_conf_get(m.cm, o, &buf[0], C.size_t(len(buf)))); err != nil {
		return "", err
	}
	return C.GoString(&buf[0]), nil
}

// Init connects to the monitors and authenticates; it does not mount.
func (m *Mount) Init() error {
	m.enter()
	defer m.leave()
	return errno(C.ceph_init(m.cm))
}

// SetSessionTimeout sets how long the MDS keeps this client's session (and
// its caps) after losing contact; must precede Mount.
func (m *Mount) SetSessionTimeout(seconds uint) {
	C.ceph_set_session_timeout(m.cm, C.unsigned(seconds))
}

// StartReclaim starts reclaiming (or, with ReclaimReset, ending) the
// session of a previous client instance with this uuid. ENOENT means there
// was none. Must run after Init and before Mount.
func (m *Mount) StartReclaim(uuid string, flags uint) error {
	u := C.CString(uuid)
	defer C.free(unsafe.Pointer(u))
	m.enter()
	defer m.leave()
	return errno(C.ceph_start_reclaim(m.cm, u, C.unsigned(flags)))
}

// FinishReclaim ends a reclaim started with StartReclaim.
func (m *Mount) FinishReclaim() {
	m.enter()
	defer m.leave()
	C.ceph_finish_reclaim(m.cm)
}

// SetUUID names this client's session so that a successor can reclaim or
// reset it; must precede Mount.
func (m *Mount) SetUUID(uuid string) {
	u := C.CString(uuid)
	defer C.free(unsafe.Pointer(u))
	C.ceph_set_uuid(m.cm, u)
}

// SelectFilesystem picks the CephFS to mount by name.
func (m *Mount) SelectFilesystem(name string) error {
	n := C.CString(name)
	defer C.free(unsafe.Pointer(n))
	return errno(C.ceph_select_filesystem(m.cm, n))
}

// Mount mounts the subtree root ("/" for the whole filesystem).
func (m *Mount) Mount(root string) error {
	r := C.CString(root)
	defer C.free(unsafe.Pointer(r))
	m.enter()
	defer m.leave()
	return errno(C.ceph_mount(m.cm, r))
}

// Unmount ends the session cleanly (flushing dirty data and returning caps).
func (m *Mount) Unmount() error {
	m.enter()
	defer m.leave()
	return errno(C.ceph_unmount(m.cm))
}

// AbortConn drops the connection without flushing or returning caps: the
// session stays on the MDS, holding what it held, until a successor resets
// it (what a cluster member that stops must do, so that its caps are
// released only by the reset that follows every peer's enforcing). The
// client must still be released.
func (m *Mount) AbortConn() error {
	return errno(C.ceph_abort_conn(m.cm))
}

// Release frees the client; it must be unmounted (or never mounted).
func (m *Mount) Release() error {
	return errno(C.ceph_release(m.cm))
}

// FSCID returns the mounted filesystem's cluster id.
func (m *Mount) FSCID() (int64, error) {
	r := int64(C.ceph_get_fs_cid(m.cm))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return r, nil
}

// CapReturnTimeout is how long (seconds) the MDS waits for recalled caps
// before evicting this client; 0 when not mounted.
func (m *Mount) CapReturnTimeout() uint32 {
	return uint32(C.ceph_get_cap_return_timeout(m.cm))
}

// SetDelegTimeout enables delegations: a recalled delegation not returned
// within seconds gets the whole client forcibly unmounted. It must be below
// CapReturnTimeout (EINVAL otherwise).
func (m *Mount) SetDelegTimeout(seconds uint32) error {
	return errno(C.ceph_set_deleg_timeout(m.cm, C.uint32_t(seconds)))
}

// Version reports libcephfs' version, e.g. "16.2.15".
func Version() string {
	var a, b, c C.int
	return C.GoString(C.ceph_version(&a, &b, &c))
}

// Perm is a libcephfs credential (UserPerm). It must outlive every call
// that uses it; Destroy frees it.
type Perm struct {
	p    *C.UserPerm
	gids *C.gid_t // owned: libcephfs keeps the pointer, not a copy
}

// NewPerm makes a credential. libcephfs checks permissions on the client
// side with it (client_permissions), and the MDS stamps new objects with its
// uid and gid.
func NewPerm(uid, gid uint32, groups []uint32) *Perm {
	p := &Perm{}
	if len(groups) > 0 {
		p.gids = (*C.gid_t)(C.malloc(C.size_t(len(groups)) * C.size_t(unsafe.Sizeof(C.gid_t(0)))))
		gs := unsafe.Slice(p.gids, len(groups))
		for i, g := range groups {
			gs[i] = C.gid_t(g)
		}
	}
	p.p = C.ceph_userperm_new(C.uid_t(uid), C.gid_t(gid), C.int(len(groups)), p.gids)
	return p
}

// Destroy frees the credential.
func (p *Perm) Destroy() {
	C.ceph_userperm_destroy(p.p)
	if p.gids != nil {
		C.free(unsafe.Pointer(p.gids))
	}
	p.p, p.gids = nil, nil
}
