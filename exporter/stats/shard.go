package stats

import (
	"encoding/binary"
	"math"
	"math/bits"
	"math/rand/v2"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zktap/zktap/proto"
)

// Counters by op are keyed by key(op id, path id) or key(op id, error
// code); op ids are the shard's (opTable) or, once merged, the snapshot's.

type evPath struct {
	ev   int32
	path uint32
}

// traffic counts frames and their bytes.
type traffic struct {
	n, bytes uint64
}

// hist is a fixed-bucket histogram; counts has len(bounds)+1 slots, the
// last one for +Inf.
type hist struct {
	counts []uint64
	count  uint64
	sum    float64
	exp    []uint64 // exponential buckets (Config.Exponential), expSlots long
	zero   uint64   // exponential zero bucket: observations <= 0
}

// Exponential histograms use a fixed scale and index window, so merging
// shards is a plain element-wise sum and memory is fixed per histogram.
const (
	// ExpScale is the scale of exponential histograms: bucket bounds grow
	// by 2^(1/8), about 9% (Prometheus native histogram schema 3).
	ExpScale    = 3
	expMinIndex = -128 // bucket (2^-16, 2^(-16+1/8)] s: ~15 µs, below any ZooKeeper reply
	expSlots    = 200  // up to 2^9 s; longer observations land in the last bucket
)

func (h *hist) observe(cfg *Config, v float64) {
	h.observeAt(cfg, sort.SearchFloat64s(cfg.Buckets, v), v)
}

// tryObserve is observeAt without its slow cases: it observes v, in
// bucket i, and reports true if h has been observed before and has no
// exponential buckets (Config.Exponential off); if not, it does nothing
// and the caller calls observeAt. Apart from observeAt, it inlines.
func (h *hist) tryObserve(i int, v float64) bool {
	if h.counts == nil || h.exp != nil {
		return false
	}
	h.counts[i]++
	h.count++
	h.sum += v
	return true
}

// observeAt is observe of v, whose bucket in cfg.Buckets is i (bucketOf).
func (h *hist) observeAt(cfg *Config, i int, v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(cfg.Buckets)+1)
	}
	h.counts[i]++
	h.count++
	h.sum += v
	if cfg.Exponential {
		if h.exp == nil {
			h.exp = make([]uint64, expSlots)
		}
		if v <= 0 {
			h.zero++
			return
		}
		// Bucket i holds (2^(i/8), 2^((i+1)/8)].
		i := int(math.Ceil(math.Log2(v)*(1<<ExpScale))) - 1
		h.exp[min(max(i-expMinIndex, 0), expSlots-1)]++
	}
}

