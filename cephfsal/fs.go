//go:build !noceph

package cephfsal

import (
	"context"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"syscall"

	"nfsgw/cephfsal/internal/cephll"
	"nfsgw/gateway/fsal"
)

// Handles are byte-identical to NFS-Ganesha 4.3's FSAL_CEPH keys: inode
// number, snapshot id and filesystem id (fscid), each a little-endian
// uint64. A client can thus move between Ganesha and nfsgw (or between
// nfsgw gateways) without ESTALE, and a handle resolves after any restart
// with ceph_ll_lookup_inode.
const handleSize = 24

// User inodes are allocated from 2^40 up (per MDS rank); below that only the
// root and lost+found are ordinary, linked directories. The others (MDS
// directories, strays) must never be reachable through a forged handle.
const (
	firstUserIno     = 1 << 40
	lostAndFoundIno  = 4
	maxContainDepth  = 4096
	verdictUnknown   = 0
	verdictInside    = 1
	verdictOutside   = 2
	attrWant         = cephll.StatxAll // basic stats, btime, version
	liveWant         = cephll.StatxMode | cephll.StatxNlink | cephll.StatxUID | cephll.StatxIno
	lookupFlags      = cephll.NoFollow
	defaultFileMode  = 0o644
	defaultDirMode   = 0o755
	defaultNodeMode  = 0o644
	maxSymlinkTarget = 1 << 20
)

// FS is one exported CephFS directory. It is safe for concurrent use.
type FS struct {
	m        *Mount
	ll       *cephll.Mount
	rootIno  uint64
	rootH    fsal.Handle
	rootRef  *ref[*node] // pinned for the export's lifetime
	whole    bool        // the export is the filesystem root: everything is inside
	readOnly bool
	nodes    *refCache[uint64, *node]
	handed   *inoSet  // inodes handed out from inside (see Check)
	trust    bool     // MountOptions.TrustFileHandles
	conts    dirConts // READDIR streams left open between replies

	// The root fields above are set once by resolveRoot; ExportLazy
	// leaves that to a background goroutine, and Root, Check and close
	// wait for it (every other method needs a handle, which comes from
	// Root or Check).
	rootReady atomic.Bool
	rootDone  chan struct{}
	rootErr   error
	rootOnce  sync.Once // runs resolveRoot once, by whoever needs it first
	rootRel   string
}

// node is a referenced inode. verdict caches whether it lies inside the
// export (for Check).
type node struct {
	in      cephll.Inode
	verdict atomic.Int32
	// opens counts this gateway's open files on the inode. An unlinked
	// file that is still open stays valid, as on a local file system:
	// clients CLOSE (and READ, WRITE, GETATTR) files removed under them.
	opens atomic.Int32
}

var _ fsal.FS = (*FS)(nil)

func newFS(m *Mount, rel string, readOnly bool) *FS {
	fs := &FS{m: m, ll: m.ll, readOnly: readOnly, trust: m.opts.TrustFileHandles, rootDone: make(chan struct{}), rootRel: rel}
	fs.nodes = newRefCache(m.opts.InodeCacheSize, mix, func(n *node) { fs.ll.Put(n.in) })
	fs.handed = newInoSet(4 * m.opts.InodeCacheSize)
	return fs
}

// resolveRoot looks the export's directory up and pins it.
func (fs *FS) resolveRoot(rel string) error {
	// Shared by every request of the export: no request's context.
	ctx := context.Background()
	defer func() {
		fs.rootReady.Store(true)
		close(fs.rootDone)
	}()
	var st cephll.Statx
	in, err := fs.ll.Walk(ctx, rel, &st, attrWant, 0, fs.m.root)
	if err != nil {
		fs.rootErr = err
		return err
	}
	if st.Mode()&syscall.S_IFMT != syscall.S_IFDIR {
		fs.ll.Put(in)
		fs.rootErr = syscall.ENOTDIR
		return fs.rootErr
	}
	fs.rootIno = st.Ino()
	fs.whole = fs.rootIno == cephll.RootIno
	fs.rootH = fs.handle(fs.rootIno)
	fs.rootRef = fs.nodes.add(fs.rootIno, &node{in: in})
	fs.rootRef.v.verdict.Store(verdictInside)
	return nil
}

