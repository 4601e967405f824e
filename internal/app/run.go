package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"

	"golang.org/x/term"

	"github.com/zktap/zktap/config"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/proto/zk"
	"github.com/zktap/zktap/sniff/pipeline"
	"github.com/zktap/zktap/sniff/reasm"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // capture or runtime failure
	ExitUsage   = 2 // bad flag, configuration or input named on the command line
)

// Run executes the configured subcommand and returns the process exit code.
// It is main's only call: main parses the configuration, builds the logger
// and handles signals through ctx.
func Run(ctx context.Context, cfg config.Config, stdout, stderr io.Writer, logger *slog.Logger) int {
	switch cfg.Command {
	case config.CmdVersion:
		fmt.Fprintln(stdout, "zktap", Version())
		return ExitOK
	case config.CmdHelp:
		config.Usage(stdout, cfg.HelpTopic)
		return ExitOK
	}
	src, err := openSource(CaptureOptions{
		Iface: cfg.Capture.Iface, Pcap: cfg.Capture.Pcap,
		ZKPorts: cfg.Capture.ZKPorts, ZABPorts: cfg.Capture.ZABPorts, FLEPorts: cfg.Capture.FLEPorts,
		RingSize: cfg.Capture.RingSize, NoRing: cfg.Capture.NoRing, RingTimeout: cfg.Capture.RingTimeout, Logger: logger,
	})
	if err != nil {
		return sourceError(stderr, cfg, err)
	}
	defer src.Close()
	pcfg := pipelineConfig(cfg, src.live)
	var ctr proto.Counters

	var h pipeline.Health
	switch cfg.Command {
	case config.CmdDump:
		filter, ferr := render.ParseFilter(cfg.Dump.Filter.Values())
		if ferr != nil {
			fmt.Fprintln(stderr, "zktap:", ferr)
			return ExitUsage
		}
		pctx, stop := context.WithCancel(ctx)
		showProgress(pctx, src, stderr)
		h, err = Dump(ctx, src, DumpOptions{
			JSON: cfg.Dump.Format == "json", Filter: filter,
			Render: render.Options{ShowText: cfg.Dump.ShowText}, Pipeline: pcfg,
		}, stdout, &ctr)
		stop()
	case config.CmdTop:
		o, terr := topOptions(cfg, src, stdout)
		if terr != nil {
			fmt.Fprintln(stderr, "zktap:", terr)
			return ExitUsage
		}
		o.Pipeline = pcfg
		h, err = Top(ctx, src, o, stdout, &ctr)
	case config.CmdServe:
		return Serve(ctx, cfg, src, pcfg, &ctr, logger)
	default:
		fmt.Fprintf(stderr, "zktap: unknown command %q\n", cfg.Command)
		return ExitUsage
	}
	logSummary(logger, h, &ctr)
	if err != nil {
		logger.Error("capture failed", "err", err)
		return ExitFailure
	}
	return ExitOK
}

// sourceError reports why the packet source could not be opened. A missing
// file or interface is a bad flag (exit 2); a permission problem says what
// capability is needed.
func sourceError(stderr io.Writer, cfg config.Config, err error) int {
	flag := "--iface " + cfg.Capture.Iface
	if cfg.Capture.Pcap != "" {
		flag = "--pcap"
	}
	if errors.Is(err, os.ErrPermission) && cfg.Capture.Iface != "" {
		fmt.Fprintf(stderr, "zktap: --iface %s: %v (live capture needs CAP_NET_RAW: run as root or `setcap cap_net_raw+ep` the binary)\n", cfg.Capture.Iface, err)
		return ExitFailure
	}
	fmt.Fprintf(stderr, "zktap: %s: %v\n", flag, err)
	return ExitUsage
}

func pipelineConfig(cfg config.Config, live bool) pipeline.Config {
	c := cfg.Capture
	workers := c.Workers
	if !live && cfg.Command == config.CmdDump {
		// One worker keeps a file's dump in capture order, line for line
		// reproducible; files decode faster than the output is written anyway.
		workers = 1
	}
	return pipeline.Config{
		Workers:       workers,
		ZKPorts:       c.ZKPorts,
		ZABPorts:      c.ZABPorts,
		FLEPorts:      c.FLEPorts,
		MaxFlows:      c.FlowsMax,
		IdleTimeout:   c.FlowsIdleTimeout,
		Reasm:         reasm.Limits{MaxBuffered: c.ReasmMaxFlowBytes},
		MaxTotalBytes: int64(c.ReasmMaxTotalBytes),
		ZK:            zk.Config{MaxFrame: cfg.Decode.JuteMaxBuffer, MaxPending: cfg.Decode.ZKMaxPending},
		Blocking:      !live,
		// One worker decodes in the capture goroutine: live, the kernel
		// ring buffers while it does, and a hand-off to a worker cost more
		// CPU than the decoding (testdata/bench). A file's dump decodes
		// inline too and, with GOMAXPROCS > 1, renders its lines on a
		// second goroutine (dumpstage.go), which keeps capture order.
		Inline: workers == 1,
		Pace:   !live && cfg.Command == config.CmdServe && c.ReplayPace == "recorded",
	}
}

func topOptions(cfg config.Config, src *source, stdout io.Writer) (TopOptions, error) {
	t := cfg.Top
	filter, err := render.ParseFilter(t.Filter.Values())
	if err != nil {
		return TopOptions{}, err
	}
	o := TopOptions{
		CountRequests: t.CountRequests, MeasureLatency: t.MeasureLatency,
		Depth: t.AggregationDepth, SortBy: t.SortBy, Interval: t.Interval,
		JSON: t.Format == "json", Filter: filter,
	}
	group := t.GroupBy
	if t.CountRequests > 0 && t.MeasureLatency == 0 && (t.SortBy == "path" || t.SortBy == "type") {
		// zk-dump's counting mode: --sort-by path|type names the grouping;
		// rows are ordered by count.
		group = t.SortBy
	}
	switch group {
	case "type":
		o.GroupBy = ByType
	case "client":
		o.GroupBy = ByClient
	}
	if f, ok := stdout.(*os.File); ok && src.live && o.CountRequests == 0 && o.MeasureLatency == 0 && term.IsTerminal(int(f.Fd())) {
		o.Live = true
	}
	return o, nil
}

// logSummary logs what the pipeline saw, so a dump or top run ends with
// its own health: drops, decode errors, gaps.
func logSummary(logger *slog.Logger, h pipeline.Health, ctr *proto.Counters) {
	attrs := []any{"frames", h.Frames, "bytes", h.Bytes, "flows", h.FlowsOpened,
		"kernel_drops", h.KernelDrops, "queue_drops", h.QueueDrops, "gaps", h.Reasm.Gaps}
	for p := 1; p < proto.NumProtos; p++ {
		for r := range proto.NumReasons {
			if n := ctr.Get(proto.Proto(p), proto.Reason(r)); n > 0 {
				attrs = append(attrs, proto.Proto(p).String()+"_"+proto.Reason(r).String(), n)
			}
		}
	}
	logger.Info("capture done", attrs...)
}

// Version returns the module version and VCS revision the binary was built
// from, as far as the build recorded them.
func Version() string {
	v := "(devel)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v + " " + runtime.Version()
	}
	if bi.Main.Version != "" {
		v = bi.Main.Version
	}
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			v += " " + s.Value[:12]
		}
	}
	return v + " " + runtime.Version()
}
