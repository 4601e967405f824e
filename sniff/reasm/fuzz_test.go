package reasm

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/zktap/zktap/sniff"
)

// ctlReader turns the fuzzer's control bytes into decisions, cycling when
// they run out.
type ctlReader struct {
	b []byte
	i int
}

func (r *ctlReader) next() int {
	if len(r.b) == 0 {
		return 7
	}
	v := r.b[r.i%len(r.b)]
	r.i++
	return int(v)
}

// Fuzz modes.
const (
	modeDrop    = 1 << iota // lose and truncate segments
	modeSmall               // tiny limits, so bounds are hit
	modeSkip                // the consumer asks to skip bytes
	modePartial             // the consumer takes bytes a few at a time
	modeBigSegs             // segments of up to 1500 bytes rather than 64
)

// checker is the consumer of FuzzStream. With exact set it knows its position
// in the original stream and checks every offer against it; otherwise it
// records the runs it consumed between gaps.
type checker struct {
	t     *testing.T
	data  []byte
	ctl   *ctlReader
	mode  int
	exact bool
	pos   int // exact: offset in data of the next byte to be offered
	// flushing is set during Flush, which reports what the consumer left
	// as a gap.
	flushing bool
	runs     [][]byte
	gaps     int
	offered  int
	took     int
}

func (c *checker) Consume(b []byte, _ time.Time) int {
	if len(b) == 0 {
		c.t.Fatalf("offered an empty slice")
	}
	if c.exact {
		end := min(c.pos+len(b), len(c.data))
		if c.pos >= len(c.data) || !bytes.Equal(b, c.data[c.pos:end]) {
			c.t.Fatalf("offered %d bytes at %d that are not the original's", len(b), c.pos)
		}
	}
	n := len(b)
	if c.mode&modePartial != 0 {
		switch k := c.ctl.next() % 8; {
		case k == 0 && len(b) < 16:
			return 0 // wants more
		case k < 4:
			n = min(len(b), 1+k)
		}
	}
	if c.mode&modeSkip != 0 && c.ctl.next()%5 == 0 {
		n = len(b) + 1 + c.ctl.next()*4
	}
	c.record(b[:min(n, len(b))])
	c.pos += n
	c.took += n
	return n
}

func (c *checker) record(b []byte) {
	if len(c.runs) == 0 {
		c.runs = append(c.runs, nil)
	}
	c.runs[len(c.runs)-1] = append(c.runs[len(c.runs)-1], b...)
}

func (c *checker) Gap() {
	if c.exact && !c.flushing {
		c.t.Fatalf("gap reported with nothing lost, at %d", c.pos)
	}
	c.gaps++
	c.runs = append(c.runs, nil)
}

// counterStream returns n bytes of consecutive big-endian uint32 counters,
// so that any run of a few bytes identifies its place.
func counterStream(n int) []byte {
	b := make([]byte, 0, n+4)
	for i := uint32(0); len(b) < n; i++ {
		b = binary.BigEndian.AppendUint32(b, i)
	}
	return b[:n]
}

