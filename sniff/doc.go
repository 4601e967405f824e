// Package sniff captures frames and parses their link, IP and TCP headers in
// place into Segments.
//
// # Sources
//
// A Source yields raw frames with their link type: Live reads an interface
// through an AF_PACKET socket (Linux only), package pcapsrc reads pcap and
// pcapng files. Frames are read in place (from the capture ring) or into one
// reused buffer and are valid until the next read, so the capture path does
// not allocate.
//
// # Interfaces that go away
//
// A packet socket outlives its interface but sees nothing more: when the
// interface is deleted or set down the kernel unhooks the socket and sets
// its pending error to ENETDOWN. recvmsg(2) returns that error once and then
// waits for ever; the ring just stays empty, so reads time out and only
// SO_ERROR says why. Neither ever spins. Reopener, returned by
// OpenReopening, turns this into a loss: it closes the socket, returns
// timeouts while it retries opening the interface every second (only once
// the interface exists and is up), and carries on with the new socket,
// counting reopens and the time without a capture in Stats.
//
// # The capture ring
//
// Live reads from a memory-mapped TPACKET_V3 ring (PACKET_RX_RING), the way
// libpcap does for tcpdump, instead of one recvmsg(2) system call per
// frame. The kernel copies each frame the filter accepts into the current
// block of the ring, behind a small tpacket3_hdr carrying its kernel
// timestamp, lengths and VLAN metadata, and hands the block to user space
// whole (TP_STATUS_USER in the block descriptor) when it is full or
// Config.RingTimeout after its first frame, so a quiet link still delivers
// promptly. ReadFrame walks the frames of a block in place and waits in the
// Go runtime's poller, which the kernel wakes when it retires a block, only
// when the next block is not ready: at high rates one wakeup serves
// thousands of frames. Deadlines and Close interrupt the wait as on any
// socket. On loopback under a flood from another process the ring costs
// about 0.1 CPU µs per frame against 3–5 µs for recvmsg
// (BenchmarkLiveRing, BenchmarkLiveRecvmsg). Config.NoRing selects the
// recvmsg path, kept for comparison and for kernels without TPACKET_V3.
//
// Sizing: the ring is Config.RingBlocks blocks of Config.RingBlockSize
// bytes (default 8 x 1 MiB), mapped for as long as the capture is open; its
// pages count in RSS. A frame takes its captured length plus about 82 bytes
// (tpacket3_hdr, link address, alignment), rounded to 8, and never spans
// blocks, so the kernel cuts frames to a little less than a block. When the reader falls behind until every
// block is still in user space, the kernel freezes the ring and drops
// frames until the reader hands a block back; Stats reports those as
// KernelDrops and the freezes as KernelFreezes (PACKET_STATISTICS, which
// reading resets, accumulated). The ring absorbs as long a stall as its
// size divided by the byte rate of the filtered traffic.
//
// Ownership: a frame returned by ReadFrame points into the ring and is
// valid until the next ReadFrame, which hands the frame's block back to the
// kernel (an atomic store of TP_STATUS_KERNEL, ordered after every read of
// the block) once it moves past the block's last frame. A caller that keeps
// bytes longer must copy them. Reading takes no locks and does not
// allocate. Close frees the ring; if the reader may still hold a frame,
// the ring is replaced in place by zeroed memory, so the frame stays
// readable (as zeros) rather than faulting, and the reader's next
// ReadFrame, which returns net.ErrClosed, unmaps it.
//
// VLANs: on receive the kernel moves a frame's outer VLAN tag into packet
// metadata before any packet socket or filter sees it (tp_vlan_tci on the
// ring, nothing on the recvmsg path). Frames are returned as the filter saw
// them, without that tag; an inner QinQ tag stays in the frame and
// ParseFrame skips it. Flows are told apart by address and port, so the
// VLAN id is not reported.
//
// # Parsing
//
// ParseFrame handles Ethernet (with 802.1Q/802.1ad tags), Linux cooked
// capture v1 and v2, raw IP and BSD loopback framing, IPv4 with options,
// IPv6 with extension headers, and TCP with options. Frames that are not TCP
// return errors matching ErrNotTCP; truncated and malformed frames return
// other errors, which ErrorToken maps to fixed tokens for counting.
//
// # Filtering
//
// Filter builds a classic BPF program that the kernel runs before copying a
// frame to the socket, accepting only TCP segments to or from the
// configured ports. On loopback it also drops the PACKET_OUTGOING copy the
// kernel hands to packet sockets, which would otherwise make every packet
// appear twice.
//
// The package does not log; it returns errors and counters.
package sniff
