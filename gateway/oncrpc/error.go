package oncrpc

import (
	"errors"
	"strconv"
)

// ErrServerClosed is returned by Server.Serve after Shutdown.
var ErrServerClosed = errors.New("oncrpc: server closed")

// ErrConnClosed is returned by calls that cannot complete because their
// connection has closed.
var ErrConnClosed = errors.New("oncrpc: connection closed")

// Error is a non-success RPC outcome: a call the peer rejected (Rejected,
// with RejectStat and, for AUTH_ERROR, AuthStat) or accepted with a status
// other than SUCCESS (Accept). Low and High are the supported range for
// RPC_MISMATCH and PROG_MISMATCH.
type Error struct {
	Rejected   bool
	Accept     AcceptStat
	RejectStat uint32
	AuthStat   uint32
	Low, High  uint32
}

var authStatNames = [...]string{"AUTH_OK", "AUTH_BADCRED", "AUTH_REJECTEDCRED", "AUTH_BADVERF", "AUTH_REJECTEDVERF", "AUTH_TOOWEAK"}

// Error describes the outcome in RFC 5531 terms.
func (e *Error) Error() string {
	if e.Rejected {
		switch e.RejectStat {
		case RPCMismatch:
			return "oncrpc: call denied: RPC_MISMATCH (supported " + utoa(e.Low) + "-" + utoa(e.High) + ")"
		case AuthError:
			name := "auth_stat(" + utoa(e.AuthStat) + ")"
			if int(e.AuthStat) < len(authStatNames) {
				name = authStatNames[e.AuthStat]
			}
			return "oncrpc: call denied: AUTH_ERROR " + name
		}
		return "oncrpc: call denied: reject_stat(" + utoa(e.RejectStat) + ")"
	}
	if e.Accept == ProgMismatch {
		return "oncrpc: PROG_MISMATCH (supported " + utoa(e.Low) + "-" + utoa(e.High) + ")"
	}
	return "oncrpc: " + e.Accept.String()
}

func utoa(v uint32) string { return strconv.FormatUint(uint64(v), 10) }
