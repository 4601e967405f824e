package reasm

import (
	"time"

	"github.com/zktap/zktap/sniff"
)

// Consumer receives the in-order bytes of one direction.
type Consumer interface {
	// Consume is offered all contiguous bytes not yet consumed; ts is the
	// capture time of the segment that carried b[0] (approximate once part
	// of a buffered run was consumed). It returns how many bytes it
	// consumed; the rest is kept and offered again with more appended. While
	// it returns 0 < n < len(b) it is offered the rest at once; after 0 it is
	// offered nothing until more bytes arrive. n > len(b) means: also discard
	// the next n-len(b) bytes when they arrive, without delivering them.
	// Consume must not retain b.
	Consume(b []byte, ts time.Time) (n int)
	// Gap says bytes were lost: what was buffered is dropped, and the
	// consumer must resynchronise on the bytes offered next.
	Gap()
}

// span is a held range [start, end) of sequence numbers whose bytes are in
// the window at off+(start-base).
type span struct {
	start, end uint32
	ts         time.Time // capture time of the segment that carried start
	last       uint32    // start of the latest segment merged into the span
	lastTS     time.Time // its capture time
}

func (h *span) len() int { return diff(h.end, h.start) }

// diff returns a-b for sequence numbers, wraparound-safe while the two are
// within 2 GiB of each other.
func diff(a, b uint32) int { return int(int32(a - b)) }

// Stream reassembles one direction of a TCP connection. Its zero value is
// usable after Init. It is owned by one worker goroutine and not safe for
// concurrent use; it must not be copied once in use, since its buffer is
// charged to its Budget once.
type Stream struct {
	lim    Limits
	budget *Budget
	stats  *Stats
	own    Stats

	started bool
	base    uint32 // sequence number of the first byte neither consumed nor skipped
	skip    int    // bytes from base the consumer asked to discard; nonzero only while nothing is held
	buf     []byte // window; buf[off] holds sequence number base
	off     int
	held    []span // sorted, disjoint, non-adjacent, all after base (the first may start at base)
	fin     bool
	finSeq  uint32
	// A segment starting beyond what the window may ever hold, not yet
	// trusted: [farSeq, farEnd) while far is set (see lone).
	far            bool
	farSeq, farEnd uint32
}

// Init sets the limits, the shared budget and the stats the stream counts
// into, and clears any state. b may be nil for no shared cap; st may be nil
// for per-stream counts read with Stats.
func (s *Stream) Init(l Limits, b *Budget, st *Stats) {
	s.budget.give(len(s.buf))
	*s = Stream{lim: l.withDefaults(), budget: b, stats: st}
}

// Reset clears the stream for a new connection, keeping its limits, budget
// and stats. Its buffer goes back to the budget and the garbage collector.
func (s *Stream) Reset() {
	s.budget.give(len(s.buf))
	s.budget.recycle(s.buf)
	held := s.held[:0]
	if cap(held) > 8 {
		held = nil
	}
	*s = Stream{lim: s.lim, budget: s.budget, stats: s.stats, own: s.own, held: held}
}

// Stats returns the counts of this stream since Init (across Resets), or of
// all streams sharing the Stats given to Init.
func (s *Stream) Stats() Stats { return *s.st() }

func (s *Stream) st() *Stats {
	if s.stats != nil {
		return s.stats
	}
	return &s.own
}

// Buffered returns the bytes held: unconsumed plus out-of-order.
func (s *Stream) Buffered() int {
	n := 0
	for i := range s.held {
		n += s.held[i].len()
	}
	return n
}

// Capacity returns the bytes of buffer memory the stream holds (what it
// charges to its Budget).
func (s *Stream) Capacity() int { return len(s.buf) }

// Done reports whether a FIN was seen and every byte before it was offered
// to the consumer (it may have left an incomplete frame).
func (s *Stream) Done() bool {
	return s.fin && diff(s.next(), s.finSeq) >= 0
}

