package zab

import (
	"encoding/binary"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/jute"
)

// DefaultMaxFrame is the default largest data buffer accepted in a packet:
// ZooKeeper's default jute.maxbuffer (1 MiB) plus slack for headers.
const DefaultMaxFrame = 1<<20 + 64<<10

// DefaultMaxPending is the default number of outstanding proposals tracked
// per connection for latency pairing.
const DefaultMaxPending = 4096

const (
	maxSmallPending = 64 // outstanding pings, revalidations and syncs per connection
	maxAuthIDs      = 64 // authinfo entries accepted on a REQUEST
	maxScheme       = 64 // longest auth scheme name accepted
	minPacket       = 20 // type + zxid + null data + null authinfo
	authMagic       = 0x5F2435013501EDCC
	authMagicHi     = 0x5F243501
)

// Config bounds a Decoder. Zero fields take their defaults.
type Config struct {
	// MaxFrame is the largest data buffer (and string) accepted in a
	// packet or snapshot record; larger declared lengths are damage.
	MaxFrame int
	// MaxPending is the number of outstanding proposals kept for latency
	// pairing; the oldest is dropped (and counted) beyond it.
	MaxPending int
}

func (c Config) withDefaults() Config {
	if c.MaxFrame <= 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.MaxPending <= 0 {
		c.MaxPending = DefaultMaxPending
	}
	return c
}

type state uint8

const (
	statePackets state = iota // at a packet boundary
	stateResync               // framing lost: scanning for chained packets
	stateSnap                 // inside the raw snapshot stream after SNAP
)

type dirState struct {
	state    state
	skipping bool // this resync episode has discarded bytes (and counted resync)
	snap     snapState
}

// proposal is an outstanding PROPOSAL awaiting its ACK and COMMIT.
type proposal struct {
	zxid      int64
	ts        time.Time
	acked     bool
	committed bool
}

// ring is a bounded FIFO of T. Its buffer is allocated on first use, so a
// connection that never pairs anything (an observer, a mid-stream join of
// a quiet link) costs no memory for it.
type ring[T any] struct {
	buf        []T
	head, size int
	limit      int
}

func (r *ring[T]) init(n int) {
	r.limit = n
	r.head, r.size = 0, 0
	clear(r.buf)
}

func (r *ring[T]) at(i int) *T { return &r.buf[(r.head+i)%len(r.buf)] }

// full reports whether a push would drop the oldest entry.
func (r *ring[T]) full() bool { return r.size == r.limit }

// push appends v and reports whether the oldest entry had to be dropped.
func (r *ring[T]) push(v T) (dropped bool) {
	if r.buf == nil {
		r.buf = make([]T, r.limit)
	}
	if r.size == len(r.buf) {
		r.head = (r.head + 1) % len(r.buf)
		r.size--
		dropped = true
	}
	r.buf[(r.head+r.size)%len(r.buf)] = v
	r.size++
	return dropped
}

func (r *ring[T]) pop() (T, bool) {
	var zero T
	if r.size == 0 {
		return zero, false
	}
	v := r.buf[r.head]
	r.buf[r.head] = zero
	r.head = (r.head + 1) % len(r.buf)
	r.size--
	return v, true
}

// remove deletes entry i, keeping order.
func (r *ring[T]) remove(i int) {
	for j := i; j > 0; j-- {
		*r.at(j) = *r.at(j - 1)
	}
	r.pop()
}

type sessionTS struct {
	session int64
	ts      time.Time
}

// Decoder decodes the two directions of one ZAB connection. It implements
// proto.ConnDecoder and is not safe for concurrent use.
type Decoder struct {
	cfg  Config
	sink proto.Sink
	ctr  *proto.Counters
	ep   proto.Endpoints
	msg  proto.Message
	dir  [2]dirState

	proposals   ring[proposal]
	pings       ring[time.Time]
	syncs       ring[time.Time]
	revalidates ring[sessionTS]
}

var _ proto.ConnDecoder = (*Decoder)(nil)

