package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pcapsrc"
	"github.com/zktap/zktap/sniff/pipeline"
)

// stageCapture is a capture under testdata and the ports it was taken on.
type stageCapture struct {
	path string
	cfg  pipeline.Config
}

// stageCaptures lists every capture under testdata: the real ZooKeeper's
// (ensemble ZAB and FLE included) and zktraffic's.
func stageCaptures(t *testing.T) []stageCapture {
	t.Helper()
	var out []stageCapture
	for _, dir := range []struct {
		glob string
		cfg  pipeline.Config
	}{
		{filepath.Join("..", "..", "testdata", "captures", "*.pcap"), pipeline.Config{}},
		{filepath.Join("..", "..", "testdata", "zktraffic", "*.pcap"), zktrafficPorts},
	} {
		files, err := filepath.Glob(dir.glob)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			out = append(out, stageCapture{f, dir.cfg})
		}
	}
	if len(out) < 25 {
		t.Fatalf("found %d captures under testdata, want the 8 real and 19 zktraffic ones", len(out))
	}
	return out
}

// dumpResult is what a dump produced and logs at its end.
type dumpResult struct {
	out    []byte
	health pipeline.Health
	ctr    [proto.NumProtos][proto.NumReasons]uint64
	err    error
}

// runDump dumps a capture file in one stage or two, the way `zktap dump
// --pcap` does (one worker, inline, blocking), through w if not nil.
func runDump(t *testing.T, ctx context.Context, src sniff.Source, o DumpOptions, staged bool, w io.Writer) dumpResult {
	t.Helper()
	o.Pipeline.Workers, o.Pipeline.Inline, o.Pipeline.Blocking = 1, true, true
	var out bytes.Buffer
	if w == nil {
		w = &out
	}
	var ctr proto.Counters
	h, err := dump(ctx, &source{Source: src}, &o, w, &ctr, staged)
	r := dumpResult{out: out.Bytes(), health: h, err: err}
	for p := range proto.NumProtos {
		for c := range proto.NumReasons {
			r.ctr[p][c] = ctr.Get(proto.Proto(p), proto.Reason(c))
		}
	}
	return r
}

func openPcap(t *testing.T, path string) sniff.Source {
	t.Helper()
	src, err := pcapsrc.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

// compareDumps fails t unless the two dumps wrote the same bytes and
// ended with the same health, counters and error.
func compareDumps(t *testing.T, one, two dumpResult) {
	t.Helper()
	if !bytes.Equal(one.out, two.out) {
		t.Errorf("two-stage output differs from one-stage output (%d vs %d bytes); first difference:\n%s",
			len(one.out), len(two.out), firstDiff(one.out, two.out))
	}
	if diff := cmp.Diff(one.health, two.health); diff != "" {
		t.Errorf("health (-one +two):\n%s", diff)
	}
	if one.ctr != two.ctr {
		t.Errorf("decoder counters differ:\none %v\ntwo %v", one.ctr, two.ctr)
	}
	if fmt.Sprint(one.err) != fmt.Sprint(two.err) {
		t.Errorf("error: one stage %v, two stages %v", one.err, two.err)
	}
}

// firstDiff shows the first line where a and b differ.
func firstDiff(a, b []byte) string {
	la, lb := bytes.SplitAfter(a, []byte("\n")), bytes.SplitAfter(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return fmt.Sprintf("line %d:\n  one %q\n  two %q", i+1, la[i], lb[i])
		}
	}
	return fmt.Sprintf("one has %d lines, two %d", len(la), len(lb))
}

