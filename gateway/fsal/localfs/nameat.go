package localfs

import (
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Describing an entry by name.
//
// LOOKUP and READDIR with attributes used to open every entry (O_PATH) and
// describe the descriptor: openat + statx + name_to_handle_at + close. The
// handle and the attributes can both be had relative to the directory,
// statx(dirfd, name) + name_to_handle_at(dirfd, name), half the system
// calls and no descriptor churn. Both walk the name as the caller (they
// run inside runAs), so a directory the caller may not search still gives
// EACCES.
//
// The two calls are two path walks: if another client or a local process
// replaces the name between them, the handle and the attributes describe
// different objects (NFS-Ganesha's FSAL_VFS has the same window). Nothing
// escapes the export (both objects were reached by name from the
// directory), and the client's next GETATTR of the handle corrects the
// attributes. Opening the entry would close the window only for the
// attributes' sake, at twice the cost of every lookup.
//
// The wrappers below take NUL-terminated names and caller-owned buffers
// so that a directory entry costs no allocation (x/sys/unix allocates the
// path and the handle on every call).

// maxBody is the largest kernel f_handle a Handle can carry.
const maxBody = fsal.MaxHandleSize - typeSize - tagSize

// kernelHandle is struct file_handle with room for maxBody bytes.
type kernelHandle struct {
	bytes uint32
	typ   int32
	f     [maxBody]byte
}

// statxAt stats name in dirfd without following a final symlink.
func statxAt(dirfd int, name *byte, st *unix.Statx_t) error {
	_, _, e := unix.Syscall6(unix.SYS_STATX, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
		unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, statxMask, uintptr(unsafe.Pointer(st)), 0)
	if e != 0 {
		return e
	}
	return nil
}

// handleAt gets the kernel handle of name in dirfd (not following a final
// symlink) and the id of the mount it lies on. A handle larger than
// maxBody gives EOVERFLOW, as encode would.
func handleAt(dirfd int, name *byte, kh *kernelHandle, mountID *int32) error {
	kh.bytes = maxBody
	_, _, e := unix.Syscall6(unix.SYS_NAME_TO_HANDLE_AT, uintptr(dirfd), uintptr(unsafe.Pointer(name)),
		uintptr(unsafe.Pointer(kh)), uintptr(unsafe.Pointer(mountID)), 0, 0)
	if e != 0 {
		return e
	}
	if kh.bytes == 0 || kh.bytes > maxBody {
		return syscall.EOVERFLOW
	}
	return nil
}

// encodedLen is the length of the Handle for kh.
func (kh *kernelHandle) encodedLen() int { return typeSize + int(kh.bytes) + tagSize }

// appendHandle appends the Handle for kh to dst.
func (fs *FS) appendHandle(dst []byte, kh *kernelHandle) []byte {
	start := len(dst)
	dst = append(dst, byte(uint32(kh.typ)>>24), byte(uint32(kh.typ)>>16), byte(uint32(kh.typ)>>8), byte(kh.typ))
	dst = append(dst, kh.f[:kh.bytes]...)
	return fs.tag(dst, dst[start:])
}

// cName holds a NUL-terminated copy of a name for the raw calls, on the
// stack for names of ordinary length.
type cName struct {
	buf [256]byte
}

func (c *cName) ptr(name string) (*byte, error) {
	if len(name) < len(c.buf) {
		copy(c.buf[:], name)
		c.buf[len(name)] = 0
		return &c.buf[0], nil
	}
	return unix.BytePtrFromString(name)
}

// lookupAt describes name in dirfd as c: its handle (nil with EXDEV for a
// mount point of another filesystem, the attributes still filled in) and
// attributes. The handle of an object seen before comes from fs.inos
// without a second path walk (inocache.go).
func (fs *FS) lookupAt(c *fsal.Cred, dirfd int, name *byte) (fsal.Handle, fsal.Attr, error) {
	var st unix.Statx_t
	var kh kernelHandle
	var mid int32
	var known fsal.Handle
	now := time.Now()
	err := runAs(c, func() error {
		if err := statxAt(dirfd, name, &st); err != nil {
			return err
		}
		if known = fs.inos.get(&st, fs.mountID); known != nil {
			return nil
		}
		return handleAt(dirfd, name, &kh, &mid)
	})
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	a := attrOf(&st)
	if known != nil {
		return append(fsal.Handle(nil), known...), a, nil
	}
	if int(mid) != fs.mountID {
		return nil, a, syscall.EXDEV
	}
	h := fs.appendHandle(make([]byte, 0, kh.encodedLen()), &kh)
	fs.inos.add(&st, fs.mountID, h, now)
	return h, a, nil
}