func (h *hist) add(o *hist) {
	if o.counts == nil {
		return
	}
	if h.counts == nil {
		h.counts = make([]uint64, len(o.counts))
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if o.exp != nil {
		if h.exp == nil {
			h.exp = make([]uint64, expSlots)
		}
		for i, c := range o.exp {
			h.exp[i] += c
		}
	}
	h.zero += o.zero
	h.count += o.count
	h.sum += o.sum
}

// cand is a top-N candidate's cumulative counts on one shard.
type cand struct {
	// serial identifies the candidate for opPath's caches of its
	// counters: unique per shard and never reused, so a cache holding
	// a pruned candidate's serial can only miss. 0 is no candidate.
	serial   uint64
	req      traffic
	answered uint64
	latSum   float64
	// ops counts requests per op and normalised path, for zktraffic's
	// per_ip/<Op>Request<path>:<ip> keys, by key(op id, path id); past
	// maxOps entries a new path folds into the op's "other" path.
	// Values are pointers so that counting a known key is one map lookup,
	// not a lookup and an assignment (two hashes of the key).
	ops map[uint64]*traffic
}

// request counts a request of op on path and returns the counter of
// c.ops it went to (nil if even the folded key had no room). The choice is
// final: ops never loses a key, so the same (op, path) always lands on the
// same counter, which the caller may cache (see opPath).
func (c *cand) request(op, path uint32, size uint64) *traffic {
	c.req.n++
	c.req.bytes += size
	if c.ops == nil {
		c.ops = make(map[uint64]*traffic, 4)
	}
	k := key(op, path)
	t := c.ops[k]
	if t == nil {
		if len(c.ops) >= maxOps {
			k = key(op, pathOther)
			if t = c.ops[k]; t == nil && len(c.ops) >= 2*maxOps {
				return nil // even the folded keys are at their bound
			}
		}
		if t == nil {
			t = &traffic{}
			c.ops[k] = t
		}
	}
	t.n++
	t.bytes += size
	return t
}

// requestVia is request through a cache of the counter it returns:
// *serial and *t are the candidate and counter last used for this
// (op, path). A hit costs no map lookup.
func (c *cand) requestVia(serial *uint64, t **traffic, op, path uint32, size uint64) {
	if !c.requestHit(*serial, *t, size) {
		*serial, *t = c.serial, c.request(op, path, size)
	}
}

// requestHit is requestVia's hit: it counts the request if the cache
// (serial, t) is c's, and reports whether it was. Apart from the miss, it
// inlines.
func (c *cand) requestHit(serial uint64, t *traffic, size uint64) bool {
	if serial != c.serial || t == nil {
		return false
	}
	c.req.n++
	c.req.bytes += size
	t.n++
	t.bytes += size
	return true
}

// opPath holds a shard's counters of one (op id, path id) pair: what the
// request, reply, watch and per-path latency maps held under key(op,
// path). Found by two slice indexes (Shard.cells), it costs no hash, and
// one pair's counters share cache lines instead of sitting in four maps.
// A zero count is a key that was never counted: every observation adds at
// least one, so Snapshot skips zeros and exports what the maps did.
type opPath struct {
	req, rep traffic
	watches  uint64
	lat      *hist // Config.PathLatency only
	// The counters of this pair in the client and auth candidates whose
	// serials are cli and auth (cand.requestVia). The pointers keep at
	// most a pruned candidate's 16-byte counter alive, not the candidate.
	cli, auth   uint64
	cliT, authT *traffic
}

// cell returns the counters of (op, path), creating them the first time:
// op ids are below maxOps+1 and path ids below MaxPaths+2, so the table
// is bounded by their product.
func (s *Shard) cell(op, path uint32) *opPath {
	if c := s.cellAt(op, path); c != nil {
		return c
	}
	return s.newCell(op, path)
}

// cellAt returns the counters of (op, path), nil if there are none yet.
// It is cell without the creation, small enough to inline where cell
// is not.
func (s *Shard) cellAt(op, path uint32) *opPath {
	if int(path) < len(s.cells) {
		if row := s.cells[path]; int(op) < len(row) {
			return row[op]
		}
	}
	return nil
}

// newCell is cell's slow path: the one allocation for a new pair.
func (s *Shard) newCell(op, path uint32) *opPath {
	if int(path) >= len(s.cells) {
		s.cells = append(s.cells, make([][]*opPath, int(path)+1-len(s.cells))...)
	}
	row := s.cells[path]
	if int(op) >= len(row) {
		row = append(row, make([]*opPath, int(op)+1-len(row))...)
		s.cells[path] = row
	}
	c := &opPath{}
	row[op] = c
	return c
}

// count adds one frame of size bytes to t, the request (or reply) counter
// of (op, path) in c, where *keys counts the pairs counted so far: past
// limit of them, a new pair folds into op Overflow with the same path,
// as the request and reply maps did at their bound.
func (s *Shard) count(c *opPath, t *traffic, path uint32, keys *int, limit int, size uint64) {
	if t.n == 0 {
		t = s.firstCount(c, t, path, keys, limit)
	}
	t.n++
	t.bytes += size
}

// firstCount is count's slow path, for a pair's first frame: it returns
// the counter to add it to. Kept apart so that count inlines.
func (s *Shard) firstCount(c *opPath, t *traffic, path uint32, keys *int, limit int) *traffic {
	if *keys >= limit {
		o := s.cell(opOther, path)
		if t == &c.req {
			t = &o.req
		} else {
			t = &o.rep
		}
	}
	if t.n == 0 {
		*keys++
	}
	return t
}

// Shard is the part of Stats one pipeline worker writes. Its methods are
// safe for concurrent use, but the design assumes one writer.
type Shard struct {
	st   *Stats
	mu   sync.Mutex
	held bool // the writer keeps mu locked between messages (ObserveHeld)

	scratch []byte
	paths   map[string]uint32 // normalised path -> admitted id (cache of st.paths)
	// pathsAll: paths holds every id of st.paths, which is full, so a
	// path it lacks folds without asking st.paths (and taking its lock).
	pathsAll bool
	// admitted, once pathsAll, has the bit of every key of paths set
	// (admittedBit): a path whose bit is clear folds without a lookup in
	// paths, which would miss.
	admitted []uint64
	// raw maps long raw paths (over recentPathLen) to their id, skipping
	// normalisation; bounded by rawCap.
	raw map[string]uint32
	// recentPaths and olderPaths cache the ids of short raw paths.
	recentPaths *[recentPathSlots]pathSlot
	olderPaths  *[olderPathSlots]pathSlot
	seed        uint64 // of hashPath
	stamp       uint8  // 7 bits that mark this shard's SinkTags
	rawCap      int
	folded      uint64 // observations whose path went to Overflow

	// ops interns the op names of client-protocol messages; multi is
	// keyed by key(op id, path id), errs by key(op id, code), and lat is
	// indexed by op id.
	ops *opTable
	// cells[path id][op id] are the counters of each (op, path) pair
	// seen; reqKeys and repKeys count the pairs with a request or reply,
	// up to pairLimit (Shard.count).
	cells                       [][]*opPath
	reqKeys, repKeys, pairLimit int
	errs                        map[uint64]*uint64
	errCache                    [1 << errCacheBits]errSlot
	lat                         []hist
	multi                       map[uint64]uint64
	watchFired                  map[evPath]uint64

	clients     map[netip.Addr]*cand
	auths       map[string]*cand
	gen         uint64 // of the entries of recent
	serial      uint64 // of the last candidate created
	clientTotal cand   // every client-protocol request and answered reply
	clientsUntr uint64
	authsUntr   uint64
	candsPerTop int

	connects, reconnects                 uint64
	established, rejected, closeSessions uint64
	authOK, authFailed                   uint64
	tls                                  uint64

	fourLW map[string]uint64
	zab    map[string]uint64
	zabAck hist
	zabCom hist
	fle    map[string]uint64

	conns        map[netip.AddrPort]string // client endpoint -> auth identity
	connsEvicted uint64

	// recent caches the candidates of recently seen connections, by
	// client port: the lookups it saves (connection identity, client,
	// auth) were a third of Observe. One entry was not enough: a
	// pipelining client sends requests in runs, but the server's replies
	// to several connections interleave. Entries are valid while their
	// gen is the shard's gen, which moves on whenever conns, clients or
	// auths lose or change a key. It is last, 14 KiB, so that the fields
	// every message uses share fewer cache lines.
	recent [recentConns]lastConn
}

func newShard(st *Stats) *Shard {
	return &Shard{
		st:          st,
		scratch:     make([]byte, 0, maxPathLen+16),
		paths:       make(map[string]uint32),
		raw:         make(map[string]uint32),
		rawCap:      4 * st.cfg.MaxPaths,
		pairLimit:   maxOps * (st.cfg.MaxPaths + 2),
		recentPaths: new([recentPathSlots]pathSlot),
		olderPaths:  new([olderPathSlots]pathSlot),
		seed:        rand.Uint64(),
		stamp:       uint8(shardStamps.Add(1) & 0x7f),
		ops:         newOpTable(),
		errs:        make(map[uint64]*uint64),
		multi:       make(map[uint64]uint64),
		watchFired:  make(map[evPath]uint64),
		fourLW:      make(map[string]uint64),
		zab:         make(map[string]uint64),
		fle:         make(map[string]uint64),
		conns:       make(map[netip.AddrPort]string),
		clients:     make(map[netip.Addr]*cand),
		auths:       make(map[string]*cand),
		candsPerTop: candidateCap(st.cfg.TopClients, st.cfg.TopAuths),
		gen:         1, // entries of recent start invalid
	}
}

// lastConn is an entry of Shard.recent: the client and auth candidates of
// conn (nil when their top-N table was full), valid while gen is current.
type lastConn struct {
	gen          uint64
	conn         netip.AddrPort
	client, auth *cand
}

// recentConns is the size of Shard.recent, a power of two. With 64 slots
// indexed by port modulo 64, two of the bench's 8 connections shared one
// (ephemeral ports 56326 and 56390) and their interleaved replies missed
// it in turn.
const (
	recentConnBits = 8
	recentConns    = 1 << recentConnBits
)

// recentConn returns the entry of s.recent for client endpoint c, by a
// Fibonacci hash of its port: ports close together or a multiple of a
// power of two apart land in different slots.
func (s *Shard) recentConn(c netip.AddrPort) *lastConn {
	return &s.recent[(uint32(c.Port())*0x9e3779b9)>>(32-recentConnBits)]
}

// forget invalidates every entry of s.recent.
func (s *Shard) forget() { s.gen++ }

// candidateCap is how many candidates a shard tracks per top-N table:
// generous enough that a heavy hitter arriving between two collections is
// still seen, small enough to bound memory.
func candidateCap(a, b int) int {
	n := max(a, b) * 8
	return max(n, 256)
}

// Observe records m. m is valid only during the call and is not retained;
// strings kept for new keys are copied.
func (s *Shard) Observe(m *proto.Message) {
	s.mu.Lock()
	s.observeLocked(m)
	s.mu.Unlock()
	s.observeElection(m)
}

// ObserveHeld is Observe for a writer that calls Release whenever it
// pauses: the shard's lock is taken at the first message and kept until
// Release, so a run of messages pays for one lock instead of one per
// message (Lock and Unlock were 16 % of Observe). Snapshots and pruning wait
// for Release meanwhile; zktap serve releases through the pipeline's
// Flusher, which bounds the wait to about the capture's read timeout. The
// election state's lock is taken with the shard's held; no collector takes
// them in the other order.
func (s *Shard) ObserveHeld(m *proto.Message) {
	if !s.held {
		s.mu.Lock()
		s.held = true
	}
	if m.Proto == proto.ZK {
		// All but a few messages: one call less, and no election check.
		s.observeZK(m)
		return
	}
	s.observeLocked(m)
	s.observeElection(m)
}

// Release lets go of the lock ObserveHeld keeps, if it does. Only the
// writer calls it.
func (s *Shard) Release() {
	if s.held {
		s.held = false
		s.mu.Unlock()
	}
}

// observeLocked records m; s.mu is held.
func (s *Shard) observeLocked(m *proto.Message) {
	switch m.Proto {
	case proto.ZK:
		s.observeZK(m)
	case proto.FourLetter:
		if m.Kind == proto.Request {
			s.countName(s.fourLW, m.Op)
		}
	case proto.ZAB:
		s.countName(s.zab, m.Op)
		if m.Paired && m.Latency > 0 {
			switch m.Op {
			case "ack":
				s.zabAck.observe(&s.st.cfg, m.Latency.Seconds())
			case "commit":
				s.zabCom.observe(&s.st.cfg, m.Latency.Seconds())
			}
		}
	case proto.FLE:
		if m.Op == "notification" {
			s.fle[fleState(m.FLE.State)]++
		}
	}
}

// observeElection feeds the election state machine, which spans shards.
func (s *Shard) observeElection(m *proto.Message) {
	if m.Proto == proto.FLE && m.Op == "notification" || m.Proto == proto.ZAB && m.Op == "newleader" {
		s.st.observeElection(m)
	}
}

// countName adds one under a static name, bounded by maxOps.
func (s *Shard) countName(mp map[string]uint64, name string) {
	if _, ok := mp[name]; !ok && len(mp) >= maxOps {
		name = Overflow
	}
	mp[name]++
}

// pathID normalises p and returns its id, admitting it to the global table
// if the cap allows. A recent path costs a hash and a compare (two, if it
// is found in the second level), another short one a normalisation and a
// lookup in the shard's table of admitted paths; a long one, a lookup in
// the shard's raw cache first.
func (s *Shard) pathID(p []byte) uint32 {
	if len(p) == 0 {
		return pathNone
	}
	// Admission is permanent, so a raw path always maps to the same id
	// (Overflow included) and can be cached as it came off the wire.
	if len(p) > recentPathLen {
		return s.longPathID(p)
	}
	h := hashPath(s.seed, p)
	e := &s.recentPaths[h>>(64-recentPathBits)]
	tag := uint8(h >> 32)
	if e.holds(p, tag) {
		if e.id == pathOther {
			s.folded++
		}
		return e.id
	}
	var id uint32
	if b := &s.olderPaths[h&(olderPathSlots-1)]; b.holds(p, tag) {
		id = b.id
		if id == pathOther {
			s.folded++
		}
	} else {
		id = s.normalizedID(p)
		b.set(p, tag, id)
	}
	e.set(p, tag, id)
	return id
}

// longPathID is pathID for paths longer than a slot holds.
func (s *Shard) longPathID(p []byte) uint32 {
	id, ok := s.raw[string(p)]
	if ok {
		if id == pathOther {
			s.folded++
		}
		return id
	}
	id = s.normalizedID(p)
	if len(s.raw) < s.rawCap && len(p) <= maxPathLen {
		s.raw[string(p)] = id // copies p: the one allocation for a new raw path
	}
	return id
}

// pathSlot is an entry of Shard.recentPaths or olderPaths: a raw path of n
// bytes and its id. n == 0 is empty (the empty path never gets here). tag
// is 8 bits of the path's hash that neither table's index uses: a slot
// holding another path of the same length (paths of one application often
// differ only in a counter) is told apart without comparing the bytes.
type pathSlot struct {
	id  uint32
	n   uint8
	tag uint8
	b   [recentPathLen]byte
}

func (e *pathSlot) holds(p []byte, tag uint8) bool {
	return int(e.n) == len(p) && e.tag == tag && string(e.b[:e.n]) == string(p)
}

func (e *pathSlot) set(p []byte, tag uint8, id uint32) {
	e.n = uint8(copy(e.b[:], p))
	e.tag = tag
	e.id = id
}

// Shard.recentPaths and olderPaths are direct-mapped by a seeded hash of
// the raw path (its top bits and its bottom bits). A request's path comes
// back in its reply, and a created node's in its delete, a few hundred
// messages later: recentPaths answers both. olderPaths, 2 slots per
// recent one, keeps what newer paths pushed out of them: on traffic of
// hundreds of hot paths and a stream of new ones (creates, or a million
// distinct paths) the hot ones are found again without a normalisation,
// and the new ones cost no lookup in a map that would miss. Both are
// fixed arrays, 220 KiB per shard. (They replace the raw map for short
// paths, which kept the first rawCap paths seen forever and missed on
// every new one: a string hash and a probe each time.)
const (
	recentPathBits  = 10
	recentPathSlots = 1 << recentPathBits
	olderPathSlots  = 2 * recentPathSlots
	recentPathLen   = 62 // most znode paths; longer ones go to raw (a slot is 68 bytes)
)

// hashPath hashes a raw path of at most recentPathLen bytes for
// Shard.recentPaths, or a normalised one for Shard.admitted: a few
// multiplies over 8-byte words (wyhash's mixing), where maphash.Bytes was a
// call and a third of pathID. It is seeded but not collision-resistant: a
// collision only makes a slot miss, or a folding path look admitted, so
// crafted paths cost at worst a normalisation and a lookup in a map (of
// admitted paths) that is.
func hashPath(seed uint64, p []byte) uint64 {
	const (
		k0 = 0xa0761d6478bd642f
		k1 = 0xe7037ed1a0b428db
		k2 = 0x8ebc6af09c88c6e3
	)
	h := seed ^ uint64(len(p))*k0
	for len(p) > 8 {
		h = mix(h^binary.LittleEndian.Uint64(p), k1)
		p = p[8:]
	}
	// The last 1 to 8 bytes, read as two overlapping halves.
	var t uint64
	switch n := len(p); {
	case n >= 4:
		t = uint64(binary.LittleEndian.Uint32(p))<<32 | uint64(binary.LittleEndian.Uint32(p[n-4:]))
	case n > 0:
		t = uint64(p[0])<<16 | uint64(p[n>>1])<<8 | uint64(p[n-1])
	}
	return mix(h^t, k2)
}

// mix folds the 128-bit product of a and b to 64 bits.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func (s *Shard) normalizedID(p []byte) uint32 {
	s.scratch = normalizePath(s.scratch[:0], p, s.st.cfg.AggregationDepth)
	if s.pathsAll {
		if w, b := s.admittedBit(s.scratch); s.admitted[w]&b == 0 {
			s.folded++
			return pathOther
		}
	}
	if id, ok := s.paths[string(s.scratch)]; ok {
		return id
	}
	if s.pathsAll {
		s.folded++
		return pathOther
	}
	id, ok := s.st.paths.lookup(s.scratch)
	if !ok {
		// Not cached: this cache holds admitted paths only, so it stays
		// within MaxPaths however many distinct paths arrive. The table
		// is full for good, so its ids are final: take them all once.
		s.folded++
		s.st.paths.copyTo(s.paths)
		s.pathsAll = true
		s.fillAdmitted()
		return pathOther
	}
	s.paths[string(s.scratch)] = id
	return id
}

