package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrUsage matches, with errors.Is, every error Parse returns: the command
// line, environment or config file is wrong, and main should print the
// error and exit with status 2.
var ErrUsage = errors.New("config: usage error")

// usageError carries the joined problems; its text is just their lines.
type usageError struct{ err error }

func (e *usageError) Error() string        { return e.err.Error() }
func (e *usageError) Unwrap() error        { return e.err }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

func usageErr(errs ...error) error {
	if err := errors.Join(errs...); err != nil {
		return &usageError{err}
	}
	return nil
}

func scopeOf(cmd string) scope {
	switch cmd {
	case CmdDump:
		return inDump
	case CmdTop:
		return inTop
	case CmdServe:
		return inServe
	}
	return 0
}

// Parse builds a Config from args (args[0] is the subcommand; the program
// name is not included) and getenv (os.Getenv, or a map lookup in tests).
// Apart from reading the --config file it has no side effects.
// On error the Config is the zero value and the error lists every problem.
func Parse(args []string, getenv func(string) string) (Config, error) {
	if len(args) == 0 {
		return Config{}, usageErr(errors.New("missing subcommand: dump, top, serve, version or help"))
	}
	cmd := args[0]
	switch cmd {
	case CmdVersion:
		if len(args) > 1 {
			return Config{}, usageErr(fmt.Errorf("version: unexpected argument %q", args[1]))
		}
		return Config{Command: CmdVersion}, nil
	case CmdHelp, "-h", "-help", "--help":
		c := Config{Command: CmdHelp}
		if len(args) > 1 {
			c.HelpTopic = args[1]
			if scopeOf(c.HelpTopic) == 0 {
				return Config{}, usageErr(fmt.Errorf("help: unknown subcommand %q", args[1]))
			}
		}
		return c, nil
	}
	sc := scopeOf(cmd)
	if sc == 0 {
		return Config{}, usageErr(fmt.Errorf("unknown subcommand %q: want dump, top, serve, version or help", cmd))
	}

	// Record the raw text of each flag given; values are applied below,
	// in precedence order, by the same setters as env and file values.
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	given := map[string]string{}
	for i := range flagDefs {
		d := &flagDefs[i]
		if d.scope&sc != 0 {
			fs.Var(&recorder{def: d, given: given}, d.name, d.usage)
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return Config{Command: CmdHelp, HelpTopic: cmd}, nil
		}
		return Config{}, usageErr(fmt.Errorf("%s: %w", cmd, err))
	}
	if fs.NArg() > 0 {
		return Config{}, usageErr(fmt.Errorf("%s: unexpected argument %q", cmd, fs.Arg(0)))
	}

	var errs []error
	file := map[string]fileValue{}
	path, ok := given["config"]
	if !ok {
		path = getenv(envName("config"))
	}
	if path != "" {
		var err error
		if file, err = loadFile(path); err != nil {
			errs = append(errs, err)
		}
	}

	c := Config{Command: cmd, ConfigFile: path}
	for i := range flagDefs {
		d := &flagDefs[i]
		if d.scope&sc == 0 || d.name == "config" {
			continue
		}
		v, from, have := d.def, "", d.def != ""
		if fv, ok := file[d.name]; ok {
			v, from, have = fv.value, fmt.Sprintf(" (from %s line %d)", path, fv.line), true
		}
		if ev := getenv(d.env()); ev != "" {
			v, from, have = ev, " (from "+d.env()+")", true
		}
		if gv, ok := given[d.name]; ok {
			v, from, have = gv, "", true
		}
		if !have {
			continue // no default and not given: the zero value stands
		}
		if err := d.set(&c, v); err != nil {
			errs = append(errs, fmt.Errorf("--%s%s: %w", d.name, from, err))
			// Keep the default, so the checks across flags below do
			// not report the same mistake a second time.
			if d.def != "" {
				_ = d.set(&c, d.def)
			}
		}
	}
	errs = append(errs, c.finish(sc)...)
	if err := usageErr(errs...); err != nil {
		return Config{}, err
	}
	return c, nil
}

// recorder is the flag.Value of every flag: it keeps the raw text.
type recorder struct {
	def   *flagDef
	given map[string]string
}

