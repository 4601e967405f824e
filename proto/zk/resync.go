package zk

import (
	"encoding/binary"

	"github.com/zktap/zktap/proto"
)

// Resynchronisation (PROTOCOL.md 3.3).
//
// A stream joined mid-way, or one that lost bytes, has no trustworthy
// length prefix. scan tries each offset in turn and accepts it as a frame
// boundary only when the frames starting there prove themselves:
//
//   - two frames in a row validate and each ends exactly where the next
//     begins; or
//   - one frame validates strongly and ends exactly at the end of the
//     bytes available.
//
// The second rule exists so that a lone reply at the end of a capture (or
// a quiet connection's last request) is not lost waiting for a successor
// that never comes. It is only taken with strong validation: a request
// whose record parses exactly, a reply whose xid is pending and whose body
// parses exactly by its request's opcode, a header-only reply to a pending
// or special xid, or a watch event that parses exactly. A reply whose xid
// is unknown validates only weakly (its body type is unknown), so it needs
// a successor. The price is that a weak lone frame waits for more data and
// is lost if the connection closes first.
//
// Rejected offsets are consumed as the scan moves on, so at most the bytes
// of the earliest undecided candidate (two frames of at most MaxFrame
// each) are held, and each offset is examined a bounded number of times
// however the bytes are split across Feeds.
// An episode is counted as resync once, when its first bytes arrive.

type verdict uint8

const (
	reject verdict = iota
	accept
	needMore
)

// maxCands is how many undecided candidates a direction tracks. When more
// are open, the one waiting for the most data is forgotten: misaligned
// bytes often look like the header of a long frame, real frames are short.
const maxCands = 16

// scanBudget is the fixed part of the work one scan may do, in offsets
// tried plus bytes validated.
const scanBudget = 256 << 10

// cand is an undecided candidate boundary: offset pos (relative to the
// bytes the next scan sees) cannot be judged before wake bytes are there.
type cand struct{ pos, wake int }

// resyncState is the part of a Decoder only resynchronisation uses.
type resyncState struct {
	scans   [2]scanState
	scratch proto.Message // validation target, never emitted
}

// resyncState returns d's resync state, making it on first use.
func (d *Decoder) resyncState() *resyncState {
	if d.resync == nil {
		d.resync = new(resyncState)
	}
	return d.resync
}

// scanState is a direction's resync progress, kept across Feeds so that no
// offset is examined twice: a rejected offset stays rejected, and an
// undecided one is looked at again only once the bytes it waits for exist.
type scanState struct {
	next  int // first offset not yet examined
	cands [maxCands]cand
	n     int
}

func (s *scanState) reset() { s.next, s.n = 0, 0 }

// add records an undecided candidate, evicting the one that waits longest
// when full.
func (s *scanState) add(c cand) {
	if s.n < maxCands {
		s.cands[s.n] = c
		s.n++
		return
	}
	far := 0
	for i := 1; i < s.n; i++ {
		if s.cands[i].wake > s.cands[far].wake {
			far = i
		}
	}
	if c.wake < s.cands[far].wake {
		s.cands[far] = c
	}
}

// shift rebases offsets after k bytes were consumed.
func (s *scanState) shift(k int) {
	s.next -= k
	for i := 0; i < s.n; i++ {
		s.cands[i].pos -= k
		s.cands[i].wake -= k
	}
}

// scan looks for a provable frame boundary in b. It returns the offset of
// the boundary and true, or the number of bytes proven useless and false;
// the caller offers the rest again with more data appended.
//
// Validating a candidate parses its frames, and crafted bytes (znode data
// is attacker-controlled) can make many offsets look like long frames, so
// the work of one call is bounded by a budget; when it runs out the scan
// resumes on the next Feed where it stopped.
func (d *Decoder) scan(dir proto.Dir, b []byte) (int, bool) {
	st := &d.resyncState().scans[dir]
	d.budget = 4*len(b) + scanBudget
	// Undecided candidates whose bytes have arrived, earliest accepted wins.
	best := -1
	for i := 0; i < st.n; {
		c := st.cands[i]
		if c.wake > len(b) {
			i++
			continue
		}
		v, wake := d.candidate(dir, b[c.pos:])
		switch v {
		case accept:
			if best < 0 || c.pos < best {
				best = c.pos
			}
			i++
		case needMore:
			st.cands[i].wake = c.pos + wake
			i++
		default:
			st.n--
			st.cands[i] = st.cands[st.n]
		}
	}
	if best >= 0 {
		st.reset()
		return best, true
	}
	for ; st.next < len(b) && d.budget >= 0; st.next++ {
		d.budget--
		p := st.next
		v, wake := d.candidate(dir, b[p:])
		if v == accept {
			st.reset()
			return p, true
		}
		if v == needMore {
			st.add(cand{p, p + wake})
		}
	}
	keep := st.next
	for i := 0; i < st.n; i++ {
		keep = min(keep, st.cands[i].pos)
	}
	st.shift(keep)
	return keep, false
}

