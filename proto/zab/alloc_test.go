package zab

import (
	"testing"

	"github.com/zktap/zktap/proto"
)

// steady returns a decoder past the handshake and one broadcast round of
// traffic: the leader's PROPOSAL, COMMIT and PING, and the follower's ACK
// and ping echo with a session in it.
func steady() (*Decoder, []byte, []byte) {
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: true})
	fromLeader := cat(proposalPkt(zx, "/app/node"), commitPkt(zx), qp(typePing, zx, nil))
	fromLearner := cat(ackPkt(zx), qp(typePing, zx, cat(i64(0x1001), i32(30000))))
	// One round first: the pairing rings are allocated on first use.
	d.Feed(proto.ToClient, fromLeader, t0)
	d.Feed(proto.ToServer, fromLearner, t0)
	return d, fromLeader, fromLearner
}

func TestSteadyStateAllocs(t *testing.T) {
	d, fromLeader, fromLearner := steady()
	// The proposal is committed before it is acked (ACK after COMMIT),
	// and in the opposite order on alternate rounds; both must not allocate.
	a := testing.AllocsPerRun(1000, func() {
		if n := d.Feed(proto.ToClient, fromLeader, t0); n != len(fromLeader) {
			t.Fatalf("leader n = %d", n)
		}
		if n := d.Feed(proto.ToServer, fromLearner, t0); n != len(fromLearner) {
			t.Fatalf("learner n = %d", n)
		}
	})
	if a != 0 {
		t.Errorf("%v allocations per broadcast round, want 0", a)
	}
	if d.proposals.size != 0 || d.pings.size != 0 {
		t.Errorf("pending grew: %d proposals, %d pings", d.proposals.size, d.pings.size)
	}
}

func BenchmarkBroadcastRound(b *testing.B) {
	d, fromLeader, fromLearner := steady()
	b.SetBytes(int64(len(fromLeader) + len(fromLearner)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(proto.ToClient, fromLeader, t0)
		d.Feed(proto.ToServer, fromLearner, t0)
	}
}

func BenchmarkRequestWithAuth(b *testing.B) {
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: true})
	pkt := qp(typeRequest, -1, cat(i64(0x1001), i32(3), i32(opCreate), createReq("/app/node", 100)),
		[2]string{"ip", "127.0.0.1"}, [2]string{"digest", "alice:c2VjcmV0aGFzaA=="})
	b.SetBytes(int64(len(pkt)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(proto.ToServer, pkt, t0)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	var nodes []snapNode
	for i := range 1000 {
		nodes = append(nodes, snapNode{path: "/n/" + string(rune('a'+i%26)), size: 100})
	}
	stream := cat(qp(typeSnap, zx, nil), snapshot(nodes))
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: true})
		if n := d.Feed(proto.ToClient, stream, t0); n != len(stream) {
			b.Fatalf("n = %d", n)
		}
	}
}

func BenchmarkResyncScan(b *testing.B) {
	// 4 KiB of noise that never frames, then two packets.
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(i*131 + 7)
	}
	stream := cat(noise, ackPkt(zx), ackPkt(zx))
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(proto.Endpoints{Client: learner, Server: leader})
		d.Feed(proto.ToServer, stream, t0)
	}
}
