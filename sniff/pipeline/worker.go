package pipeline

import (
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
	"github.com/zktap/zktap/sniff/reasm"
)

// batch carries segments from the capture goroutine to one worker. Payloads
// alias arena.
type batch struct {
	segs  []sniff.Segment
	arena []byte
	first time.Time // capture time of the first segment
	tick  bool      // also sweep idle flows at wall time
	wall  time.Time
}

// decoder is what every protocol decoder offers the pipeline.
type decoder interface {
	proto.ConnDecoder
	Reset(ep proto.Endpoints)
}

// connKey names a connection by its two ends, the server side second.
type connKey struct {
	client, server netip.AddrPort
}

// conn is one tracked TCP connection. Conns are reused through a free list
// per protocol so that new connections do not allocate in steady state.
type conn struct {
	key        connKey
	proto      proto.Proto
	dec        decoder
	streams    [2]reasm.Stream // indexed by proto.Dir
	consumers  [2]dirConsumer
	fin        [2]bool
	hasSyn     bool // the client's SYN was seen, with sequence number synSeq
	synSeq     uint32
	lastSeen   time.Time
	prev, next *conn // LRU list, most recent at head
}

// dirConsumer feeds one direction's reassembled bytes to the decoder.
type dirConsumer struct {
	c   *conn
	dir proto.Dir
}

func (d *dirConsumer) Consume(b []byte, ts time.Time) int { return d.c.dec.Feed(d.dir, b, ts) }
func (d *dirConsumer) Gap()                               { d.c.dec.Gap(d.dir) }

// workerHealth mirrors a worker's counters for Health; the worker stores
// them after each batch so readers never race with the packet path.
type workerHealth struct {
	active, opened, closed, idle, evicted, buffered, panics atomic.Uint64
	// reasm is copied under mu: storing a fresh pointer after every batch
	// allocated once per batch.
	mu    sync.Mutex
	reasm reasm.Stats
}

func (h *workerHealth) addTo(out *Health) {
	out.FlowsActive += h.active.Load()
	out.FlowsOpened += h.opened.Load()
	out.FlowsClosed += h.closed.Load()
	out.FlowsIdle += h.idle.Load()
	out.FlowsEvicted += h.evicted.Load()
	out.BufferedBytes += h.buffered.Load()
	out.DecoderPanics += h.panics.Load()
	h.mu.Lock()
	out.Reasm.Add(h.reasm)
	h.mu.Unlock()
}

type worker struct {
	p       *Pipeline
	id      int
	sink    proto.Sink
	flusher Flusher // sink, if it is one
	queue   chan *batch
	free    chan *batch
	cur     *batch // being filled by the capture goroutine (owned by it)

	flows    map[connKey]*conn
	maxFlows int
	// recent caches flows by client port in front of flows: hashing a
	// connKey (two netip.AddrPorts) cost more than the rest of lookup, and
	// a pipelining client's segments and their replies come in runs. An
	// entry is dropped with its conn (drop), so it is never stale.
	recent   [recentFlows]*conn
	head     *conn // most recently seen
	tail     *conn
	spare    [proto.NumProtos][]*conn
	budget   reasm.Budget
	rstats   reasm.Stats
	now      time.Time // latest capture time seen
	swept    time.Time
	health   workerHealth
	opened   uint64
	closed   uint64
	idled    uint64
	evicted  uint64
	panicked uint64

	// now and swept + sweepEvery as UnixNano, so that a segment costs two
	// integer compares instead of two calls of time.Time.After (1.5 % of
	// the serve path). Capture times (32-bit pcap seconds, kernel
	// timestamps) and wall times lie well inside UnixNano's range.
	nowNS, sweepDueNS int64
}

// recentFlows is the size of worker.recent: 256 direct-mapped slots keep
// dozens of busy connections' lookups off the map.
const (
	recentFlowsLog2 = 8
	recentFlows     = 1 << recentFlowsLog2
)

// flowSlot is the recent-flow slot of a client port: a multiplicative
// (Fibonacci) hash, because clients take ephemeral ports in steps that a
// plain modulo folds onto the same slots.
func flowSlot(port uint16) int {
	return int(uint32(port) * 0x9E3779B1 >> (32 - recentFlowsLog2))
}

