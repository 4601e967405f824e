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

// Produce takes a snapshot and returns every histogram as cumulative data.
// It is safe for concurrent use.
func (p *histProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	snap := p.e.opts.Stats.Snapshot()
	start, now := p.e.start, p.e.opts.Now()
	point := func(h stats.Histogram, kv ...attribute.KeyValue) metricdata.HistogramDataPoint[float64] {
		return metricdata.HistogramDataPoint[float64]{
			Attributes:   attribute.NewSet(kv...),
			StartTime:    start,
			Time:         now,
			Count:        h.Count,
			Bounds:       h.Bounds,
			BucketCounts: h.Counts,
			Sum:          h.Sum,
		}
	}
	hist := func(name, desc string, pts []metricdata.HistogramDataPoint[float64]) metricdata.Metrics {
		return metricdata.Metrics{Name: name, Description: desc, Unit: "s",
			Data: metricdata.Histogram[float64]{Temporality: metricdata.CumulativeTemporality, DataPoints: pts}}
	}

	var byOp, byPath []metricdata.HistogramDataPoint[float64]
	for _, h := range snap.Latency {
		byOp = append(byOp, point(h.Histogram, attribute.String("op", h.Op)))
	}
	ms := []metricdata.Metrics{
		hist("zookeeper.client.request.duration", "Latency of answered client requests (reply time minus request time), by op.", byOp),
	}
	if len(snap.PathLatency) > 0 {
		for _, h := range snap.PathLatency {
			byPath = append(byPath, point(h.Histogram, attribute.String("op", h.Op), attribute.String("path", h.Path)))
		}
		ms = append(ms, hist("zookeeper.client.request.path.duration", "Latency of answered client requests by op and normalised path (--stats.path-latency).", byPath))
	}
	ms = append(ms,
		hist("zookeeper.zab.proposal.ack.duration", "Time from a leader's PROPOSAL to a follower's ACK of it.",
			[]metricdata.HistogramDataPoint[float64]{point(snap.ZABAck)}),
		hist("zookeeper.zab.proposal.commit.duration", "Time from a leader's PROPOSAL to its COMMIT.",
			[]metricdata.HistogramDataPoint[float64]{point(snap.ZABCommit)}),
		hist("zookeeper.fle.election.duration", "Duration of elections seen in FLE traffic, from the first LOOKING to the first FOLLOWING or LEADING notification.",
			[]metricdata.HistogramDataPoint[float64]{point(snap.Election.Duration)}),
	)
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: scopeName}, Metrics: ms}}, nil
}