// Once the path table is full, the paths that still arrive are mostly new
// ones (creates, or a stream of distinct paths) that fold: a one-hash
// bitset of the admitted paths answers most of them with a hash of a few
// words instead of a string hash and a probe of paths that misses.
// admittedBitsMin and Max bound its size: 16 bits per admitted path (a
// false positive, a lookup that misses after all, about 6 % of the time),
// at most 512 KiB per shard however large MaxPaths is.
const (
	admittedBitsMin = 1 << 10
	admittedBitsMax = 1 << 22
)

// fillAdmitted sizes admitted for the keys of paths and sets their bits.
func (s *Shard) fillAdmitted() {
	n := admittedBitsMin
	for n < 16*len(s.paths) && n < admittedBitsMax {
		n *= 2
	}
	s.admitted = make([]uint64, n/64)
	for name := range s.paths {
		w, b := s.admittedBit([]byte(name)) // once per key, when the table fills
		s.admitted[w] |= b
	}
}

// admittedBit returns the word and bit of admitted for normalised path p.
// The words are a power of two, and the word index comes from the hash's
// top bits, the bit from its bottom 6.
func (s *Shard) admittedBit(p []byte) (word int, bit uint64) {
	h := hashPath(s.seed, p)
	return int(h >> 32 & uint64(len(s.admitted)-1)), 1 << (h & 63)
}

