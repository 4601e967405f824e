package pipeline

import (
	"context"
	"encoding/binary"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff"
)

// convSource is a live-like sniff.Source replaying one client connection:
// a handshake, then exists requests and their replies, rewritten in place
// with fresh sequence numbers and xids. Frames are spaced by gap of
// capture time. It returns io.EOF after limit frames (0: never), and
// before each frame waits for allow (if not nil) to grant more; when a
// grant is used up it returns one timeout first, as a quiet link does.
type convSource struct {
	gap        time.Duration
	limit      int
	allow      chan int
	atEnd      func() // called once before io.EOF
	left       int
	timedOut   bool
	n          int
	ts         time.Time
	cseq, sseq uint32
	xid        int32
	hs         [][]byte // handshake frames still to send
	req, rep   []byte
	returned   []time.Time // when each frame was handed out, if non-nil
}

func newConvSource(gap time.Duration, limit int) *convSource {
	s := &convSource{gap: gap, limit: limit, ts: time.Unix(1700000000, 0), cseq: 1000, sseq: 5000}
	conn := binary.BigEndian.AppendUint32(nil, 44) // ConnectRequest: length 44
	conn = append(conn, make([]byte, 20)...)       // protocolVersion, lastZxidSeen, timeOut 0
	conn = append(conn, make([]byte, 8)...)        // sessionId 0
	conn = binary.BigEndian.AppendUint32(conn, 16) // passwd length
	conn = append(conn, make([]byte, 16)...)
	binary.BigEndian.PutUint32(conn[4+12:], 30000)              // timeOut
	resp := binary.BigEndian.AppendUint32(nil, 36)              // ConnectResponse
	resp = append(resp, 0, 0, 0, 0, 0, 0, 0x75, 0x30)           // protocolVersion, timeOut 30000
	resp = binary.BigEndian.AppendUint64(resp, 0x100000000abcd) // sessionId
	resp = binary.BigEndian.AppendUint32(resp, 16)
	resp = append(resp, make([]byte, 16)...)
	s.hs = [][]byte{
		frame(clientAP, serverAP, s.cseq-1, 0, sniff.SYN, nil),
		frame(serverAP, clientAP, s.sseq-1, s.cseq, sniff.SYN|sniff.ACK, nil),
		frame(clientAP, serverAP, s.cseq, s.sseq, sniff.PSH|sniff.ACK, conn),
		frame(serverAP, clientAP, s.sseq, s.cseq+uint32(len(conn)), sniff.PSH|sniff.ACK, resp),
	}
	s.cseq += uint32(len(conn))
	s.sseq += uint32(len(resp))
	s.req = frame(clientAP, serverAP, 0, 0, sniff.PSH|sniff.ACK, existsRequest(1, "/zktap/bench/node"))
	s.rep = frame(serverAP, clientAP, 0, 0, sniff.PSH|sniff.ACK, existsReply(1, 42))
	return s
}

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "test: read timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true } // a net.Error, as a live source's

func (s *convSource) ReadFrame() ([]byte, time.Time, sniff.LinkType, error) {
	if s.limit > 0 && s.n == s.limit {
		if s.atEnd != nil {
			s.atEnd()
			s.atEnd = nil
		}
		return nil, time.Time{}, 0, io.EOF
	}
	if s.allow != nil && s.left == 0 {
		if !s.timedOut {
			s.timedOut = true
			return nil, time.Time{}, 0, timeoutErr{}
		}
		n, ok := <-s.allow
		if !ok {
			return nil, time.Time{}, 0, io.EOF
		}
		s.left, s.timedOut = n, false
	}
	s.left--
	s.n++
	s.ts = s.ts.Add(s.gap)
	if s.returned != nil {
		s.returned = append(s.returned, time.Now())
	}
	if len(s.hs) > 0 {
		f := s.hs[0]
		s.hs = s.hs[1:]
		return f, s.ts, sniff.LinkEthernet, nil
	}
	const seqOff, xidOff = 14 + 20 + 4, 14 + 20 + 20 + 4
	if s.n%2 == 1 {
		s.xid++
		binary.BigEndian.PutUint32(s.req[seqOff:], s.cseq)
		binary.BigEndian.PutUint32(s.req[xidOff:], uint32(s.xid))
		s.cseq += uint32(len(s.req) - 54)
		return s.req, s.ts, sniff.LinkEthernet, nil
	}
	binary.BigEndian.PutUint32(s.rep[seqOff:], s.sseq)
	binary.BigEndian.PutUint32(s.rep[xidOff:], uint32(s.xid))
	s.sseq += uint32(len(s.rep) - 54)
	return s.rep, s.ts, sniff.LinkEthernet, nil
}

