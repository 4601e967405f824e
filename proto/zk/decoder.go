package zk

import (
	"encoding/binary"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/jute"
)

// Defaults for Config.
const (
	DefaultMaxFrame   = 1<<20 + 64<<10
	DefaultMaxPending = 1024
)

// max4LWText bounds the four-letter-word reply text kept per connection;
// the rest is counted in Size and dropped.
const max4LWText = 64 << 10

// skipAll is added to the consumed count of connections that are not
// decoded any more (TLS), so the caller discards their bytes unbuffered.
const skipAll = 1 << 30

// Config bounds a Decoder. Zero fields take their defaults.
type Config struct {
	// MaxFrame is the largest frame body accepted (jute.maxbuffer); a
	// longer declared length is counted as len_too_large and never
	// buffered. Default DefaultMaxFrame.
	MaxFrame int
	// MaxPending is the number of outstanding requests kept per connection
	// for pairing; beyond it the oldest is dropped (pending_overflow).
	// Default DefaultMaxPending.
	MaxPending int
}

type mode uint8

const (
	modeUnknown mode = iota // no client byte seen yet
	modeZK                  // framed client protocol
	mode4LW                 // four-letter word exchange
	modeTLS                 // opaque
)

type phase uint8

const (
	phaseConnect phase = iota // next frame is the connect handshake
	phaseFrames               // framed and in sync
	phaseResync               // scanning for a provable frame boundary
)

// Decoder decodes one client-port TCP connection. It implements
// proto.ConnDecoder, is owned by one goroutine (not safe for concurrent
// use) and is reused across connections with Reset.
//
// Memory is bounded by its Config: the caller holds at most two frames
// (2 × MaxFrame) of a direction for it, and it keeps MaxPending pending
// requests with at most 1 KiB of path each, plus 64 KiB of 4lw text.
type Decoder struct {
	cfg  Config
	sink proto.Sink
	ctr  *proto.Counters
	ep   proto.Endpoints

	rd  jute.Reader   // record reader, reused
	msg proto.Message // reused for every emitted message
	// resync holds what only a resynchronising decoder needs. It is made
	// on the first resync and kept for reuse: most connections never
	// need it, and a sidecar holds ten thousand of them.
	resync *resyncState

	mode          mode
	phase         [2]phase
	resyncCounted [2]bool // this direction's resync episode was counted
	budget        int     // work left in the current scan
	closed        bool    // Close ran; a second Close does nothing

	session    int64 // from the ConnectResponse
	hasSession bool
	reqSession int64     // session id the ConnectRequest asked to resume
	connectTS  time.Time // ConnectRequest time, zero when not seen
	q          pendingQueue

	word      string // 4lw command
	wordTS    time.Time
	wordSent  bool
	text      []byte // 4lw reply, at most max4LWText
	textSize  int
	replyTS   time.Time
	replySeen bool
}

var _ proto.ConnDecoder = (*Decoder)(nil)

// NewDecoder returns a Decoder that reports to sink and counts damage in
// ctr (which may be nil). It starts as if Reset for a connection seen from
// its SYN with unknown endpoints; call Reset to describe each connection.
func NewDecoder(cfg Config, sink proto.Sink, ctr *proto.Counters) *Decoder {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	d := &Decoder{cfg: cfg, sink: sink, ctr: ctr}
	d.q.max = cfg.MaxPending
	d.Reset(proto.Endpoints{FromStart: true})
	return d
}

// Reset prepares d for a new connection, keeping the storage it has grown
// (pending slots, Sub and text buffers) so reuse does not allocate.
func (d *Decoder) Reset(ep proto.Endpoints) {
	d.ep = ep
	d.closed = false
	d.msg.Reset()
	d.mode = modeUnknown
	d.phase, d.resyncCounted = [2]phase{}, [2]bool{}
	if d.resync != nil {
		d.resync.scans[0].reset()
		d.resync.scans[1].reset()
	}
	d.session, d.hasSession, d.reqSession = 0, false, 0
	d.connectTS = time.Time{}
	d.q.clear()
	d.word, d.wordTS, d.wordSent = "", time.Time{}, false
	d.text = d.text[:0]
	d.textSize, d.replyTS, d.replySeen = 0, time.Time{}, false
}

func (d *Decoder) count(p proto.Proto, r proto.Reason) { d.ctr.Count(p, r) }

