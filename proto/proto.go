package proto

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"time"
)

// Proto names the protocol a message was decoded from.
type Proto uint8

// Protocols zktap decodes. The zero value means "unknown".
const (
	ZK         Proto = iota + 1 // client protocol on the client port
	ZAB                         // quorum traffic between leader and learners
	FLE                         // fast leader election
	FourLetter                  // four-letter words on the client port
	numProtos
)

// NumProtos is one more than the highest Proto value, for sizing arrays.
const NumProtos = int(numProtos)

var protoNames = [...]string{"unknown", "zk", "zab", "fle", "4lw"}

// String returns the name used in dumps and labels: zk, zab, fle, 4lw.
func (p Proto) String() string {
	if int(p) < len(protoNames) {
		return protoNames[p]
	}
	return "unknown"
}

// ParseProto is the inverse of Proto.String.
func ParseProto(s string) (Proto, bool) {
	for i, n := range protoNames[1:] {
		if n == s {
			return Proto(i + 1), true
		}
	}
	return 0, false
}

// Kind says whether a message is a request, a reply or an unsolicited event.
type Kind uint8

// Message kinds.
const (
	Request Kind = iota + 1
	Reply
	Event
)

var kindNames = [...]string{"unknown", "request", "reply", "event"}

// String returns request, reply or event.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Dir is the direction of a byte stream within a TCP connection.
type Dir uint8

// Directions. The server side is the side listening on a configured port
// (ZooKeeper server, ZAB leader or learner master, FLE acceptor).
const (
	ToServer Dir = iota // from the side that connected (client, learner, FLE dialer)
	ToClient            // from the listening side
)

// String returns "to_server" or "to_client".
func (d Dir) String() string {
	if d == ToServer {
		return "to_server"
	}
	return "to_client"
}

// Message is one decoded protocol message. Decoders fill a Message they own
// and reuse; every slice field aliases decoder or capture buffers and is valid
// only during Sink.Emit. Fields that do not apply to a message are left zero;
// the Has* flags tell a genuine zero from an absent value.
//
// Secrets never reach a Message: not the session password of connect frames,
// not the password half of a digest AuthPacket, not SASL tokens, not znode
// data. Only sizes of such payloads are reported.
type Message struct {
	Time  time.Time // capture time of the first byte of the frame
	Proto Proto
	Kind  Kind
	// Op is the operation name, spelled as ZooKeeper spells it: for the
	// client protocol the ZooDefs.OpCode name (exists, getData, create2,
	// multi, closeSession, ...), "connect" for the handshake and
	// "notification" for watch events; for ZAB the packet type in lower
	// case (proposal, ack, commit, ping, ...); for FLE "initial" or
	// "notification"; for 4lw the command (ruok, mntr, ...). Op always
	// points at a static string, so keeping it never retains a buffer.
	Op       string
	Src, Dst netip.AddrPort
	Size     int // bytes of this frame on the wire, length prefix included

	Session    int64 // client session id, where known
	HasSession bool
	Xid        int32
	HasXid     bool
	Zxid       int64
	HasZxid    bool
	Err        int32  // KeeperException code on client replies (0 = OK)
	Path       []byte // znode path of the request (replies carry their request's path)

	// Latency is reply time minus request time, set on replies paired with
	// their request (Paired true). Service time excludes queueing behind
	// earlier requests of the same session: max(req, previous reply) to reply.
	Latency time.Duration
	Paired  bool
	// SinkTag is the sink's own note on a client request, handed back on
	// the reply the decoder pairs with it (Paired true). A sink may set it
	// in Emit of a request, e.g. to ids it worked out from the request's op
	// and path, so that the reply costs no second lookup. It is 0 on every
	// other message and on a reply whose request was not tagged.
	SinkTag uint64

	ZK   ZKInfo
	ZAB  ZABInfo
	FLE  FLEInfo
	Text []byte // four-letter word reply text (not secret: server status)
}

