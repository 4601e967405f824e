package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/fle"
	"github.com/zktap/zktap/proto/zab"
	"github.com/zktap/zktap/proto/zk"
	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pcapsrc"
	"github.com/zktap/zktap/sniff/reasm"
)

// Config sizes the pipeline. Zero values take the defaults documented on
// each field.
type Config struct {
	Workers     int           // worker goroutines; default 1
	ZKPorts     []uint16      // client ports; default 2181
	ZABPorts    []uint16      // quorum ports; default 2888
	FLEPorts    []uint16      // election ports; default 3888
	MaxFlows    int           // connections tracked across all workers; default 65536
	IdleTimeout time.Duration // close a flow idle this long (capture time); default 5m
	// Reasm bounds one direction of one connection; MaxTotalBytes bounds
	// the bytes buffered by all streams together (split evenly across
	// workers); default 256 MiB.
	Reasm         reasm.Limits
	MaxTotalBytes int64
	ZK            zk.Config
	ZAB           zab.Config
	FLE           fle.Config
	// Blocking makes the capture goroutine wait for a free batch instead of
	// dropping: right for files, wrong for live capture.
	Blocking bool
	// Pace replays a file at its recorded pace instead of as fast as possible.
	Pace bool
	// Inline decodes in the capture goroutine itself, with Workers 1: no
	// batches, no worker goroutine, no copy of the payload. One goroutine
	// keeps up with ZooKeeper's maximum rate many times over and the
	// kernel ring absorbs bursts while it decodes; handing segments to
	// another goroutine cost more in wake-ups and copies than the decoding
	// itself. Ignored with Workers > 1.
	Inline bool
}

// Batching. The capture goroutine hands a worker a batch when it is full,
// or early when the worker is idle (its queue empty) and the batch spans
// handAge of capture time. A busy worker thus gets full batches only, and
// a stalled one can fall behind by every batch it owns before anything is
// dropped: batchesPer x batchSegments segments
// (8 192) or batchesPer x batchArena payload bytes (2 MiB) per worker,
// however slow the traffic. (It used to be 8 batches handed over at 20 ms
// of age, so a worker stalled ~160 ms dropped even at low rates.) Arena
// pages are touched only as payload fills them, so small-packet traffic
// keeps most of each arena out of RSS.
const (
	batchArena    = 64 << 10 // payload bytes per batch: one 64 KiB loopback super-packet
	batchSegments = 256      // segments per batch
	batchesPer    = 32       // batches circulating per worker
	// handAge bounds the wait of an idle worker. Shorter waits (64
	// segments or 2 ms were tried) cost more in goroutine wake-ups than
	// they save: 3.1 against 2.3 µs per packet on the write mix.
	handAge    = 20 * time.Millisecond
	sweepEvery = time.Second
	statsEvery = 256 // frames between refreshes of the source's stats
	// publishAge bounds, in capture time, how long an inline worker goes
	// without publishing its counters and flushing its sink while frames
	// arrive (a worker goroutine does both after each batch).
	publishAge = 50 * time.Millisecond
)

func (c *Config) setDefaults() {
	if c.Workers <= 0 {
		c.Workers = 1
	}
	if c.Workers > 1 {
		c.Inline = false
	}
	if len(c.ZKPorts) == 0 {
		c.ZKPorts = []uint16{2181}
	}
	if len(c.ZABPorts) == 0 {
		c.ZABPorts = []uint16{2888}
	}
	if len(c.FLEPorts) == 0 {
		c.FLEPorts = []uint16{3888}
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = 65536
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 5 * time.Minute
	}
	if c.MaxTotalBytes <= 0 {
		c.MaxTotalBytes = 256 << 20
	}
}

// Flusher is a proto.Sink that wants to know when its worker pauses. The
// pipeline calls Flush from the worker's goroutine after each batch; when
// decoding inline, at least every publishAge of capture time while frames
// arrive and before a paced replay waits; whenever the source has nothing
// to read (its read timeout); and at the end. A sink may keep work pending, or
// a lock held, between two flushes: a live source's read timeout bounds how
// long that lasts on a quiet line.
type Flusher interface {
	proto.Sink
	Flush()
}

// Health is a snapshot of the pipeline's own counters.
type Health struct {
	Frames         uint64 // frames read from the source
	Bytes          uint64 // bytes of those frames
	NotTCP         uint64 // frames that were not TCP (or not on a ZooKeeper port)
	Malformed      uint64 // frames whose headers did not parse
	QueueDrops     uint64 // segments dropped because a worker was behind (live only)
	KernelDrops    uint64 // frames the kernel dropped before zktap could read them
	FlowsActive    uint64 // connections currently tracked
	FlowsOpened    uint64 // connections ever tracked
	FlowsClosed    uint64 // connections ended by FIN/RST
	FlowsIdle      uint64 // connections closed by the idle timeout
	FlowsEvicted   uint64 // connections evicted because the flow table was full
	BufferedBytes  uint64 // bytes held by reassembly right now
	Reasm          reasm.Stats
	DecoderPanics  uint64
	SourceFinished bool // an offline source reached its end

	// A live capture that lost its interface (sniff.Reopener).
	CaptureReopens uint64        // times the capture was opened again
	CaptureDown    time.Duration // total time without a capture, including now
	CaptureLost    bool          // the capture is lost now
}

