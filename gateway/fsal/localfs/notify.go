package localfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"nfsgw/gateway/fsal"
)

// Entry caches validated by inotify.
//
// Validating a cached entry against its directory's ctime (dents.go) costs
// a statx of the directory per LOOKUP: 17 system calls for a 17-component
// path, on machines where a system call costs a microsecond or more. On a
// local file system the kernel can tell us instead: a directory whose
// entries are cached carries an inotify watch for the events that take a
// name away or give it to another inode (IN_DELETE, IN_MOVED_FROM,
// IN_MOVED_TO). The kernel queues an event before the system call that
// caused it returns, so a request that finds the queue empty, with nobody
// half-way through applying what they read from it, knows that every change
// completed before it began is reflected in the caches. That check is one
// ioctl(FIONREAD), done once per COMPOUND (fsal.Scope) instead of a statx
// per component.
//
// A LOOKUP that fills an entry read the directory's generation before its
// own lookup; an event applied in between bumps the generation and the fill
// is dropped, so a name found before a change can't be cached after the
// change was applied. An event still queued when the fill lands is applied
// before anyone trusts the cache again.
//
// The same request changing a name itself (REMOVE, RENAME) resets the
// Scope, so its next LOOKUP checks the queue again and sees its own change.
//
// Only file systems known to report every change through inotify are
// watched (network and stacked file systems may change underneath without
// an event); a directory whose watch can't be added (the per-user watch
// limit, fs.inotify.max_user_watches) falls back to the ctime check. A
// queue overflow forgets every cached entry.

// watchMask is what invalidates cached names. Creations are left out: only
// names that exist are cached, and a new name can't shadow one.
const watchMask = unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO | unix.IN_DELETE_SELF | unix.IN_ONLYDIR

// notifier is the inotify instance of one FS.
type notifier struct {
	fd  int
	tok fsal.ScopeToken
	lim *dentLimit // of the FS's entry caches

	// draining counts drains between their read of the queue and the end
	// of applying what they read; a checker that sees an empty queue must
	// also see no drain in progress.
	draining atomic.Int32
	broken   atomic.Bool // a read failed: nothing watched may be trusted

	mu   sync.Mutex // the watch tables and the queue's reader
	byWD map[int32]*dirEnts
	buf  []byte

	// READDIR's attribute cache (attrcache.go).
	attrs    bool // file system and options allow it
	files    map[int32]*fileWatch
	nFiles   atomic.Int32 // len(files), read without mu
	nAttrs   int
	maxAttrs int
}

// watchedFS lists the file systems whose changes all pass through this
// kernel's VFS, and so through inotify.
var watchedFS = map[int64]bool{
	unix.EXT4_SUPER_MAGIC:  true, // also ext2 and ext3
	unix.XFS_SUPER_MAGIC:   true,
	unix.BTRFS_SUPER_MAGIC: true,
	unix.TMPFS_MAGIC:       true,
	unix.F2FS_SUPER_MAGIC:  true,
	0x2fc12fc1:             true, // ZFS
}

// newNotifier returns a notifier for the file system of fd, or nil when its
// entries must be validated by ctime.
func newNotifier(fd int, lim *dentLimit, attrs bool, maxAttrs int) *notifier {
	var sfs unix.Statfs_t
	if unix.Fstatfs(fd, &sfs) != nil || !watchedFS[int64(sfs.Type)] {
		return nil
	}
	attrs = attrs && attrFS[int64(sfs.Type)]
	ifd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil
	}
	return &notifier{
		fd:   ifd,
		tok:  fsal.NewScopeToken(),
		lim:  lim,
		byWD: make(map[int32]*dirEnts),
		buf:  make([]byte, 64<<10),

		attrs:    attrs,
		files:    make(map[int32]*fileWatch),
		maxAttrs: min(maxAttrs, watchBudget()),
	}
}

func (n *notifier) close() {
	if n != nil {
		unix.Close(n.fd)
	}
}

// watch adds a watch on the directory fd for d, which must not be
// published yet. It reports false if the kernel refused.
func (n *notifier) watch(d *dirEnts, fd int) bool {
	if n == nil || n.broken.Load() {
		return false
	}
	// inotify takes a path; the descriptor's own /proc link names exactly
	// the directory we hold. IN_MASK_CREATE: a watch never changes
	// hands, so removing one can't take another cache's away; a second
	// cache of the same directory (its descriptor replaced while the old
	// one is still referenced) validates by ctime instead.
	n.mu.Lock()
	defer n.mu.Unlock()
	wd, err := unix.InotifyAddWatch(n.fd, "/proc/self/fd/"+strconv.Itoa(fd), watchMask|unix.IN_MASK_CREATE)
	if err != nil {
		return false
	}
	d.n, d.wd = n, int32(wd)
	n.byWD[d.wd] = d
	return true
}

// unwatch forgets d and removes its watch, which no other cache shares
// (IN_MASK_CREATE in watch).
func (n *notifier) unwatch(d *dirEnts) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.dropAttrs(d, true)
	delete(n.byWD, d.wd)
	unix.InotifyRmWatch(n.fd, uint32(d.wd))
}

// fresh makes sure every change that completed before this request began
// has been applied to the caches, once per request. It reports false if
// watched caches can't be trusted at all.
func (n *notifier) fresh(ctx context.Context) bool {
	sc := fsal.ScopeOf(ctx)
	if sc.Checked(n.tok) {
		return true
	}
	if !n.check() {
		return false
	}
	sc.SetChecked(n.tok)
	return true
}

// check applies every event queued so far; false if the queue can't be
// read.
func (n *notifier) check() bool {
	q, err := unix.IoctlGetInt(n.fd, unix.TIOCINQ) // FIONREAD
	if err != nil || q > 0 || n.draining.Load() != 0 {
		n.drain()
	}
	return !n.broken.Load()
}

// drain reads the queue empty and applies its events.
func (n *notifier) drain() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.draining.Add(1)
	defer n.draining.Add(-1)
	for {
		k, err := unix.Read(n.fd, n.buf)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			return
		}
		if err != nil || k <= 0 {
			n.broken.Store(true)
			n.forgetAll()
			return
		}
		n.apply(n.buf[:k])
	}
}

// inotifyHeader is the size of struct inotify_event without its name.
const inotifyHeader = 16

func (n *notifier) apply(b []byte) {
	for len(b) >= inotifyHeader {
		wd := int32(binary.NativeEndian.Uint32(b[0:]))
		mask := binary.NativeEndian.Uint32(b[4:])
		nameLen := int(binary.NativeEndian.Uint32(b[12:]))
		if inotifyHeader+nameLen > len(b) {
			n.forgetAll() // can't happen: the kernel returns whole events
			return
		}
		name := b[inotifyHeader : inotifyHeader+nameLen]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[inotifyHeader+nameLen:]
		if mask&unix.IN_Q_OVERFLOW != 0 {
			n.forgetAll()
			continue
		}
		if fw := n.files[wd]; fw != nil {
			n.fileEvent(wd, fw)
			continue
		}
		if d := n.byWD[wd]; d != nil {
			// No name: the directory itself went (IN_DELETE_SELF,
			// IN_IGNORED); forget everything it held.
			d.forget(name)
			n.forgetName(d, name)
		}
	}
}

func (n *notifier) forgetAll() {
	for _, d := range n.byWD {
		d.forget(nil)
	}
	for wd, fw := range n.files {
		n.fileEvent(wd, fw)
	}
}
