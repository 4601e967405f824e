// Command zkload drives a known ZooKeeper workload (or a pipelined exists load) and
// writes a JSON report of what it sent, counted on the wire. See package workload.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"

	"github.com/zktap/zktap/internal/zkload/workload"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("zkload", flag.ContinueOnError)
	var spec workload.Spec
	var load workload.LoadSpec
	server := fs.String("server", "127.0.0.1:2181", "ZooKeeper client address host:port")
	out := fs.String("out", "", "write the JSON report to this file (default standard output)")
	parts := fs.String("parts", strings.Join(workload.AllParts, ","), "comma-separated workload parts to run, in order")
	isLoad := fs.Bool("load", false, "run the pipelined exists load instead of the workload")
	isNewOps := fs.Bool("newops", false, "run the raw-frame workload of ZooKeeper 3.6+ operations (addWatch, multiRead, whoAmI, createTTL...) instead; -root defaults to /newops")
	fs.StringVar(&spec.Root, "root", "/zkload", "parent node of the workload (must not exist)")
	fs.IntVar(&spec.Iterations, "iterations", 1, "times the basic reads repeat")
	fs.IntVar(&spec.Pipelined, "pipelined", 200, "concurrent exists in the pipelined part")
	fs.IntVar(&spec.BigSize, "big-size", 1<<20, "bytes of the big node")
	fs.IntVar(&spec.Children, "children", 3000, "children listed by the children part")
	fs.IntVar(&load.Sessions, "sessions", 8, "load: sessions")
	fs.IntVar(&load.Outstanding, "outstanding", 64, "load: outstanding exists per session")
	fs.Float64Var(&load.Rate, "rate", 0, "load: total ops/s (0: unlimited)")
	fs.DurationVar(&load.Duration, "duration", 0, "load: run time (default 10s)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	spec.Parts = strings.Split(*parts, ",")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var rep any
	var err error
	switch {
	case *isNewOps:
		root := ""
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "root" {
				root = spec.Root
			}
		})
		rep, err = workload.RunNewOps(ctx, *server, workload.NewOpsSpec{Root: root})
	case *isLoad:
		rep, err = workload.Load(ctx, *server, load)
	default:
		rep, err = workload.Run(ctx, *server, spec)
	}
	b, jerr := json.MarshalIndent(rep, "", "  ")
	if jerr != nil {
		fmt.Fprintln(os.Stderr, "zkload:", jerr)
		return 1
	}
	b = append(b, '\n')
	if *out == "" {
		os.Stdout.Write(b)
	} else if werr := os.WriteFile(*out, b, 0o644); werr != nil {
		fmt.Fprintln(os.Stderr, "zkload:", werr)
		return 1
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "zkload:", err)
		return 1
	}
	if r, ok := rep.(workload.Report); ok && *isLoad {
		fmt.Fprintf(os.Stderr, "zkload: %d ops in %.1fs: %.0f ops/s\n", r.Ops, r.Seconds, r.OpsPerSecond)
	}
	return 0
}
