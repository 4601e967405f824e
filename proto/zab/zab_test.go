package zab

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

const zx = int64(5)<<32 | 9 // epoch 5, counter 9

func TestDecodeEveryType(t *testing.T) {
	// The packet sequences are fed with FromStart, one Feed per packet, to
	// a fresh decoder per case; the last message is compared.
	S, C := proto.ToServer, proto.ToClient
	type step struct {
		dir proto.Dir
		pkt []byte
	}
	reqCreate := qp(typeRequest, -1,
		// long sessionId, int cxid, int type, CreateRequest
		cat(i64(0x1001), i32(3), i32(opCreate), createReq("/app/node", 11)),
		[2]string{"ip", "127.0.0.1"}, [2]string{"digest", "alice:c2VjcmV0aGFzaA=="})
	reqClose := qp(typeRequest, -1, cat(i64(0x1002), i32(4), i32(-11)), [2]string{"ip", "10.0.0.1"})
	reqSync := qp(typeRequest, -1, cat(i64(0x1003), i32(5), i32(opSync), ustr("/s")), [2]string{"sasl", "zk/host@REALM"})
	propSet := qp(typeProposal, zx, cat(txnHdr(0x1001, 9, zx, opSetData), ustr("/cfg"), jbuf(300), i32(2)))
	informDel := qp(typeInform, zx, cat(txnHdr(0x1001, 10, zx, opDelete), ustr("/gone"), i32(1), i64(99)))
	iaa := qp(typeInformAndActivate, zx, cat(i64(3), txnHdr(0, 0, zx, opReconfig), ustr("/zookeeper/config"), jbuf(40), i32(-1)))
	followerInfo := qp(typeFollowerInfo, 4<<32, cat(i64(2), i32(0x10000), i64(0)))
	tests := []struct {
		name  string
		steps []step
		want  rec
	}{
		{"request create with digest", []step{{S, reqCreate}}, rec{Dir: S, Op: "request", Kind: proto.Request, Size: len(reqCreate),
			Session: 0x1001, HasSession: true, Path: "/app/node", Type: 1, TxnType: 1, TxnOp: "create", CXid: 3, DataLen: 11,
			AuthScheme: "digest", AuthUser: "alice"}},
		{"request closeSession ip only", []step{{S, reqClose}}, rec{Dir: S, Op: "request", Kind: proto.Request, Size: len(reqClose),
			Session: 0x1002, HasSession: true, Type: 1, TxnType: -11, TxnOp: "closeSession", CXid: 4, DataLen: -1,
			AuthScheme: "ip", AuthUser: "10.0.0.1"}},
		{"proposal setData", []step{{C, propSet}}, rec{Dir: C, Op: "proposal", Kind: proto.Request, Size: len(propSet),
			Zxid: zx, HasZxid: true, Session: 0x1001, HasSession: true, Path: "/cfg", Type: 2, TxnType: 5, TxnOp: "setData", CXid: 9, DataLen: 300}},
		{"ack paired", []step{{C, proposalPkt(zx, "/a")}, {S, ackPkt(zx)}}, rec{Dir: S, Op: "ack", Kind: proto.Reply, Size: 20,
			Zxid: zx, HasZxid: true, Type: 3, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"commit paired", []step{{C, proposalPkt(zx, "/a")}, {C, commitPkt(zx)}}, rec{Dir: C, Op: "commit", Kind: proto.Reply, Size: 20,
			Zxid: zx, HasZxid: true, Type: 4, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"ping from leader", []step{{C, qp(typePing, zx, nil)}}, rec{Dir: C, Op: "ping", Kind: proto.Request, Size: 20,
			Zxid: zx, HasZxid: true, Type: 5, DataLen: -1}},
		{"ping echo with sessions", []step{{C, qp(typePing, zx, nil)}, {S, qp(typePing, zx, cat(i64(0x1001), i32(30000)))}},
			rec{Dir: S, Op: "ping", Kind: proto.Reply, Size: 32, Zxid: zx, HasZxid: true, Type: 5, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"revalidate", []step{{S, qp(typeRevalidate, -1, cat(i64(0x77), i32(10000)))}}, rec{Dir: S, Op: "revalidate", Kind: proto.Request, Size: 32,
			Session: 0x77, HasSession: true, Type: 6, DataLen: -1}},
		{"revalidate answer", []step{{S, qp(typeRevalidate, -1, cat(i64(0x77), i32(10000)))}, {C, qp(typeRevalidate, -1, cat(i64(0x77), []byte{1}))}},
			rec{Dir: C, Op: "revalidate", Kind: proto.Reply, Size: 29, Session: 0x77, HasSession: true, Type: 6, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"sync answer", []step{{S, reqSync}, {C, qp(typeSync, 0, nil)}}, rec{Dir: C, Op: "sync", Kind: proto.Reply, Size: 20,
			HasZxid: true, Type: 7, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"inform delete", []step{{C, informDel}}, rec{Dir: C, Op: "inform", Kind: proto.Event, Size: len(informDel),
			Zxid: zx, HasZxid: true, Session: 0x1001, HasSession: true, Path: "/gone", Type: 8, TxnType: 2, TxnOp: "delete", CXid: 10, DataLen: -1}},
		{"commitandactivate", []step{{C, qp(typeProposal, zx, cat(txnHdr(0, 0, zx, opReconfig), ustr("/zookeeper/config"), jbuf(40), i32(-1)))},
			{C, qp(typeCommitAndActivate, zx, i64(3))}}, rec{Dir: C, Op: "commitandactivate", Kind: proto.Reply, Size: 28,
			Zxid: zx, HasZxid: true, Type: 9, Sid: 3, DataLen: -1, Latency: time.Millisecond, Paired: true}},
		{"newleader with config", []step{{C, qp(typeNewLeader, 5<<32, []byte("server.1=127.0.0.1:2888:3888:participant\nversion=0"))}},
			rec{Dir: C, Op: "newleader", Kind: proto.Request, Size: 20 + 50, Zxid: 5 << 32, HasZxid: true, Type: 10, DataLen: -1}},
		{"followerinfo", []step{{S, followerInfo}}, rec{Dir: S, Op: "followerinfo", Kind: proto.Request, Size: 40,
			Zxid: 4 << 32, HasZxid: true, Type: 11, Sid: 2, DataLen: -1}},
		{"uptodate", []step{{C, qp(typeUpToDate, -1, nil)}}, rec{Dir: C, Op: "uptodate", Kind: proto.Request, Size: 20, Type: 12, DataLen: -1}},
		{"diff", []step{{C, qp(typeDiff, zx, nil)}}, rec{Dir: C, Op: "diff", Kind: proto.Event, Size: 20, Zxid: zx, HasZxid: true, Type: 13, DataLen: -1}},
		{"trunc", []step{{C, qp(typeTrunc, zx, nil)}}, rec{Dir: C, Op: "trunc", Kind: proto.Event, Size: 20, Zxid: zx, HasZxid: true, Type: 14, DataLen: -1}},
		{"snap with empty db", []step{{C, cat(qp(typeSnap, zx, nil), snapshot(nil))}}, rec{Dir: C, Op: "snap", Kind: proto.Event, Size: 20,
			Zxid: zx, HasZxid: true, Type: 15, DataLen: -1, SnapSize: int64(len(snapshot(nil)))}},
		{"observerinfo", []step{{S, qp(typeObserverInfo, 4<<32, cat(i64(9), i32(0x10000), i64(0)))}}, rec{Dir: S, Op: "observerinfo", Kind: proto.Request,
			Size: 40, Zxid: 4 << 32, HasZxid: true, Type: 16, Sid: 9, DataLen: -1}},
		{"leaderinfo", []step{{C, qp(typeLeaderInfo, 5<<32, i32(0x10000))}}, rec{Dir: C, Op: "leaderinfo", Kind: proto.Reply, Size: 24,
			Zxid: 5 << 32, HasZxid: true, Type: 17, DataLen: -1}},
		{"ackepoch", []step{{S, qp(typeAckEpoch, zx, i32(4))}}, rec{Dir: S, Op: "ackepoch", Kind: proto.Reply, Size: 24,
			Zxid: zx, HasZxid: true, Type: 18, DataLen: -1}},
		{"informandactivate", []step{{C, iaa}}, rec{Dir: C, Op: "informandactivate", Kind: proto.Event, Size: len(iaa),
			Zxid: zx, HasZxid: true, Path: "/zookeeper/config", HasSession: true, Type: 19, Sid: 3, TxnType: 16, TxnOp: "reconfig", DataLen: 40}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeeder(true)
			for i, s := range tt.steps {
				f.feed(s.dir, s.pkt, t0.Add(time.Duration(i)*time.Millisecond))
			}
			if len(f.recs) != len(tt.steps) {
				t.Fatalf("got %d messages, want %d: %+v", len(f.recs), len(tt.steps), f.recs)
			}
			if diff := cmp.Diff(tt.want, f.recs[len(f.recs)-1]); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if c := f.counts(); len(c) != 0 {
				t.Errorf("unexpected counters %v", c)
			}
			if n := len(f.buf[0]) + len(f.buf[1]); n != 0 {
				t.Errorf("%d bytes left unconsumed", n)
			}
		})
	}
}

func TestDigestHashNeverReported(t *testing.T) {
	var seen []byte
	d := NewDecoder(Config{}, proto.SinkFunc(func(m *proto.Message) {
		seen = append(append(append(seen, m.ZK.AuthUser...), m.ZK.AuthScheme...), m.Path...)
	}), nil)
	d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: true})
	pkt := qp(typeRequest, -1, cat(i64(1), i32(1), i32(opDelete), ustr("/x"), i32(-1)),
		[2]string{"digest", "bob:SECRETHASH"}, [2]string{"custom", "TOKEN"})
	d.Feed(proto.ToServer, pkt, t0)
	for _, secret := range []string{"SECRETHASH", "TOKEN"} {
		if contains(seen, secret) {
			t.Errorf("%q reached the message: %q", secret, seen)
		}
	}
	if !contains(seen, "bob") {
		t.Errorf("digest user missing: %q", seen)
	}
}

func contains(b []byte, s string) bool {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return true
		}
	}
	return false
}

