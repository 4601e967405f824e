package stats

import (
	"cmp"
	"net/netip"
	"slices"
)

// Traffic is a request or reply count and the bytes of those frames.
type Traffic struct {
	Count, Bytes uint64
}

// OpPath is a counter keyed by op and normalised path ("" when the op
// carries no path, Overflow when the path was folded).
type OpPath struct {
	Op, Path string
	Traffic
}

// OpError counts replies of one op with one non-zero KeeperException code.
type OpError struct {
	Op    string
	Code  int32
	Count uint64
}

// Histogram is a cumulative fixed-bucket histogram. Counts[i] is the number
// of observations in (Bounds[i-1], Bounds[i]]; the last slot is +Inf.
// Bounds is shared and must not be modified.
type Histogram struct {
	Bounds []float64
	Counts []uint64
	Count  uint64
	Sum    float64
	Exp    *ExpBuckets // set when Config.Exponential
}

// ExpBuckets are the positive buckets of an exponential histogram in OTel's
// layout: Counts[i] holds (2^((Offset+i)/2^Scale), 2^((Offset+i+1)/2^Scale)].
type ExpBuckets struct {
	Scale     int32
	ZeroCount uint64 // observations <= 0
	Offset    int32
	Counts    []uint64
}

// OpHistogram is a latency histogram of one op (and path, if configured).
type OpHistogram struct {
	Op, Path string
	Histogram
}

// WatchEvent counts watch notifications by event type and path.
type WatchEvent struct {
	Type  string
	Path  string
	Count uint64
}

// Count is a counter under one name.
type Count struct {
	Name  string
	Count uint64
}

// Top is one row of a top-N table: an elected key's counts since it was
// elected, or the Overflow row with everything else. For the JSON
// endpoints, Cumulative holds the key's counts since first seen and Ops its
// requests by op.
type Top struct {
	Key        string
	Requests   Traffic
	Answered   uint64  // paired replies
	LatencySum float64 // seconds, over Answered
	Cumulative Traffic
	Ops        []OpTraffic
}

// OpTraffic is a request count by op and normalised path.
type OpTraffic struct {
	Op, Path string
	Traffic
}

// Election describes leader elections seen in FLE traffic.
type Election struct {
	Count    uint64 // elections that ended
	Running  bool
	Leader   int64 // winner of the last one that ended
	Epoch    int64
	Duration Histogram
}

// Snapshot is a consistent-per-shard copy of the aggregation, sorted for
// stable output (unless taken by UnsortedSnapshot). It shares nothing
// mutable with Stats.
type Snapshot struct {
	Requests      []OpPath
	Replies       []OpPath
	Errors        []OpError
	Latency       []OpHistogram // by op
	PathLatency   []OpHistogram // by op and path, when Config.PathLatency
	MultiOps      []OpPath      // sub-operations of multi/multiRead (Bytes unused)
	WatchesSet    []OpPath      // by arming op and path (Bytes unused)
	WatchesFired  []WatchEvent
	Connects      uint64 // ConnectRequests
	Reconnects    uint64 // ConnectRequests resuming a session
	Established   uint64 // ConnectResponses granting a session
	Rejected      uint64 // ConnectResponses refusing one (expired or invalid)
	CloseSessions uint64
	// SessionsActive counts sessions established (connect reply with a
	// session id) and not since closed by closeSession or refused on
	// resume. It is an upper bound: a session that expires while its
	// client is gone leaves no trace on the wire until it is forgotten
	// by the MaxConns cap.
	SessionsActive    int
	SessionsExpired   uint64 // resumes refused with SESSIONEXPIRED
	SessionsForgotten uint64 // dropped from the table by the MaxConns cap
	AuthOK            uint64
	AuthFailed        uint64
	TLS               uint64 // TLS connections seen (opaque)
	FourLetter        []Count
	ZAB               []Count
	ZABAck            Histogram // proposal -> ack
	ZABCommit         Histogram // proposal -> commit
	FLE               []Count   // notifications by state
	Election          Election
	Clients           []Top // elected client IPs, then Overflow
	Auths             []Top // elected identities, then Overflow
	Conns             []ConnIdentity
	ConnsEvicted      uint64
	PathsTracked      int    // distinct normalised paths admitted
	PathsFolded       uint64 // observations folded into the Overflow path
	ClientsFolded     uint64 // requests from clients never tracked as candidates
	AuthsFolded       uint64
	TotalRequests     Traffic
	TotalAnswered     uint64
	TotalLatencySum   float64
}

