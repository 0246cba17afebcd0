//go:build linux && !386 && !arm

package localfs

import "golang.org/x/sys/unix"

// System calls taking 32-bit ids.
const (
	sysSetfsuid  = unix.SYS_SETFSUID
	sysSetfsgid  = unix.SYS_SETFSGID
	sysGetgroups = unix.SYS_GETGROUPS
	sysSetgroups = unix.SYS_SETGROUPS
)