// FuzzStream cuts a stream into segments, reorders them within a window,
// retransmits some with other boundaries and (in drop mode) loses some. With
// nothing lost the consumer must see exactly the original stream; otherwise
// every run between gaps must be a piece of the original, in order.
func FuzzStream(f *testing.F) {
	f.Add([]byte{}, uint32(1000), byte(0), uint16(5000))
	f.Add([]byte{3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9}, uint32(0xffff0000), byte(modePartial|modeBigSegs), uint16(30000))
	f.Add([]byte{200, 17, 0, 33, 1, 2, 250, 3, 99}, uint32(0xfffffff0), byte(modeSkip|modePartial), uint16(4000))
	f.Add([]byte{0, 0, 7, 1, 42, 13, 5}, uint32(7), byte(modeDrop|modePartial), uint16(20000))
	f.Add([]byte{9, 250, 4, 8, 15, 16, 23, 42}, uint32(123456), byte(modeDrop|modeSmall|modeBigSegs), uint16(60000))
	f.Add([]byte{1, 2, 3}, uint32(1<<31), byte(modeSmall|modeSkip), uint16(9000))
	f.Fuzz(func(t *testing.T, ctlBytes []byte, isn uint32, mode byte, size uint16) {
		ctl := &ctlReader{b: ctlBytes}
		data := counterStream(int(size))
		m := int(mode)
		exact := m&(modeDrop|modeSmall) == 0
		if !exact {
			m &^= modeSkip // a consumer that lost its place cannot skip by count
		}

		// Cut into segments.
		maxLen := 64
		if m&modeBigSegs != 0 {
			maxLen = 1500
		}
		type piece struct{ off, end int }
		var pieces []piece
		for off := 0; off < len(data); {
			n := min(1+ctl.next()*ctl.next()%maxLen, len(data)-off)
			pieces = append(pieces, piece{off, off + n})
			off += n
		}
		// Reorder within a window.
		for i := range pieces {
			if j := i + ctl.next()%4; j < len(pieces) {
				pieces[i], pieces[j] = pieces[j], pieces[i]
			}
		}

		lim := Limits{}
		if m&modeSmall != 0 {
			lim = Limits{MaxBuffered: 1 + ctl.next()*16, MaxOutOfOrder: 1 + ctl.next()%4}
		}
		budget := &Budget{Max: 1 << 30}
		var s Stream
		s.Init(lim, budget, nil)
		c := &checker{t: t, data: data, ctl: ctl, mode: m, exact: exact}
		seg := sniff.Segment{Seq: isn, Flags: sniff.SYN, Time: t0}
		s.Add(&seg, c)
		send := func(off, end, wire int) {
			seg = sniff.Segment{Seq: isn + 1 + uint32(off), Flags: sniff.ACK, Time: t0,
				Payload: bytes.Clone(data[off:end]), WireLen: wire}
			s.Add(&seg, c)
			clear(seg.Payload) // the stream must not keep it
		}
		for _, p := range pieces {
			switch k := ctl.next() % 16; {
			case m&modeDrop != 0 && k == 0:
				continue // lost
			case m&modeDrop != 0 && k == 1 && p.end-p.off > 1:
				send(p.off, p.off+(p.end-p.off)/2, p.end-p.off) // truncated by the capture
			default:
				send(p.off, p.end, p.end-p.off)
			}
			switch k := ctl.next() % 8; k {
			case 0: // retransmitted as is
				send(p.off, p.end, p.end-p.off)
			case 1: // retransmitted with other boundaries
				lo := max(0, p.off-ctl.next())
				hi := min(len(data), p.end+ctl.next())
				send(lo, hi, hi-lo)
			}
			if s.Buffered() > s.lim.MaxBuffered {
				t.Fatalf("Buffered() = %d over MaxBuffered %d", s.Buffered(), s.lim.MaxBuffered)
			}
			if budget.Used() != int64(s.Capacity()) || s.Capacity() > s.lim.MaxBuffered {
				t.Fatalf("budget.Used() = %d, Capacity() = %d, MaxBuffered %d", budget.Used(), s.Capacity(), s.lim.MaxBuffered)
			}
		}
		c.flushing = true
		s.Flush(c)
		st := s.Stats()
		if s.Buffered() != 0 {
			t.Fatalf("Buffered() = %d after Flush", s.Buffered())
		}
		if uint64(c.gaps) != st.Gaps {
			t.Fatalf("consumer saw %d gaps, Stats().Gaps = %d", c.gaps, st.Gaps)
		}
		consumed := 0
		for _, r := range c.runs {
			consumed += len(r)
		}
		if uint64(consumed) != st.Delivered {
			t.Fatalf("consumer took %d bytes, Stats().Delivered = %d", consumed, st.Delivered)
		}
		if exact {
			// Everything was offered; only what a partial consumer declined
			// at the very end may be left.
			if c.pos < len(data)-15 {
				t.Fatalf("consumer reached %d of %d bytes", c.pos, len(data))
			}
			if left := len(data) - c.pos; st.Overflows != 0 || int(st.Lost) != max(left, 0) {
				t.Fatalf("nothing lost and %d bytes left, yet %+v", left, st)
			}
			return
		}
		prev := 0
		for i, r := range c.runs {
			if len(r) == 0 {
				continue
			}
			at := bytes.Index(data[prev:], r)
			if at < 0 {
				t.Fatalf("run %d (%d bytes) is not a piece of the original after offset %d", i, len(r), prev)
			}
			prev += at + len(r)
		}
		s.Reset()
		if budget.Used() != 0 {
			t.Fatalf("budget.Used() = %d after Reset", budget.Used())
		}
	})
}
