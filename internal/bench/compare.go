//go:build linux

package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// compare prints the summaries of several result files side by side, so
// that each step of a change (a new capture path, another worker count...)
// shows its difference in one table. The first file is the reference of
// the Δ columns.
func compare(w io.Writer, files []string) int {
	if len(files) == 0 {
		fmt.Fprintln(os.Stderr, "usage: bench compare RESULTS.json [RESULTS.json...]")
		return 2
	}
	var runs []*Results
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		r := new(Results)
		if err := json.Unmarshal(b, r); err != nil {
			fmt.Fprintf(os.Stderr, "bench: %s: %v\n", f, err)
			return 1
		}
		runs = append(runs, r)
	}
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	for i, r := range runs {
		extra := ""
		if a, ok := r.Settings["zktap_args"].([]any); ok && len(a) > 0 {
			extra = fmt.Sprintf(", zktap serve %v", a)
		}
		fmt.Fprintf(bw, "[%d] %s: zktap %s, %s, load %.1f-%.1f%s\n", i, filepath.Base(files[i]),
			r.Machine.ZktapRev, r.Started.Format("2006-01-02 15:04"), r.Machine.LoadAvgAtStart, r.Machine.LoadAvgAtEnd, extra)
	}
	// Δ follows CPU per decoded message: how many messages a packet holds
	// moves with the load (pipelined requests coalesce when ZooKeeper
	// slows), so CPU per packet varies with the machine, per message much less.
	fmt.Fprintf(bw, "\n%-14s %3s %9s %8s %9s %9s %7s %7s %7s %8s %7s %6s\n",
		"phase", "run", "ops/s", "zt cpu", "zt ns/pkt", "zt ns/msg", "Δ", "zt/td", "zt/ZK", "drops", "RSS MiB", "counts")
	for _, key := range summaryKeys(runs) {
		var ref float64
		for i, r := range runs {
			p, ok := findSummary(r, key)
			if !ok {
				continue
			}
			nsPkt, nsMsg, delta, drops, rss, eq := "-", "-", "-", "-", "-", "-"
			cpu := "-"
			if z := p.Zktap; z != nil {
				cpu = fmt.Sprintf("%.2f", z.CPU)
				if z.Packets > 0 {
					nsPkt = fmt.Sprintf("%.0f", z.CPU/z.Packets*1e9)
				}
				if z.Messages > 0 {
					v := z.CPU / z.Messages * 1e9
					nsMsg = fmt.Sprintf("%.0f", v)
					if ref == 0 {
						ref = v
					} else {
						delta = fmt.Sprintf("%+.0f%%", (v/ref-1)*100)
					}
				}
				drops = fmt.Sprintf("%.0f/%.0f", z.KernelDrops, z.QueueDrops)
				rss = fmt.Sprintf("%.1f", float64(z.PeakRSSKiB)/1024)
				eq = map[bool]string{true: "equal", false: "DIFFER"}[z.CountsEqual]
			}
			ratio, ratioZK := "-", "-"
			if p.ZktapOverTcpdump > 0 {
				ratio = fmt.Sprintf("%.1f", p.ZktapOverTcpdump)
			}
			if p.ZktapOverZK > 0 {
				ratioZK = fmt.Sprintf("%.3f", p.ZktapOverZK)
			}
			fmt.Fprintf(bw, "%-14s %3d %9.0f %8s %9s %9s %7s %7s %7s %8s %7s %6s\n",
				key, i, p.Load.OpsPerSec, cpu, nsPkt, nsMsg, delta, ratio, ratioZK, drops, rss, eq)
		}
	}
	fmt.Fprintf(bw, "\n%-14s %3s %8s %10s %7s %6s %6s\n", "offline", "run", "zt s", "msg/s", "MB/s", "zt/td", "cpu")
	for _, name := range offlineNames(runs) {
		for i, r := range runs {
			for _, o := range r.Offline {
				if o.File == name {
					fmt.Fprintf(bw, "%-14s %3d %8.2f %10.0f %7.1f %6.1f %6.1f\n", name, i, o.ZktapSeconds, o.MessagesPerSec, o.MBPerSec, o.Ratio, o.CPURatio)
				}
			}
		}
	}
	fmt.Fprintf(bw, "\n%-14s %3s %12s %12s\n", "memory", "run", "conns MiB", "paths MiB")
	for i, r := range runs {
		c, p := "-", "-"
		if r.Conns != nil {
			c = fmt.Sprintf("%.1f", float64(r.Conns.PeakRSSKiB)/1024)
		}
		if r.Paths != nil {
			p = fmt.Sprintf("%.1f", float64(r.Paths.PeakRSSKiB)/1024)
		}
		fmt.Fprintf(bw, "%-14s %3d %12s %12s\n", "rss", i, c, p)
	}
	return 0
}

func summaryKeys(runs []*Results) []string {
	var keys []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, p := range r.Summary {
			k := p.Mix + "/" + p.Capture
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	return keys
}

func findSummary(r *Results, key string) (Phase, bool) {
	for _, p := range r.Summary {
		if p.Mix+"/"+p.Capture == key {
			return p, true
		}
	}
	return Phase{}, false
}

func offlineNames(runs []*Results) []string {
	var names []string
	seen := map[string]bool{}
	for _, r := range runs {
		for _, o := range r.Offline {
			if !seen[o.File] {
				seen[o.File] = true
				names = append(names, o.File)
			}
		}
	}
	return names
}
