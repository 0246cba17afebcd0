package localfs

import (
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Identity switching.
//
// Linux credentials are per thread; glibc and Go's syscall.Setgroups (since
// Go 1.16) broadcast changes to every thread, which would leak one request's
// identity into all others. We instead issue the raw system calls on a
// goroutine locked to its OS thread: setgroups, setfsgid and setfsuid change
// only the calling thread, and a non-zero fsuid drops the filesystem
// capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_CHOWN, CAP_DAC_READ_SEARCH,
// ...) from that thread's effective set, so the kernel checks permissions
// exactly as for that user. Setting fsuid back to 0 restores them.
//
// Outside a runAs window every thread of the process is root; that is what
// lets resolve call open_by_handle_at anywhere. The Go runtime never clones
// a new thread from a locked one (it asks its template thread instead), so a
// foreign identity cannot be inherited by a new thread either.

func isRoot(c *fsal.Cred) bool {
	return c == nil || (c.UID == 0 && c.GID == 0 && len(c.Groups) == 0)
}

// runAs calls fn with the filesystem identity c on the current thread. fn
// must only make system calls and must not call back into foreign code
// (which might itself switch identity and restore root underneath us).
func runAs(c *fsal.Cred, fn func() error) error {
	if isRoot(c) {
		return fn() // already root on every thread: skip the switch
	}
	runtime.LockOSThread()
	var ch changed
	defer func() {
		// Deferred so that a panic in fn cannot hand a thread with a
		// foreign identity back to the scheduler. If restoring fails,
		// the thread stays locked: the runtime destroys a thread whose
		// goroutine exits while locked, so no other goroutine ever runs
		// on it.
		if restoreRoot(ch) == nil {
			runtime.UnlockOSThread()
		}
	}()
	var err error
	if ch, err = setCred(c); err != nil {
		return err
	}
	return fn()
}

// changed records which parts of the thread's identity setCred changed, so
// that restoreRoot undoes exactly those. Each real change costs a
// prepare_creds/commit_creds pair in the kernel (about 2us in a VM), so
// calls that would not change anything are skipped.
type changed uint8

const (
	changedGroups changed = 1 << iota
	changedGID
	changedUID
)

func setCred(c *fsal.Cred) (changed, error) {
	var ch changed
	// A thread that went through restoreRoot has no supplementary
	// groups, but one that never switched has the process's (root may
	// well be in group 0 or others): ask, cheaply, rather than assume.
	if len(c.Groups) > 0 || getgroupsCount() != 0 {
		var e syscall.Errno
		if len(c.Groups) == 0 {
			_, _, e = unix.RawSyscall(sysSetgroups, 0, 0, 0)
		} else {
			// gid_t is uint32; the pointer conversion must stay in
			// the call expression so that the array is kept alive
			// across the system call.
			_, _, e = unix.RawSyscall(sysSetgroups, uintptr(len(c.Groups)), uintptr(unsafe.Pointer(&c.Groups[0])), 0)
		}
		if e != 0 {
			return ch, e
		}
		ch |= changedGroups
	}
	if c.GID != 0 {
		ch |= changedGID
		if !setfsgid(c.GID) {
			return ch, syscall.EPERM
		}
	}
	if c.UID != 0 {
		ch |= changedUID
		if !setfsuid(c.UID) {
			return ch, syscall.EPERM
		}
	}
	return ch, nil
}

// restoreRoot undoes setCred: fsuid first, which gives back the
// capabilities (CAP_SETGID) the others need.
func restoreRoot(ch changed) error {
	if ch&changedUID != 0 && !setfsuid(0) {
		return syscall.EPERM
	}
	if ch&changedGID != 0 && !setfsgid(0) {
		return syscall.EPERM
	}
	if ch&changedGroups != 0 {
		if _, _, e := unix.RawSyscall(sysSetgroups, 0, 0, 0); e != 0 {
			return e
		}
	}
	return nil
}

// invalidID makes setfsuid/setfsgid report the current value without
// changing anything (and without the cost of preparing new credentials).
const invalidID = ^uintptr(0)

// setfsuid sets the thread's fsuid and reports whether it took effect. The
// system call cannot report failure (it returns the previous value), so
// the current value is read back.
func setfsuid(uid uint32) bool {
	unix.RawSyscall(sysSetfsuid, uintptr(uid), 0, 0)
	cur, _, _ := unix.RawSyscall(sysSetfsuid, invalidID, 0, 0)
	return uint32(cur) == uid
}

func setfsgid(gid uint32) bool {
	unix.RawSyscall(sysSetfsgid, uintptr(gid), 0, 0)
	cur, _, _ := unix.RawSyscall(sysSetfsgid, invalidID, 0, 0)
	return uint32(cur) == gid
}

// getgroupsCount returns the number of supplementary groups of the calling
// thread.
func getgroupsCount() int {
	n, _, _ := unix.RawSyscall(sysGetgroups, 0, 0, 0)
	return int(n)
}