func newWorker(p *Pipeline, id int, sink proto.Sink, budget int64, flows int) *worker {
	w := &worker{
		p: p, id: id, sink: sink,
		flows:    make(map[connKey]*conn),
		maxFlows: flows,
		// Before any time, as the zero now and sweep due time were.
		nowNS: math.MinInt64, sweepDueNS: math.MinInt64,
	}
	w.budget.Max = budget
	w.flusher, _ = sink.(Flusher)
	if p.cfg.Inline {
		return w // fed by the capture goroutine directly: no batches
	}
	w.queue = make(chan *batch, batchesPer)
	w.free = make(chan *batch, batchesPer)
	for range batchesPer {
		w.free <- &batch{segs: make([]sniff.Segment, 0, batchSegments), arena: make([]byte, 0, batchArena)}
	}
	return w
}

func (w *worker) run() {
	for b := range w.queue {
		for i := range b.segs {
			w.segment(&b.segs[i])
		}
		if b.tick && b.wall.Sub(w.swept) > sweepEvery {
			w.sweep(b.wall)
		}
		b.segs, b.arena, b.tick = b.segs[:0], b.arena[:0], false
		w.publish()
		w.free <- b
	}
	w.finish()
}

// finish closes every flow once the source has ended, so that pending
// requests are counted.
func (w *worker) finish() {
	for w.tail != nil {
		w.close(w.tail, w.now)
	}
	w.publish()
}

// publish makes the worker's counters visible to Health and flushes its
// sink: see Flusher for when.
func (w *worker) publish() {
	if w.flusher != nil {
		w.flusher.Flush()
	}
	w.health.active.Store(uint64(len(w.flows)))
	w.health.opened.Store(w.opened)
	w.health.closed.Store(w.closed)
	w.health.idle.Store(w.idled)
	w.health.evicted.Store(w.evicted)
	w.health.buffered.Store(uint64(w.budget.Used()))
	w.health.panics.Store(w.panicked)
	w.health.mu.Lock()
	w.health.reasm = w.rstats
	w.health.mu.Unlock()
}

// segment handles one TCP segment. A decoder panic is a bug; it is counted
// and the flow dropped rather than taking the whole sidecar down.
func (w *worker) segment(seg *sniff.Segment) {
	var c *conn
	defer func() {
		if r := recover(); r != nil {
			w.panicked++
			w.p.ctr.Count(protoOf(c), proto.ReasonDecoderPanic)
			if c != nil {
				w.drop(c)
			}
		}
	}()
	if ns := seg.Time.UnixNano(); ns > w.nowNS {
		w.now, w.nowNS = seg.Time, ns
	}
	var dir proto.Dir
	c, dir = w.lookup(seg)
	if c == nil {
		return
	}
	c.lastSeen = w.now
	w.touch(c)
	other := 1 - dir
	if seg.Flags&sniff.ACK != 0 {
		// The peer's acknowledgement settles holes in the other direction
		// first, so its requests are decoded before this segment's replies.
		c.streams[other].Acked(seg.Ack, &c.consumers[other])
	}
	c.streams[dir].Add(seg, &c.consumers[dir])
	if seg.Flags&sniff.FIN != 0 {
		c.fin[dir] = true
	}
	if seg.Flags&sniff.RST != 0 || (c.fin[0] && c.fin[1]) {
		w.closed++
		w.close(c, seg.Time)
	}
	if w.nowNS > w.sweepDueNS {
		w.sweep(w.now)
	}
}

func protoOf(c *conn) proto.Proto {
	if c == nil {
		return proto.ZK
	}
	return c.proto
}

