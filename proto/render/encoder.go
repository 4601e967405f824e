package render

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/zktap/zktap/proto"
)

// Encoder renders messages as [AppendJSON] and [AppendText] do, byte for
// byte, remembering what repeats from one message to the next so that a
// stream of messages costs less than the same messages rendered one by one:
// the calendar part of the clock changes once a second, a connection's
// messages share their two endpoints and session, a workload has a few
// ops, and the lines of one segment often share all of these. A dump
// renders millions of messages, and these took a third of AppendJSON.
//
// The zero value is ready to use. An Encoder is not safe for concurrent
// use; give each goroutine its own.
type Encoder struct {
	// Options applies to every message the Encoder renders.
	Options

	sec      int64             // the time timeText shows, when timeOK
	ns       uint32            //
	timeOK   bool              //
	timeText [timeHeadLen]byte // `{"time":"2006-01-02T15:04:05.000000000Z`

	// conns caches the endpoints and session of recent connections,
	// indexed by a hash of the ports; made on first use, so that the
	// one-shot Encoder of AppendJSON costs nothing to set up.
	conns   *[numConns]connText
	ops     *[numOps]opText // the same for proto, kind and op
	oneShot bool            // AppendJSON's: no caches worth filling

	head headText // the head of the last line

	// reply is the text of a client reply's zxid and error,
	// `,"zxid":246,"err":-101,"err_name":"NONODE"`: a run of replies
	// shares both (reads do not move the zxid, and a scan of missing paths
	// is all NONODE), so a line takes them with one copy of fixed size.
	reply     replyKey
	replyN    int      // bytes of replyText; 0 means empty
	replyText [96]byte // 28 bytes of zxid, then 64 of error (TestReplyTextFits)

	// lat is the last latency and latText its text,
	// `,"latency":0.000005`: the replies of one segment were often asked
	// for in one segment too (pipelined), so they share it.
	lat     time.Duration
	latN    int      // bytes of latText; 0 means empty
	latText [32]byte // `,"latency":` and at most 21 bytes (TestLatTextFits)

	// size is the last size and sizeText the end of a line that has
	// nothing after it, `,"size":26}` and a newline: most client lines
	// (pings, exists, reads' requests, errors) end so, and a run of them
	// shares its size.
	size     int
	sizeN    int      // bytes of sizeText; 0 means empty
	sizeText [32]byte // `,"size":`, at most 20 bytes of int, `}` and a newline
}

// replyKey is what a client reply's zxid and error text show.
type replyKey struct {
	zxid    int64
	err     int32
	hasZxid bool
}

// headText is the head of a line (see appendHead) and what it was made
// from. The requests of one segment, and their replies, share time,
// endpoints, session and usually op, so their heads are one copy. The text
// is kept from the second line of a run on.
type headText struct {
	time       time.Time // equal Times are the same instant, so the same text
	src, dst   netip.AddrPort
	op         string
	proto      proto.Proto
	kind       proto.Kind
	hasSession bool
	session    int64
	keyed      bool      // the fields above are those of the last line
	conn       *connText // the connection cache entry of src and dst, or nil
	zkQuiet    bool      // zkOpQuiet of op and kind, when op is cached; else false
	n          int       // bytes of text; 0 means not kept (yet), or too long to keep
	text       [192]byte
}

// numConns is the number of (src, dst) pairs whose endpoints and session
// an Encoder keeps as text, two per connection (requests and replies):
// enough for the interleaved lines of a busy server's clients, small enough
// (6 KiB) to stay in cache.
const (
	numConnsLog2 = 6
	numConns     = 1 << numConnsLog2
)

// connSlot is the cache slot of a (src, dst) pair: a multiplicative
// (Fibonacci) hash of both ports, because clients take ephemeral ports in
// steps that a sum modulo the table size folds together (with 16 slots and
// port*31+port, the 8 clients of a benchmark capture shared slots and
// rewrote their endpoints on most lines).
func connSlot(src, dst netip.AddrPort) int {
	return int((uint32(src.Port())<<16 | uint32(dst.Port())) * 0x9E3779B1 >> (32 - numConnsLog2))
}