func (r *recorder) String() string { return "" }

func (r *recorder) Set(s string) error {
	if old, ok := r.given[r.def.name]; ok && r.def.kind == kList {
		s = old + "," + s
	}
	r.given[r.def.name] = s
	return nil
}

func (r *recorder) IsBoolFlag() bool { return r.def.kind == kBool }

// finish fills the defaults that depend on other values, then validates
// across flags. It returns one error per problem.
func (c *Config) finish(sc scope) []error {
	var errs []error
	bad := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	cp := &c.Capture
	switch {
	case cp.Iface == "" && cp.Pcap == "":
		bad("--iface, --pcap: one is required")
	case cp.Iface != "" && cp.Pcap != "":
		bad("--iface, --pcap: give only one")
	}
	lists := []struct {
		name  string
		ports []uint16
	}{{"zk-ports", cp.ZKPorts}, {"zab-ports", cp.ZABPorts}, {"fle-ports", cp.FLEPorts}}
	for i, a := range lists {
		for _, b := range lists[:i] {
			for _, p := range a.ports {
				for _, q := range b.ports {
					if p == q {
						bad("--%s: port %d is also in --%s", a.name, p, b.name)
					}
				}
			}
		}
	}
	if c.Decode.JuteMaxBuffer < 1024 {
		bad("--jute.maxbuffer: %d is below 1KiB", c.Decode.JuteMaxBuffer)
	}
	if cp.Workers == 0 {
		// One goroutine decodes ZooKeeper's maximum rate many times over
		// (issue 4's bench); more only add hand-offs and wake-ups.
		cp.Workers = 1
	} else if cp.Workers < 1 || cp.Workers > 64 {
		bad("--workers: %d is out of range 1..64", cp.Workers)
	}
	positive := func(name string, v int64) {
		if v <= 0 {
			bad("--%s: must be positive", name)
		}
	}
	notNegative := func(name string, v int) {
		if v < 0 {
			bad("--%s: %d is negative", name, v)
		}
	}
	positive("flows.max", int64(cp.FlowsMax))
	positive("flows.idle-timeout", int64(cp.FlowsIdleTimeout))
	if cp.ReasmMaxFlowBytes == 0 {
		cp.ReasmMaxFlowBytes = c.Decode.JuteMaxBuffer + 64*kib
	}
	positive("reasm.max-total-bytes", int64(cp.ReasmMaxTotalBytes))
	if cp.ReasmMaxTotalBytes > 0 && cp.ReasmMaxFlowBytes > cp.ReasmMaxTotalBytes {
		bad("--reasm.max-flow-bytes: %d exceeds --reasm.max-total-bytes %d", cp.ReasmMaxFlowBytes, cp.ReasmMaxTotalBytes)
	}
	positive("zk.max-pending", int64(c.Decode.ZKMaxPending))
	if cp.RingSize < 2*mib {
		bad("--capture.ring-size: %d is below the minimum of 2MiB (two 1MiB blocks)", cp.RingSize)
	}
	if cp.RingTimeout < time.Millisecond || cp.RingTimeout > 10*time.Second {
		bad("--capture.ring-timeout: %v is outside 1ms..10s", cp.RingTimeout)
	}

	if sc&inFilter != 0 && c.Dump.Filter.MinLatency < 0 {
		bad("--min-latency: %v is negative", c.Dump.Filter.MinLatency)
	}
	switch sc {
	case inDump:
		if c.Dump.Format == "" {
			c.Dump.Format = "text"
		}
		if c.Dump.Format != "text" && c.Dump.Format != "json" {
			bad("--format: %q is not one of text, json", c.Dump.Format)
		}
		c.Top = Top{}
	case inTop:
		t := &c.Top
		t.Filter, c.Dump = c.Dump.Filter, Dump{}
		if t.Format == "" {
			t.Format = "table"
		}
		if t.Format != "table" && t.Format != "json" {
			bad("--format: %q is not one of table, json", t.Format)
		}
		notNegative("count-requests", t.CountRequests)
		notNegative("measure-latency", t.MeasureLatency)
		notNegative("aggregation-depth", t.AggregationDepth)
		positive("interval", int64(t.Interval))
		latencySort := t.SortBy == "avg" || t.SortBy == "p50" || t.SortBy == "p95" || t.SortBy == "p99"
		switch {
		case t.CountRequests > 0 && t.MeasureLatency > 0:
			bad("--count-requests, --measure-latency: give only one")
		case t.CountRequests > 0 && latencySort:
			bad("--sort-by: %q sorts latencies; with --count-requests use path or type", t.SortBy)
		case t.MeasureLatency > 0 && t.SortBy != "" && !latencySort:
			bad("--sort-by: %q sorts counts; with --measure-latency use avg, p50, p95 or p99", t.SortBy)
		}
	case inServe:
		c.Dump, c.Top = Dump{}, Top{}
		if _, _, err := net.SplitHostPort(c.Web.ListenAddress); err != nil {
			bad("--web.listen-address: %q is not host:port", c.Web.ListenAddress)
		}
		if a := c.Debug.PprofAddress; a != "" {
			if _, _, err := net.SplitHostPort(a); err != nil {
				bad("--debug.pprof-address: %q is not host:port", a)
			} else if a == c.Web.ListenAddress {
				bad("--debug.pprof-address: %q is --web.listen-address; pprof needs its own listener", a)
			}
		}
		positive("otlp.interval", int64(c.OTLP.Interval))
		notNegative("stats.top-clients", c.Stats.TopClients)
		notNegative("stats.top-auths", c.Stats.TopAuths)
		notNegative("stats.max-paths", c.Stats.MaxPaths)
		notNegative("stats.aggregation-depth", c.Stats.AggregationDepth)
		positive("dump.buffer", int64(c.Web.DumpBuffer))
		positive("dump.max-subscribers", int64(c.Web.DumpMaxSubscribers))
		if c.OTLP.Insecure && c.OTLP.Endpoint == "" {
			bad("--otlp.insecure: needs --otlp.endpoint")
		}
	}
	return errs
}