// NewDecoder returns a Decoder that reports to sink and counts damage in
// ctr (which may be nil). Call Reset before feeding a connection.
func NewDecoder(cfg Config, sink proto.Sink, ctr *proto.Counters) *Decoder {
	d := &Decoder{cfg: cfg.withDefaults(), sink: sink, ctr: ctr}
	d.proposals.init(d.cfg.MaxPending)
	d.pings.init(maxSmallPending)
	d.syncs.init(maxSmallPending)
	d.revalidates.init(maxSmallPending)
	return d
}

// Reset prepares d for a new connection, dropping all state of the
// previous one. When ep.FromStart is false both directions start by
// resynchronising.
func (d *Decoder) Reset(ep proto.Endpoints) {
	d.ep = ep
	st := statePackets
	if !ep.FromStart {
		st = stateResync
	}
	d.dir = [2]dirState{{state: st}, {state: st}}
	d.proposals.init(d.cfg.MaxPending)
	d.pings.init(maxSmallPending)
	d.syncs.init(maxSmallPending)
	d.revalidates.init(maxSmallPending)
}

func (d *Decoder) count(r proto.Reason) { d.ctr.Count(proto.ZAB, r) }

// Gap implements proto.ConnDecoder: the direction resynchronises, and a
// snapshot in progress is abandoned.
func (d *Decoder) Gap(dir proto.Dir) {
	if dir > proto.ToClient {
		return
	}
	s := &d.dir[dir]
	if s.state == stateSnap {
		d.count(proto.ReasonSnapSkipped)
	}
	s.state = stateResync
	// A lost ping or echo would pair every later echo with the ping
	// before its own: start the FIFO afresh.
	d.pings.init(maxSmallPending)
}

// Close implements proto.ConnDecoder. Proposals never committed are
// counted as unanswered, and so are unanswered revalidations.
func (d *Decoder) Close(time.Time) {
	for i := 0; i < d.proposals.size; i++ {
		if !d.proposals.at(i).committed {
			d.count(proto.ReasonUnanswered)
		}
	}
	for range d.revalidates.size {
		d.count(proto.ReasonUnanswered)
	}
	d.proposals.init(d.cfg.MaxPending)
	d.pings.init(maxSmallPending)
	d.syncs.init(maxSmallPending)
	d.revalidates.init(maxSmallPending)
}

// Feed implements proto.ConnDecoder.
func (d *Decoder) Feed(dir proto.Dir, b []byte, ts time.Time) int {
	if dir > proto.ToClient {
		return len(b)
	}
	s := &d.dir[dir]
	off := 0
	for off < len(b) {
		switch s.state {
		case stateSnap:
			n, res := d.snapStep(&s.snap, b[off:])
			if n > len(b)-off {
				return off + n // skip node data not yet delivered
			}
			off += n
			switch res {
			case snapShort:
				return off
			case snapDone:
				s.state = statePackets
				d.emitSnap(&s.snap)
			case snapFail:
				// Still report the SNAP, with SnapSize 0: the sync mode is
				// known even though its stream was not.
				d.count(proto.ReasonSnapSkipped)
				s.state = stateResync
				s.snap.size = 0
				d.emitSnap(&s.snap)
			}
		case stateResync:
			i, found := d.scan(dir, b[off:])
			if i > 0 && !s.skipping {
				// Once per episode, however many Feeds it spans.
				d.count(proto.ReasonResync)
				s.skipping = true
			}
			off += i
			if !found {
				return off
			}
			s.state = statePackets
			s.skipping = false
		case statePackets:
			rest := b[off:]
			if len(rest) >= 4 && binary.BigEndian.Uint32(rest) == authMagicHi {
				n, ok := d.authPacket(rest)
				if n == 0 && ok {
					return off
				}
				if ok {
					off += n
					continue
				}
				// Not a QuorumAuthPacket after all: parsePacket reports it.
			}
			p, st, reason := parsePacket(rest, d.cfg.MaxFrame, false, dir)
			switch st {
			case parseShort:
				return off
			case parseBad:
				d.count(reason)
				s.state = stateResync
				continue
			}
			off += p.size
			if p.typ == typeSnap && dir == proto.ToClient {
				s.state = stateSnap
				s.snap = snapState{zxid: p.zxid, ts: ts, pktSize: p.size}
				continue
			}
			d.handle(dir, &p, ts)
		}
	}
	return off
}

