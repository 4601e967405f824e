package sniff

import (
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/bpf"
)

// vmFor assembles a filter into the pure-Go BPF VM.
func vmFor(t testing.TB, link LinkType, ports []uint16, snap int) *bpf.VM {
	t.Helper()
	raw, err := FilterFor(link, ports, false, snap)
	if err != nil {
		t.Fatalf("FilterFor: %v", err)
	}
	ins, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatalf("filter does not disassemble: %v", ins)
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatalf("NewVM: %v", err)
	}
	return vm
}

func TestFilterVM(t *testing.T) {
	ports := []uint16{2181, 2888, 3888}
	tcp4 := func(sport, dport uint16, opts []byte) []byte {
		return ipv4Pkt(v4a, v4b, 6, 0, opts, tcpSeg(sport, dport, 1, 2, ACK, nil, "data"))
	}
	tcp6 := func(sport, dport uint16) []byte {
		return ipv6Pkt(v6a, v6b, 6, nil, tcpSeg(sport, dport, 1, 2, ACK, nil, "data"))
	}
	// IPv4 options whose first bytes read as port 2181 (0x0885) if the
	// filter ignored the IHL and loaded the port at offset 20.
	trap := []byte{0x08, 0x85, 0x08, 0x85}
	tests := []struct {
		name   string
		link   LinkType
		frame  []byte
		accept bool
	}{
		{"ipv4 dst port", LinkEthernet, ether(0x0800, nil, tcp4(40000, 2181, nil)), true},
		{"ipv4 src port", LinkEthernet, ether(0x0800, nil, tcp4(3888, 40000, nil)), true},
		{"ipv4 other port", LinkEthernet, ether(0x0800, nil, tcp4(40000, 2182, nil)), false},
		{"ipv4 options dst port", LinkEthernet, ether(0x0800, nil, tcp4(40000, 2888, []byte{1, 1, 1, 1, 1, 1, 1, 1})), true},
		{"ipv4 options hide no port", LinkEthernet, ether(0x0800, nil, tcp4(1234, 5678, trap)), false},
		{"ipv4 non-first fragment", LinkEthernet, ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0x0008, nil, tcpSeg(40000, 2181, 1, 2, ACK, nil, "x"))), false},
		{"ipv6 dst port", LinkEthernet, ether(0x86dd, nil, tcp6(40000, 2888)), true},
		{"ipv6 src port", LinkEthernet, ether(0x86dd, nil, tcp6(2181, 40000)), true},
		{"ipv6 other port", LinkEthernet, ether(0x86dd, nil, tcp6(2180, 40000)), false},
		{"ipv6 extension header not matched", LinkEthernet, ether(0x86dd, nil, ipv6Pkt(v6a, v6b, 6, []ipv6Ext{{0, make([]byte, 6)}}, tcpSeg(40000, 2181, 1, 2, ACK, nil, "x"))), false},
		{"802.1Q ipv4", LinkEthernet, ether(0x0800, []uint16{0x8100}, tcp4(40000, 2181, nil)), true},
		{"802.1Q ipv4 other port", LinkEthernet, ether(0x0800, []uint16{0x8100}, tcp4(40000, 9999, nil)), false},
		{"QinQ ipv6", LinkEthernet, ether(0x86dd, []uint16{0x88a8, 0x8100}, tcp6(2181, 40000)), true},
		{"0x9100 QinQ ipv4", LinkEthernet, ether(0x0800, []uint16{0x9100, 0x8100}, tcp4(2181, 40000, nil)), true},
		{"three tags", LinkEthernet, ether(0x0800, []uint16{0x88a8, 0x8100, 0x8100}, tcp4(2181, 40000, nil)), false},
		{"udp same port", LinkEthernet, ether(0x0800, nil, ipv4Pkt(v4a, v4b, 17, 0, nil, udpDgram(2181, 2181, "x"))), false},
		{"udp6 same port", LinkEthernet, ether(0x86dd, nil, ipv6Pkt(v6a, v6b, 17, nil, udpDgram(2181, 2181, "x"))), false},
		{"arp", LinkEthernet, arp(), false},
		{"short frame", LinkEthernet, []byte{0, 1, 2}, false},
		{"raw ipv4", LinkRaw, tcp4(40000, 3888, nil), true},
		{"raw ipv6", LinkRaw, tcp6(2888, 40000), true},
		{"raw other port", LinkRaw, tcp4(40000, 80, nil), false},
		{"raw udp", LinkRaw, ipv4Pkt(v4a, v4b, 17, 0, nil, udpDgram(2181, 2181, "x")), false},
	}
	vms := map[LinkType]*bpf.VM{
		LinkEthernet: vmFor(t, LinkEthernet, ports, 0),
		LinkRaw:      vmFor(t, LinkRaw, ports, 0),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := vms[tt.link].Run(tt.frame)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			want := 0 // the VM returns the accept value, not min(value, len)
			if tt.accept {
				want = DefaultSnapLen
			}
			if n != want {
				t.Errorf("filter returned %d, want %d", n, want)
			}
		})
	}
}

