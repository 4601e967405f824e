package pipeline_test

import (
	"context"
	"encoding/binary"
	"io"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pipeline"
)

// This file is the harness of the hostile-input tests: a fake sniff.Source
// that synthesises Ethernet/IP/TCP frames, TCP conversation builders, a
// recording sink, and a runner that samples the pipeline's bounds while it
// works.

// pkt is one TCP segment to be framed by the fake source.
type pkt struct {
	flow    sniff.Flow
	seq     uint32
	ack     uint32
	flags   sniff.TCPFlags
	payload []byte
	ts      time.Time
	cut     int // bytes cut from the end of the captured frame (snap length)
}

// appendFrame appends p as an Ethernet II frame carrying IPv4 or IPv6 (by
// the address family of the flow) and a 20-byte TCP header. Checksums are
// zero: zktap does not verify them (offloaded checksums are often wrong
// in captures). The IP length fields declare the whole payload, so a cut
// frame is a snap-length truncation, not a shorter segment.
func appendFrame(b []byte, p *pkt) []byte {
	tcpLen := 20 + len(p.payload)
	// Ethernet: destination MAC, source MAC (locally administered).
	b = append(b, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1)
	if p.flow.Src.Addr().Is4() {
		b = binary.BigEndian.AppendUint16(b, 0x0800) // EtherType IPv4
		// version 4 + IHL 5, TOS, total length, id, flags DF + fragment
		// offset 0, TTL 64, protocol TCP, header checksum.
		b = append(b, 0x45, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(20+tcpLen))
		b = append(b, 0, 0, 0x40, 0, 64, 6, 0, 0)
		src, dst := p.flow.Src.Addr().As4(), p.flow.Dst.Addr().As4()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
	} else {
		b = binary.BigEndian.AppendUint16(b, 0x86dd) // EtherType IPv6
		// version 6, traffic class, flow label; payload length; next
		// header TCP; hop limit 64.
		b = append(b, 0x60, 0, 0, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(tcpLen))
		b = append(b, 6, 64)
		src, dst := p.flow.Src.Addr().As16(), p.flow.Dst.Addr().As16()
		b = append(b, src[:]...)
		b = append(b, dst[:]...)
	}
	// TCP: ports, sequence, acknowledgment, data offset 5 words, flags,
	// window, checksum, urgent pointer.
	b = binary.BigEndian.AppendUint16(b, p.flow.Src.Port())
	b = binary.BigEndian.AppendUint16(b, p.flow.Dst.Port())
	b = binary.BigEndian.AppendUint32(b, p.seq)
	b = binary.BigEndian.AppendUint32(b, p.ack)
	b = append(b, 5<<4, byte(p.flags), 0xff, 0xff, 0, 0, 0, 0)
	b = append(b, p.payload...)
	if p.cut > 0 {
		b = b[:len(b)-min(p.cut, len(p.payload))]
	}
	return b
}

// genSource is a sniff.Source whose frames come from next, built one at a
// time into a reused buffer, so a flood of a million segments costs no
// memory in the test itself.
type genSource struct {
	next   func(p *pkt) bool
	buf    []byte
	p      pkt
	frames atomic.Uint64
	bytes  atomic.Uint64
	closed atomic.Bool
}

func (s *genSource) ReadFrame() ([]byte, time.Time, sniff.LinkType, error) {
	if s.closed.Load() {
		return nil, time.Time{}, 0, io.ErrClosedPipe
	}
	s.p = pkt{}
	if !s.next(&s.p) {
		return nil, time.Time{}, 0, io.EOF
	}
	// Scribble over the previous frame first: a frame is valid only until
	// the next read, and a pipeline that kept a reference to it (the
	// inline path hands it to reassembly directly) must not see it intact.
	b := s.buf[:cap(s.buf)]
	for i := range b {
		b[i] = 0xa5
	}
	s.buf = appendFrame(s.buf[:0], &s.p)
	s.frames.Add(1)
	s.bytes.Add(uint64(len(s.buf)))
	return s.buf, s.p.ts, sniff.LinkEthernet, nil
}

func (s *genSource) Stats() sniff.Stats {
	return sniff.Stats{Frames: s.frames.Load(), Bytes: s.bytes.Load()}
}

func (s *genSource) Close() error { s.closed.Store(true); return nil }

// sliceSource replays pkts in order.
func sliceSource(pkts []pkt) *genSource {
	i := 0
	return &genSource{next: func(p *pkt) bool {
		if i == len(pkts) {
			return false
		}
		*p = pkts[i]
		i++
		return true
	}}
}

