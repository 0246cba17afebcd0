package oncrpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestRecordReaderFragments(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789"), 1000)
	var stream []byte
	stream = append(stream, record(payload, 1, 0, 4095, 3)...) // odd splits, an empty fragment
	stream = append(stream, record([]byte("second"))...)
	stream = append(stream, record(nil)...) // an empty record is still a record

	rr := newRecordReader(bytes.NewReader(stream), len(payload))
	for i, want := range [][]byte{payload, []byte("second"), {}} {
		got, err := rr.readRecord(nil)
		if err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("record %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := rr.readRecord(nil); err != io.EOF {
		t.Fatalf("at end of stream: %v, want io.EOF", err)
	}
}

func TestRecordReaderTruncated(t *testing.T) {
	full := record([]byte("abcdefgh"), 3)
	for n := 1; n < len(full); n++ {
		rr := newRecordReader(bytes.NewReader(full[:n]), 100)
		if _, err := rr.readRecord(nil); err != io.ErrUnexpectedEOF {
			t.Fatalf("stream cut at %d: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
}

func TestRecordReaderLimit(t *testing.T) {
	// A record of exactly the limit is fine, in one piece or several.
	rr := newRecordReader(bytes.NewReader(record(make([]byte, 64), 20, 20)), 64)
	if _, err := rr.readRecord(nil); err != nil {
		t.Fatal(err)
	}
	// One byte over, spread over fragments, is not.
	rr = newRecordReader(bytes.NewReader(record(make([]byte, 65), 32, 32)), 64)
	if _, err := rr.readRecord(nil); !errors.Is(err, errRecordTooLarge) {
		t.Fatalf("65-byte record: %v, want errRecordTooLarge", err)
	}
	// A header claiming 2 GiB is refused before anything is allocated or
	// read.
	hdr := binary.BigEndian.AppendUint32(nil, maxFragmentLen)
	rr = newRecordReader(bytes.NewReader(hdr), 64)
	buf, err := rr.readRecord(nil)
	if !errors.Is(err, errRecordTooLarge) || cap(buf) != 0 {
		t.Fatalf("huge fragment: err %v, buffer cap %d", err, cap(buf))
	}
}

func TestRecordReaderGrowsWithData(t *testing.T) {
	// A peer announcing a large fragment and sending a little of it costs
	// about what it sent, not what it announced.
	hdr := binary.BigEndian.AppendUint32(nil, lastFragment|1<<20)
	stream := append(hdr, make([]byte, 100)...)
	rr := newRecordReader(bytes.NewReader(stream), 2<<20)
	buf, err := rr.readRecord(nil)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err %v, want io.ErrUnexpectedEOF", err)
	}
	if cap(buf) > minGrow {
		t.Fatalf("buffer grew to %d bytes for 100 bytes received", cap(buf))
	}
}

func TestRecordReaderReusesBuffer(t *testing.T) {
	stream := append(record([]byte("one")), record([]byte("two"))...)
	rr := newRecordReader(bytes.NewReader(stream), 100)
	buf := make([]byte, 0, 64)
	a, _ := rr.readRecord(buf)
	b, _ := rr.readRecord(a)
	if &a[:1][0] != &b[:1][0] || string(b) != "two" {
		t.Fatalf("buffer not reused: %q", b)
	}
	src := bytes.NewReader(stream)
	allocs := testing.AllocsPerRun(100, func() {
		src.Reset(stream)
		rr.r.Reset(src)
		buf, _ = rr.readRecord(buf)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per record with a reused buffer", allocs)
	}
}
