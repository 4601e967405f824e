//go:build linux

package sniff

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into a TPACKET_V3 block: struct tpacket_block_desc starts with
// version and offset_to_priv, then struct tpacket_hdr_v1 (block_status,
// num_pkts, offset_to_first_pkt, blk_len, ...).
const (
	blkStatusOff   = 8
	blkNumPktsOff  = 12
	blkFirstPktOff = 16
	blkLenOff      = 20
	blkHdrLen      = 48 // sizeof(struct tpacket_block_desc), rounded as the kernel does
)

// ringAlign is the alignment of packet headers in a block (V3_ALIGNMENT in
// net/packet/af_packet.c; not TPACKET_ALIGNMENT, which is 16).
const ringAlign = 8

// ringFrameSize is tp_frame_size: TPACKET_V3 packs packets of any size into
// blocks and ignores it, but the kernel still checks that it is a multiple of
// TPACKET_ALIGNMENT that divides the block size.
const ringFrameSize = 2048

// Bits of Live.state, shared by the reading goroutine and Close.
const (
	stateReading = 1 << iota // the reader is in ReadFrame or holds a frame in the ring
	stateClosed              // Close has been called
)

// ring is the receive ring of a TPACKET_V3 socket: blocks the kernel fills
// with packets and hands to user space whole. Only the reading goroutine
// uses its fields, except mem, which Close may replace under Live.mu.
type ring struct {
	mem       []byte // the mmap(2)ed blocks
	blockSize int
	blocks    int

	cur  int  // index of the block being read, or waited for
	held bool // block cur is owned by user space (TP_STATUS_USER seen)
	left int  // packets of block cur not yet returned
	next int  // offset in block cur of the next packet header

	// ready is the poller callback: it returns true once block cur is
	// handed to user space. Built once so that waiting does not allocate.
	ready func(fd uintptr) bool
}

// ringParams validates and fills in the ring geometry of cfg.
func ringParams(cfg Config) (req unix.TpacketReq3, err error) {
	page := os.Getpagesize()
	bs := cfg.RingBlockSize
	if bs < page || bs&(bs-1) != 0 || bs > 1<<30 {
		return req, fmt.Errorf("sniff: ring block size %d is not a power of two between the page size %d and 1 GiB", bs, page)
	}
	if cfg.RingBlocks < 2 || cfg.RingBlocks > 1<<16 || int64(bs)*int64(cfg.RingBlocks) > 1<<32 {
		return req, fmt.Errorf("sniff: ring of %d blocks of %d bytes: want 2 to 65536 blocks and at most 4 GiB", cfg.RingBlocks, bs)
	}
	tov := cfg.RingTimeout.Milliseconds()
	if tov < 1 || tov > 60_000 {
		return req, fmt.Errorf("sniff: ring block timeout %v: want 1ms to 60s", cfg.RingTimeout)
	}
	fs := min(ringFrameSize, bs)
	return unix.TpacketReq3{
		Block_size:     uint32(bs),
		Block_nr:       uint32(cfg.RingBlocks),
		Frame_size:     uint32(fs),
		Frame_nr:       uint32(bs / fs * cfg.RingBlocks),
		Retire_blk_tov: uint32(tov),
	}, nil
}