// next returns the sequence number after the contiguous bytes held.
func (s *Stream) next() uint32 {
	if len(s.held) > 0 && s.held[0].start == s.base {
		return s.held[0].end
	}
	return s.base
}

// Add processes one segment of this direction, offering c every byte that
// becomes contiguous. The first segment seen fixes the stream's start: the
// byte after a SYN, or else the first payload byte. seg.Payload is not
// retained.
func (s *Stream) Add(seg *sniff.Segment, c Consumer) {
	seq, p := seg.Seq, seg.Payload
	if seg.Flags&sniff.SYN != 0 {
		seq++ // the SYN occupies one sequence number
		if !s.started {
			s.started, s.base = true, seq
		}
	}
	if !s.started {
		if len(p) == 0 && seg.WireLen <= 0 && seg.Flags&sniff.FIN == 0 {
			// A bare ACK says nothing reliable about where data starts
			// (keepalives use the sequence number before it); a FIN does.
			return
		}
		s.started, s.base = true, seq
	}
	wire := max(len(p), seg.WireLen)
	end := seq + uint32(len(p))
	if seg.Flags&sniff.FIN != 0 && !s.fin {
		s.fin, s.finSeq = true, seq+uint32(wire)
	}
	if len(p) > 0 {
		s.segment(seq, p, seg.Time, c)
	}
	if wire > len(p) {
		// The capture cut the segment short: the rest was on the wire but
		// is gone. Declare it lost once delivery reaches it; if a hole comes
		// first, the bounds or Flush resolve it.
		s.st().Truncated++
		if s.next() == end {
			s.loseTo(seq+uint32(wire), c)
		}
	}
}

func (s *Stream) segment(seq uint32, p []byte, ts time.Time, c Consumer) {
	st := s.st()
	afterLoss := false // bytes trimmed after a declared loss were counted as lost
	for len(p) > 0 {
		// Drop what is already done: consumed, skipped or declared lost.
		if d := diff(seq, s.base); d < 0 {
			k := min(-d, len(p))
			if !afterLoss {
				st.Retransmitted += uint64(k)
			}
			p, seq = p[k:], seq+uint32(k)
			continue
		}
		if s.skip > 0 { // nothing is held while skipping
			d := diff(seq, s.base)
			if d > s.skip {
				// The segment lies past the skipped range: a hole follows it.
				st.Skipped += uint64(s.skip)
				s.base += uint32(s.skip)
				s.skip = 0
			} else {
				// Bytes missing inside the skipped range need no gap.
				k := min(s.skip-d, len(p))
				st.Skipped += uint64(d + k)
				s.skip -= d + k
				s.base = seq + uint32(k)
				p, seq = p[k:], seq+uint32(k)
				continue
			}
		}
		// Drop what is already held contiguously.
		next := s.next()
		if d := diff(seq, next); d < 0 {
			k := min(-d, len(p))
			st.Retransmitted += uint64(k)
			p, seq = p[k:], seq+uint32(k)
			continue
		}
		end := seq + uint32(len(p))
		if s.covered(seq, end) {
			st.Retransmitted += uint64(len(p))
			return
		}
		if seq == s.base {
			// Fast path: nothing unconsumed before this segment, so the
			// consumer reads it in place and only its tail is copied. Bytes
			// from the first held range on are left to the general path.
			cut := len(p)
			if len(s.held) > 0 {
				cut = min(cut, diff(s.held[0].start, seq))
			}
			n := s.offer(p[:cut], ts, c)
			if n >= cut && len(s.held) == 0 {
				// What advance and deliver do when nothing is held, without
				// calling them: the common case, once per segment.
				s.base += uint32(cut)
				s.off = 0
				s.skip = n - cut
				if len(s.buf) > 0 {
					s.shrink()
				}
				p, seq = p[cut:], seq+uint32(cut)
				continue
			}
			if n >= cut {
				s.advance(cut)
				s.skip = n - cut
				s.deliver(c)
				p, seq = p[cut:], seq+uint32(cut)
				continue
			}
			s.advance(n)
			p, seq = p[n:], s.base
			if s.store(seq, p[:cut-n], ts) {
				if s.held[0].end != seq+uint32(cut-n) {
					s.deliver(c) // the tail joined a held range: offer the longer run
				}
				p, seq = p[cut-n:], seq+uint32(cut-n)
				continue
			}
		} else if s.store(seq, p, ts) {
			if seq == next {
				s.deliver(c) // appended to unconsumed bytes
			} else {
				st.OutOfOrder++
			}
			return
		}
		st.Overflows++
		if s.lone(seq, len(p)) {
			return
		}
		s.resolve(seq, len(p), c)
		afterLoss = true
	}
}

