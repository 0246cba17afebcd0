//go:build linux && (386 || arm)

package localfs

import "golang.org/x/sys/unix"

// On 386 and arm the unsuffixed calls take 16-bit ids; use the 32-bit ones.
const (
	sysSetfsuid  = unix.SYS_SETFSUID32
	sysSetfsgid  = unix.SYS_SETFSGID32
	sysGetgroups = unix.SYS_GETGROUPS32
	sysSetgroups = unix.SYS_SETGROUPS32
)
