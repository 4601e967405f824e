package sniff

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"time"
)

// ErrNotTCP reports a well-formed frame that does not carry a TCP segment
// (ARP, UDP, ICMP, non-IP EtherTypes): not for zktap rather than damaged.
// Errors returned by ParseFrame for such frames satisfy errors.Is(err, ErrNotTCP).
var ErrNotTCP = errors.New("sniff: not tcp")

// parseError is a sentinel error of ParseFrame. The notTCP ones also match
// ErrNotTCP, so a caller can tell "not for us" from "damaged" without a list.
type parseError struct {
	msg    string
	token  string
	notTCP bool
}

func (e *parseError) Error() string { return e.msg }

func (e *parseError) Is(target error) bool { return e.notTCP && target == ErrNotTCP }

// Sentinel errors of ParseFrame. They are pointers to package-level values,
// so returning them does not allocate.
var (
	errNotIP      = &parseError{msg: "sniff: not ip", token: "not_ip", notTCP: true}
	errNotTCPIP   = &parseError{msg: "sniff: not tcp", token: "not_tcp", notTCP: true}
	errFragment   = &parseError{msg: "sniff: non-first ip fragment", token: "ip_fragment"}
	errTruncated  = &parseError{msg: "sniff: truncated frame", token: "truncated"}
	errBadLink    = &parseError{msg: "sniff: unsupported link type", token: "bad_link"}
	errVLANDepth  = &parseError{msg: "sniff: too many vlan tags", token: "vlan_depth"}
	errBadIP      = &parseError{msg: "sniff: malformed ip header", token: "bad_ip"}
	errExtDepth   = &parseError{msg: "sniff: too many ipv6 extension headers", token: "ipv6_ext_depth"}
	errBadTCP     = &parseError{msg: "sniff: malformed tcp header", token: "bad_tcp"}
	errBadNullFam = &parseError{msg: "sniff: unknown loopback address family", token: "not_ip", notTCP: true}
)

// ErrorToken returns a fixed snake_case token for an error of ParseFrame,
// suitable as a metric label ("not_tcp", "truncated", "bad_ip", ...), or
// "other" for any other error. It never returns err.Error().
func ErrorToken(err error) string {
	var pe *parseError
	if errors.As(err, &pe) {
		return pe.token
	}
	if errors.Is(err, ErrNotTCP) {
		return "not_tcp"
	}
	return "other"
}

// Bounds on header chains. Real traffic has at most two VLAN tags (QinQ) and
// one or two IPv6 extension headers; the bounds keep hostile frames from
// turning parsing into a long loop.
const (
	maxVLANTags = 4
	maxIPv6Ext  = 8
)

// Link types that also carry raw IP, accepted as aliases of LinkRaw.
const (
	linkRawDLT12 = LinkType(12)  // DLT_RAW on most BSDs
	linkRawDLT14 = LinkType(14)  // DLT_RAW on OpenBSD
	linkIPv4     = LinkType(228) // LINKTYPE_IPV4
	linkIPv6     = LinkType(229) // LINKTYPE_IPV6
)

// EtherTypes and the IP protocol number parsed here.
const (
	etherTypeIPv4   = 0x0800
	etherTypeIPv6   = 0x86dd
	etherType8021Q  = 0x8100
	etherType8021AD = 0x88a8
	etherTypeQinQ   = 0x9100 // pre-standard QinQ outer tag
	ipProtoTCP      = 6
)

// ParseFrame parses the link, IP and TCP headers of frame in place and fills
// seg. link is one of the LinkType constants; LINKTYPE values 12, 14, 228 and
// 229 are accepted as raw IP too. It does not allocate: seg.Payload aliases frame, so it is valid only as
// long as frame is (for a Source, until the next ReadFrame).
//
// Payload is clamped both to the bytes captured and to the length the IP
// header declares, so Ethernet padding never becomes payload; WireLen is the
// declared TCP payload length. An IP length of zero (Linux BIG TCP, IPv6
// jumbograms) means "the rest of the frame", so GRO/TSO super-packets larger
// than the MTU parse.
//
// Non-first IPv4/IPv6 fragments are rejected: they carry no TCP header, and
// zktap does not reassemble IP fragments (TCP peers avoid fragmentation with
// path MTU discovery). On error the contents of seg are unspecified.
func ParseFrame(link LinkType, frame []byte, ts time.Time, seg *Segment) error {
	var (
		ip  []byte
		err error
	)
	switch link {
	case LinkEthernet:
		if len(frame) < 14 {
			return errTruncated
		}
		ip, err = etherPayload(binary.BigEndian.Uint16(frame[12:]), frame[14:])
	case LinkSLL:
		// packet type, ARPHRD, address length, 8-byte address, protocol.
		if len(frame) < 16 {
			return errTruncated
		}
		ip, err = etherPayload(binary.BigEndian.Uint16(frame[14:]), frame[16:])
	case LinkSLL2:
		// protocol, reserved, ifindex, ARPHRD, packet type, address length,
		// 8-byte address.
		if len(frame) < 20 {
			return errTruncated
		}
		ip, err = etherPayload(binary.BigEndian.Uint16(frame[0:]), frame[20:])
	case LinkRaw, linkRawDLT12, linkRawDLT14, linkIPv4, linkIPv6:
		ip = frame
	case LinkNull, LinkLoop:
		if len(frame) < 4 {
			return errTruncated
		}
		var fam uint32
		if link == LinkLoop {
			fam = binary.BigEndian.Uint32(frame)
		} else {
			// Host order of the machine that captured: the family is a small
			// number, so whichever order gives one is right (as libpcap does).
			fam = binary.LittleEndian.Uint32(frame)
			if fam > 0xffff {
				fam = binary.BigEndian.Uint32(frame)
			}
		}
		switch fam {
		case 2, 24, 28, 30: // AF_INET; AF_INET6 on NetBSD/OpenBSD, FreeBSD, Darwin
			ip = frame[4:]
		default:
			return errBadNullFam
		}
	default:
		return errBadLink
	}
	if err != nil {
		return err
	}
	if len(ip) < 1 {
		return errTruncated
	}
	switch ip[0] >> 4 {
	case 4:
		err = parseIPv4(ip, seg)
	case 6:
		err = parseIPv6(ip, seg)
	default:
		if link == LinkEthernet || link == LinkSLL || link == LinkSLL2 {
			return errBadIP // EtherType said IP, the header did not
		}
		return errNotIP
	}
	if err != nil {
		return err
	}
	seg.Time = ts
	return nil
}