func (s *Shard) observeZK(m *proto.Message) {
	if m.ZK.TLS {
		s.tls++
		return
	}
	client := clientOf(m)
	switch m.Kind {
	case proto.Request:
		if m.Op == "connect" {
			s.connects++
			if m.ZK.Reconnect {
				s.reconnects++
			}
			// A new TCP connection from this endpoint starts unauthenticated.
			delete(s.conns, client)
			s.forget()
			return
		}
		e, ok := s.ops.slot(m.Op)
		if !ok {
			s.ops.fill(e, m.Op)
		}
		op, kind := e.id, e.kind
		p := s.pathID(m.Path)
		// proto/zk hands the tag back on this request's reply, which then
		// skips both lookups.
		m.SinkTag = s.tag(op, kind, p)
		c := s.cellAt(op, p) // cell, inlined
		if c == nil {
			c = s.newCell(op, p)
		}
		s.count(c, &c.req, p, &s.reqKeys, s.pairLimit, uint64(max(m.Size, 0)))

		switch kind {
		case kindAuth:
			if len(m.ZK.AuthScheme) > 0 {
				s.setIdentity(client, m.ZK.AuthScheme, m.ZK.AuthUser)
			}
		case kindSASL:
			// Only one token of a SASL exchange may show the user; the
			// others must not reset the identity to bare "sasl".
			if _, known := s.conns[client]; len(m.ZK.AuthUser) > 0 || !known {
				s.setIdentity(client, m.ZK.AuthScheme, m.ZK.AuthUser)
			}
		case kindCloseSession:
			s.closeSessions++
			if m.HasSession && m.Session != 0 {
				s.st.sessionEnded(m.Session, false)
			}
		case kindSetWatches:
			if m.ZK.Watches > 0 {
				s.cell(op, pathNone).watches += uint64(m.ZK.Watches)
			}
		case kindMulti:
			for i := range m.ZK.Sub {
				sub := &m.ZK.Sub[i]
				s.multi[key(s.ops.id(sub.Op), s.pathID(sub.Path))]++
			}
		}
		if m.ZK.Watch {
			c.watches++
		}
		s.topRequest(client, c, op, p, uint64(max(m.Size, 0)))

	case proto.Reply:
		if m.Op == "connect" {
			if m.Err == 0 && m.ZK.Timeout > 0 {
				s.established++
				if m.HasSession && m.Session != 0 {
					s.st.sessionOpened(m.Session)
				}
			} else {
				s.rejected++
				// proto/zk reports a refused resume as Err -112 with the
				// session id the client asked for.
				if m.HasSession && m.Session != 0 {
					s.st.sessionEnded(m.Session, m.Err == errSessionExpired)
				}
			}
			return
		}
		op, kind, p, ok := s.untag(m.SinkTag)
		if !ok {
			e, hit := s.ops.slot(m.Op)
			if !hit {
				s.ops.fill(e, m.Op)
			}
			op, kind = e.id, e.kind
			p = s.pathID(m.Path)
		}
		c := s.cellAt(op, p) // cell, inlined
		if c == nil {
			c = s.newCell(op, p)
		}
		s.count(c, &c.rep, p, &s.repKeys, s.pairLimit, uint64(max(m.Size, 0)))
		if m.Err != 0 {
			ek := key(op, uint32(m.Err))
			if e := &s.errCache[(ek*0x9e3779b97f4a7c15)>>(64-errCacheBits)]; e.n != nil && e.key == ek {
				*e.n++
			} else {
				s.countErr(e, ek)
			}
		}
		if kind == kindAuth || kind == kindSASL {
			if m.Err == 0 {
				s.authOK++
			} else {
				s.authFailed++
			}
		}
		if m.Paired {
			sec := seconds(m.Latency)
			cfg := &s.st.cfg
			var b int // bucketOf, inlined but for the rare far case
			if nearDur(m.Latency) {
				b = bucketNear(s.st.durBounds, m.Latency)
			} else {
				b = bucketOf(cfg.Buckets, s.st.durBounds, m.Latency)
			}
			if int(op) >= len(s.lat) {
				// Once per op name: op ids are dense and bounded by maxOps.
				s.lat = append(s.lat, make([]hist, int(op)+1-len(s.lat))...)
			}
			if h := &s.lat[op]; !h.tryObserve(b, sec) {
				h.observeAt(cfg, b, sec)
			}
			if cfg.PathLatency {
				if c.lat == nil {
					c.lat = &hist{}
				}
				if !c.lat.tryObserve(b, sec) {
					c.lat.observeAt(cfg, b, sec)
				}
			}
			s.topReply(client, sec)
		}

	case proto.Event:
		if m.Op == "notification" {
			s.watchFired[evPath{ev: m.ZK.EventType, path: s.pathID(m.Path)}]++
		}
	}
}

