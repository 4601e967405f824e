package zktest

import "syscall"

// sysProcAttr puts the JVM in its own process group, so that Kill reaches everything it
// forks, and has the kernel kill it if the test binary dies without running its
// cleanups (a panic in another goroutine, for example), so no JVM outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
