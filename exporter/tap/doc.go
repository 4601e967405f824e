// Package tap fans decoded messages out to live `/debug/dump` subscribers.
//
// # Cost when nobody watches
//
// The pipeline calls [Tap.Active] (one atomic load) before [Tap.Publish],
// so with no subscriber a message costs nothing more.
//
// # Lossiness
//
// Publish is called concurrently by every pipeline worker and never waits
// for a subscriber: each subscriber has its own filter and a buffer bounded
// both in messages and in bytes. When the buffer is full the message is
// dropped for that subscriber only and counted; the subscriber is told how
// many it missed in a line of its stream (`{"dropped":N}` in NDJSON,
// `# dropped N messages` in text) once its connection drains. A stuck HTTP
// client therefore costs one full buffer and slows no one.
//
// Each message is rendered at most once per output variant (NDJSON or
// text, with or without four-letter-word text), and only when at least one
// subscriber's filter matches; each matching subscriber then copies the
// rendered line into its buffer, so nothing of the message is retained.
//
// # HTTP
//
// [Tap.ServeHTTP] streams to one subscriber per request. Query parameters:
// format=json (default) or text, show_text=true, and the filter parameters
// of [render.ParseFilter] (proto, op, path, client, min_latency, pings).
// It answers 400 for bad parameters and 503 when MaxSubscribers are
// already connected or the tap is closed.
package tap