// ConnIdentity is a live connection's authenticated identity.
type ConnIdentity struct {
	Client   netip.AddrPort
	Identity string
}

// merged is the sum of all shards before the top-N election. Its keys use
// op ids of its own (ops), into which each shard's ids are translated.
type merged struct {
	ops        opNames
	req, rep   map[uint64]traffic
	errs       map[uint64]uint64
	lat        []hist
	latPath    map[uint64]*hist
	multi      map[uint64]uint64
	watchSet   map[uint64]uint64
	watchFired map[evPath]uint64
	fourLW     map[string]uint64
	zab        map[string]uint64
	fle        map[string]uint64
	clients    map[netip.Addr]*cand
	auths      map[string]*cand
}

// Snapshot merges every shard and runs the top-N election. It locks each
// shard in turn, briefly. Snapshots are serialised with each other.
func (s *Stats) Snapshot() *Snapshot { return s.snapshot(true) }

// UnsortedSnapshot is Snapshot without the sorting: the slices of the
// Snapshot and of its Top rows are in no particular order. It is for
// collectors that key or sort what they read themselves (a Prometheus
// registry sorts every family it gathers), and saves the sorting of
// thousands of (op, path) rows per collection.
func (s *Stats) UnsortedSnapshot() *Snapshot { return s.snapshot(false) }

