// Package localfs is the FSAL backend for a directory of a local filesystem,
// the default for a single-node gateway.
//
// Objects are named by kernel file handles (name_to_handle_at), so handles
// survive gateway restarts, and every handle is resolved with
// open_by_handle_at to an O_PATH descriptor on which the operation is then
// performed with *at system calls under the caller's identity (per-thread
// fsuid/fsgid/groups, see cred.go). GETATTR, LOOKUP, LOOKUPP and READDIR
// reuse descriptors from a bounded cache (fdcache.go); since a cached fd
// pins a removed inode and would hide ESTALE, they check for removal when
// the descriptor's answer could be one (see resolveDir). LOOKUP and READDIR
// describe entries by name relative to the directory without opening them
// (nameat.go).
//
// The process must run as root: open_by_handle_at needs
// CAP_DAC_READ_SEARCH, and switching identity needs CAP_SETUID/CAP_SETGID.
package localfs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Options configure an export.
type Options struct {
	// ReadOnly makes every modifying call fail with EROFS.
	ReadOnly bool

	// Async skips committing a directory after a create, remove, rename
	// or link (knfsd's "async" export option): faster, but a power cut
	// can undo operations the client was told are done.
	Async bool

	// HandleKey authenticates the handles this FS hands out (see the
	// handle format below). It must be at least 16 bytes and the same on
	// every start, or old handles become invalid. If empty, New uses a
	// random key stored in the export root's "trusted.nfsgw.handlekey"
	// extended attribute, creating it on first use; trusted.* attributes
	// are invisible to unprivileged users, which is what keeps the key
	// secret from local users who could otherwise forge handles.
	HandleKey []byte

	// CheckCacheSize bounds how many handles Check remembers as verified
	// inside the export, and how many names and attributes the directory
	// caches keep (dents.go, attrcache.go). 0 means DefaultCheckCacheSize.
	CheckCacheSize int

	// NoAttrCache turns off READDIR's attribute cache (attrcache.go):
	// every entry's attributes then come from a statx, as they must if
	// local processes write the exported files through shared mappings.
	NoAttrCache bool

	// FDCacheSize bounds the O_PATH descriptors kept for fast GETATTR:
	// 0 picks a default (4096, at most a quarter of RLIMIT_NOFILE), a
	// negative value disables the cache.
	FDCacheSize int
}

// DefaultCheckCacheSize is the default bound of the Check cache. An entry is
// one handle (a few dozen bytes), so the default costs a few MiB at most.
const DefaultCheckCacheSize = 1 << 16

// Handle format: 4-byte big-endian kernel handle type, the kernel f_handle
// bytes, then an 8-byte truncated HMAC-SHA256 of the preceding bytes under
// the export's key.
//
// The tag exists because containment cannot be proven for every object: a
// non-directory decoded from a handle while its dentry is not in the dcache
// (after memory pressure or a reboot) comes back disconnected, and the kernel
// has no way to find its path (ext4 stores no parent pointer for files), so
// /proc/self/fd shows "/". Rejecting such handles would break clients after
// every cold start; accepting them unconditionally would let a client forge
// a handle for any file on the filesystem. The tag proves that this export
// issued the handle, which it only does for objects it reached from its root,
// and it keeps unauthenticated bytes away from open_by_handle_at entirely (no
// probing of which inodes exist outside the export).
const (
	typeSize = 4
	tagSize  = 8
	// minHandle: the kernel rejects an empty f_handle.
	minHandle = typeSize + 1 + tagSize
)

const keyXattr = "trusted.nfsgw.handlekey"

// FS is a local directory exported through the FSAL interface. It is safe
// for concurrent use. Close releases its descriptor; no method may be called
// after or concurrently with Close.
type FS struct {
	mountFD  int // O_RDONLY on the export root: open_by_handle_at's mount fd (O_PATH is refused there)
	mountID  int
	rootDev  devIno
	root     fsal.Handle
	readOnly bool
	async    bool // see Options.Async

	key  []byte
	macs sync.Pool // of *macState; hmac.New is too costly per call

	checked *handleCache
	fds     *fdCache
	inos    *inoCache
	notify  *notifier // nil: entry caches are validated by ctime (notify.go)
}

type devIno struct {
	major, minor uint32
	ino          uint64
}

func devInoOf(st *unix.Statx_t) devIno {
	return devIno{st.Dev_major, st.Dev_minor, st.Ino}
}