// ZKInfo holds client-protocol details.
type ZKInfo struct {
	Watch     bool  // the request armed a watch (exists/getData/getChildren with watch=true, addWatch)
	DataLen   int32 // size of znode data carried by the request or reply; -1 when null or absent
	Children  int32 // number of names in a getChildren reply; -1 when absent
	Timeout   int32 // connect: requested (request) or negotiated (reply) session timeout, ms
	ReadOnly  bool  // connect: readOnly flag
	Reconnect bool  // connect request resuming an existing session (sessionId != 0)
	EventType int32 // notification: 1 NodeCreated .. 4 NodeChildrenChanged
	// WatchMode is the watch kind a request names: addWatch's mode (0
	// persistent, 1 persistentRecursive), or the WatcherType of
	// checkWatches and removeWatches (1 children, 2 data, 3 any; 3.6+
	// servers also define 4 persistent, 5 persistentRecursive).
	WatchMode  int32
	CreateMode int32 // create flags (CreateMode) on create requests
	// Auth identity: AuthScheme is the AuthPacket scheme (or "sasl"), and
	// AuthUser the user name for digest (the text before ':'), or the
	// DIGEST-MD5 username where the wire shows it. Never the password.
	AuthScheme []byte
	AuthUser   []byte
	Watches    int32   // setWatches/setWatches2: number of paths listed
	Sub        []SubOp // multi and multiRead sub-operations (request ops, or reply results)
	TLS        bool    // the connection began with a TLS handshake and is opaque
}

// SubOp is one operation inside a multi or multiRead.
type SubOp struct {
	Op   string
	Path []byte
	Err  int32 // reply results: the per-op error code
}

// ZABInfo holds quorum-packet details.
type ZABInfo struct {
	Type     int32 // QuorumPacket type (1..19)
	Sid      int64 // FOLLOWERINFO/OBSERVERINFO server id
	TxnType  int32 // PROPOSAL/INFORM/REQUEST: the txn or request opcode
	TxnOp    string
	CXid     int32 // REQUEST/PROPOSAL client xid
	DataLen  int32
	SnapSize int64 // SNAP: bytes of the raw snapshot stream that followed
}

// FLEInfo holds leader-election details.
type FLEInfo struct {
	Sid           int64  // initial message: the sender's server id
	Addr          []byte // initial message: the sender's election address
	State         string // looking, following, leading, observing
	Leader        int64  // proposed or known leader
	ElectionEpoch int64
	PeerEpoch     int64
	Version       int32
}

// Reset zeroes m but keeps the capacity of its reusable slices.
func (m *Message) Reset() {
	sub := m.ZK.Sub[:0]
	*m = Message{}
	m.ZK.Sub = sub
	m.ZK.DataLen = -1
	m.ZK.Children = -1
}

// MessageQueue holds copies of messages, first in first out, so that they
// outlive the Emit call that handed them over: a copy shares no memory
// with the decoder's message, every byte of its slices included.
//
// The copies are compact. A Message is 488 bytes, mostly zero, and with
// whole copies handed to a second goroutine, `zktap dump` of a million
// small requests and replies ran no faster than in one goroutine (0.174 s
// on 2 vCPUs; 0.155 s with these). The queue keeps a message's scalars
// and the bytes of its slices in one byte buffer: 68 bytes and the path
// for most client messages, IPv4 endpoints in 6 bytes each, the rarer
// client fields and the ZAB and FLE details only when set. Its time,
// strings (Op, ZAB.TxnOp, FLE.State, SubOp.Op: immutable, and static
// anyway), other endpoints and multi sub-operations go in typed slices.
// TestMessageQueueEveryField fills every field of a Message by reflection,
// so a field added to Message that Push and Pop do not carry fails it.
//
// A queue is not safe for concurrent use. It may be handed from one
// goroutine to another, which is how `zktap dump` renders on a second
// core. Create it with NewMessageQueue.
type MessageQueue struct {
	buf   []byte           // scalars and bytes, message after message
	times []time.Time      // Time of each message
	strs  []string         // Op of each message, then ZAB.TxnOp or FLE.State when set
	addrs []netip.AddrPort // Src and Dst that are not IPv4
	subs  []SubOp          // ZK.Sub; their paths are in buf
	size  [3]int           // NewMessageQueue's msgs, bytes and subs

	// Pop's cursors into the above.
	popped, off, str, addr, sub int
}

