//go:build noceph

package main

import (
	"context"
	"fmt"
	"io"
)

// runExportRADOS without Ceph support: the export table lives in RADOS.
func runExportRADOS(_ context.Context, o *options, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "nfsgwctl: export %s: this nfsgwctl was built without Ceph support (build tag noceph)\n", o.export.op)
	return exitFail
}