var _ fsal.FS = (*FS)(nil)

// New exports the directory root. The caller must be root (see the package
// comment).
func New(root string, opts Options) (*FS, error) {
	mfd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("localfs: open %s: %w", root, err)
	}
	fs := &FS{mountFD: mfd, readOnly: opts.ReadOnly, async: opts.Async}
	if err := fs.init(root, opts); err != nil {
		unix.Close(mfd)
		return nil, err
	}
	return fs, nil
}

func (fs *FS) init(root string, opts Options) error {
	var st unix.Statx_t
	if err := statFD(fs.mountFD, &st); err != nil {
		return fmt.Errorf("localfs: statx %s: %w", root, err)
	}
	fs.rootDev = devInoOf(&st)

	fh, mid, err := unix.NameToHandleAt(fs.mountFD, "", unix.AT_EMPTY_PATH)
	if err != nil {
		return fmt.Errorf("localfs: %s does not support file handles: %w", root, err)
	}
	fs.mountID = mid

	switch {
	case len(opts.HandleKey) >= 16:
		fs.key = bytes.Clone(opts.HandleKey)
	case len(opts.HandleKey) > 0:
		return errors.New("localfs: HandleKey must be at least 16 bytes")
	default:
		if fs.key, err = loadKey(fs.mountFD); err != nil {
			return fmt.Errorf("localfs: handle key on %s: %w (set Options.HandleKey)", root, err)
		}
	}
	fs.macs.New = func() any { return &macState{h: hmac.New(sha256.New, fs.key)} }

	if fs.root, err = fs.encode(fh); err != nil {
		return fmt.Errorf("localfs: root handle: %w", err)
	}
	// Fail now rather than on the first request if we lack the privilege.
	fd, err := unix.OpenByHandleAt(fs.mountFD, fh, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		return fmt.Errorf("localfs: open_by_handle_at (needs CAP_DAC_READ_SEARCH): %w", err)
	}
	unix.Close(fd)

	n := opts.CheckCacheSize
	if n <= 0 {
		n = DefaultCheckCacheSize
	}
	fs.checked = newHandleCache(n)
	fs.inos = newInoCache(n)
	fs.fds = newFDCache(fdCacheSize(opts.FDCacheSize), n)
	fs.notify = newNotifier(fs.mountFD, fs.fds.lim, !opts.NoAttrCache, n)
	return nil
}

// fdCacheSize picks the descriptor cache size: what was asked for, else
// 4096 but at most a quarter of the open-file limit, so that the cache never
// starves connections and open files of descriptors.
func fdCacheSize(asked int) int {
	if asked != 0 {
		return max(asked, 0)
	}
	n := 4096
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil && rl.Cur/4 < uint64(n) {
		n = int(rl.Cur / 4)
	}
	return n
}

// loadKey returns the export's handle key, creating it if absent. Two
// gateways starting at once on the same root agree thanks to XATTR_CREATE.
func loadKey(fd int) ([]byte, error) {
	for range 2 {
		buf := make([]byte, 64)
		n, err := unix.Fgetxattr(fd, keyXattr, buf)
		if err == nil {
			if n < 16 {
				return nil, errors.New("stored key too short")
			}
			return buf[:n], nil
		}
		if err != unix.ENODATA {
			return nil, err
		}
		key := make([]byte, 32)
		rand.Read(key)
		err = unix.Fsetxattr(fd, keyXattr, key, unix.XATTR_CREATE)
		if err == nil {
			return key, nil
		}
		if err != unix.EEXIST {
			return nil, err
		}
	}
	return nil, errors.New("handle key changed concurrently")
}

// Close releases the export's descriptor.
func (fs *FS) Close() error {
	if fs.mountFD < 0 {
		return nil
	}
	fs.fds.close()
	fs.notify.close()
	err := unix.Close(fs.mountFD)
	fs.mountFD = -1
	return err
}

// Root returns the handle of the export root.
func (fs *FS) Root() fsal.Handle { return fs.root }

// macState is a keyed HMAC with room for its sum, which would escape to
// the heap on every call if it lived on the stack.
type macState struct {
	h   hash.Hash
	sum [sha256.Size]byte
}

func (fs *FS) tag(dst, b []byte) []byte {
	m := fs.macs.Get().(*macState)
	m.h.Reset()
	m.h.Write(b)
	dst = append(dst, m.h.Sum(m.sum[:0])[:tagSize]...)
	fs.macs.Put(m)
	return dst
}