// snapshot builds a raw snapshot stream: two sessions, one ACL cache entry
// holding world:anyone, the root "" and the given nodes (path and data
// size), the "/" terminator and the signature.
func snapshot(nodes []snapNode) []byte {
	b := cat(i32(2), i64(0x1001), i32(30000), i64(0x1002), i32(4000)) // sessions
	b = cat(b, i32(1), i64(1), i32(1), i32(31), ustr("world"), ustr("anyone"))
	stat := make([]byte, 60)
	b = cat(b, ustr(""), jbuf(-1), i64(-1), stat) // root
	for _, n := range nodes {
		b = cat(b, ustr(n.path), jbuf(n.size), i64(1), stat)
	}
	return cat(b, ustr("/"), ustr("BenWasHere"))
}

type snapNode struct {
	path string
	size int
}

// syncStream is a leader->learner stream: LEADERINFO, SNAP + snapshot with
// nodes holding 5000 bytes of data, NEWLEADER, UPTODATE, then a
// proposal/commit and a ping.
func syncStream() ([]byte, int) {
	snap := snapshot([]snapNode{{"/zookeeper", 0}, {"/big", 5000}, {"/big/child", 700}, {"/n", -1}})
	b := cat(qp(typeLeaderInfo, 5<<32, i32(0x10000)), qp(typeSnap, zx, nil), snap,
		qp(typeNewLeader, 5<<32, nil), qp(typeUpToDate, -1, nil), proposalPkt(zx+1, "/p"), commitPkt(zx+1), qp(typePing, zx+1, nil))
	return b, len(snap)
}

