package fle

import (
	"encoding/binary"
	"time"

	"github.com/zktap/zktap/proto"
)

// DefaultMaxFrame is the default Config.MaxFrame. Notifications are also
// bounded by the receiver's own limit, [MaxNotification].
const DefaultMaxFrame = 1<<20 + 64<<10

// MaxNotification is the largest notification length QuorumCnxManager
// accepts (PACKETMAXSIZE, 512 KiB).
const MaxNotification = 512 << 10

// Initial-message protocol versions (QuorumCnxManager.PROTOCOL_VERSION_V1/V2).
const (
	versionV1 = -65536
	versionV2 = -65535
	maxAddr   = 2048
)

const (
	authMagic   = 0x5F2435013501EDCC
	authMagicHi = 0x5F243501
)

// Config bounds a Decoder. Zero fields take their defaults.
type Config struct {
	// MaxFrame caps notification lengths (together with MaxNotification)
	// and quorum-auth tokens.
	MaxFrame int
}

type state uint8

const (
	stateInitial state = iota // dialer side, before the initial message
	stateFrames               // at a notification boundary
	stateResync               // framing lost
)

// Decoder decodes the two directions of one election connection. It
// implements proto.ConnDecoder and is not safe for concurrent use.
type Decoder struct {
	limit int
	sink  proto.Sink
	ctr   *proto.Counters
	ep    proto.Endpoints
	msg   proto.Message
	state [2]state
	// skipping: this direction's resync episode has discarded bytes (and
	// counted resync once).
	skipping [2]bool
}

var _ proto.ConnDecoder = (*Decoder)(nil)

// NewDecoder returns a Decoder that reports to sink and counts damage in
// ctr (which may be nil). Call Reset before feeding a connection.
func NewDecoder(cfg Config, sink proto.Sink, ctr *proto.Counters) *Decoder {
	if cfg.MaxFrame <= 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	return &Decoder{limit: min(cfg.MaxFrame, MaxNotification), sink: sink, ctr: ctr}
}

// Reset prepares d for a new connection. With ep.FromStart the dialer's
// direction begins with the initial message; otherwise both directions
// resynchronise.
func (d *Decoder) Reset(ep proto.Endpoints) {
	d.ep = ep
	d.skipping = [2]bool{}
	if ep.FromStart {
		d.state = [2]state{stateInitial, stateFrames}
	} else {
		d.state = [2]state{stateResync, stateResync}
	}
}

func (d *Decoder) count(r proto.Reason) { d.ctr.Count(proto.FLE, r) }

// Gap implements proto.ConnDecoder.
func (d *Decoder) Gap(dir proto.Dir) {
	if dir <= proto.ToClient {
		d.state[dir] = stateResync
	}
}

// Close implements proto.ConnDecoder. Nothing is pending on FLE.
func (d *Decoder) Close(time.Time) {}

// Feed implements proto.ConnDecoder.
func (d *Decoder) Feed(dir proto.Dir, b []byte, ts time.Time) int {
	if dir > proto.ToClient {
		return len(b)
	}
	off := 0
	for off < len(b) {
		rest := b[off:]
		switch d.state[dir] {
		case stateInitial:
			n, ok := d.initial(dir, rest, ts)
			if !ok {
				d.count(proto.ReasonBadHandshake)
				d.state[dir] = stateResync
				continue
			}
			if n == 0 {
				return off
			}
			off += n
			d.state[dir] = stateFrames
		case stateResync:
			i, found := d.scan(rest)
			if i > 0 && !d.skipping[dir] {
				// Once per episode, however many Feeds it spans.
				d.count(proto.ReasonResync)
				d.skipping[dir] = true
			}
			off += i
			if !found {
				return off
			}
			d.state[dir] = stateFrames
			d.skipping[dir] = false
		case stateFrames:
			if len(rest) >= 4 && binary.BigEndian.Uint32(rest) == authMagicHi {
				n, ok := d.authPacket(rest)
				if ok && n == 0 {
					return off
				}
				if ok {
					off += n
					continue
				}
			}
			if len(rest) < 4 {
				return off
			}
			l := int32(binary.BigEndian.Uint32(rest))
			switch {
			case l < 0:
				d.count(proto.ReasonLenNegative)
				d.state[dir] = stateResync
				continue
			case l == 0:
				d.count(proto.ReasonShortFrame)
				d.state[dir] = stateResync
				continue
			case int(l) > d.limit:
				d.count(proto.ReasonLenTooLarge)
				d.state[dir] = stateResync
				continue
			}
			if len(rest) < 4+int(l) {
				return off
			}
			if !d.notification(dir, rest[:4+l], ts) {
				d.count(proto.ReasonBadRecord)
			}
			off += 4 + int(l)
		}
	}
	return off
}

