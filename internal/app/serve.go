package app

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync/atomic"
	"time"

	"github.com/zktap/zktap/config"
	"github.com/zktap/zktap/exporter"
	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/exporter/tap"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pipeline"
)

// serveSink is one worker's sink in `zktap serve`: every message feeds the
// worker's stats shard, and the live tap when someone is listening.
type serveSink struct {
	shard *stats.Shard
	tap   *tap.Tap
	// count is this worker's own count of messages, published to
	// messages at each flush: an atomic add per message was 5 % of the
	// packet path's CPU (perf, BenchmarkServeFromMemory), and one counter
	// shared by all workers would also bounce a cache line between them.
	count    uint64
	messages atomic.Uint64
}

func (s *serveSink) Emit(m *proto.Message) {
	s.count++
	s.shard.ObserveHeld(m)
	if s.tap.Active() {
		s.tap.Publish(m)
	}
}

// Flush implements pipeline.Flusher: the pipeline calls it whenever the
// worker pauses, at least every 50 ms of capture time while frames arrive,
// and on every read timeout of a quiet line. It publishes the count and
// lets go of the stats shard, which the sink holds locked from one flush to
// the next (one lock per run of messages, not per message), so a scrape
// waits at most about the capture's read timeout.
func (s *serveSink) Flush() {
	s.messages.Store(s.count)
	s.shard.Release()
}

// Serve runs the sidecar daemon: capture, stats, the HTTP endpoints and
// the OTLP push, until ctx ends (SIGTERM). A capture file is replayed and
// its figures stay served until then.
func Serve(ctx context.Context, cfg config.Config, src *source, pcfg pipeline.Config, ctr *proto.Counters, logger *slog.Logger) int {
	st := stats.New(stats.Config{
		Shards:           pcfg.Workers,
		AggregationDepth: cfg.Stats.AggregationDepth,
		MaxPaths:         cfg.Stats.MaxPaths,
		TopClients:       cfg.Stats.TopClients,
		TopAuths:         cfg.Stats.TopAuths,
		PathLatency:      cfg.Stats.PathLatency,
		Exponential:      cfg.Stats.NativeHistograms,
	}, nil)
	// 1 MiB of rendered lines per subscriber bounds the tap to ~2 MiB x subscribers.
	tp := tap.New(tap.Config{MaxSubscribers: cfg.Web.DumpMaxSubscribers, BufferMessages: cfg.Web.DumpBuffer, BufferBytes: 1 << 20})
	defer tp.Close()

	sinks := make([]*serveSink, max(pcfg.Workers, 1))
	var p *pipeline.Pipeline
	health := func() stats.Health {
		if p == nil {
			return stats.Health{}
		}
		h := p.Health()
		ts := tp.Stats()
		return stats.Health{
			Packets: h.Frames, Bytes: h.Bytes, KernelDrops: h.KernelDrops, QueueDrops: h.QueueDrops,
			FlowsActive: h.FlowsActive, FlowsEvicted: h.FlowsEvicted + h.FlowsIdle,
			ReasmGaps: h.Reasm.Gaps, ReasmOverflows: h.Reasm.Overflows, BufferedBytes: h.BufferedBytes,
			Messages: sumMessages(sinks), DumpSubs: uint64(ts.Subscribers), DumpDropped: ts.Dropped,
			CaptureReopens: h.CaptureReopens, CaptureDown: h.CaptureDown, CaptureLost: h.CaptureLost,
		}
	}
	exp, err := exporter.New(exporter.Options{
		Stats: st, Health: health, Decode: ctr, Dump: tp, Logger: logger, Getenv: os.Getenv,
		OTLP: exporter.OTLPOptions{
			Enabled: cfg.OTLP.Endpoint != "" || os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" ||
				os.Getenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT") != "",
			Protocol: cfg.OTLP.Protocol, Endpoint: cfg.OTLP.Endpoint,
			Insecure: cfg.OTLP.Insecure, Interval: cfg.OTLP.Interval,
		},
		DisableDump: !cfg.Web.EnableDump, DisableAuths: !cfg.Web.EnableAuths,
		Version: Version(),
	})
	if err != nil {
		logger.Error("exporter", "err", err)
		return ExitUsage
	}
	p = pipeline.New(pcfg, func(i int) proto.Sink {
		sinks[i] = &serveSink{shard: st.Shard(i), tap: tp}
		return sinks[i]
	}, ctr)

	webCtx, stopWeb := context.WithCancel(ctx)
	defer stopWeb()
	if a := cfg.Debug.PprofAddress; a != "" {
		if err := servePprof(webCtx, a, logger); err != nil {
			logger.Error("pprof listener", "err", err, "address", a)
			return ExitFailure
		}
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- exp.Serve(webCtx, cfg.Web.ListenAddress, cfg.Web.ConfigFile, logger) }()
	logger.Info("serving", "address", cfg.Web.ListenAddress, "iface", cfg.Capture.Iface, "pcap", cfg.Capture.Pcap)

	capErr := make(chan error, 1)
	go func() { capErr <- p.Run(ctx, src) }()

	code := ExitOK
	select {
	case err := <-httpErr:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("web server", "err", err, "address", cfg.Web.ListenAddress)
			code = ExitFailure
		}
		src.Close()
		<-capErr
	case err := <-capErr:
		if err != nil {
			logger.Error("capture failed", "err", err)
			code = ExitFailure
		} else if ctx.Err() == nil {
			logger.Info("capture file replayed; still serving until stopped", "pcap", cfg.Capture.Pcap)
		}
		if code == ExitOK {
			<-ctx.Done()
		}
		stopWeb()
		<-httpErr
	}
	// Final OTLP export, bounded so SIGTERM exits within seconds.
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := exp.Shutdown(sctx); err != nil {
		logger.Warn("final OTLP export", "err", err)
	}
	logSummary(logger, p.Health(), ctr)
	return code
}

// servePprof serves net/http/pprof on its own listener until ctx ends
// (STYLE.md rule 29: profiles never share the metrics port). The listener
// is opened before returning, so a bad address fails at start.
func servePprof(ctx context.Context, addr string, logger *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	context.AfterFunc(ctx, func() { _ = srv.Close() })
	logger.Info("pprof listening", "address", ln.Addr().String())
	return nil
}

func sumMessages(sinks []*serveSink) uint64 {
	var n uint64
	for _, s := range sinks {
		if s != nil {
			n += s.messages.Load()
		}
	}
	return n
}