// TestDumpStagedSameBytes dumps every capture under testdata in one stage
// and in two, as JSON and as text, with and without filters, and checks
// that the bytes written, the health and the decoder counters are the same.
func TestDumpStagedSameBytes(t *testing.T) {
	filters := []struct {
		name string
		f    render.Filter
		opts render.Options
	}{
		{"default", render.Filter{}, render.Options{}},
		{"pings+text", render.Filter{IncludePings: true}, render.Options{ShowText: true}},
		{"path", render.Filter{PathPrefix: "/zkload/kids", IncludePings: true}, render.Options{}},
		{"ops", render.Filter{Ops: []string{"multi", "getData", "auth", "notification", "srvr", "stat", "proposal"}}, render.Options{}},
		{"proto", render.Filter{Protos: []proto.Proto{proto.FLE, proto.ZAB, proto.FourLetter}}, render.Options{ShowText: true}},
		{"latency", render.Filter{MinLatency: time.Millisecond}, render.Options{}},
	}
	var total, filtered int
	for _, c := range stageCaptures(t) {
		for _, json := range []bool{true, false} {
			for _, f := range filters {
				name := fmt.Sprintf("%s/json=%v/%s", filepath.Base(c.path), json, f.name)
				t.Run(name, func(t *testing.T) {
					o := DumpOptions{JSON: json, Filter: f.f, Render: f.opts, Pipeline: c.cfg}
					one := runDump(t, context.Background(), openPcap(t, c.path), o, false, nil)
					two := runDump(t, context.Background(), openPcap(t, c.path), o, true, nil)
					compareDumps(t, one, two)
					if one.err != nil {
						t.Errorf("dump: %v", one.err)
					}
					total += len(one.out)
					if f.name != "default" {
						filtered += len(one.out)
					}
				})
			}
		}
	}
	if total < 10<<20 || filtered == 0 {
		t.Errorf("the dumps wrote %d bytes, %d of them filtered: the comparison proved little", total, filtered)
	}
}

// TestDumpStagedMessages feeds a two-stage sink messages the captures do
// not have: paths larger than a batch's byte room, multis with more
// sub-operations than a batch holds, runs of long paths that end batches
// before their message limit, empty and nil paths and Subs, and messages
// the filter drops. Like a decoder, it reuses one Message and one buffer,
// and overwrites them after each Emit. The lines must be those of the
// one-stage sink, and every batch must come back.
func TestDumpStagedMessages(t *testing.T) {
	base := dumpMessages()[0]
	var m proto.Message
	buf := make([]byte, 0, 3*stageBytes)
	subs := make([]proto.SubOp, 0, 3*stageSubs)
	var want, got bytes.Buffer
	for _, filter := range []render.Filter{{}, {PathPrefix: "/p"}} {
		o := DumpOptions{JSON: true, Filter: filter}
		var mu sync.Mutex
		one := newDumpSink(&o, &mu, &want, false)
		two := newStageSink(&o, &mu, &got)
		for i := range 30000 {
			m = base
			m.Xid = int32(i)
			buf, subs = buf[:0], subs[:0]
			switch {
			case i%997 == 5: // larger than a batch's byte room
				buf = append(buf, "/p/"...)
				for len(buf) < 2*stageBytes+i%100 {
					buf = append(buf, "0123456789"...)
				}
				m.Path = buf
			case i%1009 == 7: // more sub-operations than a batch holds
				m.Op, m.Path = "multi", nil
				for j := range stageSubs + 100 + i%50 {
					subs = append(subs, proto.SubOp{Op: "delete", Path: fmt.Appendf(buf[len(buf):], "/p/sub/%d", j)})
					buf = buf[:len(buf)+len(subs[j].Path)]
				}
				m.ZK.Sub = subs
			case i%3 == 0: // long paths: the byte room ends batches
				m.Path = fmt.Appendf(buf, "/p/%0*d", 300+i%200, i)
			case i%7 == 1:
				m.Path = buf[:0] // empty, not nil: rendered as "path":""
			case i%7 == 2:
				m.Path, m.ZK.Sub = nil, subs[:0] // an empty Sub, as decoders keep it
			case i%11 == 3:
				m.Op = "ping" // hidden
			default:
				m.Path = fmt.Appendf(buf, "/q/%d", i)
			}
			one.Emit(&m)
			two.Emit(&m)
			// The decoder's buffers change after Emit.
			clear(buf[:max(len(buf), len(m.Path))])
			for i := range m.ZK.Sub {
				m.ZK.Sub[i] = proto.SubOp{Op: "clobbered", Path: []byte("/clobbered")}
			}
		}
		two.close()
		one.write()
		for _, q := range drain(t, two) {
			if q.Len() != 0 {
				t.Errorf("a batch came back with %d messages", q.Len())
			}
		}
	}
	if want.Len() < 4*stageBytes {
		t.Fatalf("one-stage output is %d bytes: the test proves little", want.Len())
	}
	if !bytes.Equal(want.Bytes(), got.Bytes()) {
		t.Errorf("two-stage output differs (%d vs %d bytes):\n%s", want.Len(), got.Len(), firstDiff(want.Bytes(), got.Bytes()))
	}
}

