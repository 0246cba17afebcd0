//go:build noceph

package main

import (
	"context"
	"fmt"
	"io"
)

// runGrace without Ceph support: the grace database lives in RADOS.
func runGrace(_ context.Context, o *options, _, stderr io.Writer) int {
	fmt.Fprintf(stderr, "nfsgwctl: grace %s: this nfsgwctl was built without Ceph support (build tag noceph)\n", o.grace.op)
	return exitFail
}
