// Package zab decodes ZooKeeper quorum traffic (the ZAB protocol between a
// leader and its followers and observers, port 2888 by default) from the
// reassembled bytes of one TCP connection.
//
// # Framing
//
// Each direction is a sequence of jute QuorumPacket records {int type, long
// zxid, buffer data, vector<Id> authinfo} with no length prefix, so framing
// comes from parsing. Quorum SASL QuorumAuthPackets (magic
// 0x5F2435013501EDCC) that may precede the first packet are skipped. A type
// outside 1..19, a negative length or a data buffer over [Config].MaxFrame is
// damage: it is counted and the direction resynchronises by scanning for two
// chained packets that pass stricter checks (direction-legal type, null
// authinfo except on REQUEST, null data where the type never carries any).
//
// After a SNAP packet the leader streams the raw snapshot (sessions, ACL
// cache, nodes, then "BenWasHere"). The decoder walks it incrementally and
// skips node data without buffering it, then resumes packet framing. The
// SNAP message is emitted when the snapshot ends, with ZABInfo.SnapSize set.
//
// # Messages
//
// Op is the packet type in lower case (see [OpName]). Kind follows one rule:
// Request for a packet that starts an exchange, Reply for its answer, Event
// for one-way announcements; the full table is on packetTable in ops.go.
// PROPOSAL, INFORM and INFORMANDACTIVATE report the TxnHeader (Session,
// CXid, TxnType, TxnOp), the znode path and the data size, never the data.
// REQUEST reports the forwarded client request the same way and the
// client's identity from authinfo (the digest user name only, never its
// hash). FOLLOWERINFO and OBSERVERINFO report the learner's Sid;
// COMMITANDACTIVATE and INFORMANDACTIVATE the designated leader's sid in
// the same field.
//
// # Latency
//
// Within one connection: ACK(Z) is paired with PROPOSAL(Z) (follower lag),
// COMMIT(Z) with PROPOSAL(Z) (quorum commit latency seen by this follower),
// the learner's PING echo FIFO with the leader's PING, a REVALIDATE answer
// with its question by session id, and SYNC with the oldest forwarded sync
// REQUEST. Outstanding state is bounded by [Config].MaxPending; overflow is
// counted as pending_overflow.
//
// # Ownership
//
// A Decoder is owned by one goroutine. The Message passed to the Sink is
// reused and its slices alias the input: valid only during Emit.
package zab