// errSlot is an entry of Shard.errCache: the counter of s.errs that error
// key key (op id, code) goes to, nil when empty.
type errSlot struct {
	key uint64
	n   *uint64
}

// Shard.errCache is direct-mapped by a Fibonacci hash of the error key. An
// error reply is common (exists and getData of a missing node answer
// NONODE), and a map lookup and an increment in place were 5 % of the serve
// path on such traffic. A key's counter never changes, folded ones
// included (errs never loses a key, so a key that folded always does), so
// the cache needs no invalidation.
const errCacheBits = 4

// countErr counts an error under ek (op id, code) in errs, or under the
// folded key if errs is at its bound, and caches the counter in e.
func (s *Shard) countErr(e *errSlot, ek uint64) {
	n := s.errs[ek]
	if n == nil {
		if len(s.errs) >= maxErrKeys {
			// Codes come off the wire; a damaged stream must not grow
			// this map without bound.
			if n = s.errs[key(opOther, 0)]; n == nil {
				n = new(uint64)
				s.errs[key(opOther, 0)] = n
			}
		} else {
			n = new(uint64)
			s.errs[ek] = n
		}
	}
	*n++
	*e = errSlot{key: ek, n: n}
}

// A request's SinkTag packs what observeZK worked out from its op and
// path: a valid bit, the shard's stamp (so that a tag from another shard
// or Stats is never taken for this one's), the op kind, the op id and the
// path id. Path ids are permanent and op ids interned for good, so the tag
// is still right when the reply comes back.
const (
	tagValid    = 1 << 63
	tagStampBit = 56 // 7 bits of stamp
	tagKindBit  = 48 // 8 bits of opKind
	tagOpBit    = 32 // 16 bits of op id (at most maxOps+1)
)

