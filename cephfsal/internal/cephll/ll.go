//go:build !noceph

package cephll

/*
#include <stdlib.h>
#include <fcntl.h>
#include <dirent.h>
#include <sys/statvfs.h>
#include <cephfs/libcephfs.h>

static int nfsgw_lookup_inode(struct ceph_mount_info *cm, uint64_t ino, struct Inode **out) {
	inodeno_t v = { ino };
	return ceph_ll_lookup_inode(cm, v, out);
}

// nfsgw_readdirplus_batch reads up to n entries in one cgo call; *got is
// how many were filled. It returns ceph_readdirplus_r's last result: 1 when
// more may follow, 0 at the end, negative on error.
static int nfsgw_readdirplus_batch(struct ceph_mount_info *cm, struct ceph_dir_result *d,
		struct dirent *de, struct ceph_statx *st, struct Inode **out, int n,
		unsigned want, unsigned flags, int *got) {
	int i, r = 1;
	for (i = 0; i < n; i++) {
		r = ceph_readdirplus_r(cm, d, &de[i], &st[i], want, flags, &out[i]);
		if (r <= 0)
			break;
	}
	*got = i;
	return r;
}
*/
import "C"

import (
	"context"
	"syscall"
	"unsafe"
)

// Statx request masks and flags.
const (
	StatxBasic   = uint(C.CEPH_STATX_BASIC_STATS)
	StatxBtime   = uint(C.CEPH_STATX_BTIME)
	StatxVersion = uint(C.CEPH_STATX_VERSION)
	StatxIno     = uint(C.CEPH_STATX_INO)
	StatxMode    = uint(C.CEPH_STATX_MODE)
	StatxNlink   = uint(C.CEPH_STATX_NLINK)
	StatxUID     = uint(C.CEPH_STATX_UID)
	StatxSize    = uint(C.CEPH_STATX_SIZE)
	StatxAll     = uint(C.CEPH_STATX_ALL_STATS)

	// NoFollow: attributes of a symlink itself.
	NoFollow = uint(C.AT_SYMLINK_NOFOLLOW)
	// DontSync: whatever the client has cached, without asking the MDS.
	DontSync = uint(C.AT_STATX_DONT_SYNC)
)

// Setattr mask bits.
const (
	SetMode     = int(C.CEPH_SETATTR_MODE)
	SetUID      = int(C.CEPH_SETATTR_UID)
	SetGID      = int(C.CEPH_SETATTR_GID)
	SetMtime    = int(C.CEPH_SETATTR_MTIME)
	SetAtime    = int(C.CEPH_SETATTR_ATIME)
	SetSize     = int(C.CEPH_SETATTR_SIZE)
	SetMtimeNow = int(C.CEPH_SETATTR_MTIME_NOW)
	SetAtimeNow = int(C.CEPH_SETATTR_ATIME_NOW)
	SetCtime    = int(C.CEPH_SETATTR_CTIME)
	KillSguid   = int(C.CEPH_SETATTR_KILL_SGUID)
)

// Delegation commands.
const (
	DelegNone  = uint(C.CEPH_DELEGATION_NONE)
	DelegRead  = uint(C.CEPH_DELEGATION_RD)
	DelegWrite = uint(C.CEPH_DELEGATION_WR)
)

// Inode is a referenced libcephfs inode. Each successful call returning one
// took a reference that the caller must drop with Put.
type Inode struct{ p *C.struct_Inode }

// Valid reports whether in refers to an inode.
func (in Inode) Valid() bool { return in.p != nil }

// Fh is an open file.
type Fh struct{ p *C.Fh }

// Dir is an open directory stream.
type Dir struct{ p *C.struct_ceph_dir_result }

// Statx is libcephfs' struct ceph_statx.
type Statx C.struct_ceph_statx

func (s *Statx) c() *C.struct_ceph_statx { return (*C.struct_ceph_statx)(unsafe.Pointer(s)) }