// lone reports whether a segment of n bytes at seq that did not fit is the
// first one to start further ahead than a direction may ever hold
// (MaxBuffered past base). Such a segment is dropped, not trusted: a
// corrupt or forged sequence number would otherwise declare up to 2 GiB
// lost and turn every real segment after it into a "retransmission", so
// the direction would never be decoded again. Loss that large is real when
// the next segment lands beyond the window too, near the first (within
// MaxBuffered of it): then the caller declares the loss as before, and the
// dropped segment's bytes are part of it.
func (s *Stream) lone(seq uint32, n int) bool {
	if diff(seq, s.base) < s.lim.MaxBuffered {
		return false
	}
	if s.far && diff(seq, s.farSeq) >= -s.lim.MaxBuffered && diff(seq, s.farEnd) <= s.lim.MaxBuffered {
		s.far = false
		return false
	}
	s.far, s.farSeq, s.farEnd = true, seq, seq+uint32(n)
	return true
}

// covered reports whether [seq, end) is already held.
func (s *Stream) covered(seq, end uint32) bool {
	for i := range s.held {
		h := &s.held[i]
		if diff(h.start, seq) <= 0 && diff(h.end, end) >= 0 {
			return true
		}
	}
	return false
}

// offer hands b, all from one segment captured at ts, to c until c stops
// making progress, and returns the total it consumed, which exceeds len(b)
// when c asked to skip.
func (s *Stream) offer(b []byte, ts time.Time, c Consumer) int {
	total := 0
	for total < len(b) {
		n := c.Consume(b[total:], ts)
		if n <= 0 {
			break
		}
		total += n
	}
	s.st().Delivered += uint64(min(total, len(b)))
	return total
}

// advance moves base forward by k bytes, dropping held bytes before it.
func (s *Stream) advance(k int) {
	s.base += uint32(k)
	s.off += k
	for len(s.held) > 0 && diff(s.held[0].end, s.base) <= 0 {
		s.pop()
	}
	if len(s.held) == 0 {
		s.off = 0
		return
	}
	if h := &s.held[0]; diff(h.start, s.base) < 0 {
		h.start = s.base
		if diff(s.base, h.last) >= 0 {
			h.ts = h.lastTS
		}
	}
}

func (s *Stream) pop() {
	copy(s.held, s.held[1:])
	s.held = s.held[:len(s.held)-1]
}

// deliver applies a pending skip to held bytes and offers the held run at
// base, repeatedly while the consumer makes progress.
func (s *Stream) deliver(c Consumer) {
	st := s.st()
	for len(s.held) > 0 {
		h := &s.held[0]
		if s.skip > 0 {
			k := min(s.skip, diff(h.end, s.base))
			st.Skipped += uint64(k)
			s.skip -= k
			s.advance(k)
			continue
		}
		if h.start != s.base {
			break
		}
		// One call at a time, so that each sees the capture time of the
		// segment its first byte came from, as far as the span tracks it.
		b := s.buf[s.off : s.off+h.len()]
		n := c.Consume(b, h.ts)
		if n <= 0 {
			break
		}
		st.Delivered += uint64(min(n, len(b)))
		if n < len(b) {
			s.advance(n)
			continue
		}
		s.advance(len(b))
		s.skip = n - len(b)
	}
	if len(s.held) == 0 && len(s.buf) > 0 { // shrink has nothing to do without a buffer
		s.shrink()
	}
}