// Flags of a packed message (its first byte).
const (
	qHasSession = 1 << iota
	qHasXid
	qHasZxid
	qPaired
	qSrc4  // Src is IPv4 and packed; otherwise it is in addrs
	qDst4  // the same for Dst
	qExtra // the rarer fields follow (qExtraLen bytes)
	qZAB   // ZAB details follow (32 bytes)
)

// ZK booleans of a packed message (its fourth byte), whether ZK.Sub is
// nil, and whether FLE details follow.
const (
	qWatch = 1 << iota
	qReadOnly
	qReconnect
	qTLS
	qSubSet     // ZK.Sub is not nil (it may be empty: decoders keep its storage)
	qFLEDetails // FLE details follow (40 bytes)
)

// Sizes of the parts of a packed message: the head, the rarer fields, the
// ZAB and the FLE details.
const (
	qHead     = 68
	qExtraLen = 44
	qZABLen   = 32
	qFLELen   = 40
)

// NewMessageQueue returns a queue with room for msgs messages whose
// slices hold bytes bytes in all (more for the rarer fields: see Push) and
// whose multis hold subs sub-operations. Push does not allocate while the
// queue has room.
func NewMessageQueue(msgs, bytes, subs int) *MessageQueue {
	q := &MessageQueue{size: [3]int{msgs, bytes, subs}}
	q.alloc()
	return q
}

func (q *MessageQueue) alloc() {
	msgs, bytes, subs := q.size[0], q.size[1], q.size[2]
	q.buf = make([]byte, 0, msgs*qHead+bytes)
	q.times = make([]time.Time, 0, msgs)
	q.strs = make([]string, 0, msgs+msgs/8) // ZAB and FLE messages have two
	q.addrs = make([]netip.AddrPort, 0, 2*msgs)
	q.subs = make([]SubOp, 0, subs)
}

// Len returns the number of messages pushed and not yet popped.
func (q *MessageQueue) Len() int { return len(q.times) - q.popped }

// Reset empties q. The messages Pop returned must no longer be used: their
// slices point into q. Storage that Push grew beyond what NewMessageQueue
// asked for is released (and made again at that size), so that one huge
// message does not hold memory for good. The times, strings and endpoints
// of the messages are not cleared: what they point to (static op names,
// time zones) stays referenced until Push overwrites them.
func (q *MessageQueue) Reset() {
	if msgs := q.size[0]; msgs > 0 && (cap(q.buf) > msgs*qHead+q.size[1] || cap(q.subs) > q.size[2] ||
		cap(q.times) > msgs || cap(q.strs) > msgs+msgs/8 || cap(q.addrs) > 2*msgs) {
		q.alloc()
	}
	q.buf, q.times, q.strs, q.addrs, q.subs = q.buf[:0], q.times[:0], q.strs[:0], q.addrs[:0], q.subs[:0]
	q.popped, q.off, q.str, q.addr, q.sub = 0, 0, 0, 0, 0
}

