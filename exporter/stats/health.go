package stats

import "time"

// Health is a snapshot of zktap's own counters, taken by the pipeline when
// a collection runs. Every field is cumulative except the gauges noted.
type Health struct {
	Packets        uint64 // packets read from the capture source
	Bytes          uint64 // bytes of those packets
	KernelDrops    uint64 // packets the kernel dropped before zktap read them
	QueueDrops     uint64 // packets dropped because a worker queue was full
	FlowsActive    uint64 // gauge: TCP flows tracked now
	FlowsEvicted   uint64 // flows evicted by the flow-table cap or idle timeout
	ReasmGaps      uint64 // sequence gaps reported to decoders
	ReasmOverflows uint64 // out-of-order buffers that hit their cap
	BufferedBytes  uint64 // gauge: bytes held by reassembly now
	Messages       uint64 // messages decoded
	DumpSubs       uint64 // gauge: /debug/dump subscribers now
	DumpDropped    uint64 // messages dropped for slow dump subscribers

	// The live capture: reopened after its interface was deleted or went down.
	CaptureReopens uint64        // times the capture was opened again
	CaptureDown    time.Duration // total time without a capture, including now
	CaptureLost    bool          // gauge: the capture is lost now
}
