//go:build noceph

// Command gracerate needs RADOS; this build has no Ceph support.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "gracerate: built without Ceph support (noceph)")
	os.Exit(2)
}
