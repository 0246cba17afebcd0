package radosstore

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"nfsgw/recovery"
	"nfsgw/recovery/internal/recfmt"
)

// This file is the RADOS layout, free of cgo so that it is tested and
// fuzzed without a cluster.

const (
	// markerKey is the omap key on every record object nfsgw writes; its
	// value is markerValue. It is not lowercase hex, so it never collides
	// with a record's key, and NFS-Ganesha, whose keys are decimal client
	// ids, never writes it: an object without it is foreign.
	markerKey = "nfsgw.rec"
	// metaPrefix starts the name of a node's metadata object.
	metaPrefix = "nfsgw.rec."

	// MaxUnendedEpochs bounds the unended reclaim set: the epochs whose
	// grace period never ended, one per restart that crashed (or was
	// stopped) before EndGrace. Begin refuses to add one more; a node that
	// gets there has been crash-looping through a thousand grace periods.
	MaxUnendedEpochs = 1024
	// MaxRecordsPerEpoch bounds the records read back from one epoch's
	// object (and the distinct owners of a reclaim set), so that a damaged
	// or foreign object cannot make a node load without limit.
	MaxRecordsPerEpoch = 1 << 20

	// maxKeyLen and maxValueLen bound what is read back per omap entry:
	// an owner in hex, and recfmt's encoding of the longest principal
	// (version byte, minor as a uvarint of at most 5 bytes, length as a
	// uvarint of 2).
	maxKeyLen   = 2 * recovery.MaxOwnerLen
	maxValueLen = 1 + 5 + 2 + recovery.MaxPrincipalLen
)

// markerValue is the record object format version.
var markerValue = []byte{1}

var nodeRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,63}$`)

// CheckNode reports whether node is a valid node id: 1 to 63 letters,
// digits, dots, underscores and dashes. Colons are excluded so that an
// object name splits into epoch and node in exactly one way.
func CheckNode(node string) error {
	if !nodeRE.MatchString(node) {
		return fmt.Errorf("recovery: invalid node id %q: want 1 to 63 of A-Z a-z 0-9 . _ -", clip(node))
	}
	return nil
}

// ObjectName is the name of node's record object for epoch, as NFS-Ganesha
// names its own: "rec-", the epoch in 16 lowercase hex digits, ":", node.
func ObjectName(epoch uint64, node string) string {
	return recfmt.EpochName(epoch) + ":" + node
}

// MetaName is the name of node's metadata object.
func MetaName(node string) string { return metaPrefix + node }

// parseObjectName returns the epoch of one of node's record objects; ok is
// false for any other name.
func parseObjectName(name, node string) (epoch uint64, ok bool) {
	base, found := strings.CutSuffix(name, ":"+node)
	if !found {
		return 0, false
	}
	return recfmt.ParseEpochName(base)
}

// encodeKey is a record's omap key: the owner in lowercase hex, so that
// keys are printable (ceph's tools show them) and sort like the owners.
func encodeKey(owner []byte) string { return hex.EncodeToString(owner) }

// decodeKey is the inverse of encodeKey; it accepts only what encodeKey
// writes. Errors wrap recovery.ErrCorrupt.
func decodeKey(key string) ([]byte, error) {
	if len(key) == 0 || len(key) > maxKeyLen || len(key)%2 != 0 {
		return nil, fmt.Errorf("%w: omap key of %d bytes is not an owner in hex (2 to %d bytes)", recovery.ErrCorrupt, len(key), maxKeyLen)
	}
	owner, err := hex.DecodeString(key)
	if err != nil || hex.EncodeToString(owner) != key {
		return nil, fmt.Errorf("%w: omap key %q is not an owner in lowercase hex", recovery.ErrCorrupt, clip(key))
	}
	return owner, nil
}

// decodeEntry decodes one omap entry of a record object, bounding sizes
// before anything is formatted.
func decodeEntry(key string, val []byte) (recovery.Record, error) {
	owner, err := decodeKey(key)
	if err != nil {
		return recovery.Record{}, err
	}
	if len(val) > maxValueLen {
		return recovery.Record{}, fmt.Errorf("%w: record %s: value of %d bytes, limit %d", recovery.ErrCorrupt, clip(key), len(val), maxValueLen)
	}
	return recfmt.DecodeValue(owner, val)
}

// clip shortens s for an error message: whatever a damaged object holds,
// a message stays short.
func clip(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s... (%d bytes)", s[:max], len(s))
}

// meta is a node's metadata object: its current epoch C, whether the grace
// period of C ended, and the unended reclaim set P (older epochs whose
// objects Begin must still read).
type meta struct {
	epoch   uint64
	ended   bool
	unended []uint64 // ascending, each in [1, epoch)
}

// The metadata encoding (version 1), all integers big-endian:
//
//	8 bytes  "nfsgwrec"
//	byte     1 (the version)
//	byte     flags: 1 = the grace period of the current epoch ended
//	uint16   number of unended epochs, n <= MaxUnendedEpochs
//	uint64   current epoch
//	n uint64 unended epochs, ascending
const (
	metaMagic      = "nfsgwrec"
	metaVersion    = 1
	metaHeaderLen  = 8 + 1 + 1 + 2 + 8
	metaMaxLen     = metaHeaderLen + 8*MaxUnendedEpochs
	metaFlagEnded  = 1
	metaKnownFlags = metaFlagEnded
)

func (m meta) encode() []byte {
	b := make([]byte, 0, metaHeaderLen+8*len(m.unended))
	b = append(b, metaMagic...)
	b = append(b, metaVersion)
	var flags byte
	if m.ended {
		flags |= metaFlagEnded
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.unended)))
	b = binary.BigEndian.AppendUint64(b, m.epoch)
	for _, e := range m.unended {
		b = binary.BigEndian.AppendUint64(b, e)
	}
	return b
}

// decodeMeta decodes and checks a metadata object's content. Errors wrap
// recovery.ErrCorrupt.
func decodeMeta(b []byte) (meta, error) {
	bad := func(format string, args ...any) (meta, error) {
		return meta{}, fmt.Errorf("%w: "+format, append([]any{recovery.ErrCorrupt}, args...)...)
	}
	if len(b) < metaHeaderLen || !bytes.Equal(b[:8], []byte(metaMagic)) {
		return bad("%d bytes without the nfsgw metadata header", len(b))
	}
	if b[8] != metaVersion {
		return bad("metadata version %d, want %d", b[8], metaVersion)
	}
	flags := b[9]
	if flags&^metaKnownFlags != 0 {
		return bad("unknown metadata flags %#x", flags)
	}
	n := int(binary.BigEndian.Uint16(b[10:]))
	if n > MaxUnendedEpochs {
		return bad("%d unended epochs, limit %d", n, MaxUnendedEpochs)
	}
	if len(b) != metaHeaderLen+8*n {
		return bad("metadata of %d bytes for %d unended epochs", len(b), n)
	}
	m := meta{epoch: binary.BigEndian.Uint64(b[12:]), ended: flags&metaFlagEnded != 0}
	if m.epoch == 0 {
		return bad("current epoch 0")
	}
	if m.ended && n > 0 {
		return bad("grace ended but %d unended epochs remain", n)
	}
	prev := uint64(0)
	for i := range n {
		e := binary.BigEndian.Uint64(b[metaHeaderLen+8*i:])
		if e <= prev || e >= m.epoch {
			return bad("unended epoch %d out of order or not older than the current epoch %d", e, m.epoch)
		}
		m.unended = append(m.unended, e)
		prev = e
	}
	return m, nil
}

// encodeValue is recfmt's encoding of r, as a string for the cache.
func encodeValue(r recovery.Record) string { return string(recfmt.EncodeValue(r)) }
