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
// of an undecided candidate (two frames of at most MaxFrame each) are held.
// An episode is counted as resync once, when its first bytes arrive.

type verdict uint8

const (
	reject verdict = iota
	accept
	needMore
)

// scanAhead bounds how far past the first undecided candidate scan keeps
// looking for a proven boundary, so waiting for a long candidate costs at
// most this much rescanning per Feed.
const scanAhead = 64 << 10

// scanBudget is the fixed part of the work one scan may do, in bytes
// validated or offsets tried.
const scanBudget = 256 << 10

// scan looks for a provable frame boundary in b. It returns the offset of
// the boundary and true, or the number of bytes proven useless and false.
//
// A candidate that needs more data does not stop the scan: a later offset
// that proves itself (two chained frames, or a strong frame ending at the
// end of b) wins, since misaligned bytes often look like the header of a
// long frame. Without such a proof, bytes from the first undecided
// candidate on are kept for the next Feed.
func (d *Decoder) scan(dir proto.Dir, b []byte) (int, bool) {
	first := -1
	// Validating a candidate parses its frames; crafted bytes (znode data
	// is attacker-controlled) can make many offsets look like long frames.
	// The budget bounds the work of one call to a few passes over b; when
	// it runs out the scan resumes on the next Feed.
	d.budget = 4*len(b) + scanBudget
	for p := 0; p < len(b); p++ {
		if d.budget < 0 {
			if first < 0 {
				first = p
			}
			return first, false
		}
		d.budget--
		switch d.candidate(dir, b[p:]) {
		case accept:
			return p, true
		case needMore:
			if first < 0 {
				first = p
			}
			if p-first > scanAhead {
				return first, false
			}
		}
	}
	if first >= 0 {
		return first, false
	}
	return len(b), false
}

// hdrLen is the frame prefix needed to judge a candidate header.
func hdrLen(dir proto.Dir) int {
	if dir == proto.ToServer {
		return 12
	}
	return 20
}

func (d *Decoder) candidate(dir proto.Dir, b []byte) verdict {
	off := 0
	for frames := 0; frames < 2; frames++ {
		rest := b[off:]
		if len(rest) < 4 {
			return needMore
		}
		l := int32(binary.BigEndian.Uint32(rest))
		if l < minLen(dir) || int64(l) > int64(d.cfg.MaxFrame) {
			return reject
		}
		if len(rest) < hdrLen(dir) {
			return needMore
		}
		if !d.plausibleHeader(dir, rest[4:hdrLen(dir)], l) {
			return reject
		}
		if int(l) > len(rest)-4 {
			return needMore
		}
		d.budget -= int(l)
		ok, strong := d.validFrame(dir, rest[4:4+l])
		if !ok {
			return reject
		}
		off += 4 + int(l)
		if off == len(b) {
			if frames == 0 && strong {
				return accept
			}
			if frames == 0 {
				return needMore
			}
		}
	}
	return accept
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
	m := &d.scratch
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
