package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"

	"nfsgw/recovery"
)

// bbolt's on-disk format (version 2, unchanged since 2014), as far as
// preflight needs it. Structures are written in the host's byte order. A
// page is a 16-byte header (id uint64, flags uint16, count uint16,
// overflow uint32) and its body; a page with overflow n occupies n+1
// consecutive page slots.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
	// meta, after the page header: magic, version, pageSize, flags
	// (uint32 each), root bucket (root, sequence), freelist, pgid, txid,
	// checksum (uint64 each); the checksum is FNV-64a of what precedes it.
	metaSize        = 64
	metaChecksumOff = 56
)

// boltMeta is the part of a meta page preflight uses.
type boltMeta struct {
	pageSize uint32
	root     uint64
	freelist uint64
	pgid     uint64 // high water mark: pages [0, pgid) are in use or free
	txid     uint64
}

// preflight checks what bbolt trusts without checking: that f, if it has
// any content, has a valid meta page, is as long as that meta says, has a
// freelist that fits and names pages in use, and that every page is free
// or a well-formed run of pages. It reads the file directly, so damage it
// finds cannot make it panic. bbolt
// panics (or faults on a page beyond the end of the file) when these do
// not hold, and a panic inside bolt.Open leaves the file mapped, hence
// locked, until the process exits. Damage anywhere else is found by the
// validation walk in a transaction, which can recover and close cleanly.
// The caller holds the file lock, so no other process is writing.
func preflight(f *os.File) error {
	path := f.Name()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("recovery: %s: %w", path, err)
	}
	size := fi.Size()
	if size == 0 {
		return nil // bolt.Open initializes empty files
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: "+format, append([]any{recovery.ErrCorrupt, path}, args...)...)
	}

	// Meta page 0 is at offset 0; meta page 1 is one page later, so its
	// position depends on the page size recorded in meta 0, or failing
	// that on any of the page sizes bbolt supports.
	read := func(off int64) (boltMeta, bool) {
		var buf [pageHeaderSize + metaSize]byte
		if _, err := f.ReadAt(buf[:], off); err != nil {
			return boltMeta{}, false
		}
		return parseMeta(buf[pageHeaderSize:])
	}
	var metas []boltMeta
	if m, ok := read(0); ok {
		metas = append(metas, m)
		if m1, ok := read(int64(m.pageSize)); ok {
			metas = append(metas, m1)
		}
	} else {
		for ps := int64(1024); ps <= 16<<20 && ps < size; ps <<= 1 {
			if m1, ok := read(ps); ok && int64(m1.pageSize) == ps {
				metas = append(metas, m1)
				break
			}
		}
	}
	if len(metas) == 0 {
		return bad("not a bbolt database (no valid meta page)")
	}
	// bbolt uses the valid meta with the highest transaction id.
	m := metas[0]
	for _, o := range metas[1:] {
		if o.txid > m.txid {
			m = o
		}
	}
	ps := int64(m.pageSize)
	if ps < 1024 || ps&(ps-1) != 0 {
		return bad("page size %d", ps)
	}
	if m.pgid < 3 || m.pgid > uint64(size/ps) {
		return bad("%d pages in use but the file holds %d (truncated?)", m.pgid, size/ps)
	}
	if m.root < 2 || m.root >= m.pgid {
		return bad("root page %d outside [2, %d)", m.root, m.pgid)
	}
	if m.freelist == noFreelist {
		// bbolt would rebuild the freelist by walking the tree in a
		// goroutine of its own, where a damaged page panics the process.
		// This package never writes such files.
		return bad("no freelist page")
	}
	if m.freelist < 2 || m.freelist >= m.pgid {
		return bad("freelist page %d outside [2, %d)", m.freelist, m.pgid)
	}
	var hdr [pageHeaderSize + 8]byte
	if _, err := f.ReadAt(hdr[:], int64(m.freelist)*ps); err != nil {
		return bad("reading freelist page: %v", err)
	}
	ne := binary.NativeEndian
	id, flags, count, overflow := ne.Uint64(hdr[0:]), ne.Uint16(hdr[8:]), uint64(ne.Uint16(hdr[10:])), uint64(ne.Uint32(hdr[12:]))
	if id != m.freelist || flags != freelistPageFlag {
		return bad("page %d is not a freelist page (id %d, flags %#x)", m.freelist, id, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return bad("freelist pages %d+%d beyond %d pages in use", m.freelist, overflow, m.pgid)
	}
	first := uint64(0) // index of the first page id
	if count == 0xFFFF {
		// The real count is the first element.
		count, first = ne.Uint64(hdr[pageHeaderSize:]), 1
	}
	if room := ((overflow+1)*uint64(ps) - pageHeaderSize) / 8; count > room || first+count > room {
		return bad("freelist of %d entries does not fit in %d pages", count, overflow+1)
	}
	// bbolt hands free pages out without checking them: a page id past
	// the high water mark makes its next commit panic.
	ids := make([]byte, (first+count)*8)
	if _, err := f.ReadAt(ids, int64(m.freelist)*ps+pageHeaderSize); err != nil {
		return bad("reading freelist: %v", err)
	}
	free := make(map[uint64]bool, count)
	for i := first; i < first+count; i++ {
		id := ne.Uint64(ids[i*8:])
		if id < 2 || id >= m.pgid {
			return bad("free page %d outside [2, %d)", id, m.pgid)
		}
		free[id] = true
	}

	for id := m.freelist; id <= m.freelist+overflow; id++ {
		if free[id] {
			return bad("freelist page %d lists itself as free", id)
		}
	}

	// Walk the file page by page: each page is free or starts a run (a
	// branch, leaf or freelist page and its overflow pages) that names its
	// own position and ends below the high water mark. bbolt trusts the
	// overflow count when it frees a page; a damaged one would make a
	// later commit free billions of pages or panic. The elements of
	// branch and leaf pages must lie inside their run: bbolt turns an
	// element's position and sizes into slices without checking, so one
	// damaged byte gave validation a key of a gigabyte that ran past the
	// mapping (issue 11).
	trees := map[uint64]bool{} // runs that are branch or leaf pages
	refs := []uint64{m.root}   // pages named by branch elements and buckets
	for id := uint64(2); id < m.pgid; {
		if free[id] {
			id++
			continue
		}
		if _, err := f.ReadAt(hdr[:pageHeaderSize], int64(id)*ps); err != nil {
			return bad("reading page %d: %v", id, err)
		}
		pid, flags, overflow := ne.Uint64(hdr[0:]), ne.Uint16(hdr[8:]), uint64(ne.Uint32(hdr[12:]))
		switch {
		case pid != id:
			return bad("page %d names itself %d", id, pid)
		case flags != branchPageFlag && flags != leafPageFlag && flags != freelistPageFlag:
			return bad("page %d has flags %#x", id, flags)
		case id+overflow >= m.pgid:
			return bad("page %d overflows %d pages past the %d in use", id, overflow, m.pgid)
		}
		if flags != freelistPageFlag {
			// The run fits in the file (checked above), so this reads
			// at most the file once in all.
			run := make([]byte, (overflow+1)*uint64(ps))
			if _, err := f.ReadAt(run, int64(id)*ps); err != nil {
				return bad("reading page %d: %v", id, err)
			}
			if refs, err = checkElements(run, refs, 0); err != nil {
				return bad("page %d: %v", id, err)
			}
			trees[id] = true
		}
		id += 1 + overflow
	}
	// What bbolt follows from one page to another must be the start of
	// a branch or leaf run: anything else is read as elements.
	for _, id := range refs {
		if !trees[id] {
			return bad("a bucket or branch names page %d, which is not a branch or leaf page", id)
		}
	}
	return nil
}