func (s *Stats) snapshot(sorted bool) *Snapshot {
	s.topMu.Lock()
	defer s.topMu.Unlock()

	g := merged{
		ops: opNames{ids: map[string]uint32{}},
		req: map[uint64]traffic{}, rep: map[uint64]traffic{}, errs: map[uint64]uint64{},
		latPath: map[uint64]*hist{}, multi: map[uint64]uint64{},
		watchSet: map[uint64]uint64{}, watchFired: map[evPath]uint64{},
		fourLW: map[string]uint64{}, zab: map[string]uint64{}, fle: map[string]uint64{},
		clients: map[netip.Addr]*cand{}, auths: map[string]*cand{},
	}
	out := &Snapshot{}
	var total cand
	var zabAck, zabCom hist
	for _, sh := range s.shards {
		sh.mu.Lock()
		x := g.ops.translate(sh.ops.names)
		g.addCells(sh.cells, x)
		for k, n := range sh.errs {
			g.errs[rekey(k, x)] += *n
		}
		for op := range sh.lat {
			if h := &sh.lat[op]; h.counts != nil {
				if id := x[op]; int(id) >= len(g.lat) {
					g.lat = append(g.lat, make([]hist, int(id)+1-len(g.lat))...)
				}
				g.lat[x[op]].add(h)
			}
		}
		addOpCounts(g.multi, sh.multi, x)
		addCounts(g.watchFired, sh.watchFired)
		addCounts(g.fourLW, sh.fourLW)
		addCounts(g.zab, sh.zab)
		addCounts(g.fle, sh.fle)
		addCands(g.clients, sh.clients, x)
		addCands(g.auths, sh.auths, x)
		zabAck.add(&sh.zabAck)
		zabCom.add(&sh.zabCom)
		out.Connects += sh.connects
		out.Reconnects += sh.reconnects
		out.Established += sh.established
		out.Rejected += sh.rejected
		out.CloseSessions += sh.closeSessions
		out.AuthOK += sh.authOK
		out.AuthFailed += sh.authFailed
		out.TLS += sh.tls
		out.PathsFolded += sh.folded
		out.ClientsFolded += sh.clientsUntr
		out.AuthsFolded += sh.authsUntr
		out.ConnsEvicted += sh.connsEvicted
		total.req.n += sh.clientTotal.req.n
		total.req.bytes += sh.clientTotal.req.bytes
		total.answered += sh.clientTotal.answered
		total.latSum += sh.clientTotal.latSum
		for c, id := range sh.conns {
			out.Conns = append(out.Conns, ConnIdentity{Client: c, Identity: id})
		}
		sh.mu.Unlock()
	}
	names := s.paths.snapshotNames()
	out.PathsTracked = len(names) - 2
	out.TotalRequests = toT(total.req)
	out.TotalAnswered = total.answered
	out.TotalLatencySum = total.latSum

	ops := g.ops.names
	for k, t := range g.req {
		out.Requests = append(out.Requests, OpPath{Op: ops[keyOp(k)], Path: names[keyLo(k)], Traffic: toT(t)})
	}
	for k, t := range g.rep {
		out.Replies = append(out.Replies, OpPath{Op: ops[keyOp(k)], Path: names[keyLo(k)], Traffic: toT(t)})
	}
	for k, n := range g.errs {
		out.Errors = append(out.Errors, OpError{Op: ops[keyOp(k)], Code: int32(keyLo(k)), Count: n})
	}
	for op := range g.lat {
		if h := &g.lat[op]; h.counts != nil {
			out.Latency = append(out.Latency, OpHistogram{Op: ops[op], Histogram: h.export(&s.cfg)})
		}
	}
	for k, h := range g.latPath {
		out.PathLatency = append(out.PathLatency, OpHistogram{Op: ops[keyOp(k)], Path: names[keyLo(k)], Histogram: h.export(&s.cfg)})
	}
	for k, n := range g.multi {
		out.MultiOps = append(out.MultiOps, OpPath{Op: ops[keyOp(k)], Path: names[keyLo(k)], Traffic: Traffic{Count: n}})
	}
	for k, n := range g.watchSet {
		out.WatchesSet = append(out.WatchesSet, OpPath{Op: ops[keyOp(k)], Path: names[keyLo(k)], Traffic: Traffic{Count: n}})
	}
	for k, n := range g.watchFired {
		out.WatchesFired = append(out.WatchesFired, WatchEvent{Type: EventName(k.ev), Path: names[k.path], Count: n})
	}
	out.FourLetter = counts(g.fourLW)
	out.ZAB = counts(g.zab)
	out.FLE = counts(g.fle)
	out.ZABAck = zabAck.export(&s.cfg)
	out.ZABCommit = zabCom.export(&s.cfg)

	s.sessMu.Lock()
	out.SessionsActive, out.SessionsExpired, out.SessionsForgotten = len(s.sessions), s.sessExpired, s.sessForgot
	s.sessMu.Unlock()

	s.fleMu.Lock()
	e := s.fle
	out.Election = Election{Count: e.count, Running: e.running, Leader: e.leader, Epoch: e.epoch,
		Duration: e.duration.export(&s.cfg)}
	s.fleMu.Unlock()

	out.Clients = elect(&s.clients, g.clients, total, func(a netip.Addr) string { return a.String() }, ops, names, sorted)
	out.Auths = elect(&s.auths, g.auths, total, func(id string) string { return id }, ops, names, sorted)
	s.prune(g)
	if !sorted {
		return out
	}

	sortOpPath(out.Requests)
	sortOpPath(out.Replies)
	sortOpPath(out.MultiOps)
	sortOpPath(out.WatchesSet)
	slices.SortFunc(out.Errors, func(a, b OpError) int {
		return cmp.Or(cmp.Compare(a.Op, b.Op), cmp.Compare(a.Code, b.Code))
	})
	sortHist := func(a, b OpHistogram) int { return cmp.Or(cmp.Compare(a.Op, b.Op), cmp.Compare(a.Path, b.Path)) }
	slices.SortFunc(out.Latency, sortHist)
	slices.SortFunc(out.PathLatency, sortHist)
	slices.SortFunc(out.WatchesFired, func(a, b WatchEvent) int {
		return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Path, b.Path))
	})
	slices.SortFunc(out.Conns, func(a, b ConnIdentity) int { return a.Client.Compare(b.Client) })
	return out
}

func (h *hist) export(cfg *Config) Histogram {
	out := Histogram{Bounds: cfg.Buckets, Counts: fill(slices.Clone(h.counts), cfg.Buckets), Count: h.count, Sum: h.sum}
	if cfg.Exponential {
		e := &ExpBuckets{Scale: ExpScale, ZeroCount: h.zero}
		lo, hi := 0, len(h.exp)
		for lo < hi && h.exp[lo] == 0 {
			lo++
		}
		for hi > lo && h.exp[hi-1] == 0 {
			hi--
		}
		if lo < hi {
			e.Offset = int32(lo + expMinIndex)
			e.Counts = slices.Clone(h.exp[lo:hi])
		}
		out.Exp = e
	}
	return out
}

