//go:build linux

package main

import (
	"bufio"
	"encoding/binary"
	"os"
	"strconv"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// synthSpec describes a synthesised capture: Paths exists requests, each on
// a distinct path, spread over Sessions client connections to port Port,
// Batch requests per segment (pipelined) and their NONODE replies.
type synthSpec struct {
	Paths    int
	Sessions int
	Batch    int
	Port     uint16
}

// synthFlow writes the segments of one TCP connection.
type synthFlow struct {
	w          *pcapgo.Writer
	now        time.Time
	cport      uint16
	sport      uint16
	cseq, sseq uint32
	buf        []byte
	err        error
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpPSH = 0x08
	tcpACK = 0x10
)

// segment writes one Ethernet/IPv4/TCP frame on 127.0.0.1 and advances the
// sender's sequence number.
func (f *synthFlow) segment(fromClient bool, flags byte, payload []byte) {
	if f.err != nil {
		return
	}
	src, dst := f.cport, f.sport
	seq, ack := &f.cseq, &f.sseq
	if !fromClient {
		src, dst = dst, src
		seq, ack = ack, seq
	}
	b := f.buf[:0]
	// Ethernet: zero MACs as on lo, type IPv4.
	b = append(b, make([]byte, 12)...)
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	ip := len(b)
	// IPv4: version/IHL, TOS, total length, id, DF, TTL 64, TCP, checksum, 127.0.0.1 -> 127.0.0.1.
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+20+len(payload)))
	b = append(b, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1)
	binary.BigEndian.PutUint16(b[ip+10:], checksum(b[ip:ip+20], 0))
	tcp := len(b)
	// TCP: ports, seq, ack, data offset 5, flags, window, checksum, urgent.
	b = binary.BigEndian.AppendUint16(b, src)
	b = binary.BigEndian.AppendUint16(b, dst)
	b = binary.BigEndian.AppendUint32(b, *seq)
	b = binary.BigEndian.AppendUint32(b, *ack)
	b = append(b, 5<<4, flags)
	b = binary.BigEndian.AppendUint16(b, 65535)
	b = append(b, 0, 0, 0, 0)
	b = append(b, payload...)
	// Pseudo-header sum: addresses, protocol, TCP length.
	pseudo := uint32(0x7f00+0x0001)*2 + 6 + uint32(len(b)-tcp)
	binary.BigEndian.PutUint16(b[tcp+16:], checksum(b[tcp:], pseudo))
	f.buf = b
	*seq += uint32(len(payload))
	if flags&(tcpSYN|tcpFIN) != 0 {
		*seq++
	}
	f.now = f.now.Add(5 * time.Microsecond)
	f.err = f.w.WritePacket(gopacket.CaptureInfo{Timestamp: f.now, CaptureLength: len(b), Length: len(b)}, b)
}

// checksum is the Internet checksum of b with an initial sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// synthPaths writes the capture described by sp to name and returns the
// number of packets written. Each connection opens with a handshake and a
// ConnectRequest, sends its share of exists requests on /bench/p<N> (a
// segment that is not all digits, so zktap's path normalisation keeps each
// path distinct), gets NONODE replies, and ends with closeSession and FIN.
func synthPaths(name string, sp synthSpec) (int, error) {
	fh, err := os.Create(name)
	if err != nil {
		return 0, err
	}
	defer fh.Close()
	bw := bufio.NewWriterSize(fh, 1<<20)
	w := pcapgo.NewWriter(bw)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		return 0, err
	}
	packets := 0
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	per := (sp.Paths + sp.Sessions - 1) / sp.Sessions
	next := 0
	for s := range sp.Sessions {
		f := &synthFlow{w: w, now: now, cport: uint16(40000 + s), sport: sp.Port, cseq: 1000, sseq: 5000}
		f.segment(true, tcpSYN, nil)
		f.segment(false, tcpSYN|tcpACK, nil)
		f.segment(true, tcpACK, nil)
		packets += 3
		// ConnectRequest (timeout 30 s, no session, zero password, readOnly false)
		// and its ConnectResponse (session id s+1).
		req := binary.BigEndian.AppendUint32(nil, 45)
		req = binary.BigEndian.AppendUint32(req, 0)
		req = binary.BigEndian.AppendUint64(req, 0)
		req = binary.BigEndian.AppendUint32(req, 30000)
		req = binary.BigEndian.AppendUint64(req, 0)
		req = binary.BigEndian.AppendUint32(req, 16)
		req = append(req, make([]byte, 17)...)
		f.segment(true, tcpPSH|tcpACK, req)
		resp := binary.BigEndian.AppendUint32(nil, 36)
		resp = binary.BigEndian.AppendUint32(resp, 0)
		resp = binary.BigEndian.AppendUint32(resp, 30000)
		resp = binary.BigEndian.AppendUint64(resp, uint64(s+1))
		resp = binary.BigEndian.AppendUint32(resp, 16)
		resp = append(resp, make([]byte, 16)...)
		f.segment(false, tcpPSH|tcpACK, resp)
		packets += 2
		var xid int32
		var rq, rp []byte
		for done := 0; done < per && next < sp.Paths; {
			rq, rp = rq[:0], rp[:0]
			for j := 0; j < sp.Batch && done < per && next < sp.Paths; j++ {
				xid++
				p := "/bench/p" + strconv.Itoa(next)
				rq = appendRequest(rq, xid, opExists, func(b []byte) []byte {
					b = appendString(b, p)
					return append(b, 0)
				})
				// Reply header: xid, zxid, err NONODE (-101); no body.
				rp = binary.BigEndian.AppendUint32(rp, 16)
				rp = binary.BigEndian.AppendUint32(rp, uint32(xid))
				rp = binary.BigEndian.AppendUint64(rp, 100)
				rp = binary.BigEndian.AppendUint32(rp, uint32(0xffffff9b))
				done++
				next++
			}
			f.segment(true, tcpPSH|tcpACK, rq)
			f.segment(false, tcpPSH|tcpACK, rp)
			packets += 2
		}
		xid++
		f.segment(true, tcpPSH|tcpACK, appendRequest(nil, xid, opCloseSession, nil))
		rp = binary.BigEndian.AppendUint32(rp[:0], 16)
		rp = binary.BigEndian.AppendUint32(rp, uint32(xid))
		rp = binary.BigEndian.AppendUint64(rp, 101)
		rp = binary.BigEndian.AppendUint32(rp, 0)
		f.segment(false, tcpPSH|tcpACK, rp)
		f.segment(true, tcpFIN|tcpACK, nil)
		f.segment(false, tcpFIN|tcpACK, nil)
		f.segment(true, tcpACK, nil)
		packets += 5
		if f.err != nil {
			return packets, f.err
		}
		now = f.now
	}
	if err := bw.Flush(); err != nil {
		return packets, err
	}
	return packets, fh.Close()
}