func (s *convSource) Stats() sniff.Stats { return sniff.Stats{} }
func (s *convSource) Close() error       { return nil }

// gateSink counts messages; the first Emit waits for release (if set), a
// stalled worker, and replies are signalled on done once want is reached.
type gateSink struct {
	release           chan struct{}
	requests, replies atomic.Int64
	want              atomic.Int64
	done              chan struct{}
}

func (g *gateSink) Emit(m *proto.Message) {
	if g.release != nil {
		<-g.release
		g.release = nil
	}
	switch m.Kind {
	case proto.Request:
		g.requests.Add(1)
	case proto.Reply:
		if n := g.replies.Add(1); g.done != nil && n == g.want.Load() {
			g.done <- struct{}{}
		}
	}
}

// TestStalledWorkerLowRate: a worker that stalls while traffic trickles in
// (one frame every 10 ms of capture time) loses nothing while the
// segments fit its batches, however long the stall lasts in capture time.
// The old batching handed over a batch every 20 ms and kept 8 per worker,
// so this stall of 70 s of traffic dropped after 160 ms.
func TestStalledWorkerLowRate(t *testing.T) {
	const frames = 4 + 7000
	release := make(chan struct{})
	sink := &gateSink{release: release}
	src := newConvSource(10*time.Millisecond, frames)
	src.atEnd = func() { close(release) }
	p := New(Config{}, func(int) proto.Sink { return sink }, &proto.Counters{})
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	h := p.Health()
	got := [4]int64{int64(h.QueueDrops), int64(h.Frames), sink.requests.Load(), sink.replies.Load()}
	want := [4]int64{0, frames, 1 + 3500, 1 + 3500} // connect + exists each way
	if got != want {
		t.Errorf("queue drops, frames, requests, replies = %v, want %v", got, want)
	}
}

// TestStalledWorkerBound: past its batches, a stalled worker's segments are
// dropped and counted, not queued without bound.
func TestStalledWorkerBound(t *testing.T) {
	const frames = 4 + 20000
	release := make(chan struct{})
	sink := &gateSink{release: release}
	src := newConvSource(time.Millisecond, frames)
	src.atEnd = func() { close(release) }
	p := New(Config{}, func(int) proto.Sink { return sink }, &proto.Counters{})
	if err := p.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	h := p.Health()
	if min, max := uint64(frames-batchesPer*batchSegments), uint64(frames-batchesPer*batchSegments/2); h.QueueDrops < min || h.QueueDrops > max {
		t.Errorf("queue drops %d, want %d..%d (all but the worker's %d batches of %d)", h.QueueDrops, min, max, batchesPer, batchSegments)
	}
}

// TestPipelineSteadyStateAllocs: the whole live path, capture goroutine
// (parse, dispatch into batches, hand-off), worker (flow, reassembly,
// decode) and back, allocates nothing per packet once going, including the
// hand-off of partly filled batches when the source pauses.
// Inline, the capture goroutine decoding itself, allocates nothing either.
func TestPipelineSteadyStateAllocs(t *testing.T) {
	t.Run("worker", func(t *testing.T) { testPipelineSteadyStateAllocs(t, Config{}) })
	t.Run("inline", func(t *testing.T) { testPipelineSteadyStateAllocs(t, Config{Inline: true}) })
}

func testPipelineSteadyStateAllocs(t *testing.T, cfg Config) {
	sink := &gateSink{done: make(chan struct{}, 1)}
	src := newConvSource(100*time.Microsecond, 0)
	src.allow = make(chan int)
	p := New(cfg, func(int) proto.Sink { return sink }, &proto.Counters{})
	errc := make(chan error, 1)
	go func() { errc <- p.Run(context.Background(), src) }()
	const grant = 1000 // 500 request/reply pairs per run
	step := func(n int) {
		select {
		case src.allow <- n:
		case err := <-errc:
			t.Fatalf("pipeline stopped: %v", err)
		}
		<-sink.done
	}
	round := func() {
		sink.want.Add(grant / 2)
		step(grant)
	}
	sink.want.Store(1) // the connect reply
	step(4)
	for range 50 {
		round()
	}
	allocs := testing.AllocsPerRun(100, round)
	close(src.allow)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if allocs != 0 {
		t.Errorf("%d packets through the pipeline allocate %v times, want 0", grant, allocs)
	}
	if want := int64(1 + 151*grant/2); sink.replies.Load() != want {
		t.Errorf("replies %d, want %d", sink.replies.Load(), want)
	}
}