// etherPayload skips VLAN tags after the EtherType et and returns the IP
// packet that follows, checking that et ends as IPv4 or IPv6 (the version
// nibble is checked by the caller).
func etherPayload(et uint16, b []byte) ([]byte, error) {
	for range maxVLANTags + 1 {
		switch et {
		case etherTypeIPv4, etherTypeIPv6:
			return b, nil
		case etherType8021Q, etherType8021AD, etherTypeQinQ:
			if len(b) < 4 {
				return nil, errTruncated
			}
			et = binary.BigEndian.Uint16(b[2:])
			b = b[4:]
		default:
			return nil, errNotIP
		}
	}
	return nil, errVLANDepth
}

func parseIPv4(b []byte, seg *Segment) error {
	if len(b) < 20 {
		return errTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return errBadIP
	}
	if len(b) < ihl {
		return errTruncated
	}
	end := int(binary.BigEndian.Uint16(b[2:]))
	switch {
	case end == 0:
		end = len(b) // TSO/BIG TCP: length left to the frame
	case end < ihl:
		return errBadIP
	}
	if binary.BigEndian.Uint16(b[6:])&0x1fff != 0 {
		return errFragment
	}
	if b[9] != ipProtoTCP {
		return errNotTCPIP
	}
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	return parseTCP(b[ihl:], end-ihl, src, dst, seg)
}

func parseIPv6(b []byte, seg *Segment) error {
	if len(b) < 40 {
		return errTruncated
	}
	end := 40 + int(binary.BigEndian.Uint16(b[4:]))
	if end == 40 {
		end = len(b) // jumbogram or BIG TCP: length left to the frame
	}
	next := b[6]
	off := 40
	for range maxIPv6Ext + 1 {
		switch next {
		case ipProtoTCP:
			if off > end {
				return errBadIP
			}
			src := netip.AddrFrom16([16]byte(b[8:24]))
			dst := netip.AddrFrom16([16]byte(b[24:40]))
			return parseTCP(b[off:], end-off, src, dst, seg)
		case 0, 43, 60: // hop-by-hop, routing, destination options
			if len(b) < off+2 {
				return errTruncated
			}
			next = b[off]
			off += (int(b[off+1]) + 1) * 8
		case 44: // fragment
			if len(b) < off+8 {
				return errTruncated
			}
			if binary.BigEndian.Uint16(b[off+2:])>>3 != 0 {
				return errFragment
			}
			next = b[off]
			off += 8
		default:
			return errNotTCPIP
		}
		if off > len(b) {
			return errTruncated
		}
	}
	return errExtDepth
}

// parseTCP parses the TCP header at the start of b; wire is the length the IP
// header declares for the TCP header and payload.
func parseTCP(b []byte, wire int, src, dst netip.Addr, seg *Segment) error {
	if len(b) < 20 {
		if wire < 20 {
			return errBadTCP
		}
		return errTruncated
	}
	hl := int(b[12]>>4) * 4
	if hl < 20 || hl > wire {
		return errBadTCP
	}
	if len(b) < hl {
		return errTruncated
	}
	capEnd := min(len(b), wire)
	// One AddrPort at a time: a Flow literal was built on the stack and
	// then copied with 16-byte moves, on which over half of parseTCP's
	// samples fell (loads wider than the stores just made to the same
	// bytes cannot be forwarded from them).
	seg.Flow.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(b[0:]))
	seg.Flow.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(b[2:]))
	seg.Seq = binary.BigEndian.Uint32(b[4:])
	seg.Ack = binary.BigEndian.Uint32(b[8:])
	seg.Flags = TCPFlags(b[13]) & (FIN | SYN | RST | PSH | ACK)
	seg.Payload = b[hl:capEnd:capEnd]
	seg.WireLen = wire - hl
	return nil
}
