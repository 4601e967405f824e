package config

import (
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// defaults returns the Config Parse builds for `cmd --pcap x` with no
// environment or file, written out by hand so a changed default shows up
// here as a diff.
func defaults(cmd string) Config {
	c := Config{
		Command: cmd,
		Capture: Capture{
			Pcap:               "x",
			ZKPorts:            []uint16{2181},
			ZABPorts:           []uint16{2888},
			FLEPorts:           []uint16{3888},
			Workers:            1,
			FlowsMax:           65536,
			FlowsIdleTimeout:   5 * time.Minute,
			ReasmMaxFlowBytes:  1088<<10 + 64<<10,
			ReasmMaxTotalBytes: 256 << 20,
			RingSize:           8 << 20,
			RingTimeout:        100 * time.Millisecond,
		},
		Decode: Decode{JuteMaxBuffer: 1<<20 + 64<<10, ZKMaxPending: 1024},
		Log:    Log{Level: slog.LevelInfo, Format: "logfmt"},
	}
	switch cmd {
	case CmdDump:
		c.Dump = Dump{Format: "text"}
	case CmdTop:
		c.Top = Top{GroupBy: "path", Interval: 2 * time.Second, Format: "table"}
	case CmdServe:
		c.Capture.ReplayPace = "fast"
		c.Web = Web{ListenAddress: ":9771", EnableDump: true, EnableAuths: true, DumpBuffer: 1024, DumpMaxSubscribers: 16}
		c.OTLP = OTLP{Interval: 30 * time.Second} // protocol: OTel's variables decide
		c.Stats = Stats{TopClients: 20, TopAuths: 20, MaxPaths: 1000}
	}
	return c
}

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  func(string) string
		yaml string // written to a file; {file} in args, env values and want errors is its path
		// want modifies defaults(args[0]) into the expected Config.
		want    func(c *Config)
		wantErr string
	}{
		{name: "dump defaults", args: []string{"dump", "--pcap", "x"}, want: func(*Config) {}},
		{name: "top defaults", args: []string{"top", "--pcap", "x"}, want: func(*Config) {}},
		{name: "serve defaults", args: []string{"serve", "--pcap", "x"}, want: func(*Config) {}},
		{name: "version", args: []string{"version"}, want: func(c *Config) { *c = Config{Command: CmdVersion} }},
		{name: "help", args: []string{"help"}, want: func(c *Config) { *c = Config{Command: CmdHelp} }},
		{name: "help topic", args: []string{"help", "serve"}, want: func(c *Config) { *c = Config{Command: CmdHelp, HelpTopic: "serve"} }},
		{name: "dash h", args: []string{"top", "-h"}, want: func(c *Config) { *c = Config{Command: CmdHelp, HelpTopic: "top"} }},
		{name: "pcap from stdin", args: []string{"dump", "--pcap", "-"}, want: func(c *Config) { c.Capture.Pcap = "-" }},
		{
			name: "dump flags",
			args: []string{"dump", "--pcap=x", "--format", "json", "--proto", "zk,zab", "--proto=4lw", "--op", "getData",
				"--path-prefix", "/app", "--client", "10.0.0.0/8,10.0.0.5:51234", "--client", "::1",
				"--min-latency", "5ms", "--include-pings", "--show-text", "--zk-ports", "2181,2182,2181",
				"--jute.maxbuffer", "4MiB", "--workers", "3", "--log.level", "DEBUG", "--log.format", "json"},
			want: func(c *Config) {
				c.Dump = Dump{Format: "json", ShowText: true, Filter: Filter{
					Protos: []string{"zk", "zab", "4lw"}, Ops: []string{"getData"}, PathPrefix: "/app",
					Clients: []string{"10.0.0.0/8", "10.0.0.5:51234", "::1"}, MinLatency: 5 * time.Millisecond, IncludePings: true,
				}}
				c.Capture.ZKPorts = []uint16{2181, 2182}
				c.Decode.JuteMaxBuffer = 4 << 20
				c.Capture.ReasmMaxFlowBytes = 4<<20 + 64<<10
				c.Capture.Workers = 3
				c.Log = Log{Level: slog.LevelDebug, Format: "json"}
			},
		},
		{
			name: "top flags and filters",
			args: []string{"top", "--iface", "eth0", "--measure-latency", "100", "--sort-by", "p95", "--group-by", "client",
				"--aggregation-depth", "2", "--interval", "1s", "--format", "json", "--op", "exists"},
			want: func(c *Config) {
				c.Capture.Pcap, c.Capture.Iface = "", "eth0"
				c.Top = Top{MeasureLatency: 100, SortBy: "p95", GroupBy: "client", AggregationDepth: 2,
					Interval: time.Second, Format: "json", Filter: Filter{Ops: []string{"exists"}}}
			},
		},
		{
			name: "serve flags",
			args: []string{"serve", "--pcap", "x", "--web.listen-address", "127.0.0.1:9000", "--web.enable-dump=false",
				"--otlp.endpoint", "collector:4317", "--otlp.insecure", "--otlp.protocol", "http/protobuf",
				"--replay.pace", "recorded", "--stats.path-latency", "--stats.max-paths", "10", "--dump.buffer", "8",
				"--reasm.max-flow-bytes", "1M"},
			want: func(c *Config) {
				c.Web.ListenAddress, c.Web.EnableDump, c.Web.DumpBuffer = "127.0.0.1:9000", false, 8
				c.OTLP = OTLP{Endpoint: "collector:4317", Insecure: true, Protocol: "http/protobuf", Interval: 30 * time.Second}
				c.Capture.ReplayPace = "recorded"
				c.Stats.PathLatency, c.Stats.MaxPaths = true, 10
				c.Capture.ReasmMaxFlowBytes = 1 << 20
			},
		},
		{
			name: "pprof on its own listener",
			args: []string{"serve", "--pcap", "x", "--debug.pprof-address", "127.0.0.1:6060"},
			want: func(c *Config) { c.Debug.PprofAddress = "127.0.0.1:6060" },
		},
		{
			name: "env fallback",
			args: []string{"serve"},
			env:  env("ZKTAP_PCAP", "x", "ZKTAP_WEB_LISTEN_ADDRESS", ":1", "ZKTAP_ZAB_PORTS", "2889,2890", "ZKTAP_STATS_NATIVE_HISTOGRAMS", "true"),
			want: func(c *Config) {
				c.Web.ListenAddress = ":1"
				c.Capture.ZABPorts = []uint16{2889, 2890}
				c.Stats.NativeHistograms = true
			},
		},
		{
			name: "flag beats env",
			args: []string{"serve", "--pcap", "x", "--web.listen-address", ":2"},
			env:  env("ZKTAP_WEB_LISTEN_ADDRESS", ":1"),
			want: func(c *Config) { c.Web.ListenAddress = ":2" },
		},
		{
			name: "bad env ignored when the flag is given",
			args: []string{"serve", "--pcap", "x", "--workers", "2"},
			env:  env("ZKTAP_WORKERS", "lots"),
			want: func(c *Config) { c.Capture.Workers = 2 },
		},
		{
			name: "empty flag beats env",
			args: []string{"dump", "--pcap", "x", "--path-prefix="},
			env:  env("ZKTAP_PATH_PREFIX", "/env"),
			want: func(*Config) {},
		},
		{
			name: "precedence flag > env > file > default",
			args: []string{"serve", "--config", "{file}", "--web.listen-address", ":flag"},
			env:  env("ZKTAP_WEB_LISTEN_ADDRESS", ":env", "ZKTAP_OTLP_ENDPOINT", "env:4317"),
			yaml: "pcap: x\nweb.listen-address: \":file\"\notlp:\n  endpoint: file:4317\n  interval: 1m\n",
			want: func(c *Config) {
				c.ConfigFile = "{file}"
				c.Web.ListenAddress = ":flag"
				c.OTLP.Endpoint = "env:4317"
				c.OTLP.Interval = time.Minute
			},
		},
		{
			name: "config file from env, lists as sequences, keys of other subcommands ignored",
			args: []string{"dump"},
			env:  env("ZKTAP_CONFIG", "{file}"),
			yaml: "pcap: x\nzk-ports: [2181, 2182]\nproto:\n  - zk\n  - fle\nweb.listen-address: \":1\"\nstats:\n  max-paths: 5\n",
			want: func(c *Config) {
				c.ConfigFile = "{file}"
				c.Capture.ZKPorts = []uint16{2181, 2182}
				c.Dump.Filter.Protos = []string{"zk", "fle"}
			},
		},
		{
			name: "empty config file",
			args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "",
			want: func(c *Config) { c.ConfigFile = "{file}" },
		},

		// Errors.
		{name: "pprof on the metrics listener", args: []string{"serve", "--pcap", "x", "--debug.pprof-address", ":9771"},
			wantErr: "--debug.pprof-address: \":9771\" is --web.listen-address; pprof needs its own listener"},
		{name: "pprof not host:port", args: []string{"serve", "--pcap", "x", "--debug.pprof-address", "6060"},
			wantErr: "--debug.pprof-address: \"6060\" is not host:port"},
		{name: "no subcommand", args: nil, wantErr: "missing subcommand: dump, top, serve, version or help"},
		{name: "unknown subcommand", args: []string{"sniff"}, wantErr: `unknown subcommand "sniff": want dump, top, serve, version or help`},
		{name: "unknown help topic", args: []string{"help", "x"}, wantErr: `help: unknown subcommand "x"`},
		{name: "unknown flag", args: []string{"dump", "--pcap", "x", "--bogus"}, wantErr: "dump: flag provided but not defined: -bogus"},
		{name: "flag of another subcommand", args: []string{"dump", "--pcap", "x", "--web.listen-address", ":1"},
			wantErr: "dump: flag provided but not defined: -web.listen-address"},
		{name: "missing value", args: []string{"dump", "--pcap"}, wantErr: "dump: flag needs an argument: -pcap"},
		{name: "positional argument", args: []string{"dump", "--pcap", "x", "extra"}, wantErr: `dump: unexpected argument "extra"`},
		{name: "no source", args: []string{"dump"}, wantErr: "--iface, --pcap: one is required"},
		{name: "two sources", args: []string{"top", "--pcap", "x", "--iface", "lo"}, wantErr: "--iface, --pcap: give only one"},
		{name: "bad port", args: []string{"dump", "--pcap", "x", "--zk-ports", "2181,70000"}, wantErr: `--zk-ports: "70000" is not a port`},
		{name: "port zero", args: []string{"dump", "--pcap", "x", "--fle-ports", "0"}, wantErr: `--fle-ports: "0" is not a port`},
		{name: "empty port list", args: []string{"dump", "--pcap", "x", "--zab-ports", ","}, wantErr: `--zab-ports: no port given`},
		{name: "overlapping ports", args: []string{"dump", "--pcap", "x", "--zab-ports", "2181,2888", "--fle-ports", "2888,2181"},
			wantErr: "--zab-ports: port 2181 is also in --zk-ports\n--fle-ports: port 2181 is also in --zk-ports\n--fle-ports: port 2888 is also in --zab-ports\n--fle-ports: port 2181 is also in --zab-ports"},
		{name: "every problem at once",
			args: []string{"dump", "--workers", "65", "--flows.idle-timeout", "-1s", "--format", "xml", "--proto", "http",
				"--client", "host", "--min-latency", "soon", "--log.level", "loud", "--jute.maxbuffer", "12X"},
			wantErr: strings.Join([]string{
				`--jute.maxbuffer: "12X" is not a size in bytes (e.g. 1048576, 64KiB, 256MiB)`,
				`--log.level: "loud" is not one of debug, info, warn, error`,
				`--proto: "http" is not one of zk, zab, fle, 4lw`,
				`--client: "host" is not an IP, CIDR or ip:port`,
				`--min-latency: "soon" is not a duration (e.g. 30s, 5m)`,
				"--iface, --pcap: one is required",
				"--workers: 65 is out of range 1..64",
				"--flows.idle-timeout: must be positive",
				`--format: "xml" is not one of text, json`,
			}, "\n")},
		{name: "ring timeout too long", args: []string{"serve", "--iface", "lo", "--capture.ring-timeout", "1m"},
			wantErr: "--capture.ring-timeout: 1m0s is outside 1ms..10s"},
		{name: "ring timeout below a millisecond", args: []string{"serve", "--iface", "lo", "--capture.ring-timeout", "100us"},
			wantErr: "--capture.ring-timeout: 100µs is outside 1ms..10s"},
		{name: "bad env names its variable", args: []string{"serve", "--pcap", "x"}, env: env("ZKTAP_DUMP_MAX_SUBSCRIBERS", "many"),
			wantErr: `--dump.max-subscribers (from ZKTAP_DUMP_MAX_SUBSCRIBERS): "many" is not an integer`},
		{name: "bad bool env", args: []string{"serve", "--pcap", "x"}, env: env("ZKTAP_WEB_ENABLE_DUMP", "yes please"),
			wantErr: `--web.enable-dump (from ZKTAP_WEB_ENABLE_DUMP): "yes please" is not a boolean`},
		{name: "top modes exclusive", args: []string{"top", "--pcap", "x", "--count-requests", "5", "--measure-latency", "5"},
			wantErr: "--count-requests, --measure-latency: give only one"},
		{name: "top latency sort with counting", args: []string{"top", "--pcap", "x", "--count-requests", "5", "--sort-by", "p99"},
			wantErr: `--sort-by: "p99" sorts latencies; with --count-requests use path or type`},
		{name: "top count sort with latency", args: []string{"top", "--pcap", "x", "--measure-latency", "5", "--sort-by", "type"},
			wantErr: `--sort-by: "type" sorts counts; with --measure-latency use avg, p50, p95 or p99`},
		{name: "top bad values", args: []string{"top", "--pcap", "x", "--group-by", "zxid", "--interval", "0s", "--format", "text", "--count-requests", "-1"},
			wantErr: "--group-by: \"zxid\" is not one of path, type, client\n--format: \"text\" is not one of table, json\n--count-requests: -1 is negative\n--interval: must be positive"},
		{name: "serve bad values", args: []string{"serve", "--pcap", "x", "--web.listen-address", "9771", "--otlp.protocol", "udp",
			"--otlp.insecure", "--dump.buffer", "0", "--reasm.max-flow-bytes", "2GiB"},
			wantErr: strings.Join([]string{
				`--otlp.protocol: "udp" is not one of grpc, http/protobuf`,
				"--reasm.max-flow-bytes: 2147483648 exceeds --reasm.max-total-bytes 268435456",
				`--web.listen-address: "9771" is not host:port`,
				"--dump.buffer: must be positive",
				"--otlp.insecure: needs --otlp.endpoint",
			}, "\n")},
		{name: "unknown yaml key", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "zk-ports: 2181\nweb:\n  listen-adress: \":1\"\n", wantErr: `--config: {file} line 3: unknown key "web.listen-adress"`},
		{name: "yaml config key", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "config: other.yml\n", wantErr: `--config: {file} line 1: unknown key "config"`},
		{name: "yaml list for scalar", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "path-prefix: [/a, /b]\n", wantErr: `--config: {file} line 1: "path-prefix" takes one value, not a list`},
		{name: "yaml bad value names line", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "flows.max: 10\nflows.idle-timeout: forever\n", wantErr: `--flows.idle-timeout (from {file} line 2): "forever" is not a duration (e.g. 30s, 5m)`},
		{name: "yaml not a mapping", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "- a\n- b\n", wantErr: `--config: {file} line 1: want a mapping of flag names to values`},
		{name: "yaml syntax", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "a: [\n", wantErr: "--config: {file}: yaml: line 1: did not find expected node content"},
		{name: "yaml duplicate key", args: []string{"dump", "--pcap", "x", "--config", "{file}"},
			yaml: "pcap: a\npcap: b\n", wantErr: `--config: {file} line 2: "pcap" is already set on line 1`},
		{name: "yaml key flat and nested", args: []string{"serve", "--pcap", "x", "--config", "{file}"},
			yaml: "web.listen-address: \":1\"\nweb:\n  listen-address: \":2\"\n", wantErr: `--config: {file} line 3: "web.listen-address" is already set on line 1`},
		{name: "missing config file", args: []string{"dump", "--pcap", "x", "--config", "/nonexistent/zktap.yml"},
			wantErr: "--config: open /nonexistent/zktap.yml: no such file or directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "zktap.yml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			sub := func(s string) string { return strings.ReplaceAll(s, "{file}", file) }
			var args []string
			for _, a := range tt.args {
				args = append(args, sub(a))
			}
			getenv := tt.env
			if getenv == nil {
				getenv = env()
			}
			got, err := Parse(args, func(k string) string { return sub(getenv(k)) })
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want:\n%s", sub(tt.wantErr))
				}
				if !errors.Is(err, ErrUsage) {
					t.Errorf("error does not match ErrUsage: %v", err)
				}
				if diff := cmp.Diff(sub(tt.wantErr), err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(Config{}, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Config on error is not zero (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error:\n%v", err)
			}
			want := Config{}
			if len(args) > 0 {
				want = defaults(args[0])
			}
			tt.want(&want)
			want.ConfigFile = sub(want.ConfigFile)
			if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(%q) (-want +got):\n%s", args, diff)
			}
		})
	}
}