// Push appends a copy of m and reports true, unless q has no room left for
// it, in which case it reports false and leaves q as it was. An empty
// queue always takes m, growing as needed until Reset. The decoders bound
// what that can take: the slices of a client or ZAB message lie in one
// frame of at most the decoder's MaxFrame (a client reply's path is its
// request's, at most 1 KiB), a 4lw reply text is at most 64 KiB and an FLE
// address 2 KiB.
//
// The head of a packed message, 68 bytes, little endian:
//
//	0 flags  1 Proto  2 Kind  3 ZK booleans  4 Xid  8 Err
//	12 length of Path (-1: nil)  16 Size  24 Session  32 Zxid
//	40 Latency  48 SinkTag  56 Src  62 Dst (when IPv4: 4 address bytes,
//	2 port bytes)
//
// then the bytes of Path; then, when set, the rarer fields: ZK.DataLen,
// Children, Timeout, EventType, WatchMode, CreateMode and Watches, the
// lengths of ZK.AuthScheme, ZK.AuthUser and Text (-1: nil) and the number
// of ZK.Sub, followed by those bytes and the length and bytes of each
// sub-operation's path; then the ZAB details; then the FLE details and
// address.
func (q *MessageQueue) Push(m *Message) bool {
	// Push packs the common message itself, a client request or reply
	// with IPv4 endpoints and none of the rarer fields, when q has room
	// for it, and push, which packs any message the same way
	// (TestMessageQueueEachField), the others. A third of push's code with
	// no branch per optional part, it is 15 % faster alone
	// (BenchmarkMessageQueuePush, 17.8 -> 15.4 ns); in a two-stage dump,
	// where the decoder's code competes for the caches, it took the
	// million-path capture from 154 to 139 ms.
	z, a, e := &m.ZK, &m.ZAB, &m.FLE
	if z.DataLen != -1 || z.Children != -1 || z.Timeout|z.EventType|z.WatchMode|z.CreateMode|z.Watches != 0 ||
		z.AuthScheme != nil || z.AuthUser != nil || len(z.Sub) > 0 || m.Text != nil ||
		a.Type|a.TxnType|a.CXid|a.DataLen != 0 || a.Sid|a.SnapSize != 0 || a.TxnOp != "" ||
		e.Sid|e.Leader|e.ElectionEpoch|e.PeerEpoch != 0 || e.Version != 0 || e.Addr != nil || e.State != "" ||
		!m.Src.Addr().Is4() || !m.Dst.Addr().Is4() {
		return q.push(m)
	}
	off, n, s := len(q.buf), len(q.times), len(q.strs)
	end := off + qHead + len(m.Path)
	if end > cap(q.buf) || n == cap(q.times) || s == cap(q.strs) {
		return q.push(m)
	}
	q.buf = q.buf[:end]
	h := q.buf[off : off+qHead : off+qHead]
	le := binary.LittleEndian
	h[0], h[1], h[2], h[3] = qSrc4|qDst4|headFlags(m), byte(m.Proto), byte(m.Kind), zkFlags(z)
	putHeadNumbers(h, m)
	src, dst := m.Src.Addr().As4(), m.Dst.Addr().As4()
	copy(h[56:60], src[:])
	le.PutUint16(h[60:], m.Src.Port())
	copy(h[62:66], dst[:])
	le.PutUint16(h[66:], m.Dst.Port())
	copy(q.buf[off+qHead:end], m.Path)
	q.times = q.times[:n+1]
	q.times[n] = m.Time
	q.strs = q.strs[:s+1]
	q.strs[s] = m.Op
	return true
}

// qBit returns 1 if b is true, 0 otherwise.
func qBit(b bool) byte {
	if b {
		return 1
	}
	return 0
}

// headFlags returns the flag bits of a packed message's head (byte 0, less
// the endpoint and detail bits), and zkFlags its ZK booleans (byte 3): Push
// and push set them the same way. Two functions, so that each inlines.
func headFlags(m *Message) byte {
	return qBit(m.HasSession)*qHasSession | qBit(m.HasXid)*qHasXid | qBit(m.HasZxid)*qHasZxid | qBit(m.Paired)*qPaired
}

func zkFlags(z *ZKInfo) byte {
	return qBit(z.Watch)*qWatch | qBit(z.ReadOnly)*qReadOnly | qBit(z.Reconnect)*qReconnect |
		qBit(z.TLS)*qTLS | qBit(z.Sub != nil)*qSubSet
}

// putHeadNumbers packs the numbers of a packed message's head, those both
// Push and push write the same way (it inlines into both).
func putHeadNumbers(h []byte, m *Message) {
	le := binary.LittleEndian
	le.PutUint32(h[4:], uint32(m.Xid))
	le.PutUint32(h[8:], uint32(m.Err))
	le.PutUint32(h[12:], qLen(m.Path))
	le.PutUint64(h[16:], uint64(m.Size))
	le.PutUint64(h[24:], uint64(m.Session))
	le.PutUint64(h[32:], uint64(m.Zxid))
	le.PutUint64(h[40:], uint64(m.Latency))
	le.PutUint64(h[48:], m.SinkTag)
}