// fileValue is one key of the YAML file, as flag text.
type fileValue struct {
	value string
	line  int
}

// loadFile reads the YAML file into flag-name keys. Nested mappings join
// their keys with dots; sequences become comma lists.
func loadFile(path string) (map[string]fileValue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return map[string]fileValue{}, nil // empty file
		}
		return nil, fmt.Errorf("--config: %s: %w", path, err)
	}
	out := map[string]fileValue{}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return out, nil
	}
	var errs []error
	walkFile(path, root, "", out, &errs)
	return out, errors.Join(errs...)
}

func walkFile(path string, n *yaml.Node, prefix string, out map[string]fileValue, errs *[]error) {
	if n.Kind != yaml.MappingNode {
		*errs = append(*errs, fmt.Errorf("--config: %s line %d: want a mapping of flag names to values", path, n.Line))
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := prefix + k.Value
		if v.Kind == yaml.MappingNode {
			walkFile(path, v, name+".", out, errs)
			continue
		}
		d := lookupDef(name)
		if d == nil || d.name == "config" {
			*errs = append(*errs, fmt.Errorf("--config: %s line %d: unknown key %q", path, k.Line, name))
			continue
		}
		if prev, ok := out[name]; ok {
			*errs = append(*errs, fmt.Errorf("--config: %s line %d: %q is already set on line %d", path, k.Line, name, prev.line))
			continue
		}
		switch v.Kind {
		case yaml.ScalarNode:
			out[name] = fileValue{value: v.Value, line: v.Line}
		case yaml.SequenceNode:
			if d.kind != kList {
				*errs = append(*errs, fmt.Errorf("--config: %s line %d: %q takes one value, not a list", path, v.Line, name))
				continue
			}
			var items []string
			for _, it := range v.Content {
				if it.Kind != yaml.ScalarNode {
					*errs = append(*errs, fmt.Errorf("--config: %s line %d: %q: list items must be scalars", path, it.Line, name))
					continue
				}
				items = append(items, it.Value)
			}
			out[name] = fileValue{value: strings.Join(items, ","), line: v.Line}
		default:
			*errs = append(*errs, fmt.Errorf("--config: %s line %d: %q: unsupported value", path, v.Line, name))
		}
	}
}