// waitRoot waits for the export's root, and reports why it failed. A
// lazy export not resolved yet is resolved by the caller at once rather
// than after the background queue (thousands of exports at start, and an
// export added later would otherwise wait behind them).
func (fs *FS) waitRoot() error {
	if !fs.rootReady.Load() {
		fs.ensureRoot()
		<-fs.rootDone
	}
	return fs.rootErr
}

// ensureRoot resolves the root unless that has been done or is under way.
func (fs *FS) ensureRoot() {
	fs.rootOnce.Do(func() { fs.resolveRoot(fs.rootRel) })
}

// Ready waits until the export's directory is resolved (at once unless it
// came from ExportLazy) and returns the error that made it unusable.
// Unlike the other methods it does not jump the queue.
func (fs *FS) Ready() error {
	<-fs.rootDone
	return fs.rootErr
}

func (fs *FS) close() {
	fs.waitRoot()
	for _, c := range fs.conts.drain() {
		fs.releaseCont(c)
	}
	fs.nodes.clear()
	if fs.rootRef != nil {
		fs.rootRef.release()
	}
}

// Close withdraws the export and drops its inode references (Mount.Close
// does this for every export). No method may be called after or
// concurrently with Close.
func (fs *FS) Close() error {
	if fs.m.forget(fs) {
		fs.close()
	}
	return nil
}

// Root returns the export root's handle.
func (fs *FS) Root() fsal.Handle {
	fs.waitRoot()
	return fs.rootH
}

func (fs *FS) handle(ino uint64) fsal.Handle {
	h := make(fsal.Handle, handleSize)
	binary.LittleEndian.PutUint64(h[0:], ino)
	binary.LittleEndian.PutUint64(h[8:], cephll.NoSnap)
	binary.LittleEndian.PutUint64(h[16:], fs.m.fscid)
	return h
}

// decode validates a handle's form: EBADF if malformed, EACCES if it names
// another filesystem or a snapshot (this export hands out neither), ESTALE
// for inode numbers no client-visible object can have.
func (fs *FS) decode(h fsal.Handle) (uint64, error) {
	if len(h) != handleSize {
		return 0, syscall.EBADF
	}
	ino := binary.LittleEndian.Uint64(h[0:])
	if binary.LittleEndian.Uint64(h[16:]) != fs.m.fscid {
		return 0, syscall.EACCES
	}
	// Snapshots (.snap) are not exported yet.
	if binary.LittleEndian.Uint64(h[8:]) != cephll.NoSnap {
		return 0, syscall.EACCES
	}
	if ino < firstUserIno && ino != cephll.RootIno && ino != lostAndFoundIno {
		return 0, syscall.ESTALE
	}
	return ino, nil
}

// resolve returns h's inode with a reference the caller must release. It
// does not check containment (the engine Checks every client handle first)
// nor existence (callers that must fail with ESTALE on a removed object use
// resolveLive).
func (fs *FS) resolve(ctx context.Context, h fsal.Handle) (*ref[*node], uint64, error) {
	ino, err := fs.decode(h)
	if err != nil {
		return nil, 0, err
	}
	if r := fs.nodes.get(ino); r != nil {
		return r, ino, nil
	}
	in, err := fs.ll.LookupInode(ctx, ino)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			err = syscall.ESTALE
		}
		return nil, 0, err
	}
	return fs.nodes.add(ino, &node{in: in}), ino, nil
}