func (fs *FS) encode(fh unix.FileHandle) (fsal.Handle, error) {
	b := fh.Bytes()
	n := typeSize + len(b)
	if n+tagSize > fsal.MaxHandleSize || len(b) == 0 {
		return nil, syscall.EOVERFLOW
	}
	h := make([]byte, n, n+tagSize)
	binary.BigEndian.PutUint32(h, uint32(fh.Type()))
	copy(h[typeSize:], b)
	return fs.tag(h, h), nil
}

// decode parses h. verify=false skips the tag, for handles found in the
// Check cache (which only holds handles that passed it).
func (fs *FS) decode(h fsal.Handle, verify bool) (unix.FileHandle, error) {
	if len(h) < minHandle || len(h) > fsal.MaxHandleSize {
		return unix.FileHandle{}, syscall.EBADF
	}
	body := h[:len(h)-tagSize]
	if verify {
		var buf [tagSize]byte
		if !hmac.Equal(fs.tag(buf[:0], body), h[len(body):]) {
			// Not issued by this export: possibly a forged handle for an
			// object outside it, so refuse as "outside".
			return unix.FileHandle{}, syscall.EACCES
		}
	}
	return unix.NewFileHandle(int32(binary.BigEndian.Uint32(body)), body[typeSize:]), nil
}

// resolve opens h as an O_PATH descriptor. It must run as root (outside any
// runAs window): open_by_handle_at needs CAP_DAC_READ_SEARCH, which a
// non-zero fsuid drops.
func (fs *FS) resolve(h fsal.Handle) (int, error) {
	fh, err := fs.decode(h, !fs.checked.has(h))
	if err != nil {
		return -1, err
	}
	fd, err := unix.OpenByHandleAt(fs.mountFD, fh, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if err == unix.EINVAL {
			// Authenticated but undecodable: the filesystem changed
			// underneath (e.g. restored from backup).
			return -1, syscall.ESTALE
		}
		return -1, err
	}
	return fd, nil
}

// fdRef is a descriptor on loan from resolveDir: a cache entry, or one the
// borrower owns when the cache is disabled.
type fdRef struct {
	fd int
	e  *cachedFD
}

func (r fdRef) release() {
	if r.e != nil {
		r.e.release()
	} else {
		unix.Close(r.fd)
	}
}

// resolveDir is resolve through the descriptor cache, for the calls that
// only name things relative to a directory (Lookup, Parent, Readdir) and
// for Open, which then cost no open_by_handle_at. A cached descriptor outlives the
// removal of its directory, where lookups fail with ENOENT, listings are
// empty and ".." still leads to the old parent: callers check with
// unlinked when the answer could come from a removed directory and retry
// with cached=false, which reports ESTALE as resolve does. hit reports
// that the descriptor came from the cache.
func (fs *FS) resolveDir(h fsal.Handle, cached bool) (ref fdRef, hit bool, err error) {
	if cached {
		if e := fs.fds.get(h); e != nil {
			return fdRef{fd: e.fd, e: e}, true, nil
		}
	}
	fd, err := fs.resolve(h)
	if err != nil {
		return fdRef{fd: -1}, false, err
	}
	if cached {
		if e := fs.fds.add(h, fd); e != nil {
			return fdRef{fd: fd, e: e}, false, nil
		}
	}
	return fdRef{fd: fd}, false, nil
}

// unlinked reports whether the object behind fd has been removed (or
// cannot be stat'ed): its cache entry is to be dropped.
func unlinked(fd int) bool {
	var st unix.Statx_t
	return statFD(fd, &st) != nil || st.Nlink == 0
}

// Check validates a client-supplied handle: well formed (EBADF), issued by
// this export (EACCES), still existing (ESTALE) and inside the export root
// (EACCES). Positive containment results are cached; existence is always
// checked. A cached result is not revisited if a local process later moves
// the object out of the export (the gateway itself cannot), the trade-off
// knfsd makes with no_subtree_check.
//
// The other methods verify a handle's tag but not its containment: the
// engine must Check every handle that arrives from a client.
func (fs *FS) Check(_ context.Context, h fsal.Handle) error {
	hit := fs.checked.has(h)
	fh, err := fs.decode(h, !hit)
	if err != nil {
		return err
	}
	if hit {
		// The handle's tag verified and its containment is known: skip
		// the open. Whether the object still exists is reported by the
		// operation that uses the handle next (ESTALE), which NFS allows
		// (RFC 7530 section 16.20.5), and PUTFH+GETATTR, the hottest
		// request, then costs one open_by_handle_at instead of two.
		return nil
	}
	fd, err := unix.OpenByHandleAt(fs.mountFD, fh, unix.O_PATH|unix.O_CLOEXEC)
	if err != nil {
		if err == unix.EINVAL {
			return syscall.ESTALE
		}
		return err
	}
	defer unix.Close(fd)
	if err := fs.contained(fd); err != nil {
		return err
	}
	fs.checked.add(h)
	return nil
}