// Pipeline runs capture and decoding. Create it with New, then call Run once.
type Pipeline struct {
	cfg     Config
	ctr     *proto.Counters
	workers []*worker
	server  [65536]proto.Proto // server port -> protocol

	frames, bytes, notTCP, malformed, queueDrops atomic.Uint64
	kernelDrops, reopens                         atomic.Uint64
	down                                         atomic.Int64 // time.Duration
	lost                                         atomic.Bool
	finished                                     atomic.Bool
}

// New builds a pipeline. sink(i) returns the sink for worker i; each sink is
// called only from its worker's goroutine. ctr receives decoder error counts.
func New(cfg Config, sink func(worker int) proto.Sink, ctr *proto.Counters) *Pipeline {
	cfg.setDefaults()
	p := &Pipeline{cfg: cfg, ctr: ctr}
	for _, port := range cfg.ZKPorts {
		p.server[port] = proto.ZK
	}
	for _, port := range cfg.ZABPorts {
		p.server[port] = proto.ZAB
	}
	for _, port := range cfg.FLEPorts {
		p.server[port] = proto.FLE
	}
	budget := cfg.MaxTotalBytes / int64(cfg.Workers)
	flows := cfg.MaxFlows / cfg.Workers
	if flows < 1 {
		flows = 1
	}
	for i := range cfg.Workers {
		p.workers = append(p.workers, newWorker(p, i, sink(i), budget, flows))
	}
	return p
}

// Run reads src until it ends (io.EOF), fails, or ctx is cancelled, and
// waits for the workers to drain. Closing src is the caller's job; Run
// closes it on cancellation to unblock a pending read.
func (p *Pipeline) Run(ctx context.Context, src sniff.Source) error {
	stop := context.AfterFunc(ctx, func() { src.Close() })
	defer stop()
	if p.cfg.Inline {
		err := p.capture(ctx, src)
		p.workers[0].finish()
		p.sourceStats(src)
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	for _, w := range p.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run() }()
	}
	err := p.capture(ctx, src)
	for _, w := range p.workers {
		if w.cur != nil && (len(w.cur.segs) > 0 || w.cur.tick) {
			w.queue <- w.cur
			w.cur = nil
		}
		close(w.queue)
	}
	wg.Wait()
	p.sourceStats(src)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (p *Pipeline) capture(ctx context.Context, src sniff.Source) error {
	var seg sniff.Segment
	var first time.Time // first frame time, for paced replay
	var start time.Time
	// Frames and bytes are counted locally and published every statsEvery
	// frames and whenever the source pauses: two atomic adds per packet
	// were a measurable part of the capture goroutine.
	var frames, bytes uint64
	publish := func() {
		p.frames.Store(frames)
		p.bytes.Store(bytes)
	}
	defer publish()
	lastKernel := time.Now()
	// inline: capture time of the next publish, as UnixNano (see
	// worker.nowNS); the first segment publishes.
	var nextPublishNS int64 = math.MinInt64
	for {
		data, ts, link, err := src.ReadFrame()
		if err != nil {
			publish()
			if ctx.Err() != nil {
				return nil
			}
			if isTimeout(err) {
				now := time.Now()
				p.flushAll(now)
				if now.Sub(lastKernel) > time.Second {
					// A lost capture only times out: keep its state fresh.
					lastKernel = now
					p.sourceStats(src)
				}
				continue
			}
			if errors.Is(err, pcapsrc.ErrUnsupportedLink) {
				// A pcapng interface of a link type zktap cannot parse:
				// skip its frames, keep the others.
				p.malformed.Add(1)
				continue
			}
			if errors.Is(err, io.EOF) {
				p.finished.Store(true)
				p.flushAll(time.Time{})
				return nil
			}
			return fmt.Errorf("pipeline: read: %w", err)
		}
		frames++
		bytes += uint64(len(data))
		if frames%statsEvery == 0 {
			publish()
			// time.Now per packet cost more than the check it guards.
			if now := time.Now(); now.Sub(lastKernel) > time.Second {
				lastKernel = now
				p.sourceStats(src)
			}
		}
		if p.cfg.Pace {
			if first.IsZero() {
				first, start = ts, time.Now()
			} else if d := ts.Sub(first) - time.Since(start); d > 0 {
				if p.cfg.Inline {
					// Nothing is decoded while waiting: flush, as a
					// live source's read timeout would.
					p.workers[0].publish()
				}
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return nil
				}
			}
		}
		if err := sniff.ParseFrame(link, data, ts, &seg); err != nil {
			if errors.Is(err, sniff.ErrNotTCP) {
				p.notTCP.Add(1)
			} else {
				p.malformed.Add(1)
			}
			continue
		}
		if p.server[seg.Flow.Dst.Port()] == 0 && p.server[seg.Flow.Src.Port()] == 0 {
			p.notTCP.Add(1)
			continue
		}
		if p.cfg.Inline {
			w := p.workers[0]
			w.segment(&seg)
			if seg.Time.UnixNano() > nextPublishNS {
				w.publish()
				nextPublishNS = seg.Time.Add(publishAge).UnixNano()
			}
			continue
		}
		p.dispatch(&seg)
	}
}

