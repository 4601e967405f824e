package exporter

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/zktap/zktap/exporter/stats"
)

// histProducer exports the histograms kept by stats. OTel has no
// asynchronous histogram, so they enter the SDK as a metric.Producer, the
// way contrib's runtime instrumentation exports Go's scheduler histograms.
type histProducer struct {
	e *Exporter
}

// hpoint is one histogram series before conversion to OTel data.
type hpoint struct {
	attrs attribute.Set
	h     stats.Histogram
}

// Produce takes the snapshot the callback took in the same collection (see
// snapshotShare), or one of its own, and returns every histogram as cumulative data:
// explicit-bucket histograms, or exponential ones when stats keeps them
// (stats.Config.Exponential), which Prometheus exposes as native histograms.
// It is safe for concurrent use.
func (p *histProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	snap := p.e.share.take()
	if snap == nil {
		snap = p.e.opts.Stats.UnsortedSnapshot()
	}
	start, now := p.e.start, p.e.opts.Now()
	one := func(h stats.Histogram, kv ...attribute.KeyValue) hpoint {
		return hpoint{attrs: attribute.NewSet(kv...), h: h}
	}
	hist := func(name, desc string, pts []hpoint) metricdata.Metrics {
		m := metricdata.Metrics{Name: name, Description: desc, Unit: "s"}
		if len(pts) > 0 && pts[0].h.Exp != nil {
			eh := metricdata.ExponentialHistogram[float64]{Temporality: metricdata.CumulativeTemporality}
			for _, p := range pts {
				e := p.h.Exp
				eh.DataPoints = append(eh.DataPoints, metricdata.ExponentialHistogramDataPoint[float64]{
					Attributes: p.attrs, StartTime: start, Time: now, Count: p.h.Count, Sum: p.h.Sum,
					Scale: e.Scale, ZeroCount: e.ZeroCount,
					PositiveBucket: metricdata.ExponentialBucket{Offset: e.Offset, Counts: e.Counts},
				})
			}
			m.Data = eh
			return m
		}
		hh := metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality}
		for _, p := range pts {
			hh.DataPoints = append(hh.DataPoints, metricdata.HistogramDataPoint[float64]{
				Attributes: p.attrs, StartTime: start, Time: now, Count: p.h.Count,
				Bounds: p.h.Bounds, BucketCounts: p.h.Counts, Sum: p.h.Sum,
			})
		}
		m.Data = hh
		return m
	}

	var byOp, byPath []hpoint
	for _, h := range snap.Latency {
		byOp = append(byOp, one(h.Histogram, attribute.String("op", h.Op)))
	}
	ms := []metricdata.Metrics{
		hist("zookeeper.client.request.duration", "Latency of answered client requests (reply time minus request time), by op.", byOp),
	}
	if len(snap.PathLatency) > 0 {
		for _, h := range snap.PathLatency {
			byPath = append(byPath, one(h.Histogram, attribute.String("op", h.Op), attribute.String("path", h.Path)))
		}
		ms = append(ms, hist("zookeeper.client.request.path.duration", "Latency of answered client requests by op and normalised path, when per-path latency is configured.", byPath))
	}
	ms = append(ms,
		hist("zookeeper.zab.proposal.ack.duration", "Time from a leader's PROPOSAL to a follower's ACK of it.",
			[]hpoint{one(snap.ZABAck)}),
		hist("zookeeper.zab.proposal.commit.duration", "Time from a leader's PROPOSAL to its COMMIT.",
			[]hpoint{one(snap.ZABCommit)}),
		hist("zookeeper.fle.election.duration", "Duration of elections seen in FLE traffic, from the first LOOKING to the first FOLLOWING or LEADING notification.",
			[]hpoint{one(snap.Election.Duration)}),
	)
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: scopeName}, Metrics: ms}}, nil
}