// authPacket skips one QuorumAuthPacket {long magic, int status, buffer
// token}. It returns (0, true) when more bytes are needed and (_, false)
// when b does not hold one.
func (d *Decoder) authPacket(b []byte) (int, bool) {
	if len(b) < 16 {
		return 0, true
	}
	if binary.BigEndian.Uint64(b) != authMagic {
		return 0, false
	}
	n := int32(binary.BigEndian.Uint32(b[12:]))
	if n < -1 || int(n) > d.cfg.MaxFrame {
		return 0, false
	}
	need := 16 + max(int(n), 0)
	if len(b) < need {
		return 0, true
	}
	return need, true
}

type parseStatus uint8

const (
	parseOK parseStatus = iota
	parseShort
	parseBad
)

// packet is one framed QuorumPacket; slices alias the input.
type packet struct {
	typ     int32
	zxid    int64
	dataLen int32  // -1 = null
	data    []byte // nil when null
	authN   int32  // -1 = null
	auth    []byte // the raw Id records of authinfo
	size    int
}

// parsePacket frames one QuorumPacket at the start of b. In strict mode
// (resynchronisation) it also rejects what is legal jute but never sent:
// a type that does not travel in dir, authinfo on anything but REQUEST,
// data on types that never carry any, zxids below -1 and odd schemes.
// It rejects as early as possible so a scan does not wait for bytes.
func parsePacket(b []byte, maxFrame int, strict bool, dir proto.Dir) (packet, parseStatus, proto.Reason) {
	var p packet
	if len(b) < 4 {
		return p, parseShort, 0
	}
	p.typ = int32(binary.BigEndian.Uint32(b))
	if p.typ < 1 || p.typ >= numTypes {
		return p, parseBad, proto.ReasonUnknownOpcode
	}
	if strict && packetTable[p.typ].kind[dir] == 0 {
		return p, parseBad, proto.ReasonUnknownOpcode
	}
	if len(b) < 16 {
		return p, parseShort, 0
	}
	p.zxid = int64(binary.BigEndian.Uint64(b[4:]))
	if strict && p.zxid < -1 {
		return p, parseBad, proto.ReasonBadRecord
	}
	p.dataLen = int32(binary.BigEndian.Uint32(b[12:]))
	switch {
	case p.dataLen < -1:
		return p, parseBad, proto.ReasonLenNegative
	case int(p.dataLen) > maxFrame:
		return p, parseBad, proto.ReasonLenTooLarge
	case strict && !plausible(&p, b[16:]):
		return p, parseBad, proto.ReasonBadRecord
	}
	off := 16
	if p.dataLen > 0 {
		if len(b)-off < int(p.dataLen) {
			return p, parseShort, 0
		}
		p.data = b[off : off+int(p.dataLen) : off+int(p.dataLen)]
		off += int(p.dataLen)
	}
	if len(b)-off < 4 {
		return p, parseShort, 0
	}
	p.authN = int32(binary.BigEndian.Uint32(b[off:]))
	off += 4
	switch {
	case p.authN < -1:
		return p, parseBad, proto.ReasonLenNegative
	case p.authN > maxAuthIDs:
		return p, parseBad, proto.ReasonLenTooLarge
	case strict && p.authN != -1 && p.typ != typeRequest:
		return p, parseBad, proto.ReasonBadRecord
	}
	authStart := off
	for i := int32(0); i < p.authN; i++ {
		// Id {ustring scheme, ustring id}
		for f := 0; f < 2; f++ {
			if len(b)-off < 4 {
				return p, parseShort, 0
			}
			n := int32(binary.BigEndian.Uint32(b[off:]))
			off += 4
			lim := maxFrame
			if f == 0 {
				lim = maxScheme
			}
			switch {
			case n < -1:
				return p, parseBad, proto.ReasonLenNegative
			case int(n) > lim:
				return p, parseBad, proto.ReasonLenTooLarge
			}
			if n <= 0 {
				continue
			}
			if len(b)-off < int(n) {
				return p, parseShort, 0
			}
			if strict && f == 0 && !schemeOK(b[off:off+int(n)]) {
				return p, parseBad, proto.ReasonBadRecord
			}
			off += int(n)
		}
	}
	p.auth = b[authStart:off:off]
	p.size = off
	return p, parseOK, 0
}

