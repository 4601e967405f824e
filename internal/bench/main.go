//go:build linux

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run(os.Args[1:])) }

// options are the command's flags.
type options struct {
	out         string
	zktap       string
	tmp         string
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	record      time.Duration
	sessions    int
	outstanding int
	mixes       []string
	captures    []string
	conns       int
	paths       int
	maxPaths    int
	rev         string
	goVersion   string
	zktapArgs   []string
}

func run(args []string) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	var mixes, captures, zktapArgs string
	fs.StringVar(&o.out, "out", "bench-results.json", "write every figure as JSON to this file")
	fs.StringVar(&o.zktap, "zktap", "zktap", "zktap binary to measure")
	fs.StringVar(&o.tmp, "tmp", "", "scratch directory (default a new one under $TMPDIR, removed on exit)")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "load time of each phase")
	fs.DurationVar(&o.warmup, "warmup", 10*time.Second, "load time of each mix before the first phase, so that the JVM has compiled ZooKeeper's request path")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds of every mix and capture phase, interleaved")
	fs.DurationVar(&o.record, "record", 10*time.Second, "load time recorded for the offline decode (half read, half write mix)")
	fs.IntVar(&o.sessions, "sessions", 8, "load sessions")
	fs.IntVar(&o.outstanding, "outstanding", 64, "requests in flight per session")
	fs.StringVar(&mixes, "mixes", "read,write", "load mixes to run: read (exists/getData), write (setData/create/delete)")
	fs.StringVar(&captures, "captures", "none,tcpdump,zktap,both,decode", "capture phases of each mix (decode: tcpdump beside a zktap that decodes but keeps no statistics)")
	fs.IntVar(&o.conns, "conns", 10000, "concurrent client connections for the memory test (0 skips it)")
	fs.IntVar(&o.paths, "paths", 1000000, "distinct paths in the synthesised capture (0 skips it)")
	fs.IntVar(&o.maxPaths, "max-paths", 1000, "zktap --stats.max-paths for the paths test")
	fs.StringVar(&o.rev, "rev", "", "zktap revision, recorded in the results")
	fs.StringVar(&o.goVersion, "go-version", "", "go version, recorded in the results")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: bench [flags]                  measure (as root; see testdata/bench/bench.sh)")
		fmt.Fprintln(fs.Output(), "       bench compare A.json B.json...  summaries of several runs side by side")
		fs.PrintDefaults()
	}
	fs.StringVar(&zktapArgs, "zktap-args", "", "extra flags for zktap serve --iface lo, space-separated (e.g. \"--workers 1\")")
	if len(args) > 0 && args[0] == "compare" {
		return compare(os.Stdout, args[1:])
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.zktapArgs = strings.Fields(zktapArgs)
	o.mixes = strings.Split(mixes, ",")
	o.captures = strings.Split(captures, ",")
	for _, c := range o.captures {
		if c != capNone && c != capTcpdump && c != capZktap && c != capBoth && c != capDecode {
			fmt.Fprintf(os.Stderr, "bench: unknown capture phase %q\n", c)
			return 2
		}
	}
	for _, m := range o.mixes {
		if m != mixRead && m != mixWrite {
			fmt.Fprintf(os.Stderr, "bench: unknown mix %q\n", m)
			return 2
		}
	}
	if o.tmp == "" {
		d, err := os.MkdirTemp("", "zktap-bench-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(d)
		o.tmp = d
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := bench(ctx, o)
	printTable(os.Stdout, res)
	b, jerr := json.MarshalIndent(res, "", "  ")
	if jerr == nil {
		jerr = os.WriteFile(o.out, append(b, '\n'), 0o644)
	}
	if jerr != nil {
		fmt.Fprintln(os.Stderr, "bench:", jerr)
		return 1
	}
	fmt.Printf("\nresults written to %s\n", o.out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}