// shardStamps numbers the shards of the process, for their tag stamps.
var shardStamps atomic.Uint32

func (s *Shard) tag(op uint32, kind opKind, path uint32) uint64 {
	return tagValid | uint64(s.stamp)<<tagStampBit | uint64(kind)<<tagKindBit | uint64(op)<<tagOpBit | uint64(path)
}

// untag unpacks a reply's SinkTag, ok false if it is not one of this
// shard's. A tagged path that folded counts as folded again, as pathID
// would have counted it.
func (s *Shard) untag(t uint64) (op uint32, kind opKind, path uint32, ok bool) {
	if t&tagValid == 0 || uint8(t>>tagStampBit&0x7f) != s.stamp {
		return 0, 0, 0, false
	}
	op, kind, path = uint32(t>>tagOpBit&0xffff), opKind(t>>tagKindBit), uint32(t)
	if op > maxOps+1 || int(path) >= len(s.cells) {
		return 0, 0, 0, false // not a tag this shard made
	}
	if path == pathOther {
		s.folded++
	}
	return op, kind, path, true
}

// setIdentity links a connection to the identity it authenticated as. The
// scheme and user are copied; only the user half of digest credentials ever
// reaches a Message.
func (s *Shard) setIdentity(c netip.AddrPort, scheme, user []byte) {
	cur, ok := s.conns[c]
	if ok && identityEquals(cur, scheme, user) {
		return
	}
	if !ok && len(s.conns) >= max(s.st.cfg.MaxConns/len(s.st.shards), 1) {
		// Bounded: forget an arbitrary connection. Its later traffic
		// counts as noauth, which is what zktraffic reports for a
		// connection whose auth it never saw.
		for k := range s.conns {
			delete(s.conns, k)
			s.connsEvicted++
			break
		}
	}
	s.forget()
	var b strings.Builder
	b.Grow(len(scheme) + 1 + len(user))
	b.Write(scheme)
	if len(user) > 0 {
		b.WriteByte(':')
		b.Write(user)
	}
	s.conns[c] = b.String()
}