func (d *Decoder) emit() {
	if m := &d.msg; m.Paired && m.Latency < 0 {
		// Bytes held behind a capture hole are delivered late, after
		// newer packets of the other direction: a reply cannot precede
		// its request, so this pairing is wrong. Report it unpaired.
		m.Paired, m.Latency, m.SinkTag = false, 0, 0
		d.count(proto.ZK, proto.ReasonOrphanReply)
	}
	if d.sink != nil {
		d.sink.Emit(&d.msg)
	}
}

// begin resets the message and fills the fields every message has.
//
// It clears field by field instead of calling m.Reset: zeroing all of the
// ~500-byte Message for every frame was about 7 % of the serve path. What
// it leaves alone is either written right below (Time, Proto, Kind, Size,
// Src, Dst) or never written by this decoder (ZAB, FLE: zero since Reset
// for the connection; sinks must not modify m). TestBeginClearsEveryField
// fails when a field is added that this misses.
func (d *Decoder) begin(dir proto.Dir, p proto.Proto, k proto.Kind, ts time.Time, size int) *proto.Message {
	m := &d.msg
	m.Op = ""
	m.Session, m.HasSession = 0, false
	m.Xid, m.HasXid, m.Zxid, m.HasZxid, m.Err = 0, false, 0, false, 0
	m.Path = nil
	m.Latency, m.Paired, m.SinkTag = 0, false, 0
	m.ZK = proto.ZKInfo{DataLen: -1, Children: -1, Sub: m.ZK.Sub[:0]}
	m.Text = nil
	m.Time, m.Proto, m.Kind, m.Size = ts, p, k, size
	if dir == proto.ToServer {
		m.Src, m.Dst = d.ep.Client, d.ep.Server
	} else {
		m.Src, m.Dst = d.ep.Server, d.ep.Client
	}
	if d.hasSession {
		m.Session, m.HasSession = d.session, true
	}
	return m
}

// Feed implements proto.ConnDecoder.
func (d *Decoder) Feed(dir proto.Dir, b []byte, ts time.Time) int {
	if dir > proto.ToClient {
		return len(b)
	}
	if d.mode == modeUnknown {
		if dir == proto.ToClient {
			// Servers never speak first; without a client byte the
			// connection can only be the framed protocol.
			d.startZK()
		} else if !d.detect(b, ts) {
			return 0
		}
	}
	switch d.mode {
	case modeTLS:
		return len(b) + skipAll
	case mode4LW:
		return d.feed4LW(dir, b, ts)
	}
	return d.feedZK(dir, b, ts)
}

// detect classifies the connection from the first client bytes. It returns
// false while fewer bytes than needed have arrived.
func (d *Decoder) detect(b []byte, ts time.Time) bool {
	if len(b) >= 2 && b[0] == 0x16 && b[1] == 0x03 {
		d.mode = modeTLS
		d.count(proto.ZK, proto.ReasonTLS)
		m := d.begin(proto.ToServer, proto.ZK, proto.Request, ts, 0)
		m.Op = "tls"
		m.ZK.TLS = true
		d.emit()
		return true
	}
	if len(b) < 4 {
		return false
	}
	if w, ok := LookupFourLetter(b); ok {
		d.mode, d.word = mode4LW, w
		return true
	}
	d.startZK()
	return true
}

func (d *Decoder) startZK() {
	d.mode = modeZK
	if d.ep.FromStart {
		d.phase = [2]phase{phaseConnect, phaseConnect}
		return
	}
	d.enterResync(proto.ToServer)
	d.enterResync(proto.ToClient)
}

// Gap implements proto.ConnDecoder. It does not count ReasonGap (whoever
// lost the bytes does); it starts a resync episode on dir.
func (d *Decoder) Gap(dir proto.Dir) {
	switch d.mode {
	case modeUnknown:
		// The first bytes are gone: what follows is mid-stream.
		d.ep.FromStart = false
	case modeZK:
		if dir <= proto.ToClient {
			d.enterResync(dir)
		}
	}
}

