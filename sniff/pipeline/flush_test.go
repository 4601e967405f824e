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
func TestFlushBeforePacedWait(t *testing.T) {
	// handshake + 4 pairs, 20 ms apart
	totals := runFlushes(t, Config{Inline: true, Pace: true, Blocking: true}, newConvSource(20*time.Millisecond, 12))
	// Every frame after the first carries one message (the handshake's
	// SYNs none) and waits 20 ms: each message is flushed on its own.
	want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	if len(totals) != len(want) || totals[len(totals)-1] != 10 {
		t.Errorf("flushes after %v messages, want one after each of the 10: %v", totals, want)
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