// Mask reports which fields are valid.
func (s *Statx) Mask() uint      { return uint(s.stx_mask) }
func (s *Statx) Mode() uint32    { return uint32(s.stx_mode) }
func (s *Statx) Nlink() uint32   { return uint32(s.stx_nlink) }
func (s *Statx) UID() uint32     { return uint32(s.stx_uid) }
func (s *Statx) GID() uint32     { return uint32(s.stx_gid) }
func (s *Statx) Ino() uint64     { return uint64(s.stx_ino) }
func (s *Statx) Size() uint64    { return uint64(s.stx_size) }
func (s *Statx) Blocks() uint64  { return uint64(s.stx_blocks) }
func (s *Statx) Rdev() uint64    { return uint64(s.stx_rdev) }
func (s *Statx) Dev() uint64     { return uint64(s.stx_dev) }
func (s *Statx) Version() uint64 { return uint64(s.stx_version) }

// Atime and friends return seconds and nanoseconds.
func (s *Statx) Atime() (int64, uint32) { return ts(s.stx_atime) }
func (s *Statx) Mtime() (int64, uint32) { return ts(s.stx_mtime) }
func (s *Statx) Ctime() (int64, uint32) { return ts(s.stx_ctime) }
func (s *Statx) Btime() (int64, uint32) { return ts(s.stx_btime) }

func ts(t C.struct_timespec) (int64, uint32) { return int64(t.tv_sec), uint32(t.tv_nsec) }

// SetFields fills what Setattr reads; which of them apply is the mask's job.
func (s *Statx) SetFields(mode, uid, gid uint32, size uint64, atime, mtime [2]int64) {
	s.stx_mode = C.uint16_t(mode)
	s.stx_uid = C.uint32_t(uid)
	s.stx_gid = C.uint32_t(gid)
	s.stx_size = C.uint64_t(size)
	s.stx_atime = C.struct_timespec{tv_sec: C.time_t(atime[0]), tv_nsec: C.long(atime[1])}
	s.stx_mtime = C.struct_timespec{tv_sec: C.time_t(mtime[0]), tv_nsec: C.long(mtime[1])}
}

// SetCtimeField fills the ctime Setattr reads with SetCtime.
func (s *Statx) SetCtimeField(sec int64, nsec uint32) {
	s.stx_ctime = C.struct_timespec{tv_sec: C.time_t(sec), tv_nsec: C.long(nsec)}
}

func cstr(s string) *C.char { return C.CString(s) }
func free(p *C.char)        { C.free(unsafe.Pointer(p)) }

// LookupRoot returns the mount's root directory.
func (m *Mount) LookupRoot(ctx context.Context) (Inode, error) {
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallLookupRoot, t0, errno(C.ceph_ll_lookup_root(m.cm, &in.p)))
}

