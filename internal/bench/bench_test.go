//go:build linux

package main

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"
)

func TestSynthPaths(t *testing.T) {
	tests := []struct {
		name string
		spec synthSpec
		// requests is the number of exists frames expected on the client side.
		requests int
	}{
		{"one session", synthSpec{Paths: 10, Sessions: 1, Batch: 4, Port: 2181}, 10},
		{"uneven split", synthSpec{Paths: 101, Sessions: 4, Batch: 16, Port: 2181}, 101},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "p.pcap")
			n, err := synthPaths(name, tt.spec)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := pcapgo.NewReader(f)
			if err != nil {
				t.Fatal(err)
			}
			got := struct{ Packets, Exists, Replies, BadIPSum, BadTCPSum int }{}
			paths := map[string]bool{}
			for {
				b, _, err := r.ReadPacketData()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got.Packets++
				ip := b[14:34]
				if checksum(ip, 0) != 0 {
					got.BadIPSum++
				}
				tcp := b[34:]
				if checksum(tcp, uint32(0x7f00+0x0001)*2+6+uint32(len(tcp))) != 0 {
					got.BadTCPSum++
				}
				payload := tcp[20:]
				fromClient := binary.BigEndian.Uint16(tcp[2:]) == tt.spec.Port
				for len(payload) >= 4 {
					l := int(binary.BigEndian.Uint32(payload))
					frame := payload[4 : 4+l]
					payload = payload[4+l:]
					switch {
					case fromClient && l > 8 && int32(binary.BigEndian.Uint32(frame[4:])) == opExists:
						got.Exists++
						pl := int(binary.BigEndian.Uint32(frame[8:]))
						paths[string(frame[12:12+pl])] = true
					case !fromClient && l == 16 && int32(binary.BigEndian.Uint32(frame[12:])) == -101:
						got.Replies++
					}
				}
			}
			want := struct{ Packets, Exists, Replies, BadIPSum, BadTCPSum int }{
				Packets: n, Exists: tt.requests, Replies: tt.requests,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("capture (-want +got):\n%s", diff)
			}
			if len(paths) != tt.requests {
				t.Errorf("distinct paths = %d, want %d", len(paths), tt.requests)
			}
		})
	}
}

