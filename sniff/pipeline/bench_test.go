package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pcapsrc"
)

// countSink counts messages by kind; it is all a benchmark sink needs.
type countSink struct{ requests, replies, other int }

func (c *countSink) Emit(m *proto.Message) {
	switch m.Kind {
	case proto.Request:
		c.requests++
	case proto.Reply:
		c.replies++
	default:
		c.other++
	}
}

var (
	clientAP = netip.MustParseAddrPort("10.0.0.5:40000")
	serverAP = netip.MustParseAddrPort("10.0.0.1:2181")
)

// frame builds an Ethernet/IPv4/TCP frame from src to dst carrying payload.
func frame(src, dst netip.AddrPort, seq, ack uint32, flags sniff.TCPFlags, payload []byte) []byte {
	b := make([]byte, 0, 14+20+20+len(payload))
	b = append(b, make([]byte, 12)...)           // zero MACs, as on lo
	b = binary.BigEndian.AppendUint16(b, 0x0800) // IPv4
	ip := len(b)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+20+len(payload))) // total length
	b = append(b, 0, 0, 0x40, 0, 64, 6, 0, 0)                        // id, DF, TTL, TCP, checksum 0
	s4, d4 := src.Addr().As4(), dst.Addr().As4()
	b = append(b, s4[:]...)
	b = append(b, d4[:]...)
	_ = ip
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = append(b, 5<<4, byte(flags))
	b = append(b, 0xff, 0xff, 0, 0, 0, 0) // window, checksum, urgent
	return append(b, payload...)
}

// existsRequest is a length-prefixed exists(path, watch=false) with xid.
func existsRequest(xid int32, path string) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(8+4+len(path)+1))
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	b = binary.BigEndian.AppendUint32(b, 3) // exists
	b = binary.BigEndian.AppendUint32(b, uint32(len(path)))
	b = append(b, path...)
	return append(b, 0) // watch false
}

// existsReply is a length-prefixed reply header (xid, zxid, err 0) and a Stat.
func existsReply(xid int32, zxid int64) []byte {
	b := binary.BigEndian.AppendUint32(nil, 16+68)
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	b = binary.BigEndian.AppendUint64(b, uint64(zxid))
	b = binary.BigEndian.AppendUint32(b, 0)
	return append(b, make([]byte, 68)...) // Stat
}

// steadyConn drives one client connection through a worker without
// goroutines: the packet path from frame bytes to decoded message.
type steadyConn struct {
	w          *worker
	sink       *countSink
	cseq, sseq uint32
	xid        int32
	req, rep   []byte // frame buffers, rewritten in place
	seg        sniff.Segment
	ts         time.Time
}

func newSteadyConn(t testing.TB) *steadyConn {
	sink := &countSink{}
	p := New(Config{Blocking: true}, func(int) proto.Sink { return sink }, &proto.Counters{})
	c := &steadyConn{w: p.workers[0], sink: sink, cseq: 1000, sseq: 5000, ts: time.Unix(1700000000, 0)}
	// Handshake: SYN, SYN-ACK, so the decoder starts from the first byte.
	c.packet(frame(clientAP, serverAP, c.cseq-1, 0, sniff.SYN, nil))
	c.packet(frame(serverAP, clientAP, c.sseq-1, c.cseq, sniff.SYN|sniff.ACK, nil))
	// A connect handshake (go-zookeeper's 44-byte form, no readOnly byte).
	conn := binary.BigEndian.AppendUint32(nil, 44)
	conn = append(conn, make([]byte, 20)...)                    // protocolVersion, lastZxidSeen, timeOut...
	binary.BigEndian.PutUint32(conn[4+12:], 30000)              // timeOut
	conn = append(conn, make([]byte, 8)...)                     // sessionId 0
	conn = binary.BigEndian.AppendUint32(conn, 16)              // passwd length
	conn = append(conn, make([]byte, 16)...)                    // passwd
	resp := binary.BigEndian.AppendUint32(nil, 36)              // ConnectResponse
	resp = append(resp, 0, 0, 0, 0, 0, 0, 0x75, 0x30)           // protocolVersion, timeOut 30000
	resp = binary.BigEndian.AppendUint64(resp, 0x100000000abcd) // sessionId
	resp = binary.BigEndian.AppendUint32(resp, 16)
	resp = append(resp, make([]byte, 16)...)
	c.packet(frame(clientAP, serverAP, c.cseq, c.sseq, sniff.PSH|sniff.ACK, conn))
	c.cseq += uint32(len(conn))
	c.packet(frame(serverAP, clientAP, c.sseq, c.cseq, sniff.PSH|sniff.ACK, resp))
	c.sseq += uint32(len(resp))
	c.req = frame(clientAP, serverAP, 0, 0, sniff.PSH|sniff.ACK, existsRequest(1, "/zktap/bench/node"))
	c.rep = frame(serverAP, clientAP, 0, 0, sniff.PSH|sniff.ACK, existsReply(1, 42))
	if sink.requests != 1 || sink.replies != 1 {
		t.Fatalf("handshake decoded %d requests, %d replies; want 1 and 1", sink.requests, sink.replies)
	}
	return c
}