// shrink releases a buffer that holds nothing if it has the minimum size
// (to the budget's spares), is large, or the budget runs short; otherwise
// it is kept so that the next tail needs no allocation.
func (s *Stream) shrink() {
	if len(s.buf) > shrinkAbove || s.budget.short() || (len(s.buf) == minBuffer && s.budget != nil) {
		s.budget.give(len(s.buf))
		s.budget.recycle(s.buf)
		s.buf, s.off = nil, 0
	}
}

// store copies p, which starts at seq (at or after the contiguous end), into
// the window and records it as held. It reports false, storing nothing, when
// that would break a bound.
func (s *Stream) store(seq uint32, p []byte, ts time.Time) bool {
	// Checked first so that the distances below cannot wrap: a segment
	// ending 2 GiB or more past base would have a negative need and be
	// copied out of bounds.
	if off := diff(seq, s.base); off < 0 || off > s.lim.MaxBuffered-len(p) {
		return false
	}
	end := seq + uint32(len(p))
	// Spans i..j-1 overlap or touch [seq, end) and merge with it.
	i := 0
	for i < len(s.held) && diff(s.held[i].end, seq) < 0 {
		i++
	}
	j := i
	for j < len(s.held) && diff(s.held[j].start, end) <= 0 {
		j++
	}
	merged := span{start: seq, end: end, ts: ts, last: seq, lastTS: ts}
	if i < j {
		if first := &s.held[i]; diff(first.start, seq) < 0 {
			merged.start, merged.ts = first.start, first.ts
		}
		if lastSpan := &s.held[j-1]; diff(lastSpan.end, end) > 0 {
			merged.end = lastSpan.end
		}
		if lastSpan := &s.held[j-1]; diff(lastSpan.last, seq) > 0 {
			merged.last, merged.lastTS = lastSpan.last, lastSpan.lastTS
		}
	}
	spans := len(s.held) - (j - i) + 1
	firstStart := merged.start
	if i > 0 {
		firstStart = s.held[0].start
	}
	if firstStart == s.base {
		spans-- // the contiguous run is not out of order
	}
	if spans > s.lim.MaxOutOfOrder {
		return false
	}
	furthest := merged.end
	if n := len(s.held); n > j {
		furthest = s.held[n-1].end
	}
	need := diff(furthest, s.base)
	if need > s.lim.MaxBuffered || !s.ensure(need) {
		return false
	}
	// Count the bytes that were already held as retransmitted.
	st := s.st()
	for k := i; k < j; k++ {
		lo, hi := s.held[k].start, s.held[k].end
		if diff(lo, seq) < 0 {
			lo = seq
		}
		if diff(hi, end) > 0 {
			hi = end
		}
		if d := diff(hi, lo); d > 0 {
			st.Retransmitted += uint64(d)
		}
	}
	copy(s.buf[s.off+diff(seq, s.base):], p)
	switch {
	case i == j:
		s.held = append(s.held, span{})
		copy(s.held[i+1:], s.held[i:])
		s.held[i] = merged
	default:
		s.held[i] = merged
		s.held = append(s.held[:i+1], s.held[j:]...)
	}
	return true
}

// ensure makes room in the window for need bytes from base, compacting or
// growing it within MaxBuffered and the budget.
func (s *Stream) ensure(need int) bool {
	if s.off+need <= len(s.buf) {
		return true
	}
	extent := 0
	if n := len(s.held); n > 0 {
		extent = diff(s.held[n-1].end, s.base)
	}
	if need <= len(s.buf) {
		copy(s.buf, s.buf[s.off:s.off+extent])
		s.off = 0
		return true
	}
	size := min(max(need, 2*len(s.buf), minBuffer), s.lim.MaxBuffered)
	if !s.budget.take(size - len(s.buf)) {
		size = need
		if !s.budget.take(size - len(s.buf)) {
			return false
		}
	}
	nb := s.budget.alloc(size)
	copy(nb, s.buf[s.off:s.off+extent])
	s.budget.recycle(s.buf)
	s.buf, s.off = nb, 0
	return true
}