// initial decodes the dialer's initial message. It returns (0, true) when
// more bytes are needed and (_, false) when the bytes are not one.
func (d *Decoder) initial(dir proto.Dir, b []byte, ts time.Time) (int, bool) {
	if len(b) < 8 {
		return 0, true
	}
	v := int64(binary.BigEndian.Uint64(b))
	m := d.begin(dir, ts, "initial")
	if v >= 0 {
		m.Size = 8
		m.FLE.Sid = v
		d.emit(m)
		return 8, true
	}
	if v != versionV1 && v != versionV2 {
		return 0, false
	}
	if len(b) < 20 {
		return 0, true
	}
	n := int32(binary.BigEndian.Uint32(b[16:]))
	if n < 1 || n > maxAddr {
		return 0, false
	}
	if len(b) < 20+int(n) {
		return 0, true
	}
	m.Size = 20 + int(n)
	m.FLE.Sid = int64(binary.BigEndian.Uint64(b[8:]))
	m.FLE.Addr = b[20 : 20+n : 20+n]
	d.emit(m)
	return m.Size, true
}

// authPacket skips one QuorumAuthPacket {long magic, int status, buffer
// token}: (0, true) means more bytes are needed, false means it is not one.
func (d *Decoder) authPacket(b []byte) (int, bool) {
	if len(b) < 16 {
		return 0, true
	}
	if binary.BigEndian.Uint64(b) != authMagic {
		return 0, false
	}
	n := int32(binary.BigEndian.Uint32(b[12:]))
	if n < -1 || int(n) > d.limit {
		return 0, false
	}
	need := 16 + max(int(n), 0)
	if len(b) < need {
		return 0, true
	}
	return need, true
}

var stateNames = [...]string{"looking", "following", "leading", "observing"}

// body is a parsed notification body.
type body struct {
	state                        int32
	leader, zxid, epoch, peerEpo int64
	version                      int32
	hasPeer                      bool
}

// parseBody parses a notification body. strict additionally requires one
// of the lengths real senders use (28, 36, 40, 44+N with version 2 and an
// exact configLength), as resynchronisation needs.
func parseBody(b []byte, strict bool) (body, bool) {
	var v body
	l := len(b)
	if l < 28 {
		return v, false
	}
	v.state = int32(binary.BigEndian.Uint32(b))
	if v.state < 0 || int(v.state) >= len(stateNames) {
		return v, false
	}
	v.leader = int64(binary.BigEndian.Uint64(b[4:]))
	v.zxid = int64(binary.BigEndian.Uint64(b[12:]))
	v.epoch = int64(binary.BigEndian.Uint64(b[20:]))
	if l >= 36 {
		v.peerEpo = int64(binary.BigEndian.Uint64(b[28:]))
		v.hasPeer = true
	}
	if l >= 40 {
		v.version = int32(binary.BigEndian.Uint32(b[36:]))
	}
	if v.version >= 2 {
		if l < 44 {
			return v, false
		}
		cl := int32(binary.BigEndian.Uint32(b[40:]))
		if cl < 0 || int(cl) > l-44 {
			return v, false
		}
		if strict && int(cl) != l-44 {
			return v, false
		}
	}
	if strict {
		switch {
		case l == 28 || l == 36 || l == 40:
		case l >= 44 && v.version >= 2:
		default:
			return v, false
		}
		if v.leader < -1 || v.peerEpo < -1 || v.zxid < -1 || v.epoch < -1 {
			return v, false
		}
	}
	return v, true
}

