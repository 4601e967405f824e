package reasm

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/sniff"
)

// wantN consumes everything once it is offered at least n bytes, and
// nothing before; it counts gaps.
type wantN struct {
	n    int
	got  int
	gaps int
}

func (w *wantN) Consume(b []byte, _ time.Time) int {
	if len(b) < w.n {
		return 0
	}
	w.got += len(b)
	return len(b)
}

func (w *wantN) Gap() { w.gaps++ }

func add(s *Stream, c Consumer, seq uint32, p []byte) {
	s.Add(&sniff.Segment{Seq: seq, Time: t0, Payload: p, WireLen: len(p)}, c)
}

func TestBudgetAcrossStreams(t *testing.T) {
	budget := &Budget{Max: 8192}
	var st Stats
	var a, b Stream
	a.Init(Limits{}, budget, &st)
	b.Init(Limits{}, budget, &st)
	hold := &wantN{n: 1 << 30}

	add(&a, hold, 1000, make([]byte, 5000)) // a keeps 5000 bytes
	add(&b, hold, 1000, make([]byte, 4000)) // no room: a minimum buffer would pass the cap
	add(&a, hold, 6000, make([]byte, 3000)) // grows to exactly 8000, not to a doubled size

	type state struct {
		ABuffered, BBuffered, Used int
		BGaps                      int
		Stats                      Stats
	}
	got := state{a.Buffered(), b.Buffered(), int(budget.Used()), hold.gaps, st}
	want := state{ABuffered: 8000, BBuffered: 0, Used: 8000, BGaps: 1,
		Stats: Stats{Overflows: 1, Gaps: 1, Lost: 4000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after filling (-want +got):\n%s", diff)
	}

	a.Reset()
	add(&b, hold, 5000, make([]byte, 4000))
	got = state{a.Buffered(), b.Buffered(), int(budget.Used()), hold.gaps, st}
	want = state{ABuffered: 0, BBuffered: 4000, Used: minBuffer, BGaps: 1,
		Stats: Stats{Overflows: 1, Gaps: 1, Lost: 4000}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after Reset of a (-want +got):\n%s", diff)
	}
}

func TestResetReleasesMemory(t *testing.T) {
	budget := &Budget{}
	var s Stream
	s.Init(Limits{}, budget, nil)
	c := &wantN{n: 200_000}
	s.Add(&sniff.Segment{Seq: isn, Flags: sniff.SYN}, c)
	add(&s, c, 1000, make([]byte, 100_000))
	if s.Capacity() < 100_000 || budget.Used() != int64(s.Capacity()) {
		t.Fatalf("holding 100000 bytes: Capacity() = %d, budget.Used() = %d", s.Capacity(), budget.Used())
	}
	s.Reset()
	if s.Capacity() != 0 || s.Buffered() != 0 || budget.Used() != 0 {
		t.Fatalf("after Reset: Capacity() = %d, Buffered() = %d, budget.Used() = %d, want 0",
			s.Capacity(), s.Buffered(), budget.Used())
	}
	// A new connection with another ISN starts afresh.
	r := &recorder{}
	feed(&s, r, []seg{{seq: 50, flags: sniff.SYN}, {seq: 51, data: "new"}})
	if diff := cmp.Diff([]string{"d:new"}, r.events); diff != "" {
		t.Errorf("after Reset (-want +got):\n%s", diff)
	}
}

func TestLargeBufferShrinksWhenEmpty(t *testing.T) {
	budget := &Budget{}
	var s Stream
	s.Init(Limits{}, budget, nil)
	c := &wantN{n: 300_000}
	seq := uint32(1000)
	for range 300_000 / 1000 {
		add(&s, c, seq, bytes.Repeat([]byte{'z'}, 1000))
		seq += 1000
	}
	if c.got != 300_000 {
		t.Fatalf("consumer got %d bytes, want 300000", c.got)
	}
	if s.Capacity() != 0 || budget.Used() != 0 {
		t.Errorf("after the large message: Capacity() = %d, budget.Used() = %d, want 0", s.Capacity(), budget.Used())
	}
}

func TestTimestamps(t *testing.T) {
	msgs := frame("aa") + frame("bbbb") + frame("cc")
	// Segment i is captured at t0 + i ms (feed).
	segs := []seg{syn(),
		{seq: 1000, data: msgs[:6]}, // aa, half of bbbb
		{seq: 1006, data: msgs[6:]}, // rest of bbbb, cc
		{seq: 1018, data: frame("ee")},
		{seq: 1014, data: frame("dd")},
	}
	var s Stream
	s.Init(Limits{}, nil, nil)
	r := &recorder{frames: true}
	feed(&s, r, segs)
	ms := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Millisecond) }
	want := []time.Time{ms(1), ms(1), ms(2), ms(4), ms(3)}
	if diff := cmp.Diff(want, r.times); diff != "" {
		t.Errorf("frame times (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"f:aa", "f:bbbb", "f:cc", "f:dd", "f:ee"}, r.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestDone(t *testing.T) {
	tests := []struct {
		name string
		segs []seg
		want bool
	}{
		{"no FIN", []seg{syn(), {seq: 1000, data: "abc"}}, false},
		{"FIN with data", []seg{syn(), {seq: 1000, data: "abc", flags: sniff.FIN}}, true},
		{"FIN after data", []seg{syn(), {seq: 1000, data: "abc"}, {seq: 1003, flags: sniff.FIN}}, true},
		{"FIN before a hole fills", []seg{syn(), {seq: 1003, data: "def", flags: sniff.FIN}}, false},
		{"hole filled after FIN", []seg{syn(), {seq: 1003, data: "def", flags: sniff.FIN}, {seq: 1000, data: "abc"}}, true},
		{"FIN alone on a stream joined late", []seg{{seq: 5000, flags: sniff.FIN | sniff.ACK}}, true},
		{"incomplete frame left", []seg{syn(), {seq: 1000, data: frame("abcdef")[:3], flags: sniff.FIN}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stream
			s.Init(Limits{}, nil, nil)
			feed(&s, &recorder{frames: true}, tt.segs)
			if got := s.Done(); got != tt.want {
				t.Errorf("Done() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMaxOutOfOrder holds as many disjoint ranges as allowed and no more.
func TestMaxOutOfOrder(t *testing.T) {
	const n = 4
	var s Stream
	s.Init(Limits{MaxOutOfOrder: n}, nil, nil)
	r := &recorder{}
	feed(&s, r, []seg{syn()})
	for i := range n {
		feed(&s, r, []seg{{seq: uint32(1000 + 10*(i+1)), data: "x"}})
	}
	if got := s.Buffered(); got != n || len(r.events) != 0 || s.Stats().Overflows != 0 {
		t.Fatalf("holding %d ranges: Buffered() = %d, events %q, %+v", n, got, r.events, s.Stats())
	}
	feed(&s, r, []seg{{seq: 1000 + 10*(n+1), data: "y"}})
	want := []string{"gap", "d:x", "gap", "d:x", "gap", "d:x", "gap", "d:x"}
	// The first hole is given up; the other ranges and the new one are held.
	if s.Stats().Overflows != 1 || s.Buffered() != n {
		t.Errorf("one range too many: %+v, Buffered() = %d, want one overflow and %d bytes held", s.Stats(), s.Buffered(), n)
	}
	if diff := cmp.Diff(want[:2], r.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	s.Flush(r)
	want = append(want[:8], "gap", "d:y")
	if diff := cmp.Diff(want, r.events); diff != "" {
		t.Errorf("events after Flush (-want +got):\n%s", diff)
	}
	if got := strings.Count(strings.Join(r.events, ","), "gap"); uint64(got) != s.Stats().Gaps {
		t.Errorf("Stats().Gaps = %d, consumer saw %d", s.Stats().Gaps, got)
	}
}

func TestEmptyBuffersReleasedUnderPressure(t *testing.T) {
	budget := &Budget{Max: 3 * minBuffer}
	streams := make([]Stream, 3)
	c := &frameCounter{}
	frame := []byte{0, 0, 0, 4, 'a', 'b', 'c', 'd'}
	for i := range streams {
		s := &streams[i]
		s.Init(Limits{}, budget, nil)
		add(s, c, 1000, frame[:5]) // a tail: the stream takes a minimum buffer
		add(s, c, 1005, frame[5:]) // completed: the buffer is empty
	}
	// Each empty minimum buffer went back to the budget's spares, where
	// the next stream found it: one buffer served all three.
	var got []int
	for i := range streams {
		got = append(got, streams[i].Capacity())
	}
	if diff := cmp.Diff([]int{0, 0, 0}, got); diff != "" {
		t.Errorf("capacities (-want +got):\n%s", diff)
	}
	if c.frames != 3 || budget.Used() != 0 || len(budget.spare) != 1 {
		t.Errorf("frames = %d, budget.Used() = %d, spares %d, want 3, 0, 1", c.frames, budget.Used(), len(budget.spare))
	}
	streams[0].Flush(c)
	if streams[0].Capacity() != 0 || budget.Used() != 0 {
		t.Errorf("after Flush: Capacity() = %d, budget.Used() = %d, want 0", streams[0].Capacity(), budget.Used())
	}
}

// skipAll asks, on its first call, to skip everything that follows.
type skipAll struct{ calls, gaps int }

func (s *skipAll) Consume(b []byte, _ time.Time) int {
	s.calls++
	return 1 << 40
}

func (s *skipAll) Gap() { s.gaps++ }

func TestSkipRestOfStream(t *testing.T) {
	var s Stream
	s.Init(Limits{MaxBuffered: 64, MaxOutOfOrder: 1}, nil, nil)
	c := &skipAll{}
	s.Add(&sniff.Segment{Seq: isn, Flags: sniff.SYN}, c)
	seq := uint32(1000)
	send := func(j int) {
		add(&s, c, seq+uint32(j*1000), make([]byte, 1000))
		if s.Capacity() != 0 {
			t.Fatalf("segment %d: Capacity() = %d while skipping", j, s.Capacity())
		}
	}
	send(0) // the consumer asks to skip everything after it
	// The other 99 1000-byte segments: pairs swapped, and those numbered
	// 9, 19, ... lost. None of it is held, delivered or reported as a gap,
	// though each pair is out of order and the bounds are tiny.
	for i := 1; i < 100; i += 2 {
		for _, j := range []int{i + 1, i} {
			if j < 100 && j%10 != 9 {
				send(j)
			}
		}
	}
	st := s.Stats()
	got := []int{c.calls, c.gaps, int(st.Delivered), int(st.Skipped), int(st.Retransmitted)}
	// Skipped: segments 1-98, passed over whether they arrived or not (99
	// never was). Retransmitted: the 40 odd segments that arrived after
	// their successor, the lost ones (9, ..., 89) excepted.
	if diff := cmp.Diff([]int{1, 0, 1000, 98_000, 40_000}, got); diff != "" {
		t.Errorf("calls, gaps, delivered, skipped, retransmitted (-want +got):\n%s", diff)
	}
}

// negative returns a negative count, which must be taken as zero.
type negative struct{ calls int }

func (n *negative) Consume([]byte, time.Time) int { n.calls++; return -5 }
func (n *negative) Gap()                          {}

func TestNegativeConsumeIsZero(t *testing.T) {
	var s Stream
	s.Init(Limits{}, nil, nil)
	c := &negative{}
	add(&s, c, 1000, []byte("abc"))
	add(&s, c, 1003, []byte("def"))
	if s.Buffered() != 6 || s.Stats().Delivered != 0 || c.calls != 2 {
		t.Errorf("Buffered() = %d, Delivered = %d, calls = %d, want 6, 0, 2", s.Buffered(), s.Stats().Delivered, c.calls)
	}
}
