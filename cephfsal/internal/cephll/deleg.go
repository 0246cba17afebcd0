//go:build !noceph

package cephll

/*
#include <stdint.h>
#include <cephfs/libcephfs.h>

extern void nfsgwDelegRecall(uintptr_t id);

// libcephfs calls this from one of its own threads, possibly holding its
// client lock: the Go side only schedules work (see nfsgwDelegRecall).
static void nfsgw_deleg_cb(Fh *fh, void *priv) {
	(void)fh;
	nfsgwDelegRecall((uintptr_t)priv);
}

static int nfsgw_delegation(struct ceph_mount_info *cm, Fh *fh, unsigned cmd, uintptr_t id) {
	return ceph_ll_delegation(cm, fh, cmd, nfsgw_deleg_cb, (void *)id);
}
*/
import "C"

import (
	"context"
	"sync"
	"sync/atomic"
)

// Recall callbacks by id. An id, not a cgo.Handle, travels through C: a
// recall can race with the return of the delegation, and a stale id must be
// ignored, where a deleted cgo.Handle would panic.
var (
	recalls   sync.Map // uint64 → func()
	nextDeleg atomic.Uint64
)

// DelegID names one granted delegation's recall callback.
type DelegID uint64

// Delegate asks for a delegation (DelegRead or DelegWrite) on fh. recall
// runs on its own goroutine when the MDS wants it back; the caller must then
// call ReturnDelegation before the deleg timeout. EAGAIN means a conflicting
// open exists; ETIME that delegations are not enabled (SetDelegTimeout).
func (m *Mount) Delegate(ctx context.Context, fh Fh, cmd uint, recall func()) (DelegID, error) {
	if err := m.enterMeta(ctx); err != nil {
		return 0, err
	}
	id := nextDeleg.Add(1)
	recalls.Store(id, recall)
	t0 := begin()
	err := observe(CallDelegate, t0, errno(C.nfsgw_delegation(m.cm, fh.p, C.uint(cmd), C.uintptr_t(id))))
	m.leaveMeta()
	if err != nil {
		recalls.Delete(id)
		return 0, err
	}
	return DelegID(id), nil
}

// ReturnDelegation gives back the delegation held on fh. It takes no
// semaphore slot: the slots may all be held by calls that wait for exactly
// this return (conflicting opens through this client), and returning only
// releases caps, without waiting on the network.
func (m *Mount) ReturnDelegation(fh Fh, id DelegID) error {
	err := errno(C.nfsgw_delegation(m.cm, fh.p, C.uint(DelegNone), C.uintptr_t(id)))
	recalls.Delete(uint64(id))
	return err
}

// Forget drops the recall callback of a delegation that ended without
// ReturnDelegation (its file was closed, which ends it in libcephfs).
func Forget(id DelegID) { recalls.Delete(uint64(id)) }