// drain takes every batch of a closed stage sink, all of which must be
// back in its free list.
func drain(t *testing.T, s *stageSink) []*proto.MessageQueue {
	t.Helper()
	var out []*proto.MessageQueue
	for range stageBatches {
		select {
		case q := <-s.free:
			out = append(out, q)
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d batches came back after close", len(out), stageBatches)
		}
	}
	return out
}

// TestDumpStagedNoAlloc: in steady state a two-stage dump allocates
// nothing per message, in either stage: the copy goes into a batch's own
// storage, the batches cycle, and stage 2 renders into its own buffer.
// AllocsPerRun counts the allocations of every goroutine, stage 2's too.
func TestDumpStagedNoAlloc(t *testing.T) {
	for _, json := range []bool{true, false} {
		o := DumpOptions{JSON: json}
		var mu sync.Mutex
		s := newStageSink(&o, &mu, io.Discard)
		msgs := dumpMessages()
		i := 0
		emit := func() {
			s.Emit(&msgs[i%len(msgs)])
			i++
		}
		for range 4 * stageBatches * stageMessages { // every batch used
			emit()
		}
		if n := testing.AllocsPerRun(20*stageMessages, emit); n != 0 {
			t.Errorf("json=%v: stageSink.Emit allocates %v times per message", json, n)
		}
		s.close()
	}
}

// failingSource is a capture that fails with a read error after n frames.
type failingSource struct {
	sniff.Source
	n int
}

var errRead = errors.New("test: read failed")

func (s *failingSource) ReadFrame() ([]byte, time.Time, sniff.LinkType, error) {
	if s.n == 0 {
		return nil, time.Time{}, 0, errRead
	}
	s.n--
	return s.Source.ReadFrame()
}

// cancelSource is a capture that cancels a context when it has returned
// n frames, and then fails as the source the pipeline closes on
// cancellation does.
type cancelSource struct {
	sniff.Source
	n      int
	cancel context.CancelFunc
}

func (s *cancelSource) ReadFrame() ([]byte, time.Time, sniff.LinkType, error) {
	if s.n == 0 {
		s.cancel()
		return nil, time.Time{}, 0, net.ErrClosed
	}
	s.n--
	return s.Source.ReadFrame()
}

// brokenWriter fails every write.
type brokenWriter struct{ writes int }

func (w *brokenWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, errors.New("test: broken pipe")
}

// waitGoroutines waits until no more than n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for range 200 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines run, %d before the dump: one was left behind", runtime.NumGoroutine(), n)
}

