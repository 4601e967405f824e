//go:build linux

package sniff

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/packet"
	"golang.org/x/sys/unix"
)

// Hardware types (linux/if_arp.h) whose frames ParseFrame understands.
const (
	arphrdEther    = 1
	arphrdRawIP    = 519
	arphrdLoopback = 772
	arphrdNone     = 0xfffe // tun devices such as WireGuard: raw IP, no link header
)

// Live captures from one network interface through an AF_PACKET socket with
// a kernel BPF filter attached at open, reading from a memory-mapped
// TPACKET_V3 ring unless Config.NoRing is set. Promiscuous mode stays off:
// zktap watches the host's own traffic. ReadFrame must be called from one
// goroutine at a time; Stats and Close are safe for concurrent use.
type Live struct {
	conn    *packet.Conn
	rc      syscall.RawConn
	addr    net.Addr
	link    LinkType
	timeout time.Duration
	snapLen int
	buf     []byte

	// ring is nil on the recvmsg path. holding is the reader's own record
	// that it set stateReading in state; Close sets stateClosed.
	ring      *ring
	holding   bool
	state     atomic.Int32
	badBlocks atomic.Uint64 // ring packets whose header did not fit their block
	// vlanStripped counts ring frames whose outer VLAN tag the kernel had
	// stripped into metadata (tests show tagged traffic really ran).
	vlanStripped atomic.Uint64

	// State of the read in progress, set by readFn; held in the struct so
	// that the callback and the recvmsg(2) arguments are built once and
	// reading does not allocate.
	readFn   func(fd uintptr) bool
	iov      unix.Iovec
	msg      unix.Msghdr
	oob      []byte
	n        int
	ts       time.Time
	rerr     error
	deadline time.Time

	closed atomic.Bool
	frames atomic.Uint64
	bytes  atomic.Uint64
	// blockFrames and blockBytes count the frames of the ring block the
	// reader holds, owned by the reader alone. They are added to frames and
	// bytes when it hands out the block's last frame (or leaves the block):
	// two atomic adds per frame were a few per cent of live capture, and a
	// reader that has seen everything has always finished its block, so
	// Stats is exact whenever the reader is idle.
	blockFrames uint64
	blockBytes  uint64

	mu      sync.Mutex // guards the kernel counters below and unmapping the ring
	drops   uint64
	freezes uint64
}

// OpenLive opens a capture on the interface named iface. Only TCP segments to
// or from the ports in cfg reach user space. On a loopback interface the
// kernel's duplicate outgoing copy of each packet is dropped by the filter.
//
// The interface's hardware type decides the framing: Ethernet and loopback
// give LinkEthernet, tun devices without a link header (ARPHRD_NONE, e.g.
// WireGuard) give LinkRaw. Other types are rejected.
//
// Frame timestamps are the kernel's receive times (SO_TIMESTAMPNS, or the
// ring's tp_sec/tp_nsec), so time a frame spent queued in the socket buffer
// or the ring does not skew latencies; if the kernel attaches none, the time
// of the read is used. The kernel switches timestamping on from a work
// queue, so frames in the first moments after open may carry their read
// time instead.
//
// Unless cfg.NoRing is set, the socket reads from a TPACKET_V3 ring of
// cfg.RingBlocks blocks of cfg.RingBlockSize bytes (see the package doc).
func OpenLive(iface string, cfg Config) (*Live, error) {
	return openLive(iface, cfg, false)
}