// lookup finds or creates the connection of seg. New connections are made
// only for a SYN or a segment carrying data: bare ACKs and RSTs of unknown
// flows create no state.
func (w *worker) lookup(seg *sniff.Segment) (*conn, proto.Dir) {
	server, client, dir := seg.Flow.Dst, seg.Flow.Src, proto.ToServer
	if w.p.server[server.Port()] == 0 {
		server, client, dir = seg.Flow.Src, seg.Flow.Dst, proto.ToClient
	}
	key := connKey{client: client, server: server}
	slot := &w.recent[flowSlot(client.Port())]
	c := *slot
	if c == nil || c.key.client != key.client || c.key.server != key.server {
		// (Two AddrPort compares inline; connKey's == was a call.)
		c = w.flows[key]
	}
	if c != nil {
		if seg.Flags&sniff.SYN != 0 && seg.Flags&sniff.ACK == 0 && dir == proto.ToServer && !(c.hasSyn && c.synSeq == seg.Seq) {
			// A new SYN (not a retransmitted one) on a known 4-tuple:
			// the old connection is gone.
			w.closed++
			w.close(c, seg.Time)
		} else {
			*slot = c
			return c, dir
		}
	}
	if seg.Flags&(sniff.SYN) == 0 && len(seg.Payload) == 0 {
		return nil, dir
	}
	if len(w.flows) >= w.maxFlows {
		w.evicted++
		w.close(w.tail, seg.Time)
	}
	pr := w.p.server[server.Port()]
	c = w.newConn(pr)
	c.key = key
	c.lastSeen = w.now
	c.dec.Reset(proto.Endpoints{Client: client, Server: server, FromStart: seg.Flags&sniff.SYN != 0})
	if seg.Flags&sniff.SYN != 0 && dir == proto.ToServer {
		c.hasSyn, c.synSeq = true, seg.Seq
	}
	w.flows[key] = c
	*slot = c
	w.pushFront(c)
	w.opened++
	return c, dir
}

func (w *worker) newConn(pr proto.Proto) *conn {
	if n := len(w.spare[pr]); n > 0 {
		c := w.spare[pr][n-1]
		w.spare[pr] = w.spare[pr][:n-1]
		return c
	}
	c := &conn{proto: pr}
	switch pr {
	case proto.ZAB:
		c.dec = zab.NewDecoder(w.p.cfg.ZAB, w.sink, w.p.ctr)
	case proto.FLE:
		c.dec = fle.NewDecoder(w.p.cfg.FLE, w.sink, w.p.ctr)
	default:
		c.dec = zk.NewDecoder(w.p.cfg.ZK, w.sink, w.p.ctr)
	}
	for d := range c.streams {
		c.streams[d].Init(w.p.cfg.Reasm, &w.budget, &w.rstats)
		c.consumers[d] = dirConsumer{c: c, dir: proto.Dir(d)}
	}
	return c
}

// close ends c: flushes what reassembly holds, lets the decoder count what
// is still pending, and returns c to the free list.
func (w *worker) close(c *conn, ts time.Time) {
	for d := range c.streams {
		c.streams[d].Flush(&c.consumers[d])
	}
	c.dec.Close(ts)
	w.drop(c)
}

// drop forgets c without flushing (used after a decoder panic too).
func (w *worker) drop(c *conn) {
	if w.flows[c.key] != c {
		return
	}
	delete(w.flows, c.key)
	if s := &w.recent[flowSlot(c.key.client.Port())]; *s == c {
		*s = nil
	}
	w.unlink(c)
	for d := range c.streams {
		c.streams[d].Reset()
	}
	c.fin, c.hasSyn = [2]bool{}, false
	if len(w.spare[c.proto]) < 1024 {
		w.spare[c.proto] = append(w.spare[c.proto], c)
	}
}

// sweep closes flows idle longer than the timeout, oldest first.
func (w *worker) sweep(now time.Time) {
	w.swept, w.sweepDueNS = now, now.Add(sweepEvery).UnixNano()
	for w.tail != nil && now.Sub(w.tail.lastSeen) > w.p.cfg.IdleTimeout {
		w.idled++
		w.close(w.tail, now)
	}
}

func (w *worker) pushFront(c *conn) {
	c.prev, c.next = nil, w.head
	if w.head != nil {
		w.head.prev = c
	}
	w.head = c
	if w.tail == nil {
		w.tail = c
	}
}

func (w *worker) unlink(c *conn) {
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		w.head = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		w.tail = c.prev
	}
	c.prev, c.next = nil, nil
}

func (w *worker) touch(c *conn) {
	if w.head == c {
		return
	}
	w.unlink(c)
	w.pushFront(c)
}