func fill(c []uint64, bounds []float64) []uint64 {
	if c == nil {
		return make([]uint64, len(bounds)+1)
	}
	return c
}

// opNames is the op id table of a merge: names from every shard, each
// given one id. It holds at most shards*(maxOps+1) names.
type opNames struct {
	ids   map[string]uint32
	names []string
}

// translate returns the merge's id of each of a shard's op names, indexed
// by the shard's id.
func (t *opNames) translate(shard []string) []uint32 {
	x := make([]uint32, len(shard))
	for i, name := range shard {
		id, ok := t.ids[name]
		if !ok {
			id = uint32(len(t.names))
			t.names = append(t.names, name)
			t.ids[name] = id
		}
		x[i] = id
	}
	return x
}

// rekey translates the op half of a shard's key to the merge's op id.
func rekey(k uint64, x []uint32) uint64 { return key(x[keyOp(k)], keyLo(k)) }

// addCells adds a shard's (op, path) counters to the merge's maps; zero
// counts are keys the shard never counted.
func (g *merged) addCells(cells [][]*opPath, x []uint32) {
	for p, row := range cells {
		for op, c := range row {
			if c == nil {
				continue
			}
			k := key(x[op], uint32(p))
			if c.req.n != 0 {
				addTraffic(g.req, k, c.req)
			}
			if c.rep.n != 0 {
				addTraffic(g.rep, k, c.rep)
			}
			if c.watches != 0 {
				g.watchSet[k] += c.watches
			}
			if c.lat != nil {
				addHist(g.latPath, k, c.lat)
			}
		}
	}
}

func addTraffic(dst map[uint64]traffic, k uint64, t traffic) {
	d := dst[k]
	d.n += t.n
	d.bytes += t.bytes
	dst[k] = d
}

// addOpCounts adds a shard's counters keyed by op to dst.
func addOpCounts(dst, src map[uint64]uint64, x []uint32) {
	for k, n := range src {
		dst[rekey(k, x)] += n
	}
}

func addCounts[K comparable](dst, src map[K]uint64) {
	for k, n := range src {
		dst[k] += n
	}
}

func addHist(dst map[uint64]*hist, k uint64, h *hist) {
	d := dst[k]
	if d == nil {
		d = &hist{}
		dst[k] = d
	}
	d.add(h)
}

func addCands[K comparable](dst, src map[K]*cand, x []uint32) {
	for k, c := range src {
		d := dst[k]
		if d == nil {
			d = &cand{ops: map[uint64]*traffic{}}
			dst[k] = d
		}
		d.req.n += c.req.n
		d.req.bytes += c.req.bytes
		d.answered += c.answered
		d.latSum += c.latSum
		for op, t := range c.ops {
			op = rekey(op, x)
			o := d.ops[op]
			if o == nil {
				o = &traffic{}
				d.ops[op] = o
			}
			o.n += t.n
			o.bytes += t.bytes
		}
	}
}