// setupRing switches the bound socket fd to TPACKET_V3, gives it a receive
// ring and maps it. Packets the socket queued before the ring existed are
// discarded: they would otherwise sit in the socket buffer forever.
func (l *Live) setupRing(cfg Config) error {
	req, err := ringParams(cfg)
	if err != nil {
		return err
	}
	var mem []byte
	var serr error
	err = l.rc.Control(func(fd uintptr) {
		if serr = unix.SetsockoptInt(int(fd), unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); serr != nil {
			serr = os.NewSyscallError("setsockopt PACKET_VERSION", serr)
			return
		}
		if serr = unix.SetsockoptTpacketReq3(int(fd), unix.SOL_PACKET, unix.PACKET_RX_RING, &req); serr != nil {
			serr = os.NewSyscallError("setsockopt PACKET_RX_RING", serr)
			return
		}
		size := int(req.Block_size) * int(req.Block_nr)
		mem, serr = unix.Mmap(int(fd), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if serr != nil {
			serr = os.NewSyscallError("mmap", serr)
			return
		}
		var b [1]byte
		for range 1 << 16 {
			if _, _, err := unix.Recvfrom(int(fd), b[:], unix.MSG_DONTWAIT|unix.MSG_TRUNC); err != nil {
				break
			}
		}
	})
	if err = errors.Join(err, serr); err != nil {
		if mem != nil {
			_ = unix.Munmap(mem)
		}
		return &net.OpError{Op: "set", Net: "packet", Addr: l.addr, Err: err}
	}
	l.ring = &ring{mem: mem, blockSize: int(req.Block_size), blocks: int(req.Block_nr)}
	l.ring.ready = func(uintptr) bool { return l.ring.blockReady() }
	return nil
}

// status returns the block_status word of block i for atomic access: the
// kernel writes it after filling the block, and user space hands the block
// back by storing TP_STATUS_KERNEL, so both sides need ordered accesses.
func (r *ring) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[i*r.blockSize+blkStatusOff]))
}

// blockReady reports whether block cur belongs to user space.
func (r *ring) blockReady() bool {
	return atomic.LoadUint32(r.status(r.cur))&unix.TP_STATUS_USER != 0
}

// take starts reading block cur, which blockReady reported ready. A block
// descriptor that does not make sense leaves the block empty, so it is
// handed back at once.
func (r *ring) take() {
	b := r.mem[r.cur*r.blockSize : (r.cur+1)*r.blockSize]
	r.held = true
	r.left = int(*(*uint32)(unsafe.Pointer(&b[blkNumPktsOff])))
	r.next = int(*(*uint32)(unsafe.Pointer(&b[blkFirstPktOff])))
	if r.next < blkHdrLen || r.next > r.blockSize {
		r.left = 0
	}
}

// release hands block cur back to the kernel and moves to the next one. The
// atomic store orders it after every read of the block's packets.
func (r *ring) release() {
	atomic.StoreUint32(r.status(r.cur), unix.TP_STATUS_KERNEL)
	r.held = false
	r.left = 0
	r.cur++
	if r.cur == r.blocks {
		r.cur = 0
	}
}

// packet returns the next packet of the held block and its header, or
// ok false if the header does not fit the block (the rest of the block is
// then skipped). snapLen caps the returned frame.
func (r *ring) packet(snapLen int) (frame []byte, h *unix.Tpacket3Hdr, ok bool) {
	base := r.cur * r.blockSize
	off := r.next
	// The kernel aligns headers to 8 bytes; checking it keeps the header
	// access aligned whatever the block says.
	if off < blkHdrLen || off > r.blockSize-unix.SizeofTpacket3Hdr || off%ringAlign != 0 {
		r.left = 0
		return nil, nil, false
	}
	h = (*unix.Tpacket3Hdr)(unsafe.Pointer(&r.mem[base+off]))
	start := off + int(h.Mac)
	end := start + int(h.Snaplen)
	if int(h.Mac) < unix.SizeofTpacket3Hdr || end > r.blockSize {
		r.left = 0
		return nil, nil, false
	}
	r.left--
	if h.Next_offset == 0 {
		r.left = 0 // the last packet of the block has no successor
	}
	r.next = off + int(h.Next_offset)
	return r.mem[base+start : base+min(end, start+snapLen)], h, true
}

// publishBlock adds the frames handed out from the held block to the
// counters Stats reads.
func (l *Live) publishBlock() {
	if l.blockFrames != 0 {
		l.frames.Add(l.blockFrames)
		l.bytes.Add(l.blockBytes)
		l.blockFrames, l.blockBytes = 0, 0
	}
}

