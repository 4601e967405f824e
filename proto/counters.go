package proto

import "sync/atomic"

// Reason is a fixed token naming why a decoder counted something as damaged
// or skipped. Tokens become the `reason` label of zktap_decode_errors_total,
// so the set is closed: add new ones here, never use err.Error() as a label.
type Reason uint8

// Reasons.
const (
	ReasonShortFrame      Reason = iota // frame shorter than its header
	ReasonLenTooLarge                   // length prefix over the configured maximum
	ReasonLenNegative                   // negative length prefix
	ReasonUnknownOpcode                 // opcode/packet type not in the table
	ReasonBadRecord                     // record did not parse (overrun, bad string length, ...)
	ReasonTrailingBytes                 // record parsed but bytes were left in the frame
	ReasonBadHandshake                  // connect / initial message malformed
	ReasonOrphanReply                   // reply with no pending request (capture joined late or lost it)
	ReasonUnanswered                    // request never answered before the connection ended or a later reply overtook it
	ReasonPendingOverflow               // too many outstanding requests on one connection; oldest dropped
	ReasonTLS                           // connection is TLS: opaque, not decoded
	ReasonResync                        // stream lost framing and is scanning for a boundary
	ReasonGap                           // bytes lost in capture or reassembly
	ReasonBad4LW                        // four-letter word exchange malformed
	ReasonSnapSkipped                   // ZAB SNAP stream skipped without decoding
	ReasonDecoderPanic                  // decoder panicked; flow dropped (a bug: please report)
	numReasons
)

// NumReasons is the number of Reason values.
const NumReasons = int(numReasons)

var reasonNames = [...]string{
	"short_frame", "len_too_large", "len_negative", "unknown_opcode", "bad_record",
	"trailing_bytes", "bad_handshake", "orphan_reply", "unanswered", "pending_overflow",
	"tls", "resync", "gap", "bad_4lw", "snap_skipped", "decoder_panic",
}

// String returns the snake_case token.
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "unknown"
}

// Counters counts decoder events by protocol and reason. It is safe for
// concurrent use; the hot path does one uncontended atomic add.
type Counters struct {
	n [numProtos][numReasons]atomic.Uint64
}

// Count adds one to (p, r).
func (c *Counters) Count(p Proto, r Reason) {
	if c == nil || p >= numProtos || r >= numReasons {
		return
	}
	c.n[p][r].Add(1)
}

// Get returns the count for (p, r).
func (c *Counters) Get(p Proto, r Reason) uint64 {
	if c == nil || p >= numProtos || r >= numReasons {
		return 0
	}
	return c.n[p][r].Load()
}