// TestDumpStagedEnds: a two-stage dump cancelled in the middle, or whose
// source fails, or whose output fails, returns as the one-stage dump does,
// having written what it had decoded, and leaves no goroutine behind.
func TestDumpStagedEnds(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "captures", "workload.pcap")
	o := DumpOptions{JSON: true, Filter: render.Filter{IncludePings: true}}
	full := runDump(t, context.Background(), openPcap(t, path), o, false, nil)

	t.Run("cancel", func(t *testing.T) {
		before := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		r := runDump(t, ctx, &cancelSource{openPcap(t, path), 1000, cancel}, o, true, nil)
		if r.err != nil {
			t.Errorf("cancelled dump: %v, want nil as the one-stage dump", r.err)
		}
		if n := len(r.out); n == 0 || n >= len(full.out) || !bytes.HasPrefix(full.out, r.out) || r.out[n-1] != '\n' {
			t.Errorf("cancelled dump wrote %d of %d bytes; want whole lines, a proper prefix of the full dump", n, len(full.out))
		}
		waitGoroutines(t, before)
	})
	t.Run("read error", func(t *testing.T) {
		before := runtime.NumGoroutine()
		one := runDump(t, context.Background(), &failingSource{openPcap(t, path), 2000}, o, false, nil)
		two := runDump(t, context.Background(), &failingSource{openPcap(t, path), 2000}, o, true, nil)
		compareDumps(t, one, two)
		if !errors.Is(two.err, errRead) || len(two.out) == 0 || len(two.out) >= len(full.out) {
			t.Errorf("failed dump: err %v, %d of %d bytes; want the read error and the lines before it", two.err, len(two.out), len(full.out))
		}
		waitGoroutines(t, before)
	})
	t.Run("write error", func(t *testing.T) {
		// Write errors are ignored, as the one-stage dump ignores them:
		// the dump decodes to the end (a closed stdout ends the process
		// with SIGPIPE first).
		before := runtime.NumGoroutine()
		var w1, w2 brokenWriter
		one := runDump(t, context.Background(), openPcap(t, path), o, false, &w1)
		two := runDump(t, context.Background(), openPcap(t, path), o, true, &w2)
		compareDumps(t, one, two)
		if w1.writes != w2.writes || w2.writes < 2 || two.health != full.health {
			t.Errorf("writes: one stage %d, two stages %d; health %+v, want %+v", w1.writes, w2.writes, two.health, full.health)
		}
		waitGoroutines(t, before)
	})
}

// gatedFile is a capture file in memory whose reads past its first
// bytes wait until open is closed, closing waiting first. It has a Size,
// as a file has, so that pcapsrc reads it ahead.
type gatedFile struct {
	*bytes.Reader
	first   int64
	open    chan struct{}
	waiting chan struct{}
	once    sync.Once
}

func (f *gatedFile) Read(p []byte) (int, error) {
	if f.Size()-int64(f.Len()) >= f.first {
		f.once.Do(func() { close(f.waiting) })
		<-f.open
	}
	return f.Reader.Read(p)
}

// TestDumpStagedReadAhead: a two-stage dump reads a file larger than a
// chunk ahead (pcapsrc.Source.ReadAhead). Cancelled while the goroutine
// reading ahead waits in a read, the dump returns at once what it had
// decoded, as without read-ahead, and the pipeline's Close of the source
// ends that goroutine once its read returns.
func TestDumpStagedReadAhead(t *testing.T) {
	path := filepath.Join("..", "..", "testdata", "captures", "dropped.pcap") // 2.7 MB
	o := DumpOptions{JSON: true}
	full := runDump(t, context.Background(), openPcap(t, path), o, false, nil)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	file := &gatedFile{Reader: bytes.NewReader(data), first: 3 << 19, open: make(chan struct{}), waiting: make(chan struct{})}
	src, err := pcapsrc.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	returned := make(chan struct{})
	var opened atomic.Bool
	go func() {
		<-file.waiting
		time.Sleep(50 * time.Millisecond) // stage 1 decodes what was read, and waits
		cancel()
		select {
		case <-returned:
		case <-time.After(2 * time.Second): // a dump that waits for the read
		}
		opened.Store(true)
		close(file.open)
	}()
	r := runDump(t, ctx, src, o, true, nil)
	if opened.Load() {
		t.Error("the cancelled dump returned only once the read it waited for did: it did not read ahead")
	}
	close(returned)
	read, _ := src.Progress()
	if r.err != nil {
		t.Errorf("cancelled dump: %v, want nil as the one-stage dump", r.err)
	}
	if n := len(r.out); n == 0 || n >= len(full.out) || !bytes.HasPrefix(full.out, r.out) || r.out[n-1] != '\n' {
		t.Errorf("cancelled dump wrote %d of %d bytes; want whole lines, a proper prefix of the full dump", n, len(full.out))
	}
	// The file was read ahead: further than the bytes of the frames the
	// dump decoded, which are not past the gate.
	if read < file.first {
		t.Errorf("%d bytes were read when the dump was cancelled, want %d or more: the dump did not read ahead", read, file.first)
	}
	waitGoroutines(t, before)
}

