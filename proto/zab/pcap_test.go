package zab

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/zktap/zktap/proto"
)

// chunk is the TCP payload of one captured segment, or a gap.
type chunk struct {
	ep  proto.Endpoints
	dir proto.Dir
	b   []byte
	ts  time.Time
	gap bool // bytes before b were lost
}

// readPcap returns the in-order TCP payloads of a capture with the
// connection each belongs to; the server side is the one on a port for
// which isServer is true. It is a minimal reassembler for captures taken on
// lo, which are in order: retransmitted bytes are trimmed by sequence
// number, and a jump forward is reported as a gap. A connection whose SYN
// is in the file is FromStart.
func readPcap(t *testing.T, path string, isServer func(uint16) bool) []chunk {
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
	type half struct {
		next    uint32
		started bool
	}
	syn := map[key]bool{}
	seen := map[key]bool{}
	halves := map[key]*[2]half{}
	var out []chunk
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
		case isServer(dst.Port()):
			k, dir = key{src, dst}, proto.ToServer
		case isServer(src.Port()):
			k, dir = key{dst, src}, proto.ToClient
		default:
			continue
		}
		if tcp.SYN && !seen[k] {
			syn[k] = true
			delete(halves, k) // a new connection on the same ports
		}
		if halves[k] == nil {
			halves[k] = &[2]half{}
		}
		h := &halves[k][dir]
		seq := tcp.Seq
		if tcp.SYN {
			seq++
			h.next, h.started = seq, true
		}
		payload := tcp.Payload
		if len(payload) == 0 {
			continue
		}
		gap := false
		if h.started {
			d := int32(seq - h.next)
			switch {
			case d < 0 && int(-d) >= len(payload):
				continue // retransmission
			case d < 0:
				payload = payload[-d:]
			case d > 0:
				gap = true
			}
		}
		h.next, h.started = seq+uint32(len(tcp.Payload)), true
		seen[k] = true
		out = append(out, chunk{ep: proto.Endpoints{Client: k.c, Server: k.s, FromStart: syn[k]}, dir: dir,
			b: append([]byte(nil), payload...), ts: ci.Timestamp, gap: gap})
	}
	return out
}

// captures returns the path of a zktraffic capture committed under
// testdata/zktraffic at the repository root.
func captures(name string) string {
	return filepath.Join("..", "..", "testdata", "zktraffic", name)
}

// TestZktrafficCaptures decodes zktraffic's ZAB captures and checks the
// packet-type counts listed in testdata/zktraffic/README.md.
func TestZktrafficCaptures(t *testing.T) {
	tests := []struct {
		file string
		port uint16
		want map[string]int
		// paired: messages given a latency (ACK/COMMIT with their
		// PROPOSAL, ping echoes, revalidate and sync answers).
		paired map[string]int
	}{
		{"zab_request.pcap", 20022, map[string]int{"request": 3, "proposal": 6, "ack": 6, "commit": 6, "ping": 57}, map[string]int{"ack": 6, "commit": 6, "ping": 28}},
		{"zab_commitandactivate.pcap", 20022, map[string]int{"request": 2, "proposal": 4, "ack": 4, "commitandactivate": 4, "ping": 40}, map[string]int{"ack": 4, "commitandactivate": 4, "ping": 20}},
		{"zab_followerinfo.pcap", 20022, map[string]int{"followerinfo": 2, "leaderinfo": 2, "ackepoch": 2, "diff": 2, "newleader": 2,
			"uptodate": 2, "ack": 4, "ping": 10}, map[string]int{"ping": 4}},
		{"zab_informandactivate.pcap", 20022, map[string]int{"proposal": 2, "ack": 2, "commitandactivate": 2, "informandactivate": 2, "ping": 23}, map[string]int{"ack": 2, "commitandactivate": 2, "ping": 11}},
		{"zab_revalidate.pcap", 20022, map[string]int{"revalidate": 2, "ping": 36}, map[string]int{"revalidate": 1, "ping": 18}},
		{"omni.pcap", 2781, map[string]int{"followerinfo": 2, "leaderinfo": 2, "ackepoch": 2, "diff": 1, "snap": 1, "newleader": 2,
			"uptodate": 2, "request": 3, "sync": 1, "proposal": 4, "ack": 8, "commit": 4, "ping": 120}, map[string]int{"ack": 4, "commit": 4, "ping": 60, "sync": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			chunks := readPcap(t, captures(tt.file), func(p uint16) bool { return p == tt.port })
			got := map[string]int{}
			var ctr proto.Counters
			var snaps []int64
			var txns []string
			paired := map[string]int{}
			sink := proto.SinkFunc(func(m *proto.Message) {
				got[m.Op]++
				if m.Paired {
					paired[m.Op]++
				}
				if m.Op == "request" || m.Op == "proposal" {
					txns = append(txns, m.Op+" "+m.ZAB.TxnOp+" "+string(m.Path))
				}
				if m.Op == "snap" {
					snaps = append(snaps, m.ZAB.SnapSize)
				}
				if m.ZK.AuthUser != nil && m.ZK.AuthScheme != nil && string(m.ZK.AuthScheme) == "digest" {
					for _, c := range m.ZK.AuthUser {
						if c == ':' {
							t.Errorf("digest hash reached AuthUser: %q", m.ZK.AuthUser)
						}
					}
				}
			})
			conns := map[proto.Endpoints]*feeder{}
			for _, c := range chunks {
				key := c.ep
				key.FromStart = false
				f, ok := conns[key]
				if !ok {
					f = &feeder{}
					f.d = NewDecoder(Config{}, sink, &ctr)
					f.d.Reset(c.ep)
					conns[key] = f
				}
				f.feed(c.dir, c.b, c.ts)
			}
			for _, f := range conns {
				for dir, b := range f.buf {
					if len(b) != 0 {
						t.Errorf("%d bytes of dir %d left undecoded", len(b), dir)
					}
				}
				f.d.Close(time.Time{})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("op counts (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.paired, paired); diff != "" {
				t.Errorf("paired counts (-want +got):\n%s", diff)
			}
			bad := map[string]uint64{}
			for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
				if v := ctr.Get(proto.ZAB, r); v != 0 {
					bad[r.String()] = v
				}
			}
			t.Logf("%d connections, counters %v, snap sizes %v, paired %v, txns %q", len(conns), bad, snaps, paired, txns)
			for _, r := range []string{"resync", "unknown_opcode", "len_too_large", "len_negative", "bad_record", "snap_skipped"} {
				if bad[r] != 0 {
					t.Errorf("%s = %d, want 0", r, bad[r])
				}
			}
		})
	}
}
