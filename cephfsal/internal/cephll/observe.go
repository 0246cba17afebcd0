package cephll

import (
	"sync/atomic"
	"time"
)

// Call numbers the blocking libcephfs calls a Mount makes on the request
// path, for an observer (metrics).
type Call int

// The calls observed, one per method of Mount.
const (
	CallLookupRoot Call = iota
	CallWalk
	CallLookup
	CallLookupInode
	CallGetattr
	CallSetattr
	CallOpen
	CallCreate
	CallMknod
	CallMkdir
	CallSymlink
	CallReadlink
	CallUnlink
	CallRmdir
	CallRename
	CallLink
	CallRead
	CallWrite
	CallFsync
	CallFallocate
	CallSyncInode
	CallClose
	CallOpendir
	CallReaddir
	CallReaddirPlus
	CallStatfs
	CallGetxattr
	CallSetxattr
	CallListxattr
	CallRemovexattr
	CallSetlk
	CallGetlk
	CallDelegate
)

// CallNames names the calls, indexed by Call.
var CallNames = []string{"lookuproot", "walk", "lookup", "lookupinode", "getattr", "setattr", "open", "create", "mknod", "mkdir", "symlink", "readlink", "unlink", "rmdir", "rename", "link", "read", "write", "fsync", "fallocate", "syncinode", "close", "opendir", "readdir", "readdirplus", "statfs", "getxattr", "setxattr", "listxattr", "removexattr", "setlk", "getlk", "delegate"}

// Observer is told of every observed call: which, how long it took (the
// wait for its slot excluded), and its error.
type Observer func(call Call, d time.Duration, err error)

var observer atomic.Pointer[Observer]

// SetObserver sets the process-wide observer of libcephfs calls (nil: none).
func SetObserver(o Observer) {
	if o == nil {
		observer.Store(nil)
		return
	}
	observer.Store(&o)
}

// begin returns the time a call begins, or the zero time when nobody
// observes (a clock read saved).
func begin() time.Time {
	if observer.Load() == nil {
		return time.Time{}
	}
	return time.Now()
}

// observe reports a call that began at t0 and returns its err.
func observe(c Call, t0 time.Time, err error) error {
	if t0.IsZero() {
		return err
	}
	if o := observer.Load(); o != nil {
		(*o)(c, time.Since(t0), err)
	}
	return err
}
