package localfs

import (
	"errors"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// statxMask asks for the mount id too: inocache.go needs it to know that a
// name did not cross onto another mount.
const statxMask = unix.STATX_BASIC_STATS | unix.STATX_BTIME | unix.STATX_MNT_ID

// statFD stats the object an (O_PATH) descriptor refers to, never following
// a symlink it may name.
func statFD(fd int, st *unix.Statx_t) error {
	_, _, errno := unix.Syscall6(unix.SYS_STATX, uintptr(fd), uintptr(unsafe.Pointer(&emptyPath[0])),
		unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT, statxMask, uintptr(unsafe.Pointer(st)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// emptyPath is statFD's path: unix.Statx would allocate a copy of "" for
// every call, and a path walk makes one statx per component.
var emptyPath = [1]byte{0}

func fileType(mode uint16) fsal.FileType {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return fsal.TypeRegular
	case unix.S_IFDIR:
		return fsal.TypeDirectory
	case unix.S_IFBLK:
		return fsal.TypeBlock
	case unix.S_IFCHR:
		return fsal.TypeChar
	case unix.S_IFLNK:
		return fsal.TypeSymlink
	case unix.S_IFSOCK:
		return fsal.TypeSocket
	case unix.S_IFIFO:
		return fsal.TypeFIFO
	}
	return 0
}

func toTime(t unix.StatxTimestamp) fsal.Time {
	return fsal.Time{Sec: t.Sec, Nsec: t.Nsec}
}

func attrOf(st *unix.Statx_t) fsal.Attr {
	a := fsal.Attr{
		Type:      fileType(st.Mode),
		Mode:      uint32(st.Mode) & 0o7777,
		Nlink:     st.Nlink,
		UID:       st.Uid,
		GID:       st.Gid,
		Size:      st.Size,
		SpaceUsed: st.Blocks * 512,
		RdevMajor: st.Rdev_major,
		RdevMinor: st.Rdev_minor,
		Fileid:    st.Ino,
		FsidMajor: uint64(st.Dev_major),
		FsidMinor: uint64(st.Dev_minor),
		// ctime changes on every data or metadata change. Since Linux
		// 6.13 ext4/xfs/btrfs/tmpfs use multigrain timestamps: once a
		// ctime has been observed, the next change gets a fine-grained
		// one, so this strictly increases. Older kernels stamp with the
		// coarse clock and two changes within one tick may share a value.
		Change: uint64(st.Ctime.Sec)*1e9 + uint64(st.Ctime.Nsec),
		Atime:  toTime(st.Atime),
		Mtime:  toTime(st.Mtime),
		Ctime:  toTime(st.Ctime),
	}
	if st.Mask&unix.STATX_BTIME != 0 {
		a.Btime = toTime(st.Btime)
	}
	return a
}

// errnoOf turns an error from the os package into the syscall.Errno the
// FSAL contract requires.
func errnoOf(err error) error {
	if err == nil {
		return nil
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, os.ErrClosed) {
		return syscall.EBADF
	}
	return syscall.EIO
}