// maxDepth bounds the ".." walk; deeper trees are refused rather than
// walked forever on a corrupt or adversarial filesystem.
const maxDepth = 4096

// contained reports nil if fd (an O_PATH descriptor from open_by_handle_at)
// lies inside the export root. It runs as root.
//
// Directories are always connected after open_by_handle_at (the kernel
// reconnects them), so walking ".." by dev/ino is exact and immune to the
// root being renamed. Non-directories have no ".." and may be disconnected,
// so their /proc/self/fd path is compared with the root's; a path that does
// not actually name the object (disconnected dentry, or a hard link that
// also has an outside name) proves nothing, and the handle's tag decides.
func (fs *FS) contained(fd int) error {
	var st unix.Statx_t
	if err := statFD(fd, &st); err != nil {
		return err
	}
	if st.Dev_major != fs.rootDev.major || st.Dev_minor != fs.rootDev.minor {
		return syscall.EACCES
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fs.dirContained(fd, devInoOf(&st))
	}
	path, err := readlinkProc(fd)
	if err != nil {
		return err
	}
	rootPath, err := readlinkProc(fs.mountFD)
	if err != nil {
		return err
	}
	if rootPath == "/" || (len(path) > len(rootPath) && path[:len(rootPath)] == rootPath && path[len(rootPath)] == '/') {
		return nil
	}
	var pst unix.Statx_t
	if unix.Statx(unix.AT_FDCWD, path, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO, &pst) == nil &&
		devInoOf(&pst) == devInoOf(&st) && st.Nlink <= 1 {
		return syscall.EACCES // genuinely lives outside, under its only name
	}
	return nil
}

func (fs *FS) dirContained(fd int, cur devIno) error {
	at := fd
	defer func() {
		if at != fd {
			unix.Close(at)
		}
	}()
	var st unix.Statx_t
	for range maxDepth {
		if cur == fs.rootDev {
			return nil
		}
		p, err := unix.Openat(at, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if at != fd {
			unix.Close(at)
		}
		at = p
		if err := statFD(at, &st); err != nil {
			return err
		}
		next := devInoOf(&st)
		if next == cur {
			return syscall.EACCES // reached the filesystem (or mount) root
		}
		cur = next
	}
	return syscall.EACCES
}

func procPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

func readlinkProc(fd int) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink(procPath(fd), buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}

// handleCache is a bounded set of handles that passed Check. It is sharded
// so that concurrent lookups on the hot path (every resolve) rarely touch
// the same lock, and read-locked so that hits never serialize.
type handleCache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

const cacheShards = 64

type cacheShard struct {
	mu sync.RWMutex
	m  map[string]struct{}
	_  [40]byte // keep shards on separate cache lines
}

func newHandleCache(size int) *handleCache {
	c := &handleCache{perShard: max(1, size/cacheShards)}
	for i := range c.shards {
		c.shards[i].m = make(map[string]struct{})
	}
	return c
}

// shard picks by the last byte: for our handles that is part of the HMAC
// tag, hence uniformly distributed.
func (c *handleCache) shard(h []byte) *cacheShard {
	if len(h) == 0 {
		return &c.shards[0]
	}
	return &c.shards[int(h[len(h)-1])%cacheShards]
}

func (c *handleCache) has(h []byte) bool {
	s := c.shard(h)
	s.mu.RLock()
	_, ok := s.m[string(h)]
	s.mu.RUnlock()
	return ok
}

func (c *handleCache) add(h []byte) {
	s := c.shard(h)
	s.mu.Lock()
	if len(s.m) >= c.perShard {
		for k := range s.m { // evict an arbitrary entry
			delete(s.m, k)
			break
		}
	}
	s.m[string(h)] = struct{}{}
	s.mu.Unlock()
}