// openLive is OpenLive; keepOutgoing leaves out the loopback duplicate
// check, so tests can show on a real socket that the check matters.
func openLive(iface string, cfg Config, keepOutgoing bool) (*Live, error) {
	cfg = cfg.withDefaults()
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return nil, err
	}
	loopback := ifi.Flags&net.FlagLoopback != 0
	link, err := interfaceLink(ifi, loopback)
	if err != nil {
		return nil, err
	}
	prog, err := FilterFor(link, cfg.ports(), loopback && !keepOutgoing, cfg.SnapLen)
	if err != nil {
		return nil, err
	}
	conn, err := packet.Listen(ifi, packet.Raw, unix.ETH_P_ALL, &packet.Config{Filter: prog})
	if err != nil {
		return nil, err
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		_ = conn.Close()
		return nil, err
	}
	var tserr error
	err = rc.Control(func(fd uintptr) {
		tserr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1)
	})
	if err = errors.Join(err, tserr); err != nil {
		_ = conn.Close()
		return nil, &net.OpError{Op: "set", Net: "packet", Addr: conn.LocalAddr(), Err: os.NewSyscallError("setsockopt", err)}
	}
	if cfg.RecvBuffer > 0 {
		var serr error
		err := rc.Control(func(fd uintptr) {
			// SO_RCVBUFFORCE passes rmem_max when privileged; fall back.
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, cfg.RecvBuffer)
			if serr != nil {
				serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, cfg.RecvBuffer)
			}
		})
		if err = errors.Join(err, serr); err != nil {
			_ = conn.Close()
			return nil, &net.OpError{Op: "set", Net: "packet", Addr: conn.LocalAddr(), Err: os.NewSyscallError("setsockopt", err)}
		}
	}
	l := &Live{
		conn:    conn,
		rc:      rc,
		addr:    conn.LocalAddr(),
		link:    link,
		timeout: cfg.ReadTimeout,
		snapLen: cfg.SnapLen,
	}
	if !cfg.NoRing {
		if err := l.setupRing(cfg); err != nil {
			_ = conn.Close()
			return nil, err
		}
		return l, nil
	}
	l.buf = make([]byte, cfg.SnapLen)
	l.oob = make([]byte, unix.CmsgSpace(int(unsafe.Sizeof(unix.Timespec{})))*2)
	l.iov.Base = &l.buf[0]
	l.iov.SetLen(len(l.buf))
	l.msg.Iov = &l.iov
	l.msg.SetIovlen(1)
	l.readFn = l.read
	return l, nil
}

// interfaceLink maps the interface's hardware type, read from sysfs, to the
// framing ParseFrame expects.
func interfaceLink(ifi *net.Interface, loopback bool) (LinkType, error) {
	if loopback {
		return LinkEthernet, nil // lo has a zeroed Ethernet header
	}
	b, err := os.ReadFile("/sys/class/net/" + ifi.Name + "/type")
	if err != nil {
		// No sysfs (some containers): a device without a hardware
		// address has no link header either.
		if len(ifi.HardwareAddr) == 0 {
			return LinkRaw, nil
		}
		return LinkEthernet, nil
	}
	hw, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, fmt.Errorf("sniff: interface %s: bad hardware type %q", ifi.Name, b)
	}
	switch hw {
	case arphrdEther, arphrdLoopback:
		return LinkEthernet, nil
	case arphrdNone, arphrdRawIP:
		return LinkRaw, nil
	}
	return 0, fmt.Errorf("sniff: interface %s: unsupported hardware type %d", ifi.Name, hw)
}

// read is the syscall.RawConn read callback: it returns false to wait for
// readiness on EAGAIN. It calls recvmsg(2) directly because unix.Recvmsg
// allocates the sender's address on every call.
func (l *Live) read(fd uintptr) bool {
	l.msg.Control = &l.oob[0]
	l.msg.SetControllen(len(l.oob))
	l.msg.Flags = 0
	n, _, errno := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&l.msg)), 0)
	if errno != 0 {
		l.n, l.rerr = 0, errno
		return errno != unix.EAGAIN
	}
	l.n, l.rerr = int(n), nil
	l.ts = cmsgTimestamp(l.oob[:l.msg.Controllen])
	return true
}

// cmsgTimestamp returns the SCM_TIMESTAMPNS time in the control messages
// oob, or the zero Time if there is none.
func cmsgTimestamp(oob []byte) time.Time {
	hdr := unix.CmsgLen(0)
	for len(oob) >= hdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < hdr || l > len(oob) {
			return time.Time{}
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SCM_TIMESTAMPNS && l-hdr >= int(unsafe.Sizeof(unix.Timespec{})) {
			ts := (*unix.Timespec)(unsafe.Pointer(&oob[hdr]))
			return time.Unix(int64(ts.Sec), int64(ts.Nsec))
		}
		oob = oob[min(unix.CmsgSpace(l-hdr), len(oob)):]
	}
	return time.Time{}
}