// clock hands out capture times 10 µs apart.
type clock struct{ t time.Time }

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) tick() time.Time { c.t = c.t.Add(10 * time.Microsecond); return c.t }

// tcpConn builds the segments of one TCP connection, tracking the next
// sequence number of each direction (indexed by proto.Dir).
type tcpConn struct {
	client, server netip.AddrPort
	next           [2]uint32
	clk            *clock
	out            func(pkt)
}

func newTCPConn(client, server netip.AddrPort, clk *clock, out func(pkt)) *tcpConn {
	// Initial sequence numbers near the wrap, so every test also crosses it.
	return &tcpConn{client: client, server: server, next: [2]uint32{0xffff_ff00, 0x7fff_fff0}, clk: clk, out: out}
}

func (c *tcpConn) flow(dir proto.Dir) sniff.Flow {
	if dir == proto.ToServer {
		return sniff.Flow{Src: c.client, Dst: c.server}
	}
	return sniff.Flow{Src: c.server, Dst: c.client}
}

// handshake sends SYN and SYN-ACK (the final ACK carries nothing zktap uses).
func (c *tcpConn) handshake() {
	c.out(pkt{flow: c.flow(proto.ToServer), seq: c.next[0], flags: sniff.SYN, ts: c.clk.tick()})
	c.next[0]++
	c.out(pkt{flow: c.flow(proto.ToClient), seq: c.next[1], ack: c.next[0], flags: sniff.SYN | sniff.ACK, ts: c.clk.tick()})
	c.next[1]++
}

// send sends b in dir, in segments of at most mss bytes.
func (c *tcpConn) send(dir proto.Dir, b []byte, mss int) {
	for len(b) > 0 {
		n := min(len(b), mss)
		c.out(pkt{flow: c.flow(dir), seq: c.next[dir], ack: c.next[1-dir], flags: sniff.ACK | sniff.PSH, payload: b[:n:n], ts: c.clk.tick()})
		c.next[dir] += uint32(n)
		b = b[n:]
	}
}

// close sends FIN both ways.
func (c *tcpConn) close() {
	for _, d := range []proto.Dir{proto.ToServer, proto.ToClient} {
		c.out(pkt{flow: c.flow(d), seq: c.next[d], ack: c.next[1-d], flags: sniff.FIN | sniff.ACK, ts: c.clk.tick()})
		c.next[d]++
	}
}

// msgKey is a comparable summary of one emitted message.
type msgKey struct {
	Proto    proto.Proto
	Kind     proto.Kind
	Op       string
	Src, Dst netip.AddrPort
	Xid      int32
	Zxid     int64
	Err      int32
	Size     int
	Time     int64  // capture time, ns since the Unix epoch
	Path     string // copied: the message's bytes are valid only during Emit
}

func keyOf(m *proto.Message) msgKey {
	return msgKey{Proto: m.Proto, Kind: m.Kind, Op: m.Op, Src: m.Src, Dst: m.Dst,
		Xid: m.Xid, Zxid: m.Zxid, Err: m.Err, Size: m.Size, Time: m.Time.UnixNano(), Path: string(m.Path)}
}

// untimed returns a copy of msgs without capture times, to compare runs
// whose packets were timed differently, ordered by direction (stable, so
// each direction keeps its own order: the interleaving of two directions
// depends on when each decoder could prove a frame).
func untimed(msgs []msgKey) []msgKey {
	out := make([]msgKey, len(msgs))
	for i, m := range msgs {
		m.Time = 0
		out[i] = m
	}
	slices.SortStableFunc(out, func(a, b msgKey) int {
		if c := a.Src.Compare(b.Src); c != 0 {
			return c
		}
		return a.Dst.Compare(b.Dst)
	})
	return out
}

// result is what one pipeline run produced.
type result struct {
	health      pipeline.Health
	ctr         *proto.Counters
	msgs        []msgKey // every message, when run with keep
	n           int      // messages emitted
	paired      int      // replies paired with their request
	maxBuffered uint64   // highest Health.BufferedBytes sampled during the run
	maxActive   uint64   // highest Health.FlowsActive sampled during the run
	liveAfter   int64    // live heap after the run and a GC, minus the base
}

// damage sums the decoder counters of every protocol except the ones a
// clean connection also produces at its end (unanswered requests).
func (r *result) damage() uint64 {
	var n uint64
	for p := proto.Proto(1); int(p) < proto.NumProtos; p++ {
		for rs := proto.Reason(0); int(rs) < proto.NumReasons; rs++ {
			if rs != proto.ReasonUnanswered {
				n += r.ctr.Get(p, rs)
			}
		}
	}
	return n
}