func TestSnapThenPackets(t *testing.T) {
	stream, snapLen := syncStream()
	f := newFeeder(true)
	f.feed(proto.ToClient, stream, t0)
	var ops []string
	for _, r := range f.recs {
		ops = append(ops, r.Op)
	}
	want := []string{"leaderinfo", "snap", "newleader", "uptodate", "proposal", "commit", "ping"}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Fatalf("ops (-want +got):\n%s", diff)
	}
	if got := f.recs[1].SnapSize; got != int64(snapLen) {
		t.Errorf("SnapSize = %d, want %d", got, snapLen)
	}
	if c := f.counts(); len(c) != 0 {
		t.Errorf("unexpected counters %v", c)
	}
}

// TestSplitFeeding feeds a stream in two pieces at every boundary, and one
// byte at a time, and requires the same messages as one whole feed. The
// one-byte feed also exercises skipping node data with n > len(b).
func TestSplitFeeding(t *testing.T) {
	sync, _ := syncStream()
	streams := map[string]struct {
		dir proto.Dir
		b   []byte
	}{
		"leader sync": {proto.ToClient, sync},
		"learner": {proto.ToServer, cat(qp(typeFollowerInfo, 4<<32, cat(i64(2), i32(0x10000), i64(0))), qp(typeAckEpoch, zx, i32(4)),
			qp(typeRequest, -1, cat(i64(0x1001), i32(3), i32(opCreate), createReq("/app/node", 11)), [2]string{"digest", "alice:hash"}),
			ackPkt(zx), qp(typePing, zx, cat(i64(1), i32(2))), qp(typeRevalidate, -1, cat(i64(0x77), i32(10000))))},
	}
	for name, s := range streams {
		t.Run(name, func(t *testing.T) {
			whole := newFeeder(true)
			whole.feed(s.dir, s.b, t0)
			for cut := 1; cut < len(s.b); cut++ {
				f := newFeeder(true)
				f.feed(s.dir, s.b[:cut], t0)
				f.feed(s.dir, s.b[cut:], t0)
				if diff := cmp.Diff(whole.recs, f.recs); diff != "" {
					t.Fatalf("cut at %d (-whole +split):\n%s", cut, diff)
				}
			}
			f := newFeeder(true)
			for i := range s.b {
				f.feed(s.dir, s.b[i:i+1], t0)
			}
			if diff := cmp.Diff(whole.recs, f.recs); diff != "" {
				t.Fatalf("byte by byte (-whole +split):\n%s", diff)
			}
			if len(whole.recs) < 6 {
				t.Fatalf("only %d messages", len(whole.recs))
			}
		})
	}
}

