package stats

import (
	"net/netip"
	"sync"
	"time"

	"github.com/zktap/zktap/proto"
)

// Overflow is the value that stands for everything folded out of a bounded
// label: paths over the cap, clients and identities outside the top N.
const Overflow = "other"

// NoAuth is the identity of a connection that has not authenticated, as
// zktraffic spells it.
const NoAuth = "noauth"

// DefaultBuckets are the latency histogram bounds in seconds: from 50 µs,
// where a local ZooKeeper answers reads, to 10 s.
var DefaultBuckets = []float64{
	0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10,
}

// Config bounds and shapes the aggregation. Zero fields take the defaults
// given in their comments.
type Config struct {
	Shards           int       // pipeline workers, one shard each (default 1)
	AggregationDepth int       // keep this many path segments; 0 keeps all
	MaxPaths         int       // distinct normalised paths tracked (default 1000)
	TopClients       int       // client IPs exported individually (default 20)
	TopAuths         int       // auth identities exported individually (default 20)
	MaxConns         int       // connections remembered for their auth identity (default 65536)
	PathLatency      bool      // also keep latency histograms by op and path
	Exponential      bool      // also keep exponential (native) histograms, see ExpScale
	Buckets          []float64 // latency bounds in seconds (default DefaultBuckets)
}

func (c *Config) setDefaults() {
	if c.Shards <= 0 {
		c.Shards = 1
	}
	if c.MaxPaths <= 0 {
		c.MaxPaths = 1000
	}
	if c.TopClients <= 0 {
		c.TopClients = 20
	}
	if c.TopAuths <= 0 {
		c.TopAuths = 20
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 65536
	}
	if len(c.Buckets) == 0 {
		c.Buckets = DefaultBuckets
	}
}

// errSessionExpired is KeeperException.Code SESSIONEXPIRED.
const errSessionExpired = -112

// maxOps bounds the distinct op names one shard keys on. Op names are static
// strings from the decoders' tables, so this only matters if a decoder bug
// produced unbounded names.
const maxOps = 128

// maxErrKeys bounds the distinct (op, error code) pairs one shard keys on.
const maxErrKeys = 1024

// Stats is the aggregation state. It is safe for concurrent use.
type Stats struct {
	cfg       Config
	durBounds []int64 // of cfg.Buckets, see bucketOf
	now       func() time.Time
	start     time.Time
	shards    []*Shard

	paths pathTable

	fleMu sync.Mutex
	fle   electionState

	sessMu      sync.Mutex
	sessions    map[int64]struct{} // established and not seen closed or expired
	sessExpired uint64             // resumes refused with SESSIONEXPIRED
	sessForgot  uint64             // dropped because the table was full

	topMu   sync.Mutex // serialises Snapshot's elections
	clients topState[netip.Addr]
	auths   topState[string]
}

// New returns an empty Stats. now is the clock (time.Now outside tests).
func New(cfg Config, now func() time.Time) *Stats {
	cfg.setDefaults()
	if now == nil {
		now = time.Now
	}
	s := &Stats{cfg: cfg, durBounds: newDurBounds(cfg.Buckets), now: now, start: now()}
	s.paths.init(cfg.MaxPaths)
	s.sessions = make(map[int64]struct{})
	s.shards = make([]*Shard, cfg.Shards)
	for i := range s.shards {
		s.shards[i] = newShard(s)
	}
	s.clients.n = cfg.TopClients
	s.auths.n = cfg.TopAuths
	return s
}

// Config returns the configuration in effect, defaults filled in.
func (s *Stats) Config() Config { return s.cfg }

// Start returns the time New was called.
func (s *Stats) Start() time.Time { return s.start }

// Shard returns the shard of pipeline worker i (modulo the shard count).
// Worker i must be its only caller of Observe.
func (s *Stats) Shard(i int) *Shard {
	if i < 0 {
		i = -i
	}
	return s.shards[i%len(s.shards)]
}

// Observe records m on a shard chosen by the client endpoint, so every
// message of one connection lands on the same shard. m is not retained.
func (s *Stats) Observe(m *proto.Message) {
	c := clientOf(m)
	i := 0
	if len(s.shards) > 1 {
		i = int(c.Port()) % len(s.shards)
	}
	s.shards[i].Observe(m)
}

// clientOf returns the client-side endpoint of m: the source of requests,
// the destination of replies and events.
func clientOf(m *proto.Message) netip.AddrPort {
	if m.Kind == proto.Request {
		return m.Src
	}
	return m.Dst
}

// pathTable assigns ids to normalised paths across shards, up to a cap.
// Id 0 is "no path" and id 1 is Overflow.
type pathTable struct {
	mu    sync.Mutex
	ids   map[string]uint32
	names []string
	max   int
}

const (
	pathNone  uint32 = 0
	pathOther uint32 = 1
)

func (t *pathTable) init(max int) {
	t.ids = make(map[string]uint32, 64)
	t.names = []string{"", Overflow}
	t.max = max
}

// lookup returns the id of p, admitting it if the cap allows.
func (t *pathTable) lookup(p []byte) (id uint32, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if id, ok := t.ids[string(p)]; ok {
		return id, true
	}
	if len(t.ids) >= t.max {
		return pathOther, false
	}
	id = uint32(len(t.names))
	name := string(p) // the one allocation for a new path
	t.names = append(t.names, name)
	t.ids[name] = id
	return id, true
}

// copyTo adds every admitted path to dst. The keys are the table's own
// strings, so nothing is copied but the map entries.
func (t *pathTable) copyTo(dst map[string]uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, id := range t.ids {
		dst[name] = id
	}
}

// snapshotNames returns the id->name table; names are never removed, so a
// copy of the slice header is enough.
func (t *pathTable) snapshotNames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.names[:len(t.names):len(t.names)]
}

// electionState follows FLE notifications: a LOOKING notification starts an
// election, the first FOLLOWING or LEADING one after it ends it.
type electionState struct {
	running  bool
	began    time.Time
	count    uint64
	leader   int64
	epoch    int64
	duration hist
	// vote is the leader proposed by the latest LOOKING notification of
	// the running election (of the highest election epoch, voteEpoch).
	vote, voteEpoch int64
}

// sessionOpened and sessionEnded keep the table of live sessions. They run
// on connect replies and closeSession requests only, a tiny share of the
// traffic, so one mutex across shards is uncontended in practice.
func (s *Stats) sessionOpened(id int64) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if _, ok := s.sessions[id]; !ok && len(s.sessions) >= s.cfg.MaxConns {
		for k := range s.sessions {
			delete(s.sessions, k)
			s.sessForgot++
			break
		}
	}
	s.sessions[id] = struct{}{}
}

func (s *Stats) sessionEnded(id int64, expired bool) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	delete(s.sessions, id)
	if expired {
		s.sessExpired++
	}
}
