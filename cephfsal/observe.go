//go:build !noceph

package cephfsal

import (
	"time"

	"nfsgw/cephfsal/internal/cephll"
)

// CallNames names the libcephfs calls SetCallObserver's observer is told
// of, indexed by the call number it gets.
func CallNames() []string { return cephll.CallNames }

// SetCallObserver sets the process-wide observer of the libcephfs calls
// every Mount makes (nil: none): it gets the call's number (an index in
// CallNames), its duration and its error.
func SetCallObserver(o func(call int, d time.Duration, err error)) {
	if o == nil {
		cephll.SetObserver(nil)
		return
	}
	cephll.SetObserver(func(c cephll.Call, d time.Duration, err error) { o(int(c), d, err) })
}
