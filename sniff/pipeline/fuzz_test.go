package pipeline_test

import (
	"context"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pipeline"
	"github.com/zktap/zktap/sniff/reasm"
)

// fuzzConns are the connections a fuzz input's segments belong to.
var fuzzConns = [4]struct{ client, server netip.AddrPort }{
	{netip.MustParseAddrPort("198.51.100.1:40001"), zkServer},
	{netip.MustParseAddrPort("198.51.100.2:40002"), zabServer},
	{netip.MustParseAddrPort("198.51.100.3:40003"), fleServer},
	{netip.MustParseAddrPort("[2001:db8::1]:40004"), netip.MustParseAddrPort("[2001:db8::2]:2181")},
}

// Each segment of a fuzz input is encoded as:
//
//	byte    bits 0-4 TCP flags (FIN SYN RST PSH ACK), bits 5-6 connection,
//	        bit 7 direction (set: server to client)
//	int32   sequence offset from the next sequence number of that direction
//	uint8   payload length n, then n bytes of payload
//
// so in-order traffic has offset 0 and the fuzzer can move any segment
// anywhere in sequence space; only offset-0 segments advance the next
// sequence number.
const fuzzRecord = 6

// reasmLimits are small, so that inputs a fuzzer can build reach every
// reassembly bound.
var reasmLimits = reasm.Limits{MaxBuffered: 4096, MaxOutOfOrder: 8}

// encodeSegments turns pkts of the fuzzConns into a fuzz input, splitting
// payloads into records of at most 255 bytes.
func encodeSegments(pkts []pkt) []byte {
	var b []byte
	for _, p := range pkts {
		conn, dir := -1, 0
		for i, c := range fuzzConns {
			switch p.flow {
			case sniff.Flow{Src: c.client, Dst: c.server}:
				conn = i
			case sniff.Flow{Src: c.server, Dst: c.client}:
				conn, dir = i, 1
			}
		}
		if conn < 0 {
			continue
		}
		payload := p.payload
		for first := true; first || len(payload) > 0; first = false {
			n := min(len(payload), 255)
			flags := byte(p.flags)
			if n < len(payload) {
				flags &^= byte(sniff.FIN) // the FIN goes with the last piece
			}
			b = append(b, flags&0x1f|byte(conn)<<5|byte(dir)<<7)
			b = binary.BigEndian.AppendUint32(b, 0)
			b = append(b, byte(n))
			b = append(b, payload[:n]...)
			payload = payload[n:]
		}
	}
	return b
}

// decodeSegments is the inverse of encodeSegments, tracking sequence
// numbers per direction as a sender would.
func decodeSegments(in []byte) []pkt {
	var (
		pkts []pkt
		next [len(fuzzConns)][2]uint32
		clk  = newClock()
	)
	for i := range next {
		next[i] = [2]uint32{0xffff_ff00, 0x7fff_fff0}
	}
	for len(in) >= fuzzRecord {
		flags := sniff.TCPFlags(in[0] & 0x1f)
		conn, dir := int(in[0]>>5&3), int(in[0]>>7)
		seq := next[conn][dir] + binary.BigEndian.Uint32(in[1:])
		n := min(int(in[5]), len(in)-fuzzRecord)
		payload := in[fuzzRecord : fuzzRecord+n]
		in = in[fuzzRecord+n:]
		c := fuzzConns[conn]
		flow := sniff.Flow{Src: c.client, Dst: c.server}
		if dir == 1 {
			flow = flow.Reverse()
		}
		pkts = append(pkts, pkt{flow: flow, seq: seq, ack: next[conn][1-dir], flags: flags, payload: payload, ts: clk.tick()})
		// Only an in-place segment moves the sender on; one sent elsewhere
		// (a retransmission, a forgery) leaves it where it was.
		if seq == next[conn][dir] {
			next[conn][dir] += uint32(n)
			if flags&(sniff.SYN|sniff.FIN) != 0 {
				next[conn][dir]++
			}
		}
	}
	return pkts
}

// FuzzPipeline drives arbitrary segment sequences on the ZooKeeper, ZAB and
// FLE ports through the whole pipeline, seeded with complete real
// conversations. Invariants: Run succeeds, no decoder panics, every flow is
// closed and every reassembly byte released at the end, and every message
// is between the two ends of a fuzzed connection.
func FuzzPipeline(f *testing.F) {
	var pkts []pkt
	conversation(newClock(), func(p pkt) { pkts = append(pkts, p) }, 1460)
	f.Add(encodeSegments(pkts))
	pkts = pkts[:0]
	conversation(newClock(), func(p pkt) { pkts = append(pkts, p) }, 7)
	f.Add(encodeSegments(pkts))
	// A session on the IPv6 connection, with a length prefix over MaxFrame.
	pkts = pkts[:0]
	c := newTCPConn(fuzzConns[3].client, fuzzConns[3].server, newClock(), func(p pkt) { pkts = append(pkts, p) })
	c.handshake()
	c.send(proto.ToServer, zkConnReq(), 1460)
	c.send(proto.ToClient, zkConnResp(5), 1460)
	c.send(proto.ToServer, i32(1<<30), 1460)
	c.close()
	f.Add(encodeSegments(pkts))

	// Forged sequence numbers: one segment 1 GiB ahead, one ending exactly
	// 2 GiB past the stream's base (once a panic in reassembly).
	pkts = pkts[:0]
	conversation(newClock(), func(p pkt) { pkts = append(pkts, p) }, 1460)
	seed := encodeSegments(pkts[:8])
	for _, off := range []uint32{1 << 30, 1<<31 - 4} {
		seed = append(seed, byte(sniff.ACK)) // connection 0, to the server
		seed = binary.BigEndian.AppendUint32(seed, off)
		seed = append(seed, 8, 'f', 'o', 'r', 'g', 'e', 'd', '!', '!')
	}
	f.Add(append(seed, encodeSegments(pkts[8:])...))

	known := map[netip.AddrPort]bool{}
	for _, c := range fuzzConns {
		known[c.client], known[c.server] = true, true
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var ctr proto.Counters
		bad := 0
		sink := proto.SinkFunc(func(m *proto.Message) {
			if !known[m.Src] || !known[m.Dst] || m.Src == m.Dst || m.Size < 0 {
				bad++
			}
		})
		cfg := pipeline.Config{Workers: 1, Blocking: true, MaxFlows: 2,
			Reasm: reasmLimits}
		p := pipeline.New(cfg, func(int) proto.Sink { return sink }, &ctr)
		if err := p.Run(context.Background(), sliceSource(decodeSegments(in))); err != nil {
			t.Fatalf("Run: %v", err)
		}
		h := p.Health()
		if h.DecoderPanics != 0 {
			t.Fatalf("decoder panics: %d", h.DecoderPanics)
		}
		if h.FlowsActive != 0 || h.BufferedBytes != 0 {
			t.Fatalf("after Run: %d flows active, %d bytes buffered", h.FlowsActive, h.BufferedBytes)
		}
		if bad > 0 {
			t.Fatalf("%d messages with endpoints outside the fuzzed connections", bad)
		}
	})
}