// connText is the JSON of one (src, dst) pair of IPv4 endpoints,
// `,"src":"a.b.c.d:p","dst":"a.b.c.d:p"` (at most 60 bytes), and of the
// connection's session id, `,"session":"0x..."` (at most 31 bytes). The
// texts are arrays so that a line takes them with a copy of fixed size,
// which the compiler inlines, and is cut back to their length: a call of
// memmove per piece of a line was 9 % of a dump.
type connText struct {
	src, dst netip.AddrPort
	n        int // bytes of text; 0 means the entry is empty
	text     [64]byte
	session  int64 // the session sessText shows, when sessN > 0
	sessN    int
	sessText [32]byte
	xid      int32 // the xid xidText shows, when xidN > 0
	xidN     int
	xidText  [24]byte // `,"xid":` and at most 11 bytes of int32
	// xidRoom is how much more than xid the text shows by adding to its
	// last digit: 9 less that digit, 0 for a negative xid.
	xidRoom uint32
}

// setXid makes c.xidText show xid.
func (c *connText) setXid(xid int32) {
	c.xid = xid
	c.xidN = len(appendJSONInt(c.xidText[:0], `,"xid":`, int64(xid)))
	c.xidRoom = 0
	if xid >= 0 {
		c.xidRoom = uint32(9 - xid%10)
	}
}

// timeHeadLen is the length of a line's first bytes, `{"time":"` and an
// RFC 3339 time with nine digits of fraction.
const timeHeadLen = 9 + 30

// opText is the JSON of a proto, kind and op, as a line has it after the
// time: `","proto":"zk","kind":"request","op":"getData"`.
type opText struct {
	op      string
	proto   proto.Proto
	kind    proto.Kind
	zkQuiet bool // zkOpQuiet(op, kind)
	n       int  // bytes of text; 0 means the entry is empty
	text    [64]byte
}

// numOps is the number of (proto, kind, op) texts an Encoder keeps: a
// workload's few ops in both kinds.
const (
	numOpsLog2 = 4
	numOps     = 1 << numOpsLog2
)

// opSlot is the cache slot of a (proto, kind, op): a multiplicative hash
// of the op's length, first and last bytes, the kind and the proto.
func opSlot(p proto.Proto, k proto.Kind, op string) int {
	h := uint32(len(op))<<24 | uint32(k)<<4 | uint32(p)
	if op != "" {
		h |= uint32(op[0])<<16 | uint32(op[len(op)-1])<<8
	}
	return int(h * 0x9E3779B1 >> (32 - numOpsLog2))
}

