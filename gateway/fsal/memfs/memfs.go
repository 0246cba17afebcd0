// Package memfs is an in-memory fsal.FS: a POSIX-like tree with owners,
// permission bits, hard links, sparse files and byte-range locks (OFD
// semantics: a lock belongs to its File), checked as the caller's
// credentials. It needs no root, no disk and no goroutines, so engine tests
// can run it many times over, concurrently and inside testing/synctest
// bubbles; it passes the fsaltest conformance suite except what it does
// not offer (extended attributes, ALLOCATE, the optional LOOKUP and CREATE
// shortcuts).
//
// One mutex guards the whole tree: nothing is ever waited for while it is
// held, so it never holds a request up behind another's backend call (wrap
// it in faultfs for that).
package memfs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"hash/maphash"
	"math"
	"sync"
	"syscall"
	"time"

	"nfsgw/gateway/fsal"
)

const (
	handleSize = 24 // inode number, generation, MAC
	pageSize   = 4096
	rootIno    = 1
)

// FS is one in-memory filesystem, exported whole.
type FS struct {
	mu      sync.Mutex
	seed    maphash.Seed
	fsid    uint64
	inodes  map[uint64]*inode
	nextIno uint64
	gen     uint64
	change  uint64
	root    fsal.Handle
}

type inode struct {
	ino, gen   uint64
	typ        fsal.FileType
	mode       uint32
	uid, gid   uint32
	nlink      uint32
	size       uint64
	rdev       [2]uint32
	atime      fsal.Time
	mtime      fsal.Time
	ctime      fsal.Time
	btime      fsal.Time
	change     uint64
	opens      int
	pages      map[uint64]*[pageSize]byte // regular files: sparse data
	target     string                     // symlinks
	verf       *[8]byte                   // exclusive create's verifier
	parent     *inode                     // directories
	entries    []dirent                   // directories, in cookie order
	nextCookie uint64
	locks      []*lock
}

type dirent struct {
	name   string
	cookie uint64
	in     *inode
}

type lock struct {
	f          *file
	write      bool
	start, end uint64 // inclusive
}

var (
	_ fsal.FS         = (*FS)(nil)
	_ fsal.Locker     = (*file)(nil)
	_ fsal.LockTester = (*file)(nil)
)

// New returns an empty filesystem: a root directory of root, mode 0755.
func New() *FS {
	var b [8]byte
	rand.Read(b[:])
	fs := &FS{seed: maphash.MakeSeed(), fsid: binary.LittleEndian.Uint64(b[:]), inodes: map[uint64]*inode{}, nextIno: rootIno}
	r := fs.newInode(fsal.TypeDirectory, 0o755, fsal.Root)
	r.nlink = 2
	r.parent = nil
	fs.root = fs.handle(r)
	return fs
}

func now() fsal.Time {
	t := time.Now()
	return fsal.Time{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())}
}

// newInode makes an object owned by c (caller holds mu, or is New).
func (fs *FS) newInode(t fsal.FileType, mode uint32, c *fsal.Cred) *inode {
	fs.gen++
	t0 := now()
	in := &inode{ino: fs.nextIno, gen: fs.gen, typ: t, mode: mode & 0o7777, uid: c.UID, gid: c.GID, nlink: 1,
		atime: t0, mtime: t0, ctime: t0, btime: t0, nextCookie: 3}
	fs.nextIno++
	if t == fsal.TypeRegular {
		in.pages = map[uint64]*[pageSize]byte{}
	}
	fs.touch(in)
	fs.inodes[in.ino] = in
	return in
}

// touch records a change of in's data or metadata.
func (fs *FS) touch(in *inode) {
	fs.change++
	in.change = fs.change
	in.ctime = now()
}

func (fs *FS) mac(ino, gen uint64) uint64 {
	var h maphash.Hash
	h.SetSeed(fs.seed)
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], ino)
	binary.LittleEndian.PutUint64(b[8:], gen)
	h.Write(b[:])
	return h.Sum64()
}

func (fs *FS) handle(in *inode) fsal.Handle {
	h := make(fsal.Handle, handleSize)
	binary.LittleEndian.PutUint64(h, in.ino)
	binary.LittleEndian.PutUint64(h[8:], in.gen)
	binary.LittleEndian.PutUint64(h[16:], fs.mac(in.ino, in.gen))
	return h
}