func TestPairing(t *testing.T) {
	ms := time.Millisecond
	f := newFeeder(true)
	C, S := proto.ToClient, proto.ToServer
	z1, z2 := zx, zx+1
	f.feed(C, proposalPkt(z1, "/a"), t0)
	f.feed(C, proposalPkt(z2, "/b"), t0.Add(1*ms))
	f.feed(S, ackPkt(z1), t0.Add(3*ms))
	f.feed(C, commitPkt(z1), t0.Add(4*ms))
	f.feed(C, commitPkt(z2), t0.Add(6*ms)) // commit before this follower's ack: a slow follower
	f.feed(S, ackPkt(z2), t0.Add(9*ms))
	f.feed(C, qp(typePing, z2, nil), t0.Add(10*ms))
	f.feed(C, qp(typePing, z2, nil), t0.Add(11*ms))
	f.feed(S, qp(typePing, z2, nil), t0.Add(15*ms))
	f.feed(S, qp(typePing, z2, nil), t0.Add(16*ms))
	f.feed(S, qp(typeRevalidate, -1, cat(i64(1), i32(10))), t0.Add(20*ms))
	f.feed(S, qp(typeRevalidate, -1, cat(i64(2), i32(10))), t0.Add(21*ms))
	f.feed(C, qp(typeRevalidate, -1, cat(i64(2), []byte{1})), t0.Add(23*ms))
	f.feed(C, qp(typeRevalidate, -1, cat(i64(1), []byte{0})), t0.Add(28*ms))
	type lat struct {
		Op      string
		Latency time.Duration
		Paired  bool
	}
	var got []lat
	for _, r := range f.recs {
		got = append(got, lat{r.Op, r.Latency, r.Paired})
	}
	want := []lat{
		{"proposal", 0, false}, {"proposal", 0, false},
		{"ack", 3 * ms, true}, {"commit", 4 * ms, true}, {"commit", 5 * ms, true}, {"ack", 8 * ms, true},
		{"ping", 0, false}, {"ping", 0, false}, {"ping", 5 * ms, true}, {"ping", 5 * ms, true},
		{"revalidate", 0, false}, {"revalidate", 0, false}, {"revalidate", 2 * ms, true}, {"revalidate", 8 * ms, true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("latencies (-want +got):\n%s", diff)
	}
	if n := f.d.proposals.size; n != 0 {
		t.Errorf("%d proposals still pending after ack+commit", n)
	}
	if c := f.counts(); len(c) != 0 {
		t.Errorf("unexpected counters %v", c)
	}
	// Orphans and unanswered on close.
	f.feed(S, qp(typePing, z2, nil), t0)
	f.feed(C, proposalPkt(z2+1, "/c"), t0)
	f.d.Close(t0)
	if diff := cmp.Diff(map[string]uint64{"orphan_reply": 1, "unanswered": 1}, f.counts()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestPendingBounded(t *testing.T) {
	f := &feeder{}
	f.d = NewDecoder(Config{MaxPending: 8}, proto.SinkFunc(func(*proto.Message) {}), &f.ctr)
	f.d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: true})
	for i := range 20 {
		f.feed(proto.ToClient, proposalPkt(zx+int64(i), "/a"), t0)
	}
	if n := f.d.proposals.size; n != 8 {
		t.Errorf("pending = %d, want 8", n)
	}
	if diff := cmp.Diff(map[string]uint64{"pending_overflow": 12}, f.counts()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	for i := range 100 {
		f.feed(proto.ToClient, qp(typePing, zx, nil), t0.Add(time.Duration(i)))
	}
	if n := f.d.pings.size; n != maxSmallPending {
		t.Errorf("pings pending = %d, want %d", n, maxSmallPending)
	}
}

func TestMidStreamJoin(t *testing.T) {
	// The capture starts 7 bytes into a proposal, then whole packets follow.
	tail := cat(ackPkt(zx), qp(typePing, zx, cat(i64(1), i32(2))), ackPkt(zx+1))
	learnerStream := cat(proposalPkt(zx, "/x")[7:], tail) // garbage: a leader packet's tail on the learner side
	f := newFeeder(false)
	f.feed(proto.ToServer, learnerStream, t0)
	var ops []string
	for _, r := range f.recs {
		ops = append(ops, r.Op)
	}
	if diff := cmp.Diff([]string{"ack", "ping", "ack"}, ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 1, "orphan_reply": 3}, f.counts()); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}

	// Fed one byte at a time the result is the same, and the resync
	// episode is counted once although it spans many Feeds.
	f = newFeeder(false)
	for i := range learnerStream {
		f.feed(proto.ToServer, learnerStream[i:i+1], t0)
	}
	if len(f.recs) != 3 {
		t.Errorf("byte by byte: %d messages, want 3", len(f.recs))
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 1, "orphan_reply": 3}, f.counts()); diff != "" {
		t.Errorf("byte by byte counters (-want +got):\n%s", diff)
	}

	// Leader side joined inside a SNAP stream's node data: resync skips it.
	sync, _ := syncStream()
	g := newFeeder(false)
	g.feed(proto.ToClient, sync[200:], t0)
	ops = ops[:0]
	for _, r := range g.recs {
		ops = append(ops, r.Op)
	}
	if diff := cmp.Diff([]string{"newleader", "uptodate", "proposal", "commit", "ping"}, ops); diff != "" {
		t.Errorf("leader ops (-want +got):\n%s", diff)
	}
}