// AppendJSON is [AppendJSON] with e.Options. It does not allocate when dst
// has room.
func (e *Encoder) AppendJSON(dst []byte, m *proto.Message) []byte {
	h := &e.head
	var c *connText
	same := h.keyed && m.Time == h.time && m.Src == h.src && m.Dst == h.dst && m.Op == h.op &&
		m.Proto == h.proto && m.Kind == h.kind && m.HasSession == h.hasSession &&
		(!m.HasSession || m.Session == h.session)
	if same && h.n > 0 {
		dst = append(dst, h.text[:h.n]...)
		c = h.conn
	} else {
		start := len(dst)
		dst, c = e.appendHead(dst, m)
		h.conn = c
		switch {
		case e.oneShot:
		case same:
			// The second line with this head: keep its text. Copying
			// every head on the chance that the next line shares it
			// cost 3 % of a dump whose pipelined requests alternate
			// ops, where no head repeats.
			if n := len(dst) - start; n <= len(h.text) {
				copy(h.text[:], dst[start:])
				h.n = n
			}
		default:
			h.keyed, h.n = true, 0
			h.time, h.src, h.dst, h.op = m.Time, m.Src, m.Dst, m.Op
			h.proto, h.kind, h.hasSession, h.session = m.Proto, m.Kind, m.HasSession, m.Session
		}
	}
	if m.HasXid {
		if c != nil {
			// A client numbers its requests one by one, and the server
			// replies in order, so the xid of a connection's next line is
			// usually one more than its last: the text is copied as it
			// is and its last digit raised, and written anew only when
			// that digit would pass 9 (formatting it on every line took
			// a tenth of a dump). The text is not raised in place: a
			// line loading it while those byte stores are in flight
			// stalls for longer than the formatting takes.
			d := uint64(int64(m.Xid) - int64(c.xid))
			if c.xidN == 0 || d > uint64(c.xidRoom) {
				c.setXid(m.Xid)
				d = 0
			}
			l := len(dst)
			dst = grow(dst, len(c.xidText))[:l+len(c.xidText)]
			*(*[len(c.xidText)]byte)(dst[l:]) = c.xidText
			dst = dst[:l+c.xidN]
			dst[len(dst)-1] += byte(d)
		} else {
			dst = appendJSONInt(dst, `,"xid":`, int64(m.Xid))
		}
	}
	if m.Proto == proto.ZK && m.Kind == proto.Reply && !e.oneShot {
		k := replyKey{err: m.Err, hasZxid: m.HasZxid}
		if m.HasZxid {
			k.zxid = m.Zxid
		}
		if e.replyN == 0 || k != e.reply {
			e.reply = k
			t := e.replyText[:0]
			if m.HasZxid {
				t = appendJSONInt(t, `,"zxid":`, m.Zxid)
			}
			e.replyN = len(appendErrJSON(t, m.Err))
		}
		l := len(dst)
		dst = grow(dst, len(e.replyText))[:l+len(e.replyText)]
		*(*[len(e.replyText)]byte)(dst[l:]) = e.replyText
		dst = dst[:l+e.replyN]
	} else {
		if m.HasZxid {
			dst = appendJSONInt(dst, `,"zxid":`, m.Zxid)
		}
		if m.Proto == proto.ZK && m.Kind == proto.Reply {
			dst = appendErrJSON(dst, m.Err)
		}
	}
	if m.Path != nil {
		dst = append(dst, `,"path":`...)
		dst = appendJSONBytes(dst, m.Path)
	}
	if m.Paired {
		if e.oneShot {
			dst = append(dst, `,"latency":`...)
			dst = appendSeconds(dst, m.Latency)
		} else {
			if e.latN == 0 || m.Latency != e.lat {
				e.lat = m.Latency
				e.latN = len(appendSeconds(append(e.latText[:0], `,"latency":`...), m.Latency))
			}
			l := len(dst)
			dst = grow(dst, len(e.latText))[:l+len(e.latText)]
			*(*[len(e.latText)]byte)(dst[l:]) = e.latText
			dst = dst[:l+e.latN]
		}
	}
	if m.Proto == proto.ZK && h.zkQuiet && zkQuiet(m) {
		if e.sizeN == 0 || m.Size != e.size {
			e.size = m.Size
			e.sizeN = len(append(appendJSONInt(e.sizeText[:0], `,"size":`, int64(m.Size)), '}', '\n'))
		}
		l := len(dst)
		dst = grow(dst, len(e.sizeText))[:l+len(e.sizeText)]
		*(*[len(e.sizeText)]byte)(dst[l:]) = e.sizeText
		return dst[:l+e.sizeN]
	}
	dst = appendJSONInt(dst, `,"size":`, int64(m.Size))
	switch m.Proto {
	case proto.ZK:
		dst = appendZKJSON(dst, m)
	case proto.ZAB:
		dst = appendZABJSON(dst, &m.ZAB)
	case proto.FLE:
		dst = appendFLEJSON(dst, &m.FLE)
	case proto.FourLetter:
		if e.ShowText && m.Text != nil {
			dst = append(dst, `,"text":`...)
			dst = appendJSONBytes(dst, m.Text)
		}
	}
	return append(dst, '}', '\n')
}