// counts returns the nonzero counters of p by token.
func (r *result) counts(p proto.Proto) map[string]uint64 {
	out := map[string]uint64{}
	for rs := proto.Reason(0); int(rs) < proto.NumReasons; rs++ {
		if n := r.ctr.Get(p, rs); n > 0 {
			out[rs.String()] = n
		}
	}
	return out
}

// recorder is the sink of one worker; only that worker calls it.
type recorder struct {
	msgs   []msgKey
	paired int
}

func (r *recorder) Emit(m *proto.Message) {
	r.msgs = append(r.msgs, keyOf(m))
	if m.Paired {
		r.paired++
	}
}

// countSink counts messages without keeping them, for floods.
type countSink struct{ n, paired int }

func (c *countSink) Emit(m *proto.Message) {
	c.n++
	if m.Paired {
		c.paired++
	}
}

// heapProbe measures live heap growth over a base taken when it is made.
// A source calls sample at quiet points: with the capture goroutine held
// in ReadFrame and the workers drained, a forced GC sees only live memory
// (a GC while workers allocate would also count what they allocate during
// the concurrent mark).
type heapProbe struct {
	base    uint64
	peak    uint64
	samples int
	p       *pipeline.Pipeline // set once running, to wait for its workers
}

func newHeapProbe() *heapProbe {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return &heapProbe{base: ms.HeapAlloc}
}