// LinkType returns the framing of the frames ReadFrame returns.
func (l *Live) LinkType() LinkType { return l.link }

// ReadFrame implements Source. It blocks until a frame arrives, ReadTimeout
// passes with none (it then returns a *net.OpError whose Timeout() is true;
// reading may go on), or the Live is closed (net.ErrClosed wrapped in a
// *net.OpError). The frame is valid until the next call: on the ring it
// points into the ring's memory, and the block holding it goes back to the
// kernel only when the next call moves past it. Reading a frame does not
// allocate.
func (l *Live) ReadFrame() ([]byte, time.Time, LinkType, error) {
	if l.ring != nil {
		return l.readRing()
	}
	for {
		if l.closed.Load() {
			return nil, time.Time{}, 0, l.opError(net.ErrClosed)
		}
		if err := l.refreshDeadline(); err != nil {
			if l.closed.Load() {
				continue
			}
			return nil, time.Time{}, 0, err
		}
		err := l.rc.Read(l.readFn)
		if err == nil {
			err = l.rerr
		}
		if err != nil {
			if l.closed.Load() {
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// Tell the caller the line was idle for ReadTimeout: the
				// pipeline uses it to hand partly filled batches to its
				// workers and to age out idle flows.
				l.deadline = time.Time{}
				return nil, time.Time{}, 0, l.opError(os.ErrDeadlineExceeded)
			}
			if errors.Is(err, unix.EINTR) {
				continue
			}
			var op *net.OpError
			if errors.As(err, &op) {
				return nil, time.Time{}, 0, err
			}
			return nil, time.Time{}, 0, l.opError(os.NewSyscallError("read", err))
		}
		l.frames.Add(1)
		l.bytes.Add(uint64(l.n))
		ts := l.ts
		if ts.IsZero() {
			ts = time.Now()
		}
		return l.buf[:min(l.n, len(l.buf))], ts, l.link, nil
	}
}

// refreshDeadline moves the socket's read deadline ReadTimeout ahead, but
// only when half of it is used up, so a busy socket does not pay for a timer
// update on every read.
func (l *Live) refreshDeadline() error {
	if now := time.Now(); now.Add(l.timeout / 2).After(l.deadline) {
		l.deadline = now.Add(l.timeout)
		return l.conn.SetReadDeadline(l.deadline)
	}
	return nil
}

func (l *Live) opError(err error) error {
	return &net.OpError{Op: "read", Net: "packet", Addr: l.addr, Err: err}
}

// Stats implements Source. It reads the kernel's PACKET_STATISTICS, which
// reset on every read, and accumulates them. On the ring, KernelDrops counts
// packets the kernel found no room for (every block still held by user
// space) and KernelFreezes the times the ring filled up.
func (l *Live) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed.Load() {
		l.kernelStatsLocked()
	}
	return Stats{
		Frames:        l.frames.Load(),
		Bytes:         l.bytes.Load(),
		KernelDrops:   l.drops,
		KernelFreezes: l.freezes,
	}
}

// Close implements Source: it closes the socket, frees the ring and makes a
// blocked ReadFrame return promptly. A frame the reader still holds stays
// readable (its bytes may turn to zeros); the reader's next ReadFrame
// returns net.ErrClosed. Calling Close again returns an error.
func (l *Live) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed.Swap(true) {
		return l.opError(net.ErrClosed)
	}
	old := l.state.Or(stateClosed)
	// Collect the last kernel counters before they vanish with the socket.
	l.kernelStatsLocked()
	_ = l.conn.SetReadDeadline(time.Now())
	err := l.conn.Close()
	l.retireRingLocked(old&stateReading != 0)
	return err
}