// Close implements proto.ConnDecoder: still-pending requests are counted
// unanswered, and a four-letter-word reply is emitted.
func (d *Decoder) Close(ts time.Time) {
	if d.closed {
		return
	}
	d.closed = true
	switch d.mode {
	case modeZK:
		for range d.q.n {
			d.count(proto.ZK, proto.ReasonUnanswered)
		}
		d.q.clear()
	case mode4LW:
		if !d.wordSent {
			d.count(proto.FourLetter, proto.ReasonBad4LW)
			break
		}
		if !d.replySeen {
			d.count(proto.FourLetter, proto.ReasonUnanswered)
			break
		}
		m := d.begin(proto.ToClient, proto.FourLetter, proto.Reply, d.replyTS, d.textSize)
		m.Op = d.word
		m.Text = d.text
		m.Latency, m.Paired = d.replyTS.Sub(d.wordTS), true
		d.emit()
	}
}

func (d *Decoder) feed4LW(dir proto.Dir, b []byte, ts time.Time) int {
	if dir == proto.ToClient {
		if !d.replySeen {
			d.replyTS, d.replySeen = ts, true
		}
		d.textSize += len(b)
		if room := max4LWText - len(d.text); room > 0 {
			d.text = append(d.text, b[:min(room, len(b))]...)
		}
		return len(b)
	}
	if d.wordSent {
		return len(b) // trailing newline or junk after the command
	}
	need := 4
	if d.word == "stmk" {
		need = 12 // followed by the 8-byte trace mask
	}
	if len(b) < need {
		return 0
	}
	d.wordTS, d.wordSent = ts, true
	m := d.begin(proto.ToServer, proto.FourLetter, proto.Request, ts, need)
	m.Op = d.word
	d.emit()
	return len(b)
}

// enterResync starts a resync episode on dir, or restarts the scan of one
// in progress (after a gap the bytes it had examined are gone). The
// episode is counted when its first bytes are scanned, so a direction that
// never carries data after a join is not counted.
func (d *Decoder) enterResync(dir proto.Dir) {
	d.resyncState().scans[dir].reset()
	if d.phase[dir] != phaseResync {
		d.phase[dir] = phaseResync
		d.resyncCounted[dir] = false
	}
}

// minLen is the smallest frame body of a direction: a RequestHeader or a
// ReplyHeader.
func minLen(dir proto.Dir) int32 {
	if dir == proto.ToServer {
		return 8
	}
	return 16
}

func (d *Decoder) feedZK(dir proto.Dir, b []byte, ts time.Time) int {
	off := 0
	for {
		if d.phase[dir] == phaseResync {
			if off == len(b) {
				return off
			}
			if !d.resyncCounted[dir] {
				d.resyncCounted[dir] = true
				d.count(proto.ZK, proto.ReasonResync)
			}
			p, ok := d.scan(dir, b[off:])
			off += p
			if !ok {
				return off
			}
			d.phase[dir] = phaseFrames
		}
		rest := b[off:]
		if len(rest) < 4 {
			return off
		}
		l := int32(binary.BigEndian.Uint32(rest))
		switch {
		case l < 0:
			d.count(proto.ZK, proto.ReasonLenNegative)
			d.enterResync(dir)
			continue
		case int64(l) > int64(d.cfg.MaxFrame):
			d.count(proto.ZK, proto.ReasonLenTooLarge)
			d.enterResync(dir)
			continue
		case l < minLen(dir):
			d.count(proto.ZK, proto.ReasonShortFrame)
			d.enterResync(dir)
			continue
		}
		if int(l) > len(rest)-4 {
			return off
		}
		d.frame(dir, rest[4:4+l], ts)
		off += 4 + int(l)
	}
}

// frame decodes one complete frame body.
func (d *Decoder) frame(dir proto.Dir, body []byte, ts time.Time) {
	size := 4 + len(body)
	if d.phase[dir] == phaseConnect || (!d.ep.FromStart && !d.hasSession && (dir == proto.ToClient || d.connectTS.IsZero()) && looksLikeConnect(dir, body)) {
		wasConnect := d.phase[dir] == phaseConnect
		d.phase[dir] = phaseFrames
		var ok bool
		if dir == proto.ToServer {
			ok = d.connectRequest(body, ts, size)
		} else {
			ok = d.connectResponse(body, ts, size)
		}
		if ok {
			return
		}
		if wasConnect {
			d.count(proto.ZK, proto.ReasonBadHandshake)
		}
	}
	if dir == proto.ToServer {
		d.request(body, ts, size)
	} else {
		d.reply(body, ts, size)
	}
}

