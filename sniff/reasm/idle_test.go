package reasm

import (
	"testing"
)

// TestIdleStreamsPinNothing: 10 000 streams whose last frame arrived split
// across two segments hold no buffer once the frame is consumed, and the
// spares they leave are bounded. (Before spares, each kept its 4 KiB
// minimum buffer: 40 MB per direction under the default budget.)
func TestIdleStreamsPinNothing(t *testing.T) {
	budget := &Budget{}
	streams := make([]Stream, 10000)
	c := &frameCounter{}
	frame := []byte{0, 0, 0, 4, 'a', 'b', 'c', 'd'}
	for i := range streams {
		s := &streams[i]
		s.Init(Limits{}, budget, nil)
		add(s, c, 1000, frame[:5]) // a tail: the stream takes a minimum buffer
		if s.Capacity() != minBuffer {
			t.Fatalf("stream %d: Capacity() = %d after a partial frame, want %d", i, s.Capacity(), minBuffer)
		}
		add(s, c, 1005, frame[5:]) // completed: the buffer is empty
	}
	pinned := 0
	for i := range streams {
		pinned += streams[i].Capacity()
	}
	if c.frames != len(streams) || pinned != 0 || budget.Used() != 0 {
		t.Errorf("frames %d, pinned %d bytes, budget.Used() %d; want %d, 0, 0", c.frames, pinned, budget.Used(), len(streams))
	}
	if n := len(budget.spare); n < 1 || n > maxSpare {
		t.Errorf("%d spares, want 1..%d", n, maxSpare)
	}
}

// TestSparesAvoidAllocation: many streams taking turns at partial frames
// reuse the spares, so the steady state allocates nothing.
func TestSparesAvoidAllocation(t *testing.T) {
	budget := &Budget{}
	streams := make([]Stream, 64)
	c := &frameCounter{}
	frame := []byte{0, 0, 0, 4, 'a', 'b', 'c', 'd'}
	seq := uint32(1000)
	for i := range streams {
		streams[i].Init(Limits{}, budget, nil)
	}
	cycle := func() {
		for i := range streams { // every stream holds a tail at once
			add(&streams[i], c, seq, frame[:5])
		}
		for i := range streams {
			add(&streams[i], c, seq+5, frame[5:])
		}
		seq += uint32(len(frame))
	}
	cycle() // warm-up: the spares are made once
	if got := testing.AllocsPerRun(100, cycle); got != 0 {
		t.Errorf("AllocsPerRun = %v, want 0", got)
	}
	if want := 102 * len(streams); c.frames != want || budget.Used() != 0 { // warm-up, AllocsPerRun's own, 100 runs
		t.Errorf("frames %d, budget.Used() %d; want %d, 0", c.frames, budget.Used(), want)
	}
}