// Layout of the elements of branch and leaf pages, after the page header:
// count elements of 16 bytes each, whose key (and value) lie at pos bytes
// from the element itself.
const (
	elementSize      = 16 // branch: pos, ksize uint32, pgid uint64; leaf: flags, pos, ksize, vsize uint32
	bucketLeafFlag   = 0x01
	bucketHeaderSize = 16 // root page id, sequence
	maxInlineDepth   = 8  // this package nests no buckets; bbolt would allow more
)

// checkElements checks that every element of the branch or leaf page p
// (header included, overflow pages too) lies inside p, and appends the
// page ids it refers to (children of a branch, roots of buckets) to refs.
// bbolt writes the keys and values of a page one after the other, in
// element order, right after the elements, and never an empty key
// (common.WriteInodeToPage, the same since boltdb): so each element's data
// must start where the previous one's ended, which a damaged position or
// size almost never keeps, instead of being silently misread. Buckets
// small enough are stored inline, as a page inside a leaf value: those are
// checked the same way, within the value.
func checkElements(p []byte, refs []uint64, depth int) ([]uint64, error) {
	ne := binary.NativeEndian
	if len(p) < pageHeaderSize {
		return refs, fmt.Errorf("inline page of %d bytes", len(p))
	}
	flags, count := ne.Uint16(p[8:]), uint64(ne.Uint16(p[10:]))
	if flags != branchPageFlag && flags != leafPageFlag {
		return refs, fmt.Errorf("inline page with flags %#x", flags)
	}
	size := uint64(len(p))
	if pageHeaderSize+count*elementSize > size {
		return refs, fmt.Errorf("%d elements do not fit in %d bytes", count, size)
	}
	next := pageHeaderSize + count*elementSize // where the next element's data starts
	for i := range count {
		e := pageHeaderSize + i*elementSize
		el := p[e : e+elementSize]
		if flags == branchPageFlag {
			pos, ksize := uint64(ne.Uint32(el[0:])), uint64(ne.Uint32(el[4:]))
			switch {
			case e+pos != next || ksize == 0:
				return refs, fmt.Errorf("branch element %d: key of %d bytes at %d, want a key at %d", i, ksize, e+pos, next)
			case e+pos+ksize > size:
				return refs, fmt.Errorf("branch element %d: key of %d bytes at %d runs past the page's %d bytes", i, ksize, e+pos, size)
			}
			next = e + pos + ksize
			refs = append(refs, ne.Uint64(el[8:]))
			continue
		}
		eflags, pos, ksize, vsize := ne.Uint32(el[0:]), uint64(ne.Uint32(el[4:])), uint64(ne.Uint32(el[8:])), uint64(ne.Uint32(el[12:]))
		start := e + pos
		switch {
		case start != next || ksize == 0:
			return refs, fmt.Errorf("leaf element %d: key of %d bytes at %d, want a key at %d", i, ksize, start, next)
		case start+ksize+vsize > size:
			return refs, fmt.Errorf("leaf element %d: key of %d bytes and value of %d at %d run past the page's %d bytes", i, ksize, vsize, start, size)
		}
		next = start + ksize + vsize
		if eflags&bucketLeafFlag == 0 {
			continue
		}
		v := p[start+ksize : start+ksize+vsize]
		if len(v) < bucketHeaderSize {
			return refs, fmt.Errorf("leaf element %d: bucket of %d bytes", i, len(v))
		}
		if root := ne.Uint64(v); root != 0 {
			refs = append(refs, root)
			continue
		}
		if depth >= maxInlineDepth {
			return refs, fmt.Errorf("inline buckets nested %d deep", depth+1)
		}
		var err error
		if refs, err = checkElements(v[bucketHeaderSize:], refs, depth+1); err != nil {
			return refs, fmt.Errorf("inline bucket in leaf element %d: %w", i, err)
		}
	}
	return refs, nil
}

// parseMeta decodes and validates a meta page body as bbolt does.
func parseMeta(b []byte) (boltMeta, bool) {
	ne := binary.NativeEndian
	if ne.Uint32(b[0:]) != boltMagic || ne.Uint32(b[4:]) != boltVersion {
		return boltMeta{}, false
	}
	h := fnv.New64a()
	h.Write(b[:metaChecksumOff])
	if h.Sum64() != ne.Uint64(b[metaChecksumOff:]) {
		return boltMeta{}, false
	}
	return boltMeta{
		pageSize: ne.Uint32(b[8:]),
		root:     ne.Uint64(b[16:]),
		freelist: ne.Uint64(b[32:]),
		pgid:     ne.Uint64(b[40:]),
		txid:     ne.Uint64(b[48:]),
	}, true
}
