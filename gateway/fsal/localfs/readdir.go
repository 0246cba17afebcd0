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
	names []int    // offset of each entry's NUL-terminated name in the getdents buffer
	inos  []uint64 // getdents' d_ino of each entry
	types []uint8  // and d_type
	st    [attrChunk]unix.Statx_t
	hit   [attrChunk]bool // attributes and handle from the attribute cache (attrcache.go)
	rec   [attrChunk]attrRec
	wd    [attrChunk]int32 // watch of a fill of the attribute cache, or 0
	fw    [attrChunk]*fileWatch
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
		rfd, d, retry, err := fs.openDir(c, dir, cached)
		if retry {
			continue
		}
		if err != nil {
			return false, err
		}
		// The attribute cache answers what a statx of each entry as c
		// would: openDir's open of "." as c already needed search
		// permission on the directory, which is all that statx checks.
		var ents *dirEnts
		if withAttrs && d.e != nil && fs.notify != nil && fs.notify.attrs {
			if e := d.e.entries(fs.notify); fs.attrsUsable(e) {
				ents = e
			}
		}
		eof, err := fs.readdir(ctx, c, rfd, pos, withAttrs, ents, fn)
		unix.Close(rfd)
		d.release()
		return eof, err
	}
}

// openDir opens dir for reading as c, from its cached descriptor if
// cached. retry asks for another try uncached: the cached descriptor was
// of a removed directory, whose fresh resolution reports ESTALE.
// The caller releases d, the directory's descriptor, after the listing: its
// attribute cache is only valid while it is referenced.
func (fs *FS) openDir(c *fsal.Cred, dir fsal.Handle, cached bool) (rfd int, d fdRef, retry bool, err error) {
	d, hit, err := fs.resolveDir(dir, cached)
	if err != nil {
		return -1, d, false, err
	}
	rfd = -1
	err = runAs(c, func() (err error) {
		// Reading a directory needs read permission: open it as the
		// caller. Later getdents calls on the descriptor are not
		// permission checked.
		rfd, err = unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		d.release()
		return -1, d, false, err
	}
	if d.e != nil && unlinked(rfd) {
		fs.fds.drop(dir, d.e)
		if hit {
			unix.Close(rfd)
			d.release()
			return -1, d, true, nil
		}
	}
	return rfd, d, false, nil
}

func (fs *FS) readdir(ctx context.Context, c *fsal.Cred, rfd int, pos int64, withAttrs bool, ents *dirEnts, fn func(e *fsal.DirEntry) bool) (bool, error) {
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
		clear(sc.rec[:])
		clear(sc.fw[:])
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
				if chunk, err = fs.fillAttrs(c, rfd, buf, sc, chunk, start, ents); err != nil {
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
	sc.ents, sc.names, sc.inos, sc.types = sc.ents[:0], sc.names[:0], sc.inos[:0], sc.types[:0]
	all := string(b)
	for at := 0; len(b)-at >= 19; {
		rec := b[at:]
		ino := binary.NativeEndian.Uint64(rec[0:])
		off := binary.NativeEndian.Uint64(rec[8:])
		typ := rec[18]
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
		sc.inos = append(sc.inos, ino)
		sc.types = append(sc.types, typ)
	}
	return nil
}

// fillAttrs sets Handle and Attr of the entries of one chunk (at most
// attrChunk), sc.ents[start:start+len(chunk)], and drops the entries
// removed since getdents. Only the lookups run as c (they need search
// permission); the handles are tagged outside, in one allocation. With
// ents, non-directories come from, or go into, its attribute cache.
func (fs *FS) fillAttrs(c *fsal.Cred, rfd int, buf []byte, sc *dirScratch, chunk []fsal.DirEntry, start int, ents *dirEnts) ([]fsal.DirEntry, error) {
	names := sc.names[start:]
	n := fs.notify
	for i := range chunk {
		sc.hit[i], sc.wd[i] = false, 0
		if ents == nil || sc.types[start+i] == unix.DT_DIR {
			continue
		}
		if r, ok := ents.cachedAttr(chunk[i].Name, sc.inos[start+i]); ok {
			sc.hit[i], sc.rec[i] = true, r
			continue
		}
		// Watch before the statx: an event after it voids the fill.
		sc.wd[i], sc.fw[i] = n.watchFile(rfd, chunk[i].Name)
	}
	abandon := func() {
		for i := range chunk {
			if sc.wd[i] != 0 {
				n.abandon(sc.wd[i])
			}
		}
	}
	now := time.Now()
	err := runAs(c, func() error {
		for i := range chunk {
			if sc.hit[i] {
				sc.found[i] = true
				continue
			}
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
		abandon()
		return nil, err
	}
	size := 0
	for i := range chunk {
		switch {
		case !sc.found[i]:
		case sc.hit[i]:
			size += len(sc.rec[i].h)
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
			if sc.wd[i] != 0 {
				n.abandon(sc.wd[i])
			}
			continue
		}
		e := chunk[i]
		start := len(slab)
		if sc.hit[i] {
			e.Attr = sc.rec[i].a
			slab = append(slab, sc.rec[i].h...)
			sc.rec[i].h = nil
		} else {
			e.Attr = attrOf(&sc.st[i])
			switch {
			case sc.known[i] != nil:
				slab = append(slab, sc.known[i]...)
				sc.known[i] = nil
			case int(sc.mid[i]) == fs.mountID:
				slab = fs.appendHandle(slab, &sc.kh[i])
				fs.inos.add(&sc.st[i], fs.mountID, slab[start:], now)
			}
		}
		if len(slab) > start {
			e.Handle = slab[start:len(slab):len(slab)]
		}
		if wd := sc.wd[i]; wd != 0 {
			if e.Handle != nil && e.Attr.Type != fsal.TypeDirectory {
				n.addAttr(ents, e.Name, sc.fw[i], attrRec{ino: sc.st[i].Ino, wd: wd, a: e.Attr, h: e.Handle})
			} else {
				n.abandon(wd)
			}
		}
		out = append(out, e)
	}
	return out, nil
}
