package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
)

// flushSink is a Flusher that records, at each flush, how many messages
// arrived since the previous one, and signals a flush that left nothing
// pending after messages had come.
type flushSink struct {
	pending, total int
	flushes        int
	drained        chan int // total at a flush that ended a run of messages
}

func (f *flushSink) Emit(*proto.Message) { f.pending++; f.total++ }

func (f *flushSink) Flush() {
	f.flushes++
	if f.pending > 0 {
		f.pending = 0
		f.drained <- f.total
	}
}

// TestFlushWhenSourcePauses: a sink that holds work between flushes (the
// serve sink keeps its stats shard locked) is flushed once the source has
// nothing more to read, before any further frame arrives, whether the
// capture goroutine decodes inline or hands batches to a worker; and it is
// flushed at the end with nothing left pending.
func TestFlushWhenSourcePauses(t *testing.T) {
	for _, inline := range []bool{false, true} {
		t.Run(fmt.Sprintf("inline=%v", inline), func(t *testing.T) {
			sink := &flushSink{drained: make(chan int, 1024)}
			src := newConvSource(0, 0)
			src.allow = make(chan int)
			p := New(Config{Inline: inline}, func(int) proto.Sink { return sink }, &proto.Counters{})
			errc := make(chan error, 1)
			go func() { errc <- p.Run(context.Background(), src) }()
			// The handshake (2 messages), then bursts of request/reply pairs
			// with a quiet line after each: every burst must be flushed
			// during its quiet period, with all its messages.
			want := 2
			for i, n := range []int{4, 10, 600, 2} {
				src.allow <- n
				if i > 0 {
					want += n
				}
				// Flushes inside a long burst (every statsEvery frames,
				// after each batch) are fine; one must come after all of it.
				for got := 0; got != want; {
					select {
					case got = <-sink.drained:
					case <-time.After(10 * time.Second):
						t.Fatalf("burst %d: no flush with all %d messages within 10s of the pause", i, want)
					}
					if got > want {
						t.Fatalf("burst %d: a flush after %d messages, only %d sent", i, got, want)
					}
				}
			}
			close(src.allow)
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if sink.pending != 0 || sink.total != want {
				t.Errorf("at the end: %d messages not flushed, %d in all; want 0 and %d", sink.pending, sink.total, want)
			}
		})
	}
}

// TestFlushOnTrickle: frames that trickle in without a pause (never a read
// timeout) and too slowly to make statsEvery still flush an inline sink at
// least every publishAge of capture time.
func TestFlushOnTrickle(t *testing.T) {
	// handshake + 50 pairs, 1.04 s of capture time
	totals := runFlushes(t, Config{Inline: true}, newConvSource(10*time.Millisecond, 104))
	// 1.04 s at one publish per 50 ms of capture time: about 20 flushes
	// with messages, far more than the final one.
	if len(totals) < 15 || totals[len(totals)-1] != 102 {
		t.Errorf("flushes with messages after %v; want at least 15, the last after all 102", totals)
	}
}

// TestFlushBeforePacedWait: a paced replay decoding inline flushes before
// each wait for the next frame's time, so a sink never holds messages (or
// its lock) across the pause.
//
// A loaded machine can make the replay late, and a late frame is not
// waited for; so the test works out from when the source handed out each
// frame which waits happened (those with clearly more than 0 left to
// wait), and checks for a flush before each of those. (Other flushes may
// come too: the inline worker also flushes every 50 ms of capture time.)
func TestFlushBeforePacedWait(t *testing.T) {
	const gap, frames = 20 * time.Millisecond, 12 // handshake + 4 pairs
	const margin = 3 * time.Millisecond           // too close to call either way
	for attempt := 1; ; attempt++ {
		src := newConvSource(gap, frames)
		src.returned = make([]time.Time, 0, frames)
		totals := runFlushes(t, Config{Inline: true, Pace: true, Blocking: true}, src)
		flushed := map[int]bool{}
		for _, n := range totals {
			flushed[n] = true
		}
		// Frames 0 and 1 are the SYNs; frame i >= 2 carries message i-1,
		// so a wait before frame i >= 3 must follow a flush at i-2.
		waits := 0
		for i := 3; i < frames; i++ {
			left := time.Duration(i)*gap - src.returned[i].Sub(src.returned[0])
			if left > margin {
				waits++
				if !flushed[i-2] {
					t.Errorf("no flush after message %d before the wait of %v for frame %d; flushes after %v messages", i-2, left, i, totals)
				}
			}
		}
		if len(totals) == 0 || totals[len(totals)-1] != frames-2 {
			t.Errorf("last flush after %v messages, want %d", totals, frames-2)
		}
		if waits >= frames/2 || t.Failed() {
			return
		}
		if attempt == 3 {
			t.Fatalf("only %d of %d frames were waited for in 3 runs: the machine is too loaded for this test", waits, frames-3)
		}
	}
}

// runFlushes runs src through a pipeline to its end and returns, for each
// flush that followed new messages, how many messages had come by then.
func runFlushes(t *testing.T, cfg Config, src *convSource) []int {
	t.Helper()
	sink := &flushSink{drained: make(chan int, 1024)}
	p := New(cfg, func(int) proto.Sink { return sink }, &proto.Counters{})
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	close(sink.drained)
	var totals []int
	for n := range sink.drained {
		totals = append(totals, n)
	}
	return totals
}