// resolveLive is resolve plus an existence check: an unlinked inode stays
// reachable by number until the MDS purges it, and libcephfs then reports
// nlink 0. The check asks for the link count "as stat would": from the
// client's caps when it holds them (no round trip), else from the MDS; the
// client's cached attributes without caps can be stale and are not used.
// An unlinked inode is also dropped from the cache so that the MDS can purge
// it. st receives the mode, uid, ino and nlink.
func (fs *FS) resolveLive(ctx context.Context, h fsal.Handle, st *cephll.Statx) (*ref[*node], error) {
	r, ino, err := fs.resolve(ctx, h)
	if err != nil {
		return nil, err
	}
	if err := fs.ll.Getattr(ctx, r.v.in, st, liveWant, lookupFlags, fs.m.root); err != nil {
		r.release()
		return nil, staleIfGone(err)
	}
	if st.Nlink() == 0 && r.v.opens.Load() == 0 {
		fs.nodes.remove(ino, r)
		r.release()
		return nil, syscall.ESTALE
	}
	return r, nil
}

// resolveDir is resolveLive for a handle that must name a directory.
func (fs *FS) resolveDir(ctx context.Context, h fsal.Handle) (*ref[*node], error) {
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return nil, err
	}
	if st.Mode()&syscall.S_IFMT != syscall.S_IFDIR {
		r.release()
		return nil, syscall.ENOTDIR
	}
	return r, nil
}

func staleIfGone(err error) error {
	if errors.Is(err, syscall.ENOENT) {
		return syscall.ESTALE
	}
	return err
}

// Check validates a client's handle: EBADF if it is malformed, EACCES if it
// is not from this filesystem or names an object outside the export, ESTALE
// if the object is gone or its place cannot be established.
//
// A handle whose inode is cached with a known verdict passes without a
// libcephfs call: PUTFH+GETATTR, the hottest request, then costs one call.
// Whether the object still exists is then reported by the operation that
// uses the handle next (ESTALE), which NFS allows (RFC 7530 section
// 16.20.5); objects removed through this export are dropped from the cache
// at once, so only removals elsewhere are noticed that late.
//
// In an export of the filesystem root everything of its fscid is inside.
// Otherwise a directory is proven inside by walking ".." up to the export
// root (or to the filesystem root: outside), and the verdict is cached. A
// non-directory cannot be walked (libcephfs has no ".." for files and no
// parent pointer in Pacific): it is inside if this export handed it out
// (Lookup, Create, Readdir, ... remember that, beyond the inode cache), and
// otherwise, after a gateway restart for instance, unprovable: ESTALE,
// after which NFS clients look the name up again through its directory,
// which is provable. MountOptions.TrustFileHandles accepts such handles
// instead, as Ganesha and knfsd's no_subtree_check do.
func (fs *FS) Check(ctx context.Context, h fsal.Handle) error {
	if fs.waitRoot() != nil {
		return syscall.ESTALE
	}
	ino, err := fs.decode(h)
	if err != nil {
		return err
	}
	if r := fs.nodes.get(ino); r != nil {
		v := r.v.verdict.Load()
		r.release()
		switch {
		case v == verdictOutside:
			return syscall.EACCES
		case v == verdictInside || fs.whole:
			return nil
		}
	}
	var st cephll.Statx
	r, err := fs.resolveLive(ctx, h, &st)
	if err != nil {
		return err
	}
	defer r.release()
	if fs.whole {
		r.v.verdict.Store(verdictInside)
		return nil
	}
	switch r.v.verdict.Load() {
	case verdictInside:
		return nil
	case verdictOutside:
		return syscall.EACCES
	}
	if st.Mode()&syscall.S_IFMT != syscall.S_IFDIR {
		if fs.trust || fs.handed.has(st.Ino()) {
			r.v.verdict.Store(verdictInside)
			return nil
		}
		return syscall.ESTALE
	}
	inside, err := fs.dirInside(ctx, r.v.in, st.Ino())
	if err != nil {
		return err
	}
	if !inside {
		r.v.verdict.Store(verdictOutside)
		return syscall.EACCES
	}
	r.v.verdict.Store(verdictInside)
	return nil
}