// appendHead appends the part of a line that a run of messages often
// shares: time, proto, kind, op, src, dst and session. It returns the
// cache entry of src and dst, or nil when they are not cached.
func (e *Encoder) appendHead(dst []byte, m *proto.Message) ([]byte, *connText) {
	dst = e.appendTimeHead(dst, m.Time)
	e.head.zkQuiet = false
	if o := e.op(m.Proto, m.Kind, m.Op); o != nil {
		e.head.zkQuiet = o.zkQuiet
		l := len(dst)
		dst = grow(dst, len(o.text))[:l+len(o.text)]
		*(*[len(o.text)]byte)(dst[l:]) = o.text
		dst = dst[:l+o.n]
	} else {
		dst = appendOpJSON(dst, m.Proto, m.Kind, m.Op)
	}
	c := e.conn(m.Src, m.Dst)
	if c == nil {
		dst = appendEndsJSON(dst, m.Src, m.Dst)
		if m.HasSession {
			dst = append(dst, `,"session":"0x`...)
			dst = appendHex(dst, uint64(m.Session))
			dst = append(dst, '"')
		}
		return dst, nil
	}
	// Both texts as whole arrays, then cut back to their length.
	l := len(dst)
	dst = grow(dst, len(c.text)+len(c.sessText))[:l+len(c.text)]
	*(*[len(c.text)]byte)(dst[l:]) = c.text
	dst = dst[:l+c.n]
	if m.HasSession {
		if c.sessN == 0 || m.Session != c.session {
			c.session = m.Session
			t := append(c.sessText[:0], `,"session":"0x`...)
			t = appendHex(t, uint64(m.Session))
			c.sessN = len(append(t, '"'))
		}
		l := len(dst)
		dst = dst[:l+len(c.sessText)]
		*(*[len(c.sessText)]byte)(dst[l:]) = c.sessText
		dst = dst[:l+c.sessN]
	}
	return dst, c
}

// appendErrJSON appends a client reply's error code and its name.
func appendErrJSON(dst []byte, code int32) []byte {
	dst = appendJSONInt(dst, `,"err":`, int64(code))
	if name := ErrName(code); name != "" {
		dst = append(dst, `,"err_name":"`...)
		dst = append(dst, name...)
		dst = append(dst, '"')
	}
	return dst
}

// appendOpJSON appends the proto, kind and op of a line.
func appendOpJSON(dst []byte, p proto.Proto, k proto.Kind, op string) []byte {
	dst = append(dst, protoKindJSON(p, k)...)
	if op != "" {
		dst = append(dst, `,"op":`...)
		dst = appendJSONString(dst, op)
	}
	return dst
}

// op returns the cache entry of (p, k, op), made current, or nil when the
// Encoder does not cache it (one-shot, or an op whose text does not fit).
func (e *Encoder) op(p proto.Proto, k proto.Kind, op string) *opText {
	if e.oneShot {
		return nil
	}
	if e.ops == nil {
		e.ops = new([numOps]opText)
	}
	o := &e.ops[opSlot(p, k, op)]
	if o.n == 0 || o.op != op || o.proto != p || o.kind != k {
		// The longest proto and kind take 36 bytes and `,"op":""` 8: an
		// op of up to 20 plain bytes fits, and needs no escape.
		if len(op) > len(o.text)-44 || !plainString(op) {
			return nil
		}
		o.op, o.proto, o.kind, o.zkQuiet = op, p, k, zkOpQuiet(op, k)
		o.n = len(appendOpJSON(o.text[:0], p, k, op))
	}
	return o
}

// plainString reports whether s is a JSON string's text as it is.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			return false
		}
	}
	return true
}

// AppendText is [AppendText] with e.Options.
func (e *Encoder) AppendText(dst []byte, m *proto.Message) []byte {
	return AppendText(dst, m, e.Options)
}

