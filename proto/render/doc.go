// Package render writes decoded [proto.Message] values for people and
// programs, and selects which messages to show.
//
// # Formats
//
// [AppendJSON] writes one NDJSON object per message: hand-written, so the
// packet path does not pay for encoding/json reflection, and allocation-free
// when the caller reuses dst. Paths are arbitrary bytes on the wire; they
// are escaped as JSON strings with invalid UTF-8 replaced by U+FFFD, so any
// output line is valid JSON. [AppendText] writes one line in the style of
// zk-dump, with control bytes escaped so a hostile path cannot drive the
// reader's terminal.
//
// JSON keys, each present only when it applies: time (RFC 3339, UTC,
// nanoseconds), proto (zk, zab, fle, 4lw), kind (request, reply, event), op,
// src, dst (ip:port, IPv6 in brackets), session ("0x..."), xid, zxid, err
// and err_name (client replies), path, latency (seconds, paired replies),
// size; for zk: tls, watch, data_len, children, timeout, read_only,
// reconnect, event_type, event_name, add_watch_mode, watcher_type and
// watcher_name (checkWatches, removeWatches), create_mode,
// auth_scheme, auth_user, watches, sub ([{op, path, err}]); for zab: type,
// sid, txn_op, txn_type, cxid, data_len, snap_size; for fle: sid, addr,
// state, leader, election_epoch, peer_epoch, version; for 4lw: text (only
// with Options.ShowText).
//
// A reply paired with its request carries the request's op and path and its
// latency, so showing replies alone shows request and reply together.
//
// # Filters
//
// [Filter] selects messages by protocol, op, path prefix, client address and
// minimum latency, and hides client pings unless asked. [ParseFilter] builds
// one from URL query parameters with the same names and meaning as the
// command-line flags of `zktap dump`.
//
// # Secrets
//
// A Message never holds secrets (see [proto.Message]); render prints only
// what a Message holds, and four-letter-word text only when
// [Options.ShowText] is set.
package render
