package zk

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
)

// Hand-built frame builders. Each returns the bytes exactly as they appear
// on the wire.

func i32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// ustr encodes a jute ustring/buffer: int32 length + bytes.
func ustr(s string) []byte { return append(i32(int32(len(s))), s...) }

// null is a null buffer, ustring or vector (length -1).
func null() []byte { return i32(-1) }

func boolb(v bool) []byte {
	if v {
		return []byte{1}
	}
	return []byte{0}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// strs encodes a vector<ustring>.
func strs(ss ...string) []byte {
	b := i32(int32(len(ss)))
	for _, s := range ss {
		b = append(b, ustr(s)...)
	}
	return b
}

// stat is a 68-byte Stat with the given dataLength and numChildren.
func stat(dataLen, numChildren int32) []byte {
	return cat(i64(10), i64(11), i64(1700000000000), i64(1700000000001),
		i32(1), i32(2), i32(3), i64(0), i32(dataLen), i32(numChildren), i64(12))
}

// worldACL is a vector<ACL> of one entry: perms ALL, world:anyone.
func worldACL() []byte { return cat(i32(1), i32(31), ustr("world"), ustr("anyone")) }

// frame prefixes body with its int32 length.
func frame(body ...[]byte) []byte {
	b := cat(body...)
	return append(i32(int32(len(b))), b...)
}

// req is a request frame: RequestHeader{xid, op} + record.
func req(xid, op int32, rec ...[]byte) []byte {
	return frame(append([][]byte{i32(xid), i32(op)}, rec...)...)
}

// rep is a reply frame: ReplyHeader{xid, zxid, err} + record.
func rep(xid int32, zxid int64, code int32, rec ...[]byte) []byte {
	return frame(append([][]byte{i32(xid), i64(zxid), i32(code)}, rec...)...)
}

const secretPasswd = "SECRETPASSWORD!!" // 16 bytes, must never be emitted

// connReq is a ConnectRequest: version 0, lastZxid, timeout, sessionId,
// 16-byte password, optional readOnly byte (44 or 45 bytes).
func connReq(lastZxid int64, timeout int32, sid int64, ro ...bool) []byte {
	b := cat(i32(0), i64(lastZxid), i32(timeout), i64(sid), ustr(secretPasswd))
	for _, v := range ro {
		b = append(b, boolb(v)...)
	}
	return frame(b)
}

// connResp is a ConnectResponse: version 0, timeout, sessionId, password,
// optional readOnly byte (36 or 37 bytes).
func connResp(timeout int32, sid int64, ro ...bool) []byte {
	b := cat(i32(0), i32(timeout), i64(sid), ustr(secretPasswd))
	for _, v := range ro {
		b = append(b, boolb(v)...)
	}
	return frame(b)
}

// rec is a comparable copy of a proto.Message.
type rec struct {
	Proto      proto.Proto
	Kind       proto.Kind
	Op         string
	Session    int64
	HasSession bool
	Xid        int32
	HasXid     bool
	Zxid       int64
	HasZxid    bool
	Err        int32
	Path       string
	Size       int
	Latency    time.Duration
	Paired     bool
	Watch      bool
	DataLen    int32
	Children   int32
	Timeout    int32
	ReadOnly   bool
	Reconnect  bool
	EventType  int32
	WatchMode  int32
	CreateMode int32
	AuthScheme string
	AuthUser   string
	Watches    int32
	Sub        []sub
	TLS        bool
	Text       string
}

type sub struct {
	Op   string
	Path string
	Err  int32
}

// forbidden are byte strings that must never reach a Message.
var forbidden = []string{"SECRET", "tacos:tacos", ":tacos"}

func toRec(t testing.TB, m *proto.Message) rec {
	t.Helper()
	for _, f := range [][]byte{m.Path, m.ZK.AuthScheme, m.ZK.AuthUser, m.Text} {
		for _, s := range forbidden {
			if bytes.Contains(f, []byte(s)) {
				t.Errorf("message %s %s leaks %q in %q", m.Kind, m.Op, s, f)
			}
		}
	}
	for _, s := range m.ZK.Sub {
		for _, f := range forbidden {
			if bytes.Contains(s.Path, []byte(f)) {
				t.Errorf("sub-op leaks %q", f)
			}
		}
	}
	return snapshot(m)
}

// snapshot copies m into a rec.
func snapshot(m *proto.Message) rec {
	r := rec{
		Proto: m.Proto, Kind: m.Kind, Op: m.Op, Session: m.Session, HasSession: m.HasSession,
		Xid: m.Xid, HasXid: m.HasXid, Zxid: m.Zxid, HasZxid: m.HasZxid, Err: m.Err,
		Path: string(m.Path), Size: m.Size, Latency: m.Latency, Paired: m.Paired,
		Watch: m.ZK.Watch, DataLen: m.ZK.DataLen, Children: m.ZK.Children, Timeout: m.ZK.Timeout,
		ReadOnly: m.ZK.ReadOnly, Reconnect: m.ZK.Reconnect, EventType: m.ZK.EventType,
		WatchMode: m.ZK.WatchMode, CreateMode: m.ZK.CreateMode, AuthScheme: string(m.ZK.AuthScheme),
		AuthUser: string(m.ZK.AuthUser), Watches: m.ZK.Watches, TLS: m.ZK.TLS, Text: string(m.Text),
	}
	for _, s := range m.ZK.Sub {
		r.Sub = append(r.Sub, sub{s.Op, string(s.Path), s.Err})
	}
	return r
}

var (
	clientAddr = netip.MustParseAddrPort("10.0.0.1:40000")
	serverAddr = netip.MustParseAddrPort("10.0.0.2:2181")
	t0         = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
)

// tconn drives a Decoder the way the pipeline does: per direction it keeps
// the unconsumed bytes, appends new data, and honours skips (n > len(b)).
type tconn struct {
	t    testing.TB
	d    *Decoder
	ctr  *proto.Counters
	recs []rec
	buf  [2][]byte
	skip [2]int
	now  time.Time
}

const sid = 0x0100000012345678 // session id used by handshake

func newConn(t testing.TB, cfg Config, fromStart bool) *tconn {
	t.Helper()
	c := &tconn{t: t, ctr: new(proto.Counters), now: t0}
	c.d = NewDecoder(cfg, proto.SinkFunc(func(m *proto.Message) { c.recs = append(c.recs, toRec(t, m)) }), c.ctr)
	c.d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: fromStart})
	return c
}

