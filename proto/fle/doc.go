// Package fle decodes ZooKeeper fast-leader-election traffic (the
// QuorumCnxManager connections on the election port, 3888 by default) from
// the reassembled bytes of one TCP connection.
//
// # Wire format
//
// The dialing side first sends one initial message: a legacy bare sid
// (long >= 0, 3.4), or protocol version -65536 (V1) / -65535 (V2) followed
// by long sid, int n and n bytes of election address(es) ("host:port", V2
// pipe-separated), n in 1..2048. It is reported as Op "initial" with
// FLEInfo.Sid and FLEInfo.Addr. Quorum SASL QuorumAuthPackets that may
// follow it are skipped. Then both directions carry notifications framed
// by an int32 length in 1..524288: int state, long leader, long zxid, long
// electionEpoch, [long peerEpoch], [int version], [int configLength, config]
// with body lengths 28, 36, 40 or 44+N. Each is reported as Op
// "notification" with State, Leader, Zxid, ElectionEpoch, PeerEpoch and
// Version; the config text (the member list) is not reported.
//
// Both Ops have Kind Event: election messages are votes broadcast to peers,
// not requests with answers, so no latency is paired.
//
// # Damage
//
// A bad initial message is counted as bad_handshake, a length outside the
// bounds as len_negative/len_too_large, a body that does not parse as
// bad_record (the frame is skipped, framing is kept). After a gap, a bad
// length or a mid-stream join the direction resynchronises by finding two
// chained notifications that pass strict checks.
//
// # Ownership
//
// A Decoder is owned by one goroutine. The Message passed to the Sink is
// reused and its slices alias the input: valid only during Emit.
package fle