// appendTimeHead appends `{"time":"` and t as appendUTC does, from the
// text of the last time rendered: a segment's messages share their capture
// time, and within a second only the nine digits of the fraction change.
func (e *Encoder) appendTimeHead(dst []byte, t time.Time) []byte {
	sec, ns := t.Unix(), uint32(t.Nanosecond())
	if !e.timeOK || sec != e.sec {
		if len(appendUTC(append(e.timeText[:0], `{"time":"`...), t)) != timeHeadLen {
			// A year outside 0..9999: rare enough not to cache.
			e.timeOK = false
			return appendUTC(append(dst, `{"time":"`...), t)
		}
		e.sec, e.ns, e.timeOK = sec, ns, true
	}
	l := len(dst)
	dst = grow(dst, timeHeadLen)[:l+timeHeadLen]
	*(*[timeHeadLen]byte)(dst[l:]) = e.timeText
	if ns != e.ns {
		// A new fraction goes into the line after the copy, and into the
		// text alike, as one word and a byte each: changing the text
		// first and then copying it would load it while its stores are
		// in flight, a stall that took a twentieth of a dump of the
		// recorded load.
		e.ns = ns
		q := ns / 10
		w, d := digits8(q), byte('0'+ns-q*10)
		const frac = 9 + 20 // where the fraction's digits begin
		binary.LittleEndian.PutUint64(dst[l+frac:], w)
		binary.LittleEndian.PutUint64(e.timeText[frac:], w)
		dst[l+frac+8], e.timeText[frac+8] = d, d
	}
	return dst
}

// digits8 returns the eight decimal digits of v < 1e8 as the bytes of a
// little-endian word, most significant first: the halves of v, then their
// halves, then their digits, are split in the lanes of one word by
// multiplying with a fixed-point reciprocal (v/100 is v*10486>>20 and
// v/10 is v*103>>10 over these ranges), so that the digits take a
// handful of instructions and no table.
func digits8(v uint32) uint64 {
	x := uint64(v/10000) | uint64(v%10000)<<32       // two lanes < 10000
	q := (x * 10486 >> 20) & 0x0000007f_0000007f     // each lane / 100
	x = q | (x-q*100)<<16                            // four lanes < 100
	q = (x * 103 >> 10) & 0x000f_000f_000f_000f      // each lane / 10
	return (q | (x-q*10)<<8) + 0x3030_3030_3030_3030 // eight digits
}

// conn returns the cache entry of the (src, dst) pair, made current, or
// nil when the Encoder does not cache it (one-shot, or not IPv4: IPv6 text
// can be longer than an entry).
func (e *Encoder) conn(src, dst netip.AddrPort) *connText {
	if e.oneShot || !src.Addr().Is4() || !dst.Addr().Is4() {
		return nil
	}
	if e.conns == nil {
		e.conns = new([numConns]connText)
	}
	c := &e.conns[connSlot(src, dst)]
	if c.n == 0 || c.src != src || c.dst != dst {
		c.src, c.dst = src, dst
		c.n = len(appendEndsJSON(c.text[:0], src, dst))
		c.sessN, c.xidN = 0, 0
	}
	return c
}

func appendEndsJSON(dst []byte, src, dstAP netip.AddrPort) []byte {
	dst = append(dst, `,"src":"`...)
	dst = appendAddrPort(dst, src)
	dst = append(dst, `","dst":"`...)
	dst = appendAddrPort(dst, dstAP)
	return append(dst, '"')
}

// protoKinds holds `","proto":"P","kind":"K"` for every Proto and Kind
// value that has a name (index 0 is "unknown"), so that the fixed head of a
// line is one copy. It is built once and only read.
var protoKinds = func() (t [proto.NumProtos][numKinds]string) {
	for p := range t {
		for k := range t[p] {
			t[p][k] = `","proto":"` + proto.Proto(p).String() + `","kind":"` + proto.Kind(k).String() + `"`
		}
	}
	return t
}()

// numKinds counts the Kind values with a name, "unknown" (0) included.
const numKinds = int(proto.Event) + 1

func protoKindJSON(p proto.Proto, k proto.Kind) string {
	// Out-of-range values are "unknown", the same as at index 0.
	if int(p) >= len(protoKinds) {
		p = 0
	}
	if int(k) >= numKinds {
		k = 0
	}
	return protoKinds[p][k]
}

// grow makes room for n more bytes in dst without changing its length.
func grow(dst []byte, n int) []byte {
	if cap(dst)-len(dst) < n {
		dst = append(dst[:cap(dst)], make([]byte, n)...)[:len(dst)]
	}
	return dst
}