// resolve finds a handle's object (caller holds mu): EBADF if malformed,
// EACCES if not one of ours, ESTALE if gone.
func (fs *FS) resolve(h fsal.Handle) (*inode, error) {
	if len(h) != handleSize {
		return nil, syscall.EBADF
	}
	ino, gen := binary.LittleEndian.Uint64(h), binary.LittleEndian.Uint64(h[8:])
	if binary.LittleEndian.Uint64(h[16:]) != fs.mac(ino, gen) {
		return nil, syscall.EACCES
	}
	in := fs.inodes[ino]
	if in == nil || in.gen != gen {
		return nil, syscall.ESTALE
	}
	return in, nil
}

func (fs *FS) resolveDir(h fsal.Handle) (*inode, error) {
	in, err := fs.resolve(h)
	if err != nil {
		return nil, err
	}
	if in.typ != fsal.TypeDirectory {
		return nil, syscall.ENOTDIR
	}
	return in, nil
}

// Permission bits.
const (
	permR = 4
	permW = 2
	permX = 1
)

func inGroup(c *fsal.Cred, gid uint32) bool {
	if c.GID == gid {
		return true
	}
	for _, g := range c.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

// may reports whether c has all of want (permR|permW|permX) on in.
func may(c *fsal.Cred, in *inode, want uint32) bool {
	if c.UID == 0 {
		// Root reads and writes anything, and searches or executes
		// what anyone may.
		return want&permX == 0 || in.typ == fsal.TypeDirectory || in.mode&0o111 != 0
	}
	var bits uint32
	switch {
	case c.UID == in.uid:
		bits = in.mode >> 6
	case inGroup(c, in.gid):
		bits = in.mode >> 3
	default:
		bits = in.mode
	}
	return bits&want == want
}

func (fs *FS) lookupLocked(c *fsal.Cred, dir fsal.Handle, name string) (*inode, *inode, error) {
	d, err := fs.resolveDir(dir)
	if err != nil {
		return nil, nil, err
	}
	if err := fsal.ValidName(name); err != nil {
		return nil, nil, err
	}
	if !may(c, d, permX) {
		return nil, nil, syscall.EACCES
	}
	for _, e := range d.entries {
		if e.name == name {
			return d, e.in, nil
		}
	}
	return d, nil, syscall.ENOENT
}

func (fs *FS) attr(in *inode) fsal.Attr {
	var used uint64
	if in.pages != nil {
		used = uint64(len(in.pages)) * pageSize
	}
	return fsal.Attr{
		Type: in.typ, Mode: in.mode, Nlink: in.nlink, UID: in.uid, GID: in.gid,
		Size: in.size, SpaceUsed: used, RdevMajor: in.rdev[0], RdevMinor: in.rdev[1],
		Fileid: in.ino, FsidMajor: fs.fsid, Change: in.change,
		Atime: in.atime, Mtime: in.mtime, Ctime: in.ctime, Btime: in.btime,
	}
}

// Root returns the root directory's handle.
func (fs *FS) Root() fsal.Handle { return fs.root }

// Check validates a handle.
func (fs *FS) Check(_ context.Context, h fsal.Handle) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, err := fs.resolve(h)
	return err
}

// Getattr returns an object's attributes.
func (fs *FS) Getattr(_ context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, err := fs.resolve(h)
	if err != nil {
		return fsal.Attr{}, err
	}
	return fs.attr(in), nil
}

// Setattr changes attributes with the permission rules of chmod, chown,
// truncate and utimes.
func (fs *FS) Setattr(_ context.Context, c *fsal.Cred, h fsal.Handle, sa *fsal.SetAttr) (fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, err := fs.resolve(h)
	if err != nil {
		return fsal.Attr{}, err
	}
	if err := fs.setattr(c, in, sa); err != nil {
		return fsal.Attr{}, err
	}
	return fs.attr(in), nil
}

