package sniff

import "time"

// Config configures live capture.
type Config struct {
	// ZKPorts, ZABPorts and FLEPorts are the client, quorum and election
	// ports. The kernel filter accepts TCP to or from any of them; together
	// they may hold at most MaxFilterPorts distinct ports.
	ZKPorts, ZABPorts, FLEPorts []uint16
	// SnapLen is the largest frame returned; longer frames are cut.
	// 0 means DefaultSnapLen.
	SnapLen int
	// ReadTimeout bounds how long a blocked ReadFrame waits before it checks
	// whether the Live was closed. 0 means 250ms.
	ReadTimeout time.Duration
	// RecvBuffer is the socket receive buffer in bytes; 0 keeps the kernel
	// default. A larger buffer absorbs bursts that would otherwise be
	// counted as KernelDrops. It matters only with NoRing: the ring's size
	// is what bounds a burst otherwise.
	RecvBuffer int

	// NoRing reads one frame per recvmsg(2) system call instead of from a
	// memory-mapped TPACKET_V3 ring. It costs several times the CPU per
	// frame; it stays for comparison and for kernels without TPACKET_V3.
	NoRing bool
	// RingBlockSize is the size in bytes of one ring block, a power of two
	// of at least the page size. The kernel hands packets to user space a
	// block at a time, and cuts frames to a little less than a block (see
	// the package doc). 0 means DefaultRingBlockSize.
	RingBlockSize int
	// RingBlocks is the number of blocks, at least 2; the ring occupies
	// RingBlockSize*RingBlocks bytes of memory for as long as the capture is
	// open. 0 means DefaultRingBlocks.
	RingBlocks int
	// RingTimeout is how long the kernel waits for a block that is not full
	// before it hands it over anyway, so a quiet link still delivers
	// promptly. It is rounded to milliseconds. 0 means DefaultRingTimeout.
	RingTimeout time.Duration
}

// Defaults of the ring geometry. 8 blocks of 1 MiB hold about 40 000 small
// ZooKeeper frames (~200 bytes each with the ring's per-frame overhead): at
// the ~90 000 frames/s and ~18 MB/s a standalone ZooKeeper puts on lo at its
// maximum, about 0.4 s of stalled reading before the kernel drops.
// The ring's pages count in the process's RSS (as RssFile, measured); raise
// RingBlocks where bulk transfers (a ZAB snapshot streams hundreds of MB/s)
// must be captured without loss.
const (
	DefaultRingBlockSize = 1 << 20
	DefaultRingBlocks    = 8
	DefaultRingTimeout   = 20 * time.Millisecond
)

func (c Config) ports() []uint16 {
	p := make([]uint16, 0, len(c.ZKPorts)+len(c.ZABPorts)+len(c.FLEPorts))
	p = append(p, c.ZKPorts...)
	p = append(p, c.ZABPorts...)
	return append(p, c.FLEPorts...)
}

func (c Config) withDefaults() Config {
	if c.SnapLen <= 0 {
		c.SnapLen = DefaultSnapLen
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = 250 * time.Millisecond
	}
	if c.RingBlockSize == 0 {
		c.RingBlockSize = DefaultRingBlockSize
	}
	if c.RingBlocks == 0 {
		c.RingBlocks = DefaultRingBlocks
	}
	if c.RingTimeout == 0 {
		c.RingTimeout = DefaultRingTimeout
	}
	return c
}
