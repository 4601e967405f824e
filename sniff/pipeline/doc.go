// Package pipeline is zktap's goroutine topology: one capture goroutine reads
// frames from a sniff.Source, parses them in place and hands each TCP segment
// to one of N workers chosen by a symmetric hash of the connection, so both
// directions of a connection land on the same worker. Each worker owns its
// flow table, its reassembly streams and its protocol decoders outright: the
// packet path takes no lock.
//
// # Hand-off
//
// Segments cross from the capture goroutine to a worker in fixed-size batches
// (an arena for payload bytes plus segment descriptors) that circulate
// between a free list and the worker's queue, so the steady state allocates
// nothing. Live capture never blocks: when a worker has no free batch the
// segment is dropped and counted (zktap_queue_drops). Offline replay blocks
// instead, because a file can wait and losing bytes of it would only make
// the output wrong.
//
// # Inline
//
// With Config.Inline and a single worker there is no hand-off at all: the
// capture goroutine runs the worker's code on each segment itself, with the
// payload still in the source's buffer (the kernel ring, live), which stays
// valid until the next read. Live capture uses it by default. Measured under
// a real ZooKeeper's full load (testdata/bench), the batch copy, the channel
// operations and the wake-ups of a second goroutine cost more CPU than
// decoding; one goroutine still decodes millions of messages a second, far
// above what a ZooKeeper server can serve, and the ring buffers a burst while
// it decodes. A file's dump measured the same wall time and less CPU inline.
//
// # Bounds
//
// The flow table holds at most Config.MaxFlows connections; beyond it the
// least recently used flow is evicted and counted. Flows idle for
// Config.IdleTimeout (in capture time) are closed. Reassembly buffers are
// bounded per direction and per worker (sniff/reasm).
package pipeline
