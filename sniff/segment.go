package sniff

import (
	"net/netip"
	"time"
)

// LinkType is the link-layer header type of a captured frame, numbered as
// pcap's LINKTYPE_* values.
type LinkType uint16

// Link types zktap parses.
const (
	LinkNull     LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet LinkType = 1   // Ethernet II, optionally 802.1Q/802.1ad tagged
	LinkRaw      LinkType = 101 // raw IPv4/IPv6 (also 12 and 14 on some systems)
	LinkLoop     LinkType = 108 // OpenBSD loopback: 4-byte network-order family
	LinkSLL      LinkType = 113 // Linux cooked capture v1
	LinkSLL2     LinkType = 276 // Linux cooked capture v2
)

// Flow identifies one direction of a TCP connection.
// It is comparable and can be used as a map key.
type Flow struct {
	Src, Dst netip.AddrPort
}

// Reverse returns the opposite direction.
func (f Flow) Reverse() Flow { return Flow{Src: f.Dst, Dst: f.Src} }

// TCPFlags holds the TCP header flags zktap cares about.
type TCPFlags uint8

// TCP flags, with the bit values of the TCP header.
const (
	FIN TCPFlags = 0x01
	SYN TCPFlags = 0x02
	RST TCPFlags = 0x04
	PSH TCPFlags = 0x08
	ACK TCPFlags = 0x10
)

// Segment is one TCP segment parsed in place from a captured frame.
// Payload aliases the capture buffer and is valid until the next read from
// the Source that produced the frame.
type Segment struct {
	Flow    Flow
	Seq     uint32
	Ack     uint32
	Flags   TCPFlags
	Time    time.Time
	Payload []byte
	// WireLen is the TCP payload length the IP header declares; it exceeds
	// len(Payload) when the capture truncated the frame (snap length).
	WireLen int
}
