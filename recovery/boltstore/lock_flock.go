//go:build darwin || dragonfly || freebsd || linux || netbsd || openbsd

package boltstore

import (
	"errors"
	"os"
	"syscall"
	"time"
)

// errWouldBlock reports a lock held by another open file description.
var errWouldBlock = errors.New("locked")

// lockFile takes the exclusive flock that bbolt itself takes, retrying
// until timeout. Taking it before bbolt does lets preflight read a file no
// one else is writing; bbolt's own flock on the same descriptor then
// succeeds at once, and closing the database releases it.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return err
		case !time.Now().Before(deadline):
			return errWouldBlock
		}
		time.Sleep(min(50*time.Millisecond, time.Until(deadline)))
	}
}
