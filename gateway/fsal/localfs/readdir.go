package localfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"sync"
	"syscall"
	"time"

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

// attrChunk is how many entries get their attributes under one identity
// switch. Entries are delivered chunk by chunk, so when fn stops early
// (a full READDIR reply) at most one chunk's lookups were wasted, while a
// non-root caller's switch (two sets of credential changes, several µs in
// a VM) is spread over many entries.
const attrChunk = 64

// dirScratch is Readdir's reusable working memory: the entries of one
// getdents batch and, per chunk, the raw results of the lookups.
type dirScratch struct {
	ents  []fsal.DirEntry
	names []int // offset of each entry's NUL-terminated name in the getdents buffer
	st    [attrChunk]unix.Statx_t
	kh    [attrChunk]kernelHandle
	mid   [attrChunk]int32
	known [attrChunk]fsal.Handle // from fs.inos, instead of kh and mid
	found [attrChunk]bool
}

var dirScratches = sync.Pool{New: func() any { return new(dirScratch) }}

// Readdir lists dir from cookie on; see the cookie notes above. fn runs
// outside any identity switch, so it may call back into the FS; the
// DirEntry it gets is reused once it returns (its Name and Handle are
// not), so it must copy the struct to keep it. With withAttrs, an entry
// whose lookup needs permission the caller lacks (a directory that is
// readable but not searchable) fails the whole call with EACCES, since
// DirEntry cannot carry a per-entry error; entries removed meanwhile are
// skipped; a mount point of another filesystem gets its attributes but a
// nil Handle (it cannot be named through this export's mount, see Lookup).
func (fs *FS) Readdir(ctx context.Context, c *fsal.Cred, dir fsal.Handle, cookie uint64, withAttrs bool, fn func(e *fsal.DirEntry) bool) (bool, error) {
	pos, err := cookieToPos(cookie)
	if err != nil {
		return false, err
	}
	for cached := true; ; cached = false {
		rfd, retry, err := fs.openDir(c, dir, cached)
		if retry {
			continue
		}
		if err != nil {
			return false, err
		}
		eof, err := fs.readdir(ctx, c, rfd, pos, withAttrs, fn)
		unix.Close(rfd)
		return eof, err
	}
}

// openDir opens dir for reading as c, from its cached descriptor if
// cached. retry asks for another try uncached: the cached descriptor was
// of a removed directory, whose fresh resolution reports ESTALE.
func (fs *FS) openDir(c *fsal.Cred, dir fsal.Handle, cached bool) (rfd int, retry bool, err error) {
	d, hit, err := fs.resolveDir(dir, cached)
	if err != nil {
		return -1, false, err
	}
	defer d.release()
	rfd = -1
	err = runAs(c, func() (err error) {
		// Reading a directory needs read permission: open it as the
		// caller. Later getdents calls on the descriptor are not
		// permission checked.
		rfd, err = unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return -1, false, err
	}
	if d.e != nil && unlinked(rfd) {
		fs.fds.drop(dir, d.e)
		if hit {
			unix.Close(rfd)
			return -1, true, nil
		}
	}
	return rfd, false, nil
}

func (fs *FS) readdir(ctx context.Context, c *fsal.Cred, rfd int, pos int64, withAttrs bool, fn func(e *fsal.DirEntry) bool) (bool, error) {
	if _, err := unix.Seek(rfd, pos, 0); err != nil {
		return false, err
	}
	bp := direntBufs.Get().(*[]byte)
	defer direntBufs.Put(bp)
	buf := *bp
	sc := dirScratches.Get().(*dirScratch)
	defer func() {
		clear(sc.ents[:cap(sc.ents)]) // let the collector have the names and handles
		clear(sc.known[:])
		dirScratches.Put(sc)
	}()
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
		if err := sc.parse(buf[:n]); err != nil {
			return false, err
		}
		for start := 0; start < len(sc.ents); start += attrChunk {
			end := min(start+attrChunk, len(sc.ents))
			chunk := sc.ents[start:end]
			if withAttrs {
				if chunk, err = fs.fillAttrs(c, rfd, buf, sc, chunk, sc.names[start:end]); err != nil {
					return false, err
				}
			}
			for i := range chunk {
				if !fn(&chunk[i]) {
					return false, nil
				}
			}
		}
	}
}

// parse decodes linux_dirent64 records (d_ino u64, d_off s64, d_reclen
// u16, d_type u8, NUL-terminated d_name) into sc.ents and sc.names. The
// names of a batch share one string, one allocation per batch.
func (sc *dirScratch) parse(b []byte) error {
	sc.ents, sc.names = sc.ents[:0], sc.names[:0]
	all := string(b)
	for at := 0; len(b)-at >= 19; {
		rec := b[at:]
		off := binary.NativeEndian.Uint64(rec[8:])
		reclen := int(binary.NativeEndian.Uint16(rec[16:]))
		if reclen < 20 || reclen > len(rec) {
			return syscall.EIO
		}
		nameLen := bytes.IndexByte(rec[19:reclen], 0)
		if nameLen < 0 {
			return syscall.EIO // the kernel always terminates d_name
		}
		nameAt := at + 19
		at += reclen
		name := all[nameAt : nameAt+nameLen]
		if name == "." || name == ".." {
			continue
		}
		ck, err := posToCookie(off)
		if err != nil {
			return err
		}
		sc.ents = append(sc.ents, fsal.DirEntry{Name: name, Cookie: ck})
		sc.names = append(sc.names, nameAt)
	}
	return nil
}

// fillAttrs sets Handle and Attr of the entries of one chunk (at most
// attrChunk), whose names are at names in buf, and drops the entries
// removed since getdents. Only the lookups run as c (they need search
// permission); the handles are tagged outside, in one allocation.
func (fs *FS) fillAttrs(c *fsal.Cred, rfd int, buf []byte, sc *dirScratch, chunk []fsal.DirEntry, names []int) ([]fsal.DirEntry, error) {
	now := time.Now()
	err := runAs(c, func() error {
		for i := range chunk {
			p := &buf[names[i]]
			err := statxAt(rfd, p, &sc.st[i])
			if err == nil {
				if sc.known[i] = fs.inos.get(&sc.st[i], fs.mountID); sc.known[i] == nil {
					err = handleAt(rfd, p, &sc.kh[i], &sc.mid[i])
				}
			}
			switch err {
			case nil:
				sc.found[i] = true
			case unix.ENOENT: // removed since getdents: skip
				sc.found[i] = false
			default:
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	size := 0
	for i := range chunk {
		switch {
		case !sc.found[i]:
		case sc.known[i] != nil:
			size += len(sc.known[i])
		case int(sc.mid[i]) == fs.mountID:
			size += sc.kh[i].encodedLen()
		}
	}
	slab := make([]byte, 0, size)
	out := chunk[:0]
	for i := range chunk {
		if !sc.found[i] {
			continue
		}
		e := chunk[i]
		e.Attr = attrOf(&sc.st[i])
		start := len(slab)
		switch {
		case sc.known[i] != nil:
			slab = append(slab, sc.known[i]...)
			sc.known[i] = nil
		case int(sc.mid[i]) == fs.mountID:
			slab = fs.appendHandle(slab, &sc.kh[i])
			fs.inos.add(&sc.st[i], fs.mountID, slab[start:], now)
		}
		if len(slab) > start {
			e.Handle = slab[start:len(slab):len(slab)]
		}
		out = append(out, e)
	}
	return out, nil
}
