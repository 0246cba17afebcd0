package oncrpc

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"sync"

	"nfsgw/gateway/xdr"
)

// Record marking (RFC 5531 section 11): a record is a sequence of fragments,
// each preceded by a four-byte header whose top bit marks the last fragment
// and whose other 31 bits give the fragment's length.
const (
	lastFragment   = 1 << 31
	maxFragmentLen = 1<<31 - 1
	markLen        = 4
)

// DefaultMaxRecordSize is the default limit on the size of one record: a
// 1 MiB READ or WRITE plus room for the RPC and COMPOUND headers.
const DefaultMaxRecordSize = 1<<20 + 64<<10

// errRecordTooLarge is returned by the record reader when the fragments of
// a record add up to more than the limit. The stream cannot be resynchronised
// without reading the rest of the record, so the connection is closed.
var errRecordTooLarge = errors.New("oncrpc: record exceeds size limit")

// errReplyTooLarge is returned for an outgoing record that does not fit in
// one fragment; records are always written as a single fragment so that
// each goes out in one Write.
var errReplyTooLarge = errors.New("oncrpc: record too large to send")

const (
	// readBufSize is the bufio buffer of each connection's reader: large
	// enough to pick up dozens of small pipelined calls per read(2), small
	// enough that thousands of idle connections cost little. Fragments
	// larger than it are read straight into the record buffer.
	readBufSize = 16 << 10
	// minGrow is the smallest step a record buffer grows by.
	minGrow = 4 << 10
	// maxPooledBuf keeps unusually large buffers out of the pools so that a
	// burst of big records does not pin memory for good.
	maxPooledBuf = 4 << 20
	// initialBuf is the capacity of a new pooled buffer: most calls and
	// replies (GETATTR, LOOKUP, NULL) fit in it.
	initialBuf = 4 << 10
)

// recordPool holds buffers records are read into. They are pointers so that
// Put does not allocate.
var recordPool = sync.Pool{New: func() any {
	b := make([]byte, 0, initialBuf)
	return &b
}}

func getRecordBuf() *[]byte { return recordPool.Get().(*[]byte) }

func putRecordBuf(b *[]byte) {
	if b == nil || cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	recordPool.Put(b)
}

// encoderPool holds encoders outgoing records are built in. Pooling the
// *xdr.Encoder itself (not only its buffer) also saves the allocation of
// the encoder handed to a Handler.
var encoderPool = sync.Pool{New: func() any {
	return &xdr.Encoder{Buf: make([]byte, 0, initialBuf)}
}}

// getEncoder returns a pooled encoder that already holds room for the
// record mark, which finishRecord fills in.
func getEncoder() *xdr.Encoder {
	e := encoderPool.Get().(*xdr.Encoder)
	e.Buf = append(e.Buf[:0], 0, 0, 0, 0)
	return e
}

func putEncoder(e *xdr.Encoder) {
	if cap(e.Buf) > maxPooledBuf {
		return
	}
	e.Buf = e.Buf[:0]
	encoderPool.Put(e)
}

// finishRecord fills in the record mark reserved by getEncoder, making the
// encoder's buffer a complete single-fragment record.
func finishRecord(e *xdr.Encoder) error {
	n := len(e.Buf) - markLen
	if n > maxFragmentLen {
		return errReplyTooLarge
	}
	binary.BigEndian.PutUint32(e.Buf, lastFragment|uint32(n))
	return nil
}

// recordReader reads records from a stream.
type recordReader struct {
	// eager grows the buffer to a whole fragment at once. Clients set it:
	// their peer is the server they chose, and a 1 MiB READ reply grown
	// by doubling from a small buffer costs eight copies. Servers keep
	// growing only as bytes arrive, so a peer that announces a large
	// record and stalls costs at most what it sent.
	eager bool
	r     *bufio.Reader
	max   int
	hdr   [markLen]byte
}

func newRecordReader(r io.Reader, max int) *recordReader {
	return &recordReader{r: bufio.NewReaderSize(r, readBufSize), max: max}
}

// readRecord appends the next record's payload to buf[:0] and returns it.
//
// Fragment lengths are checked against the limit before the fragment is
// read, and the buffer grows only as bytes actually arrive, so a peer that
// announces a large record and then stalls costs at most what it sent.
//
// io.EOF is returned only at a record boundary; a stream that ends inside a
// record gives io.ErrUnexpectedEOF. After any error the stream position is
// undefined and the reader must not be used again.
func (rr *recordReader) readRecord(buf []byte) ([]byte, error) {
	buf = buf[:0]
	for first := true; ; first = false {
		if _, err := io.ReadFull(rr.r, rr.hdr[:]); err != nil {
			if err == io.EOF && !first {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
		h := binary.BigEndian.Uint32(rr.hdr[:])
		n := int(h &^ lastFragment)
		if n > rr.max-len(buf) {
			return buf, errRecordTooLarge
		}
		var err error
		if buf, err = rr.readFragment(buf, n); err != nil {
			return buf, err
		}
		if h&lastFragment != 0 {
			return buf, nil
		}
	}
}

// readFragment appends n bytes to buf. The buffer at most doubles per step,
// and never beyond what the fragment still needs.
func (rr *recordReader) readFragment(buf []byte, n int) ([]byte, error) {
	for n > 0 {
		if len(buf) == cap(buf) {
			// Grow by hand rather than with append: append may round up
			// past what the record can still need, and the total here
			// must stay within the limit already checked.
			step := min(max(cap(buf), minGrow), n)
			if rr.eager {
				step = max(n, minGrow)
			}
			nb := make([]byte, len(buf), len(buf)+step)
			copy(nb, buf)
			buf = nb
		}
		chunk := min(n, cap(buf)-len(buf))
		m, err := io.ReadFull(rr.r, buf[len(buf):len(buf)+chunk])
		buf = buf[:len(buf)+m]
		n -= m
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return buf, err
		}
	}
	return buf, nil
}