func (fs *FS) setattr(c *fsal.Cred, in *inode, sa *fsal.SetAttr) error {
	if sa == nil || sa.Mask == 0 {
		return nil
	}
	owner := c.UID == 0 || c.UID == in.uid
	if sa.Mask&fsal.SetMode != 0 && !owner {
		return syscall.EPERM
	}
	if sa.Mask&fsal.SetUID != 0 && c.UID != 0 && sa.UID != in.uid {
		return syscall.EPERM
	}
	if sa.Mask&fsal.SetGID != 0 && c.UID != 0 && sa.GID != in.gid && (c.UID != in.uid || !inGroup(c, sa.GID)) {
		return syscall.EPERM
	}
	if sa.Mask&fsal.SetSize != 0 {
		if in.typ == fsal.TypeDirectory {
			return syscall.EISDIR
		}
		if in.typ != fsal.TypeRegular {
			return syscall.EINVAL
		}
		if !may(c, in, permW) {
			return syscall.EACCES
		}
	}
	if sa.Mask&(fsal.SetAtime|fsal.SetMtime) != 0 && !owner {
		return syscall.EPERM
	}
	if sa.Mask&(fsal.SetAtimeNow|fsal.SetMtimeNow) != 0 && !owner && !may(c, in, permW) {
		return syscall.EACCES
	}
	t0 := now()
	if sa.Mask&fsal.SetMode != 0 {
		in.mode = sa.Mode & 0o7777
	}
	if sa.Mask&fsal.SetUID != 0 {
		in.uid = sa.UID
	}
	if sa.Mask&fsal.SetGID != 0 {
		in.gid = sa.GID
	}
	if sa.Mask&fsal.SetSize != 0 {
		in.truncate(sa.Size)
		in.mtime = t0
	}
	if sa.Mask&fsal.SetAtime != 0 {
		in.atime = sa.Atime
	}
	if sa.Mask&fsal.SetAtimeNow != 0 {
		in.atime = t0
	}
	if sa.Mask&fsal.SetMtime != 0 {
		in.mtime = sa.Mtime
	}
	if sa.Mask&fsal.SetMtimeNow != 0 {
		in.mtime = t0
	}
	fs.touch(in)
	return nil
}

// truncate sets a regular file's size, dropping the data beyond it.
func (in *inode) truncate(size uint64) {
	if size < in.size {
		for p := range in.pages {
			if p*pageSize >= size {
				delete(in.pages, p)
			}
		}
		if pg := in.pages[size/pageSize]; pg != nil {
			clear(pg[size%pageSize:])
		}
	}
	in.size = size
}

// Lookup finds a name in a directory (search permission needed).
func (fs *FS) Lookup(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string) (fsal.Handle, fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, in, err := fs.lookupLocked(c, dir, name)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	return fs.handle(in), fs.attr(in), nil
}

// Parent returns a directory's parent; ENOENT at the root.
func (fs *FS) Parent(_ context.Context, c *fsal.Cred, dir fsal.Handle) (fsal.Handle, fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, err := fs.resolveDir(dir)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	if !may(c, d, permX) {
		return nil, fsal.Attr{}, syscall.EACCES
	}
	if d.parent == nil {
		return nil, fsal.Attr{}, syscall.ENOENT
	}
	return fs.handle(d.parent), fs.attr(d.parent), nil
}

// prepareCreate checks that c may add name to dir (caller holds mu) and
// returns the directory and the object already named so, if any.
func (fs *FS) prepareCreate(c *fsal.Cred, dir fsal.Handle, name string) (*inode, *inode, error) {
	d, old, err := fs.lookupLocked(c, dir, name)
	if err != nil && err != syscall.ENOENT {
		return nil, nil, err
	}
	if old == nil && !may(c, d, permW|permX) {
		return nil, nil, syscall.EACCES
	}
	return d, old, nil
}

// link adds an entry (caller holds mu).
func (fs *FS) link(d *inode, name string, in *inode) {
	d.entries = append(d.entries, dirent{name: name, cookie: d.nextCookie, in: in})
	d.nextCookie++
	d.mtime = now()
	fs.touch(d)
}

