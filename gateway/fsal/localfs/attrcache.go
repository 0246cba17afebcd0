package localfs

import (
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// READDIR's attribute cache.
//
// READDIR with attributes was a statx(dirfd, name) per entry: on a VM where
// a system call costs a microsecond that is most of a listing's CPU, while
// NFS-Ganesha answers from its metadata cache (and lets it go stale for up
// to Attr_Expiration_Time). Here the attributes and handle of a
// non-directory listed in a watched directory (notify.go) are kept while an
// inotify watch on the file itself reports nothing: IN_ATTRIB (mode,
// owner, times, link count, xattrs), IN_MODIFY (write, truncate, fallocate),
// IN_ACCESS (atime), IN_MOVE_SELF (a rename stamps ctime), IN_DELETE_SELF.
// The watch is on the inode, so a change through another hard link or
// another mount of the file system is seen too. A listing checks the queue
// once (FIONREAD) before it trusts any cached attribute, and an entry is
// used only if getdents still gives its name the cached inode number.
//
// The watch is added before the statx that fills a record, and the record
// is dropped if an event for that watch was applied in between, so a
// record never predates a change it was not told of.
//
// What no event reports, and so what this cache can serve stale until the
// next event on the file: a write through a shared writable mmap (it
// updates mtime and ctime silently), and block counts that change on
// writeback on file systems that don't report delayed allocations in
// st_blocks. Only ext4, xfs and tmpfs, which do, are cached, and the cache
// can be turned off per export (Options.NoAttrCache). Directories' own
// attributes are never cached.
//
// It is bounded: at most maxAttrs records and watches per FS, at most a
// quarter of fs.inotify.max_user_watches (which all of the user's
// processes share), and the watches go with their directory's descriptor.

// fileMask is every event that changes what statx reports of a
// non-directory.
const fileMask = unix.IN_ATTRIB | unix.IN_MODIFY | unix.IN_ACCESS | unix.IN_MOVE_SELF | unix.IN_DELETE_SELF | unix.IN_DONT_FOLLOW

// attrFS lists the file systems whose st_blocks include delayed
// allocations, so that writeback changes nothing statx reports.
var attrFS = map[int64]bool{
	unix.EXT4_SUPER_MAGIC: true,
	unix.XFS_SUPER_MAGIC:  true,
	unix.TMPFS_MAGIC:      true,
}

// fileWatch is one watched file: the records its events void. The first
// event removes it from the table, which is what voids a fill in flight.
type fileWatch struct {
	refs []attrRef
}

type attrRef struct {
	d    *dirEnts
	name string
}

// attrRec is what a directory keeps for one of its names.
type attrRec struct {
	ino uint64
	wd  int32
	a   fsal.Attr
	h   fsal.Handle
}

// attrsUsable reports whether READDIR may use and fill d's attribute
// cache now: d is watched and every change made before this call has been
// applied. It costs one ioctl. The caller checked that fs caches
// attributes at all.
func (fs *FS) attrsUsable(d *dirEnts) bool {
	return d.watched() && fs.notify.check()
}

// cachedAttr returns name's record if it still describes inode ino.
func (d *dirEnts) cachedAttr(name string, ino uint64) (attrRec, bool) {
	d.mu.RLock()
	r, ok := d.attrs[name]
	d.mu.RUnlock()
	return r, ok && r.ino == ino
}

// watchFile adds a watch on name in the directory dirfd and returns its
// descriptor and table entry, which a fill must present to addAttr; nil if
// the entry can't be cached.
func (n *notifier) watchFile(dirfd int, name string) (int32, *fileWatch) {
	if int(n.nFiles.Load()) >= n.maxAttrs {
		return 0, nil // full: don't queue on mu for nothing
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.broken.Load() || len(n.files) >= n.maxAttrs {
		return 0, nil
	}
	// Under mu, so that no event for the new watch can be applied before
	// it is in the table. IN_MASK_CREATE: an inode that already has a
	// watch (a hard link listed elsewhere, a concurrent fill, or a
	// directory after all) keeps it as it is, and this entry is not
	// cached.
	w, err := unix.InotifyAddWatch(n.fd, "/proc/self/fd/"+strconv.Itoa(dirfd)+"/"+name, fileMask|unix.IN_MASK_CREATE)
	if err != nil {
		return 0, nil
	}
	wd := int32(w)
	fw := new(fileWatch)
	n.files[wd] = fw
	n.nFiles.Store(int32(len(n.files)))
	return wd, fw
}

// addAttr records r for name in d, unless an event for its watch was
// applied since watchFile returned fw (the event removed fw from the
// table), or d left the cache.
func (n *notifier) addAttr(d *dirEnts, name string, fw *fileWatch, r attrRec) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.files[r.wd] != fw || n.nAttrs >= n.maxAttrs {
		n.unwatchIdle(r.wd, fw)
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dead {
		n.unwatchIdle(r.wd, fw)
		return
	}
	name = strings.Clone(name) // not the getdents batch it came from
	old, had := d.attrs[name]
	if had && old.wd != r.wd {
		n.forgetRef(old.wd, d, name)
	}
	if d.attrs == nil {
		d.attrs = make(map[string]attrRec)
	}
	r.h = append(fsal.Handle(nil), r.h...)
	d.attrs[name] = r
	if !had {
		n.nAttrs++
	}
	if !had || old.wd != r.wd {
		fw.refs = append(fw.refs, attrRef{d, name})
	}
}

// abandon gives up a fill of watch wd (the entry turned out to be a
// directory, or went).
func (n *notifier) abandon(wd int32) {
	n.mu.Lock()
	n.unwatchIdle(wd, n.files[wd])
	n.mu.Unlock()
}

// fileEvent applies an event on a watched file: every record it guards
// goes, and so does the watch. Called with mu held.
func (n *notifier) fileEvent(wd int32, fw *fileWatch) {
	for _, r := range fw.refs {
		r.d.mu.Lock()
		if rec, ok := r.d.attrs[r.name]; ok && rec.wd == wd {
			delete(r.d.attrs, r.name)
			n.nAttrs--
		}
		r.d.mu.Unlock()
	}
	fw.refs = nil
	// Keep no watch nobody needs: a file being written would queue an
	// event per WRITE for nothing.
	delete(n.files, wd)
	n.nFiles.Store(int32(len(n.files)))
	unix.InotifyRmWatch(n.fd, uint32(wd))
}

// forgetRef removes (d, name) from the refs of watch wd, and the watch
// with its last ref. Called with mu held.
func (n *notifier) forgetRef(wd int32, d *dirEnts, name string) {
	fw := n.files[wd]
	if fw == nil {
		return
	}
	for i, r := range fw.refs {
		if r.d == d && r.name == name {
			fw.refs = append(fw.refs[:i], fw.refs[i+1:]...)
			break
		}
	}
	n.unwatchIdle(wd, fw)
}

// unwatchIdle removes watch wd if it guards nothing. Called with mu held.
func (n *notifier) unwatchIdle(wd int32, fw *fileWatch) {
	if fw != nil && len(fw.refs) == 0 && n.files[wd] == fw {
		delete(n.files, wd)
		n.nFiles.Store(int32(len(n.files)))
		unix.InotifyRmWatch(n.fd, uint32(wd))
	}
}

// dropAttrs forgets d's records; d left the descriptor cache (dead), or
// the directory itself changed. Called with mu held, d.mu not.
func (n *notifier) dropAttrs(d *dirEnts, dead bool) {
	d.mu.Lock()
	d.dead = d.dead || dead
	attrs := d.attrs
	d.attrs = nil
	d.mu.Unlock()
	for name, r := range attrs {
		n.nAttrs--
		n.forgetRef(r.wd, d, name)
	}
}

// forgetName drops name's record after a directory event (unlink or
// rename), or every record for an event without a name. Called with mu
// held.
func (n *notifier) forgetName(d *dirEnts, name []byte) {
	if len(name) == 0 {
		n.dropAttrs(d, false)
		return
	}
	d.mu.Lock()
	r, ok := d.attrs[string(name)]
	if ok {
		delete(d.attrs, string(name))
	}
	d.mu.Unlock()
	if ok {
		n.nAttrs--
		n.forgetRef(r.wd, d, string(name))
	}
}

// watchBudget is the part of the per-user inotify watch limit one FS's
// attribute cache may take.
func watchBudget() int {
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_watches")
	if err != nil {
		return 8192 / 4 // the kernel's historical default
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return 8192 / 4
	}
	return n / 4
}
