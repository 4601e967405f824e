// Package zk decodes the ZooKeeper client protocol and the four-letter
// words that share its port, one TCP connection at a time.
//
// # Decoding
//
// A [Decoder] implements proto.ConnDecoder: the pipeline feeds it the
// reassembled bytes of each direction and it emits one proto.Message per
// frame to a proto.Sink. The Message, and every slice in it, is owned by
// the Decoder and valid only during Emit. Steady-state decoding does not
// allocate: the Message, its Sub slice and the per-request path storage are
// reused, and Reset prepares the Decoder for another connection.
//
// Frames are an int32 length and a body. The first frame of each direction
// of a connection seen from its SYN is the connect handshake (op
// "connect"); after it, requests are a RequestHeader and a record chosen by
// opcode, replies a ReplyHeader and a record chosen by the opcode of the
// request they answer. Replies are paired with requests per PROTOCOL.md
// 3.2: FIFO among equal xids, auth, sasl and unknown opcodes may overtake,
// ordinary requests skipped by a later reply are counted unanswered, and a
// reply with no request is counted orphan_reply and emitted with op
// "unknown" (or "ping", "auth", "setWatches" for the special xids -2, -4,
// -8, which say what they answer). A paired reply carries its request's Op
// and Path (truncated to 1 KiB), Latency (reply time minus request time)
// and Paired.
//
// # Choices worth knowing
//
//   - Session expiry: a ConnectResponse with timeOut 0 is emitted as a
//     connect reply with Err = -112 (SESSIONEXPIRED) and, when the request
//     resumed a session, that session id, so the expiry can be counted.
//   - Failed multi: its ReplyHeader.err is 0 on the wire. The reply's Err is
//     set to the failing op's code (the first result code other than 0 and
//     -2), and every result is listed in ZK.Sub with its own Err. multiRead
//     is not atomic and keeps Err from the header.
//   - getAllChildrenNumber replies report the total in ZK.Children; whoAmI
//     replies report the first (scheme, user) pair in AuthScheme/AuthUser.
//   - TLS: a client stream beginning 0x16 0x03 is counted as tls and
//     reported once as a request with Op "tls" and ZK.TLS set, so a dump
//     shows the connection; every later byte is skipped unbuffered.
//   - Four-letter words: when the first four client bytes are a word from
//     [FourLetterWords], the request is emitted at once (Proto FourLetter,
//     Op the word; stmk waits for its 8-byte mask) and the server's text is
//     collected (64 KiB kept, Size counts all of it) and emitted on Close
//     with Latency to the first reply byte.
//   - Mid-stream joins and gaps resynchronise (PROTOCOL.md 3.3): an offset
//     is a frame boundary when two chained frames validate there, or when
//     one frame validates strongly (its record parses exactly; for a reply,
//     its xid is pending and its body parses by the request's opcode, or
//     it is header-only for a pending or special xid, or a well-formed
//     watch event) and ends exactly at the end of the data. The second
//     rule keeps a lone last reply of a capture; the price is that a frame
//     that validates only weakly waits for a successor and is lost if the
//     connection ends first. Rejected bytes are consumed as the scan goes,
//     each offset is examined a bounded number of times across Feeds, and
//     one scan's work is budgeted, so hostile bytes cost linear time. A
//     connect frame is recognised mid-stream by its shape. Each episode
//     counts resync once per direction, when its first bytes arrive; the
//     decoder does not count gap itself (whoever lost the bytes does).
//
// # Secrets
//
// Session passwords, the password half of digest auth, SASL tokens and
// znode data are skipped without being exposed: only sizes (DataLen), the
// digest user name and a DIGEST-MD5 username="..." reach a Message.
//
// # Errors
//
// Nothing is returned as an error: damage is counted in proto.Counters
// under a fixed Reason token and skipped. A declared length over MaxFrame
// or negative is never buffered; the stream drops to resync instead.
package zk