// Walk resolves a path from the mount root, following symlinks but the
// last.
func (m *Mount) Walk(ctx context.Context, path string, st *Statx, want, flags uint, p *Perm) (Inode, error) {
	cp := cstr(path)
	defer free(cp)
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallWalk, t0, errno(C.ceph_ll_walk(m.cm, cp, &in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// Lookup looks name up in parent ("." and ".." included).
func (m *Mount) Lookup(ctx context.Context, parent Inode, name string, st *Statx, want, flags uint, p *Perm) (Inode, error) {
	cn := cstr(name)
	defer free(cn)
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallLookup, t0, errno(C.ceph_ll_lookup(m.cm, parent.p, cn, &in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// LookupInode finds an inode by number (live version), asking the MDS when
// the client does not have it cached.
func (m *Mount) LookupInode(ctx context.Context, ino uint64) (Inode, error) {
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallLookupInode, t0, errno(C.nfsgw_lookup_inode(m.cm, C.uint64_t(ino), &in.p)))
}

// Put drops a reference.
func (m *Mount) Put(in Inode) {
	C.ceph_ll_put(m.cm, in.p)
}

// Getattr fills st with the want fields (flags: NoFollow, DontSync).
func (m *Mount) Getattr(ctx context.Context, in Inode, st *Statx, want, flags uint, p *Perm) error {
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallGetattr, t0, errno(C.ceph_ll_getattr(m.cm, in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// Setattr applies the fields of st named by mask (Set* bits).
func (m *Mount) Setattr(ctx context.Context, in Inode, st *Statx, mask int, p *Perm) error {
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallSetattr, t0, errno(C.ceph_ll_setattr(m.cm, in.p, st.c(), C.int(mask), p.p)))
}

// Open opens a file with open(2) flags.
func (m *Mount) Open(ctx context.Context, in Inode, flags int, p *Perm) (Fh, error) {
	var fh Fh
	if err := m.enterMeta(ctx); err != nil {
		return Fh{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return fh, observe(CallOpen, t0, errno(C.ceph_ll_open(m.cm, in.p, C.int(flags), &fh.p, p.p)))
}

// Create creates (oflags O_CREAT, maybe O_EXCL) and opens a regular file.
func (m *Mount) Create(ctx context.Context, parent Inode, name string, mode uint32, oflags int, st *Statx, want, flags uint, p *Perm) (Inode, Fh, error) {
	cn := cstr(name)
	defer free(cn)
	var in Inode
	var fh Fh
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, Fh{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	err := observe(CallCreate, t0, errno(C.ceph_ll_create(m.cm, parent.p, cn, C.mode_t(mode), C.int(oflags), &in.p, &fh.p, st.c(), C.uint(want), C.uint(flags), p.p)))
	return in, fh, err
}

// Mknod creates any non-directory (S_IFREG included) without opening it.
func (m *Mount) Mknod(ctx context.Context, parent Inode, name string, mode uint32, rdev uint64, st *Statx, want, flags uint, p *Perm) (Inode, error) {
	cn := cstr(name)
	defer free(cn)
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallMknod, t0, errno(C.ceph_ll_mknod(m.cm, parent.p, cn, C.mode_t(mode), C.dev_t(rdev), &in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// Mkdir creates a directory.
func (m *Mount) Mkdir(ctx context.Context, parent Inode, name string, mode uint32, st *Statx, want, flags uint, p *Perm) (Inode, error) {
	cn := cstr(name)
	defer free(cn)
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallMkdir, t0, errno(C.ceph_ll_mkdir(m.cm, parent.p, cn, C.mode_t(mode), &in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// Symlink creates a symbolic link.
func (m *Mount) Symlink(ctx context.Context, parent Inode, name, target string, st *Statx, want, flags uint, p *Perm) (Inode, error) {
	cn, ct := cstr(name), cstr(target)
	defer free(cn)
	defer free(ct)
	var in Inode
	if err := m.enterMeta(ctx); err != nil {
		return Inode{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return in, observe(CallSymlink, t0, errno(C.ceph_ll_symlink(m.cm, parent.p, cn, ct, &in.p, st.c(), C.uint(want), C.uint(flags), p.p)))
}

// Readlink reads a symlink's target into buf, returning its length.
func (m *Mount) Readlink(ctx context.Context, in Inode, buf []byte, p *Perm) (int, error) {
	if len(buf) == 0 {
		return 0, syscall.EINVAL
	}
	if err := m.enterMeta(ctx); err != nil {
		return 0, err
	}
	defer m.leaveMeta()
	t0 := begin()
	r := C.ceph_ll_readlink(m.cm, in.p, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), p.p)
	observe(CallReadlink, t0, errno(r))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return int(r), nil
}

// Unlink removes a non-directory entry.
func (m *Mount) Unlink(ctx context.Context, parent Inode, name string, p *Perm) error {
	cn := cstr(name)
	defer free(cn)
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallUnlink, t0, errno(C.ceph_ll_unlink(m.cm, parent.p, cn, p.p)))
}

// Rmdir removes an empty directory.
func (m *Mount) Rmdir(ctx context.Context, parent Inode, name string, p *Perm) error {
	cn := cstr(name)
	defer free(cn)
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallRmdir, t0, errno(C.ceph_ll_rmdir(m.cm, parent.p, cn, p.p)))
}

// Rename moves an entry.
func (m *Mount) Rename(ctx context.Context, parent Inode, name string, newParent Inode, newName string, p *Perm) error {
	cn, cnn := cstr(name), cstr(newName)
	defer free(cn)
	defer free(cnn)
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallRename, t0, errno(C.ceph_ll_rename(m.cm, parent.p, cn, newParent.p, cnn, p.p)))
}

// Link adds a hard link to in.
func (m *Mount) Link(ctx context.Context, in, newParent Inode, name string, p *Perm) error {
	cn := cstr(name)
	defer free(cn)
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallLink, t0, errno(C.ceph_ll_link(m.cm, in.p, newParent.p, cn, p.p)))
}

// Read reads at off; 0 bytes means end of file.
func (m *Mount) Read(ctx context.Context, fh Fh, off int64, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if err := m.enterData(ctx); err != nil {
		return 0, err
	}
	defer m.leaveData()
	t0 := begin()
	r := C.ceph_ll_read(m.cm, fh.p, C.int64_t(off), C.uint64_t(len(buf)), (*C.char)(unsafe.Pointer(&buf[0])))
	observe(CallRead, t0, errno(r))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return int(r), nil
}

// Write writes at off.
func (m *Mount) Write(ctx context.Context, fh Fh, off int64, buf []byte) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if err := m.enterData(ctx); err != nil {
		return 0, err
	}
	defer m.leaveData()
	t0 := begin()
	r := C.ceph_ll_write(m.cm, fh.p, C.int64_t(off), C.uint64_t(len(buf)), (*C.char)(unsafe.Pointer(&buf[0])))
	observe(CallWrite, t0, errno(r))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return int(r), nil
}

// Fsync makes written data (and, unless dataOnly, metadata) stable.
func (m *Mount) Fsync(ctx context.Context, fh Fh, dataOnly bool) error {
	d := C.int(0)
	if dataOnly {
		d = 1
	}
	if err := m.enterData(ctx); err != nil {
		return err
	}
	defer m.leaveData()
	t0 := begin()
	return observe(CallFsync, t0, errno(C.ceph_ll_fsync(m.cm, fh.p, d)))
}

// Fallocate manipulates the allocated space of an open file (mode as
// fallocate(2); Pacific supports 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE).
func (m *Mount) Fallocate(ctx context.Context, fh Fh, mode int, off, length int64) error {
	if err := m.enterData(ctx); err != nil {
		return err
	}
	defer m.leaveData()
	t0 := begin()
	return observe(CallFallocate, t0, errno(C.ceph_ll_fallocate(m.cm, fh.p, C.int(mode), C.int64_t(off), C.int64_t(length))))
}

// SyncInode flushes an inode's dirty data and metadata (caps) to the
// cluster.
func (m *Mount) SyncInode(ctx context.Context, in Inode, dataOnly bool) error {
	d := C.int(0)
	if dataOnly {
		d = 1
	}
	if err := m.enterData(ctx); err != nil {
		return err
	}
	defer m.leaveData()
	t0 := begin()
	return observe(CallSyncInode, t0, errno(C.ceph_ll_sync_inode(m.cm, in.p, d)))
}

// Close closes an open file, releasing the locks taken through it.
func (m *Mount) Close(ctx context.Context, fh Fh) error {
	if err := m.enterData(ctx); err != nil {
		return err
	}
	defer m.leaveData()
	t0 := begin()
	return observe(CallClose, t0, errno(C.ceph_ll_close(m.cm, fh.p)))
}

// Opendir opens a directory stream (needs read permission).
func (m *Mount) Opendir(ctx context.Context, in Inode, p *Perm) (Dir, error) {
	var d Dir
	if err := m.enterMeta(ctx); err != nil {
		return Dir{}, err
	}
	defer m.leaveMeta()
	t0 := begin()
	return d, observe(CallOpendir, t0, errno(C.ceph_ll_opendir(m.cm, in.p, &d.p, p.p)))
}

// Releasedir closes a directory stream.
func (m *Mount) Releasedir(d Dir) error {
	return errno(C.ceph_ll_releasedir(m.cm, d.p))
}

// Dirent is a struct dirent.
type Dirent C.struct_dirent

// Name returns the entry's name.
func (d *Dirent) Name() string { return C.GoString(&d.d_name[0]) }

// Off is the stream position after this entry (what Seekdir takes to
// resume with the next one).
func (d *Dirent) Off() int64 { return int64(d.d_off) }

// Ino is the entry's inode number.
func (d *Dirent) Ino() uint64 { return uint64(d.d_ino) }

// Readdir reads the next entry; false at the end.
func (m *Mount) Readdir(ctx context.Context, d Dir, de *Dirent) (bool, error) {
	if err := m.enterMeta(ctx); err != nil {
		return false, err
	}
	defer m.leaveMeta()
	t0 := begin()
	r := C.ceph_readdir_r(m.cm, d.p, (*C.struct_dirent)(unsafe.Pointer(de)))
	observe(CallReaddir, t0, errno(r))
	if r < 0 {
		return false, syscall.Errno(-r)
	}
	return r == 1, nil
}

// DirBatch holds the entries ReaddirPlusBatch reads in one call.
type DirBatch struct {
	Dirents []Dirent
	Statx   []Statx
	Inodes  []Inode
}

// NewDirBatch makes a batch of n entries.
func NewDirBatch(n int) *DirBatch {
	return &DirBatch{Dirents: make([]Dirent, n), Statx: make([]Statx, n), Inodes: make([]Inode, n)}
}

// ReaddirPlusBatch reads up to len(b.Dirents) entries with attributes and a
// referenced Inode each, in one admission and one cgo call (a listing made
// one of each per entry, a fifth of READDIR's CPU): got entries are filled,
// more is false at the end. Entries read before an error are returned too,
// with their references, for the caller to release.
func (m *Mount) ReaddirPlusBatch(ctx context.Context, d Dir, b *DirBatch, want, flags uint) (got int, more bool, err error) {
	if err := m.enterMeta(ctx); err != nil {
		return 0, false, err
	}
	defer m.leaveMeta()
	var n C.int
	t0 := begin()
	r := C.nfsgw_readdirplus_batch(m.cm, d.p, (*C.struct_dirent)(unsafe.Pointer(&b.Dirents[0])), b.Statx[0].c(),
		(**C.struct_Inode)(unsafe.Pointer(&b.Inodes[0])), C.int(len(b.Dirents)), C.uint(want), C.uint(flags), &n)
	observe(CallReaddirPlus, t0, errno(r))
	if r < 0 {
		return int(n), false, syscall.Errno(-r)
	}
	return int(n), r == 1, nil
}

// Telldir returns the stream position.
func (m *Mount) Telldir(d Dir) int64 { return int64(C.ceph_telldir(m.cm, d.p)) }

// Seekdir moves the stream to a position from Telldir or Dirent.Off.
func (m *Mount) Seekdir(d Dir, off int64) { C.ceph_seekdir(m.cm, d.p, C.int64_t(off)) }

// Statvfs is the part of struct statvfs that NFS reports.
type Statvfs struct {
	Bsize, Frsize              uint64
	Blocks, Bfree, Bavail      uint64
	Files, Ffree, Favail, Fsid uint64
	Namemax                    uint64
}

// Statfs reports the capacity of the filesystem holding in.
func (m *Mount) Statfs(ctx context.Context, in Inode) (Statvfs, error) {
	var s C.struct_statvfs
	if err := m.enterMeta(ctx); err != nil {
		return Statvfs{}, err
	}
	t0 := begin()
	err := observe(CallStatfs, t0, errno(C.ceph_ll_statfs(m.cm, in.p, &s)))
	m.leaveMeta()
	return Statvfs{
		Bsize: uint64(s.f_bsize), Frsize: uint64(s.f_frsize),
		Blocks: uint64(s.f_blocks), Bfree: uint64(s.f_bfree), Bavail: uint64(s.f_bavail),
		Files: uint64(s.f_files), Ffree: uint64(s.f_ffree), Favail: uint64(s.f_favail),
		Fsid: uint64(s.f_fsid), Namemax: uint64(s.f_namemax),
	}, err
}

// Getxattr reads an extended attribute into buf, returning its size (with
// an empty buf, just the size).
func (m *Mount) Getxattr(ctx context.Context, in Inode, name string, buf []byte, p *Perm) (int, error) {
	cn := cstr(name)
	defer free(cn)
	var vp unsafe.Pointer
	if len(buf) > 0 {
		vp = unsafe.Pointer(&buf[0])
	}
	if err := m.enterMeta(ctx); err != nil {
		return 0, err
	}
	defer m.leaveMeta()
	t0 := begin()
	r := C.ceph_ll_getxattr(m.cm, in.p, cn, vp, C.size_t(len(buf)), p.p)
	observe(CallGetxattr, t0, errno(r))
	if r < 0 {
		return 0, syscall.Errno(-r)
	}
	return int(r), nil
}

// Setxattr sets an extended attribute (flags: XATTR_CREATE/REPLACE).
func (m *Mount) Setxattr(ctx context.Context, in Inode, name string, val []byte, flags int, p *Perm) error {
	cn := cstr(name)
	defer free(cn)
	var vp unsafe.Pointer
	if len(val) > 0 {
		vp = unsafe.Pointer(&val[0])
	}
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallSetxattr, t0, errno(C.ceph_ll_setxattr(m.cm, in.p, cn, vp, C.size_t(len(val)), C.int(flags), p.p)))
}

// Listxattr lists attribute names (NUL-separated) into buf and returns the
// length of the full list.
func (m *Mount) Listxattr(ctx context.Context, in Inode, buf []byte, p *Perm) (int, error) {
	var bp *C.char
	if len(buf) > 0 {
		bp = (*C.char)(unsafe.Pointer(&buf[0]))
	}
	var size C.size_t
	if err := m.enterMeta(ctx); err != nil {
		return 0, err
	}
	defer m.leaveMeta()
	t0 := begin()
	if err := observe(CallListxattr, t0, errno(C.ceph_ll_listxattr(m.cm, in.p, bp, C.size_t(len(buf)), &size, p.p))); err != nil {
		return 0, err
	}
	return int(size), nil
}

// Removexattr removes an extended attribute.
func (m *Mount) Removexattr(ctx context.Context, in Inode, name string, p *Perm) error {
	cn := cstr(name)
	defer free(cn)
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallRemovexattr, t0, errno(C.ceph_ll_removexattr(m.cm, in.p, cn, p.p)))
}

// Lock types for Flock.
const (
	LockRead   = int16(C.F_RDLCK)
	LockWrite  = int16(C.F_WRLCK)
	LockUnlock = int16(C.F_UNLCK)
)

// Flock is a POSIX byte-range lock (whence SEEK_SET; Len 0 = to EOF).
type Flock struct {
	Type       int16
	Start, Len int64
	Pid        int32
}

func (f *Flock) c() C.struct_flock {
	return C.struct_flock{l_type: C.short(f.Type), l_whence: C.SEEK_SET, l_start: C.off_t(f.Start), l_len: C.off_t(f.Len), l_pid: C.pid_t(f.Pid)}
}

// Setlk takes or releases a lock for owner; without sleep a conflict is
// EAGAIN.
func (m *Mount) Setlk(ctx context.Context, fh Fh, f *Flock, owner uint64, sleep bool) error {
	cf := f.c()
	s := C.int(0)
	if sleep {
		s = 1
	}
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	defer m.leaveMeta()
	t0 := begin()
	return observe(CallSetlk, t0, errno(C.ceph_ll_setlk(m.cm, fh.p, &cf, C.uint64_t(owner), s)))
}

// Getlk tests for a conflicting lock: f comes back with Type LockUnlock if
// none, else describing the conflicting lock.
func (m *Mount) Getlk(ctx context.Context, fh Fh, f *Flock, owner uint64) error {
	cf := f.c()
	if err := m.enterMeta(ctx); err != nil {
		return err
	}
	t0 := begin()
	err := observe(CallGetlk, t0, errno(C.ceph_ll_getlk(m.cm, fh.p, &cf, C.uint64_t(owner))))
	m.leaveMeta()
	if err == nil {
		*f = Flock{Type: int16(cf.l_type), Start: int64(cf.l_start), Len: int64(cf.l_len), Pid: int32(cf.l_pid)}
	}
	return err
}
