package main

import (
	"net"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// tcpPacket builds an Ethernet/IPv4/TCP frame from port src to dst with the given payload.
func tcpPacket(t *testing.T, src, dst uint16, seq uint32, payload string) packet {
	t.Helper()
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{0, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{0, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: net.IPv4(127, 0, 0, 1), DstIP: net.IPv4(127, 0, 0, 1)}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src), DstPort: layers.TCPPort(dst), Seq: seq, ACK: true, PSH: payload != "", Window: 1000}
	if err := tcp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, tcp, gopacket.Payload(payload)); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	return packet{ci: gopacket.CaptureInfo{CaptureLength: len(b), Length: len(b)}, data: b}
}

// stream is a client (40000) and server (2181) exchange: 10 data segments each way with
// a bare ACK between them.
func stream(t *testing.T) []packet {
	var pkts []packet
	for i := range 10 {
		pkts = append(pkts, tcpPacket(t, 40000, 2181, uint32(100+4*i), string(rune('a'+i))+"req"))
		pkts = append(pkts, tcpPacket(t, 2181, 40000, uint32(900+4*i), string(rune('A'+i))+"rep"))
		pkts = append(pkts, tcpPacket(t, 40000, 2181, uint32(140), ""))
	}
	return pkts
}

func payloads(t *testing.T, pkts []packet) []string {
	t.Helper()
	var out []string
	for _, p := range pkts {
		pk := gopacket.NewPacket(p.data, layers.LinkTypeEthernet, gopacket.Default)
		if tl, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && len(tl.Payload) > 0 {
			out = append(out, string(tl.Payload))
		}
	}
	return out
}

func TestMutate(t *testing.T) {
	in := stream(t)
	orig := payloads(t, in)
	tests := []struct {
		mode      string
		n         int
		wantPkts  int
		wantEdits int
	}{
		{mode: "drop", n: 3, wantPkts: len(in) - 3, wantEdits: 3},
		{mode: "duplicate", n: 4, wantPkts: len(in) + 4, wantEdits: 4},
		{mode: "reorder", n: 2, wantPkts: len(in), wantEdits: 2},
		{mode: "drop", n: 1000, wantPkts: len(in) - 20, wantEdits: 20}, // capped at the data segments
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			out, changes, err := mutate(in, layers.LinkTypeEthernet, tt.mode, tt.n, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(out) != tt.wantPkts || len(changes) != tt.wantEdits {
				t.Fatalf("%d packets, %d changes; want %d, %d", len(out), len(changes), tt.wantPkts, tt.wantEdits)
			}
			again, changes2, _ := mutate(in, layers.LinkTypeEthernet, tt.mode, tt.n, 7)
			if diff := cmp.Diff(changes, changes2); diff != "" || !slices.EqualFunc(out, again, func(a, b packet) bool { return string(a.data) == string(b.data) }) {
				t.Errorf("same seed, different result (-first +second):\n%s", diff)
			}
			got := payloads(t, out)
			switch tt.mode {
			case "reorder":
				// Same payloads, in another order, and each swap is within one direction.
				if slices.Equal(got, orig) {
					t.Error("reorder changed nothing")
				}
				if diff := cmp.Diff(slices.Sorted(slices.Values(orig)), slices.Sorted(slices.Values(got))); diff != "" {
					t.Errorf("payload multiset changed (-want +got):\n%s", diff)
				}
				for _, c := range changes {
					if got[orderOf(in, c.Index)][1:] != orig[orderOf(in, c.Index)][1:] {
						t.Errorf("swap %+v crossed directions", c)
					}
				}
			case "drop":
				for _, c := range changes {
					if slices.Contains(got, orig[orderOf(in, c.Index)]) {
						t.Errorf("dropped segment %+v still present", c)
					}
				}
			case "duplicate":
				for _, c := range changes {
					p := orig[orderOf(in, c.Index)]
					if n := countOf(got, p); n != 2 {
						t.Errorf("duplicated segment %q appears %d times", p, n)
					}
				}
			}
		})
	}
	if _, _, err := mutate(in, layers.LinkTypeEthernet, "shuffle", 1, 1); err == nil {
		t.Error("unknown mode accepted")
	}
}

// orderOf maps a packet index to its position among the data segments.
func orderOf(pkts []packet, index int) int {
	for n, s := range dataSegments(pkts, layers.LinkTypeEthernet) {
		if s.index == index {
			return n
		}
	}
	return -1
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