func TestHostile(t *testing.T) {
	good := cat(ackPkt(zx), ackPkt(zx+1))
	tests := []struct {
		name string
		bad  []byte
		want map[string]uint64
	}{
		{"type 0", qp(0, zx, nil), map[string]uint64{"unknown_opcode": 1, "resync": 1}},
		{"type 20", qp(20, zx, nil), map[string]uint64{"unknown_opcode": 1, "resync": 1}},
		{"negative data length", cat(i32(typeAck), i64(zx), i32(-7)), map[string]uint64{"len_negative": 1, "resync": 1}},
		{"huge data length", cat(i32(typeAck), i64(zx), i32(0x7fffffff)), map[string]uint64{"len_too_large": 1, "resync": 1}},
		{"huge authinfo count", cat(i32(typeAck), i64(zx), i32(-1), i32(1<<30)), map[string]uint64{"len_too_large": 1, "resync": 1}},
		{"huge scheme", cat(i32(typeRequest), i64(-1), i32(-1), i32(1), i32(1<<20)), map[string]uint64{"len_too_large": 1, "resync": 1}},
		{"bad snapshot", cat(qp(typeSnap, zx, nil)), nil}, // handled on the leader side below
	}
	for _, tt := range tests[:len(tests)-1] {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeeder(true)
			f.feed(proto.ToServer, cat(tt.bad, good), t0)
			tt.want["orphan_reply"] = 2
			if diff := cmp.Diff(tt.want, f.counts()); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if len(f.recs) != 2 || f.recs[0].Op != "ack" || f.recs[1].Zxid != zx+1 {
				t.Errorf("did not recover: %+v", f.recs)
			}
		})
	}
	t.Run("bad snapshot", func(t *testing.T) {
		f := newFeeder(true)
		// A SNAP followed by a negative session count, then real packets.
		f.feed(proto.ToClient, cat(qp(typeSnap, zx, nil), i32(-5), qp(typeDiff, zx, nil), qp(typeUpToDate, -1, nil)), t0)
		if diff := cmp.Diff(map[string]uint64{"snap_skipped": 1, "resync": 1}, f.counts()); diff != "" {
			t.Errorf("counters (-want +got):\n%s", diff)
		}
		if len(f.recs) != 3 || f.recs[0].Op != "snap" || f.recs[1].Op != "diff" {
			t.Errorf("messages %+v", f.recs)
		}
	})
	t.Run("gap inside snapshot", func(t *testing.T) {
		sync, _ := syncStream()
		f := newFeeder(true)
		f.feed(proto.ToClient, sync[:300], t0) // LEADERINFO, SNAP and part of the snapshot
		f.d.Gap(proto.ToClient)
		f.buf[proto.ToClient], f.skip[proto.ToClient] = nil, 0
		f.feed(proto.ToClient, sync[len(sync)-200:], t0) // the tail: ... NEWLEADER, UPTODATE, PROPOSAL, COMMIT, PING
		var ops []string
		for _, r := range f.recs {
			ops = append(ops, r.Op)
		}
		if diff := cmp.Diff([]string{"leaderinfo", "newleader", "uptodate", "proposal", "commit", "ping"}, ops); diff != "" {
			t.Errorf("ops (-want +got):\n%s", diff)
		}
		if got := f.counts()["snap_skipped"]; got != 1 {
			t.Errorf("snap_skipped = %d, want 1", got)
		}
	})
	t.Run("quorum auth then packets", func(t *testing.T) {
		f := newFeeder(true)
		auth := cat(binary.BigEndian.AppendUint64(nil, authMagic), i32(0), jbuf(32))
		f.feed(proto.ToServer, cat(auth, qp(typeFollowerInfo, 0, i64(1)), ackPkt(zx)), t0)
		if len(f.recs) != 2 || f.recs[0].Op != "followerinfo" || f.recs[0].Sid != 1 {
			t.Errorf("messages %+v", f.recs)
		}
	})
}