func counts(m map[string]uint64) []Count {
	out := make([]Count, 0, len(m))
	for n, c := range m {
		out = append(out, Count{Name: n, Count: c})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func sortOpPath(s []OpPath) {
	slices.SortFunc(s, func(a, b OpPath) int { return cmp.Or(cmp.Compare(a.Op, b.Op), cmp.Compare(a.Path, b.Path)) })
}

// topState is the elected set of one top-N table, with each member's
// cumulative counts at election time (its baseline).
type topState[K comparable] struct {
	n       int
	members map[K]cand
}

// elect picks the n heaviest candidates by requests. A member's exported
// value is its count since election; Overflow is the total minus the
// members' exported values. Members leave only when displaced, and their
// since-election counts then return to Overflow, so every exported series
// is monotonic.
func elect[K comparable](st *topState[K], cands map[K]*cand, total cand, name func(K) string, ops, paths []string, sorted bool) []Top {
	type kc struct {
		k K
		c *cand
	}
	ranked := make([]kc, 0, len(cands))
	for k, c := range cands {
		ranked = append(ranked, kc{k, c})
	}
	slices.SortFunc(ranked, func(a, b kc) int {
		return cmp.Or(cmp.Compare(b.c.req.n, a.c.req.n), cmp.Compare(name(a.k), name(b.k)))
	})
	if len(ranked) > st.n {
		ranked = ranked[:st.n]
	}
	members := make(map[K]cand, len(ranked)+1)
	other := Top{Key: Overflow, Requests: toT(total.req), Answered: total.answered, LatencySum: total.latSum}
	var out []Top
	for _, r := range ranked {
		base, ok := st.members[r.k]
		if st.members == nil {
			// First election: nothing has been exported yet, so members
			// start with everything they did.
			base, ok = cand{}, true
		}
		if !ok || base.req.n > r.c.req.n {
			// Newly elected (or its candidate was pruned and restarted):
			// its series starts from zero now.
			base = cand{req: r.c.req, answered: r.c.answered, latSum: r.c.latSum}
		}
		members[r.k] = base
		t := Top{
			Key:        name(r.k),
			Requests:   Traffic{Count: r.c.req.n - base.req.n, Bytes: r.c.req.bytes - base.req.bytes},
			Answered:   r.c.answered - base.answered,
			LatencySum: r.c.latSum - base.latSum,
			Cumulative: toT(r.c.req),
		}
		for k, o := range r.c.ops {
			path := Overflow // admitted after paths was read: shown next scrape
			if p := keyLo(k); int(p) < len(paths) {
				path = paths[p]
			}
			t.Ops = append(t.Ops, OpTraffic{Op: ops[keyOp(k)], Path: path, Traffic: toT(*o)})
		}
		if sorted {
			slices.SortFunc(t.Ops, func(a, b OpTraffic) int { return cmp.Or(cmp.Compare(a.Op, b.Op), cmp.Compare(a.Path, b.Path)) })
		}
		other.Requests.Count -= t.Requests.Count
		other.Requests.Bytes -= t.Requests.Bytes
		other.Answered -= t.Answered
		other.LatencySum -= t.LatencySum
		out = append(out, t)
	}
	if other.LatencySum < 0 {
		other.LatencySum = 0 // float rounding
	}
	st.members = members
	if sorted {
		slices.SortFunc(out, func(a, b Top) int { return cmp.Compare(a.Key, b.Key) })
	}
	return append(out, other)
}

// prune drops candidates that rank below the top 4N, so shards have room
// for new heavy hitters. A pruned key that comes back restarts from zero
// (an underestimate; space-saving would overestimate instead).
func (s *Stats) prune(g merged) {
	keepC := keepSet(g.clients, 4*s.cfg.TopClients)
	keepA := keepSet(g.auths, 4*s.cfg.TopAuths)
	for _, sh := range s.shards {
		sh.mu.Lock()
		sh.forget() // its candidates may be deleted below
		if len(sh.clients) > sh.candsPerTop/2 {
			for k := range sh.clients {
				if _, ok := keepC[k]; !ok {
					delete(sh.clients, k)
				}
			}
		}
		if len(sh.auths) > sh.candsPerTop/2 {
			for k := range sh.auths {
				if _, ok := keepA[k]; !ok {
					delete(sh.auths, k)
				}
			}
		}
		sh.mu.Unlock()
	}
}

func keepSet[K comparable](cands map[K]*cand, n int) map[K]struct{} {
	type kc struct {
		k K
		n uint64
	}
	r := make([]kc, 0, len(cands))
	for k, c := range cands {
		r = append(r, kc{k, c.req.n})
	}
	slices.SortFunc(r, func(a, b kc) int { return cmp.Compare(b.n, a.n) })
	keep := make(map[K]struct{}, n)
	for i := 0; i < len(r) && i < n; i++ {
		keep[r[i].k] = struct{}{}
	}
	return keep
}

var eventNames = [...]string{
	1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged",
	5: "DataWatchRemoved", 6: "ChildWatchRemoved", 7: "PersistentWatchRemoved",
}

// EventName returns the Watcher.Event.EventType name of a notification type.
func EventName(t int32) string {
	if t > 0 && int(t) < len(eventNames) {
		return eventNames[t]
	}
	return "unknown"
}

func toT(t traffic) Traffic { return Traffic{Count: t.n, Bytes: t.bytes} }
