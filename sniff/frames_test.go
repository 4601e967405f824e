package sniff

import (
	"encoding/binary"
	"net/netip"
)

// Hand-built frames for the parser and filter tests. Each builder appends one
// header in wire order and computes the lengths it declares.

var (
	v4a = netip.MustParseAddr("10.0.0.1")
	v4b = netip.MustParseAddr("10.0.0.2")
	v6a = netip.MustParseAddr("2001:db8::1")
	v6b = netip.MustParseAddr("2001:db8::2")
)

// tcpSeg is a TCP header (seq, ack, flags, options padded to 4 bytes)
// followed by payload.
func tcpSeg(sport, dport uint16, seq, ack uint32, flags TCPFlags, opts []byte, payload string) []byte {
	for len(opts)%4 != 0 {
		opts = append(opts, 1) // NOP
	}
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, byte((20+len(opts))/4)<<4, byte(flags))
	b = binary.BigEndian.AppendUint16(b, 65535) // window
	b = append(b, 0, 0, 0, 0)                   // checksum, urgent pointer
	b = append(b, opts...)
	return append(b, payload...)
}

// udpDgram is a UDP header followed by payload.
func udpDgram(sport, dport uint16, payload string) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	return append(b, payload...)
}

// ipv4Pkt is an IPv4 header (with options, protocol proto, fragment field
// frag) around l4.
func ipv4Pkt(src, dst netip.Addr, proto byte, frag uint16, opts []byte, l4 []byte) []byte {
	ihl := 20 + len(opts)
	b := []byte{byte(0x40 | ihl/4), 0}
	b = binary.BigEndian.AppendUint16(b, uint16(ihl+len(l4)))
	b = append(b, 0x12, 0x34) // id
	b = binary.BigEndian.AppendUint16(b, frag)
	b = append(b, 64, proto, 0, 0) // ttl, protocol, checksum
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, opts...)
	return append(b, l4...)
}

// ipv6Ext is one IPv6 extension header: type is the header's own protocol
// number, used by ipv6Pkt to chain Next Header fields.
type ipv6Ext struct {
	typ  byte
	body []byte // after the next-header and length bytes (fragment: 6 bytes)
}

// ipv6Pkt is an IPv6 header, the extension headers, and l4 with protocol next.
func ipv6Pkt(src, dst netip.Addr, next byte, exts []ipv6Ext, l4 []byte) []byte {
	var ext []byte
	for i, e := range exts {
		nh := next
		if i+1 < len(exts) {
			nh = exts[i+1].typ
		}
		hlen := byte((2+len(e.body))/8 - 1)
		if e.typ == 44 {
			hlen = 0 // fragment header: reserved byte
		}
		ext = append(ext, nh, hlen)
		ext = append(ext, e.body...)
	}
	first := next
	if len(exts) > 0 {
		first = exts[0].typ
	}
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(ext)+len(l4)))
	b = append(b, first, 64)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	b = append(b, ext...)
	return append(b, l4...)
}

// ether is an Ethernet header with zero MACs, the VLAN tags (TPID, TCI
// pairs) and EtherType et, around l3.
func ether(et uint16, tags []uint16, l3 []byte) []byte {
	b := make([]byte, 12) // destination and source MAC
	for _, tpid := range tags {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, 100) // TCI: VLAN 100
	}
	b = binary.BigEndian.AppendUint16(b, et)
	return append(b, l3...)
}

// sll is a Linux cooked v1 header (incoming, ARPHRD_ETHER, 6-byte address).
func sll(proto uint16, l3 []byte) []byte {
	b := []byte{0, 0, 0, 1, 0, 6}
	b = append(b, 2, 0, 0, 0, 0, 1, 0, 0)
	b = binary.BigEndian.AppendUint16(b, proto)
	return append(b, l3...)
}

// sll2 is a Linux cooked v2 header (ifindex 2, ARPHRD_ETHER, incoming).
func sll2(proto uint16, l3 []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, proto)
	b = append(b, 0, 0)                         // reserved
	b = binary.BigEndian.AppendUint32(b, 2)     // ifindex
	b = binary.BigEndian.AppendUint16(b, 1)     // ARPHRD_ETHER
	b = append(b, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0) // packet type, address length, address
	return append(b, l3...)
}

// null is a BSD loopback header: family in byte order bo.
func null(bo binary.AppendByteOrder, family uint32, l3 []byte) []byte {
	return append(bo.AppendUint32(nil, family), l3...)
}

// arp is an Ethernet ARP request.
func arp() []byte {
	b := []byte{0, 1, 0x08, 0x00, 6, 4, 0, 1}
	b = append(b, make([]byte, 20)...)
	return ether(0x0806, nil, b)
}

// pad extends an Ethernet frame to the 60-byte minimum, as NICs do.
func pad(b []byte) []byte {
	for len(b) < 60 {
		b = append(b, 0)
	}
	return b
}
