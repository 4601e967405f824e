package fle

import (
	"errors"
	"fmt"
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

// captures returns the path of a zktraffic capture committed under
// testdata/zktraffic at the repository root.
func captures(name string) string {
	return filepath.Join("..", "..", "testdata", "zktraffic", name)
}

// TestOmniCapture decodes the election traffic of zktraffic's omni.pcap
// (ports 2783-2785, 4-byte lengths sent as four 1-byte segments) and checks
// the counts in testdata/zktraffic/README.md: 3 initial messages and 9
// notifications.
// decodeCapture feeds the election traffic of a capture (server ports
// chosen by isServer) to one Decoder per connection, trimming retransmitted
// bytes by sequence number, and returns the counters.
func decodeCapture(t *testing.T, path string, isServer func(uint16) bool, sink proto.Sink) (*proto.Counters, int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ c, s netip.AddrPort }
	type conn struct {
		d       *Decoder
		buf     [2][]byte
		next    [2]uint32
		started [2]bool
	}
	ctr := new(proto.Counters)
	conns := map[key]*conn{}
	total := 0
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
		if tcp.SYN && !tcp.ACK {
			syn[k] = true
			delete(conns, k) // a new connection on the same ports
		}
		c := conns[k]
		if c == nil {
			c = &conn{d: NewDecoder(Config{}, sink, ctr)}
			c.d.Reset(proto.Endpoints{Client: k.c, Server: k.s, FromStart: syn[k]})
			conns[k] = c
			total++
		}
		seq := tcp.Seq
		if tcp.SYN {
			seq++
			c.next[dir], c.started[dir] = seq, true
		}
		payload := tcp.Payload
		if len(payload) == 0 {
			continue
		}
		if c.started[dir] {
			if d := int32(seq - c.next[dir]); d < 0 {
				if int(-d) >= len(payload) {
					continue // retransmission
				}
				payload = payload[-d:]
			} else if d > 0 {
				c.d.Gap(dir)
				c.buf[dir] = nil
			}
		}
		c.next[dir], c.started[dir] = seq+uint32(len(tcp.Payload)), true
		c.buf[dir] = append(c.buf[dir], payload...)
		n := c.d.Feed(dir, c.buf[dir], ci.Timestamp)
		c.buf[dir] = append(c.buf[dir][:0], c.buf[dir][n:]...)
	}
	return ctr, total
}

// TestOmniCapture decodes the election traffic of zktraffic's omni.pcap
// (ports 2783-2785, 4-byte lengths sent as four 1-byte segments) and checks
// the counts in testdata/zktraffic/README.md: 3 initial messages and 9
// notifications.
func TestOmniCapture(t *testing.T) {
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
	ctr, _ := decodeCapture(t, captures("omni.pcap"), func(p uint16) bool { return p >= 2783 && p <= 2785 }, sink)
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

// TestEnsembleCapture decodes the election traffic of testdata/captures/
// ensemble.pcap: a real ZooKeeper 3.8 ensemble on 127.0.0.1-3:3888 that
// elected a leader, lost it and elected another.
func TestEnsembleCapture(t *testing.T) {
	type vote struct {
		State  string
		Leader int64
	}
	initials := map[string]int64{} // address -> sid
	votes := map[vote]int{}
	sink := proto.SinkFunc(func(m *proto.Message) {
		switch m.Op {
		case "initial":
			initials[string(m.FLE.Addr)] = m.FLE.Sid
		case "notification":
			votes[vote{m.FLE.State, m.FLE.Leader}]++
			if m.FLE.Version != 2 {
				t.Errorf("3.8 notification with version %d", m.FLE.Version)
			}
		}
	})
	path := filepath.Join("..", "..", "testdata", "captures", "ensemble.pcap")
	ctr, conns := decodeCapture(t, path, func(p uint16) bool { return p == 3888 }, sink)
	t.Logf("%d connections, initial messages %v, votes %v", conns, initials, votes)
	// Every initial message names the sender by its own election address:
	// server.N is 127.0.0.N:3888.
	if len(initials) == 0 {
		t.Error("no initial message")
	}
	for addr, sid := range initials {
		if want := fmt.Sprintf("127.0.0.%d:3888", sid); addr != want {
			t.Errorf("sid %d sent address %q, want %q", sid, addr, want)
		}
	}
	looking, leading := 0, 0
	for v, n := range votes {
		if v.Leader < 1 || v.Leader > 3 {
			t.Errorf("vote for sid %d", v.Leader)
		}
		switch v.State {
		case "looking":
			looking += n
		case "leading", "following":
			leading += n
		}
	}
	if looking == 0 || leading == 0 {
		t.Errorf("want both looking and settled notifications, got %v", votes)
	}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if v := ctr.Get(proto.FLE, r); v != 0 {
			t.Errorf("counter %s = %d, want 0", r, v)
		}
	}
}