// isTimeout reports whether err, or an error it wraps, is a timeout: a live
// source that saw nothing for its read timeout. Unlike errors.As with a
// net.Error target it does not allocate, and a quiet link returns it
// several times a second.
func isTimeout(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if t, ok := err.(interface{ Timeout() bool }); ok {
			return t.Timeout()
		}
	}
	return false
}

// sourceStats copies the source's counters that Health reports.
func (p *Pipeline) sourceStats(src sniff.Source) {
	st := src.Stats()
	p.kernelDrops.Store(st.KernelDrops)
	p.reopens.Store(st.Reopens)
	p.down.Store(int64(st.Down))
	p.lost.Store(st.Lost)
}

// dispatch copies seg into the batch of the worker that owns its flow.
func (p *Pipeline) dispatch(seg *sniff.Segment) {
	w := p.workers[0]
	if len(p.workers) > 1 {
		w = p.workers[flowHash(seg.Flow)%uint32(len(p.workers))]
	}
	b := w.cur
	if b != nil && (len(b.segs) == cap(b.segs) || len(b.arena)+len(seg.Payload) > cap(b.arena)) {
		w.queue <- b // never blocks: at most batchesPer batches exist per worker
		b, w.cur = nil, nil
	}
	if b == nil {
		b = p.take(w)
		if b == nil {
			p.queueDrops.Add(1)
			return
		}
		w.cur, b.first = b, seg.Time
	}
	off := len(b.arena)
	n := min(len(seg.Payload), cap(b.arena)-off) // a jumbo payload over the arena is truncated: reasm sees WireLen
	b.arena = append(b.arena, seg.Payload[:n]...)
	s := *seg
	s.Payload = b.arena[off : off+n : off+n]
	b.segs = append(b.segs, s)
	// An idle worker gets what there is once it is worth a wake-up; a busy
	// one (queue not empty) only full batches, see batchesPer.
	if len(w.queue) == 0 && seg.Time.Sub(b.first) > handAge {
		w.queue <- b
		w.cur = nil
	}
}

func (p *Pipeline) take(w *worker) *batch {
	if p.cfg.Blocking {
		return <-w.free
	}
	select {
	case b := <-w.free:
		return b
	default:
		return nil
	}
}

// flushAll hands every partly filled batch to its worker. A non-zero now
// also asks idle workers to sweep their flow tables (live capture with no
// traffic still ages flows out).
func (p *Pipeline) flushAll(now time.Time) {
	if p.cfg.Inline {
		w := p.workers[0]
		if !now.IsZero() && now.Sub(w.swept) > sweepEvery {
			w.sweep(now)
		}
		w.publish()
		return
	}
	for _, w := range p.workers {
		if w.cur == nil && !now.IsZero() {
			select {
			case w.cur = <-w.free:
			default:
			}
		}
		if w.cur == nil {
			continue
		}
		w.cur.tick, w.cur.wall = !now.IsZero(), now
		w.queue <- w.cur
		w.cur = nil
	}
}

// Health returns a snapshot of the pipeline's counters. Safe for concurrent use.
func (p *Pipeline) Health() Health {
	h := Health{
		Frames:         p.frames.Load(),
		Bytes:          p.bytes.Load(),
		NotTCP:         p.notTCP.Load(),
		Malformed:      p.malformed.Load(),
		QueueDrops:     p.queueDrops.Load(),
		KernelDrops:    p.kernelDrops.Load(),
		CaptureReopens: p.reopens.Load(),
		CaptureDown:    time.Duration(p.down.Load()),
		CaptureLost:    p.lost.Load(),
		SourceFinished: p.finished.Load(),
	}
	for _, w := range p.workers {
		w.health.addTo(&h)
	}
	return h
}

// flowHash is symmetric: both directions of a connection hash alike.
func flowHash(f sniff.Flow) uint32 {
	return endpointHash(f.Src) ^ endpointHash(f.Dst)
}

func endpointHash(ap netip.AddrPort) uint32 {
	a := ap.Addr().As16()
	h := uint32(2166136261)
	for _, c := range a {
		h = (h ^ uint32(c)) * 16777619
	}
	h = (h ^ uint32(ap.Port())) * 16777619
	return h ^ h>>15
}
