package nfsclient

import (
	"errors"
	"fmt"

	"nfsgw/gateway/nfs4"
)

// StatusError is an NFS operation that completed with a status other than
// NFS4_OK.
type StatusError struct {
	Op     uint32 // operation number (nfs4.Op*), 0 when not known
	Status nfs4.Status
}

func (e *StatusError) Error() string {
	if e.Op == 0 {
		return "nfs4: " + StatusName(e.Status)
	}
	return "nfs4: " + OpName(e.Op) + ": " + StatusName(e.Status)
}

// Is reports whether target is a *StatusError with the same status and,
// unless target's Op is 0, the same operation. So
// errors.Is(err, nfsclient.ErrStatus(nfs4.ErrNoent)) matches a NOENT from
// any operation.
func (e *StatusError) Is(target error) bool {
	t, ok := target.(*StatusError)
	return ok && t.Status == e.Status && (t.Op == 0 || t.Op == e.Op)
}

// ErrStatus returns a *StatusError matching status from any operation, for
// use with errors.Is.
func ErrStatus(status nfs4.Status) error { return &StatusError{Status: status} }

// NoStatus is what StatusOf returns for an error that carries no NFS status
// (a transport or decoding failure).
const NoStatus = ^nfs4.Status(0)

// StatusOf returns the NFS status carried by err: nfs4.OK for nil, the
// status of a *StatusError anywhere in err's chain, and NoStatus otherwise.
func StatusOf(err error) nfs4.Status {
	if err == nil {
		return nfs4.OK
	}
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return NoStatus
}

// ErrProtocol is wrapped by decoding errors for replies that are well-formed
// XDR but break a protocol rule (a result after a failed operation, a
// COMPOUND status that differs from the last result's, a SEQUENCE result for
// another slot, ...).
var ErrProtocol = errors.New("protocol violation")

// ErrUnknownAttr is wrapped when a fattr4 holds an attribute this package
// cannot decode and that is not the last one; decoding stops there, since
// the size of an unknown attribute is unknown.
var ErrUnknownAttr = nfs4.ErrUnknownAttr

// DecodeError reports a reply that could not be decoded.
type DecodeError struct {
	Index int    // index of the result in resarray; -1 for the COMPOUND header
	Op    uint32 // operation whose result failed to decode, 0 for the header
	Err   error
}

func (e *DecodeError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("nfs4: decoding COMPOUND reply: %v", e.Err)
	}
	return fmt.Sprintf("nfs4: decoding result %d (%s): %v", e.Index, OpName(e.Op), e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}
