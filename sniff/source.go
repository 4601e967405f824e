package sniff

import "time"

// Source is a stream of captured frames: a live interface (Live) or a capture
// file (package pcapsrc). A Source is read by one goroutine; Stats and Close
// may be called from any goroutine.
type Source interface {
	// ReadFrame returns the next frame; data is valid until the next call.
	// io.EOF ends a file. A live source that saw nothing for its read
	// timeout returns an error whose Timeout() is true; reading may go on.
	ReadFrame() (data []byte, ts time.Time, link LinkType, err error)
	// Stats returns cumulative counters.
	Stats() Stats
	// Close releases the source and unblocks a pending ReadFrame.
	Close() error
}

// Stats holds cumulative capture counters. A Source fills what it knows and
// leaves the rest zero (files have no kernel drops).
type Stats struct {
	// Frames returned by ReadFrame. A live ring counts a block's frames
	// once the reader has had its last one, so while the reader is part
	// way through a block the figure trails by the rest of that block.
	Frames        uint64
	Bytes         uint64 // bytes of those frames as captured
	KernelDrops   uint64 // frames the kernel dropped because the capture ring or socket buffer was full
	KernelFreezes uint64 // times the kernel froze the receive queue (TPACKET_V3 only)

	// Filled by Reopener only: a live capture that lost its interface.
	Reopens uint64        // times the capture was lost and opened again
	Down    time.Duration // total time without a capture, including the current loss
	Lost    bool          // the capture is lost now and being reopened
}