// looksLikeConnect applies the shape test of PROTOCOL.md 2.2 to a frame
// seen mid-stream: protocolVersion 0 and a 16-byte password.
func looksLikeConnect(dir proto.Dir, b []byte) bool {
	if dir == proto.ToServer {
		return (len(b) == 44 || len(b) == 45) && be32(b) == 0 && be32(b[24:]) == 16
	}
	return (len(b) == 36 || len(b) == 37) && be32(b) == 0 && be32(b[16:]) == 16
}

func be32(b []byte) int32 { return int32(binary.BigEndian.Uint32(b)) }

// connectRequest decodes a ConnectRequest. The password is skipped unread.
func (d *Decoder) connectRequest(b []byte, ts time.Time, size int) bool {
	r := jute.NewReader(b, d.cfg.MaxFrame)
	ver := r.Int()
	lastZxid := r.Long()
	timeout := r.Int()
	sid := r.Long()
	r.SkipBuffer() // passwd: secret
	ro := false
	if r.Remaining() == 1 {
		ro = r.Bool()
	}
	if r.Err() != nil || ver != 0 || r.Remaining() != 0 {
		return false
	}
	m := d.begin(proto.ToServer, proto.ZK, proto.Request, ts, size)
	m.Op = "connect"
	m.Zxid, m.HasZxid = lastZxid, true
	m.ZK.Timeout, m.ZK.ReadOnly = timeout, ro
	if sid != 0 {
		m.Session, m.HasSession, m.ZK.Reconnect = sid, true, true
	}
	d.reqSession, d.connectTS = sid, ts
	d.emit()
	return true
}

// connectResponse decodes a ConnectResponse. A negotiated timeout of 0
// means the server refused the session (expired, or a bad password on
// resume): the reply then carries Err SESSIONEXPIRED and, when the request
// asked to resume one, the session id that expired.
func (d *Decoder) connectResponse(b []byte, ts time.Time, size int) bool {
	r := jute.NewReader(b, d.cfg.MaxFrame)
	ver := r.Int()
	timeout := r.Int()
	sid := r.Long()
	r.SkipBuffer() // passwd: secret
	ro := false
	if r.Remaining() == 1 {
		ro = r.Bool()
	}
	if r.Err() != nil || ver != 0 || r.Remaining() != 0 {
		return false
	}
	if timeout != 0 && sid != 0 {
		d.session, d.hasSession = sid, true
	}
	m := d.begin(proto.ToClient, proto.ZK, proto.Reply, ts, size)
	m.Op = "connect"
	m.ZK.Timeout, m.ZK.ReadOnly = timeout, ro
	if timeout == 0 {
		m.Err = ErrSessionExpired
		if d.reqSession != 0 {
			m.Session, m.HasSession = d.reqSession, true
		}
	}
	if !d.connectTS.IsZero() {
		m.Latency, m.Paired = ts.Sub(d.connectTS), true
		d.connectTS = time.Time{}
	}
	d.emit()
	return true
}

// decodeRecord runs f over b into m and reports whether it parsed cleanly
// and whether bytes were left over.
func (d *Decoder) decodeRecord(f recordFunc, b []byte, m *proto.Message, strict bool) (ok, trailing bool) {
	if f == nil {
		return true, len(b) > 0
	}
	// The reader lives in d: passed to a function value, a local one
	// would escape and cost an allocation per frame.
	r := &d.rd
	r.Reset(b, d.cfg.MaxFrame)
	if strict { // Reset left it lenient
		r.SetStrict(true)
	}
	ok = f(r, m) && r.Err() == nil
	return ok, ok && r.Remaining() > 0
}

func (d *Decoder) request(b []byte, ts time.Time, size int) {
	xid, op := be32(b), be32(b[4:])
	m := d.begin(proto.ToServer, proto.ZK, proto.Request, ts, size)
	m.Xid, m.HasXid = xid, true
	info := lookupOp(op) // once for the name and the validity
	m.Op = info.opName()
	if !info.request() {
		d.count(proto.ZK, proto.ReasonUnknownOpcode)
	} else {
		ok, trailing := d.decodeRecord(reqRecords[op+opBias], b[8:], m, false)
		switch {
		case !ok:
			d.count(proto.ZK, proto.ReasonBadRecord)
		case trailing:
			d.count(proto.ZK, proto.ReasonTrailingBytes)
		}
	}
	p, dropped := d.q.push(xid, op, ts, m.Path)
	if dropped {
		d.count(proto.ZK, proto.ReasonPendingOverflow)
	}
	d.emit()
	// The sink may have tagged the request in Emit; its reply gets it back.
	p.tag = m.SinkTag
}

