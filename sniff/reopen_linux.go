//go:build linux

package sniff

import (
	"os"

	"golang.org/x/sys/unix"
)

// lostErr implements lostReporter: it returns and clears the socket's
// pending error. The kernel sets ENETDOWN on a packet socket whose
// interface goes down or is unregistered; a ring then merely stays empty
// (ReadFrame times out), while recvmsg(2) returns the error once.
func (l *Live) lostErr() error {
	if l.closed.Load() {
		return nil
	}
	var soerr int
	var serr error
	err := l.rc.Control(func(fd uintptr) {
		soerr, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return l.opError(os.NewSyscallError("getsockopt", serr))
	}
	if soerr != 0 {
		return l.opError(os.NewSyscallError("read", unix.Errno(soerr)))
	}
	return nil
}