func identityEquals(id string, scheme, user []byte) bool {
	if len(user) == 0 {
		return id == string(scheme)
	}
	return len(id) == len(scheme)+1+len(user) && id[:len(scheme)] == string(scheme) &&
		id[len(scheme)] == ':' && id[len(scheme)+1:] == string(user)
}

func (s *Shard) identity(c netip.AddrPort) string {
	if id, ok := s.conns[c]; ok {
		return id
	}
	return NoAuth
}

func (s *Shard) topRequest(c netip.AddrPort, cell *opPath, op, path uint32, size uint64) {
	s.clientTotal.req.n++
	s.clientTotal.req.bytes += size
	e := s.recentConn(c)
	if e.gen != s.gen || e.conn != c {
		*e = lastConn{gen: s.gen, conn: c,
			client: s.clientCand(c.Addr().Unmap()), auth: s.authCand(s.identity(c))}
	}
	if k := e.client; k == nil {
		s.clientsUntr++
	} else if !k.requestHit(cell.cli, cell.cliT, size) {
		k.requestVia(&cell.cli, &cell.cliT, op, path, size)
	}
	if k := e.auth; k == nil {
		s.authsUntr++
	} else if !k.requestHit(cell.auth, cell.authT, size) {
		k.requestVia(&cell.auth, &cell.authT, op, path, size)
	}
}

