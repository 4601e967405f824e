package pipeline_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pipeline"
)

// TestIdleSweep checks that flows are closed as idle by capture time: each
// case opens connections at the given offsets of capture time (one
// handshake and a connect request each, in this order, and FIN both ways
// for those that close) with a 10 s idle timeout, and counts the flows
// closed as idle; the rest are closed when the source ends.
func TestIdleSweep(t *testing.T) {
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	type conn struct {
		at    time.Duration // capture time after base
		close bool
	}
	tests := []struct {
		name   string
		conns  []conn
		closed uint64
		idle   uint64
	}{
		{name: "none idle long enough", conns: []conn{{at: 0}, {at: 9 * time.Second}}},
		{name: "one idle past the timeout", conns: []conn{{at: 0}, {at: 11 * time.Second}}, idle: 1},
		{name: "two idle", conns: []conn{{at: 0}, {at: time.Second}, {at: 30 * time.Second}}, idle: 2},
		{
			// The third connection's segments were captured out of
			// order, older than the latest capture time: the worker's
			// clock must not go back, so that connection counts as seen
			// at 20 s and is not idle at 25 s. (The second closes, so that
			// the third is the least recently seen at 25 s.)
			name:   "an older segment does not turn the clock back",
			conns:  []conn{{at: 0}, {at: 20 * time.Second, close: true}, {at: time.Second}, {at: 25 * time.Second}},
			closed: 1,
			idle:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pkts []pkt
			out := func(p pkt) { pkts = append(pkts, p) }
			for i, cn := range tt.conns {
				c := newTCPConn(clientAddr(i), zkServer, &clock{t: base.Add(cn.at)}, out)
				c.handshake()
				c.send(proto.ToServer, zkConnReq(), 1460)
				if cn.close {
					c.close()
				}
			}
			// One worker: sweeps are per worker.
			res := run(t, pipeline.Config{Workers: 1, IdleTimeout: 10 * time.Second}, sliceSource(pkts), runOpts{})
			want := pipeline.Health{FlowsOpened: uint64(len(tt.conns)), FlowsClosed: tt.closed, FlowsIdle: tt.idle}
			h := res.health
			got := pipeline.Health{FlowsOpened: h.FlowsOpened, FlowsClosed: h.FlowsClosed, FlowsIdle: h.FlowsIdle}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("flows (-want +got):\n%s", diff)
			}
		})
	}
}
