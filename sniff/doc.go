// Package sniff captures frames and parses their link, IP and TCP headers in
// place into Segments.
//
// # Sources
//
// A Source yields raw frames with their link type: Live reads an interface
// through an AF_PACKET socket (Linux only), package pcapsrc reads pcap and
// pcapng files. Frames are read into one reused buffer and are valid until
// the next read, so the capture path does not allocate.
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