// TestFilterAgreesWithParse runs the zktraffic frames through the filter and
// through ParseFrame: the filter must accept exactly the TCP segments to or
// from the port set.
func TestFilterAgreesWithParse(t *testing.T) {
	for _, ports := range [][]uint16{{2181}, {2888, 3888, 20022}, {2781, 2783, 2784, 2785}} {
		vm := vmFor(t, LinkEthernet, ports, 0)
		var accepted, matched int
		for i, fr := range zktrafficFrames(t) {
			n, err := vm.Run(fr)
			if err != nil {
				t.Fatal(err)
			}
			var seg Segment
			want := ParseFrame(LinkEthernet, fr, seg.Time, &seg) == nil &&
				(slices.Contains(ports, seg.Flow.Src.Port()) || slices.Contains(ports, seg.Flow.Dst.Port()))
			if (n > 0) != want {
				t.Errorf("ports %v frame %d: filter accepted=%v, parse says %v", ports, i, n > 0, want)
			}
			if n > 0 {
				accepted++
			}
			if want {
				matched++
			}
		}
		if matched == 0 {
			t.Errorf("ports %v matched no frame: the test checks nothing", ports)
		}
		t.Logf("ports %v: %d frames accepted", ports, accepted)
	}
}

func TestFilterSnapLen(t *testing.T) {
	frame := ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(1, 2181, 1, 2, ACK, nil, string(make([]byte, 1000)))))
	n, err := vmFor(t, LinkEthernet, []uint16{2181}, 96).Run(frame)
	if err != nil || n != 96 {
		t.Errorf("Run = %d, %v; want 96 (the snap length)", n, err)
	}
}

func TestFilterPortLimits(t *testing.T) {
	many := make([]uint16, MaxFilterPorts)
	for i := range many {
		many[i] = uint16(10000 + i)
	}
	// With the largest set, the first and last ports on both sides must
	// still reach accept: jump offsets are at their longest.
	vm := vmFor(t, LinkEthernet, many, 0)
	var got []bool
	for _, p := range []uint16{many[0], many[len(many)-1], 9999, 10000 + MaxFilterPorts} {
		for _, f := range [][]byte{
			ether(0x0800, []uint16{0x8100, 0x8100}, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(p, 1, 1, 2, ACK, nil, ""))),
			ether(0x86dd, nil, ipv6Pkt(v6a, v6b, 6, nil, tcpSeg(1, p, 1, 2, ACK, nil, ""))),
		} {
			n, err := vm.Run(f)
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, n > 0)
		}
	}
	want := []bool{true, true, true, true, false, false, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("accepts (-want +got):\n%s", diff)
	}

	// Duplicates collapse before the limit applies.
	if _, err := Filter(append(many, many[0]), true); err != nil {
		t.Errorf("Filter with a duplicate port: %v", err)
	}
	if _, err := Filter(append(many, 9), false); err == nil {
		t.Error("Filter accepted more than MaxFilterPorts ports")
	}
	if _, err := Filter(nil, false); err == nil {
		t.Error("Filter accepted an empty port set")
	}
	if _, err := FilterFor(LinkSLL, []uint16{1}, false, 0); err == nil {
		t.Error("FilterFor accepted a link type it cannot filter")
	}
}

func TestFilterDropOutgoingPrefix(t *testing.T) {
	// The VM cannot run ExtType (live_linux_test.go checks it on a real
	// socket); check that the program starts with the packet type test.
	raw, err := Filter([]uint16{2181}, true)
	if err != nil {
		t.Fatal(err)
	}
	ins, _ := bpf.Disassemble(raw)
	want := []bpf.Instruction{
		bpf.LoadExtension{Num: bpf.ExtType},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: packetOutgoing, SkipTrue: ins[1].(bpf.JumpIf).SkipTrue},
	}
	if diff := cmp.Diff(want, ins[:2]); diff != "" {
		t.Errorf("program prefix (-want +got):\n%s", diff)
	}
	if r, ok := ins[2+int(ins[1].(bpf.JumpIf).SkipTrue)].(bpf.RetConstant); !ok || r.Val != 0 {
		t.Errorf("outgoing frames jump to %v, want ret #0", ins[2+int(ins[1].(bpf.JumpIf).SkipTrue)])
	}
}
