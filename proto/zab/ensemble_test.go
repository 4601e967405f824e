package zab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// TestEnsembleCapture decodes the quorum traffic of testdata/captures/
// ensemble.pcap: a real 3-node ZooKeeper 3.8 ensemble on 127.0.0.1-3 whose
// first leader was killed after a client workload ran through a follower
// (testdata/captures/ensemble.txt and ensemble.json say what happened).
func TestEnsembleCapture(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "captures")
	txt, err := os.ReadFile(filepath.Join(dir, "ensemble.txt"))
	if err != nil {
		t.Fatal(err)
	}
	// "first leader: server.N (127.0.0.N) ...". All quorum connections come
	// from 127.0.0.1 (FIELD-NOTES.md), so learners are told apart by
	// connection, not by address.
	var firstLeader string
	for _, line := range strings.Split(string(txt), "\n") {
		if rest, ok := strings.CutPrefix(line, "first leader: server."); ok {
			firstLeader = "127.0.0." + rest[:1] + ":2888"
		}
	}
	if firstLeader == "" {
		t.Fatalf("ensemble.txt not understood:\n%s", txt)
	}

	chunks := readPcap(t, filepath.Join(dir, "ensemble.pcap"), func(p uint16) bool { return p == 2888 })
	var ctr proto.Counters
	ops := map[string]int{}
	requests := map[string]int{} // forwarded by the client's follower to the first leader
	proposals := map[string]int{}
	unpairedAcks := 0
	var cur proto.Endpoints
	sink := proto.SinkFunc(func(m *proto.Message) {
		ops[m.Op]++
		toFirst := cur.Server.String() == firstLeader
		switch m.Op {
		case "request":
			if toFirst {
				requests[m.ZAB.TxnOp]++
			}
			if len(m.Path) > 0 && m.Path[0] != '/' {
				t.Errorf("request path %q", m.Path)
			}
		case "proposal":
			if toFirst {
				proposals[m.ZAB.TxnOp]++
			}
			if m.ZAB.TxnOp == "unknown" || !m.HasSession {
				t.Errorf("proposal without txn: %+v", m.ZAB)
			}
		case "snap":
			if m.ZAB.SnapSize < 100 {
				t.Errorf("snap of %d bytes", m.ZAB.SnapSize)
			}
		case "ack":
			if uint32(m.Zxid) != 0 && !m.Paired {
				unpairedAcks++
			}
		}
	})
	conns := map[[2]string]*feeder{}
	for _, c := range chunks {
		k := [2]string{c.ep.Client.String(), c.ep.Server.String()}
		f := conns[k]
		if f == nil || (c.ep.FromStart && !f.d.ep.FromStart) {
			f = &feeder{}
			f.d = NewDecoder(Config{}, sink, &ctr)
			f.d.Reset(c.ep)
			conns[k] = f
		}
		cur = c.ep
		if c.gap {
			f.d.Gap(c.dir)
			f.buf[c.dir], f.skip[c.dir] = nil, 0
		}
		f.feed(c.dir, c.b, c.ts)
	}
	for _, f := range conns {
		f.d.Close(time.Time{})
	}
	t.Logf("%d connections, ops %v", len(conns), ops)

	// What the client did through the follower (ensemble.json): every write
	// and the sync are forwarded to the leader, sessions are global.
	wantReq := map[string]int{"createSession": 1, "create": 10, "delete": 3, "setData": 1, "multi": 2, "sync": 1, "closeSession": 1}
	if diff := cmp.Diff(wantReq, requests); diff != "" {
		t.Errorf("forwarded requests (-want +got):\n%s", diff)
	}
	// Each write becomes a txn, proposed to both followers; the delete
	// that failed (-111) becomes an error txn; sync none.
	wantProp := map[string]int{"createSession": 2, "create": 20, "delete": 4, "error": 2, "setData": 2, "multi": 4, "closeSession": 2}
	if diff := cmp.Diff(wantProp, proposals); diff != "" {
		t.Errorf("proposals to the client's follower (-want +got):\n%s", diff)
	}
	if unpairedAcks != 0 {
		t.Errorf("%d acks of proposals without latency", unpairedAcks)
	}
	for _, op := range []string{"followerinfo", "leaderinfo", "ackepoch", "newleader", "uptodate", "proposal", "commit", "ping"} {
		if ops[op] == 0 {
			t.Errorf("no %s decoded", op)
		}
	}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		switch r {
		case proto.ReasonUnanswered, proto.ReasonOrphanReply:
			continue // the leader was killed mid-conversation
		}
		if v := ctr.Get(proto.ZAB, r); v != 0 {
			t.Errorf("counter %s = %d, want 0", r, v)
		}
	}
}