// hdrLen is the frame prefix needed to judge a candidate header.
func hdrLen(dir proto.Dir) int {
	if dir == proto.ToServer {
		return 12
	}
	return 20
}

// candidate judges offset 0 of b. With needMore it also returns how many
// bytes of b it needs before it can say more.
func (d *Decoder) candidate(dir proto.Dir, b []byte) (verdict, int) {
	off := 0
	for frames := 0; frames < 2; frames++ {
		rest := b[off:]
		if len(rest) < 4 {
			return needMore, off + 4
		}
		l := int32(binary.BigEndian.Uint32(rest))
		if l < minLen(dir) || int64(l) > int64(d.cfg.MaxFrame) {
			return reject, 0
		}
		if len(rest) < hdrLen(dir) {
			return needMore, off + hdrLen(dir)
		}
		if !d.plausibleHeader(dir, rest[4:hdrLen(dir)], l) {
			return reject, 0
		}
		if int(l) > len(rest)-4 {
			return needMore, off + 4 + int(l)
		}
		d.budget -= int(l)
		ok, strong := d.validFrame(dir, rest[4:4+l])
		if !ok {
			return reject, 0
		}
		off += 4 + int(l)
		if off == len(b) {
			if frames == 0 && strong {
				return accept, 0
			}
			if frames == 0 {
				return needMore, off + 4
			}
		}
	}
	return accept, 0
}

// plausibleHeader checks the fixed header of a candidate frame before its
// body has arrived, so that implausible lengths are not waited for.
func (d *Decoder) plausibleHeader(dir proto.Dir, h []byte, l int32) bool {
	if dir == proto.ToServer {
		if (l == 44 || l == 45) && be32(h) == 0 {
			return true // maybe a ConnectRequest; validFrame decides
		}
		xid, op := be32(h), be32(h[4:])
		switch xid {
		case -2:
			return op == opPing && l == 8
		case -4:
			return op == opAuth
		case -8:
			return op == opSetWatches
		}
		if xid <= 0 || !validRequestOp(op) {
			return false
		}
		if op == opPing || op == opCloseSession || op == opWhoAmI {
			return l == 8
		}
		return true
	}
	if (l == 36 || l == 37) && be32(h) == 0 {
		return true // maybe a ConnectResponse
	}
	xid, zxid, code := be32(h), int64(binary.BigEndian.Uint64(h[4:])), be32(h[12:])
	switch {
	case xid == -2 || xid == -4 || xid == -8:
		return l == 16 && knownErr(code) && zxid >= -1
	case xid == -1:
		return code == 0 && zxid >= -1
	case xid <= 0:
		return false
	}
	return knownErr(code) && zxid >= -1
}

// validFrame validates a whole frame body without side effects.
func (d *Decoder) validFrame(dir proto.Dir, b []byte) (ok, strong bool) {
	m := &d.resyncState().scratch
	m.Reset()
	if looksLikeConnect(dir, b) {
		return true, true
	}
	if dir == proto.ToServer {
		op := be32(b[4:])
		if !validRequestOp(op) {
			return false, false
		}
		ok, trailing := d.decodeRecord(reqRecords[op+opBias], b[8:], m, true)
		if !ok || trailing {
			return false, false
		}
		if lookupOp(op).path && !validPath(m.Path) {
			return false, false
		}
		for _, s := range m.ZK.Sub {
			if !validPath(s.Path) {
				return false, false
			}
		}
		return true, true
	}
	xid := be32(b)
	body := b[16:]
	if xid == -1 {
		exact, _ := decodeEvent(body, m, d.cfg.MaxFrame, true)
		return exact, exact
	}
	i := d.q.find(xid)
	if len(body) == 0 {
		return true, i >= 0 || xid < 0
	}
	if i < 0 {
		return true, false
	}
	op := d.q.at(i).op
	if !validRequestOp(op) {
		return false, false
	}
	ok, trailing := d.decodeRecord(replyRecords[op+opBias], body, m, true)
	if !ok || trailing {
		return false, false
	}
	return true, true
}