// TestLineFilter: a sink's filter hides what render.Filter.Match leaves
// out, pings included, whether the filter is selective or not.
func TestLineFilter(t *testing.T) {
	filters := []render.Filter{
		{},
		{IncludePings: true},
		{PathPrefix: "/a"},
		{PathPrefix: "/a", IncludePings: true},
		{Ops: []string{"ping", "exists"}},
		{Protos: []proto.Proto{proto.ZAB}},
	}
	var msgs []proto.Message
	for _, p := range []proto.Proto{proto.ZK, proto.ZAB, proto.FLE, proto.FourLetter} {
		for _, op := range []string{"ping", "exists", "pingx", "pin", ""} {
			for _, path := range []string{"", "/a/b", "/b"} {
				var m proto.Message
				m.Reset()
				m.Proto, m.Kind, m.Op = p, proto.Request, op
				if path != "" {
					m.Path = []byte(path)
				}
				msgs = append(msgs, m)
			}
		}
	}
	for _, f := range filters {
		l := newLineFilter(&f)
		hidden := 0
		for i := range msgs {
			m := &msgs[i]
			if got, want := l.hides(m), !f.Match(m); got != want {
				t.Errorf("filter %+v, %s %q path %q: hides %v, Match %v", f, m.Proto, m.Op, m.Path, got, !want)
			}
			if l.hides(m) {
				hidden++
			}
		}
		if hidden == 0 && !f.IncludePings {
			t.Errorf("filter %+v hid none of %d messages: the test proves little", f, len(msgs))
		}
	}
}

// TestTwoStages: only a file's dump with one worker and more than one P
// runs in two stages.
func TestTwoStages(t *testing.T) {
	tests := []struct {
		live           bool
		workers, procs int
		want           bool
	}{
		{false, 1, 2, true},
		{false, 0, 8, true}, // 0 workers is the default, 1
		{true, 1, 2, false},
		{false, 1, 1, false},
		{false, 2, 2, false},
		{true, 4, 4, false},
	}
	for _, tt := range tests {
		if got := twoStages(tt.live, tt.workers, tt.procs); got != tt.want {
			t.Errorf("twoStages(live %v, workers %d, procs %d) = %v, want %v", tt.live, tt.workers, tt.procs, got, tt.want)
		}
	}
}

// BenchmarkDumpStages is BenchmarkDumpFromMemory in one stage and in two,
// whatever GOMAXPROCS is; ns/msg is wall time per message.
func BenchmarkDumpStages(b *testing.B) {
	data, port := benchCapture(b)
	for _, staged := range []bool{false, true} {
		b.Run(fmt.Sprintf("stages=%d", map[bool]int{false: 1, true: 2}[staged]), func(b *testing.B) {
			benchDump(b, data, func(src *source, out io.Writer) error {
				o := DumpOptions{JSON: true, Pipeline: pipeline.Config{Blocking: true, Inline: true, ZKPorts: []uint16{port}}}
				_, err := dump(context.Background(), src, &o, out, &proto.Counters{}, staged)
				return err
			})
		})
	}
}
