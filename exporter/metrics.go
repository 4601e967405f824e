package exporter

import (
	"context"
	"fmt"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/proto"
)

// obs is what one instrument observes from a collection.
type obs struct {
	snap *stats.Snapshot
	h    stats.Health
	dec  *proto.Counters
}

// emit reports one data point.
type emit func(v float64, l labels)

// labels are the attributes of one data point: none, one (k1 set) or two
// (k1 and k2 set). A value may be empty; a name never is.
type labels struct{ k1, v1, k2, v2 string }

func label(k, v string) labels            { return labels{k1: k, v1: v} }
func label2(k1, v1, k2, v2 string) labels { return labels{k1: k1, v1: v1, k2: k2, v2: v2} }

func (l labels) set() attribute.Set {
	switch {
	case l.k2 != "":
		return attribute.NewSet(attribute.String(l.k1, l.v1), attribute.String(l.k2, l.v2))
	case l.k1 != "":
		return attribute.NewSet(attribute.String(l.k1, l.v1))
	}
	return *attribute.EmptySet()
}

// def describes one asynchronous instrument. OTel names are dotted; the
// Prometheus exporter appends the unit and _total (see doc.go).
type def struct {
	name, unit, desc string
	gauge            bool
	float            bool
	collect          func(o *obs, emit emit)
}

// eachTop collects one value of every top-N entry (clients or auth
// identities) under label.
func eachTop(list func(*stats.Snapshot) []stats.Top, name string, val func(stats.Top) float64) func(*obs, emit) {
	return func(o *obs, emit emit) {
		for _, t := range list(o.snap) {
			emit(val(t), label(name, t.Key))
		}
	}
}

func topRequests(t stats.Top) float64 { return float64(t.Requests.Count) }
func topBytes(t stats.Top) float64    { return float64(t.Requests.Bytes) }
func topAnswered(t stats.Top) float64 { return float64(t.Answered) }
func topLatency(t stats.Top) float64  { return t.LatencySum }

func opPath(r stats.OpPath) labels { return label2("op", r.Op, "path", r.Path) }

