package config

import (
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// scope says which subcommands have a flag.
type scope uint8

const (
	inDump scope = 1 << iota
	inTop
	inServe
	inCommon = inDump | inTop | inServe
	inFilter = inDump | inTop
)

// kind is how a flag's raw text is read.
type kind uint8

const (
	kScalar kind = iota // last value wins
	kList               // comma-separated; repeated flags add up
	kBool               // may be given without a value
)

// flagDef is one flag: its name, where it applies, its default text (also
// shown by Usage) and how it sets its field.
type flagDef struct {
	name  string
	scope scope
	kind  kind
	def   string
	usage string
	set   func(c *Config, v string) error
}

// env returns the environment variable read for the flag.
func (d *flagDef) env() string { return envName(d.name) }

func envName(flag string) string {
	return "ZKTAP_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(flag))
}

const (
	kib = 1 << 10
	mib = 1 << 20
)

// flagDefs lists every flag. Defaults are text so that they go through the
// same parsing as user input, and tests catch a bad default.
var flagDefs = []flagDef{
	// Common.
	{name: "config", scope: inCommon, usage: "YAML file whose keys are flag names (strict: unknown keys are errors)",
		set: func(c *Config, v string) error { c.ConfigFile = v; return nil }},
	{name: "iface", scope: inCommon, usage: "capture live on this network interface (needs CAP_NET_RAW)",
		set: str(func(c *Config) *string { return &c.Capture.Iface })},
	{name: "pcap", scope: inCommon, usage: "read packets from this pcap or pcapng file; - reads standard input",
		set: str(func(c *Config) *string { return &c.Capture.Pcap })},
	{name: "zk-ports", scope: inCommon, kind: kList, def: "2181", usage: "client-protocol (and four-letter-word) ports, comma-separated",
		set: ports(func(c *Config) *[]uint16 { return &c.Capture.ZKPorts })},
	{name: "zab-ports", scope: inCommon, kind: kList, def: "2888", usage: "quorum (ZAB) ports, comma-separated",
		set: ports(func(c *Config) *[]uint16 { return &c.Capture.ZABPorts })},
	{name: "fle-ports", scope: inCommon, kind: kList, def: "3888", usage: "leader-election (FLE) ports, comma-separated",
		set: ports(func(c *Config) *[]uint16 { return &c.Capture.FLEPorts })},
	{name: "jute.maxbuffer", scope: inCommon, def: "1088KiB", usage: "largest frame accepted, in bytes (suffixes KiB, MiB, GiB); match the servers' jute.maxbuffer",
		set: size(func(c *Config) *int { return &c.Decode.JuteMaxBuffer })},
	{name: "workers", scope: inCommon, usage: "decoding goroutines, 1..64; 1 decodes live traffic in the capture goroutine itself, more shard connections over N workers (default 1)",
		set: integer(func(c *Config) *int { return &c.Capture.Workers })},
	{name: "flows.max", scope: inCommon, def: "65536", usage: "TCP connections tracked at once",
		set: integer(func(c *Config) *int { return &c.Capture.FlowsMax })},
	{name: "flows.idle-timeout", scope: inCommon, def: "5m", usage: "forget a connection idle this long",
		set: duration(func(c *Config) *time.Duration { return &c.Capture.FlowsIdleTimeout })},
	{name: "reasm.max-flow-bytes", scope: inCommon, usage: "out-of-order bytes buffered per connection direction (default jute.maxbuffer + 64KiB)",
		set: size(func(c *Config) *int { return &c.Capture.ReasmMaxFlowBytes })},
	{name: "reasm.max-total-bytes", scope: inCommon, def: "256MiB", usage: "out-of-order bytes buffered across all connections",
		set: size(func(c *Config) *int { return &c.Capture.ReasmMaxTotalBytes })},
	{name: "capture.ring-size", scope: inCommon, def: "8MiB", usage: "memory-mapped capture ring (TPACKET_V3), in 1MiB blocks, at least 2MiB; it all counts in RSS",
		set: size(func(c *Config) *int { return &c.Capture.RingSize })},
	{name: "capture.ring-timeout", scope: inCommon, def: "100ms", usage: "longest the kernel holds a ring block that is not full before zktap reads it: the delay before a packet is seen on a quiet link; longer wakes zktap less often",
		set: duration(func(c *Config) *time.Duration { return &c.Capture.RingTimeout })},
	{name: "capture.no-ring", scope: inCommon, usage: "read one packet per system call instead of through the ring (old kernels, comparisons)",
		set: boolean(func(c *Config) *bool { return &c.Capture.NoRing })},
	{name: "zk.max-pending", scope: inCommon, def: "1024", usage: "outstanding requests remembered per connection for pairing",
		set: integer(func(c *Config) *int { return &c.Decode.ZKMaxPending })},
	{name: "log.level", scope: inCommon, def: "info", usage: "debug, info, warn or error",
		set: func(c *Config, v string) error {
			var l slog.Level
			if err := l.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%q is not one of debug, info, warn, error", v)
			}
			c.Log.Level = l
			return nil
		}},
	{name: "log.format", scope: inCommon, def: "logfmt", usage: "logfmt or json",
		set: choice(func(c *Config) *string { return &c.Log.Format }, "logfmt", "json")},

	// Filters, shared by dump and top (Config.Dump.Filter, copied to
	// Config.Top.Filter after parsing).
	{name: "proto", scope: inFilter, kind: kList, usage: "show only these protocols: zk, zab, fle, 4lw",
		set: func(c *Config, v string) error {
			list := splitList(v)
			for _, p := range list {
				if !slices.Contains([]string{"zk", "zab", "fle", "4lw"}, p) {
					return fmt.Errorf("%q is not one of zk, zab, fle, 4lw", p)
				}
			}
			c.Dump.Filter.Protos = list
			return nil
		}},
	{name: "op", scope: inFilter, kind: kList, usage: "show only these ops (getData, create, proposal, ...)",
		set: func(c *Config, v string) error { c.Dump.Filter.Ops = splitList(v); return nil }},
	{name: "path-prefix", scope: inFilter, usage: "show only messages on paths with this prefix",
		set: str(func(c *Config) *string { return &c.Dump.Filter.PathPrefix })},
	{name: "client", scope: inFilter, kind: kList, usage: "show only traffic of these clients: IP, CIDR or ip:port",
		set: func(c *Config, v string) error {
			list := splitList(v)
			for _, s := range list {
				if _, err := netip.ParseAddr(s); err == nil {
					continue
				}
				if _, err := netip.ParsePrefix(s); err == nil {
					continue
				}
				if _, err := netip.ParseAddrPort(s); err == nil {
					continue
				}
				return fmt.Errorf("%q is not an IP, CIDR or ip:port", s)
			}
			c.Dump.Filter.Clients = list
			return nil
		}},
	{name: "min-latency", scope: inFilter, def: "0s", usage: "show only replies at least this slow (0 = all messages)",
		set: duration(func(c *Config) *time.Duration { return &c.Dump.Filter.MinLatency })},
	{name: "include-pings", scope: inFilter, kind: kBool, def: "false", usage: "show client pings too",
		set: boolean(func(c *Config) *bool { return &c.Dump.Filter.IncludePings })},

	// dump.
	{name: "format", scope: inDump | inTop, usage: "dump: text or json (default text); top: table or json (default table)",
		set: func(c *Config, v string) error { c.Dump.Format, c.Top.Format = v, v; return nil }},
	{name: "show-text", scope: inDump, kind: kBool, def: "false", usage: "print four-letter-word replies",
		set: boolean(func(c *Config) *bool { return &c.Dump.ShowText })},

	// top.
	{name: "count-requests", scope: inTop, def: "0", usage: "count N requests, print the summary and exit (0 = live view)",
		set: integer(func(c *Config) *int { return &c.Top.CountRequests })},
	{name: "measure-latency", scope: inTop, def: "0", usage: "measure N request/reply pairs, print latencies and exit (0 = live view)",
		set: integer(func(c *Config) *int { return &c.Top.MeasureLatency })},
	{name: "sort-by", scope: inTop, usage: "order of the report: path or type when counting; avg, p50, p95 or p99 when measuring latency",
		set: choice(func(c *Config) *string { return &c.Top.SortBy }, "path", "type", "avg", "p50", "p95", "p99")},
	{name: "group-by", scope: inTop, def: "path", usage: "path, type or client",
		set: choice(func(c *Config) *string { return &c.Top.GroupBy }, "path", "type", "client")},
	{name: "aggregation-depth", scope: inTop, def: "0", usage: "group paths by their first D components (0 = whole path)",
		set: integer(func(c *Config) *int { return &c.Top.AggregationDepth })},
	{name: "interval", scope: inTop, def: "2s", usage: "refresh interval of the live view",
		set: duration(func(c *Config) *time.Duration { return &c.Top.Interval })},

	// serve.
	{name: "web.listen-address", scope: inServe, def: ":9771", usage: "address of /metrics, /healthz and /debug/dump",
		set: str(func(c *Config) *string { return &c.Web.ListenAddress })},
	{name: "web.config.file", scope: inServe, usage: "exporter-toolkit web config (TLS, basic auth)",
		set: str(func(c *Config) *string { return &c.Web.ConfigFile })},
	{name: "web.enable-dump", scope: inServe, kind: kBool, def: "true", usage: "serve the live message stream at /debug/dump",
		set: boolean(func(c *Config) *bool { return &c.Web.EnableDump })},
	{name: "web.enable-auths", scope: inServe, kind: kBool, def: "true", usage: "expose authenticated identities (top-N) in metrics",
		set: boolean(func(c *Config) *bool { return &c.Web.EnableAuths })},
	{name: "otlp.endpoint", scope: inServe, usage: "push metrics by OTLP to this endpoint (empty = off)",
		set: str(func(c *Config) *string { return &c.OTLP.Endpoint })},
	{name: "otlp.protocol", scope: inServe, usage: "grpc or http/protobuf (default $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf)",
		set: choice(func(c *Config) *string { return &c.OTLP.Protocol }, "grpc", "http/protobuf")},
	{name: "otlp.interval", scope: inServe, def: "30s", usage: "OTLP push interval",
		set: duration(func(c *Config) *time.Duration { return &c.OTLP.Interval })},
	{name: "otlp.insecure", scope: inServe, kind: kBool, def: "false", usage: "push OTLP without TLS",
		set: boolean(func(c *Config) *bool { return &c.OTLP.Insecure })},
	{name: "replay.pace", scope: inServe, def: "fast", usage: "with --pcap: recorded (replay at capture speed) or fast",
		set: choice(func(c *Config) *string { return &c.Capture.ReplayPace }, "recorded", "fast")},
	{name: "stats.top-clients", scope: inServe, def: "20", usage: "clients tracked by name in metrics; the rest are \"other\"",
		set: integer(func(c *Config) *int { return &c.Stats.TopClients })},
	{name: "stats.top-auths", scope: inServe, def: "20", usage: "auth identities tracked by name in metrics; the rest are \"other\"",
		set: integer(func(c *Config) *int { return &c.Stats.TopAuths })},
	{name: "stats.max-paths", scope: inServe, def: "1000", usage: "distinct path label values; the rest are \"other\"",
		set: integer(func(c *Config) *int { return &c.Stats.MaxPaths })},
	{name: "stats.aggregation-depth", scope: inServe, def: "0", usage: "path components kept in path labels (0 = whole path)",
		set: integer(func(c *Config) *int { return &c.Stats.AggregationDepth })},
	{name: "stats.path-latency", scope: inServe, kind: kBool, def: "false", usage: "latency histograms per path (costly)",
		set: boolean(func(c *Config) *bool { return &c.Stats.PathLatency })},
	{name: "stats.native-histograms", scope: inServe, kind: kBool, def: "false", usage: "expose Prometheus native histograms",
		set: boolean(func(c *Config) *bool { return &c.Stats.NativeHistograms })},
	{name: "dump.buffer", scope: inServe, def: "1024", usage: "messages buffered per /debug/dump client before dropping",
		set: integer(func(c *Config) *int { return &c.Web.DumpBuffer })},
	{name: "debug.pprof-address", scope: inServe, usage: "serve net/http/pprof on this separate host:port (empty = off; never on --web.listen-address)",
		set: str(func(c *Config) *string { return &c.Debug.PprofAddress })},
	{name: "dump.max-subscribers", scope: inServe, def: "16", usage: "concurrent /debug/dump clients",
		set: integer(func(c *Config) *int { return &c.Web.DumpMaxSubscribers })},
}

