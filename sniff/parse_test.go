package sniff

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket/pcapgo"
)

// parsed is the comparable view of a Segment a test checks.
type parsed struct {
	Src, Dst string
	Seq, Ack uint32
	Flags    TCPFlags
	Payload  string
	WireLen  int
	Token    string // ErrorToken of the error, "" when ParseFrame succeeded
	NotTCP   bool   // errors.Is(err, ErrNotTCP)
}

func parse(link LinkType, frame []byte) parsed {
	var seg Segment
	ts := time.Unix(1700000000, 5)
	err := ParseFrame(link, frame, ts, &seg)
	if err != nil {
		return parsed{Token: ErrorToken(err), NotTCP: errors.Is(err, ErrNotTCP)}
	}
	if !seg.Time.Equal(ts) {
		return parsed{Token: "time not set"}
	}
	return parsed{
		Src: seg.Flow.Src.String(), Dst: seg.Flow.Dst.String(),
		Seq: seg.Seq, Ack: seg.Ack, Flags: seg.Flags,
		Payload: string(seg.Payload), WireLen: seg.WireLen,
	}
}

func TestParseFrame(t *testing.T) {
	seg4 := tcpSeg(40000, 2181, 1000, 2000, PSH|ACK, nil, "hello")
	v4 := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	seg6 := tcpSeg(2888, 40001, 7, 8, ACK, nil, "ping")
	v6 := ipv6Pkt(v6a, v6b, 6, nil, seg6)
	want4 := parsed{Src: "10.0.0.1:40000", Dst: "10.0.0.2:2181", Seq: 1000, Ack: 2000, Flags: PSH | ACK, Payload: "hello", WireLen: 5}
	want6 := parsed{Src: "[2001:db8::1]:2888", Dst: "[2001:db8::2]:40001", Seq: 7, Ack: 8, Flags: ACK, Payload: "ping", WireLen: 4}

	// A frame cut by the snap length inside the payload: IP still declares
	// all of it.
	cut := ether(0x0800, nil, v4)
	cut = cut[:len(cut)-2]
	wantCut := want4
	wantCut.Payload, wantCut.WireLen = "hel", 5

	// IPv4 total length 0 (Linux BIG TCP / TSO): the frame decides.
	big := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	big[2], big[3] = 0, 0

	// IPv6 extension headers before TCP.
	v6ext := ipv6Pkt(v6a, v6b, 6, []ipv6Ext{
		{typ: 0, body: []byte{1, 4, 0, 0, 0, 0}},  // hop-by-hop: PadN
		{typ: 43, body: []byte{0, 0, 0, 0, 0, 0}}, // routing, segments left 0
		{typ: 44, body: []byte{0, 1, 0, 0, 0, 9}}, // fragment offset 0, more fragments
		{typ: 60, body: make([]byte, 14)},         // destination options, 16 bytes
	}, seg6)
	v6frag := ipv6Pkt(v6a, v6b, 6, []ipv6Ext{{typ: 44, body: []byte{0, 8 << 3, 0, 0, 0, 9}}}, seg6)
	v6deep := ipv6Pkt(v6a, v6b, 6, []ipv6Ext{
		{0, make([]byte, 6)}, {60, make([]byte, 6)}, {60, make([]byte, 6)}, {60, make([]byte, 6)}, {60, make([]byte, 6)},
		{60, make([]byte, 6)}, {60, make([]byte, 6)}, {60, make([]byte, 6)}, {60, make([]byte, 6)},
	}, seg6)

	// IPv4 header length below 20, TCP data offset below 5, IP total
	// length shorter than the TCP header it carries.
	badIHL := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	badIHL[0] = 0x44
	badOff := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	badOff[20+12] = 0x40
	shortTot := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	binary.BigEndian.PutUint16(shortTot[2:], 30)
	badVer := ipv4Pkt(v4a, v4b, 6, 0, nil, seg4)
	badVer[0] = 0x55

	tests := []struct {
		name  string
		link  LinkType
		frame []byte
		want  parsed
	}{
		{"ethernet ipv4", LinkEthernet, ether(0x0800, nil, v4), want4},
		{"ethernet ipv6", LinkEthernet, ether(0x86dd, nil, v6), want6},
		{"802.1Q", LinkEthernet, ether(0x0800, []uint16{0x8100}, v4), want4},
		{"QinQ 802.1ad", LinkEthernet, ether(0x86dd, []uint16{0x88a8, 0x8100}, v6), want6},
		{"QinQ 0x9100 x3", LinkEthernet, ether(0x0800, []uint16{0x9100, 0x88a8, 0x8100}, v4), want4},
		{"too many vlan tags", LinkEthernet, ether(0x0800, []uint16{0x8100, 0x8100, 0x8100, 0x8100, 0x8100}, v4), parsed{Token: "vlan_depth"}},
		{"ethernet padding", LinkEthernet, pad(ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(1, 2, 3, 4, SYN, nil, "")))),
			parsed{Src: "10.0.0.1:1", Dst: "10.0.0.2:2", Seq: 3, Ack: 4, Flags: SYN}},
		{"snap length cut", LinkEthernet, cut, wantCut},
		{"sll", LinkSLL, sll(0x0800, v4), want4},
		{"sll vlan", LinkSLL, sll(0x8100, append([]byte{0, 100, 0x86, 0xdd}, v6...)), want6},
		{"sll2", LinkSLL2, sll2(0x86dd, v6), want6},
		{"raw ipv4", LinkRaw, v4, want4},
		{"raw ipv6", LinkRaw, v6, want6},
		{"dlt 12 raw", LinkType(12), v4, want4},
		{"dlt 14 raw", LinkType(14), v6, want6},
		{"null little-endian inet", LinkNull, null(binary.LittleEndian, 2, v4), want4},
		{"null big-endian inet", LinkNull, null(binary.BigEndian, 2, v4), want4},
		{"null darwin inet6", LinkNull, null(binary.LittleEndian, 30, v6), want6},
		{"null freebsd inet6", LinkNull, null(binary.LittleEndian, 28, v6), want6},
		{"null unknown family", LinkNull, null(binary.LittleEndian, 7, v4), parsed{Token: "not_ip", NotTCP: true}},
		{"loop inet", LinkLoop, null(binary.BigEndian, 2, v4), want4},
		{"loop inet6", LinkLoop, null(binary.BigEndian, 24, v6), want6},
		{"ipv4 options", LinkEthernet, ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, []byte{0x94, 4, 0, 0, 1, 1, 1, 0}, seg4)), want4},
		{"tcp options", LinkRaw, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 2181, 1000, 2000, PSH|ACK, []byte{2, 4, 5, 0xb4, 1, 3, 3, 7}, "hello")), want4},
		{"ipv4 first fragment", LinkRaw, ipv4Pkt(v4a, v4b, 6, 0x2000, nil, seg4), want4},
		{"ipv4 non-first fragment", LinkRaw, ipv4Pkt(v4a, v4b, 6, 0x2010, nil, seg4), parsed{Token: "ip_fragment"}},
		{"ipv4 total length 0", LinkRaw, big, want4},
		{"ipv6 extension headers", LinkEthernet, ether(0x86dd, nil, v6ext), want6},
		{"ipv6 non-first fragment", LinkRaw, v6frag, parsed{Token: "ip_fragment"}},
		{"ipv6 too many extension headers", LinkRaw, v6deep, parsed{Token: "ipv6_ext_depth"}},
		{"udp", LinkEthernet, ether(0x0800, nil, ipv4Pkt(v4a, v4b, 17, 0, nil, udpDgram(2181, 2181, "x"))), parsed{Token: "not_tcp", NotTCP: true}},
		{"icmpv6", LinkRaw, ipv6Pkt(v6a, v6b, 58, nil, []byte{128, 0, 0, 0}), parsed{Token: "not_tcp", NotTCP: true}},
		{"arp", LinkEthernet, arp(), parsed{Token: "not_ip", NotTCP: true}},
		{"ethertype ip, version 5", LinkEthernet, ether(0x0800, nil, badVer), parsed{Token: "bad_ip"}},
		{"raw version 5", LinkRaw, badVer, parsed{Token: "not_ip", NotTCP: true}},
		{"ihl below 5", LinkRaw, badIHL, parsed{Token: "bad_ip"}},
		{"tcp data offset below 5", LinkRaw, badOff, parsed{Token: "bad_tcp"}},
		{"ip total length inside tcp header", LinkRaw, shortTot, parsed{Token: "bad_tcp"}},
		{"unsupported link", LinkType(105), v4, parsed{Token: "bad_link"}},
		{"empty", LinkEthernet, nil, parsed{Token: "truncated"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, parse(tt.link, tt.frame)); diff != "" {
				t.Errorf("ParseFrame (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseFrameTruncated cuts valid frames of every link type at every byte
// offset: each prefix must fail or give a prefix of the full payload.
func TestParseFrameTruncated(t *testing.T) {
	v4 := ipv4Pkt(v4a, v4b, 6, 0, []byte{1, 1, 1, 1}, tcpSeg(40000, 2181, 1, 2, ACK, []byte{1, 1, 1, 1}, "payload bytes"))
	v6 := ipv6Pkt(v6a, v6b, 6, []ipv6Ext{{0, make([]byte, 6)}, {44, make([]byte, 6)}}, tcpSeg(40000, 2181, 1, 2, ACK, nil, "payload bytes"))
	frames := []struct {
		name  string
		link  LinkType
		frame []byte
	}{
		{"ethernet qinq ipv4", LinkEthernet, ether(0x0800, []uint16{0x88a8, 0x8100}, v4)},
		{"ethernet ipv6", LinkEthernet, ether(0x86dd, nil, v6)},
		{"sll", LinkSLL, sll(0x0800, v4)},
		{"sll2", LinkSLL2, sll2(0x86dd, v6)},
		{"raw", LinkRaw, v4},
		{"null", LinkNull, null(binary.LittleEndian, 30, v6)},
		{"loop", LinkLoop, null(binary.BigEndian, 2, v4)},
	}
	for _, f := range frames {
		t.Run(f.name, func(t *testing.T) {
			full := parse(f.link, f.frame)
			if full.Token != "" || full.Payload != "payload bytes" {
				t.Fatalf("full frame: %+v", full)
			}
			for n := range len(f.frame) {
				got := parse(f.link, f.frame[:n])
				if got.Token != "" {
					if got.NotTCP || got.Token == "other" {
						t.Errorf("cut at %d: token %q, want a damage token", n, got.Token)
					}
					continue
				}
				if len(got.Payload) >= len(full.Payload) || full.Payload[:len(got.Payload)] != got.Payload {
					t.Errorf("cut at %d: payload %q is not a shorter prefix of %q", n, got.Payload, full.Payload)
				}
				if got.WireLen != full.WireLen {
					t.Errorf("cut at %d: WireLen %d, want %d", n, got.WireLen, full.WireLen)
				}
			}
		})
	}
}

func TestParseFrameAllocs(t *testing.T) {
	frames := [][]byte{
		ether(0x0800, []uint16{0x8100}, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(1, 2181, 1, 2, ACK, nil, "x"))),
		ether(0x86dd, nil, ipv6Pkt(v6a, v6b, 6, []ipv6Ext{{0, make([]byte, 6)}}, tcpSeg(1, 2181, 1, 2, ACK, nil, "x"))),
		arp(),
	}
	var seg Segment
	ts := time.Now()
	allocs := testing.AllocsPerRun(1000, func() {
		for _, f := range frames {
			_ = ParseFrame(LinkEthernet, f, ts, &seg)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseFrame allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkParseFrame(b *testing.B) {
	for _, bc := range []struct {
		name  string
		frame []byte
	}{
		{"ipv4", ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(1, 2181, 1, 2, ACK, []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2}, "0123456789")))},
		{"ipv6", ether(0x86dd, nil, ipv6Pkt(v6a, v6b, 6, nil, tcpSeg(1, 2181, 1, 2, ACK, nil, "0123456789")))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var seg Segment
			ts := time.Now()
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.frame)))
			for b.Loop() {
				if err := ParseFrame(LinkEthernet, bc.frame, ts, &seg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// zktrafficFrames returns every frame of the zktraffic pcaps (all Ethernet).
func zktrafficFrames(tb testing.TB) [][]byte {
	tb.Helper()
	paths, err := filepath.Glob("../testdata/zktraffic/*.pcap")
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no zktraffic pcaps: %v", err)
	}
	var frames [][]byte
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			tb.Fatal(err)
		}
		r, err := pcapgo.NewReader(f)
		if err != nil {
			tb.Fatal(err)
		}
		for {
			data, _, err := r.ReadPacketData()
			if err == io.EOF {
				break
			}
			if err != nil {
				tb.Fatalf("%s: %v", p, err)
			}
			frames = append(frames, data)
		}
		f.Close()
	}
	return frames
}

func FuzzParseFrame(f *testing.F) {
	for i, fr := range zktrafficFrames(f) {
		if i%7 == 0 { // a spread of the 1,100 frames keeps the corpus small
			f.Add(uint16(LinkEthernet), fr)
		}
	}
	v4 := ipv4Pkt(v4a, v4b, 6, 0, []byte{1, 1, 1, 1}, tcpSeg(1, 2181, 1, 2, ACK, nil, "x"))
	v6 := ipv6Pkt(v6a, v6b, 6, []ipv6Ext{{0, make([]byte, 6)}, {44, make([]byte, 6)}}, tcpSeg(1, 2181, 1, 2, ACK, nil, "x"))
	f.Add(uint16(LinkEthernet), ether(0x86dd, []uint16{0x88a8, 0x8100}, v6))
	f.Add(uint16(LinkSLL), sll(0x0800, v4))
	f.Add(uint16(LinkSLL2), sll2(0x86dd, v6))
	f.Add(uint16(LinkRaw), v4)
	f.Add(uint16(LinkNull), null(binary.LittleEndian, 30, v6))
	f.Add(uint16(LinkLoop), null(binary.BigEndian, 2, v4))
	f.Fuzz(func(t *testing.T, link uint16, frame []byte) {
		var seg Segment
		err := ParseFrame(LinkType(link), frame, time.Time{}, &seg)
		if err != nil {
			if tok := ErrorToken(err); tok == "other" {
				t.Fatalf("error %v has no token", err)
			}
			return
		}
		if len(seg.Payload) > seg.WireLen {
			t.Fatalf("payload %d bytes > WireLen %d", len(seg.Payload), seg.WireLen)
		}
		if len(seg.Payload) > 0 {
			// Payload must alias the end of a region inside frame.
			start := len(frame) - len(seg.Payload)
			found := false
			for i := 0; i <= start; i++ {
				if &frame[i] == &seg.Payload[0] {
					found = true
					break
				}
			}
			if !found {
				t.Fatal("payload does not alias the frame")
			}
		}
		if !seg.Flow.Src.IsValid() || !seg.Flow.Dst.IsValid() {
			t.Fatalf("invalid flow %v", seg.Flow)
		}
		var again Segment
		if err := ParseFrame(LinkType(link), frame, time.Time{}, &again); err != nil || again.Flow != seg.Flow || again.Seq != seg.Seq || len(again.Payload) != len(seg.Payload) {
			t.Fatal("re-parsing is not stable")
		}
	})
}
