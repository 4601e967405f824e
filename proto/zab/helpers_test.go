package zab

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/zktap/zktap/proto"
)

var (
	learner = netip.MustParseAddrPort("127.0.0.2:40000")
	leader  = netip.MustParseAddrPort("127.0.0.1:2888")
	t0      = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

// ustr encodes a jute ustring.
func ustr(s string) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// jbuf encodes a jute buffer of n zero bytes (n = -1: null).
func jbuf(n int) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(int32(n)))
	if n > 0 {
		b = append(b, make([]byte, n)...)
	}
	return b
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func i32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

// qp builds a QuorumPacket {int type, long zxid, buffer data, vector<Id>
// authinfo}. data nil is a null buffer; auth nil is a null vector, and each
// auth pair is an Id {scheme, id}.
func qp(typ int32, zxid int64, data []byte, auth ...[2]string) []byte {
	b := cat(i32(typ), i64(zxid))
	if data == nil {
		b = append(b, i32(-1)...)
	} else {
		b = append(b, i32(int32(len(data)))...)
		b = append(b, data...)
	}
	if auth == nil {
		return append(b, i32(-1)...)
	}
	b = append(b, i32(int32(len(auth)))...)
	for _, id := range auth {
		b = append(b, ustr(id[0])...)
		b = append(b, ustr(id[1])...)
	}
	return b
}

// txnHdr builds a TxnHeader {long clientId, int cxid, long zxid, long time, int type}.
func txnHdr(session int64, cxid int32, zxid int64, typ int32) []byte {
	return cat(i64(session), i32(cxid), i64(zxid), i64(1700000000000), i32(typ))
}

// createTxn is the CreateTxn record {path, data, acl, ephemeral, parentCVersion}
// with an empty ACL vector.
func createTxn(path string, dataLen int) []byte {
	return cat(ustr(path), jbuf(dataLen), i32(0), []byte{0}, i32(1))
}

// createReq is the CreateRequest record {path, data, acl, flags}.
func createReq(path string, dataLen int) []byte {
	return cat(ustr(path), jbuf(dataLen), i32(0), i32(0))
}

// proposalPkt is a PROPOSAL of a create of path by session 0x42, cxid 7.
func proposalPkt(zxid int64, path string) []byte {
	return qp(typeProposal, zxid, cat(txnHdr(0x42, 7, zxid, opCreate), createTxn(path, 5)))
}

func ackPkt(zxid int64) []byte    { return qp(typeAck, zxid, nil) }
func commitPkt(zxid int64) []byte { return qp(typeCommit, zxid, nil) }

// rec is the comparable summary of a Message used in test diffs.
type rec struct {
	Dir        proto.Dir
	Op         string
	Kind       proto.Kind
	Size       int
	Zxid       int64
	HasZxid    bool
	Session    int64
	HasSession bool
	Path       string
	Type       int32
	Sid        int64
	TxnType    int32
	TxnOp      string
	CXid       int32
	DataLen    int32
	SnapSize   int64
	AuthScheme string
	AuthUser   string
	Latency    time.Duration
	Paired     bool
}

func toRec(m *proto.Message) rec {
	dir := proto.ToServer
	if m.Src == leader {
		dir = proto.ToClient
	}
	return rec{
		Dir: dir, Op: m.Op, Kind: m.Kind, Size: m.Size, Zxid: m.Zxid, HasZxid: m.HasZxid,
		Session: m.Session, HasSession: m.HasSession, Path: string(m.Path),
		Type: m.ZAB.Type, Sid: m.ZAB.Sid, TxnType: m.ZAB.TxnType, TxnOp: m.ZAB.TxnOp,
		CXid: m.ZAB.CXid, DataLen: m.ZAB.DataLen, SnapSize: m.ZAB.SnapSize,
		AuthScheme: string(m.ZK.AuthScheme), AuthUser: string(m.ZK.AuthUser),
		Latency: m.Latency, Paired: m.Paired,
	}
}

// feeder plays the pipeline: it keeps the unconsumed bytes of each
// direction, appends new chunks and honours n > len(b) skips.
type feeder struct {
	d    *Decoder
	buf  [2][]byte
	skip [2]int
	recs []rec
	ctr  proto.Counters
}

func newFeeder(fromStart bool) *feeder {
	f := &feeder{}
	f.d = NewDecoder(Config{}, proto.SinkFunc(func(m *proto.Message) { f.recs = append(f.recs, toRec(m)) }), &f.ctr)
	f.d.Reset(proto.Endpoints{Client: learner, Server: leader, FromStart: fromStart})
	return f
}

func (f *feeder) feed(dir proto.Dir, chunk []byte, ts time.Time) {
	if k := min(f.skip[dir], len(chunk)); k > 0 {
		chunk = chunk[k:]
		f.skip[dir] -= k
	}
	f.buf[dir] = append(f.buf[dir], chunk...)
	n := f.d.Feed(dir, f.buf[dir], ts)
	if n < 0 {
		panic("negative n")
	}
	if n > len(f.buf[dir]) {
		f.skip[dir] = n - len(f.buf[dir])
		n = len(f.buf[dir])
	}
	f.buf[dir] = append(f.buf[dir][:0], f.buf[dir][n:]...)
}

// counts returns the non-zero ZAB counters by token.
func (f *feeder) counts() map[string]uint64 {
	out := map[string]uint64{}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if v := f.ctr.Get(proto.ZAB, r); v != 0 {
			out[r.String()] = v
		}
	}
	return out
}
