package reasm

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/zktap/zktap/sniff"
)

// frameCounter consumes whole frames of a 4-byte big-endian length and a
// body, as ZooKeeper frames its packets, and counts them without
// allocating.
type frameCounter struct {
	frames, bytes, gaps int
}

func (f *frameCounter) Consume(b []byte, _ time.Time) int {
	n := 0
	for len(b)-n >= 4 {
		size := 4 + int(binary.BigEndian.Uint32(b[n:]))
		if len(b)-n < size {
			break
		}
		n += size
		f.frames++
	}
	f.bytes += n
	return n
}

func (f *frameCounter) Gap() { f.gaps++ }

const (
	mss = 1460
	// The stream repeats every cycle bytes: 73 frames of 200 bytes, which
	// straddle segments, or 100 of 146, which end where segments do.
	cycle        = 10 * mss
	frameSize    = 200
	alignedFrame = 146
	nFrames      = cycle / frameSize
)

// segments returns one cycle of a stream of frameSize-byte frames cut into
// 1460-byte segments.
func segments(frameSize int) [][]byte {
	var stream []byte
	for range cycle / frameSize {
		stream = binary.BigEndian.AppendUint32(stream, uint32(frameSize-4)) // length of the body
		stream = append(stream, make([]byte, frameSize-4)...)
	}
	var segs [][]byte
	for off := 0; off < len(stream); off += mss {
		segs = append(segs, stream[off:off+mss])
	}
	return segs
}

// feeder replays the cycle forever with increasing sequence numbers; every
// reorder-th pair of segments is swapped (0: never).
type feeder struct {
	s       *Stream
	c       Consumer
	segs    [][]byte
	seq     uint32
	seg     sniff.Segment
	reorder int
	n       int
}

func newFeeder(reorder, frameSize int) *feeder {
	f := &feeder{s: new(Stream), c: new(frameCounter), segs: segments(frameSize), seq: 1, reorder: reorder}
	f.s.Init(Limits{}, &Budget{}, nil)
	return f
}

func (f *feeder) add(i int) {
	f.seg.Seq = f.seq + uint32(i*mss)
	f.seg.Payload = f.segs[i]
	f.seg.Time = t0
	f.s.Add(&f.seg, f.c)
}

// cycle feeds one cycle of the stream.
func (f *feeder) cycle() {
	for i := 0; i < len(f.segs); i++ {
		f.n++
		if f.reorder > 0 && f.n%f.reorder == 0 && i+1 < len(f.segs) {
			f.add(i + 1)
			f.add(i)
			i++
			f.n++
			continue
		}
		f.add(i)
	}
	f.seq += cycle
}

func TestAllocs(t *testing.T) {
	for _, tt := range []struct {
		name    string
		reorder int
	}{
		{"in order", 0},
		{"reordered", 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeeder(tt.reorder, frameSize)
			f.cycle() // warm-up: the window grows once
			if got := testing.AllocsPerRun(100, f.cycle); got != 0 {
				t.Errorf("AllocsPerRun = %v, want 0", got)
			}
			fc := f.c.(*frameCounter)
			st := f.s.Stats()
			if fc.frames != 102*nFrames || fc.gaps != 0 || (tt.reorder > 0) != (st.OutOfOrder > 0) {
				t.Errorf("frames = %d (want %d), gaps = %d, %+v", fc.frames, 102*nFrames, fc.gaps, st)
			}
		})
	}
}

func BenchmarkStream(b *testing.B) {
	for _, bb := range []struct {
		name      string
		reorder   int
		frameSize int
	}{
		{"InOrder", 0, frameSize},
		{"InOrderAligned", 0, alignedFrame}, // no tail is ever copied
		{"Reorder10pct", 20, frameSize},     // one swap per 20 segments moves 10% of them
	} {
		b.Run(bb.name, func(b *testing.B) {
			f := newFeeder(bb.reorder, bb.frameSize)
			f.cycle()
			b.ReportAllocs()
			b.SetBytes(cycle)
			for b.Loop() {
				f.cycle()
			}
		})
	}
}