// push is Push for every message.
func (q *MessageQueue) push(m *Message) bool {
	z := &m.ZK
	extra := z.DataLen != -1 || z.Children != -1 || z.Timeout|z.EventType|z.WatchMode|z.CreateMode|z.Watches != 0 ||
		z.AuthScheme != nil || z.AuthUser != nil || len(z.Sub) > 0 || m.Text != nil
	a, e := &m.ZAB, &m.FLE
	zab := a.Type|a.TxnType|a.CXid|a.DataLen != 0 || a.Sid|a.SnapSize != 0 || a.TxnOp != ""
	fle := e.Sid|e.Leader|e.ElectionEpoch|e.PeerEpoch != 0 || e.Version != 0 || e.Addr != nil || e.State != ""
	src4, dst4 := m.Src.Addr().Is4(), m.Dst.Addr().Is4()

	need, strs, addrs := qHead+len(m.Path), 1, 0
	if !src4 {
		addrs++
	}
	if !dst4 {
		addrs++
	}
	if extra {
		need += qExtraLen + len(z.AuthScheme) + len(z.AuthUser) + len(m.Text)
		for i := range z.Sub {
			need += 4 + len(z.Sub[i].Path)
		}
	}
	if zab {
		need += qZABLen
		strs++
	}
	if fle {
		need += qFLELen + len(e.Addr)
		strs++
	}
	n := len(q.times)
	if len(q.buf)+need > cap(q.buf) || n == cap(q.times) || len(q.strs)+strs > cap(q.strs) ||
		len(q.addrs)+addrs > cap(q.addrs) || len(q.subs)+len(z.Sub) > cap(q.subs) {
		if n > 0 {
			return false
		}
		q.buf = slices.Grow(q.buf, need)
		q.times = slices.Grow(q.times, 1)
		q.strs = slices.Grow(q.strs, strs)
		q.addrs = slices.Grow(q.addrs, addrs)
		q.subs = slices.Grow(q.subs, len(z.Sub))
	}

	le := binary.LittleEndian
	off := len(q.buf)
	q.buf = q.buf[:off+qHead]
	h := q.buf[off : off+qHead]
	f, zf := headFlags(m), zkFlags(z)
	h[1], h[2] = byte(m.Proto), byte(m.Kind)
	putHeadNumbers(h, m)
	if src4 {
		f |= qSrc4
		a4 := m.Src.Addr().As4()
		copy(h[56:60], a4[:])
		le.PutUint16(h[60:], m.Src.Port())
	} else {
		q.addrs = append(q.addrs, m.Src)
	}
	if dst4 {
		f |= qDst4
		a4 := m.Dst.Addr().As4()
		copy(h[62:66], a4[:])
		le.PutUint16(h[66:], m.Dst.Port())
	} else {
		q.addrs = append(q.addrs, m.Dst)
	}
	q.times = q.times[:n+1]
	q.times[n] = m.Time
	q.strs = append(q.strs, m.Op)
	if len(m.Path) > 0 {
		q.buf = append(q.buf, m.Path...)
	}
	if extra {
		f |= qExtra
		x := len(q.buf)
		q.buf = q.buf[:x+qExtraLen]
		c := q.buf[x : x+qExtraLen]
		le.PutUint32(c[0:], uint32(z.DataLen))
		le.PutUint32(c[4:], uint32(z.Children))
		le.PutUint32(c[8:], uint32(z.Timeout))
		le.PutUint32(c[12:], uint32(z.EventType))
		le.PutUint32(c[16:], uint32(z.WatchMode))
		le.PutUint32(c[20:], uint32(z.CreateMode))
		le.PutUint32(c[24:], uint32(z.Watches))
		le.PutUint32(c[28:], qLen(z.AuthScheme))
		le.PutUint32(c[32:], qLen(z.AuthUser))
		le.PutUint32(c[36:], qLen(m.Text))
		le.PutUint32(c[40:], uint32(len(z.Sub)))
		q.buf = append(q.buf, z.AuthScheme...)
		q.buf = append(q.buf, z.AuthUser...)
		q.buf = append(q.buf, m.Text...)
		for i := range z.Sub {
			s := &z.Sub[i]
			q.subs = append(q.subs, SubOp{Op: s.Op, Err: s.Err})
			q.buf = le.AppendUint32(q.buf, qLen(s.Path))
			q.buf = append(q.buf, s.Path...)
		}
	}
	if zab {
		f |= qZAB
		x := len(q.buf)
		q.buf = q.buf[:x+qZABLen]
		c := q.buf[x : x+qZABLen]
		le.PutUint32(c[0:], uint32(a.Type))
		le.PutUint64(c[4:], uint64(a.Sid))
		le.PutUint32(c[12:], uint32(a.TxnType))
		le.PutUint32(c[16:], uint32(a.CXid))
		le.PutUint32(c[20:], uint32(a.DataLen))
		le.PutUint64(c[24:], uint64(a.SnapSize))
		q.strs = append(q.strs, a.TxnOp)
	}
	if fle {
		zf |= qFLEDetails
		x := len(q.buf)
		q.buf = q.buf[:x+qFLELen]
		c := q.buf[x : x+qFLELen]
		le.PutUint64(c[0:], uint64(e.Sid))
		le.PutUint64(c[8:], uint64(e.Leader))
		le.PutUint64(c[16:], uint64(e.ElectionEpoch))
		le.PutUint64(c[24:], uint64(e.PeerEpoch))
		le.PutUint32(c[32:], uint32(e.Version))
		le.PutUint32(c[36:], qLen(e.Addr))
		q.buf = append(q.buf, e.Addr...)
		q.strs = append(q.strs, e.State)
	}
	h[0], h[3] = f, zf
	return true
}

