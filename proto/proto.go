package proto

import (
	"net/netip"
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
	Watch      bool  // the request armed a watch (exists/getData/getChildren with watch=true, addWatch)
	DataLen    int32 // size of znode data carried by the request or reply; -1 when null or absent
	Children   int32 // number of names in a getChildren reply; -1 when absent
	Timeout    int32 // connect: requested (request) or negotiated (reply) session timeout, ms
	ReadOnly   bool  // connect: readOnly flag
	Reconnect  bool  // connect request resuming an existing session (sessionId != 0)
	EventType  int32 // notification: 1 NodeCreated .. 4 NodeChildrenChanged
	AddWatch   int32 // addWatch mode: 0 persistent, 1 persistentRecursive
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
