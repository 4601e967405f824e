package app

import (
	"bufio"
	"context"
	"io"
	"sync"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
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
// share the writer, so a line is written under a mutex; rendering happens
// outside it, into a per-worker buffer.
type dumpSink struct {
	o   *DumpOptions
	mu  *sync.Mutex
	w   *bufio.Writer
	buf []byte
	// flush after each line: live output goes to people and pipes that
	// expect lines as they happen.
	flush bool
}

func (d *dumpSink) Emit(m *proto.Message) {
	if !d.o.Filter.Match(m) {
		return
	}
	if d.o.JSON {
		d.buf = render.AppendJSON(d.buf[:0], m, d.o.Render)
	} else {
		d.buf = render.AppendText(d.buf[:0], m, d.o.Render)
	}
	d.mu.Lock()
	d.w.Write(d.buf)
	if d.flush {
		d.w.Flush()
	}
	d.mu.Unlock()
}

// Dump decodes src and writes every message that passes the filter to out.
func Dump(ctx context.Context, src *source, o DumpOptions, out io.Writer, ctr *proto.Counters) (pipeline.Health, error) {
	var mu sync.Mutex
	w := bufio.NewWriterSize(out, 64<<10)
	p := pipeline.New(o.Pipeline, func(int) proto.Sink {
		return &dumpSink{o: &o, mu: &mu, w: w, flush: src.live}
	}, ctr)
	err := p.Run(ctx, src)
	mu.Lock()
	w.Flush()
	mu.Unlock()
	return p.Health(), err
}