func TestMixOpFraming(t *testing.T) {
	tests := []struct {
		mix  string
		want []int32 // opcodes of requests 0..7
	}{
		{mixRead, []int32{opExists, opGetData, opExists, opGetData, opExists, opGetData, opExists, opGetData}},
		{mixWrite, []int32{opSetData, opCreate, opSetData, opDelete, opSetData, opCreate, opSetData, opDelete}},
	}
	for _, tt := range tests {
		t.Run(tt.mix, func(t *testing.T) {
			var b []byte
			var got []int32
			for i := range int64(len(tt.want)) {
				var op int32
				b, op = mixOp(b, tt.mix, "t", int32(i+1), i)
				got = append(got, op)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ops (-want +got):\n%s", diff)
			}
			// The frames must parse back one by one with the opcodes and xids
			// the client recorded.
			var parsed []int32
			for xid := int32(1); len(b) > 0; xid++ {
				l := int(binary.BigEndian.Uint32(b))
				if l+4 > len(b) {
					t.Fatalf("frame %d: length %d past the end (%d bytes left)", xid, l, len(b))
				}
				if g := int32(binary.BigEndian.Uint32(b[4:])); g != xid {
					t.Errorf("frame xid = %d, want %d", g, xid)
				}
				parsed = append(parsed, int32(binary.BigEndian.Uint32(b[8:])))
				b = b[4+l:]
			}
			if diff := cmp.Diff(tt.want, parsed); diff != "" {
				t.Errorf("parsed ops (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP zookeeper_client_requests_total x
# TYPE zookeeper_client_requests_total counter
zookeeper_client_requests_total{op="exists",path="/a"} 3
zookeeper_client_requests_total{op="exists",path="other"} 4
zookeeper_client_requests_total{op="getData",path="/a"} 5
zktap_drops_total{where="kernel"} 0
zktap_drops_total{where="queue"} 7
zktap_packets_total 1e+06
`
	ss, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		match []string
		want  float64
	}{
		{"zookeeper_client_requests_total", []string{"op", "exists"}, 7},
		{"zookeeper_client_requests_total", []string{"op", "getData"}, 5},
		{"zookeeper_client_requests_total", []string{"path", "/a"}, 8},
		{"zookeeper_client_requests_total", nil, 12},
		{"zktap_drops_total", []string{"where", "queue"}, 7},
		{"zktap_packets_total", nil, 1e6},
		{"absent", nil, 0},
	}
	for _, tt := range tests {
		if got := sum(ss, tt.name, tt.match...); got != tt.want {
			t.Errorf("sum(%s, %v) = %v, want %v", tt.name, tt.match, got, tt.want)
		}
	}
}

func TestParseTcpdump(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		want    tcpdumpStats
		wantErr bool
	}{
		{"exit", "tcpdump: listening on lo\n12 packets captured\n34 packets received by filter\n5 packets dropped by kernel\n",
			tcpdumpStats{Captured: 12, Received: 34, KernelDrops: 5}, false},
		{"singular", "1 packet captured\n1 packet received by filter\n0 packets dropped by kernel\n",
			tcpdumpStats{Captured: 1, Received: 1}, false},
		{"killed", "tcpdump: listening on lo\n", tcpdumpStats{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTcpdump(tt.out)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarise(t *testing.T) {
	phases := []Phase{
		{Round: 1, Mix: mixRead, Capture: capBoth, ZKCPU: 2,
			Load:    loadResult{Ops: 100, OpsPerSec: 10, Requests: map[string]int64{"exists": 50}},
			Tcpdump: &TcpdumpPhase{CPU: 0.1, tcpdumpStats: tcpdumpStats{Captured: 40, Received: 80}},
			Zktap:   &ZktapPhase{CPU: 0.2, Packets: 40, PeakRSSKiB: 10, CountsEqual: true}},
		{Round: 2, Mix: mixRead, Capture: capBoth, ZKCPU: 2,
			Load:    loadResult{Ops: 300, OpsPerSec: 30, Requests: map[string]int64{"exists": 150}},
			Tcpdump: &TcpdumpPhase{CPU: 0.3, tcpdumpStats: tcpdumpStats{Captured: 60, Received: 120}},
			Zktap:   &ZktapPhase{CPU: 0.6, Packets: 60, PeakRSSKiB: 20, CountsEqual: false}},
	}
	got := summarise(phases)
	if len(got) != 1 {
		t.Fatalf("got %d summaries, want 1", len(got))
	}
	s := got[0]
	type fig struct {
		Ops                                 int64
		OpsPerSec, ZKCPU, TdCPU, ZtCPU      float64
		PeakRSS                             int64
		Equal                               bool
		ZtOverTd, ZtOverZK, ZtOverTdPackets float64
		Exists                              int64
	}
	want := fig{Ops: 400, OpsPerSec: 20, ZKCPU: 4, TdCPU: 0.4, ZtCPU: 0.8, PeakRSS: 20, Equal: false,
		ZtOverTd: 2, ZtOverZK: 0.2, ZtOverTdPackets: 1, Exists: 200}
	g := fig{s.Load.Ops, s.Load.OpsPerSec, s.ZKCPU, s.Tcpdump.CPU, s.Zktap.CPU, s.Zktap.PeakRSSKiB, s.Zktap.CountsEqual,
		s.ZktapOverTcpdump, s.ZktapOverZK, s.ZktapOverTcpdumpPackets, s.Load.Requests["exists"]}
	if diff := cmp.Diff(want, g, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
}

func TestRoundDiffs(t *testing.T) {
	ph := func(round int, mix, capture string, ops float64) Phase {
		return Phase{Round: round, Mix: mix, Capture: capture, Load: loadResult{OpsPerSec: ops}}
	}
	phases := []Phase{
		ph(1, mixWrite, capNone, 999), ph(1, mixWrite, capTcpdump, 100), ph(1, mixWrite, capZktap, 98),
		ph(1, mixRead, capTcpdump, 10), ph(1, mixRead, capZktap, 20),
		ph(2, mixWrite, capZktap, 105), ph(2, mixWrite, capBoth, 1), ph(2, mixWrite, capTcpdump, 100),
		ph(3, mixWrite, capZktap, 50), // no tcpdump phase in round 3: left out
	}
	if got, want := roundDiffs(phases, mixWrite), " (by round: -2.0 %, +5.0 %)"; got != want {
		t.Errorf("roundDiffs(write) = %q, want %q", got, want)
	}
	if got := roundDiffs(phases[:1], mixWrite); got != "" {
		t.Errorf("roundDiffs without a pair = %q, want empty", got)
	}
}

// TestBreakdown: the decode phases and the scrapes add up over the rounds,
// and the per-mix line shows serve, decode-only and scrape side by side.
func TestBreakdown(t *testing.T) {
	phases := []Phase{
		{Round: 1, Mix: mixWrite, Capture: capBoth, Seconds: 30, // two scrape intervals
			Tcpdump: &TcpdumpPhase{CPU: 0.1}, Zktap: &ZktapPhase{CPU: 0.3, ScrapeCPU: 0.02}},
		{Round: 1, Mix: mixWrite, Capture: capDecode,
			Tcpdump: &TcpdumpPhase{CPU: 0.1}, Decode: &DecodePhase{CPU: 0.15, Frames: 10, KernelDrops: 1}},
		{Round: 2, Mix: mixWrite, Capture: capDecode,
			Tcpdump: &TcpdumpPhase{CPU: 0.3}, Decode: &DecodePhase{CPU: 0.45, Frames: 30}},
		{Round: 2, Mix: mixWrite, Capture: capZktap, Zktap: &ZktapPhase{CPU: 0.5, ScrapeCPU: 0.04}},
		{Round: 2, Mix: mixWrite, Capture: capBoth, Seconds: 30,
			Tcpdump: &TcpdumpPhase{CPU: 0.1}, Zktap: &ZktapPhase{CPU: 0.3, ScrapeCPU: 0.04}},
	}
	for i := range phases {
		phases[i].ratios()
	}
	if got := phases[0].ZktapScrapedOverTcpdump; got < 3.3999 || got > 3.4001 {
		t.Errorf("round 1 zktap with scrapes / tcpdump = %v, want (0.3 + 2 x 0.02) / 0.1 = 3.4", got)
	}
	if got := phases[1].DecodeOverTcpdump; got < 1.4999 || got > 1.5001 {
		t.Errorf("round 1 decode/tcpdump = %v, want 1.5", got)
	}
	sum := summarise(phases)
	var dec *Phase
	for i := range sum {
		if sum[i].Capture == capDecode {
			dec = &sum[i]
		}
	}
	if dec == nil || dec.Rounds != 2 || dec.Decode.Frames != 40 || dec.Decode.KernelDrops != 1 ||
		dec.Decode.CPU < 0.5999 || dec.Decode.CPU > 0.6001 {
		t.Fatalf("decode summary = %+v", dec)
	}
	var b strings.Builder
	printBreakdown(&b, sum)
	// Two rounds of both: 60 s, four scrape intervals of a 30 ms scrape
	// (the mean of both's 20 and 40), on 0.6 s of zktap against 0.2 s of
	// tcpdump. The scrape line is the mean over zktap and both: 33.3 ms.
	want := "write: zktap serve 3.00 x tcpdump (3.60 x scraped every 15s); decoding only 1.50 x; one /metrics scrape 33.3 ms CPU\n"
	if b.String() != want {
		t.Errorf("breakdown = %q, want %q", b.String(), want)
	}
}

func TestParseCaptureDone(t *testing.T) {
	out := "time=2026-11-25T23:51:19.186Z level=INFO msg=\"capture done\" frames=1234 bytes=99 flows=3 kernel_drops=7 queue_drops=0 gaps=0\n"
	frames, drops, err := parseCaptureDone(out)
	if err != nil || frames != 1234 || drops != 7 {
		t.Errorf("parseCaptureDone = %d, %d, %v; want 1234, 7, nil", frames, drops, err)
	}
	if _, _, err := parseCaptureDone("zktap: --iface: no such interface\n"); err == nil {
		t.Error("parseCaptureDone of output without a summary: no error")
	}
}