// notification decodes one framed notification (length prefix included).
func (d *Decoder) notification(dir proto.Dir, f []byte, ts time.Time) bool {
	v, ok := parseBody(f[4:], false)
	if !ok {
		return false
	}
	m := d.begin(dir, ts, "notification")
	m.Size = len(f)
	m.Zxid, m.HasZxid = v.zxid, true
	m.FLE.State = stateNames[v.state]
	m.FLE.Leader = v.leader
	m.FLE.ElectionEpoch = v.epoch
	m.FLE.PeerEpoch = v.peerEpo
	m.FLE.Version = v.version
	d.emit(m)
	return true
}

// strictFrame checks the notification at the start of b: 1 when complete
// and valid, 0 when more bytes are needed, -1 when it is not one. It rejects
// on the fixed fields as soon as they are present, so that a scan does not
// wait for the body of a false candidate.
func (d *Decoder) strictFrame(b []byte) (int, int) {
	if len(b) < 4 {
		return 0, 0
	}
	l := int(int32(binary.BigEndian.Uint32(b)))
	if !(l == 28 || l == 36 || l == 40 || l >= 44) || l > d.limit {
		return 0, -1
	}
	if len(b) >= 8 {
		if s := int32(binary.BigEndian.Uint32(b[4:])); s < 0 || int(s) >= len(stateNames) {
			return 0, -1
		}
	}
	// leader, zxid, electionEpoch, peerEpoch: -1 or more.
	for off := 8; off+8 <= min(len(b), 4+min(l, 36)); off += 8 {
		if int64(binary.BigEndian.Uint64(b[off:])) < -1 {
			return 0, -1
		}
	}
	if l >= 44 && len(b) >= 48 {
		if binary.BigEndian.Uint32(b[40:]) != 2 || int(binary.BigEndian.Uint32(b[44:])) != l-44 {
			return 0, -1
		}
	}
	if len(b) < 4+l {
		return 0, 0
	}
	if _, ok := parseBody(b[4:4+l], true); !ok {
		return 0, -1
	}
	return 4 + l, 1
}

// scan finds the first offset where two chained strict notifications
// start. When it finds none it returns the offset to keep from.
func (d *Decoder) scan(b []byte) (int, bool) {
	for i := 0; i < len(b); i++ {
		// Fast reject: lengths are at most 512 KiB (0x00080000).
		if len(b)-i >= 4 && (b[i] != 0 || b[i+1] > 0x08) {
			continue
		}
		n, st := d.strictFrame(b[i:])
		if st < 0 {
			continue
		}
		if st == 0 {
			return i, false
		}
		_, st = d.strictFrame(b[i+n:])
		switch st {
		case 1:
			return i, true
		case 0:
			// A current (version 2) notification that ends exactly
			// where the bytes so far end is taken without waiting for
			// a second: peers write one notification per segment, and
			// an election sends only one or two per connection, so
			// the wait lost the last vote of most connections joined
			// mid-stream (zktap restarted during an ensemble's life).
			if i+n == len(b) && n >= 48 {
				return i, true
			}
			return i, false
		}
	}
	return len(b), false
}

func (d *Decoder) begin(dir proto.Dir, ts time.Time, op string) *proto.Message {
	m := &d.msg
	m.Reset()
	m.Time = ts
	m.Proto = proto.FLE
	m.Kind = proto.Event
	m.Op = op
	if dir == proto.ToServer {
		m.Src, m.Dst = d.ep.Client, d.ep.Server
	} else {
		m.Src, m.Dst = d.ep.Server, d.ep.Client
	}
	return m
}

func (d *Decoder) emit(m *proto.Message) {
	if d.sink != nil {
		d.sink.Emit(m)
	}
}
