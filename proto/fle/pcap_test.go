package fle

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/zktap/zktap/proto"
)

func captures(name string) string {
	p := filepath.Join("..", "..", "testdata", "zktraffic", name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return filepath.Join("/work/shared/testdata/zktraffic", name)
}

// TestOmniCapture decodes the election traffic of zktraffic's omni.pcap
// (ports 2783-2785, 4-byte lengths sent as four 1-byte segments) and checks
// the counts in testdata/zktraffic/README.md: 3 initial messages and 9
// notifications.
func TestOmniCapture(t *testing.T) {
	f, err := os.Open(captures("omni.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	isServer := func(p uint16) bool { return p >= 2783 && p <= 2785 }
	type key struct{ c, s netip.AddrPort }
	type conn struct {
		d   *Decoder
		buf [2][]byte
	}
	var ctr proto.Counters
	got := map[string]int{}
	var initials []string
	sink := proto.SinkFunc(func(m *proto.Message) {
		got[m.Op]++
		if m.Op == "initial" {
			initials = append(initials, string(m.FLE.Addr))
		}
		if m.Op == "notification" && m.FLE.State == "" {
			t.Errorf("notification without state")
		}
	})
	conns := map[key]*conn{}
	syn := map[key]bool{}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		ip4, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		tcp, _ := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if ip4 == nil || tcp == nil {
			continue
		}
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.SrcIP.To4())), uint16(tcp.SrcPort))
		dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4.DstIP.To4())), uint16(tcp.DstPort))
		var k key
		var dir proto.Dir
		switch {
		case isServer(dst.Port()) && !isServer(src.Port()):
			k, dir = key{src, dst}, proto.ToServer
		case isServer(src.Port()) && !isServer(dst.Port()):
			k, dir = key{dst, src}, proto.ToClient
		default:
			continue
		}
		if tcp.SYN && conns[k] == nil {
			syn[k] = true
		}
		if len(tcp.Payload) == 0 {
			continue
		}
		c := conns[k]
		if c == nil {
			c = &conn{d: NewDecoder(Config{}, sink, &ctr)}
			c.d.Reset(proto.Endpoints{Client: k.c, Server: k.s, FromStart: syn[k]})
			conns[k] = c
		}
		c.buf[dir] = append(c.buf[dir], tcp.Payload...)
		n := c.d.Feed(dir, c.buf[dir], ci.Timestamp)
		c.buf[dir] = append(c.buf[dir][:0], c.buf[dir][n:]...)
	}
	if diff := cmp.Diff(map[string]int{"initial": 3, "notification": 9}, got); diff != "" {
		t.Errorf("op counts (-want +got):\n%s", diff)
	}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if v := ctr.Get(proto.FLE, r); v != 0 {
			t.Errorf("counter %s = %d, want 0", r, v)
		}
	}
	if diff := cmp.Diff([]string{"localhost:2784", "localhost:2785", "localhost:2785"}, initials); diff != "" {
		t.Errorf("initial addresses (-want +got):\n%s", diff)
	}
}
