//go:build !linux

package zktest

import "syscall"

// sysProcAttr puts the JVM in its own process group, so that Kill reaches everything it
// forks.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