// plausible applies the resynchronisation checks on a packet's zxid and
// data length, and on the start of its data where that is already in d, so
// that a false candidate is rejected before the scan waits for its data.
func plausible(p *packet, d []byte) bool {
	n := p.dataLen
	switch p.typ {
	case typeAck, typeCommit, typeSync, typeUpToDate, typeDiff, typeTrunc, typeSnap:
		return n == -1
	case typeRequest:
		// long sessionId, int cxid, int type: a known opcode.
		if p.zxid != -1 || n < 16 {
			return false
		}
		return len(d) < 16 || TxnOpName(int32(binary.BigEndian.Uint32(d[12:]))) != "unknown"
	case typePing:
		return n == -1 || n%12 == 0
	case typeRevalidate:
		return n == 12 || n == 9
	case typeFollowerInfo, typeObserverInfo:
		return n == 8 || n == 12 || n == 20
	case typeLeaderInfo, typeAckEpoch:
		return n == 4
	case typeCommitAndActivate:
		return n == 8
	case typeProposal, typeInform, typeInformAndActivate:
		// The TxnHeader repeats the packet's zxid.
		hdr := 0
		if p.typ == typeInformAndActivate {
			hdr = 8
		}
		if int(n) < hdr+32 {
			return false
		}
		if len(d) >= hdr+20 {
			return int64(binary.BigEndian.Uint64(d[hdr+12:])) == p.zxid
		}
		return true
	}
	return true
}

func schemeOK(s []byte) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// scan looks for the first offset in b where framing can be proved: two
// chained strict packets, or a strict SNAP (whose successor is snapshot
// data, not a packet). It returns the offset and whether it proved one;
// when it did not, the bytes before the offset are garbage and the caller
// must offer b[i:] again with more data.
func (d *Decoder) scan(dir proto.Dir, b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		// Fast reject: a packet starts with a big-endian type in 1..19.
		if len(b)-i >= 4 && (b[i]|b[i+1]|b[i+2] != 0 || b[i+3] == 0 || b[i+3] >= numTypes) {
			continue
		}
		p, st, _ := parsePacket(b[i:], d.cfg.MaxFrame, true, dir)
		if st == parseBad {
			continue
		}
		if st == parseShort {
			return i, false
		}
		if p.typ == typeSnap && dir == proto.ToClient {
			return i, true
		}
		_, st, _ = parsePacket(b[i+p.size:], d.cfg.MaxFrame, true, dir)
		switch st {
		case parseOK:
			return i, true
		case parseShort:
			return i, false
		}
	}
	return len(b), false
}

// begin resets the reusable message with the fields common to every packet.
func (d *Decoder) begin(dir proto.Dir, p *packet, ts time.Time) *proto.Message {
	m := &d.msg
	m.Reset()
	m.Time = ts
	m.Proto = proto.ZAB
	m.Kind = kindOf(p.typ, dir)
	m.Op = packetTable[p.typ].op
	if dir == proto.ToServer {
		m.Src, m.Dst = d.ep.Client, d.ep.Server
	} else {
		m.Src, m.Dst = d.ep.Server, d.ep.Client
	}
	m.Size = p.size
	if p.zxid != -1 {
		m.Zxid, m.HasZxid = p.zxid, true
	}
	m.ZAB.Type = p.typ
	m.ZAB.DataLen = -1
	return m
}

func (d *Decoder) emit(m *proto.Message) {
	if m.Paired && m.Latency < 0 {
		// Bytes held behind a capture hole are delivered late, after
		// newer packets of the other direction: an answer cannot precede
		// its question, so this pairing is wrong. Report it unpaired.
		m.Paired, m.Latency = false, 0
		d.count(proto.ReasonOrphanReply)
	}
	if d.sink != nil {
		d.sink.Emit(m)
	}
}