// resolve frees room after a bound was hit by a segment at seq of n bytes:
// it declares the earliest hole lost, or, with no hole, drops the unconsumed
// bytes (or the segment's own tail when nothing else is held).
func (s *Stream) resolve(seq uint32, n int, c Consumer) {
	first := 0
	if len(s.held) > 0 && s.held[0].start == s.base {
		first = 1
	}
	next := s.next()
	var target uint32
	switch {
	case diff(seq, next) > 0:
		target = seq
		if first < len(s.held) && diff(s.held[first].start, seq) < 0 {
			target = s.held[first].start
		}
	case next != s.base:
		target = next
	case first < len(s.held):
		target = s.held[first].start
	default:
		target = seq + uint32(n)
	}
	s.loseTo(target, c)
}

// Acked tells the stream that its receiver acknowledged every byte before
// ack (the ACK field of a segment going the other way). If bytes are held
// after a hole that the receiver has acknowledged, the capture lost that
// hole for good: no retransmission will fill it. Declaring the gap now,
// rather than when a bound is hit, keeps the two directions in step, so
// replies are not decoded ahead of the requests stuck behind the hole.
// Without held data nothing is done: the bytes may still be on their way
// through the capture.
func (s *Stream) Acked(ack uint32, c Consumer) {
	// Kept small enough to inline: it is called for nearly every segment,
	// and mostly nothing is held.
	if len(s.held) > 0 {
		s.acked(ack, c)
	}
}

func (s *Stream) acked(ack uint32, c Consumer) {
	if !s.started {
		return
	}
	first := 0
	if len(s.held) > 0 && s.held[0].start == s.base {
		first = 1
	}
	// Require the acknowledgement to reach into the held bytes after the
	// hole, not just to the hole's end: the receiver then has bytes the
	// capture also holds, so the hole's bytes were sent before them and
	// missed by the capture. A capture that merely reordered segments (an
	// ACK for the hole ahead of the hole's own segment) does not qualify.
	if first >= len(s.held) || diff(ack, s.held[first].start) <= 0 {
		return
	}
	s.loseTo(s.held[first].start, c)
}

// loseTo declares every byte before target lost: held bytes are dropped,
// the consumer is told of the gap and delivery resumes at target.
func (s *Stream) loseTo(target uint32, c Consumer) {
	st := s.st()
	d := diff(target, s.base)
	if d <= 0 {
		return
	}
	if s.skip > 0 {
		k := min(d, s.skip)
		st.Skipped += uint64(k)
		s.skip -= k
		s.base += uint32(k)
		if d -= k; d == 0 {
			return // the missing bytes were to be skipped anyway
		}
	}
	st.Lost += uint64(d)
	st.Gaps++
	c.Gap()
	s.advance(d)
	s.deliver(c)
}

// Flush delivers what can be delivered, on FIN, RST or idle timeout: each
// hole still open is declared lost (Consumer.Gap) and the bytes after it are
// offered. Bytes the consumer then leaves are dropped and reported as a gap
// too, since the consumer expects them back; the buffer is released. The stream stays usable: later segments continue after what was
// flushed.
func (s *Stream) Flush(c Consumer) {
	s.deliver(c)
	for {
		first := 0
		if len(s.held) > 0 && s.held[0].start == s.base {
			first = 1
		}
		if first >= len(s.held) {
			break
		}
		s.loseTo(s.held[first].start, c)
	}
	if len(s.held) > 0 {
		// The consumer expects these bytes to be offered again: tell it
		// they are gone, in case the stream goes on.
		s.loseTo(s.held[0].end, c)
	}
	// A flushed stream is idle or closing: give its memory back.
	s.off = 0
	s.budget.give(len(s.buf))
	s.budget.recycle(s.buf)
	s.buf = nil
}