// Pop sets *m to the oldest message not yet popped and reports whether
// there was one. m's slices point into q: they are valid until q.Reset.
// Everything m held before is overwritten, its slices included.
func (q *MessageQueue) Pop(m *Message) bool {
	if q.popped == len(q.times) {
		return false
	}
	le := binary.LittleEndian
	b := q.buf[q.off:]
	h := b[:qHead]
	f, zf := h[0], h[3]
	// Field by field: a composite literal is built on the stack and
	// copied with 16-byte loads, which cannot be forwarded from the 4- and
	// 8-byte stores that just made it (most of Pop's time, measured).
	m.Time = q.times[q.popped]
	q.popped++
	m.Proto, m.Kind, m.Op = Proto(h[1]), Kind(h[2]), q.strs[q.str]
	q.str++
	m.Xid, m.HasXid = int32(le.Uint32(h[4:])), f&qHasXid != 0
	m.Err = int32(le.Uint32(h[8:]))
	m.Size = int(le.Uint64(h[16:]))
	m.Session, m.HasSession = int64(le.Uint64(h[24:])), f&qHasSession != 0
	m.Zxid, m.HasZxid = int64(le.Uint64(h[32:])), f&qHasZxid != 0
	m.Latency, m.Paired = time.Duration(le.Uint64(h[40:])), f&qPaired != 0
	m.SinkTag = le.Uint64(h[48:])
	if f&qSrc4 != 0 {
		m.Src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[56:60])), le.Uint16(h[60:]))
	} else {
		m.Src = q.addrs[q.addr]
		q.addr++
	}
	if f&qDst4 != 0 {
		m.Dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(h[62:66])), le.Uint16(h[66:]))
	} else {
		m.Dst = q.addrs[q.addr]
		q.addr++
	}
	i := qHead
	m.Path, i = qBytes(b, le.Uint32(h[12:]), i)
	z := &m.ZK
	z.Watch, z.ReadOnly, z.Reconnect, z.TLS = zf&qWatch != 0, zf&qReadOnly != 0, zf&qReconnect != 0, zf&qTLS != 0
	if f&qExtra != 0 {
		c := b[i : i+qExtraLen]
		z.DataLen, z.Children = int32(le.Uint32(c[0:])), int32(le.Uint32(c[4:]))
		z.Timeout, z.EventType = int32(le.Uint32(c[8:])), int32(le.Uint32(c[12:]))
		z.WatchMode, z.CreateMode, z.Watches = int32(le.Uint32(c[16:])), int32(le.Uint32(c[20:])), int32(le.Uint32(c[24:]))
		i += qExtraLen
		z.AuthScheme, i = qBytes(b, le.Uint32(c[28:]), i)
		z.AuthUser, i = qBytes(b, le.Uint32(c[32:]), i)
		m.Text, i = qBytes(b, le.Uint32(c[36:]), i)
		if n := int(le.Uint32(c[40:])); n > 0 {
			s := q.subs[q.sub : q.sub+n : q.sub+n]
			q.sub += n
			for j := range s {
				s[j].Path, i = qBytes(b, le.Uint32(b[i:]), i+4)
			}
			z.Sub = s
		} else {
			z.Sub = nil
		}
	} else {
		z.DataLen, z.Children, z.Timeout, z.EventType, z.WatchMode, z.CreateMode, z.Watches = -1, -1, 0, 0, 0, 0, 0
		z.AuthScheme, z.AuthUser, z.Sub, m.Text = nil, nil, nil, nil
	}
	if z.Sub == nil && zf&qSubSet != 0 {
		z.Sub = []SubOp{} // empty, not nil; a zero-size value does not allocate
	}
	if f&qZAB != 0 {
		c, a := b[i:i+qZABLen], &m.ZAB
		a.Type, a.Sid, a.TxnType = int32(le.Uint32(c[0:])), int64(le.Uint64(c[4:])), int32(le.Uint32(c[12:]))
		a.CXid, a.DataLen, a.SnapSize = int32(le.Uint32(c[16:])), int32(le.Uint32(c[20:])), int64(le.Uint64(c[24:]))
		a.TxnOp = q.strs[q.str]
		q.str++
		i += qZABLen
	} else {
		m.ZAB = ZABInfo{}
	}
	if zf&qFLEDetails != 0 {
		c, e := b[i:i+qFLELen], &m.FLE
		e.Sid, e.Leader, e.ElectionEpoch = int64(le.Uint64(c[0:])), int64(le.Uint64(c[8:])), int64(le.Uint64(c[16:]))
		e.PeerEpoch, e.Version = int64(le.Uint64(c[24:])), int32(le.Uint32(c[32:]))
		e.Addr, i = qBytes(b, le.Uint32(c[36:]), i+qFLELen)
		e.State = q.strs[q.str]
		q.str++
	} else {
		m.FLE = FLEInfo{}
	}
	q.off += i
	return true
}