func (d *Decoder) handle(dir proto.Dir, p *packet, ts time.Time) {
	m := d.begin(dir, p, ts)
	switch p.typ {
	case typeRequest:
		d.request(m, p, ts)
	case typeProposal, typeInform:
		d.txn(m, p.data)
		if p.typ == typeProposal {
			d.propose(p.zxid, ts)
		}
	case typeInformAndActivate:
		r := jute.NewReader(p.data, d.cfg.MaxFrame)
		m.ZAB.Sid = r.Long()
		if r.Err() != nil {
			d.count(proto.ReasonBadRecord)
			break
		}
		d.txn(m, p.data[8:])
	case typeCommitAndActivate:
		r := jute.NewReader(p.data, d.cfg.MaxFrame)
		m.ZAB.Sid = r.Long()
		if r.Err() != nil {
			d.count(proto.ReasonBadRecord)
		}
		d.commit(m, p.zxid, ts)
	case typeAck:
		d.ack(m, p.zxid, ts)
	case typeCommit:
		d.commit(m, p.zxid, ts)
	case typePing:
		if dir == proto.ToClient {
			if d.pings.push(ts) {
				d.count(proto.ReasonPendingOverflow)
			}
		} else if t0, ok := d.pings.pop(); ok {
			m.Latency, m.Paired = ts.Sub(t0), true
		} else {
			d.count(proto.ReasonOrphanReply)
		}
	case typeRevalidate:
		d.revalidate(dir, m, p, ts)
	case typeSync:
		if t0, ok := d.syncs.pop(); ok {
			m.Latency, m.Paired = ts.Sub(t0), true
		} else {
			d.count(proto.ReasonOrphanReply)
		}
	case typeFollowerInfo, typeObserverInfo:
		r := jute.NewReader(p.data, d.cfg.MaxFrame)
		m.ZAB.Sid = r.Long()
		if r.Err() != nil {
			d.count(proto.ReasonBadRecord)
		}
	}
	// NEWLEADER's config text, LEADERINFO/ACKEPOCH epochs and the PING
	// session list are not reported.
	d.emit(m)
}

// request decodes a forwarded client request: long sessionId, int cxid,
// int type, then the client's request record.
func (d *Decoder) request(m *proto.Message, p *packet, ts time.Time) {
	r := jute.NewReader(p.data, d.cfg.MaxFrame)
	m.Session = r.Long()
	m.ZAB.CXid = r.Int()
	m.ZAB.TxnType = r.Int()
	if r.Err() != nil {
		m.Session, m.ZAB.CXid, m.ZAB.TxnType = 0, 0, 0
		d.count(proto.ReasonBadRecord)
	} else {
		m.HasSession = true
		m.ZAB.TxnOp = TxnOpName(m.ZAB.TxnType)
		// reconfig requests carry ReconfigRequest, which has no path.
		if m.ZAB.TxnType != opReconfig && !d.record(m, &r, m.ZAB.TxnType) {
			d.count(proto.ReasonBadRecord)
		}
		if m.ZAB.TxnType == opSync {
			if d.syncs.push(ts) {
				d.count(proto.ReasonPendingOverflow)
			}
		}
	}
	d.authInfo(m, p)
}

// record reads the path (and the data size) that begins op's record.
func (d *Decoder) record(m *proto.Message, r *jute.Reader, op int32) bool {
	if !hasPath(op) {
		return true
	}
	path := r.UString()
	var dl int32 = -1
	if hasData(op) || op == opReconfig {
		dl = r.SkipBuffer()
	}
	if r.Err() != nil {
		return false
	}
	m.Path = path
	m.ZAB.DataLen = dl
	return true
}

// txn decodes TxnHeader {long clientId, int cxid, long zxid, long time,
// int type} and the path of the txn record that follows.
func (d *Decoder) txn(m *proto.Message, data []byte) {
	r := jute.NewReader(data, d.cfg.MaxFrame)
	session := r.Long()
	cxid := r.Int()
	r.Long() // zxid: the packet's own zxid says the same
	r.Long() // leader wall-clock time
	typ := r.Int()
	if r.Err() != nil {
		d.count(proto.ReasonBadRecord)
		return
	}
	m.Session, m.HasSession = session, true
	m.ZAB.CXid = cxid
	m.ZAB.TxnType = typ
	m.ZAB.TxnOp = TxnOpName(typ)
	if !d.record(m, &r, typ) {
		d.count(proto.ReasonBadRecord)
	}
}

