package app

import (
	"io"
	"sync"

	"github.com/zktap/zktap/proto"
)

// A file's dump with more than one P runs in two stages (see twoStages),
// so that rendering, about half of a dump's CPU, overlaps the reading,
// reassembly and decoding instead of following them:
//
//   - stage 1, the goroutine that decodes (the pipeline's capture goroutine
//     when inline), filters each message and copies the ones that pass
//     into a batch, a proto.MessageQueue, with every byte they refer to: a
//     message is valid only during Emit;
//   - stage 2, one goroutine, pops each batch's messages in order, renders
//     them with the one-stage path's Encoder and writes 64 KiB chunks, as
//     the one-stage path does.
//
// A third goroutine reads the file ahead of stage 1 when pcapsrc can
// (pcapsrc.Source.ReadAhead), so that the read system calls, 7 % of stage
// 1's time, run while stage 2 waits for a batch.
//
// stageBatches batches cycle between the two over channels, so memory is
// bounded (about 2 MiB) and the decoder waits when the renderer is behind.
// The output is the one-stage output byte for byte
// (TestDumpStagedSameBytes).
//
// The copy is the cost. With whole Messages (488 bytes) copied into 16
// batches of 512, the million-path capture dumped no faster than in one
// stage (0.174 s against 0.174 s, 2 vCPUs, median of 7); the compact
// copies of a MessageQueue take it to 0.155 s.
const (
	// stageBatches x stageMessages is how far stage 1 may run ahead. Stage
	// 2 sleeps whenever it catches up, and waking it took about 90 us on
	// 2 vCPUs, the time stage 1 takes for a thousand messages or two: with
	// 4 x 512 the million-path dump took 0.249 s, stage 1 waiting for free
	// batches; with 8 x 512 to 16 x 2048, 0.150 to 0.164 s.
	stageBatches  = 8
	stageMessages = 1024
	// stageBytes is the bytes of paths and other slices a batch holds
	// besides its messages' fixed parts; a message that does not fit ends
	// its batch, and one that does not fit an empty batch grows it until
	// the batch is reused (proto.MessageQueue.Push).
	stageBytes = 128 * stageMessages
	// stageSubs is the multi sub-operations a batch holds.
	stageSubs = 1024
)

// stageSink is a file dump's proto.Sink when the dump runs in two stages.
// Emit (stage 1) is called from one goroutine; render (stage 2) runs in
// another, started by newStageSink and ended by close. A batch belongs to
// one stage at a time: the channels order stage 1's copies before stage
// 2's reads, and stage 2's reads before stage 1 fills the batch again.
type stageSink struct {
	filter lineFilter // stage 1's own copy (see lineFilter)
	r      *dumpSink  // stage 2's renderer and writer
	cur    *proto.MessageQueue
	free   chan *proto.MessageQueue // batches stage 1 may fill
	full   chan *proto.MessageQueue // batches for stage 2, in order; closed by close
	done   chan struct{}            // closed when stage 2 has written everything
}

// newStageSink returns a two-stage sink of o's messages that writes to out
// under mu, and starts its stage 2. The caller must call close.
func newStageSink(o *DumpOptions, mu *sync.Mutex, out io.Writer) *stageSink {
	s := &stageSink{
		filter: newLineFilter(&o.Filter),
		r:      newDumpSink(o, mu, out, false),
		free:   make(chan *proto.MessageQueue, stageBatches),
		full:   make(chan *proto.MessageQueue, stageBatches),
		done:   make(chan struct{}),
	}
	for range stageBatches {
		s.free <- proto.NewMessageQueue(stageMessages, stageBytes, stageSubs)
	}
	go s.render()
	return s
}

// Emit is stage 1: it filters m and copies it into the current batch,
// handing the batch to stage 2 when m does not fit.
func (s *stageSink) Emit(m *proto.Message) {
	if s.filter.hides(m) {
		return
	}
	q := s.cur
	if q == nil {
		q = <-s.free // waits while stage 2 renders every other batch
		s.cur = q
	}
	if !q.Push(m) {
		s.full <- q // never blocks: there are only stageBatches batches
		q = <-s.free
		s.cur = q
		q.Push(m) // an empty batch takes any message
	}
}

// render is stage 2: it renders the batches in the order they were filled
// and writes the lines, until close. A panic here (a renderer bug) ends
// the process: the pipeline's per-flow guard, which counts a panic in the
// one-stage path's Emit as a decoder panic, does not cover this goroutine,
// and a recover here would only hide the bug.
func (s *stageSink) render() {
	defer close(s.done)
	var m proto.Message
	for q := range s.full {
		for q.Pop(&m) {
			s.r.render(&m)
		}
		q.Reset()
		s.free <- q // never blocks: free has room for every batch
	}
	s.r.write()
}

// close hands stage 2 the last batch and waits until it has written every
// line. It is safe to call more than once, so that dump can also defer it
// for a panic that leaves the pipeline.
func (s *stageSink) close() {
	if s.full == nil {
		return
	}
	if s.cur != nil && s.cur.Len() > 0 {
		s.full <- s.cur
	}
	s.cur = nil
	close(s.full)
	<-s.done
	s.full = nil
}
