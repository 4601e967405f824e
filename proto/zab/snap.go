package zab

import (
	"bytes"
	"encoding/binary"
	"time"

	"github.com/zktap/zktap/proto"
)

// Snapshot stream layout (DataTree.serialize via SerializeUtils):
//
//	int count, count × (long sessionId, int timeout)
//	int count, count × (long aclIndex, vector<ACL{int perms, Id{ustring scheme, ustring id}}>)
//	repeated (ustring path, buffer data, long aclIndex, StatPersisted[60]), root path ""
//	ustring "/"          end of nodes
//	ustring "BenWasHere" signature
type snapStepID uint8

const (
	snapSessCount snapStepID = iota
	snapSess
	snapACLCount
	snapACLEntry
	snapACLItem
	snapNodePath
	snapNodeData
	snapNodeSkip
	snapNodeTail
	snapSig
)

// Bounds on snapshot counts: far above any real database, low enough that
// garbage read as a count fails instead of swallowing the stream.
const (
	maxSnapSessions = 1 << 26
	maxSnapACLs     = 1 << 24
	maxACLsPerEntry = 1 << 16
	nodeTailLen     = 8 + 60 // aclIndex + StatPersisted
)

var snapSignature = []byte("\x00\x00\x00\x0aBenWasHere")

type snapState struct {
	step    snapStepID
	remain  int64 // sessions or ACL entries left
	remain2 int32 // ACLs left in the current entry
	skip    int64 // node data bytes left to skip
	size    int64 // snapshot bytes consumed so far

	// The SNAP packet, emitted once the snapshot ends.
	zxid    int64
	ts      time.Time
	pktSize int
}

type snapResult uint8

const (
	snapShort snapResult = iota // need more bytes
	snapDone                    // signature consumed
	snapFail                    // not a snapshot
)

// snapStep walks as much of the snapshot in b as it can. It returns the
// bytes consumed, which exceeds len(b) when node data must be skipped past
// the end of b (the caller returns that to the pipeline, which discards the
// rest without delivering it).
func (d *Decoder) snapStep(s *snapState, b []byte) (int, snapResult) {
	off := 0
	defer func() { s.size += int64(off) }()
	maxStr := int32(d.cfg.MaxFrame)
	for {
		rest := b[off:]
		switch s.step {
		case snapSessCount, snapACLCount:
			if len(rest) < 4 {
				return off, snapShort
			}
			n := int64(int32(binary.BigEndian.Uint32(rest)))
			lim := int64(maxSnapSessions)
			if s.step == snapACLCount {
				lim = maxSnapACLs
			}
			if n < 0 || n > lim {
				return off, snapFail
			}
			off += 4
			s.remain = n
			s.step++
		case snapSess:
			k := min(s.remain, int64(len(rest)/12))
			off += int(k) * 12
			s.remain -= k
			if s.remain > 0 {
				return off, snapShort
			}
			s.step = snapACLCount
		case snapACLEntry:
			if s.remain == 0 {
				s.step = snapNodePath
				continue
			}
			if len(rest) < 12 {
				return off, snapShort
			}
			n := int32(binary.BigEndian.Uint32(rest[8:]))
			if n < -1 || n > maxACLsPerEntry {
				return off, snapFail
			}
			off += 12
			s.remain--
			s.remain2 = max(n, 0)
			s.step = snapACLItem
		case snapACLItem:
			if s.remain2 == 0 {
				s.step = snapACLEntry
				continue
			}
			// int perms, ustring scheme, ustring id
			n, st := ustrings(rest, 4, 2, maxStr)
			if st != parseOK {
				return off, snapResultOf(st)
			}
			off += n
			s.remain2--
		case snapNodePath:
			if len(rest) < 4 {
				return off, snapShort
			}
			n := int32(binary.BigEndian.Uint32(rest))
			if n < 0 || n > maxStr {
				return off, snapFail
			}
			if len(rest) < 4+int(n) {
				return off, snapShort
			}
			path := rest[4 : 4+n]
			if len(path) > 0 && path[0] != '/' {
				return off, snapFail
			}
			off += 4 + int(n)
			if string(path) == "/" {
				s.step = snapSig
			} else {
				s.step = snapNodeData
			}
		case snapNodeData:
			if len(rest) < 4 {
				return off, snapShort
			}
			n := int32(binary.BigEndian.Uint32(rest))
			if n < -1 || n > maxStr {
				return off, snapFail
			}
			off += 4
			s.skip = int64(max(n, 0))
			s.step = snapNodeSkip
		case snapNodeSkip:
			if s.skip > int64(len(rest)) {
				// Skip beyond b: report n > len(b) so the pipeline drops
				// the data without buffering it.
				off += int(s.skip)
				s.skip = 0
				s.step = snapNodeTail
				return off, snapShort
			}
			off += int(s.skip)
			s.skip = 0
			s.step = snapNodeTail
		case snapNodeTail:
			if len(rest) < nodeTailLen {
				return off, snapShort
			}
			off += nodeTailLen
			s.step = snapNodePath
		case snapSig:
			if len(rest) < len(snapSignature) {
				if !bytes.HasPrefix(snapSignature, rest) {
					return off, snapFail
				}
				return off, snapShort
			}
			if !bytes.HasPrefix(rest, snapSignature) {
				return off, snapFail
			}
			off += len(snapSignature)
			return off, snapDone
		}
	}
}

func snapResultOf(st parseStatus) snapResult {
	if st == parseShort {
		return snapShort
	}
	return snapFail
}

// ustrings checks that b holds fixed bytes followed by count ustrings or
// buffers of at most maxLen bytes each, and returns their total length.
func ustrings(b []byte, fixed, count int, maxLen int32) (int, parseStatus) {
	off := fixed
	for range count {
		if len(b)-off < 4 {
			return 0, parseShort
		}
		n := int32(binary.BigEndian.Uint32(b[off:]))
		if n < -1 || n > maxLen {
			return 0, parseBad
		}
		off += 4
		if n > 0 {
			if len(b)-off < int(n) {
				return 0, parseShort
			}
			off += int(n)
		}
	}
	if len(b) < off {
		return 0, parseShort
	}
	return off, parseOK
}

// emitSnap reports the SNAP packet once its snapshot has been walked.
func (d *Decoder) emitSnap(s *snapState) {
	p := packet{typ: typeSnap, zxid: s.zxid, dataLen: -1, authN: -1, size: s.pktSize}
	m := d.begin(proto.ToClient, &p, s.ts)
	m.ZAB.SnapSize = s.size
	d.emit(m)
}