func (c *steadyConn) packet(f []byte) {
	c.ts = c.ts.Add(100 * time.Microsecond)
	if err := sniff.ParseFrame(sniff.LinkEthernet, f, c.ts, &c.seg); err != nil {
		panic(err)
	}
	c.w.segment(&c.seg)
}

// roundTrip sends one exists request and its reply through the worker.
func (c *steadyConn) roundTrip() {
	c.xid++
	const seqOff, xidOff = 14 + 20 + 4, 14 + 20 + 20 + 4
	binary.BigEndian.PutUint32(c.req[seqOff:], c.cseq)
	binary.BigEndian.PutUint32(c.req[xidOff:], uint32(c.xid))
	binary.BigEndian.PutUint32(c.rep[seqOff:], c.sseq)
	binary.BigEndian.PutUint32(c.rep[xidOff:], uint32(c.xid))
	c.packet(c.req)
	c.packet(c.rep)
	c.cseq += uint32(len(c.req) - 54)
	c.sseq += uint32(len(c.rep) - 54)
}

// TestSteadyStateAllocs: frame parse, flow lookup, reassembly, decode and
// pairing of a request/reply do not allocate once a connection is going.
func TestSteadyStateAllocs(t *testing.T) {
	c := newSteadyConn(t)
	for range 100 {
		c.roundTrip()
	}
	allocs := testing.AllocsPerRun(1000, c.roundTrip)
	if allocs != 0 {
		t.Errorf("steady-state request+reply allocates %v times, want 0", allocs)
	}
	if want := 1 + 100 + 1001; c.sink.replies != want || c.sink.requests != want {
		t.Errorf("decoded %d requests, %d replies; want %d each", c.sink.requests, c.sink.replies, want)
	}
}

// BenchmarkPacketToMessage measures one packet from frame bytes to decoded
// (and, for replies, paired) message on a worker.
func BenchmarkPacketToMessage(b *testing.B) {
	c := newSteadyConn(b)
	b.ReportAllocs()
	b.SetBytes(int64(len(c.req)+len(c.rep)) / 2)
	n := 0
	for b.Loop() {
		c.roundTrip()
		n += 2
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "packets/s")
}

// BenchmarkCaptureFromMemory decodes a whole real capture held in memory,
// through the file source, the capture goroutine, a worker and the
// decoders: the offline `zktap dump` path without output; inline, the
// capture goroutine decodes itself (the live default).
func BenchmarkCaptureFromMemory(b *testing.B) {
	path := filepath.Join("..", "..", "testdata", "captures", "workload.pcap")
	data, err := os.ReadFile(path)
	if err != nil {
		b.Skipf("capture not generated yet: %v", err)
	}
	for _, inline := range []bool{false, true} {
		b.Run(map[bool]string{false: "worker", true: "inline"}[inline], func(b *testing.B) {
			benchmarkCapture(b, data, Config{Blocking: true, Inline: inline})
		})
	}
}

func benchmarkCapture(b *testing.B, data []byte, cfg Config) {
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	msgs := 0
	for b.Loop() {
		src, err := pcapsrc.Open(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		sink := &countSink{}
		p := New(cfg, func(int) proto.Sink { return sink }, &proto.Counters{})
		if err := p.Run(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		msgs += sink.requests + sink.replies + sink.other
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}
