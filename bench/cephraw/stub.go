//go:build noceph

// Command cephraw needs CephFS support (built without -tags noceph).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "cephraw: built without CephFS support (-tags noceph)")
	os.Exit(1)
}
