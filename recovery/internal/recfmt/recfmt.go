// Package recfmt is the storage format shared by the recovery stores: the
// names of per-epoch record sets and the encoding of one record's value.
// Keeping it in one place lets the bbolt and RADOS stores read each other's
// values (e.g. when a database is migrated) and keeps format changes
// deliberate.
package recfmt

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"nfsgw/recovery"
)

// EpochPrefix starts the name of every per-epoch record set.
const EpochPrefix = "rec-"

// EpochName is the name of epoch's record set: "rec-" and the epoch as 16
// lower-case hex digits, as NFS-Ganesha names its recovery objects (which
// append ":NODEID"). Fixed width makes names sort in epoch order.
func EpochName(epoch uint64) string {
	return fmt.Sprintf("%s%016x", EpochPrefix, epoch)
}

// ParseEpochName is the inverse of EpochName; ok is false for any other
// name (including non-canonical spellings, so that a name maps to exactly
// one epoch).
func ParseEpochName(name string) (epoch uint64, ok bool) {
	hex, found := strings.CutPrefix(name, EpochPrefix)
	if !found || len(hex) != 16 || strings.ToLower(hex) != hex {
		return 0, false
	}
	e, err := strconv.ParseUint(hex, 16, 64)
	if err != nil {
		return 0, false
	}
	return e, true
}

// version1 is the first value format:
//
//	byte     1 (the format version)
//	uvarint  minor version
//	uvarint  length of the principal
//	bytes    principal
//
// A change to the format gets a new version byte rather than trailing
// fields, so that a decoder never silently ignores data it does not know.
const version1 = 1

// EncodeValue returns the stored value for r (the owner is the key and is
// not repeated).
func EncodeValue(r recovery.Record) []byte {
	b := make([]byte, 0, 1+2*binary.MaxVarintLen32+len(r.Principal))
	b = append(b, version1)
	b = binary.AppendUvarint(b, uint64(r.Minor))
	b = binary.AppendUvarint(b, uint64(len(r.Principal)))
	return append(b, r.Principal...)
}

// DecodeValue decodes a value written by EncodeValue into a record with a
// copy of owner. Errors wrap recovery.ErrCorrupt.
func DecodeValue(owner, v []byte) (recovery.Record, error) {
	bad := func(why string) (recovery.Record, error) {
		// The owner is printed shortened: a damaged store can hand over
		// a key of any size (issue 11).
		shown := fmt.Sprintf("%x", owner[:min(len(owner), 64)])
		if len(owner) > 64 {
			shown += fmt.Sprintf("... (%d bytes)", len(owner))
		}
		return recovery.Record{}, fmt.Errorf("%w: record %s: %s", recovery.ErrCorrupt, shown, why)
	}
	if err := recovery.CheckOwner(owner); err != nil {
		return bad(err.Error())
	}
	if len(v) == 0 {
		return bad("empty value")
	}
	if v[0] != version1 {
		return bad(fmt.Sprintf("unknown format version %d", v[0]))
	}
	v = v[1:]
	minor, n := binary.Uvarint(v)
	if n <= 0 || minor > 1<<32-1 {
		return bad("bad minor version")
	}
	v = v[n:]
	plen, n := binary.Uvarint(v)
	if n <= 0 || plen > recovery.MaxPrincipalLen {
		return bad("bad principal length")
	}
	v = v[n:]
	if uint64(len(v)) != plen {
		return bad(fmt.Sprintf("principal length %d, %d bytes present", plen, len(v)))
	}
	return recovery.Record{
		Owner:     append([]byte(nil), owner...),
		Principal: string(v),
		Minor:     uint32(minor),
	}, nil
}
