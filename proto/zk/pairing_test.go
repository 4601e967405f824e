package zk

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// multiReqBody is a MultiOperationRecord: create /m/a, setData /m/b,
// check /m/c, delete /m/d, then the terminator.
func multiReqBody() []byte {
	return cat(
		i32(1), boolb(false), i32(-1), ustr("/m/a"), ustr("SECRETDATA"), worldACL(), i32(0),
		i32(5), boolb(false), i32(-1), ustr("/m/b"), ustr("SECRETDATA"), i32(-1),
		i32(13), boolb(false), i32(-1), ustr("/m/c"), i32(2),
		i32(2), boolb(false), i32(-1), ustr("/m/d"), i32(-1),
		i32(-1), boolb(true), i32(-1),
	)
}

func TestMulti(t *testing.T) {
	reqSubs := []sub{{"create", "/m/a", 0}, {"setData", "/m/b", 0}, {"check", "/m/c", 0}, {"delete", "/m/d", 0}}
	tests := []struct {
		name    string
		op      int32
		body    []byte
		reply   []byte
		reqSubs []sub
		repErr  int32
		repSubs []sub
	}{
		{
			name: "multi success",
			op:   opMulti,
			body: multiReqBody(),
			// results: create path, setData Stat, check, delete, terminator
			reply: cat(
				i32(1), boolb(false), i32(0), ustr("/m/a"),
				i32(5), boolb(false), i32(0), stat(10, 0),
				i32(13), boolb(false), i32(0),
				i32(2), boolb(false), i32(0),
				i32(-1), boolb(true), i32(-1),
			),
			reqSubs: reqSubs,
			repSubs: []sub{{"create", "/m/a", 0}, {"setData", "", 0}, {"check", "", 0}, {"delete", "", 0}},
		},
		{
			name: "multi failed at check",
			op:   opMulti,
			body: multiReqBody(),
			// every result is error: 0 before the failing op, BADVERSION on
			// it, RUNTIMEINCONSISTENCY after it
			reply: cat(
				i32(-1), boolb(false), i32(0), i32(0),
				i32(-1), boolb(false), i32(0), i32(0),
				i32(-1), boolb(false), i32(-103), i32(-103),
				i32(-1), boolb(false), i32(-2), i32(-2),
				i32(-1), boolb(true), i32(-1),
			),
			reqSubs: reqSubs,
			repErr:  -103,
			repSubs: []sub{{"error", "", 0}, {"error", "", 0}, {"error", "", -103}, {"error", "", -2}},
		},
		{
			name: "multiRead partial",
			op:   opMultiRead,
			body: cat(
				i32(4), boolb(false), i32(-1), ustr("/r/a"), boolb(false),
				i32(8), boolb(false), i32(-1), ustr("/r"), boolb(false),
				i32(4), boolb(false), i32(-1), ustr("/r/missing"), boolb(false),
				i32(-1), boolb(true), i32(-1),
			),
			reply: cat(
				i32(4), boolb(false), i32(0), ustr("SECRETDATA"), stat(10, 0),
				i32(8), boolb(false), i32(0), strs("a"),
				i32(-1), boolb(false), i32(-101), i32(-101),
				i32(-1), boolb(true), i32(-1),
			),
			reqSubs: []sub{{"getData", "/r/a", 0}, {"getChildren", "/r", 0}, {"getData", "/r/missing", 0}},
			repSubs: []sub{{"getData", "", 0}, {"getChildren", "", 0}, {"error", "", -101}},
		},
		{
			name:  "empty multi",
			op:    opMulti,
			body:  cat(i32(-1), boolb(true), i32(-1)),
			reply: cat(i32(-1), boolb(true), i32(-1)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{}, true)
			c.handshake()
			rq, rp := req(9, tt.op, tt.body), rep(9, 0x100000009, 0, tt.reply)
			c.send(proto.ToServer, rq)
			c.send(proto.ToClient, rp)
			wantReq := reqRec(OpName(tt.op), 9, "", len(rq))
			wantReq.Sub = tt.reqSubs
			wantRep := repRec(OpName(tt.op), 9, 0x100000009, tt.repErr, "", len(rp))
			wantRep.Sub = tt.repSubs
			if diff := cmp.Diff([]rec{wantReq, wantRep}, c.take()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]uint64{}, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNotification(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.handshake()
	// ReplyHeader(-1, zxid, 0) + WatcherEvent{NodeDataChanged, SyncConnected, "/w"}
	n := rep(-1, 0x100000020, 0, i32(3), i32(3), ustr("/w"))
	c.send(proto.ToClient, n)
	want := []rec{{Proto: proto.ZK, Kind: proto.Event, Op: "notification", Session: sid, HasSession: true,
		Xid: -1, HasXid: true, Zxid: 0x100000020, HasZxid: true, Path: "/w", Size: len(n), EventType: 3,
		DataLen: -1, Children: -1}}
	if diff := cmp.Diff(want, c.take()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
}

// pairing summarises emitted messages as "kind op xid err paired" lines.
type pairing struct {
	Kind   proto.Kind
	Op     string
	Xid    int32
	Path   string
	Paired bool
}

func pairings(rs []rec) []pairing {
	var out []pairing
	for _, r := range rs {
		out = append(out, pairing{r.Kind, r.Op, r.Xid, r.Path, r.Paired})
	}
	return out
}

func TestPairing(t *testing.T) {
	exists := func(xid int32, path string) []byte { return req(xid, opExists, ustr(path), boolb(false)) }
	tests := []struct {
		name       string
		maxPending int
		steps      []struct {
			dir proto.Dir
			b   []byte
		}
		want     []pairing
		counters map[string]uint64
	}{
		{
			name: "pipelined answered in order",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, exists(2, "/b"), proto.ToServer, req(-2, opPing),
				proto.ToClient, rep(1, 5, 0, stat(0, 0)), proto.ToClient, rep(2, 5, -101), proto.ToClient, rep(-2, 5, 0),
			),
			want: []pairing{
				{proto.Request, "exists", 1, "/a", false}, {proto.Request, "exists", 2, "/b", false}, {proto.Request, "ping", -2, "", false},
				{proto.Reply, "exists", 1, "/a", true}, {proto.Reply, "exists", 2, "/b", true}, {proto.Reply, "ping", -2, "", true},
			},
		},
		{
			name: "auth overtakes earlier requests",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, req(-4, opAuth, i32(0), ustr("digest"), ustr("tacos:tacos")),
				proto.ToClient, rep(-4, 0, 0), proto.ToClient, rep(1, 5, 0, stat(0, 0)),
			),
			want: []pairing{
				{proto.Request, "exists", 1, "/a", false}, {proto.Request, "auth", -4, "", false},
				{proto.Reply, "auth", -4, "", true}, {proto.Reply, "exists", 1, "/a", true},
			},
		},
		{
			name: "unknown opcode overtakes, then ordinary reply",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, req(2, 55),
				proto.ToClient, rep(2, -1, -6), proto.ToClient, rep(1, 5, 0, stat(0, 0)),
			),
			want: []pairing{
				{proto.Request, "exists", 1, "/a", false}, {proto.Request, "unknown", 2, "", false},
				{proto.Reply, "unknown", 2, "", true}, {proto.Reply, "exists", 1, "/a", true},
			},
			counters: map[string]uint64{"unknown_opcode": 1},
		},
		{
			name: "ordinary reply skips lost requests",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, exists(2, "/b"), proto.ToServer, exists(3, "/c"),
				proto.ToClient, rep(3, 5, 0, stat(0, 0)),
			),
			want: []pairing{
				{proto.Request, "exists", 1, "/a", false}, {proto.Request, "exists", 2, "/b", false}, {proto.Request, "exists", 3, "/c", false},
				{proto.Reply, "exists", 3, "/c", true},
			},
			counters: map[string]uint64{"unanswered": 2},
		},
		{
			name: "duplicate ping xids FIFO",
			steps: steps(
				proto.ToServer, req(-2, opPing), proto.ToServer, req(-2, opPing),
				proto.ToClient, rep(-2, 5, 0), proto.ToClient, rep(-2, 6, 0),
			),
			want: []pairing{
				{proto.Request, "ping", -2, "", false}, {proto.Request, "ping", -2, "", false},
				{proto.Reply, "ping", -2, "", true}, {proto.Reply, "ping", -2, "", true},
			},
		},
		{
			name:     "orphan reply",
			steps:    steps(proto.ToClient, rep(77, 5, 0, stat(0, 0))),
			want:     []pairing{{proto.Reply, "unknown", 77, "", false}},
			counters: map[string]uint64{"orphan_reply": 1},
		},
		{
			name:       "pending overflow drops oldest",
			maxPending: 2,
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, exists(2, "/b"), proto.ToServer, exists(3, "/c"),
				proto.ToClient, rep(1, 5, 0, stat(0, 0)), proto.ToClient, rep(2, 5, 0, stat(0, 0)),
			),
			want: []pairing{
				{proto.Request, "exists", 1, "/a", false}, {proto.Request, "exists", 2, "/b", false}, {proto.Request, "exists", 3, "/c", false},
				{proto.Reply, "unknown", 1, "", false}, {proto.Reply, "exists", 2, "/b", true},
			},
			counters: map[string]uint64{"pending_overflow": 1, "orphan_reply": 1, "unanswered": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{MaxPending: tt.maxPending}, true)
			c.handshake()
			for _, s := range tt.steps {
				c.send(s.dir, s.b)
			}
			c.d.Close(c.now)
			if diff := cmp.Diff(tt.want, pairings(c.take())); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			want := tt.counters
			if want == nil {
				want = map[string]uint64{}
			}
			if diff := cmp.Diff(want, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func steps(args ...any) []struct {
	dir proto.Dir
	b   []byte
} {
	var out []struct {
		dir proto.Dir
		b   []byte
	}
	for i := 0; i < len(args); i += 2 {
		out = append(out, struct {
			dir proto.Dir
			b   []byte
		}{args[i].(proto.Dir), args[i+1].([]byte)})
	}
	return out
}

func TestCloseCountsUnanswered(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.handshake()
	c.send(proto.ToServer, req(1, opSync, ustr("/a")))
	c.send(proto.ToServer, req(2, opCloseSession))
	c.d.Close(c.now)
	if got := c.ctr.Get(proto.ZK, proto.ReasonUnanswered); got != 2 {
		t.Errorf("unanswered = %d, want 2", got)
	}
}

// conversation is a whole client connection: handshake, a watch, a
// pipelined batch, a notification and the replies.
func conversation() (toServer, toClient [][]byte) {
	toServer = [][]byte{
		connReq(0, 30000, 0, false),
		req(1, opAuth, i32(0), ustr("digest"), ustr("tacos:tacos")),
		req(2, opGetData, ustr("/cfg"), boolb(true)),
		req(3, opCreate, ustr("/q/n-"), ustr("SECRETDATA"), worldACL(), i32(2)),
		req(4, opMulti, multiReqBody()),
		req(-2, opPing),
	}
	toClient = [][]byte{
		connResp(30000, sid, false),
		rep(1, 0, 0),
		rep(2, 0x100000003, 0, ustr("SECRETDATA"), stat(10, 0)),
		rep(-1, 0x100000004, 0, i32(4), i32(3), ustr("/q")),
		rep(3, 0x100000004, 0, ustr("/q/n-0000000001")),
		rep(4, 0x100000005, 0, cat(
			i32(-1), boolb(false), i32(0), i32(0),
			i32(-1), boolb(false), i32(-101), i32(-101),
			i32(-1), boolb(false), i32(-2), i32(-2),
			i32(-1), boolb(false), i32(-2), i32(-2),
			i32(-1), boolb(true), i32(-1))),
		rep(-2, 0x100000005, 0),
	}
	return toServer, toClient
}

// decodeAll feeds a whole conversation, client side first, in chunks of
// the given size (0 = one Feed per direction).
func decodeAll(t testing.TB, cfg Config, fromStart bool, toServer, toClient []byte, chunk int) ([]rec, map[string]uint64) {
	c := newConn(t, cfg, fromStart)
	for dir, b := range [][]byte{toServer, toClient} {
		if chunk <= 0 {
			c.feed(proto.Dir(dir), b)
			continue
		}
		for i := 0; i < len(b); i += chunk {
			c.feed(proto.Dir(dir), b[i:min(i+chunk, len(b))])
		}
	}
	c.d.Close(c.now)
	return c.take(), counts(c.ctr, proto.ZK)
}

// TestSplitFrames feeds the conversation split at every byte boundary and
// in single bytes, and expects exactly the messages of one big Feed.
func TestSplitFrames(t *testing.T) {
	ts, tc := conversation()
	cs, cc := bytes.Join(ts, nil), bytes.Join(tc, nil)
	want, wantCtr := decodeAll(t, Config{}, true, cs, cc, 0)
	if len(want) != len(ts)+len(tc) {
		t.Fatalf("one Feed per direction gave %d messages, want %d", len(want), len(ts)+len(tc))
	}
	if diff := cmp.Diff(map[string]uint64{}, wantCtr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	for _, chunk := range []int{1, 2, 3, 5, 7, 13} {
		got, gotCtr := decodeAll(t, Config{}, true, cs, cc, chunk)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("chunk %d: messages (-want +got):\n%s", chunk, diff)
		}
		if diff := cmp.Diff(wantCtr, gotCtr); diff != "" {
			t.Errorf("chunk %d: counters (-want +got):\n%s", chunk, diff)
		}
	}
	// Split each direction once at every offset.
	for dir, stream := range [][]byte{cs, cc} {
		for cut := 1; cut < len(stream); cut++ {
			c := newConn(t, Config{}, true)
			if dir == 1 {
				c.feed(proto.ToServer, cs)
				c.feed(proto.ToClient, cc[:cut])
				c.feed(proto.ToClient, cc[cut:])
			} else {
				c.feed(proto.ToServer, cs[:cut])
				c.feed(proto.ToServer, cs[cut:])
				c.feed(proto.ToClient, cc)
			}
			c.d.Close(c.now)
			if diff := cmp.Diff(want, c.take()); diff != "" {
				t.Fatalf("dir %d cut %d: messages (-want +got):\n%s", dir, cut, diff)
			}
		}
	}
}

// TestMidStreamJoin starts the capture inside a frame: the decoder must
// resynchronise, count resync once per direction, and then decode the
// rest exactly like a capture that saw everything.
func TestMidStreamJoin(t *testing.T) {
	ts, tc := conversation()
	cs, cc := bytes.Join(ts, nil), bytes.Join(tc, nil)
	full, _ := decodeAll(t, Config{}, true, cs, cc, 0)

	// Drop the connect frame and 5 bytes into the auth request on the
	// client side, and the connect response plus 9 bytes of the auth reply
	// on the server side.
	cut0 := len(ts[0]) + 5
	cut1 := len(tc[0]) + 9
	got, ctr := decodeAll(t, Config{}, false, cs[cut0:], cc[cut1:], 0)

	// Expected: requests from getData on, replies from getData on. No
	// session id (the ConnectResponse was missed).
	var want []rec
	for _, r := range full {
		if r.Op == "connect" || r.Op == "auth" {
			continue
		}
		r.Session, r.HasSession = 0, false
		want = append(want, r)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 2}, ctr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestJoinAtConnect misses the SYN but starts exactly at the connect
// frames: their shape (PROTOCOL.md 2.2) makes them decode as the handshake.
func TestJoinAtConnect(t *testing.T) {
	ts, tc := conversation()
	cs, cc := bytes.Join(ts, nil), bytes.Join(tc, nil)
	want, _ := decodeAll(t, Config{}, true, cs, cc, 0)
	got, ctr := decodeAll(t, Config{}, false, cs, cc, 0)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 2}, ctr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestLoneReplyAtEnd joins a connection whose only visible server bytes are
// the tail of one reply and one whole notification: the notification
// validates strongly and ends at the end of the data, so it is decoded.
func TestLoneReplyAtEnd(t *testing.T) {
	n := rep(-1, 0x100000004, 0, i32(4), i32(3), ustr("/q"))
	tail := rep(3, 5, 0, stat(0, 0))[7:]
	got, ctr := decodeAll(t, Config{}, false, nil, cat(tail, n), 0)
	if diff := cmp.Diff([]pairing{{proto.Event, "notification", -1, "/q", false}}, pairings(got)); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 1}, ctr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestGapResync loses bytes in the middle of the client stream.
func TestGapResync(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.handshake()
	a := req(1, opExists, ustr("/a"), boolb(false))
	b := req(2, opGetData, ustr("/b"), boolb(false))
	e := req(3, opSync, ustr("/c"))
	c.send(proto.ToServer, a[:6]) // half a frame, then loss
	c.d.Gap(proto.ToServer)
	c.buf[proto.ToServer] = nil // the pipeline drops what it buffered
	c.send(proto.ToServer, cat(a[9:], b, e))
	if diff := cmp.Diff([]pairing{{proto.Request, "getData", 2, "/b", false}, {proto.Request, "sync", 3, "/c", false}}, pairings(c.take())); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 1}, counts(c.ctr, proto.ZK)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

// TestBadLengths checks that impossible lengths are never buffered: Feed
// consumes them (or keeps at most 3 bytes) and counts the reason once.
func TestBadLengths(t *testing.T) {
	tests := []struct {
		name   string
		b      []byte
		reason string
	}{
		{"over MaxFrame", cat(i32(2<<20), bytes.Repeat([]byte{'x'}, 100)), "len_too_large"},
		{"negative", cat(i32(-5), bytes.Repeat([]byte{0xff}, 100)), "len_negative"},
		{"short", cat(i32(3), bytes.Repeat([]byte{0xee}, 100)), "short_frame"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{MaxFrame: 1 << 20}, true)
			c.handshake()
			c.send(proto.ToServer, tt.b)
			if len(c.buf[proto.ToServer]) > 3 {
				t.Errorf("decoder kept %d bytes, want at most 3", len(c.buf[proto.ToServer]))
			}
			want := map[string]uint64{tt.reason: 1, "resync": 1}
			if diff := cmp.Diff(want, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			// A valid frame afterwards is decoded again.
			c.send(proto.ToServer, req(5, opSync, ustr("/x")))
			c.send(proto.ToServer, req(6, opSync, ustr("/y")))
			got := pairings(c.take())
			if len(got) == 0 || got[len(got)-1] != (pairing{proto.Request, "sync", 6, "/y", false}) {
				t.Errorf("after resync got %+v, want it to end with sync /y", got)
			}
		})
	}
}

func TestFourLetterWords(t *testing.T) {
	tests := []struct {
		name     string
		client   []byte
		server   []byte
		wantOp   string
		wantText string
		reqSize  int
	}{
		{"ruok", []byte("ruok"), []byte("imok"), "ruok", "imok", 4},
		{"ruok from nc with newline", []byte("ruok\n"), []byte("imok"), "ruok", "imok", 4},
		{"stat", []byte("stat\n"), []byte("Zookeeper version: 3.8.0\nClients:\n /127.0.0.1:5000[0](queued=0)\n\nMode: standalone\n"),
			"stat", "Zookeeper version: 3.8.0\nClients:\n /127.0.0.1:5000[0](queued=0)\n\nMode: standalone\n", 4},
		{"mntr", []byte("mntr"), []byte("zk_version\t3.8.0\nzk_server_state\tleader\n"), "mntr", "zk_version\t3.8.0\nzk_server_state\tleader\n", 4},
		{"stmk with mask", cat([]byte("stmk"), i64(0x1f)), []byte("250"), "stmk", "250", 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{}, true)
			// The client's bytes arrive one at a time, as from a slow nc.
			for i := range tt.client {
				c.feed(proto.ToServer, tt.client[i:i+1])
			}
			c.now = c.now.Add(2 * time.Millisecond)
			half := len(tt.server) / 2
			c.send(proto.ToClient, tt.server[:half])
			c.send(proto.ToClient, tt.server[half:])
			c.d.Close(c.now)
			want := []rec{
				{Proto: proto.FourLetter, Kind: proto.Request, Op: tt.wantOp, Size: tt.reqSize, DataLen: -1, Children: -1},
				{Proto: proto.FourLetter, Kind: proto.Reply, Op: tt.wantOp, Size: len(tt.server), Text: tt.wantText,
					Latency: 2 * time.Millisecond, Paired: true, DataLen: -1, Children: -1},
			}
			if diff := cmp.Diff(want, c.take()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("long reply is bounded", func(t *testing.T) {
		c := newConn(t, Config{}, true)
		c.send(proto.ToServer, []byte("wchp"))
		line := bytes.Repeat([]byte("/some/path\n\t0x100000001\n"), 1000)
		for range 10 {
			c.send(proto.ToClient, line)
		}
		c.d.Close(c.now)
		got := c.take()
		if len(got) != 2 || got[1].Size != 10*len(line) || len(got[1].Text) != max4LWText {
			t.Fatalf("got %d messages, reply size %d text %d; want size %d text %d",
				len(got), got[len(got)-1].Size, len(got[len(got)-1].Text), 10*len(line), max4LWText)
		}
	})

	t.Run("unknown 4-byte text is not a 4lw", func(t *testing.T) {
		c := newConn(t, Config{}, true)
		c.send(proto.ToServer, []byte("kill"))
		c.send(proto.ToServer, []byte("\n"))
		c.d.Close(c.now)
		if got := c.take(); len(got) != 0 {
			t.Errorf("got %+v, want no messages", got)
		}
		if diff := cmp.Diff(map[string]uint64{"len_too_large": 1, "resync": 1}, counts(c.ctr, proto.ZK)); diff != "" {
			t.Errorf("counters (-want +got):\n%s", diff)
		}
	})
}

func TestTLS(t *testing.T) {
	c := newConn(t, Config{}, true)
	hello := cat([]byte{0x16, 0x03, 0x01, 0x02, 0x00}, bytes.Repeat([]byte{0xAB}, 512))
	n := c.d.Feed(proto.ToServer, hello, c.now)
	if n <= len(hello) {
		t.Errorf("Feed(ClientHello) = %d, want more than %d (skip the rest)", n, len(hello))
	}
	if n := c.d.Feed(proto.ToClient, hello, c.now); n <= len(hello) {
		t.Errorf("Feed(ServerHello) = %d, want more than %d", n, len(hello))
	}
	want := []rec{{Proto: proto.ZK, Kind: proto.Request, Op: "tls", TLS: true, DataLen: -1, Children: -1}}
	if diff := cmp.Diff(want, c.take()); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"tls": 1}, counts(c.ctr, proto.ZK)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		op          int32
		name        string
		read, write bool
	}{
		{1, "create", false, true}, {3, "exists", true, false}, {4, "getData", true, false},
		{9, "sync", false, false}, {11, "ping", false, false}, {14, "multi", false, true},
		{22, "multiRead", true, false}, {100, "auth", false, false}, {107, "whoAmI", true, false},
		{-10, "createSession", false, false}, {-11, "closeSession", false, false}, {-1, "error", false, false},
		{10, "unknown", false, false}, {108, "unknown", false, false}, {-12, "unknown", false, false},
		{1 << 30, "unknown", false, false}, {-1 << 31, "unknown", false, false},
	}
	for _, tt := range tests {
		if got := OpName(tt.op); got != tt.name {
			t.Errorf("OpName(%d) = %q, want %q", tt.op, got, tt.name)
		}
		if got := IsRead(tt.op); got != tt.read {
			t.Errorf("IsRead(%d) = %v, want %v", tt.op, got, tt.read)
		}
		if got := IsWrite(tt.op); got != tt.write {
			t.Errorf("IsWrite(%d) = %v, want %v", tt.op, got, tt.write)
		}
	}
	for code, want := range map[int32]string{0: "OK", -101: "NONODE", -112: "SESSIONEXPIRED", -127: "THROTTLEDOP",
		-126: "UNKNOWN", 5: "UNKNOWN", -128: "UNKNOWN", -1 << 31: "UNKNOWN"} {
		if got := ErrName(code); got != want {
			t.Errorf("ErrName(%d) = %q, want %q", code, got, want)
		}
	}
	for _, w := range FourLetterWords {
		if got, ok := LookupFourLetter([]byte(w.Word)); !ok || got != w.Word {
			t.Errorf("LookupFourLetter(%q) = %q, %v", w.Word, got, ok)
		}
	}
	if _, ok := LookupFourLetter([]byte("kill")); ok {
		t.Error(`LookupFourLetter("kill") = true, want false (not recognised by 3.4+)`)
	}
}

// TestSinkTag checks that the tag a sink puts on a request in Emit comes
// back on the reply paired with it, whatever order the replies take, and
// that no other message carries one. The sink tags requests 1, 2, 3, ...
// in order, except those on path /untagged.
func TestSinkTag(t *testing.T) {
	exists := func(xid int32, path string) []byte { return req(xid, opExists, ustr(path), boolb(false)) }
	type tagged struct {
		Kind proto.Kind
		Xid  int32
		Tag  uint64
	}
	tests := []struct {
		name       string
		maxPending int
		steps      []struct {
			dir proto.Dir
			b   []byte
		}
		want []tagged
	}{
		{
			name: "pipelined, auth overtaking, a duplicate ping xid",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, req(-4, opAuth, i32(0), ustr("digest"), ustr("u:p")),
				proto.ToServer, req(-2, opPing), proto.ToServer, req(-2, opPing),
				proto.ToClient, rep(-4, 0, 0), proto.ToClient, rep(1, 5, 0, stat(0, 0)),
				proto.ToClient, rep(-2, 5, 0), proto.ToClient, rep(-2, 5, 0),
			),
			want: []tagged{
				{proto.Request, 1, 1}, {proto.Request, -4, 2}, {proto.Request, -2, 3}, {proto.Request, -2, 4},
				{proto.Reply, -4, 2}, {proto.Reply, 1, 1}, {proto.Reply, -2, 3}, {proto.Reply, -2, 4},
			},
		},
		{
			name: "lost replies, an untagged request, an orphan and a notification",
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, exists(2, "/b"), proto.ToServer, exists(3, "/untagged"),
				proto.ToServer, exists(4, "/c"),
				proto.ToClient, rep(2, 5, 0, stat(0, 0)), proto.ToClient, rep(3, 5, 0, stat(0, 0)),
				proto.ToClient, rep(77, 5, 0), proto.ToClient, rep(-1, 6, 0, i32(3), i32(3), ustr("/c")),
				proto.ToClient, rep(4, 5, 0, stat(0, 0)),
			),
			want: []tagged{
				{proto.Request, 1, 1}, {proto.Request, 2, 2}, {proto.Request, 3, 0}, {proto.Request, 4, 3},
				{proto.Reply, 2, 2}, {proto.Reply, 3, 0}, {proto.Reply, 77, 0}, {proto.Event, -1, 0}, {proto.Reply, 4, 3},
			},
		},
		{
			name:       "overflow drops the oldest request and its tag",
			maxPending: 2,
			steps: steps(
				proto.ToServer, exists(1, "/a"), proto.ToServer, exists(2, "/b"), proto.ToServer, exists(3, "/c"),
				proto.ToClient, rep(1, 5, 0, stat(0, 0)), proto.ToClient, rep(3, 5, 0, stat(0, 0)),
			),
			want: []tagged{
				{proto.Request, 1, 1}, {proto.Request, 2, 2}, {proto.Request, 3, 3},
				{proto.Reply, 1, 0}, {proto.Reply, 3, 3},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []tagged
			var next uint64
			d := NewDecoder(Config{MaxPending: tt.maxPending}, proto.SinkFunc(func(m *proto.Message) {
				if m.Kind == proto.Request && m.Op != "connect" && string(m.Path) != "/untagged" {
					next++
					m.SinkTag = next
				}
				if m.Op != "connect" {
					got = append(got, tagged{m.Kind, m.Xid, m.SinkTag})
				}
			}), new(proto.Counters))
			d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: true})
			now := t0
			d.Feed(proto.ToServer, connReq(0, 30000, 0, false), now)
			d.Feed(proto.ToClient, connResp(30000, sid, false), now)
			for _, s := range tt.steps {
				now = now.Add(time.Millisecond)
				if n := d.Feed(s.dir, s.b, now); n != len(s.b) {
					t.Fatalf("Feed consumed %d of %d bytes", n, len(s.b))
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("tags (-want +got):\n%s", diff)
			}
		})
	}
}
