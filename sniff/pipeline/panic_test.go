package pipeline_test

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pipeline"
)

// boomSink records every message and panics on a request for the path
// "/boom", as a decoder bug would panic somewhere below the worker.
type boomSink struct {
	mu   *sync.Mutex
	msgs *[]msgKey
}

func (s boomSink) Emit(m *proto.Message) {
	if m.Kind == proto.Request && string(m.Path) == "/boom" {
		panic("boom")
	}
	s.mu.Lock()
	*s.msgs = append(*s.msgs, keyOf(m))
	s.mu.Unlock()
}

// TestPanicGuard shows that a panic while handling one segment costs only
// that segment's connection: it is counted (Health.DecoderPanics and the
// decoder-panic reason), the connection is dropped, and the capture goes on,
// so the other connections' messages, before and after the panic, and the
// panicking connection's messages before it are all still decoded. Inline
// and with workers.
func TestPanicGuard(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			clk := newClock()
			var pkts []pkt
			out := func(p pkt) { pkts = append(pkts, p) }
			conns := []*tcpConn{
				newTCPConn(clientAddr(1), zkServer, clk, out),
				newTCPConn(clientAddr(2), zkServer, clk, out),
			}
			for i, c := range conns {
				c.handshake()
				c.send(proto.ToServer, zkConnReq(), 1460)
				c.send(proto.ToClient, zkConnResp(int64(0x100+i)), 1460)
			}
			// Ten exists round trips on each connection, interleaved; the
			// fourth request of connection 0 is the one the sink panics on.
			for n := range 10 {
				for i, c := range conns {
					xid := int32(n + 1)
					path := fmt.Sprintf("/c%d/n%d", i, n)
					if i == 0 && n == 3 {
						path = "/boom"
					}
					c.send(proto.ToServer, zkFrame(i32(xid), i32(opExists), ustr(path), []byte{0}), 1460)
					c.send(proto.ToClient, zkFrame(i32(xid), i64(int64(0x200+n)), i32(0), zkStat()), 1460)
				}
			}
			for _, c := range conns {
				c.close()
			}

			var (
				mu   sync.Mutex
				msgs []msgKey
				ctr  proto.Counters
			)
			cfg := pipeline.Config{Workers: workers, Inline: workers == 1, Blocking: true, ZKPorts: []uint16{zkServer.Port()}}
			p := pipeline.New(cfg, func(int) proto.Sink { return boomSink{mu: &mu, msgs: &msgs} }, &ctr)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := p.Run(ctx, sliceSource(pkts)); err != nil {
				t.Fatalf("Run: %v", err)
			}
			h := p.Health()
			if h.DecoderPanics != 1 {
				t.Errorf("DecoderPanics = %d, want 1", h.DecoderPanics)
			}
			if n := ctr.Get(proto.ZK, proto.ReasonDecoderPanic); n != 1 {
				t.Errorf("decoder-panic count = %d, want 1", n)
			}

			got := map[netip.AddrPort]map[string]bool{}
			for _, m := range msgs {
				if m.Kind != proto.Request {
					continue
				}
				if got[m.Src] == nil {
					got[m.Src] = map[string]bool{}
				}
				got[m.Src][m.Path] = true
			}
			for n := range 10 {
				if p := fmt.Sprintf("/c1/n%d", n); !got[clientAddr(2)][p] {
					t.Errorf("the other connection's request %s was not decoded", p)
				}
			}
			for n := range 3 {
				if p := fmt.Sprintf("/c0/n%d", n); !got[clientAddr(1)][p] {
					t.Errorf("the panicking connection's request %s, before the panic, was not decoded", p)
				}
			}
		})
	}
}

// flushBoomSink panics when flushed, outside any segment.
type flushBoomSink struct{ boomSink }

func (flushBoomSink) Flush() { panic("flush boom") }

// TestPanicOutsideSegment shows that the guard swallows only panics from
// handling a segment: one from elsewhere in the inline capture loop (here
// the sink's Flush) still reaches the caller. Swallowing it would loop on
// the same failure, or hide a bug that is not a decoder's.
func TestPanicOutsideSegment(t *testing.T) {
	clk := newClock()
	var pkts []pkt
	c := newTCPConn(clientAddr(1), zkServer, clk, func(p pkt) { pkts = append(pkts, p) })
	c.handshake()
	c.send(proto.ToServer, zkConnReq(), 1460)
	var mu sync.Mutex
	var msgs []msgKey
	cfg := pipeline.Config{Workers: 1, Inline: true, Blocking: true, ZKPorts: []uint16{zkServer.Port()}}
	p := pipeline.New(cfg, func(int) proto.Sink { return flushBoomSink{boomSink{mu: &mu, msgs: &msgs}} }, &proto.Counters{})
	defer func() {
		if r := recover(); r != "flush boom" {
			t.Errorf("Run's panic = %v, want the sink's \"flush boom\"", r)
		}
		if h := p.Health(); h.DecoderPanics != 0 {
			t.Errorf("DecoderPanics = %d for a panic outside a segment, want 0", h.DecoderPanics)
		}
	}()
	p.Run(context.Background(), sliceSource(pkts))
	t.Error("Run returned; want the sink's panic")
}
