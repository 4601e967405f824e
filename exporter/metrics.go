package exporter

import (
	"context"
	"fmt"

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
type emit func(v float64, kv ...attribute.KeyValue)

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
func eachTop(list func(*stats.Snapshot) []stats.Top, label string, val func(stats.Top) float64) func(*obs, emit) {
	return func(o *obs, emit emit) {
		for _, t := range list(o.snap) {
			emit(val(t), attribute.String(label, t.Key))
		}
	}
}

func topRequests(t stats.Top) float64 { return float64(t.Requests.Count) }
func topBytes(t stats.Top) float64    { return float64(t.Requests.Bytes) }
func topAnswered(t stats.Top) float64 { return float64(t.Answered) }
func topLatency(t stats.Top) float64  { return t.LatencySum }

func opPath(r stats.OpPath) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("op", r.Op), attribute.String("path", r.Path)}
}

// defs lists every callback-observed metric. Histograms are in producer.go.
func defs() []def {
	return []def{
		{name: "zookeeper.client.requests", unit: "{request}", desc: "Client request frames by op and normalised path, pings, auth, setWatches and closeSession included; connect handshakes are in zookeeper.client.connects.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Requests {
					emit(float64(r.Count), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.request.size", unit: "By", desc: "Bytes of client request frames by op and normalised path, length prefix included.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Requests {
					emit(float64(r.Bytes), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.responses", unit: "{response}", desc: "Server replies by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Replies {
					emit(float64(r.Count), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.response.size", unit: "By", desc: "Bytes of server replies by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Replies {
					emit(float64(r.Bytes), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.errors", unit: "{response}", desc: "Replies with a non-zero KeeperException code, by op and code name.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.Errors {
					emit(float64(r.Count), attribute.String("op", r.Op), attribute.String("code", CodeName(r.Code)))
				}
			}},
		{name: "zookeeper.client.multi.ops", unit: "{operation}", desc: "Sub-operations inside multi and multiRead requests, by op and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.MultiOps {
					emit(float64(r.Count), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.watches.set", unit: "{watch}", desc: "Watches armed, by arming op and normalised path; setWatches counts every path it re-registers, with an empty path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.WatchesSet {
					emit(float64(r.Count), opPath(r)...)
				}
			}},
		{name: "zookeeper.client.watches.fired", unit: "{event}", desc: "Watch notifications sent to clients, by event type and normalised path.",
			collect: func(o *obs, emit emit) {
				for _, r := range o.snap.WatchesFired {
					emit(float64(r.Count), attribute.String("type", r.Type), attribute.String("path", r.Path))
				}
			}},
		{name: "zookeeper.client.connects", unit: "{request}", desc: "Connect handshakes (ConnectRequest), new sessions and resumed ones.",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.Connects-o.snap.Reconnects), attribute.String("kind", "new"))
				emit(float64(o.snap.Reconnects), attribute.String("kind", "resume"))
			}},
		{name: "zookeeper.client.sessions.opened", unit: "{session}", desc: "ConnectResponses by result: established, or rejected (expired or invalid session, timeout 0).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.Established), attribute.String("result", "established"))
				emit(float64(o.snap.Rejected), attribute.String("result", "rejected"))
			}},
		{name: "zookeeper.client.sessions.closed", unit: "{session}", desc: "Sessions closed by the client (closeSession requests).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.CloseSessions)) }},
		{name: "zookeeper.client.sessions.active", unit: "{session}", gauge: true, desc: "Sessions established and not since closed (closeSession) or refused on resume; an upper bound, since a session that expires while its client is gone leaves no trace on the wire.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsActive)) }},
		{name: "zookeeper.client.sessions.expired", unit: "{session}", desc: "Session resumes refused because the session had expired (connect reply with timeout 0).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsExpired)) }},
		{name: "zktap.sessions.forgotten", unit: "{session}", desc: "Sessions dropped from the live-session table because it was full.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.SessionsForgotten)) }},
		{name: "zookeeper.client.auth.responses", unit: "{response}", desc: "Replies to auth and sasl requests, by result (ok, failed).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.AuthOK), attribute.String("result", "ok"))
				emit(float64(o.snap.AuthFailed), attribute.String("result", "failed"))
			}},
		{name: "zookeeper.client.tls.connections", unit: "{connection}", desc: "Client connections seen to start with a TLS handshake (opaque, not decoded).",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.TLS)) }},
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
					emit(float64(c.Count), attribute.String("command", c.Name))
				}
			}},
		{name: "zookeeper.zab.packets", unit: "{packet}", desc: "Quorum (ZAB) packets by type.",
			collect: func(o *obs, emit emit) {
				for _, c := range o.snap.ZAB {
					emit(float64(c.Count), attribute.String("type", c.Name))
				}
			}},
		{name: "zookeeper.fle.notifications", unit: "{notification}", desc: "Leader-election notifications by the sender's state.",
			collect: func(o *obs, emit emit) {
				for _, c := range o.snap.FLE {
					emit(float64(c.Count), attribute.String("state", c.Name))
				}
			}},
		{name: "zookeeper.fle.elections", unit: "{election}", desc: "Elections seen to end: a LOOKING notification starts one, the next FOLLOWING or LEADING ends it.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.Election.Count)) }},
		{name: "zookeeper.fle.leader", unit: "{server}", gauge: true, desc: "Server id that won the last election seen; 0 before one ended.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.Election.Leader)) }},

		{name: "zktap.packets", unit: "{packet}", desc: "Packets read from the capture source.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Packets)) }},
		{name: "zktap.captured", unit: "By", desc: "Bytes of packets read from the capture source.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Bytes)) }},
		{name: "zktap.drops", unit: "{packet}", desc: "Packets lost before decoding, by where: kernel (socket buffer full) or queue (worker queue full).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.h.KernelDrops), attribute.String("where", "kernel"))
				emit(float64(o.h.QueueDrops), attribute.String("where", "queue"))
			}},
		{name: "zktap.capture.reopens", unit: "{reopen}", desc: "Times the live capture was lost (its interface deleted or down) and opened again.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.CaptureReopens)) }},
		{name: "zktap.capture.down", unit: "s", float: true, desc: "Time without a live capture because its interface was deleted or down.",
			collect: func(o *obs, emit emit) { emit(o.h.CaptureDown.Seconds()) }},
		{name: "zktap.capture.up", unit: "{capture}", gauge: true, desc: "1 while the capture source is open, 0 while a lost live capture is being reopened.",
			collect: func(o *obs, emit emit) {
				if o.h.CaptureLost {
					emit(0)
				} else {
					emit(1)
				}
			}},
		{name: "zktap.messages", unit: "{message}", desc: "Messages decoded.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.Messages)) }},
		{name: "zktap.decode.errors", unit: "{error}", desc: "Decoder events by protocol and reason token (resync, gap, orphan_reply, ...).",
			collect: func(o *obs, emit emit) {
				if o.dec == nil {
					return
				}
				for p := proto.Proto(1); int(p) < proto.NumProtos; p++ {
					for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
						if n := o.dec.Get(p, r); n > 0 {
							emit(float64(n), attribute.String("proto", p.String()), attribute.String("reason", r.String()))
						}
					}
				}
			}},
		{name: "zktap.flows.active", unit: "{flow}", gauge: true, desc: "TCP flows tracked now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.FlowsActive)) }},
		{name: "zktap.flows.evicted", unit: "{flow}", desc: "Flows evicted by the flow-table cap or the idle timeout.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.FlowsEvicted)) }},
		{name: "zktap.reassembly.gaps", unit: "{gap}", desc: "Sequence gaps the reassembler reported to decoders.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.ReasmGaps)) }},
		{name: "zktap.reassembly.overflows", unit: "{overflow}", desc: "Out-of-order buffers that hit their cap.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.ReasmOverflows)) }},
		{name: "zktap.reassembly.buffered", unit: "By", gauge: true, desc: "Bytes held by reassembly now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.BufferedBytes)) }},
		{name: "zktap.dump.subscribers", unit: "{subscriber}", gauge: true, desc: "/debug/dump clients connected now.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.DumpSubs)) }},
		{name: "zktap.dump.dropped", unit: "{message}", desc: "Messages dropped for slow /debug/dump clients.",
			collect: func(o *obs, emit emit) { emit(float64(o.h.DumpDropped)) }},
		{name: "zktap.paths.tracked", unit: "{path}", gauge: true, desc: "Distinct normalised paths used as label values, at most the configured path cap.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.PathsTracked)) }},
		{name: "zktap.folded", unit: "{observation}", desc: "Observations folded into the value \"other\", by dimension: path (over the path cap), client or identity (never tracked as a top-N candidate).",
			collect: func(o *obs, emit emit) {
				emit(float64(o.snap.PathsFolded), attribute.String("dimension", "path"))
				emit(float64(o.snap.ClientsFolded), attribute.String("dimension", "client"))
				emit(float64(o.snap.AuthsFolded), attribute.String("dimension", "identity"))
			}},
		{name: "zktap.connections.forgotten", unit: "{connection}", desc: "Connections whose auth identity was forgotten because the connection table was full.",
			collect: func(o *obs, emit emit) { emit(float64(o.snap.ConnsEvicted)) }},
	}
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
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		o := &obs{snap: e.opts.Stats.Snapshot(), h: e.opts.Health(), dec: e.opts.Decode}
		for i, d := range ds {
			inst := insts[i]
			d.collect(o, func(v float64, kv ...attribute.KeyValue) {
				opt := metric.WithAttributeSet(attribute.NewSet(kv...))
				switch x := inst.(type) {
				case metric.Int64ObservableCounter:
					ob.ObserveInt64(x, int64(v), opt)
				case metric.Float64ObservableCounter:
					ob.ObserveFloat64(x, v, opt)
				case metric.Float64ObservableGauge:
					ob.ObserveFloat64(x, v, opt)
				}
			})
		}
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
