package app

import (
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/zktap/zktap/proto"
)

// GroupBy selects the key `zktap top` aggregates by.
type GroupBy int

// Groupings, as zk-dump's --group-by spells them.
const (
	ByPath GroupBy = iota
	ByType
	ByClient
)

// latency histogram: log buckets of 5 % width from 1 µs, so percentiles
// come out within 5 % whatever the range, in fixed memory per key.
const (
	histBase    = 1e-6
	histGrowth  = 1.05
	histBuckets = 400 // up to ~300 s
	maxTopKeys  = 10000
	otherKey    = "other"
)

var logGrowth = math.Log(histGrowth)

type latencyHist struct {
	counts [histBuckets]uint32
	n      uint64
	sum    float64
	max    float64
}

func (h *latencyHist) add(sec float64) {
	i := 0
	if sec > histBase {
		i = int(math.Log(sec/histBase)/logGrowth) + 1
	}
	if i >= histBuckets {
		i = histBuckets - 1
	}
	h.counts[i]++
	h.n++
	h.sum += sec
	h.max = max(h.max, sec)
}

// quantile returns the upper bound of the bucket holding quantile q,
// clamped to the largest value seen.
func (h *latencyHist) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += uint64(c)
		if seen >= rank {
			if i == 0 {
				return min(histBase, h.max)
			}
			return min(histBase*math.Pow(histGrowth, float64(i)), h.max)
		}
	}
	return h.max
}

type topEntry struct {
	requests uint64
	bytes    uint64
	lat      *latencyHist
	// previous totals, for per-interval rates in the live view
	prevRequests uint64
}

// topAgg counts requests and measures latency by a key. It is shared by the
// pipeline's workers, so it takes a mutex: `zktap top` is an interactive
// tool, not the sidecar's packet path.
type topAgg struct {
	mu      sync.Mutex
	groupBy GroupBy
	depth   int
	entries map[string]*topEntry
	folded  uint64
	reqs    uint64 // requests counted
	replies uint64 // paired replies measured
	keyBuf  []byte
}

func newTopAgg(groupBy GroupBy, depth int) *topAgg {
	return &topAgg{groupBy: groupBy, depth: depth, entries: make(map[string]*topEntry)}
}

// key builds the grouping key of m into a reused buffer.
func (a *topAgg) key(m *proto.Message) []byte {
	b := a.keyBuf[:0]
	switch a.groupBy {
	case ByType:
		b = append(b, m.Op...)
	case ByClient:
		client := m.Src
		if m.Kind != proto.Request {
			client = m.Dst
		}
		b = client.Addr().AppendTo(b)
	default:
		if len(m.Path) == 0 {
			b = append(b, "(no path)"...)
		} else {
			b = append(b, truncatePath(m.Path, a.depth)...)
		}
	}
	a.keyBuf = b
	return b
}

// truncatePath keeps the first depth components of path (0 keeps all):
// "/a/b/c" at depth 2 is "/a/b".
func truncatePath(path []byte, depth int) []byte {
	if depth <= 0 {
		return path
	}
	n := 0
	for i := 1; i < len(path); i++ {
		if path[i] == '/' {
			n++
			if n == depth {
				return path[:i]
			}
		}
	}
	return path
}

func (a *topAgg) entry(k []byte) *topEntry {
	if e := a.entries[string(k)]; e != nil {
		return e
	}
	if len(a.entries) >= maxTopKeys {
		a.folded++
		k = []byte(otherKey)
		if e := a.entries[otherKey]; e != nil {
			return e
		}
	}
	e := &topEntry{}
	a.entries[string(k)] = e
	return e
}

// observe counts a request or measures a paired reply. It returns the
// number of requests and measured replies so far.
func (a *topAgg) observe(m *proto.Message) (reqs, replies uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case m.Kind == proto.Request:
		e := a.entry(a.key(m))
		e.requests++
		e.bytes += uint64(m.Size)
		a.reqs++
	case m.Kind == proto.Reply && m.Paired:
		e := a.entry(a.key(m))
		if e.lat == nil {
			e.lat = &latencyHist{}
		}
		e.lat.add(m.Latency.Seconds())
		a.replies++
	}
	return a.reqs, a.replies
}

// TopRow is one line of a `zktap top` table.
type TopRow struct {
	Key      string  `json:"key"`
	Requests uint64  `json:"requests,omitempty"`
	Bytes    uint64  `json:"bytes,omitempty"`
	Rate     float64 `json:"rate,omitempty"` // requests per second over the last interval (live view)
	Replies  uint64  `json:"replies,omitempty"`
	Avg      float64 `json:"avg,omitempty"` // seconds
	P50      float64 `json:"p50,omitempty"`
	P95      float64 `json:"p95,omitempty"`
	P99      float64 `json:"p99,omitempty"`
	Max      float64 `json:"max,omitempty"`
}

// rows returns the current table. interval > 0 also computes rates since
// the previous call.
func (a *topAgg) rows(interval time.Duration) []TopRow {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]TopRow, 0, len(a.entries))
	for k, e := range a.entries {
		r := TopRow{Key: k, Requests: e.requests, Bytes: e.bytes}
		if interval > 0 {
			r.Rate = float64(e.requests-e.prevRequests) / interval.Seconds()
			e.prevRequests = e.requests
		}
		if h := e.lat; h != nil && h.n > 0 {
			r.Replies = h.n
			r.Avg = h.sum / float64(h.n)
			r.P50, r.P95, r.P99, r.Max = h.quantile(0.50), h.quantile(0.95), h.quantile(0.99), h.max
		}
		out = append(out, r)
	}
	return out
}

// sortRows orders rows by the --sort-by key, largest first, ties by key.
func sortRows(rows []TopRow, by string) {
	val := func(r TopRow) float64 {
		switch by {
		case "avg":
			return r.Avg
		case "p50":
			return r.P50
		case "p95":
			return r.P95
		case "p99":
			return r.P99
		case "max":
			return r.Max
		case "rate":
			return r.Rate
		case "replies":
			return float64(r.Replies)
		default:
			return float64(r.Requests)
		}
	}
	slices.SortFunc(rows, func(x, y TopRow) int {
		vx, vy := val(x), val(y)
		switch {
		case vx > vy:
			return -1
		case vx < vy:
			return 1
		}
		if x.Key < y.Key {
			return -1
		}
		if x.Key > y.Key {
			return 1
		}
		return 0
	})
}

// fmtSeconds prints a latency the way people read ZooKeeper latencies.
func fmtSeconds(s float64) string {
	switch {
	case s == 0:
		return "-"
	case s < 1e-3:
		return strconv.FormatFloat(s*1e6, 'f', 0, 64) + "µs"
	case s < 1:
		return strconv.FormatFloat(s*1e3, 'f', 2, 64) + "ms"
	default:
		return strconv.FormatFloat(s, 'f', 3, 64) + "s"
	}
}