// readRing is ReadFrame on the ring.
func (l *Live) readRing() ([]byte, time.Time, LinkType, error) {
	r := l.ring
	// Claim the ring for this goroutine. While the reading bit is set Close
	// does not unmap the ring but replaces it with zeroed memory, so that a
	// frame returned earlier stays readable. A reader that still holds a
	// frame has the bit set already; one plain load then suffices.
	if !l.holding {
		if l.state.Or(stateReading)&stateClosed != 0 {
			return l.closedRead()
		}
		l.holding = true
	} else if l.state.Load()&stateClosed != 0 {
		return l.closedRead()
	}
	for {
		if r.left > 0 {
			data, h, ok := r.packet(l.snapLen)
			if !ok {
				l.badBlocks.Add(1)
				continue
			}
			if h.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				// The kernel moved the frame's outer VLAN tag into
				// tp_vlan_tci, as it does before any packet socket or
				// filter sees it. The frame is returned as the filter
				// saw it, untagged: flows are told apart by address and
				// port, and the VLAN id is not reported.
				l.vlanStripped.Add(1)
			}
			l.blockFrames++
			l.blockBytes += uint64(len(data))
			if r.left == 0 {
				l.publishBlock()
			}
			return data, time.Unix(int64(h.Sec), int64(h.Nsec)), l.link, nil
		}
		if r.held {
			l.publishBlock() // a block cut short by a bad header
			r.release()
		}
		if r.blockReady() {
			r.take()
			continue
		}
		if err := l.waitRing(); err != nil {
			// Nothing of the ring is in the caller's hands any more.
			l.holding = false
			if l.state.And(^stateReading)&stateClosed != 0 {
				return l.closedRead()
			}
			return nil, time.Time{}, 0, err
		}
	}
}

// waitRing blocks in the runtime poller until the kernel hands block cur to
// user space, so that deadlines and Close interrupt the wait.
func (l *Live) waitRing() error {
	for {
		if err := l.refreshDeadline(); err != nil {
			return err
		}
		err := l.rc.Read(l.ring.ready)
		if err == nil {
			return nil
		}
		if l.state.Load()&stateClosed != 0 {
			return l.opError(net.ErrClosed)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// Tell the caller the line was idle: see ReadFrame.
			l.deadline = time.Time{}
			return l.opError(os.ErrDeadlineExceeded)
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		var op *net.OpError
		if errors.As(err, &op) {
			return err
		}
		return l.opError(os.NewSyscallError("poll", err))
	}
}

// closedRead ends a read after Close: the reader releases its claim on the
// ring and, since it no longer holds a frame, unmaps what Close left mapped.
func (l *Live) closedRead() ([]byte, time.Time, LinkType, error) {
	l.holding = false
	l.state.And(^stateReading)
	l.mu.Lock()
	l.unmapLocked()
	l.mu.Unlock()
	return nil, time.Time{}, 0, l.opError(net.ErrClosed)
}

// unmapLocked unmaps the ring (or what replaced it) once. l.mu must be held.
func (l *Live) unmapLocked() {
	if l.ring != nil && l.ring.mem != nil {
		_ = unix.Munmap(l.ring.mem)
		l.ring.mem = nil
	}
}

// retireRingLocked frees the ring on Close. If the reader may be looking at
// the ring, the mapping is replaced in place with zeroed anonymous memory:
// the socket's pages are released (the mapping pins the socket), a frame the
// reader holds stays readable instead of faulting, and the reader unmaps the
// placeholder on its next ReadFrame. l.mu must be held.
func (l *Live) retireRingLocked(readerActive bool) {
	if l.ring == nil || l.ring.mem == nil {
		return
	}
	if !readerActive {
		l.unmapLocked()
		return
	}
	mem := l.ring.mem
	_, _, errno := unix.Syscall6(unix.SYS_MMAP, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)),
		unix.PROT_READ, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_FIXED, ^uintptr(0), 0)
	_ = errno // on failure the ring stays mapped until the reader unmaps it
}

// kernelStats reads and accumulates PACKET_STATISTICS, which the kernel
// resets on every read. With TPACKET_V3 it is struct tpacket_stats_v3; older
// versions fill only its first two fields. l.mu must be held.
func (l *Live) kernelStatsLocked() {
	var st *unix.TpacketStatsV3
	var serr error
	err := l.rc.Control(func(fd uintptr) {
		st, serr = unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
	})
	if err != nil || serr != nil {
		return
	}
	l.drops += uint64(st.Drops)
	l.freezes += uint64(st.Freeze_q_cnt)
}