// defs lists every callback-observed metric. Histograms are in producer.go.
func defs() []def {
	return []def{
		{name: "zookeeper.client.requests", unit: "{request}", desc: "Client request frames by op and normalised path, pings, auth, setWatches and closeSession included; connect handshakes are in zookeeper.client.connects.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Requests {
					emit(float64(r.Count), opPath(r))
				}
			}},
		{name: "zookeeper.client.request.size", unit: "By", desc: "Bytes of client request frames by op and normalised path, length prefix included.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Requests {
					emit(float64(r.Bytes), opPath(r))
				}
			}},
		{name: "zookeeper.client.responses", unit: "{response}", desc: "Server replies by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Replies {
					emit(float64(r.Count), opPath(r))
				}
			}},
		{name: "zookeeper.client.response.size", unit: "By", desc: "Bytes of server replies by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Replies {
					emit(float64(r.Bytes), opPath(r))
				}
			}},
		{name: "zookeeper.client.errors", unit: "{response}", desc: "Replies with a non-zero KeeperException code, by op and code name.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Errors {
					emit(float64(r.Count), label2("op", r.Op, "code", CodeName(r.Code)))
				}
			}},
		{name: "zookeeper.client.multi.ops", unit: "{operation}", desc: "Sub-operations inside multi and multiRead requests, by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.MultiOps {
					emit(float64(r.Count), opPath(r))
				}
			}},
		{name: "zookeeper.client.watches.set", unit: "{watch}", desc: "Watches armed, by arming op and normalised path; setWatches counts every path it re-registers, with an empty path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.WatchesSet {
					emit(float64(r.Count), opPath(r))
				}
			}},
		{name: "zookeeper.client.watches.fired", unit: "{event}", desc: "Watch notifications sent to clients, by event type and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.WatchesFired {
					emit(float64(r.Count), label2("type", r.Type, "path", r.Path))
				}
			}},
		{name: "zookeeper.client.connects", unit: "{request}", desc: "Connect handshakes (ConnectRequest), new sessions and resumed ones.",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.Connects-o.snap.Reconnects), label("kind", "new"))
				emit(float64(o.snap.Reconnects), label("kind", "resume"))
			}},
		{name: "zookeeper.client.sessions.opened", unit: "{session}", desc: "ConnectResponses by result: established, or rejected (expired or invalid session, timeout 0).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.Established), label("result", "established"))
				emit(float64(o.snap.Rejected), label("result", "rejected"))
			}},
		{name: "zookeeper.client.sessions.closed", unit: "{session}", desc: "Sessions closed by the client (closeSession requests).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.CloseSessions), labels{}) }},
		{name: "zookeeper.client.sessions.active", unit: "{session}", gauge: true, desc: "Sessions established and not since closed (closeSession) or refused on resume; an upper bound, since a session that expires while its client is gone leaves no trace on the wire.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsActive), labels{}) }},
		{name: "zookeeper.client.sessions.expired", unit: "{session}", desc: "Session resumes refused because the session had expired (connect reply with timeout 0).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsExpired), labels{}) }},
		{name: "zktap.sessions.forgotten", unit: "{session}", desc: "Sessions dropped from the live-session table because it was full.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsForgotten), labels{}) }},
		{name: "zookeeper.client.auth.responses", unit: "{response}", desc: "Replies to auth and sasl requests, by result (ok, failed).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.AuthOK), label("result", "ok"))
				emit(float64(o.snap.AuthFailed), label("result", "failed"))
			}},
		{name: "zookeeper.client.tls.connections", unit: "{connection}", desc: "Client connections seen to start with a TLS handshake (opaque, not decoded).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.TLS), labels{}) }},
		{name: "zookeeper.client.ip.requests", unit: "{request}", desc: "Requests of the top-N client IPs since each was elected; client=\"other\" holds everyone else.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Clients }, "client", topRequests)},
		{name: "zookeeper.client.ip.request.size", unit: "By", desc: "Request bytes of the top-N client IPs; client=\"other\" holds everyone else.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Clients }, "client", topBytes)},
		{name: "zookeeper.client.ip.responses", unit: "{response}", desc: "Answered requests of the top-N client IPs (the count of zookeeper.client.ip.latency).",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Clients }, "client", topAnswered)},
		{name: "zookeeper.client.ip.latency", unit: "s", float: true, desc: "Summed latency of answered requests of the top-N client IPs; divide by zookeeper.client.ip.responses for the mean.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Clients }, "client", topLatency)},
		{name: "zookeeper.client.identity.requests", unit: "{request}", desc: "Requests of the top-N auth identities (scheme:user, or noauth); identity=\"other\" holds the rest.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Auths }, "identity", topRequests)},
		{name: "zookeeper.client.identity.request.size", unit: "By", desc: "Request bytes of the top-N auth identities.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Auths }, "identity", topBytes)},
		{name: "zookeeper.client.identity.responses", unit: "{response}", desc: "Answered requests of the top-N auth identities.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Auths }, "identity", topAnswered)},
		{name: "zookeeper.client.identity.latency", unit: "s", float: true, desc: "Summed latency of answered requests of the top-N auth identities.",
			collect: eachTop(func(s *stats.Snapshot) []stats.Top { return s.Auths }, "identity", topLatency)},
		{name: "zookeeper.4lw.commands", unit: "{command}", desc: "Four-letter-word commands by command.",
			collect: func(o *obs, emit emit) {
				for _, c := range o.snap.FourLetter {
					emit(float64(c.Count), label("command", c.Name))
				}
			}},
		{name: "zookeeper.zab.packets", unit: "{packet}", desc: "Quorum (ZAB) packets by type.",
			collect: func(o *obs, emit emit) {
				for _, c := range o.snap.ZAB {
					emit(float64(c.Count), label("type", c.Name))
				}
			}},
		{name: "zookeeper.fle.notifications", unit: "{notification}", desc: "Leader-election notifications by the sender's state.",
			collect: func(o *obs, emit emit) {
				for _, c := range o.snap.FLE {
					emit(float64(c.Count), label("state", c.Name))
				}
			}},
		{name: "zookeeper.fle.elections", unit: "{election}", desc: "Elections seen to end: a LOOKING notification starts one, the next FOLLOWING or LEADING ends it.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.Election.Count), labels{}) }},
		{name: "zookeeper.fle.leader", unit: "{server}", gauge: true, desc: "Server id that won the last election seen; 0 before one ended.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.Election.Leader), labels{}) }},

		{name: "zktap.packets", unit: "{packet}", desc: "Packets read from the capture source.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Packets), labels{}) }},
		{name: "zktap.captured", unit: "By", desc: "Bytes of packets read from the capture source.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Bytes), labels{}) }},
		{name: "zktap.drops", unit: "{packet}", desc: "Packets lost before decoding, by where: kernel (socket buffer full) or queue (worker queue full).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.h.KernelDrops), label("where", "kernel"))
				emit(float64(o.h.QueueDrops), label("where", "queue"))
			}},
		{name: "zktap.capture.reopens", unit: "{reopen}", desc: "Times the live capture was lost (its interface deleted or down) and opened again.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.CaptureReopens), labels{}) }},
		{name: "zktap.capture.down", unit: "s", float: true, desc: "Time without a live capture because its interface was deleted or down.",
			collect: func(o *obs, emit emit) { emit(o.h.CaptureDown.Seconds(), labels{}) }},
		{name: "zktap.capture.up", unit: "{capture}", gauge: true, desc: "1 while the capture source is open, 0 while a lost live capture is being reopened.",
			collect: func(o *obs, emit emit) {
				if o.h.CaptureLost {
					emit(0, labels{})
				} else {
					emit(1, labels{})
				}
			}},
		{name: "zktap.messages", unit: "{message}", desc: "Messages decoded.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Messages), labels{}) }},
		{name: "zktap.decode.errors", unit: "{error}", desc: "Decoder events by protocol and reason token (resync, gap, orphan_reply, ...).",
			collect: func(o *obs, emit emit) {
				if o.dec == nil {
					return
				}
				for p := proto.Proto(1); int(p) < proto.NumProtos; p++ {
					for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
						if n := o.dec.Get(p, r); n > 0 {
							emit(float64(n), label2("proto", p.String(), "reason", r.String()))
						}
					}
				}
			}},
		{name: "zktap.flows.active", unit: "{flow}", gauge: true, desc: "TCP flows tracked now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.FlowsActive), labels{}) }},
		{name: "zktap.flows.evicted", unit: "{flow}", desc: "Flows evicted by the flow-table cap or the idle timeout.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.FlowsEvicted), labels{}) }},
		{name: "zktap.reassembly.gaps", unit: "{gap}", desc: "Sequence gaps the reassembler reported to decoders.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.ReasmGaps), labels{}) }},
		{name: "zktap.reassembly.overflows", unit: "{overflow}", desc: "Out-of-order buffers that hit their cap.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.ReasmOverflows), labels{}) }},
		{name: "zktap.reassembly.buffered", unit: "By", gauge: true, desc: "Bytes held by reassembly now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.BufferedBytes), labels{}) }},
		{name: "zktap.dump.subscribers", unit: "{subscriber}", gauge: true, desc: "/debug/dump clients connected now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.DumpSubs), labels{}) }},
		{name: "zktap.dump.dropped", unit: "{message}", desc: "Messages dropped for slow /debug/dump clients.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.DumpDropped), labels{}) }},
		{name: "zktap.paths.tracked", unit: "{path}", gauge: true, desc: "Distinct normalised paths used as label values, at most the configured path cap.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.PathsTracked), labels{}) }},
		{name: "zktap.folded", unit: "{observation}", desc: "Observations folded into the value \"other\", by dimension: path (over the path cap), client or identity (never tracked as a top-N candidate).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.PathsFolded), label("dimension", "path"))
				emit(float64(o.snap.ClientsFolded), label("dimension", "client"))
				emit(float64(o.snap.AuthsFolded), label("dimension", "identity"))
			}},
		{name: "zktap.connections.forgotten", unit: "{connection}", desc: "Connections whose auth identity was forgotten because the connection table was full.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.ConnsEvicted), labels{}) }},
	}
}

// series is the attribute set of one observed series with the option
// that passes it, built the first time the series appears and reused by
// later collections.
type series struct {
	opts []metric.ObserveOption // metric.WithAttributeSet(the set)
	gen  uint64                 // last collection that observed it
}

// seriesCache holds a series for every attribute set the last collection
// observed. A set that a collection does not observe is dropped at its
// end, so the cache is bounded by the stats caps (paths x ops, top-N).
type seriesCache struct {
	mu  sync.Mutex // held for a whole callback: readers collect concurrently
	gen uint64
	m   map[labels]*series
}

// get returns the series of l, creating it if this collection is the
// first to observe l. c.mu must be held.
func (c *seriesCache) get(l labels) *series {
	sr := c.m[l]
	if sr == nil {
		sr = &series{opts: []metric.ObserveOption{metric.WithAttributeSet(l.set())}}
		c.m[l] = sr
	}
	sr.gen = c.gen
	return sr
}

// sweep drops the series the current collection did not observe.
func (c *seriesCache) sweep() {
	for l, sr := range c.m {
		if sr.gen != c.gen {
			delete(c.m, l)
		}
	}
}

// snapshotShare hands the snapshot taken by the callback to the producer,
// so a collection takes one Snapshot instead of two. A reader's Collect
// runs the SDK's callbacks (under its pipeline's lock) and then, on the
// same goroutine, the external producers; the Prometheus and OTLP readers
// may collect at the same time, and so may two scrapes. The producer takes
// the newest snapshot a callback left, which is never older than its own
// collection's, and clears the slot; if a concurrent collection took it
// first, the producer takes a snapshot of its own.
type snapshotShare struct {
	mu   sync.Mutex
	snap *stats.Snapshot
}

func (h *snapshotShare) put(s *stats.Snapshot) {
	h.mu.Lock()
	h.snap = s
	h.mu.Unlock()
}

func (h *snapshotShare) take() *stats.Snapshot {
	h.mu.Lock()
	s := h.snap
	h.snap = nil
	h.mu.Unlock()
	return s
}

// register creates every instrument and one callback that takes a single
// snapshot per collection and observes them all.
func (e *Exporter) register(m metric.Meter) (metric.Registration, error) {
	ds := defs()
	insts := make([]metric.Observable, len(ds))
	for i, d := range ds {
		var err error
		switch {
		case d.gauge:
			insts[i], err = m.Float64ObservableGauge(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		case d.float:
			insts[i], err = m.Float64ObservableCounter(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		default:
			insts[i], err = m.Int64ObservableCounter(d.name, metric.WithUnit(d.unit), metric.WithDescription(d.desc))
		}
		if err != nil {
			return nil, fmt.Errorf("exporter: instrument %s: %w", d.name, err)
		}
	}
	cache := &seriesCache{m: map[labels]*series{}}
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		snap := e.opts.Stats.UnsortedSnapshot()
		e.share.put(snap)
		o := &obs{snap: snap, h: e.opts.Health(), dec: e.opts.Decode}
		cache.mu.Lock()
		defer cache.mu.Unlock()
		cache.gen++
		for i, d := range ds {
			switch x := insts[i].(type) {
			case metric.Int64ObservableCounter:
				d.collect(o, func(v float64, l labels) { ob.ObserveInt64(x, int64(v), cache.get(l).opts...) })
			case metric.Float64ObservableCounter:
				d.collect(o, func(v float64, l labels) { ob.ObserveFloat64(x, v, cache.get(l).opts...) })
			case metric.Float64ObservableGauge:
				d.collect(o, func(v float64, l labels) { ob.ObserveFloat64(x, v, cache.get(l).opts...) })
			}
		}
		cache.sweep()
		return nil
	}, insts...)
}

var codeNames = map[int32]string{
	-1: "SYSTEMERROR", -2: "RUNTIMEINCONSISTENCY", -3: "DATAINCONSISTENCY", -4: "CONNECTIONLOSS",
	-5: "MARSHALLINGERROR", -6: "UNIMPLEMENTED", -7: "OPERATIONTIMEOUT", -8: "BADARGUMENTS",
	-12: "UNKNOWNSESSION", -13: "NEWCONFIGNOQUORUM", -14: "RECONFIGINPROGRESS",
	-100: "APIERROR", -101: "NONODE", -102: "NOAUTH", -103: "BADVERSION",
	-108: "NOCHILDRENFOREPHEMERALS", -110: "NODEEXISTS", -111: "NOTEMPTY", -112: "SESSIONEXPIRED",
	-113: "INVALIDCALLBACK", -114: "INVALIDACL", -115: "AUTHFAILED", -118: "SESSIONMOVED",
	-119: "NOTREADONLY", -120: "EPHEMERALONLOCALSESSION", -121: "NOWATCHER", -122: "REQUESTTIMEOUT",
	-123: "RECONFIGDISABLED", -124: "SESSIONCLOSEDREQUIRESASLAUTH", -125: "QUOTAEXCEEDED",
	-127: "THROTTLEDOP",
}

// CodeName returns the KeeperException.Code name of c, or "UNKNOWN" for a
// code not in the table (so damaged input cannot mint new label values).
func CodeName(c int32) string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	if c == 0 {
		return "OK"
	}
	return "UNKNOWN"
}
