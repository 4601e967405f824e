package zk

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// TestOpcodes decodes one request and its reply for every opcode a client
// sends, after a handshake.
func TestOpcodes(t *testing.T) {
	tests := []struct {
		name     string
		op       int32
		xid      int32
		path     string
		body     []byte // request record
		code     int32  // reply header err
		reply    []byte // reply record
		wantReq  func(*rec)
		wantRep  func(*rec)
		opName   string
		noReqRec bool
	}{
		{name: "create", op: 1, path: "/a",
			body:    cat(ustr("/a"), ustr("SECRETDATA"), worldACL(), i32(3)),
			reply:   ustr("/a0000000001"),
			wantReq: func(r *rec) { r.DataLen = 10; r.CreateMode = 3 }},
		{name: "delete", op: 2, path: "/a", body: cat(ustr("/a"), i32(-1))},
		{name: "exists watch", op: 3, path: "/a", body: cat(ustr("/a"), boolb(true)),
			reply: stat(5, 0), wantReq: func(r *rec) { r.Watch = true }},
		{name: "exists missing", op: 3, path: "/nope", body: cat(ustr("/nope"), boolb(false)), code: -101},
		{name: "getData", op: 4, path: "/a", body: cat(ustr("/a"), boolb(true)),
			reply:   cat(ustr("SECRETDATA"), stat(10, 0)),
			wantReq: func(r *rec) { r.Watch = true }, wantRep: func(r *rec) { r.DataLen = 10 }},
		{name: "getData null data", op: 4, path: "/a", body: cat(ustr("/a"), boolb(false)),
			reply: cat(null(), stat(0, 0))},
		{name: "setData", op: 5, path: "/a", body: cat(ustr("/a"), ustr("SECRETDATA!"), i32(3)),
			reply: stat(11, 0), wantReq: func(r *rec) { r.DataLen = 11 }},
		{name: "getACL", op: 6, path: "/a", body: ustr("/a"),
			reply: cat(i32(1), i32(31), ustr("digest"), ustr("user:x"), stat(0, 0))},
		{name: "setACL", op: 7, path: "/a", body: cat(ustr("/a"), worldACL(), i32(-1)), reply: stat(0, 0)},
		{name: "getChildren", op: 8, path: "/", body: cat(ustr("/"), boolb(false)),
			reply: strs("a", "b", "zookeeper"), wantRep: func(r *rec) { r.Children = 3 }},
		{name: "sync", op: 9, path: "/a", body: ustr("/a"), reply: ustr("/a")},
		{name: "ping", op: 11, xid: -2},
		{name: "getChildren2", op: 12, path: "/", body: cat(ustr("/"), boolb(true)),
			reply:   cat(strs("a", "b"), stat(0, 2)),
			wantReq: func(r *rec) { r.Watch = true }, wantRep: func(r *rec) { r.Children = 2 }},
		{name: "check old server", op: 13, path: "/a", body: cat(ustr("/a"), i32(4)), reply: stat(0, 0)},
		{name: "create2", op: 15, path: "/e", body: cat(ustr("/e"), null(), worldACL(), i32(1)),
			reply: cat(ustr("/e"), stat(0, 0)), wantReq: func(r *rec) { r.CreateMode = 1 }},
		{name: "reconfig", op: 16, body: cat(ustr("server.4=127.0.0.4:2888:3888"), null(), null(), i64(-1)),
			reply: cat(ustr("server.1=...\nversion=1"), stat(22, 0)), wantRep: func(r *rec) { r.DataLen = 22 }},
		{name: "checkWatches", op: 17, path: "/a", body: cat(ustr("/a"), i32(3)), code: -121,
			wantReq: func(r *rec) { r.WatchMode = 3 }},
		{name: "removeWatches", op: 18, path: "/a", body: cat(ustr("/a"), i32(2)),
			wantReq: func(r *rec) { r.WatchMode = 2 }},
		{name: "createContainer", op: 19, path: "/c", body: cat(ustr("/c"), ustr(""), worldACL(), i32(4)),
			reply: cat(ustr("/c"), stat(0, 0)), wantReq: func(r *rec) { r.DataLen = 0; r.CreateMode = 4 }},
		{name: "createTTL", op: 21, path: "/t", body: cat(ustr("/t"), ustr("x"), worldACL(), i32(5), i64(10000)),
			reply: cat(ustr("/t"), stat(1, 0)), wantReq: func(r *rec) { r.DataLen = 1; r.CreateMode = 5 }},
		{name: "getEphemerals", op: 103, path: "/", body: ustr("/"),
			reply: strs("/e1", "/e2"), wantRep: func(r *rec) { r.Children = 2 }},
		{name: "getAllChildrenNumber", op: 104, path: "/", body: ustr("/"),
			reply: i32(42), wantRep: func(r *rec) { r.Children = 42 }},
		{name: "addWatch", op: 106, path: "/w", body: cat(ustr("/w"), i32(1)), reply: i32(0),
			wantReq: func(r *rec) { r.Watch = true; r.WatchMode = 1 }},
		{name: "whoAmI", op: 107, reply: cat(i32(1), ustr("ip"), ustr("127.0.0.1")),
			wantRep: func(r *rec) { r.AuthScheme = "ip"; r.AuthUser = "127.0.0.1" }},
		{name: "closeSession", op: -11},
		{name: "auth digest", op: 100, xid: -4, body: cat(i32(0), ustr("digest"), ustr("tacos:tacos")),
			wantReq: func(r *rec) { r.AuthScheme = "digest"; r.AuthUser = "tacos" }},
		{name: "auth ip", op: 100, xid: -4, body: cat(i32(0), ustr("ip"), ustr("SECRET-opaque")),
			code: -115, wantReq: func(r *rec) { r.AuthScheme = "ip" }},
		{name: "sasl digest-md5", op: 102,
			body:    ustr(`charset=utf-8,username="bob",realm="zk",nonce="SECRETNONCE",response=SECRET`),
			reply:   ustr("rspauth=SECRET"),
			wantReq: func(r *rec) { r.AuthScheme = "sasl"; r.AuthUser = "bob" }},
		{name: "sasl failed", op: 102, body: ustr("SECRET-gssapi"), code: -115, reply: null(),
			wantReq: func(r *rec) { r.AuthScheme = "sasl" }},
		{name: "setWatches", op: 101, body: cat(i64(99), strs("/a", "/b"), strs(), strs("/c")),
			wantReq: func(r *rec) { r.Watches = 3 }},
		{name: "setWatches xid -8", op: 101, xid: -8, body: cat(i64(99), strs("/a"), null(), null()),
			wantReq: func(r *rec) { r.Watches = 1 }},
		{name: "setWatches2", op: 105, body: cat(i64(99), strs("/a"), strs("/b"), strs(), strs("/p"), strs("/r1", "/r2")),
			wantReq: func(r *rec) { r.Watches = 5 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{}, true)
			c.handshake()
			xid := tt.xid
			if xid == 0 {
				xid = 7
			}
			zxid := int64(0x100000005)
			rq := req(xid, tt.op, tt.body)
			rp := rep(xid, zxid, tt.code, tt.reply)
			c.send(proto.ToServer, rq)
			c.send(proto.ToClient, rp)
			name := OpName(tt.op)
			wantReq := reqRec(name, xid, tt.path, len(rq))
			wantRep := repRec(name, xid, zxid, tt.code, tt.path, len(rp))
			if tt.wantReq != nil {
				tt.wantReq(&wantReq)
			}
			if tt.wantRep != nil {
				tt.wantRep(&wantRep)
			}
			if diff := cmp.Diff([]rec{wantReq, wantRep}, c.take()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]uint64{}, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConnect(t *testing.T) {
	tests := []struct {
		name     string
		req, rsp []byte
		want     []rec
	}{
		{
			name: "new session with readOnly byte",
			req:  connReq(0, 30000, 0, false), // 45-byte body
			rsp:  connResp(20000, sid, false), // 37-byte body
			want: []rec{
				{Proto: proto.ZK, Kind: proto.Request, Op: "connect", HasZxid: true, Size: 49, Timeout: 30000, DataLen: -1, Children: -1},
				{Proto: proto.ZK, Kind: proto.Reply, Op: "connect", Session: sid, HasSession: true, Size: 41, Timeout: 20000,
					Latency: time.Millisecond, Paired: true, DataLen: -1, Children: -1},
			},
		},
		{
			name: "go-zookeeper without readOnly, resume",
			req:  connReq(0x200000010, 30000, sid), // 44-byte body
			rsp:  connResp(30000, sid),             // 36-byte body
			want: []rec{
				{Proto: proto.ZK, Kind: proto.Request, Op: "connect", Session: sid, HasSession: true, Zxid: 0x200000010, HasZxid: true,
					Size: 48, Timeout: 30000, Reconnect: true, DataLen: -1, Children: -1},
				{Proto: proto.ZK, Kind: proto.Reply, Op: "connect", Session: sid, HasSession: true, Size: 40, Timeout: 30000,
					Latency: time.Millisecond, Paired: true, DataLen: -1, Children: -1},
			},
		},
		{
			name: "read-only server",
			req:  connReq(0, 30000, 0, true),
			rsp:  connResp(30000, sid, true),
			want: []rec{
				{Proto: proto.ZK, Kind: proto.Request, Op: "connect", HasZxid: true, Size: 49, Timeout: 30000, ReadOnly: true, DataLen: -1, Children: -1},
				{Proto: proto.ZK, Kind: proto.Reply, Op: "connect", Session: sid, HasSession: true, Size: 41, Timeout: 30000, ReadOnly: true,
					Latency: time.Millisecond, Paired: true, DataLen: -1, Children: -1},
			},
		},
		{
			name: "expired session on resume",
			req:  connReq(0x200000010, 30000, sid, false),
			rsp:  connResp(0, 0, false), // timeOut 0, sessionId 0: refused
			want: []rec{
				{Proto: proto.ZK, Kind: proto.Request, Op: "connect", Session: sid, HasSession: true, Zxid: 0x200000010, HasZxid: true,
					Size: 49, Timeout: 30000, Reconnect: true, DataLen: -1, Children: -1},
				{Proto: proto.ZK, Kind: proto.Reply, Op: "connect", Session: sid, HasSession: true, Err: -112, Size: 41,
					Latency: time.Millisecond, Paired: true, DataLen: -1, Children: -1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{}, true)
			c.send(proto.ToServer, tt.req)
			c.send(proto.ToClient, tt.rsp)
			if diff := cmp.Diff(tt.want, c.take()); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]uint64{}, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSessionOnLaterMessages checks that the session id from the
// ConnectResponse is set on the connection's later messages, and that an
// expired session is not.
func TestSessionOnLaterMessages(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.handshake()
	c.send(proto.ToServer, req(1, opPing))
	got := c.take()
	if len(got) != 1 || got[0].Session != sid || !got[0].HasSession {
		t.Fatalf("ping after handshake: got %+v, want session %#x", got, sid)
	}

	c = newConn(t, Config{}, true)
	c.send(proto.ToServer, connReq(0, 30000, sid, false))
	c.send(proto.ToClient, connResp(0, 0, false))
	c.send(proto.ToServer, req(1, opPing))
	got = c.take()
	if len(got) != 3 || got[2].HasSession {
		t.Fatalf("after expiry: got %+v, want 3 messages, last without session", got)
	}
}

func TestOpCode(t *testing.T) {
	for op := int32(-20); op < 120; op++ {
		name := OpName(op)
		got, ok := OpCode(name)
		if name == "unknown" {
			if ok {
				t.Errorf("OpCode(%q) = %d, true; want false", name, got)
			}
			continue
		}
		if !ok || got != op {
			t.Errorf("OpCode(OpName(%d) = %q) = %d, %v", op, name, got, ok)
		}
	}
	for _, name := range []string{"connect", "tls", "unknown", ""} {
		if _, ok := OpCode(name); ok {
			t.Errorf("OpCode(%q) = true, want false", name)
		}
	}
}
