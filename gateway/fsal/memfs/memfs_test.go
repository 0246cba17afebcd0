package memfs

import (
	"testing"

	"nfsgw/gateway/fsal"
	"nfsgw/gateway/fsal/fsaltest"
)

func TestConformance(t *testing.T) {
	fsaltest.Run(t, func(t *testing.T) fsal.FS { return New() })
}
