package config

import (
	"log/slog"
	"net/url"
	"strings"
	"time"
)

// Subcommands.
const (
	CmdDump    = "dump"
	CmdTop     = "top"
	CmdServe   = "serve"
	CmdVersion = "version"
	CmdHelp    = "help"
)

// Config is the whole configuration, grouped by the component it feeds.
// Groups that do not apply to Command keep their defaults.
type Config struct {
	Command string // dump, top, serve, version or help
	// HelpTopic is the subcommand whose usage was asked for (help dump,
	// dump -h); empty for the overview.
	HelpTopic  string
	ConfigFile string // --config, "" when none

	Capture Capture
	Decode  Decode
	Log     Log
	Dump    Dump
	Top     Top
	Web     Web
	OTLP    OTLP
	Stats   Stats
	Debug   Debug
}

// Capture configures the packet source, the flow table and reassembly.
type Capture struct {
	Iface string // --iface: live capture on this interface
	Pcap  string // --pcap: read this pcap/pcapng file ("-" is stdin)
	// Ports select and classify traffic: the client protocol (and four
	// letter words), ZAB and FLE. The three lists are disjoint.
	ZKPorts, ZABPorts, FLEPorts []uint16
	Workers                     int           // --workers: decoding goroutines, 1..64
	FlowsMax                    int           // --flows.max
	FlowsIdleTimeout            time.Duration // --flows.idle-timeout
	ReasmMaxFlowBytes           int           // --reasm.max-flow-bytes: out-of-order bytes per direction
	ReasmMaxTotalBytes          int           // --reasm.max-total-bytes: across all flows
	ReplayPace                  string        // --replay.pace (serve with --pcap): recorded or fast
	RingSize                    int           // --capture.ring-size: bytes of the TPACKET_V3 ring
	NoRing                      bool          // --capture.no-ring: one recvmsg per frame instead
	RingTimeout                 time.Duration // --capture.ring-timeout: the kernel's hold on a ring block that is not full
}

// Decode configures the protocol decoders.
type Decode struct {
	JuteMaxBuffer int // --jute.maxbuffer: largest frame accepted, bytes
	ZKMaxPending  int // --zk.max-pending: outstanding requests per connection
}

// Log configures the slog logger.
type Log struct {
	Level  slog.Level // --log.level: debug, info, warn, error
	Format string     // --log.format: logfmt or json
}

// Filter is the message filter shared by dump and top. Its fields keep the
// command-line spelling; [Filter.Values] hands them to
// render.ParseFilter, so the HTTP dump and the CLI share one parser.
type Filter struct {
	Protos       []string      // --proto: zk, zab, fle, 4lw
	Ops          []string      // --op
	PathPrefix   string        // --path-prefix
	Clients      []string      // --client: IP, CIDR or ip:port
	MinLatency   time.Duration // --min-latency: 0 = off
	IncludePings bool          // --include-pings
}

// Values returns f as the query parameters render.ParseFilter reads.
func (f Filter) Values() url.Values {
	q := url.Values{}
	if len(f.Protos) > 0 {
		q.Set("proto", strings.Join(f.Protos, ","))
	}
	if len(f.Ops) > 0 {
		q.Set("op", strings.Join(f.Ops, ","))
	}
	if f.PathPrefix != "" {
		q.Set("path", f.PathPrefix)
	}
	if len(f.Clients) > 0 {
		q.Set("client", strings.Join(f.Clients, ","))
	}
	if f.MinLatency > 0 {
		q.Set("min_latency", f.MinLatency.String())
	}
	if f.IncludePings {
		q.Set("pings", "true")
	}
	return q
}

// Dump configures `zktap dump`.
type Dump struct {
	Format   string // --format: text or json
	Filter   Filter
	ShowText bool // --show-text: include four-letter-word replies
}

// Top configures `zktap top`.
type Top struct {
	CountRequests    int    // --count-requests: stop after N requests and print the summary (0 = live)
	MeasureLatency   int    // --measure-latency: stop after N paired replies and print latencies (0 = live)
	SortBy           string // --sort-by: path, type (counting); avg, p50, p95, p99 (latency)
	GroupBy          string // --group-by: path, type, client
	AggregationDepth int    // --aggregation-depth: path components kept (0 = whole path)
	Interval         time.Duration
	Format           string // --format: table or json
	Filter           Filter
}

// Web configures the HTTP server of `zktap serve`.
type Web struct {
	ListenAddress      string // --web.listen-address
	ConfigFile         string // --web.config.file: exporter-toolkit TLS/auth file
	EnableDump         bool   // --web.enable-dump: serve /debug/dump
	EnableAuths        bool   // --web.enable-auths: expose auth identities in metrics
	DumpBuffer         int    // --dump.buffer: messages buffered per dump subscriber
	DumpMaxSubscribers int    // --dump.max-subscribers
}

// Debug configures opt-in diagnostics of `zktap serve`.
type Debug struct {
	// PprofAddress is --debug.pprof-address: net/http/pprof on its own
	// listener, "" (the default) for none. Never the metrics listener:
	// profiles show internals and cost CPU, so they are not exposed by default.
	PprofAddress string
}

// OTLP configures the OTLP metric push; Endpoint "" disables it.
type OTLP struct {
	Endpoint string        // --otlp.endpoint
	Protocol string        // --otlp.protocol: grpc or http/protobuf
	Interval time.Duration // --otlp.interval
	Insecure bool          // --otlp.insecure: no TLS
}

// Stats configures aggregation and its cardinality limits.
type Stats struct {
	TopClients       int  // --stats.top-clients
	TopAuths         int  // --stats.top-auths
	MaxPaths         int  // --stats.max-paths
	AggregationDepth int  // --stats.aggregation-depth: 0 = whole path
	PathLatency      bool // --stats.path-latency: latency histograms per path
	NativeHistograms bool // --stats.native-histograms
}