// TestDefaultsParse: every default goes through its own setter without
// error, for every subcommand that has the flag.
func TestDefaultsParse(t *testing.T) {
	for _, d := range flagDefs {
		if d.def == "" {
			continue
		}
		var c Config
		if err := d.set(&c, d.def); err != nil {
			t.Errorf("--%s default %q: %v", d.name, d.def, err)
		}
	}
}

func TestEnvName(t *testing.T) {
	for flag, want := range map[string]string{
		"web.listen-address": "ZKTAP_WEB_LISTEN_ADDRESS",
		"jute.maxbuffer":     "ZKTAP_JUTE_MAXBUFFER",
		"zk-ports":           "ZKTAP_ZK_PORTS",
		"web.config.file":    "ZKTAP_WEB_CONFIG_FILE",
	} {
		if got := envName(flag); got != want {
			t.Errorf("envName(%q) = %q, want %q", flag, got, want)
		}
	}
}

// TestFilterValues: the filter flags reach render.ParseFilter's parameter
// names unchanged (proto/render's tests cover their meaning).
func TestFilterValues(t *testing.T) {
	c, err := Parse([]string{"dump", "--pcap", "x", "--proto", "zk,fle", "--op", "exists", "--path-prefix", "/a",
		"--client", "10.0.0.1,10.0.0.0/8", "--min-latency", "1.5ms", "--include-pings"}, env())
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"proto": {"zk,fle"}, "op": {"exists"}, "path": {"/a"},
		"client": {"10.0.0.1,10.0.0.0/8"}, "min_latency": {"1.5ms"}, "pings": {"true"}}
	if diff := cmp.Diff(want, c.Dump.Filter.Values()); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(url.Values{}, Filter{}.Values()); diff != "" {
		t.Errorf("zero Filter Values (-want +got):\n%s", diff)
	}
}
