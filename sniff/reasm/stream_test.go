package reasm

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/sniff"
)

const isn = 999 // SYN sequence number in the scripts: data starts at 1000

func syn() seg { return seg{seq: isn, flags: sniff.SYN} }

func TestStream(t *testing.T) {
	alpha := "abcdefghijklmnopqrst"
	// Frames for the framed consumer; lengths in comments include the
	// 2-byte header.
	fa, fc, fd, fe := frame("aaaaaa"), frame("cccccc"), frame("dddddd"), frame("eeeeee") // 8 each
	several := frame("one") + frame("two") + frame("three") + frame("four")              // 5+5+7+6
	big := frame(strings.Repeat("a", 30))                                                // 32
	skipped := skipFrame(10) + "xxxxxxxxxx" + frame("hi")                                // 2+10+4
	var wrapISN uint32 = 0xfffffff8                                                      // data starts at 0xfffffff9 and wraps after 7 bytes
	tests := []struct {
		name   string
		lim    Limits
		frames bool
		segs   []seg
		flush  bool
		want   []string
		stats  Stats
	}{
		{
			name:  "in order",
			segs:  []seg{syn(), {seq: 1000, data: "hello"}, {seq: 1005, data: " world"}},
			want:  []string{"d:hello world"},
			stats: Stats{Delivered: 11},
		},
		{
			name:   "one message over many segments",
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: frame(alpha[:12])[:3]},
				{seq: 1003, data: frame(alpha[:12])[3:7]},
				{seq: 1007, data: frame(alpha[:12])[7:12]},
				{seq: 1012, data: frame(alpha[:12])[12:]},
			},
			want:  []string{"f:abcdefghijkl"},
			stats: Stats{Delivered: 14},
		},
		{
			name:   "several messages per segment",
			frames: true,
			segs:   []seg{syn(), {seq: 1000, data: several[:12]}, {seq: 1012, data: several[12:]}},
			want:   []string{"f:one", "f:two", "f:three", "f:four"},
			stats:  Stats{Delivered: 23},
		},
		{
			name: "out of order",
			segs: []seg{syn(),
				{seq: 1008, data: alpha[8:12]},
				{seq: 1012, data: alpha[12:16]},
				{seq: 1000, data: alpha[0:4]},
				{seq: 1004, data: alpha[4:8]},
			},
			want:  []string{"d:" + alpha[:16]},
			stats: Stats{Delivered: 16, OutOfOrder: 2},
		},
		{
			name: "duplicates",
			segs: []seg{syn(),
				{seq: 1003, data: "def"},
				{seq: 1003, data: "def"}, // held already
				{seq: 1000, data: "abc"},
				{seq: 1000, data: "abc"}, // delivered already
			},
			want:  []string{"d:abcdef"},
			stats: Stats{Delivered: 6, Retransmitted: 6, OutOfOrder: 1},
		},
		{
			name: "overlapping retransmission",
			segs: []seg{syn(),
				{seq: 1000, data: alpha[0:10]},
				{seq: 1005, data: alpha[5:15]},
				{seq: 1003, data: alpha[3:20]},
			},
			want:  []string{"d:" + alpha},
			stats: Stats{Delivered: 20, Retransmitted: 5 + 12},
		},
		{
			name: "overlap with held ranges",
			segs: []seg{syn(),
				{seq: 1010, data: alpha[10:15]},
				{seq: 1012, data: alpha[12:20]}, // 3 held already
				{seq: 1005, data: alpha[5:12]},  // 2 held already
				{seq: 1000, data: alpha[0:7]},   // 2 held already
			},
			want:  []string{"d:" + alpha},
			stats: Stats{Delivered: 20, Retransmitted: 3 + 2 + 2, OutOfOrder: 3},
		},
		{
			name:   "loss then gap and delivery after it",
			lim:    Limits{MaxOutOfOrder: 1},
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: fa},
				// fb at 1008 is lost
				{seq: 1016, data: fc},
				{seq: 1032, data: fe}, // a second disjoint range: the hole at 1008 is given up
				{seq: 1024, data: fd},
			},
			want:  []string{"f:aaaaaa", "gap", "f:cccccc", "f:dddddd", "f:eeeeee"},
			stats: Stats{Delivered: 32, OutOfOrder: 2, Gaps: 1, Lost: 8, Overflows: 1},
		},
		{
			name: "late fill after loss is a retransmission",
			lim:  Limits{MaxOutOfOrder: 1},
			segs: []seg{syn(),
				{seq: 1004, data: alpha[4:8]},
				{seq: 1012, data: alpha[12:16]},
				{seq: 1000, data: alpha[0:4]},
				{seq: 1008, data: alpha[8:12]},
			},
			want:  []string{"gap", "d:" + alpha[4:16]},
			stats: Stats{Delivered: 12, OutOfOrder: 2, Gaps: 1, Lost: 4, Overflows: 1, Retransmitted: 4},
		},
		{
			name: "sequence wraparound",
			segs: []seg{{seq: wrapISN, flags: sniff.SYN},
				{seq: wrapISN + 1, data: alpha[0:5]},
				{seq: wrapISN + 11, data: alpha[10:20]}, // wrapped: 0x3
				{seq: wrapISN + 6, data: alpha[5:10]},   // crosses the wrap
				{seq: wrapISN + 9, data: alpha[8:12]},
			},
			want:  []string{"d:" + alpha},
			stats: Stats{Delivered: 20, OutOfOrder: 1, Retransmitted: 4},
		},
		{
			name:   "skip across segments",
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: skipped[0:4]},
				{seq: 1004, data: skipped[4:9]},
				{seq: 1009, data: skipped[9:]},
			},
			want:  []string{"s", "f:hi"},
			stats: Stats{Delivered: 4 + 4, Skipped: 8},
		},
		{
			name:   "loss inside a skipped range is no gap",
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: skipped[0:4]},
				{seq: 1009, data: skipped[9:]},
				{seq: 1004, data: skipped[4:9]}, // late
			},
			want:  []string{"s", "f:hi"},
			stats: Stats{Delivered: 4 + 4, Skipped: 8, Retransmitted: 5},
		},
		{
			name:   "skip over held bytes",
			frames: true,
			segs: []seg{syn(),
				{seq: 1006, data: frame("hi")},
				{seq: 1000, data: skipFrame(4)}, // the 4 skipped bytes never arrive
			},
			want:  []string{"s", "f:hi"},
			stats: Stats{Delivered: 2 + 4, Skipped: 4, OutOfOrder: 1},
		},
		{
			name:   "skip ends before a hole",
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: skipFrame(2) + "xx"},
				{seq: 1008, data: frame("ok")}, // 1004..1008 lost
			},
			flush: true,
			want:  []string{"s", "gap", "f:ok"},
			stats: Stats{Delivered: 4 + 4, Skipped: 0, OutOfOrder: 1, Gaps: 1, Lost: 4},
		},
		{
			name:   "overflow of MaxBuffered",
			lim:    Limits{MaxBuffered: 16},
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: big[0:10]},
				{seq: 1010, data: big[10:20]}, // 20 bytes unconsumed: over the cap
				{seq: 1020, data: big[20:]},
				{seq: 1032, data: frame("ok")},
			},
			want:  []string{"gap", "junk:22", "f:ok"},
			stats: Stats{Delivered: 10 + 12 + 4, Gaps: 1, Lost: 10, Overflows: 1},
		},
		{
			// Two segments beyond the window, near each other: real loss.
			// The first is dropped until the second confirms the jump.
			name: "out of order beyond MaxBuffered",
			lim:  Limits{MaxBuffered: 16},
			segs: []seg{syn(),
				{seq: 1000, data: "abcd"},
				{seq: 1100, data: "wxyz"},
				{seq: 1104, data: "!!"},
			},
			want:  []string{"d:abcd", "gap", "d:!!"},
			stats: Stats{Delivered: 6, Gaps: 1, Lost: 100, Overflows: 2},
		},
		{
			// One segment far beyond the window (a corrupt or forged
			// sequence number) does not move the stream: the real
			// segments after it are still delivered.
			name: "lone segment beyond MaxBuffered is dropped",
			lim:  Limits{MaxBuffered: 16},
			segs: []seg{syn(),
				{seq: 1000, data: "abcd"},
				{seq: 1000 + 1<<30, data: "evil"},
				{seq: 1004, data: "efgh"},
			},
			want:  []string{"d:abcdefgh"},
			stats: Stats{Delivered: 8, Overflows: 1},
		},
		{
			// A segment ending exactly 2 GiB past base: its end wraps to
			// "behind" while its start is ahead. It once passed the
			// MaxBuffered check with a negative length and was copied out
			// of bounds (a panic).
			name: "segment straddling 2 GiB past base",
			segs: []seg{syn(),
				{seq: 1000, data: "abcd"},
				{seq: 1004 + 1<<31 - 4, data: "12345678"}, // base is 1004
				{seq: 1004, data: "efgh"},
			},
			want:  []string{"d:abcdefgh"},
			stats: Stats{Delivered: 8, Overflows: 1},
		},
		{
			name:  "flush with holes",
			segs:  []seg{syn(), {seq: 1000, data: "abc"}, {seq: 1006, data: "ghi"}, {seq: 1012, data: "mno"}},
			flush: true,
			want:  []string{"d:abc", "gap", "d:ghi", "gap", "d:mno"},
			stats: Stats{Delivered: 9, OutOfOrder: 2, Gaps: 2, Lost: 6},
		},
		{
			name:   "flush drops an incomplete frame",
			frames: true,
			segs:   []seg{syn(), {seq: 1000, data: frame("abc") + frame("defgh")[:4]}},
			flush:  true,
			want:   []string{"f:abc", "gap"},
			stats:  Stats{Delivered: 5, Gaps: 1, Lost: 4},
		},
		{
			name: "joined mid-way",
			segs: []seg{
				{seq: 7, flags: sniff.ACK}, // no payload: does not fix the start
				{seq: 5000, data: "xyz"},
				{seq: 4990, data: "abc"}, // before the start: taken as old
				{seq: 5003, data: "uvw"},
			},
			want:  []string{"d:xyzuvw"},
			stats: Stats{Delivered: 6, Retransmitted: 3},
		},
		{
			name: "truncated segment",
			segs: []seg{syn(),
				{seq: 1000, data: "abcd", wireLen: 10},
				{seq: 1010, data: "klmn"},
			},
			want:  []string{"d:abcd", "gap", "d:klmn"},
			stats: Stats{Delivered: 8, Gaps: 1, Lost: 6, Truncated: 1},
		},
		{
			name:   "truncated inside a frame",
			frames: true,
			segs: []seg{syn(),
				{seq: 1000, data: frame("hello")[:4], wireLen: 7},
				{seq: 1007, data: frame("ok")},
			},
			want:  []string{"gap", "f:ok"},
			stats: Stats{Delivered: 4, Gaps: 1, Lost: 7, Truncated: 1},
		},
		{
			name: "SYN retransmitted and data on FIN",
			segs: []seg{syn(), syn(),
				{seq: 1000, data: "ab", flags: sniff.FIN | sniff.ACK},
				{seq: 1000, data: "ab", flags: sniff.FIN | sniff.ACK},
			},
			want:  []string{"d:ab"},
			stats: Stats{Delivered: 2, Retransmitted: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s Stream
			s.Init(tt.lim, nil, nil)
			r := &recorder{frames: tt.frames}
			feed(&s, r, tt.segs)
			if tt.flush {
				s.Flush(r)
				if got := s.Buffered(); got != 0 {
					t.Errorf("Buffered() after Flush = %d, want 0", got)
				}
			}
			if diff := cmp.Diff(tt.want, r.events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.stats, s.Stats()); diff != "" {
				t.Errorf("stats (-want +got):\n%s", diff)
			}
		})
	}
}
