package pipeline_test

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pipeline"
)

// TestFlowCacheCollisions drives connections whose client ports share a
// slot of the worker's recent-flow cache, interleaved
// segment by segment, and a 4-tuple closed and opened again: every
// message must land on its own connection, exactly as when the ports do
// not collide. A stale or shared cache entry would hand one connection's
// bytes to another's decoder (a reply paired with the wrong request, or a
// frame cut in two) or feed a closed connection.
func TestFlowCacheCollisions(t *testing.T) {
	server := netip.MustParseAddrPort("10.0.0.1:2181")
	build := func(ports []uint16) ([]pkt, []msgKey) {
		clk := newClock()
		var pkts []pkt
		out := func(p pkt) { pkts = append(pkts, p) }
		var want []msgKey
		conns := make([]*tcpConn, len(ports))
		for i, port := range ports {
			conns[i] = newTCPConn(netip.AddrPortFrom(netip.MustParseAddr("10.0.0.2"), port), server, clk, out)
			conns[i].handshake()
			conns[i].send(proto.ToServer, zkConnReq(), 1000)
			conns[i].send(proto.ToClient, zkConnResp(int64(100+i)), 1000)
		}
		// Requests interleaved across connections, each sent in two
		// segments so that a frame spans a switch of connection.
		for r := range 20 {
			for i, c := range conns {
				req, rep, _ := zkRequest(r*len(conns) + i)
				c.send(proto.ToServer, req, len(req)/2+1)
				c.send(proto.ToClient, rep, len(rep)/2+1)
			}
		}
		// The first connection ends and its 4-tuple starts again.
		conns[0].close()
		again := newTCPConn(conns[0].client, server, clk, out)
		again.handshake()
		again.send(proto.ToServer, zkConnReq(), 1000)
		again.send(proto.ToClient, zkConnResp(999), 1000)
		req, rep, _ := zkRequest(3)
		again.send(proto.ToServer, req, 7)
		again.send(proto.ToClient, rep, 7)
		for _, c := range conns[1:] {
			c.close()
		}
		again.close()
		return pkts, want
	}
	run1 := func(ports []uint16) *result {
		pkts, _ := build(ports)
		return run(t, pipeline.Config{Workers: 1, Inline: true, ZKPorts: []uint16{2181}}, sliceSource(pkts), runOpts{keep: true})
	}
	// Three ports sharing 40000's slot, and three in slots of their own.
	same := []uint16{40000}
	for p := uint16(40001); len(same) < 3; p++ {
		if pipeline.FlowSlot(p) == pipeline.FlowSlot(40000) {
			same = append(same, p)
		}
	}
	apartPorts := []uint16{40000}
	for p := uint16(40001); len(apartPorts) < 3; p++ {
		if s := pipeline.FlowSlot(p); s != pipeline.FlowSlot(40000) && (len(apartPorts) == 1 || s != pipeline.FlowSlot(apartPorts[1])) {
			apartPorts = append(apartPorts, p)
		}
	}
	colliding := run1(same)
	apart := run1(apartPorts)

	// Same traffic, same decoding: compare with the ports mapped back.
	remap := map[uint16]uint16{same[1]: apartPorts[1], same[2]: apartPorts[2]}
	norm := func(msgs []msgKey) []msgKey {
		out := make([]msgKey, len(msgs))
		for i, m := range msgs {
			for _, ap := range []*netip.AddrPort{&m.Src, &m.Dst} {
				if p, ok := remap[ap.Port()]; ok {
					*ap = netip.AddrPortFrom(ap.Addr(), p)
				}
			}
			out[i] = m
		}
		return out
	}
	if diff := cmp.Diff(apart.msgs, norm(colliding.msgs), cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("messages with colliding cache slots differ from those without (-apart +colliding):\n%s", diff)
	}
	// 3 connections x (connect pair + 20 request pairs) + the reopened
	// one's connect pair and request pair, every reply paired.
	if want := 3*(2+40) + 4; colliding.n != want {
		t.Errorf("messages = %d, want %d", colliding.n, want)
	}
	if want := 3*21 + 2; colliding.paired != want {
		t.Errorf("paired replies = %d, want %d", colliding.paired, want)
	}
	if h := colliding.health; h.FlowsOpened != 4 || h.FlowsClosed != 4 {
		t.Errorf("flows opened %d closed %d, want 4 and 4", h.FlowsOpened, h.FlowsClosed)
	}
	if d := colliding.damage(); d != 0 {
		t.Errorf("decoder damage counters = %d, want 0: zk %v", d, colliding.counts(proto.ZK))
	}
}