func (s *Shard) topReply(c netip.AddrPort, sec float64) {
	s.clientTotal.answered++
	s.clientTotal.latSum += sec
	var kc, ka *cand
	if e := s.recentConn(c); e.gen == s.gen && e.conn == c {
		kc, ka = e.client, e.auth
	} else {
		// Not cached, and not cached now: a reply does not make its
		// client a candidate, so there may be no candidate to cache.
		kc, ka = s.clients[c.Addr().Unmap()], s.auths[s.identity(c)]
	}
	if kc != nil {
		kc.answered++
		kc.latSum += sec
	}
	if ka != nil {
		ka.answered++
		ka.latSum += sec
	}
}

func (s *Shard) clientCand(a netip.Addr) *cand {
	if k := s.clients[a]; k != nil {
		return k
	}
	if len(s.clients) >= s.candsPerTop {
		return nil
	}
	s.serial++
	k := &cand{serial: s.serial}
	s.clients[a] = k
	return k
}

func (s *Shard) authCand(id string) *cand {
	if k := s.auths[id]; k != nil {
		return k
	}
	if len(s.auths) >= s.candsPerTop {
		return nil
	}
	s.serial++
	k := &cand{serial: s.serial}
	s.auths[id] = k // id is already an owned copy (or the NoAuth constant)
	return k
}

// observeElection runs the election state machine. FLE traffic is a few
// messages per election, so one mutex across shards costs nothing.
//
// When every voter is LOOKING at once (an ensemble starting, or the
// survivors of a dead leader) they decide on the LOOKING votes alone and
// no FOLLOWING or LEADING notification is ever sent; the election then
// ends at the new leader's ZAB NEWLEADER, won by the latest vote seen.
func (s *Stats) observeElection(m *proto.Message) {
	s.fleMu.Lock()
	defer s.fleMu.Unlock()
	e := &s.fle
	if m.Proto == proto.ZAB {
		if e.running && e.vote != 0 {
			e.end(&s.cfg, m.Time, e.vote, e.voteEpoch)
		}
		return
	}
	switch m.FLE.State {
	case "looking":
		if !e.running {
			e.running = true
			e.began = m.Time
			e.vote, e.voteEpoch = 0, 0
		}
		if m.FLE.ElectionEpoch >= e.voteEpoch {
			e.vote, e.voteEpoch = m.FLE.Leader, m.FLE.ElectionEpoch
		}
	case "following", "leading":
		// A peer that has not yet noticed its leader is gone still
		// answers with its old vote (an older election epoch, the dead
		// leader): that does not end the new election (seen on a real
		// ensemble when the leader was killed).
		if e.running && m.FLE.ElectionEpoch >= e.voteEpoch {
			e.end(&s.cfg, m.Time, m.FLE.Leader, m.FLE.ElectionEpoch)
		}
	}
}

// end concludes the running election, won by leader.
func (e *electionState) end(cfg *Config, at time.Time, leader, epoch int64) {
	e.running = false
	e.count++
	e.leader = leader
	e.epoch = epoch
	if d := at.Sub(e.began); d >= 0 {
		e.duration.observe(cfg, d.Seconds())
	}
}

// fleState maps a notification's state to a constant, so a damaged or
// unexpected value can neither mint label values nor retain a buffer.
func fleState(s string) string {
	switch s {
	case "looking":
		return "looking"
	case "following":
		return "following"
	case "leading":
		return "leading"
	case "observing":
		return "observing"
	}
	return "unknown"
}