// overtakes reports whether a reply to op may legitimately arrive before
// replies to earlier requests (PROTOCOL.md 3.1).
func overtakes(op int32) bool {
	return op == opAuth || op == opSasl || !validRequestOp(op)
}

func (d *Decoder) reply(b []byte, ts time.Time, size int) {
	xid, zxid, code := be32(b), int64(binary.BigEndian.Uint64(b[4:])), be32(b[12:])
	if xid == -1 {
		d.notification(b[16:], zxid, ts, size)
		return
	}
	m := d.begin(proto.ToClient, proto.ZK, proto.Reply, ts, size)
	m.Xid, m.HasXid = xid, true
	m.Zxid, m.HasZxid = zxid, true
	m.Err = code
	i := d.q.find(xid)
	if i < 0 {
		d.count(proto.ZK, proto.ReasonOrphanReply)
		m.Op = orphanOp(xid)
		d.emit()
		return
	}
	if i > 0 {
		if overtakes(d.q.at(i).op) {
			d.q.moveToHead(i)
		} else {
			for range i {
				d.count(proto.ZK, proto.ReasonUnanswered)
				d.q.pop()
			}
		}
	}
	p := d.q.at(0)
	info := lookupOp(p.op) // once for the name and the validity
	m.Op = info.opName()
	if p.hasPath { // else nil, as on the request
		m.Path = p.path
	}
	// Capture times carry no monotonic reading and lie well inside
	// UnixNano's range (pcap and ring seconds are 32-bit), so a plain
	// difference is exact, without Sub's overflow checks (a few per cent
	// of the packet path).
	m.Latency, m.Paired = time.Duration(ts.UnixNano()-p.ts.UnixNano()), true
	m.SinkTag = p.tag
	if body := b[16:]; len(body) > 0 {
		if !info.request() {
			d.count(proto.ZK, proto.ReasonTrailingBytes)
		} else {
			ok, trailing := d.decodeRecord(replyRecords[p.op+opBias], body, m, false)
			switch {
			case !ok:
				d.count(proto.ZK, proto.ReasonBadRecord)
			case trailing:
				d.count(proto.ZK, proto.ReasonTrailingBytes)
			}
		}
	}
	if p.op == opMulti && m.Err == 0 {
		m.Err = multiErr(m.ZK.Sub)
	}
	d.emit()
	d.q.pop()
}

// multiErr returns the code a failed multi failed with. Its header err is
// 0; the failing op carries the real code and the ops after it -2
// (RUNTIMEINCONSISTENCY), so the first code other than 0 and -2 wins, and
// -2 only if nothing else is there.
func multiErr(subs []proto.SubOp) int32 {
	var code int32
	for _, s := range subs {
		switch {
		case s.Err == 0:
		case s.Err != -2:
			return s.Err
		case code == 0:
			code = s.Err
		}
	}
	return code
}

// orphanOp names a reply that has no request: the special xids say what
// it answers, any other is "unknown".
func orphanOp(xid int32) string {
	switch xid {
	case -2:
		return "ping"
	case -4:
		return "auth"
	case -8:
		return "setWatches"
	}
	return "unknown"
}

func (d *Decoder) notification(b []byte, zxid int64, ts time.Time, size int) {
	m := d.begin(proto.ToClient, proto.ZK, proto.Event, ts, size)
	m.Op = "notification"
	m.Xid, m.HasXid = -1, true
	m.Zxid, m.HasZxid = zxid, true
	if _, ok := decodeEvent(b, m, d.cfg.MaxFrame, false); !ok {
		d.count(proto.ZK, proto.ReasonBadRecord)
	}
	d.emit()
}

// decodeEvent reads a WatcherEvent; exact reports it used all of b and
// looks like what servers send (type 1..4, state SyncConnected, a path).
func decodeEvent(b []byte, m *proto.Message, maxLen int, strict bool) (exact, ok bool) {
	r := jute.NewReader(b, maxLen)
	typ := r.Int()
	state := r.Int()
	m.Path = r.UString()
	m.ZK.EventType = typ
	if r.Err() != nil {
		return false, false
	}
	exact = r.Remaining() == 0 && typ >= 1 && typ <= 4 && state == 3 && validPath(m.Path)
	return exact, !strict || exact
}