// qLen is the packed length of b: -1 for nil.
func qLen(b []byte) uint32 {
	if b == nil {
		return ^uint32(0)
	}
	return uint32(len(b))
}

// qBytes returns the n bytes of b at i (nil for the packed length of
// nil), and the index after them.
func qBytes(b []byte, n uint32, i int) ([]byte, int) {
	if n == ^uint32(0) {
		return nil, i
	}
	j := i + int(n)
	return b[i:j:j], j
}

// Sink receives decoded messages. m is valid only during the call; a sink
// that keeps anything must copy it. A sink must not modify m, except for
// SinkTag on a request: decoders reuse one Message and clear only what
// they write.
type Sink interface {
	Emit(m *Message)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(m *Message)

// Emit calls f(m).
func (f SinkFunc) Emit(m *Message) { f(m) }

// ConnDecoder decodes one TCP connection, both directions. It is owned by a
// single goroutine and is not safe for concurrent use.
type ConnDecoder interface {
	// Feed offers the contiguous, not yet consumed bytes of one direction;
	// ts is the capture time of b[0]. It returns how many bytes it consumed;
	// the caller keeps b[n:] and offers it again with more data appended.
	// n may exceed len(b): the next n-len(b) bytes of that direction are
	// then discarded without being delivered (used to skip a SNAP stream or
	// a 4lw reply without buffering it). Feed must not retain b.
	Feed(dir Dir, b []byte, ts time.Time) (n int)
	// Gap reports that bytes of dir were lost (capture loss, buffer
	// overflow): buffered bytes are gone and the decoder must resynchronise
	// on the next frame boundary it can prove.
	Gap(dir Dir)
	// Close ends the connection (FIN, RST, idle timeout or eviction);
	// requests still pending are counted as unanswered.
	Close(ts time.Time)
}

// Endpoints describes a connection to its decoder.
type Endpoints struct {
	Client, Server netip.AddrPort
	// FromStart is true when the capture saw the connection's SYN, so the
	// first bytes of each direction are the protocol's first bytes.
	FromStart bool
}