// send feeds b on dir at the current time, then advances the clock 1 ms.
func (c *tconn) send(dir proto.Dir, b []byte) {
	c.feed(dir, b)
	c.now = c.now.Add(time.Millisecond)
}

func (c *tconn) feed(dir proto.Dir, b []byte) {
	if s := min(c.skip[dir], len(b)); s > 0 {
		c.skip[dir] -= s
		b = b[s:]
	}
	c.buf[dir] = append(c.buf[dir], b...)
	n := c.d.Feed(dir, c.buf[dir], c.now)
	if n < 0 {
		c.t.Fatalf("Feed returned %d", n)
	}
	if n >= len(c.buf[dir]) {
		c.skip[dir] += n - len(c.buf[dir])
		c.buf[dir] = c.buf[dir][:0]
		return
	}
	c.buf[dir] = append(c.buf[dir][:0], c.buf[dir][n:]...)
}

// handshake runs a connect exchange for session sid and forgets its messages.
func (c *tconn) handshake() {
	c.send(proto.ToServer, connReq(0, 30000, 0, false))
	c.send(proto.ToClient, connResp(30000, sid, false))
	c.recs = nil
}

func (c *tconn) take() []rec {
	r := c.recs
	c.recs = nil
	return r
}

// reqRec is the record a request frame of size bytes decodes to by default.
func reqRec(op string, xid int32, path string, size int) rec {
	return rec{Proto: proto.ZK, Kind: proto.Request, Op: op, Session: sid, HasSession: true,
		Xid: xid, HasXid: true, Path: path, Size: size, DataLen: -1, Children: -1}
}

// repRec is the record of a paired reply, 1 ms after its request.
func repRec(op string, xid int32, zxid int64, code int32, path string, size int) rec {
	return rec{Proto: proto.ZK, Kind: proto.Reply, Op: op, Session: sid, HasSession: true,
		Xid: xid, HasXid: true, Zxid: zxid, HasZxid: true, Err: code, Path: path, Size: size,
		Latency: time.Millisecond, Paired: true, DataLen: -1, Children: -1}
}

func counts(ctr *proto.Counters, p proto.Proto) map[string]uint64 {
	m := map[string]uint64{}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if n := ctr.Get(p, r); n > 0 {
			m[r.String()] = n
		}
	}
	return m
}
