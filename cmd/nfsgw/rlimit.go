package main

import (
	"syscall"

	"github.com/hashicorp/go-hclog"
)

// raiseFileLimit lifts the soft limit on open files to the hard limit:
// every client connection is a descriptor, and at a low soft limit
// (1024 is common) a few hundred clients lock every further one out. Go's
// runtime raises it to one below the hard limit by itself; doing it here
// makes it the whole limit and puts the number in the log, where an
// operator looking at refused connections will look for it.
func raiseFileLimit(log hclog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		log.Warn("cannot read the open file limit", "error", err)
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open file limit", "error", err)
			syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
		}
	}
	log.Info("open file limit", "limit", lim.Cur)
}