// dirInside walks up from directory in (inode ino) until it meets the
// export root or a directory already known to be inside.
func (fs *FS) dirInside(ctx context.Context, in cephll.Inode, ino uint64) (bool, error) {
	cur, owned := in, false
	defer func() {
		if owned {
			fs.ll.Put(cur)
		}
	}()
	var st cephll.Statx
	for range maxContainDepth {
		if ino == fs.rootIno {
			return true, nil
		}
		if ino == cephll.RootIno {
			return false, nil
		}
		if r := fs.nodes.get(ino); r != nil {
			v := r.v.verdict.Load()
			r.release()
			if v != verdictUnknown && cur != in {
				return v == verdictInside, nil
			}
		}
		if ctx.Err() != nil {
			return false, syscall.EINTR
		}
		p, err := fs.ll.Lookup(ctx, cur, "..", &st, cephll.StatxIno, 0, fs.m.root)
		if err != nil {
			return false, staleIfGone(err)
		}
		if st.Ino() == ino { // the mount's root: ".." is itself
			fs.ll.Put(p)
			return false, nil
		}
		if owned {
			fs.ll.Put(cur)
		}
		cur, owned, ino = p, true, st.Ino()
	}
	return false, nil
}

// adopt caches a referenced inode that was reached from parent (so it has
// parent's containment verdict) and returns its handle.
func (fs *FS) adopt(parent *ref[*node], in cephll.Inode, ino uint64) fsal.Handle {
	r := fs.nodes.add(ino, &node{in: in})
	if r.v.verdict.Load() == verdictUnknown {
		v := parent.v.verdict.Load()
		if fs.whole {
			v = verdictInside
		}
		r.v.verdict.Store(v)
	}
	if !fs.whole && r.v.verdict.Load() == verdictInside {
		fs.handed.add(ino)
	}
	r.release()
	return fs.handle(ino)
}

// attrOf converts libcephfs attributes.
func (fs *FS) attrOf(st *cephll.Statx) fsal.Attr {
	mode := st.Mode()
	rdev := st.Rdev()
	a := fsal.Attr{
		Type:      fileType(mode),
		Mode:      mode & 0o7777,
		Nlink:     st.Nlink(),
		UID:       st.UID(),
		GID:       st.GID(),
		Size:      st.Size(),
		SpaceUsed: st.Blocks() * 512,
		RdevMajor: devMajor(rdev),
		RdevMinor: devMinor(rdev),
		Fileid:    st.Ino(),
		FsidMajor: fs.m.fscid,
		// The inode's change_attr: the MDS and the client holding write
		// caps bump it on every data or metadata change, which is exactly
		// NFSv4's change attribute (Ganesha uses it too).
		Change: st.Version(),
	}
	a.Atime.Sec, a.Atime.Nsec = st.Atime()
	a.Mtime.Sec, a.Mtime.Nsec = st.Mtime()
	a.Ctime.Sec, a.Ctime.Nsec = st.Ctime()
	if st.Mask()&cephll.StatxBtime != 0 {
		a.Btime.Sec, a.Btime.Nsec = st.Btime()
	}
	return a
}

func fileType(mode uint32) fsal.FileType {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		return fsal.TypeRegular
	case syscall.S_IFDIR:
		return fsal.TypeDirectory
	case syscall.S_IFBLK:
		return fsal.TypeBlock
	case syscall.S_IFCHR:
		return fsal.TypeChar
	case syscall.S_IFLNK:
		return fsal.TypeSymlink
	case syscall.S_IFSOCK:
		return fsal.TypeSocket
	case syscall.S_IFIFO:
		return fsal.TypeFIFO
	}
	return 0
}

// Linux dev_t encoding, which is what libcephfs stores for mknod.
func devMajor(d uint64) uint32 { return uint32((d>>32)&0xfffff000 | (d>>8)&0xfff) }
func devMinor(d uint64) uint32 { return uint32((d>>12)&0xffffff00 | d&0xff) }
func mkdev(major, minor uint32) uint64 {
	return uint64(major&0xfffff000)<<32 | uint64(major&0xfff)<<8 |
		uint64(minor&0xffffff00)<<12 | uint64(minor&0xff)
}