func lookupDef(name string) *flagDef {
	for i := range flagDefs {
		if flagDefs[i].name == name {
			return &flagDefs[i]
		}
	}
	return nil
}

func str(get func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *get(c) = v; return nil }
}

func choice(get func(*Config) *string, choices ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !slices.Contains(choices, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(choices, ", "))
		}
		*get(c) = v
		return nil
	}
}

func integer(get func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*get(c) = n
		return nil
	}
}

func boolean(get func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a boolean", v)
		}
		*get(c) = b
		return nil
	}
}

func duration(get func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration (e.g. 30s, 5m)", v)
		}
		*get(c) = d
		return nil
	}
}

// size reads a byte count: an integer with an optional binary suffix
// (KiB, MiB, GiB; K, M, G mean the same).
func size(get func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		s := strings.TrimSpace(v)
		mult := 1
		for _, u := range []struct {
			suffix string
			mult   int
		}{{"KiB", kib}, {"MiB", mib}, {"GiB", 1 << 30}, {"K", kib}, {"M", mib}, {"G", 1 << 30}} {
			if rest, ok := strings.CutSuffix(s, u.suffix); ok {
				s, mult = rest, u.mult
				break
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || n > (1<<40)/int64(mult) {
			return fmt.Errorf("%q is not a size in bytes (e.g. 1048576, 64KiB, 256MiB)", v)
		}
		*get(c) = int(n) * mult
		return nil
	}
}

func ports(get func(*Config) *[]uint16) func(*Config, string) error {
	return func(c *Config, v string) error {
		var out []uint16
		for _, s := range splitList(v) {
			n, err := strconv.ParseUint(s, 10, 16)
			if err != nil || n == 0 {
				return fmt.Errorf("%q is not a port", s)
			}
			if !slices.Contains(out, uint16(n)) {
				out = append(out, uint16(n))
			}
		}
		if len(out) == 0 {
			return fmt.Errorf("no port given")
		}
		*get(c) = out
		return nil
	}
}

// splitList splits a comma-separated list, trimming blanks.
func splitList(v string) []string {
	var out []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
