// Package fh encodes NFS file handles. The layout is the one NFS-Ganesha 4.x
// uses (version byte 0x43, flags, export id as big-endian uint16, key length,
// key), so that a CephFS backend whose key is Ganesha's can hand out handles
// byte-identical to Ganesha's and a site can switch servers without clients
// remounting.
package fh

import (
	"encoding/binary"
	"errors"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/nfs4"
)

// Version is the handle format version byte.
const Version = 0x43

// HeaderSize is the number of bytes before the backend key.
const HeaderSize = 5

// PseudoExportID is reserved for the pseudo-filesystem.
const PseudoExportID = 0

// ErrBadHandle reports a handle that is not one of ours.
var ErrBadHandle = errors.New("fh: malformed file handle")

// Append encodes the handle for key in export exportID onto b.
func Append(b []byte, exportID uint16, key fsal.Handle) []byte {
	b = append(b, Version, 0)
	b = binary.BigEndian.AppendUint16(b, exportID)
	b = append(b, byte(len(key)))
	return append(b, key...)
}

// Encode returns the handle for key in export exportID.
func Encode(exportID uint16, key fsal.Handle) []byte {
	return Append(make([]byte, 0, HeaderSize+len(key)), exportID, key)
}

// Decode splits a handle into its export id and backend key. The key
// aliases h.
func Decode(h []byte) (exportID uint16, key fsal.Handle, err error) {
	if len(h) < HeaderSize || len(h) > nfs4.FHSize || h[0] != Version || h[1] != 0 {
		return 0, nil, ErrBadHandle
	}
	n := int(h[4])
	if n != len(h)-HeaderSize || n > fsal.MaxHandleSize {
		return 0, nil, ErrBadHandle
	}
	return binary.BigEndian.Uint16(h[2:4]), fsal.Handle(h[HeaderSize:]), nil
}
