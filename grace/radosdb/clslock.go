//go:build !noceph

package radosdb

import "encoding/binary"

// encodeAssertLocked is the input of cls lock's assert_locked method (Ceph's
// cls_lock_assert_op in its versioned encoding): a header of struct
// version 1, compat version 1 and the payload's length (u32), then the lock
// name, the lock type (u8, 1 = exclusive), the cookie and the tag (empty),
// each string as a little-endian u32 length and its bytes.
func encodeAssertLocked(name, cookie string) []byte {
	str := func(b []byte, s string) []byte {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		return append(b, s...)
	}
	var p []byte
	p = str(p, name)
	p = append(p, 1)
	p = str(p, cookie)
	p = str(p, "")
	b := []byte{1, 1}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}