// initAttrs applies a new object's create attributes, as its creator
// (caller holds mu).
func (fs *FS) initAttrs(in *inode, sa *fsal.SetAttr) {
	if sa == nil {
		return
	}
	if sa.Mask&fsal.SetUID != 0 {
		in.uid = sa.UID
	}
	if sa.Mask&fsal.SetGID != 0 {
		in.gid = sa.GID
	}
	if sa.Mask&fsal.SetSize != 0 && in.typ == fsal.TypeRegular {
		in.truncate(sa.Size)
	}
	if sa.Mask&fsal.SetAtime != 0 {
		in.atime = sa.Atime
	}
	if sa.Mask&fsal.SetMtime != 0 {
		in.mtime = sa.Mtime
	}
}

func modeOf(sa *fsal.SetAttr, def uint32) uint32 {
	if sa != nil && sa.Mask&fsal.SetMode != 0 {
		return sa.Mode & 0o7777
	}
	return def
}

// Create makes a regular file (see fsal.FS).
func (fs *FS) Create(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, mode fsal.CreateMode, sa *fsal.SetAttr, verf [8]byte) (fsal.Handle, fsal.Attr, bool, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, old, err := fs.prepareCreate(c, dir, name)
	if err != nil {
		return nil, fsal.Attr{}, false, err
	}
	if old != nil {
		switch {
		case mode == fsal.Guarded:
			return nil, fsal.Attr{}, false, syscall.EEXIST
		case mode == fsal.Exclusive:
			if old.typ != fsal.TypeRegular || old.verf == nil || *old.verf != verf {
				return nil, fsal.Attr{}, false, syscall.EEXIST
			}
		case old.typ == fsal.TypeDirectory:
			return nil, fsal.Attr{}, false, syscall.EISDIR
		case old.typ != fsal.TypeRegular:
			return nil, fsal.Attr{}, false, syscall.EEXIST
		case sa != nil && sa.Mask&fsal.SetSize != 0:
			// An unchecked create of an existing file applies only
			// its size (O_TRUNC).
			if err := fs.setattr(c, old, &fsal.SetAttr{Mask: fsal.SetSize, Size: sa.Size}); err != nil {
				return nil, fsal.Attr{}, false, err
			}
		}
		return fs.handle(old), fs.attr(old), true, nil
	}
	in := fs.newInode(fsal.TypeRegular, modeOf(sa, 0o644), c)
	fs.initAttrs(in, sa)
	if mode == fsal.Exclusive {
		v := verf
		in.verf = &v
	}
	fs.link(d, name, in)
	return fs.handle(in), fs.attr(in), false, nil
}

// Mkdir makes a directory.
func (fs *FS) Mkdir(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, old, err := fs.prepareCreate(c, dir, name)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	if old != nil {
		return nil, fsal.Attr{}, syscall.EEXIST
	}
	in := fs.newInode(fsal.TypeDirectory, modeOf(sa, 0o755)&0o7777, c)
	in.nlink = 2
	in.parent = d
	fs.initAttrs(in, sa)
	d.nlink++
	fs.link(d, name, in)
	return fs.handle(in), fs.attr(in), nil
}

// Symlink makes a symbolic link.
func (fs *FS) Symlink(_ context.Context, c *fsal.Cred, dir fsal.Handle, name, target string, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, old, err := fs.prepareCreate(c, dir, name)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	if old != nil {
		return nil, fsal.Attr{}, syscall.EEXIST
	}
	in := fs.newInode(fsal.TypeSymlink, 0o777, c)
	in.target = target
	in.size = uint64(len(target))
	fs.initAttrs(in, sa)
	fs.link(d, name, in)
	return fs.handle(in), fs.attr(in), nil
}

