package app

import (
	"context"
	"io"
	"runtime"
	"sync"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/sniff/pcapsrc"
	"github.com/zktap/zktap/sniff/pipeline"
)

// DumpOptions configures `zktap dump`.
type DumpOptions struct {
	JSON     bool // NDJSON instead of text
	Filter   render.Filter
	Render   render.Options
	Pipeline pipeline.Config
}

// dumpSink renders matching messages and writes them, one per line. Workers
// share the output, so it is written under a mutex. Live output goes to
// people and pipes that expect lines as they happen, so each line is
// written at once; a file's dump collects lines in the sink's own buffer
// and writes them 64 KiB at a time, which saves a copy and a lock per line.
type dumpSink struct {
	o    *DumpOptions
	mu   *sync.Mutex
	out  io.Writer
	buf  []byte
	live bool
	enc  render.Encoder // remembers the head of the last line
	lineFilter
}

// dumpChunk is how many bytes of lines a file's dump collects before a write.
const dumpChunk = 64 << 10

// newDumpSink returns a sink of o's messages that writes to out under mu.
func newDumpSink(o *DumpOptions, mu *sync.Mutex, out io.Writer, live bool) *dumpSink {
	d := &dumpSink{o: o, mu: mu, out: out, buf: make([]byte, 0, dumpChunk+4<<10), live: live,
		lineFilter: newLineFilter(&o.Filter)}
	d.enc.Options = o.Render
	return d
}

func (d *dumpSink) Emit(m *proto.Message) {
	if d.hides(m) {
		return
	}
	if d.live {
		d.buf = d.buf[:0]
		d.render(m)
		d.write()
		return
	}
	d.render(m)
}

// lineFilter is the dump's filter as each sink keeps it, by value: a
// two-stage dump's decoding goroutine filters while the other renders, and
// a filter read from the rendering sink would share its cache lines with
// the lines being written (twice the wall time per message, measured).
type lineFilter struct {
	f *render.Filter
	// selective is f.Selective(): when not, only pings are hidden, which
	// hides tests without the general matcher.
	selective bool
	// pings is f.IncludePings: hides tests it as render.Filter.HidesPing
	// does, from the sink's own copy (TestLineFilter).
	pings bool
}

func newLineFilter(f *render.Filter) lineFilter {
	return lineFilter{f: f, selective: f.Selective(), pings: f.IncludePings}
}

// hides reports whether the filter leaves m out. It is inlined in the
// sinks' Emit, for every message: the call was 1 % of a two-stage dump's
// CPU, on the decoding goroutine.
func (l lineFilter) hides(m *proto.Message) bool {
	if l.selective {
		return l.hidesSelective(m)
	}
	return !l.pings && m.Proto == proto.ZK && m.Op == "ping"
}

// hidesSelective is hides for a selective filter, out of line so that
// hides is inlined.
//
//go:noinline
func (l lineFilter) hidesSelective(m *proto.Message) bool { return !l.f.Match(m) }

// render is Emit without the filter: it collects m's line and writes once
// a chunk is full. Stage 2 of a two-stage dump (dumpstage.go) calls it on
// messages its stage 1 has filtered already.
func (d *dumpSink) render(m *proto.Message) {
	if d.o.JSON {
		d.buf = d.enc.AppendJSON(d.buf, m)
	} else {
		d.buf = d.enc.AppendText(d.buf, m)
	}
	if len(d.buf) >= dumpChunk {
		d.write()
	}
}

// write writes the collected lines under the shared mutex.
func (d *dumpSink) write() {
	if len(d.buf) == 0 {
		return
	}
	d.mu.Lock()
	d.out.Write(d.buf)
	d.mu.Unlock()
	d.buf = d.buf[:0]
}

// Dump decodes src and writes every message that passes the filter to out.
// A file's dump renders on a second core when it can (see twoStages); the
// output is the same either way, byte for byte.
func Dump(ctx context.Context, src *source, o DumpOptions, out io.Writer, ctr *proto.Counters) (pipeline.Health, error) {
	return dump(ctx, src, &o, out, ctr, twoStages(src.live, o.Pipeline.Workers, runtime.GOMAXPROCS(0)))
}

// twoStages reports whether a dump runs in two stages (dumpstage.go): the
// goroutine that decodes copies the messages that pass the filter, and
// another renders and writes them. Only a file's dump with one worker and
// more than one P does. The others render in the goroutine that decodes:
//   - a live dump writes each line as it comes, for people and pipes that
//     wait for it; batching lines would hold them back, and live traffic
//     leaves the decoding goroutine idle most of the time anyway;
//   - with GOMAXPROCS=1 the two stages could only take turns on one core,
//     so the copy and the hand-offs would be pure cost;
//   - with several workers each worker's goroutine already renders what
//     it decodes while the capture goroutine reads, and their lines
//     interleave under the output's mutex (run.go gives a file's dump one
//     worker, so this is a live dump or a caller's own choice).
func twoStages(live bool, workers, procs int) bool {
	return !live && workers <= 1 && procs > 1
}

// dump is Dump with the choice of one stage or two made by the caller.
func dump(ctx context.Context, src *source, o *DumpOptions, out io.Writer, ctr *proto.Counters, staged bool) (pipeline.Health, error) {
	var mu sync.Mutex
	if staged {
		// Stage 1 reads the file too: a goroutine that reads it ahead
		// takes the read system calls to the core stage 2 leaves idle
		// when it waits for batches.
		if f, ok := src.Source.(*pcapsrc.Source); ok {
			f.ReadAhead()
		}
		s := newStageSink(o, &mu, out)
		defer s.close() // a panic out of Run: stage 2 ends too
		p := pipeline.New(o.Pipeline, func(int) proto.Sink { return s }, ctr)
		err := p.Run(ctx, src)
		s.close()
		return p.Health(), err
	}
	var sinks []*dumpSink
	p := pipeline.New(o.Pipeline, func(int) proto.Sink {
		d := newDumpSink(o, &mu, out, src.live)
		sinks = append(sinks, d)
		return d
	}, ctr)
	err := p.Run(ctx, src)
	for _, d := range sinks {
		d.write()
	}
	return p.Health(), err
}
