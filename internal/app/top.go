package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/sniff/pipeline"
)

// TopOptions configures `zktap top`, zk-dump's analyses.
type TopOptions struct {
	// CountRequests > 0: stop after this many requests and print counts.
	CountRequests int
	// MeasureLatency > 0: stop after this many paired replies and print latencies.
	MeasureLatency int
	GroupBy        GroupBy
	Depth          int    // --aggregation-depth for paths
	SortBy         string // requests|path|type for counts; avg|p50|p95|p99 for latency
	Interval       time.Duration
	JSON           bool
	Limit          int  // rows shown in the live view; 0 = 20
	Live           bool // redraw in place (a terminal and no N)
	Filter         render.Filter
	Pipeline       pipeline.Config
}

type topSink struct {
	o      *TopOptions
	agg    *topAgg   // the --group-by aggregation that N counts
	extra  []*topAgg // the live view's other groupings
	cancel context.CancelFunc
}

func (t *topSink) Emit(m *proto.Message) {
	if !t.o.Filter.Match(m) {
		return
	}
	reqs, replies := t.agg.observe(m)
	for _, a := range t.extra {
		a.observe(m)
	}
	if (t.o.CountRequests > 0 && reqs >= uint64(t.o.CountRequests) && t.o.MeasureLatency == 0) ||
		(t.o.MeasureLatency > 0 && replies >= uint64(t.o.MeasureLatency)) {
		t.cancel()
	}
}

// Top runs the analysis over src and prints it to out: once at the end
// (a file, or N reached), or redrawn every Interval in live mode.
func Top(ctx context.Context, src *source, o TopOptions, out io.Writer, ctr *proto.Counters) (pipeline.Health, error) {
	if o.Limit <= 0 {
		o.Limit = 20
	}
	agg := newTopAgg(o.GroupBy, o.Depth)
	var live []*topAgg // live view: paths, ops and clients side by side
	if o.Live {
		for _, g := range []GroupBy{ByPath, ByType, ByClient} {
			if g == o.GroupBy {
				live = append(live, agg)
			} else {
				live = append(live, newTopAgg(g, o.Depth))
			}
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	sink := &topSink{o: &o, agg: agg, cancel: cancel}
	for _, a := range live {
		if a != agg {
			sink.extra = append(sink.extra, a)
		}
	}
	p := pipeline.New(o.Pipeline, func(int) proto.Sink { return sink }, ctr)

	done := make(chan struct{})
	if o.Live {
		go func() {
			t := time.NewTicker(o.Interval)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
					fmt.Fprint(out, "\x1b[H\x1b[2J")
					writeLive(out, live, o, p.Health())
				}
			}
		}()
	}
	err := p.Run(runCtx, src)
	close(done)
	if ctx.Err() != nil && o.Live {
		return p.Health(), err
	}
	rows := agg.rows(0)
	latency := o.MeasureLatency > 0
	sortBy := o.SortBy
	switch {
	case !latency && (sortBy == "path" || sortBy == "type" || sortBy == ""):
		sortBy = "requests"
	case latency && (sortBy == "" || sortBy == "path" || sortBy == "type"):
		sortBy = "avg" // zk-dump's default
	}
	sortRows(rows, sortBy)
	if o.JSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return p.Health(), enc.Encode(rows)
	}
	writeTable(out, rows, latency, groupName(o.GroupBy), 0)
	return p.Health(), err
}

func groupName(g GroupBy) string {
	switch g {
	case ByType:
		return "TYPE"
	case ByClient:
		return "CLIENT"
	}
	return "PATH"
}

// writeTable prints rows as an aligned table; limit 0 prints them all.
func writeTable(out io.Writer, rows []TopRow, latency bool, key string, limit int) {
	if limit > 0 && len(rows) > limit {
		rows = rows[:limit]
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	if latency {
		fmt.Fprintf(tw, "%s\tREPLIES\tAVG\tP50\tP95\tP99\tMAX\t\n", key)
		for _, r := range rows {
			if r.Replies == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n", r.Key, r.Replies, fmtSeconds(r.Avg), fmtSeconds(r.P50), fmtSeconds(r.P95), fmtSeconds(r.P99), fmtSeconds(r.Max))
		}
	} else {
		fmt.Fprintf(tw, "%s\tREQUESTS\tBYTES\t\n", key)
		for _, r := range rows {
			if r.Requests == 0 {
				continue
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t\n", r.Key, r.Requests, r.Bytes)
		}
	}
	tw.Flush()
}

// writeLive draws the live view: top paths, ops and clients by request
// rate over the last interval, with their latency.
func writeLive(out io.Writer, aggs []*topAgg, o TopOptions, h pipeline.Health) {
	fmt.Fprintf(out, "zktap top  %s  every %s  frames %d  kernel drops %d  queue drops %d  flows %d\n",
		time.Now().Format(time.TimeOnly), o.Interval, h.Frames, h.KernelDrops, h.QueueDrops, h.FlowsActive)
	for _, agg := range aggs {
		rows := agg.rows(o.Interval)
		sortRows(rows, "rate")
		if len(rows) > o.Limit {
			rows = rows[:o.Limit]
		}
		fmt.Fprintln(out)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%s\tREQ/S\tREQUESTS\tAVG\tP50\tP99\t\n", groupName(agg.groupBy))
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%.1f\t%d\t%s\t%s\t%s\t\n", r.Key, r.Rate, r.Requests, fmtSeconds(r.Avg), fmtSeconds(r.P50), fmtSeconds(r.P99))
		}
		tw.Flush()
	}
}
