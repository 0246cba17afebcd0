//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package boltstore

import (
	"errors"
	"os"
	"time"
)

var errWouldBlock = errors.New("locked")

// lockFile does nothing where flock is not available: bbolt's own lock
// (taken in bolt.Open) still keeps a second process out, but preflight
// then reads the file before holding it.
func lockFile(*os.File, time.Duration) error { return nil }
