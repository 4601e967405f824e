// Package reasm reassembles one direction of a TCP connection into the
// in-order byte stream that protocol decoders consume.
//
// # Model
//
// A [Stream] holds the state of one direction. The capture worker hands it
// every [sniff.Segment] of that direction with [Stream.Add]; the Stream offers
// the contiguous bytes not yet consumed to a [Consumer], which takes whole
// frames and leaves the rest. What the consumer leaves is kept and offered
// again, with later bytes appended, when more arrive.
//
// In order and with nothing held, the payload is offered straight from the
// capture buffer: only the unconsumed tail is copied. Segments that arrive
// ahead of a hole are copied into the same per-stream window and delivered
// when the hole fills. Retransmitted and overlapping ranges are trimmed, with
// wraparound-safe 32-bit sequence arithmetic.
//
// # Bounds
//
// Everything is bounded: the bytes held by one direction ([Limits.MaxBuffered],
// measured from the first unconsumed byte to the end of the furthest held
// byte, holes included), the disjoint out-of-order ranges it holds
// ([Limits.MaxOutOfOrder]) and the buffer memory of all streams owned by one
// worker ([Budget]). When a bound is hit the earliest hole is declared lost:
// the consumer is told through [Consumer.Gap] and delivery continues after
// it. A consumer that asks for more bytes than it was offered (to skip a
// payload it does not decode) has them discarded as they arrive, without
// buffering; a hole entirely inside such a skipped range is not a gap.
//
// # Ownership and concurrency
//
// A Stream, its Budget and its [Stats] belong to one worker goroutine and are
// not safe for concurrent use. The package starts no goroutines and takes no
// locks. The steady state (in-order delivery, and reordering within storage
// already grown) does not allocate. Bytes offered to a Consumer are valid only
// during the call.
package reasm