func TestNames(t *testing.T) {
	got := map[int32]string{}
	for op := int32(-20); op < 120; op++ {
		if n := TxnOpName(op); n != "unknown" {
			got[op] = n
		}
	}
	want := map[int32]string{-11: "closeSession", -10: "createSession", -1: "error", 0: "notification", 1: "create",
		2: "delete", 3: "exists", 4: "getData", 5: "setData", 6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync",
		11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2", 16: "reconfig", 17: "checkWatches",
		18: "removeWatches", 19: "createContainer", 20: "deleteContainer", 21: "createTTL", 22: "multiRead",
		100: "auth", 101: "setWatches", 102: "sasl", 103: "getEphemerals", 104: "getAllChildrenNumber",
		105: "setWatches2", 106: "addWatch", 107: "whoAmI"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TxnOpName (-want +got):\n%s", diff)
	}
	var ops []string
	for typ := int32(0); typ <= 20; typ++ {
		ops = append(ops, OpName(typ))
	}
	wantOps := []string{"unknown", "request", "proposal", "ack", "commit", "ping", "revalidate", "sync", "inform",
		"commitandactivate", "newleader", "followerinfo", "uptodate", "diff", "trunc", "snap", "observerinfo",
		"leaderinfo", "ackepoch", "informandactivate", "unknown"}
	if diff := cmp.Diff(wantOps, ops); diff != "" {
		t.Errorf("OpName (-want +got):\n%s", diff)
	}
}