// Mknod makes a device (root only), FIFO or socket.
func (fs *FS) Mknod(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string, t fsal.FileType, major, minor uint32, sa *fsal.SetAttr) (fsal.Handle, fsal.Attr, error) {
	switch t {
	case fsal.TypeFIFO, fsal.TypeSocket, fsal.TypeChar, fsal.TypeBlock:
	default:
		return nil, fsal.Attr{}, syscall.EINVAL
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, old, err := fs.prepareCreate(c, dir, name)
	if err != nil {
		return nil, fsal.Attr{}, err
	}
	if old != nil {
		return nil, fsal.Attr{}, syscall.EEXIST
	}
	if (t == fsal.TypeChar || t == fsal.TypeBlock) && c.UID != 0 {
		return nil, fsal.Attr{}, syscall.EPERM
	}
	in := fs.newInode(t, modeOf(sa, 0o644), c)
	in.rdev = [2]uint32{major, minor}
	fs.initAttrs(in, sa)
	fs.link(d, name, in)
	return fs.handle(in), fs.attr(in), nil
}

// Readlink returns a symbolic link's target.
func (fs *FS) Readlink(_ context.Context, _ *fsal.Cred, h fsal.Handle) (string, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, err := fs.resolve(h)
	if err != nil {
		return "", err
	}
	if in.typ != fsal.TypeSymlink {
		return "", syscall.EINVAL
	}
	return in.target, nil
}

// unlink removes entry i of d (caller holds mu, checks done).
func (fs *FS) unlink(d *inode, i int) {
	in := d.entries[i].in
	d.entries = append(d.entries[:i], d.entries[i+1:]...)
	d.mtime = now()
	fs.touch(d)
	if in.typ == fsal.TypeDirectory {
		d.nlink--
		in.nlink = 0
	} else {
		in.nlink--
	}
	fs.touch(in)
	fs.maybeFree(in)
}

// maybeFree forgets an object with no name and no open file: its handle
// is stale from now on.
func (fs *FS) maybeFree(in *inode) {
	if in.nlink == 0 && in.opens == 0 {
		delete(fs.inodes, in.ino)
	}
}

func (d *inode) index(name string) int {
	for i, e := range d.entries {
		if e.name == name {
			return i
		}
	}
	return -1
}

// sticky reports whether c may not remove or rename victim out of d for
// d's sticky bit.
func sticky(c *fsal.Cred, d, victim *inode) bool {
	return d.mode&0o1000 != 0 && c.UID != 0 && c.UID != d.uid && c.UID != victim.uid
}

// Remove unlinks a name, file or empty directory alike.
func (fs *FS) Remove(_ context.Context, c *fsal.Cred, dir fsal.Handle, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, in, err := fs.lookupLocked(c, dir, name)
	if err != nil {
		return err
	}
	if !may(c, d, permW|permX) {
		return syscall.EACCES
	}
	if sticky(c, d, in) {
		return syscall.EPERM
	}
	if in.typ == fsal.TypeDirectory && len(in.entries) > 0 {
		return syscall.ENOTEMPTY
	}
	fs.unlink(d, d.index(name))
	return nil
}

// Rename moves a name, replacing what the new name named, with rename(2)'s
// rules.
func (fs *FS) Rename(_ context.Context, c *fsal.Cred, srcDir fsal.Handle, srcName string, dstDir fsal.Handle, dstName string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	sd, in, err := fs.lookupLocked(c, srcDir, srcName)
	if err != nil {
		return err
	}
	dd, old, err := fs.lookupLocked(c, dstDir, dstName)
	if err != nil && err != syscall.ENOENT {
		return err
	}
	if !may(c, sd, permW|permX) || !may(c, dd, permW|permX) {
		return syscall.EACCES
	}
	if sticky(c, sd, in) || (old != nil && sticky(c, dd, old)) {
		return syscall.EPERM
	}
	if old == in {
		return nil // two names of one object: nothing to do
	}
	if in.typ == fsal.TypeDirectory {
		for p := dd; p != nil; p = p.parent {
			if p == in {
				return syscall.EINVAL // into its own subtree
			}
		}
	}
	if old != nil {
		switch {
		case in.typ == fsal.TypeDirectory && old.typ != fsal.TypeDirectory:
			return syscall.ENOTDIR
		case in.typ != fsal.TypeDirectory && old.typ == fsal.TypeDirectory:
			return syscall.EISDIR
		case old.typ == fsal.TypeDirectory && len(old.entries) > 0:
			return syscall.ENOTEMPTY
		}
		fs.unlink(dd, dd.index(dstName))
	}
	i := sd.index(srcName)
	sd.entries = append(sd.entries[:i], sd.entries[i+1:]...)
	sd.mtime = now()
	fs.touch(sd)
	if in.typ == fsal.TypeDirectory && sd != dd {
		sd.nlink--
		dd.nlink++
		in.parent = dd
	}
	fs.link(dd, dstName, in)
	fs.touch(in)
	return nil
}

// Link adds a name for a non-directory.
func (fs *FS) Link(_ context.Context, c *fsal.Cred, h fsal.Handle, dir fsal.Handle, name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, err := fs.resolve(h)
	if err != nil {
		return err
	}
	d, old, err := fs.prepareCreate(c, dir, name)
	if err != nil {
		return err
	}
	if old != nil {
		return syscall.EEXIST
	}
	if in.typ == fsal.TypeDirectory {
		return syscall.EPERM
	}
	if in.nlink == 0 {
		return syscall.ENOENT
	}
	in.nlink++
	fs.touch(in)
	fs.link(d, name, in)
	return nil
}

// Readdir lists a directory in creation order; cookies are positions in
// that order, so a removal never moves the others.
func (fs *FS) Readdir(_ context.Context, c *fsal.Cred, dir fsal.Handle, cookie uint64, withAttrs bool, fn func(e *fsal.DirEntry) bool) (bool, error) {
	fs.mu.Lock()
	d, err := fs.resolveDir(dir)
	if err == nil && !may(c, d, permR) {
		err = syscall.EACCES
	}
	if err != nil {
		fs.mu.Unlock()
		return false, err
	}
	// Copy what fn needs, so that fn runs without the lock.
	var out []fsal.DirEntry
	for _, e := range d.entries {
		if e.cookie <= cookie {
			continue
		}
		de := fsal.DirEntry{Name: e.name, Cookie: e.cookie, Handle: fs.handle(e.in)}
		if withAttrs {
			de.Attr = fs.attr(e.in)
		}
		out = append(out, de)
	}
	fs.mu.Unlock()
	for i := range out {
		if !fn(&out[i]) {
			return false, nil
		}
	}
	return true, nil
}

// Open opens a regular file. The owner may open it whatever its
// permission bits, as localfs and cephfsal allow.
func (fs *FS) Open(_ context.Context, c *fsal.Cred, h fsal.Handle, flags int) (fsal.File, error) {
	if flags == 0 || flags&^(fsal.OpenRead|fsal.OpenWrite) != 0 {
		return nil, syscall.EINVAL
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	in, err := fs.resolve(h)
	if err != nil {
		return nil, err
	}
	switch in.typ {
	case fsal.TypeRegular:
	case fsal.TypeDirectory:
		return nil, syscall.EISDIR
	case fsal.TypeSymlink:
		return nil, syscall.ELOOP
	default:
		return nil, syscall.EINVAL
	}
	var want uint32
	if flags&fsal.OpenRead != 0 {
		want |= permR
	}
	if flags&fsal.OpenWrite != 0 {
		want |= permW
	}
	if c.UID != in.uid && !may(c, in, want) {
		return nil, syscall.EACCES
	}
	in.opens++
	return &file{fs: fs, in: in, flags: flags}, nil
}

// Statfs reports a fixed-size filesystem of 1 TiB with what is used.
func (fs *FS) Statfs(_ context.Context, _ *fsal.Cred, h fsal.Handle) (fsal.Statfs, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, err := fs.resolve(h); err != nil {
		return fsal.Statfs{}, err
	}
	const total, files = 1 << 40, 1 << 20
	var used uint64
	for _, in := range fs.inodes {
		used += uint64(len(in.pages)) * pageSize
	}
	free := uint64(total) - min(used, total)
	ffree := uint64(files) - min(uint64(len(fs.inodes)), files)
	return fsal.Statfs{TotalBytes: total, FreeBytes: free, AvailBytes: free, TotalFiles: files, FreeFiles: ffree, AvailFiles: ffree}, nil
}

// file is an open regular file.
type file struct {
	fs     *FS
	in     *inode
	flags  int
	closed bool
}

// ReadAt reads at off; eof is set when the read reaches the end.
func (f *file) ReadAt(_ context.Context, p []byte, off uint64) (int, bool, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.flags&fsal.OpenRead == 0 {
		return 0, false, syscall.EBADF
	}
	in := f.in
	if off >= in.size {
		return 0, true, nil
	}
	n := int(min(uint64(len(p)), in.size-off))
	for i := 0; i < n; {
		pos := off + uint64(i)
		po := int(pos % pageSize)
		k := min(n-i, pageSize-po)
		if pg := in.pages[pos/pageSize]; pg != nil {
			copy(p[i:i+k], pg[po:po+k])
		} else {
			clear(p[i : i+k])
		}
		i += k
	}
	in.atime = now()
	return n, off+uint64(n) >= in.size, nil
}

// WriteAt writes p at off, growing the file as needed.
func (f *file) WriteAt(_ context.Context, p []byte, off uint64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed || f.flags&fsal.OpenWrite == 0 {
		return 0, syscall.EBADF
	}
	if off > math.MaxInt64 || uint64(len(p)) > math.MaxInt64-off {
		return 0, syscall.EFBIG
	}
	in := f.in
	for i := 0; i < len(p); {
		pos := off + uint64(i)
		po := int(pos % pageSize)
		k := min(len(p)-i, pageSize-po)
		pg := in.pages[pos/pageSize]
		if pg == nil {
			pg = new([pageSize]byte)
			in.pages[pos/pageSize] = pg
		}
		copy(pg[po:po+k], p[i:i+k])
		i += k
	}
	if end := off + uint64(len(p)); end > in.size {
		in.size = end
	}
	in.mtime = now()
	f.fs.touch(in)
	return len(p), nil
}

// Sync has nothing to make stable.
func (f *file) Sync(context.Context, bool) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	return nil
}

// Close releases the file's locks; the last close of a removed file
// forgets it.
func (f *file) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	f.closed = true
	in := f.in
	in.locks = carve(in.locks, f, 0, math.MaxUint64)
	in.opens--
	f.fs.maybeFree(in)
	return nil
}

