package localfs

import (
	"context"
	"encoding/binary"
	"math"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Readdir cookies.
//
// A cookie is the directory position after an entry as the filesystem
// reports it (getdents64's d_off, which lseek accepts back), plus
// cookieBias. NFSv4 reserves cookies 0, 1 and 2 while filesystems do use
// small positions (byte offsets from 0, tmpfs/btrfs indexes from 1 or 2), so
// the positions are shifted past the reserved range: a bijection, hence
// stable and resumable from any cookie, unlike remapping just the clashing
// values. Cookie 0 means the start (position 0); 1 and 2 are never issued
// and are rejected with EINVAL. Positions at or above 2^64-3 (which no
// Linux filesystem produces: d_off is a signed loff_t) give EOVERFLOW.
const cookieBias = 3

func cookieToPos(cookie uint64) (int64, error) {
	if cookie == 0 {
		return 0, nil
	}
	if cookie < cookieBias || cookie-cookieBias > math.MaxInt64 {
		return 0, syscall.EINVAL
	}
	return int64(cookie - cookieBias), nil
}

func posToCookie(off uint64) (uint64, error) {
	if off > math.MaxUint64-cookieBias {
		return 0, syscall.EOVERFLOW
	}
	return off + cookieBias, nil
}

const direntBufSize = 32 << 10

var direntBufs = sync.Pool{New: func() any { b := make([]byte, direntBufSize); return &b }}

// Readdir lists dir from cookie on; see the cookie notes above. Entries are
// delivered in batches of one getdents64 call, and fn runs outside any
// identity switch, so it may call back into the FS. With withAttrs, an
// entry whose lookup needs permission the caller lacks (a directory that is
// readable but not searchable) fails the whole call with EACCES, since
// DirEntry cannot carry a per-entry error; entries removed meanwhile are
// skipped; a mount point of another filesystem gets its attributes but a
// nil Handle (it cannot be named through this export's mount, see Lookup).
func (fs *FS) Readdir(ctx context.Context, c *fsal.Cred, dir fsal.Handle, cookie uint64, withAttrs bool, fn func(e *fsal.DirEntry) bool) (bool, error) {
	pos, err := cookieToPos(cookie)
	if err != nil {
		return false, err
	}
	dfd, err := fs.resolve(dir)
	if err != nil {
		return false, err
	}
	defer unix.Close(dfd)
	rfd := -1
	err = runAs(c, func() (err error) {
		// Reading a directory needs read permission: open it as the
		// caller. Later getdents calls on the descriptor are not
		// permission checked.
		rfd, err = unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return false, err
	}
	defer unix.Close(rfd)
	if _, err := unix.Seek(rfd, pos, 0); err != nil {
		return false, err
	}

	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	for {
		if ctx.Err() != nil {
			return false, syscall.EINTR
		}
		n, err := unix.Getdents(rfd, buf)
		if err != nil {
			return false, err
		}
		if n == 0 {
			return true, nil
		}
		batch, err := parseDirents(buf[:n])
		if err != nil {
			return false, err
		}
		if withAttrs {
			if batch, err = fs.fillAttrs(c, rfd, batch); err != nil {
				return false, err
			}
		}
		for i := range batch {
			if !fn(&batch[i]) {
				return false, nil
			}
		}
	}
}

// parseDirents decodes linux_dirent64 records: d_ino u64, d_off s64,
// d_reclen u16, d_type u8, NUL-terminated d_name.
func parseDirents(b []byte) ([]fsal.DirEntry, error) {
	var out []fsal.DirEntry
	for len(b) >= 19 {
		off := binary.NativeEndian.Uint64(b[8:])
		reclen := int(binary.NativeEndian.Uint16(b[16:]))
		if reclen < 19 || reclen > len(b) {
			return nil, syscall.EIO
		}
		name := b[19:reclen]
		for i, ch := range name {
			if ch == 0 {
				name = name[:i]
				break
			}
		}
		b = b[reclen:]
		if string(name) == "." || string(name) == ".." {
			continue
		}
		ck, err := posToCookie(off)
		if err != nil {
			return nil, err
		}
		out = append(out, fsal.DirEntry{Name: string(name), Cookie: ck})
	}
	return out, nil
}

// fillAttrs sets Handle and Attr of each entry. Only the lookups run as c
// (they need search permission); handles and attributes need none.
func (fs *FS) fillAttrs(c *fsal.Cred, rfd int, batch []fsal.DirEntry) ([]fsal.DirEntry, error) {
	fds := make([]int, len(batch))
	for i := range fds {
		fds[i] = -1
	}
	defer func() {
		for _, fd := range fds {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
	}()
	err := runAs(c, func() error {
		for i := range batch {
			fd, err := unix.Openat(rfd, batch[i].Name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			switch err {
			case nil:
				fds[i] = fd
			case unix.ENOENT: // removed since getdents: skip
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := batch[:0]
	for i, e := range batch {
		if fds[i] < 0 {
			continue
		}
		h, a, err := fs.describe(fds[i])
		switch err {
		case nil, syscall.EXDEV:
		default:
			return nil, err
		}
		e.Handle, e.Attr = h, a
		out = append(out, e)
	}
	return out, nil
}
