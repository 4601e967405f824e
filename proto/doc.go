// Package proto is the contract between zktap's capture side and its protocol
// decoders, and between the decoders and everything that consumes what they
// decode (stats, the live tap, `zktap dump`).
//
// # Data flow
//
// The pipeline reassembles each TCP connection per direction and hands the
// in-order bytes of one direction to the connection's [ConnDecoder]. The
// decoder consumes whole frames, keeps per-connection state (pending requests,
// session id, phase) and reports every decoded message to a [Sink]. A
// [Message] is owned by the decoder and is valid only for the duration of the
// Emit call: consumers that keep anything copy it ([MessageQueue] holds
// compact copies for another goroutine).
//
// # Errors
//
// Decoders never return errors for bad traffic: they count a fixed [Reason]
// token in [Counters], skip the damage and resynchronise. Tokens are
// snake_case and stable, because they become the `reason` label of
// zktap_decode_errors_total.
package proto