// authInfo reports the client identity from a REQUEST's authinfo: the
// first non-ip Id if there is one, else the ip Id. For digest only the user
// name before ':' is kept; ids of schemes not known to be harmless are not
// reported at all.
func (d *Decoder) authInfo(m *proto.Message, p *packet) {
	r := jute.NewReader(p.auth, d.cfg.MaxFrame)
	var scheme, id []byte
	for i := int32(0); i < p.authN; i++ {
		s := r.UString()
		v := r.UString()
		if r.Err() != nil {
			return
		}
		if scheme == nil || string(scheme) == "ip" {
			scheme, id = s, v
		}
	}
	if scheme == nil {
		return
	}
	m.ZK.AuthScheme = scheme
	switch string(scheme) {
	case "digest":
		for i, c := range id {
			if c == ':' {
				id = id[:i]
				break
			}
		}
		m.ZK.AuthUser = id
	case "ip", "sasl", "x509", "world":
		m.ZK.AuthUser = id
	}
}

// propose records an outstanding proposal.
func (d *Decoder) propose(zxid int64, ts time.Time) {
	q := &d.proposals
	if q.full() && !q.at(0).committed {
		d.count(proto.ReasonPendingOverflow)
	}
	q.push(proposal{zxid: zxid, ts: ts})
}

// find returns the index of the proposal for zxid, searching from the
// newest, or -1.
func (d *Decoder) find(zxid int64) int {
	q := &d.proposals
	for i := q.size - 1; i >= 0; i-- {
		z := q.at(i).zxid
		if z == zxid {
			return i
		}
		if z < zxid {
			break
		}
	}
	return -1
}

// ack pairs an ACK with its proposal. A follower logs and acks in zxid
// order, so every older proposal counts as acked too (this also clears the
// proposals of a DIFF sync, which are acked once through NEWLEADER).
func (d *Decoder) ack(m *proto.Message, zxid int64, ts time.Time) {
	q := &d.proposals
	i := d.find(zxid)
	if i >= 0 {
		m.Latency, m.Paired = ts.Sub(q.at(i).ts), true
	} else if uint32(zxid) != 0 {
		// Counter 0 is the ack of NEWLEADER/UPTODATE, which has no proposal.
		d.count(proto.ReasonOrphanReply)
	}
	for j := 0; j < q.size && q.at(j).zxid <= zxid; j++ {
		q.at(j).acked = true
	}
	d.trim()
}

// commit pairs a COMMIT (or COMMITANDACTIVATE) with its proposal; commits
// are in zxid order, so older proposals are committed too.
func (d *Decoder) commit(m *proto.Message, zxid int64, ts time.Time) {
	q := &d.proposals
	i := d.find(zxid)
	if i >= 0 {
		m.Latency, m.Paired = ts.Sub(q.at(i).ts), true
	} else {
		d.count(proto.ReasonOrphanReply)
	}
	for j := 0; j < q.size && q.at(j).zxid <= zxid; j++ {
		q.at(j).committed = true
	}
	d.trim()
}

// trim drops proposals at the head that are both acked and committed.
func (d *Decoder) trim() {
	q := &d.proposals
	for q.size > 0 && q.at(0).acked && q.at(0).committed {
		q.pop()
	}
}

// revalidate pairs REVALIDATE {long sessionId, int timeout} from the
// learner with the leader's {long sessionId, boolean valid} by session.
func (d *Decoder) revalidate(dir proto.Dir, m *proto.Message, p *packet, ts time.Time) {
	r := jute.NewReader(p.data, d.cfg.MaxFrame)
	session := r.Long()
	if r.Err() != nil {
		d.count(proto.ReasonBadRecord)
		return
	}
	m.Session, m.HasSession = session, true
	q := &d.revalidates
	if dir == proto.ToServer {
		if q.push(sessionTS{session: session, ts: ts}) {
			d.count(proto.ReasonPendingOverflow)
		}
		return
	}
	for i := 0; i < q.size; i++ {
		if e := q.at(i); e.session == session {
			m.Latency, m.Paired = ts.Sub(e.ts), true
			q.remove(i)
			return
		}
	}
	d.count(proto.ReasonOrphanReply)
}
