// Package stats aggregates decoded ZooKeeper traffic into the state that
// zktap's metrics and zk-stats-daemon JSON endpoints are read from.
//
// # Concurrency
//
// Each pipeline worker i calls [Shard.Observe] on [Stats.Shard](i) for every
// message it decodes. A shard has a mutex that only its worker takes on the
// packet path, so it is uncontended except while a collection ([Stats.Snapshot])
// copies it out. Observing a message whose keys are already known does not
// allocate. [Stats.Observe] is a convenience for callers without a worker
// index: it picks a shard from the client port, so one connection always
// lands on the same shard.
//
// # Cardinality
//
// Paths are normalised before they become keys: cut to the configured
// aggregation depth, numeric and UUID segments replaced by "#", and the
// 10-digit suffix of sequential znodes collapsed ("/locks/lock-0000000042"
// becomes "/locks/lock-#"). At most Config.MaxPaths distinct normalised paths
// are tracked across all shards; later ones are folded into the path "other"
// and the folded observations are counted.
//
// Op names come from the decoders' static tables. Each shard gives at most
// 128 distinct names an id of its own and counts any later ones under the op
// "other", so a decoder bug minting names cannot grow the counters either.
//
// Clients (by IP) and auth identities are ranked by a periodic-pruning top-N:
// each shard tracks at most a fixed number of candidates, every Snapshot
// merges them, elects the N heaviest by request count and prunes candidates
// far below them. Candidates that never made the table are folded into
// "other". The exported value of an elected key counts from its election, and
// "other" holds everything else, so every exported series is monotonic even
// when the ranking changes.
//
// # Secrets
//
// Only the auth scheme and user name a decoder reported are kept; decoders
// never report passwords, tokens or znode data, and this package has nowhere
// to put them.
package stats