// lockRange converts an fsal range (length 0: to the end) to an
// inclusive one.
func lockRange(off, length uint64) (uint64, uint64) {
	if length == 0 || off+length-1 < off {
		return off, math.MaxUint64
	}
	return off, off + length - 1
}

// SetLock takes a byte-range lock held by this File (OFD semantics: owner
// is not used), without waiting: EAGAIN on a conflict.
func (f *file) SetLock(_ context.Context, _ uint64, t fsal.LockType, off, length uint64) error {
	if t != fsal.ReadLock && t != fsal.WriteLock {
		return syscall.EINVAL
	}
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	start, end := lockRange(off, length)
	write := t == fsal.WriteLock
	if f.conflict(start, end, write) != nil {
		return syscall.EAGAIN
	}
	in := f.in
	in.locks = append(carve(in.locks, f, start, end), &lock{f: f, write: write, start: start, end: end})
	return nil
}

func (f *file) conflict(start, end uint64, write bool) *lock {
	for _, l := range f.in.locks {
		if l.f != f && l.start <= end && start <= l.end && (write || l.write) {
			return l
		}
	}
	return nil
}

// Unlock releases [off, off+length) of this File's locks.
func (f *file) Unlock(_ context.Context, _ uint64, off, length uint64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return syscall.EBADF
	}
	start, end := lockRange(off, length)
	f.in.locks = carve(f.in.locks, f, start, end)
	return nil
}

// TestLock reports a lock of another File that would conflict.
func (f *file) TestLock(_ context.Context, _ uint64, t fsal.LockType, off, length uint64) (bool, fsal.LockType, uint64, uint64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return false, 0, 0, 0, syscall.EBADF
	}
	start, end := lockRange(off, length)
	l := f.conflict(start, end, t == fsal.WriteLock)
	if l == nil {
		return false, 0, 0, 0, nil
	}
	ct := fsal.ReadLock
	if l.write {
		ct = fsal.WriteLock
	}
	var n uint64 // 0: to the end
	if l.end != math.MaxUint64 {
		n = l.end - l.start + 1
	}
	return true, ct, l.start, n, nil
}

// carve removes [start, end] from f's locks, splitting those that
// straddle it.
func carve(locks []*lock, f *file, start, end uint64) []*lock {
	out := locks[:0:0]
	for _, l := range locks {
		if l.f != f || l.end < start || end < l.start {
			out = append(out, l)
			continue
		}
		if l.start < start {
			out = append(out, &lock{f: f, write: l.write, start: l.start, end: start - 1})
		}
		if l.end > end {
			out = append(out, &lock{f: f, write: l.write, start: end + 1, end: l.end})
		}
	}
	return out
}