func (h *heapProbe) sample() {
	// Let the workers drain their queues: their published counters stop
	// moving (slow under the race detector, hence no fixed sleep).
	for deadline := time.Now().Add(10 * time.Second); h.p != nil && time.Now().Before(deadline); {
		before := h.p.Health()
		time.Sleep(20 * time.Millisecond)
		if h.p.Health() == before {
			break
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	h.samples++
	if ms.HeapAlloc > h.base {
		h.peak = max(h.peak, ms.HeapAlloc-h.base)
	}
}

// runOpts tune run.
type runOpts struct {
	keep  bool       // record every message (false: count only)
	heap  bool       // measure the live heap left after the run
	probe *heapProbe // sampled by the source; given the pipeline once it runs
}

// run drives src through a blocking pipeline and samples its bounds while
// it runs. It fails the test on a Run error or a decoder panic.
func run(t *testing.T, cfg pipeline.Config, src sniff.Source, o runOpts) *result {
	t.Helper()
	cfg.Blocking = true
	if cfg.Workers == 0 {
		cfg.Workers = 2
	}
	var (
		ctr    proto.Counters
		recs   = make([]*recorder, cfg.Workers)
		counts = make([]*countSink, cfg.Workers)
	)
	sink := func(i int) proto.Sink {
		if o.keep {
			recs[i] = &recorder{}
			return recs[i]
		}
		counts[i] = &countSink{}
		return counts[i]
	}
	var base runtime.MemStats
	if o.heap {
		runtime.GC()
		runtime.ReadMemStats(&base)
	}
	p := pipeline.New(cfg, sink, &ctr)
	if o.probe != nil {
		o.probe.p = p
	}
	res := &result{ctr: &ctr}

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tk := time.NewTicker(200 * time.Microsecond)
		defer tk.Stop()
		for {
			h := p.Health()
			res.maxBuffered = max(res.maxBuffered, h.BufferedBytes)
			res.maxActive = max(res.maxActive, h.FlowsActive)
			select {
			case <-done:
				return
			case <-tk.C:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := p.Run(ctx, src)
	close(done)
	wg.Wait()
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("Run did not finish: %v", ctx.Err())
	}
	res.health = p.Health()
	if o.heap {
		var after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&after)
		res.liveAfter = int64(after.HeapAlloc) - int64(base.HeapAlloc)
		runtime.KeepAlive(p)
	}
	for i := range cfg.Workers {
		if o.keep {
			res.msgs = append(res.msgs, recs[i].msgs...)
			res.n += len(recs[i].msgs)
			res.paired += recs[i].paired
		} else {
			res.n += counts[i].n
			res.paired += counts[i].paired
		}
	}
	if h := res.health; h.DecoderPanics != 0 {
		t.Errorf("decoder panics: %d (counters zk %v zab %v fle %v)", h.DecoderPanics,
			res.counts(proto.ZK), res.counts(proto.ZAB), res.counts(proto.FLE))
	}
	if res.health.BufferedBytes != 0 {
		t.Errorf("BufferedBytes after Run = %d, want 0 (every flow closed at the end)", res.health.BufferedBytes)
	}
	return res
}

// Protocol frame builders. Each returns bytes exactly as on the wire.

func i32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// ustr is a jute ustring: int32 length + bytes.
func ustr(s string) []byte { return append(i32(int32(len(s))), s...) }

// zkFrame prefixes body with its int32 length.
func zkFrame(body ...[]byte) []byte {
	b := cat(body...)
	return append(i32(int32(len(b))), b...)
}

// ZooKeeper opcodes used below.
const (
	opCreate       = 1
	opExists       = 3
	opGetData      = 4
	opSetData      = 5
	opPing         = 11
	opCloseSession = -11
)

// zkConnReq is a ConnectRequest: protocol version, lastZxidSeen, timeout,
// sessionId, 16-byte password, readOnly.
func zkConnReq() []byte {
	return zkFrame(i32(0), i64(0), i32(30000), i64(0), ustr("0123456789abcdef"), []byte{0})
}

// zkConnResp is a ConnectResponse: protocol version, timeout, sessionId,
// password, readOnly.
func zkConnResp(sid int64) []byte {
	return zkFrame(i32(0), i32(30000), i64(sid), ustr("0123456789abcdef"), []byte{0})
}

// zkStat is a 68-byte Stat.
func zkStat() []byte {
	return cat(i64(10), i64(11), i64(1700000000000), i64(1700000000001),
		i32(1), i32(2), i32(3), i64(0), i32(5), i32(0), i64(12))
}

// zkRequest returns request number i of a varied mix (exists, getData,
// setData, create, ping), its reply, and the request's opcode name.
func zkRequest(i int) (req, rep []byte, op string) {
	xid := int32(i + 1)
	path := ustr("/hostile/n" + string(rune('a'+i%26)))
	zxid := int64(0x100 + i)
	switch i % 5 {
	case 0:
		return zkFrame(i32(xid), i32(opExists), path, []byte{1}),
			zkFrame(i32(xid), i64(zxid), i32(0), zkStat()), "exists"
	case 1:
		return zkFrame(i32(xid), i32(opGetData), path, []byte{0}),
			zkFrame(i32(xid), i64(zxid), i32(0), ustr("hello"), zkStat()), "getData"
	case 2:
		return zkFrame(i32(xid), i32(opSetData), path, ustr("world"), i32(-1)),
			zkFrame(i32(xid), i64(zxid), i32(0), zkStat()), "setData"
	case 3:
		// CreateRequest: path, data, ACL vector (world:anyone ALL), flags.
		return zkFrame(i32(xid), i32(opCreate), path, ustr("x"), i32(1), i32(31), ustr("world"), ustr("anyone"), i32(0)),
			zkFrame(i32(xid), i64(zxid), i32(0), path), "create"
	default:
		return zkFrame(i32(-2), i32(opPing)), zkFrame(i32(-2), i64(zxid), i32(0)), "ping"
	}
}

// zkNotification is a watch event: xid -1, NodeDataChanged, SyncConnected.
func zkNotification(zxid int64) []byte {
	return zkFrame(i32(-1), i64(zxid), i32(0), i32(3), i32(3), ustr("/hostile/na"))
}

// zkClose is closeSession and its reply.
func zkClose(xid int32) (req, rep []byte) {
	return zkFrame(i32(xid), i32(opCloseSession)), zkFrame(i32(xid), i64(0x999), i32(0))
}

// zabPacket is a QuorumPacket {int type, long zxid, buffer data (null),
// vector<Id> authinfo (null)}.
func zabPacket(typ int32, zxid int64) []byte { return cat(i32(typ), i64(zxid), i32(-1), i32(-1)) }

// zabProposal is a PROPOSAL of a create of /p by session 0x42: TxnHeader
// {clientId, cxid, zxid (repeating the packet's), time, type create} +
// CreateTxn {path, data (null), acl (empty), ephemeral, parentCVersion}.
func zabProposal(zxid int64) []byte {
	data := cat(i64(0x42), i32(7), i64(zxid), i64(1700000000000), i32(opCreate),
		ustr("/p"), i32(-1), i32(0), []byte{0}, i32(1))
	return cat(i32(zabPropose), i64(zxid), i32(int32(len(data))), data, i32(-1))
}

// ZAB packet types used below.
const (
	zabPropose = 2
	zabAck     = 3
	zabCommit  = 4
	zabPing    = 5
)

// fleInitial is the old-protocol initial message: the dialer's server id.
func fleInitial(sid int64) []byte { return i64(sid) }

// fleNote is a 40-byte notification (state looking, leader, zxid,
// election epoch, peer epoch, version 1) with its length prefix.
func fleNote(leader, zxid int64) []byte {
	b := cat(i32(0), i64(leader), i64(zxid), i64(7), i64(3), i32(1))
	return append(i32(int32(len(b))), b...)
}
