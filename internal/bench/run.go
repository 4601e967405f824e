//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Capture phases.
const (
	capNone    = "none"
	capTcpdump = "tcpdump"
	capZktap   = "zktap"
	capBoth    = "both"
	// capDecode runs tcpdump and a decode-only zktap at the same time:
	// zktap dump --proto fle on the client port captures, reassembles,
	// decodes and pairs every client message but keeps no statistics and
	// prints nothing. Its CPU against tcpdump's is the floor under zktap
	// serve's, so the table shows what the statistics add on top.
	capDecode = "decode"
)

// Results is everything one run measured; it is the JSON file's schema.
type Results struct {
	Machine  Machine        `json:"machine"`
	Started  time.Time      `json:"started"`
	Seconds  float64        `json:"seconds"`
	Phases   []Phase        `json:"phases"`  // every round of every mix and capture
	Summary  []Phase        `json:"summary"` // the rounds of each mix and capture added up
	Offline  []Offline      `json:"offline"`
	Conns    *ConnsResult   `json:"conns,omitempty"`
	Paths    *PathsResult   `json:"paths,omitempty"`
	Targets  []Target       `json:"targets"`
	Errors   []string       `json:"errors,omitempty"`
	Settings map[string]any `json:"settings"`
}

// Machine describes where the figures were measured.
type Machine struct {
	NumCPU         int     `json:"nproc"`
	CPUModel       string  `json:"cpu_model"`
	Kernel         string  `json:"kernel"`
	GoVersion      string  `json:"go_version"`
	ZKVersion      string  `json:"zookeeper_version"`
	Tcpdump        string  `json:"tcpdump_version"`
	ZktapRev       string  `json:"zktap_revision"`
	LoadAvgAtStart float64 `json:"load_avg_1m_start"`
	LoadAvgAtEnd   float64 `json:"load_avg_1m_end"`
}

// Phase is one load run under one capture setup.
type Phase struct {
	Round           int           `json:"round"`            // 0 in a summary
	Rounds          int           `json:"rounds,omitempty"` // in a summary: the rounds it adds up
	Mix             string        `json:"mix"`
	Capture         string        `json:"capture"`
	LoadAvg         float64       `json:"load_avg_1m"` // at the start of the phase
	Load            loadResult    `json:"load"`
	Seconds         float64       `json:"seconds"`    // between the CPU samples: load plus drain
	LoPackets       int64         `json:"lo_packets"` // packets received on lo, all traffic of the machine
	LoPacketsPerSec float64       `json:"lo_packets_per_second"`
	ZKCPU           float64       `json:"zookeeper_cpu_seconds"`
	Tcpdump         *TcpdumpPhase `json:"tcpdump,omitempty"`
	Zktap           *ZktapPhase   `json:"zktap,omitempty"`
	Decode          *DecodePhase  `json:"zktap_decode_only,omitempty"`
	// Ratios of CPU seconds over the same interval.
	ZktapOverTcpdump float64 `json:"zktap_over_tcpdump_cpu,omitempty"`
	ZktapOverZK      float64 `json:"zktap_over_zookeeper_cpu,omitempty"`
	TcpdumpOverZK    float64 `json:"tcpdump_over_zookeeper_cpu,omitempty"`
	// ZktapOverTcpdumpPackets compares the packets each capturer kept
	// (zktap_packets_total over tcpdump's "captured"); 1 means zktap kept
	// exactly one copy of each lo packet, as libpcap does.
	ZktapOverTcpdumpPackets float64 `json:"zktap_over_tcpdump_packets,omitempty"`
	// ZktapScrapedOverTcpdump is ZktapScrapedCPU over tcpdump's CPU: the
	// figure the CPU target is checked on.
	ZktapScrapedOverTcpdump float64 `json:"zktap_with_scrapes_over_tcpdump_cpu,omitempty"`
	// DecodeOverTcpdump is the decode-only zktap's CPU over tcpdump's.
	DecodeOverTcpdump float64 `json:"decode_only_over_tcpdump_cpu,omitempty"`
}

// ZktapScrapedCPU is zktap's CPU over the phase plus one scrape per
// scrapeInterval of the phase's time, as a Prometheus would cost it. A
// summary adds up its rounds' scrapes as it adds up their seconds, so
// the cost of one scrape is their mean.
func (p *Phase) ZktapScrapedCPU() float64 {
	if p.Zktap == nil {
		return 0
	}
	perScrape := p.Zktap.ScrapeCPU / float64(max(p.Rounds, 1))
	return p.Zktap.CPU + perScrape*p.Seconds/scrapeInterval.Seconds()
}

// DecodePhase is the decode-only zktap's share of a decode phase.
type DecodePhase struct {
	CPU         float64 `json:"cpu_seconds"`
	Frames      int64   `json:"frames"` // from its closing summary
	KernelDrops int64   `json:"kernel_drops"`
}

// TcpdumpPhase is tcpdump's share of a phase.
type TcpdumpPhase struct {
	CPU float64 `json:"cpu_seconds"`
	tcpdumpStats
}

// ZktapPhase is zktap's share of a phase.
type ZktapPhase struct {
	CPU          float64          `json:"cpu_seconds"`
	Packets      float64          `json:"packets"`
	Messages     float64          `json:"messages"`
	KernelDrops  float64          `json:"kernel_drops"`
	QueueDrops   float64          `json:"queue_drops"`
	DecodeErrors float64          `json:"decode_errors"`
	PeakRSSKiB   int64            `json:"peak_rss_kib"`
	Requests     map[string]int64 `json:"requests"` // zookeeper_client_requests_total by op
	CountsEqual  bool             `json:"counts_equal"`
	// ScrapeCPU is the CPU zktap spent on one /metrics scrape after the
	// drain (the second scrape: see FirstScrapeCPU), measured around it.
	// The phase's CPU is read before any scrape; a Prometheus scraping
	// every 15 s costs this much per 15 s (Phase.ZktapScrapedCPU).
	ScrapeCPU float64 `json:"scrape_cpu_seconds"`
	// FirstScrapeCPU is the CPU of the process's first scrape, which also
	// builds what later scrapes reuse; ScrapeCPU is the second one's.
	FirstScrapeCPU float64 `json:"first_scrape_cpu_seconds"`
	// CaughtUp is whether zktap's counts equalled the client's at the end
	// of the drain, when its CPU was read; if not, that CPU is short.
	CaughtUp bool `json:"caught_up_after_drain"`
}

// Offline is one offline decode of a capture file.
type Offline struct {
	File            string  `json:"file"`
	ZKPort          int     `json:"zk_port"` // ZooKeeper's client port in the capture (for replays: testdata/pgo.sh)
	Bytes           int64   `json:"bytes"`
	Packets         int64   `json:"packets"`
	Messages        int64   `json:"messages"`
	ZktapSeconds    float64 `json:"zktap_seconds"` // wall time of zktap dump --format json > /dev/null
	ZktapCPU        float64 `json:"zktap_cpu_seconds"`
	TcpdumpSeconds  float64 `json:"tcpdump_seconds"` // wall time of tcpdump -r FILE -w /dev/null
	TcpdumpCPU      float64 `json:"tcpdump_cpu_seconds"`
	MessagesPerSec  float64 `json:"messages_per_second"`
	MBPerSec        float64 `json:"mb_per_second"`
	Ratio           float64 `json:"zktap_over_tcpdump_time"`
	ZktapPeakRSSKiB int64   `json:"zktap_peak_rss_kib"`
	CPURatio        float64 `json:"zktap_over_tcpdump_cpu"`
}

// ConnsResult is zktap's memory with many concurrent client connections.
type ConnsResult struct {
	Wanted      int     `json:"wanted"`
	Established int     `json:"established"`
	Failed      int     `json:"failed"`
	Seconds     float64 `json:"seconds_to_open"`
	FlowsActive float64 `json:"zktap_flows_active"`
	Sessions    float64 `json:"zktap_sessions_established"`
	RSSKiB      int64   `json:"zktap_rss_kib"`
	PeakRSSKiB  int64   `json:"zktap_peak_rss_kib"`
	BaseRSSKiB  int64   `json:"zktap_rss_before_kib"`
}

// PathsResult is zktap's memory and series count after a million distinct paths.
type PathsResult struct {
	Paths         int     `json:"paths"`
	MaxPaths      int     `json:"max_paths"`
	File          string  `json:"file"`
	Bytes         int64   `json:"bytes"`
	Packets       int     `json:"packets"`
	ReplaySeconds float64 `json:"replay_seconds"`
	Requests      float64 `json:"zktap_exists_requests"`
	Series        int     `json:"series"`            // samples on /metrics
	RequestSeries int     `json:"request_series"`    // zookeeper_client_requests_total samples
	PathValues    int     `json:"path_label_values"` // distinct path label values on /metrics
	PathsTracked  float64 `json:"zktap_paths_tracked"`
	RSSKiB        int64   `json:"zktap_rss_kib"`
	PeakRSSKiB    int64   `json:"zktap_peak_rss_kib"`
}

// Target is one of issue 4's targets and whether this run met it.
type Target struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	Met   bool   `json:"met"`
}

func machine(o options) Machine {
	m := Machine{NumCPU: runtime.NumCPU(), GoVersion: o.goVersion, ZktapRev: o.rev, LoadAvgAtStart: loadAvg()}
	if m.GoVersion == "" {
		m.GoVersion = runtime.Version()
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, err := exec.Command("tcpdump", "--version").CombinedOutput(); err == nil {
		m.Tcpdump = strings.ReplaceAll(strings.TrimSpace(string(out)), "\n", "; ")
	}
	return m
}

// bench runs every measurement. It returns what it measured even when a
// step fails; the error joins every failure.
func bench(ctx context.Context, o options) (*Results, error) {
	r := &Results{Machine: machine(o), Started: time.Now().UTC(), Settings: map[string]any{
		"duration": o.duration.String(), "warmup": o.warmup.String(), "rounds": o.rounds, "record": o.record.String(), "sessions": o.sessions,
		"outstanding": o.outstanding, "conns": o.conns, "paths": o.paths, "max_paths": o.maxPaths,
		"zktap_args": o.zktapArgs,
	}}
	begin := time.Now()
	var errs []error
	fail := func(step string, err error) {
		err = fmt.Errorf("%s: %w", step, err)
		errs = append(errs, err)
		r.Errors = append(r.Errors, err.Error())
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	defer func() {
		r.Seconds = time.Since(begin).Seconds()
		r.Machine.LoadAvgAtEnd = loadAvg()
		r.Targets = targets(r)
	}()

	progress("starting ZooKeeper")
	zk, err := startZooKeeper(ctx, o.tmp)
	if err != nil {
		fail("zookeeper", err)
		return r, errors.Join(errs...)
	}
	defer zk.stop(syscall.SIGKILL)
	r.Machine.ZKVersion = zk.version
	zkPort := zk.addr[strings.LastIndexByte(zk.addr, ':')+1:]
	port, _ := strconv.Atoi(zkPort)
	if err := setupMixes(ctx, zk.addr); err != nil {
		fail("setup", err)
		return r, errors.Join(errs...)
	}
	// A warm-up so that the JVM's JIT has compiled the request path
	// before the baseline is measured. With 3 s per mix, ZooKeeper's
	// throughput still rose by up to a fifth across the first round's
	// phases (2026-11-25 runs), which fell on whichever capture came first.
	progress(fmt.Sprintf("warming up ZooKeeper (%s per mix)", o.warmup))
	for _, mix := range o.mixes {
		if _, err := runLoad(ctx, zk.addr, mix, "warm", o.sessions, o.outstanding, o.warmup); err != nil {
			fail("warm-up", err)
		}
	}

	// Rounds interleave the capture setups, in reverse order every other
	// round, so that a drift in the machine's load (other jobs) does not
	// fall on one setup only.
	n := 0
	for round := 1; round <= o.rounds; round++ {
		for _, mix := range o.mixes {
			caps := slices.Clone(o.captures)
			if round%2 == 0 {
				slices.Reverse(caps)
			}
			for _, capture := range caps {
				n++
				progress(fmt.Sprintf("round %d phase %s/%s (%s)", round, mix, capture, o.duration))
				p, err := phase(ctx, o, zk, port, mix, capture, fmt.Sprintf("p%d", n))
				if ctx.Err() != nil {
					// Interrupted: a partial phase would only mislead.
					fail("interrupted", ctx.Err())
					r.Summary = summarise(r.Phases)
					return r, errors.Join(errs...)
				}
				p.Round = round
				r.Phases = append(r.Phases, p)
				if err != nil {
					fail(fmt.Sprintf("round %d phase %s/%s", round, mix, capture), err)
				}
			}
		}
	}
	r.Summary = summarise(r.Phases)

	if o.record > 0 {
		progress(fmt.Sprintf("recording %s of load for the offline decode", o.record))
		file := filepath.Join(o.tmp, "load.pcap")
		if err := record(ctx, o, zk, port, file); err != nil {
			fail("record", err)
		} else {
			progress("decoding the recorded capture offline")
			off, err := offline(ctx, o, file, zkPort)
			r.Offline = append(r.Offline, off)
			if err != nil {
				fail("offline "+file, err)
			}
		}
	}

	if o.paths > 0 {
		progress(fmt.Sprintf("synthesising a capture with %d distinct paths", o.paths))
		pr, err := pathsTest(ctx, o, r)
		r.Paths = pr
		if err != nil {
			fail("paths", err)
		}
	}

	if o.conns > 0 {
		progress(fmt.Sprintf("opening %d client connections", o.conns))
		cr, err := connsTest(ctx, o, zk.addr, zkPort)
		r.Conns = cr
		if err != nil {
			fail("conns", err)
		}
	}
	return r, errors.Join(errs...)
}

func progress(s string) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().UTC().Format("15:04:05"), s)
}

// phase runs one mix under one capture setup.
func phase(ctx context.Context, o options, zk *zookeeper, port int, mix, capture, tag string) (Phase, error) {
	p := Phase{Mix: mix, Capture: capture, LoadAvg: loadAvg()}
	var td, dec *child
	var zt *zktapProc
	defer func() {
		td.stop(syscall.SIGKILL)
		dec.stop(syscall.SIGKILL)
		if zt != nil {
			zt.stop(syscall.SIGKILL)
		}
	}()
	var err error
	if capture == capDecode {
		if dec, err = startDecodeOnly(ctx, o.tmp, "zktap-decode-"+tag, o.zktap, port); err != nil {
			return p, err
		}
	}
	if capture == capTcpdump || capture == capBoth || capture == capDecode {
		if td, err = startTcpdump(ctx, o.tmp, "tcpdump-"+tag, "/dev/null", port, false); err != nil {
			return p, err
		}
	}
	if capture == capZktap || capture == capBoth {
		args := append([]string{"--iface", "lo", "--zk-ports", strconv.Itoa(port)}, o.zktapArgs...)
		if zt, err = startZktap(ctx, o.tmp, "zktap-"+tag, o.zktap, args...); err != nil {
			return p, err
		}
	}
	lo0, _ := loPackets()
	zk0, _ := cpuSeconds(zk.pid())
	var td0, zt0, dec0 float64
	if td != nil {
		td0, _ = threadCPUSeconds(td.pid())
	}
	if dec != nil {
		dec0, _ = threadCPUSeconds(dec.pid())
	}
	if zt != nil {
		zt0, _ = threadCPUSeconds(zt.pid())
	}
	t0 := time.Now()

	p.Load, err = runLoad(ctx, zk.addr, mix, tag, o.sessions, o.outstanding, o.duration)
	if err != nil {
		return p, err
	}

	// Drain: every setup waits the same second after the load, so that the
	// capturers' CPU covers the same kind of interval. zktap has caught up
	// by then: its ring hands over a block at least every ring timeout
	// (100 ms). zktap's CPU is read before the bench scrapes it: the bench
	// used to poll /metrics every 200 ms until the counts matched, and
	// those scrapes (tens of ms of CPU each with thousands of series) were
	// counted as zktap's capture cost. One scrape is measured instead, and
	// the target adds one per scrapeInterval.
	time.Sleep(time.Second)
	var final []sample
	p.Seconds = time.Since(t0).Seconds()
	lo1, _ := loPackets()
	zk1, _ := cpuSeconds(zk.pid())
	p.LoPackets = lo1 - lo0
	p.LoPacketsPerSec = float64(p.LoPackets) / p.Seconds
	p.ZKCPU = zk1 - zk0
	if dec != nil {
		dec1, _ := threadCPUSeconds(dec.pid())
		p.Decode = &DecodePhase{CPU: dec1 - dec0}
		dec.stop(syscall.SIGINT)
		var err error
		if p.Decode.Frames, p.Decode.KernelDrops, err = parseCaptureDone(dec.output()); err != nil {
			return p, err
		}
	}
	if zt != nil {
		zt1, _ := threadCPUSeconds(zt.pid())
		final, err = scrape(ctx, zt.metrics)
		if err != nil {
			return p, err
		}
		zt2, _ := threadCPUSeconds(zt.pid())
		caughtUp := countsEqual(p.Load.Requests, final)
		// The first scrape of a process builds what later ones reuse (the
		// SDK's aggregators, zktap's attribute sets); a Prometheus scrapes
		// the same process every interval, so the second one is the cost
		// the target adds.
		if _, err := scrape(ctx, zt.metrics); err != nil {
			return p, err
		}
		zt3, _ := threadCPUSeconds(zt.pid())
		// Behind after the drain: wait for the counts (at most 5 s) so that
		// they can still be compared; the CPU above then misses some of
		// zktap's work, and CaughtUp says so.
		for deadline := time.Now().Add(5 * time.Second); !countsEqual(p.Load.Requests, final) && time.Now().Before(deadline); {
			time.Sleep(200 * time.Millisecond)
			if final, err = scrape(ctx, zt.metrics); err != nil {
				return p, err
			}
		}
		hwm, _ := memKiB(zt.pid(), "VmHWM")
		z := &ZktapPhase{
			CPU:            zt1 - zt0,
			ScrapeCPU:      zt3 - zt2,
			FirstScrapeCPU: zt2 - zt1,
			CaughtUp:       caughtUp,
			Packets:        sum(final, "zktap_packets_total"),
			Messages:       sum(final, "zktap_messages_total"),
			KernelDrops:    sum(final, "zktap_drops_total", "where", "kernel"),
			QueueDrops:     sum(final, "zktap_drops_total", "where", "queue"),
			DecodeErrors:   sum(final, "zktap_decode_errors_total"),
			PeakRSSKiB:     hwm,
			Requests:       map[string]int64{},
		}
		for op := range p.Load.Requests {
			z.Requests[op] = int64(sum(final, "zookeeper_client_requests_total", "op", op))
		}
		z.CountsEqual = countsEqual(p.Load.Requests, final)
		p.Zktap = z
	}
	if td != nil {
		td1, _ := threadCPUSeconds(td.pid())
		td.stop(syscall.SIGINT)
		st, err := parseTcpdump(td.output())
		p.Tcpdump = &TcpdumpPhase{CPU: td1 - td0, tcpdumpStats: st}
		if err != nil {
			return p, err
		}
	}
	p.ratios()
	return p, nil
}

// scrapeInterval is the Prometheus scrape interval the CPU target assumes:
// zktap's CPU over a phase plus one measured scrape per interval. 15 s is
// shorter than Prometheus's default (1 m) and the kube-prometheus one (30 s).
const scrapeInterval = 15 * time.Second

// ratios fills in the ratios from the CPU seconds and packet counts.
func (p *Phase) ratios() {
	if p.Zktap != nil && p.ZKCPU > 0 {
		p.ZktapOverZK = p.ZktapScrapedCPU() / p.ZKCPU
	}
	if p.Tcpdump != nil && p.ZKCPU > 0 {
		p.TcpdumpOverZK = p.Tcpdump.CPU / p.ZKCPU
	}
	if p.Tcpdump != nil && p.Decode != nil && p.Tcpdump.CPU > 0 {
		p.DecodeOverTcpdump = p.Decode.CPU / p.Tcpdump.CPU
	}
	if p.Tcpdump != nil && p.Zktap != nil {
		if p.Tcpdump.CPU > 0 {
			p.ZktapOverTcpdump = p.Zktap.CPU / p.Tcpdump.CPU
			p.ZktapScrapedOverTcpdump = p.ZktapScrapedCPU() / p.Tcpdump.CPU
		}
		// "captured", not "received by filter": on lo the kernel hands
		// libpcap both copies of each packet and libpcap drops the outgoing
		// one in user space, after the filter has counted it.
		if p.Tcpdump.Captured > 0 {
			p.ZktapOverTcpdumpPackets = p.Zktap.Packets / float64(p.Tcpdump.Captured)
		}
	}
}

// summarise adds up the rounds of each mix and capture, in order of first
// appearance.
func summarise(phases []Phase) []Phase {
	var out []Phase
	idx := map[string]int{}
	rounds := map[string]int{}
	for _, p := range phases {
		k := p.Mix + "/" + p.Capture
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, Phase{Mix: p.Mix, Capture: p.Capture,
				Load: loadResult{Mix: p.Mix, Sessions: p.Load.Sessions, Outstanding: p.Load.Outstanding, Requests: map[string]int64{}}})
		}
		s := &out[i]
		rounds[k]++
		s.LoadAvg += p.LoadAvg
		s.Load.Seconds += p.Load.Seconds
		s.Load.Ops += p.Load.Ops
		s.Load.ErrReplies += p.Load.ErrReplies
		s.Load.OpsPerSec += p.Load.OpsPerSec
		for op, n := range p.Load.Requests {
			s.Load.Requests[op] += n
		}
		s.Seconds += p.Seconds
		s.LoPackets += p.LoPackets
		s.ZKCPU += p.ZKCPU
		if t := p.Tcpdump; t != nil {
			if s.Tcpdump == nil {
				s.Tcpdump = &TcpdumpPhase{}
			}
			s.Tcpdump.CPU += t.CPU
			s.Tcpdump.Captured += t.Captured
			s.Tcpdump.Received += t.Received
			s.Tcpdump.KernelDrops += t.KernelDrops
		}
		if d := p.Decode; d != nil {
			if s.Decode == nil {
				s.Decode = &DecodePhase{}
			}
			s.Decode.CPU += d.CPU
			s.Decode.Frames += d.Frames
			s.Decode.KernelDrops += d.KernelDrops
		}
		if z := p.Zktap; z != nil {
			if s.Zktap == nil {
				s.Zktap = &ZktapPhase{Requests: map[string]int64{}, CountsEqual: true, CaughtUp: true}
			}
			s.Zktap.CPU += z.CPU
			s.Zktap.ScrapeCPU += z.ScrapeCPU
			s.Zktap.FirstScrapeCPU += z.FirstScrapeCPU
			s.Zktap.Packets += z.Packets
			s.Zktap.Messages += z.Messages
			s.Zktap.KernelDrops += z.KernelDrops
			s.Zktap.QueueDrops += z.QueueDrops
			s.Zktap.DecodeErrors += z.DecodeErrors
			s.Zktap.PeakRSSKiB = max(s.Zktap.PeakRSSKiB, z.PeakRSSKiB)
			for op, n := range z.Requests {
				s.Zktap.Requests[op] += n
			}
			s.Zktap.CountsEqual = s.Zktap.CountsEqual && z.CountsEqual
			s.Zktap.CaughtUp = s.Zktap.CaughtUp && z.CaughtUp
		}
	}
	for k, i := range idx {
		s := &out[i]
		s.Rounds = rounds[k]
		s.LoadAvg /= float64(rounds[k])
		// Every round runs the same load time: the mean rate is total ops
		// over total time.
		s.Load.OpsPerSec /= float64(rounds[k])
		if s.Seconds > 0 {
			s.LoPacketsPerSec = float64(s.LoPackets) / s.Seconds
		}
		s.ratios()
	}
	return out
}

// countsEqual reports whether zktap counted exactly the requests the client
// sent, op by op.
func countsEqual(client map[string]int64, ss []sample) bool {
	if len(client) == 0 {
		return false
	}
	for op, n := range client {
		if int64(sum(ss, "zookeeper_client_requests_total", "op", op)) != n {
			return false
		}
	}
	return true
}

// record captures half the record time of the read mix and half of the
// write mix into file.
func record(ctx context.Context, o options, zk *zookeeper, port int, file string) error {
	td, err := startTcpdump(ctx, o.tmp, "tcpdump-record", file, port, true)
	if err != nil {
		return err
	}
	defer td.stop(syscall.SIGKILL)
	for i, mix := range []string{mixRead, mixWrite} {
		if _, err := runLoad(ctx, zk.addr, mix, "rec"+strconv.Itoa(i), o.sessions, o.outstanding, o.record/2); err != nil {
			return err
		}
	}
	time.Sleep(500 * time.Millisecond)
	td.stop(syscall.SIGINT)
	st, err := parseTcpdump(td.output())
	if err != nil {
		return err
	}
	if st.KernelDrops > 0 {
		return fmt.Errorf("bench: tcpdump dropped %d packets while recording", st.KernelDrops)
	}
	return nil
}

// timed runs argv with stdout to out and returns its wall time, CPU time
// and peak RSS.
func timed(ctx context.Context, out io.Writer, argv ...string) (wall, cpu float64, rssKiB int64, err error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout = out
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	wall = time.Since(t0).Seconds()
	if cmd.ProcessState != nil {
		cpu = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rssKiB = ru.Maxrss
		}
	}
	if err != nil {
		err = fmt.Errorf("%s: %w: %s", argv[0], err, tail(stderr.String()))
	}
	return wall, cpu, rssKiB, err
}

// offlineRuns is how many times each offline decode runs.
const offlineRuns = 3

// offline decodes file with zktap dump --format json > /dev/null and with
// tcpdump -r file -w /dev/null, and counts zktap's messages in a second,
// untimed run.
func offline(ctx context.Context, o options, file, zkPort string) (Offline, error) {
	off := Offline{File: filepath.Base(file)}
	off.ZKPort, _ = strconv.Atoi(zkPort)
	if fi, err := os.Stat(file); err == nil {
		off.Bytes = fi.Size()
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return off, err
	}
	defer devnull.Close()
	// Warm the page cache so that neither side pays for the disk.
	if _, _, _, err := timed(ctx, devnull, "cat", file); err != nil {
		return off, err
	}
	// Each side runs offlineRuns times, alternately, and keeps its fastest
	// run: on a machine shared with other jobs the slower runs measure the
	// scheduler rather than the program.
	dump := []string{o.zktap, "dump", "--pcap", file, "--format", "json", "--zk-ports", zkPort}
	for i := range offlineRuns {
		wall, cpu, rss, err := timed(ctx, devnull, dump...)
		if err != nil {
			return off, err
		}
		if i == 0 || wall < off.ZktapSeconds {
			off.ZktapSeconds, off.ZktapCPU = wall, cpu
		}
		off.ZktapPeakRSSKiB = max(off.ZktapPeakRSSKiB, rss)
		wall, cpu, _, err = timed(ctx, devnull, "tcpdump", "-r", file, "-w", os.DevNull)
		if err != nil {
			return off, err
		}
		if i == 0 || wall < off.TcpdumpSeconds {
			off.TcpdumpSeconds, off.TcpdumpCPU = wall, cpu
		}
	}
	var cnt lineCounter
	if _, _, _, err := timed(ctx, &cnt, dump...); err != nil {
		return off, err
	}
	off.Messages = cnt.lines
	var pk lineCounter
	if _, _, _, err := timed(ctx, &pk, "tcpdump", "-r", file, "-n", "-q", "-t"); err != nil {
		return off, err
	}
	off.Packets = pk.lines
	off.MessagesPerSec = float64(off.Messages) / off.ZktapSeconds
	off.MBPerSec = float64(off.Bytes) / 1e6 / off.ZktapSeconds
	off.Ratio = off.ZktapSeconds / off.TcpdumpSeconds
	if off.TcpdumpCPU > 0 {
		off.CPURatio = off.ZktapCPU / off.TcpdumpCPU
	}
	return off, nil
}

// lineCounter counts the lines written to it.
type lineCounter struct{ lines int64 }

func (c *lineCounter) Write(p []byte) (int, error) {
	c.lines += int64(bytes.Count(p, []byte{'\n'}))
	return len(p), nil
}

// pathsTest synthesises a capture of o.paths distinct paths, decodes it
// offline, and replays it through zktap serve.
func pathsTest(ctx context.Context, o options, r *Results) (*PathsResult, error) {
	const port = 2181
	file := filepath.Join(o.tmp, "paths.pcap")
	pr := &PathsResult{Paths: o.paths, MaxPaths: o.maxPaths, File: filepath.Base(file)}
	var err error
	pr.Packets, err = synthPaths(file, synthSpec{Paths: o.paths, Sessions: 8, Batch: 16, Port: port})
	if err != nil {
		return pr, err
	}
	if fi, err := os.Stat(file); err == nil {
		pr.Bytes = fi.Size()
	}
	progress("decoding the synthesised capture offline")
	off, err := offline(ctx, o, file, strconv.Itoa(port))
	r.Offline = append(r.Offline, off)
	if err != nil {
		return pr, err
	}
	progress("replaying the synthesised capture through zktap serve")
	t0 := time.Now()
	zt, err := startZktap(ctx, o.tmp, "zktap-paths", o.zktap, "--pcap", file, "--zk-ports", strconv.Itoa(port),
		"--replay.pace", "fast", "--stats.max-paths", strconv.Itoa(o.maxPaths))
	if err != nil {
		return pr, err
	}
	defer zt.stop(syscall.SIGKILL)
	if err := zt.waitOutput(ctx, "capture file replayed", 5*time.Minute); err != nil {
		return pr, err
	}
	pr.ReplaySeconds = time.Since(t0).Seconds()
	ss, err := scrape(ctx, zt.metrics)
	if err != nil {
		return pr, err
	}
	pr.Series = len(ss)
	values := map[string]bool{}
	for _, s := range ss {
		if s.name == "zookeeper_client_requests_total" {
			pr.RequestSeries++
		}
		if strings.Contains(","+s.labels, `,path="`) {
			values[s.label("path")] = true
		}
	}
	pr.PathValues = len(values)
	pr.Requests = sum(ss, "zookeeper_client_requests_total", "op", "exists")
	pr.PathsTracked = sum(ss, "zktap_paths_tracked")
	pr.RSSKiB, _ = memKiB(zt.pid(), "VmRSS")
	pr.PeakRSSKiB, _ = memKiB(zt.pid(), "VmHWM")
	zt.stop(syscall.SIGTERM)
	return pr, nil
}

// connsTest opens o.conns sessions to ZooKeeper while zktap captures, and
// reads zktap's memory once they are all open.
func connsTest(ctx context.Context, o options, addr, zkPort string) (*ConnsResult, error) {
	cr := &ConnsResult{Wanted: o.conns}
	args := append([]string{"--iface", "lo", "--zk-ports", zkPort}, o.zktapArgs...)
	zt, err := startZktap(ctx, o.tmp, "zktap-conns", o.zktap, args...)
	if err != nil {
		return cr, err
	}
	defer zt.stop(syscall.SIGKILL)
	cr.BaseRSSKiB, _ = memKiB(zt.pid(), "VmRSS")
	t0 := time.Now()
	held, failed, herr := holdConns(ctx, addr, o.conns, 200, 40*time.Second)
	cr.Seconds = time.Since(t0).Seconds()
	defer func() {
		for _, s := range held {
			s.c.Close()
		}
	}()
	cr.Established, cr.Failed = len(held), failed
	// Let zktap's workers catch up with the last handshakes.
	time.Sleep(2 * time.Second)
	ss, err := scrape(ctx, zt.metrics)
	if err != nil {
		return cr, err
	}
	cr.FlowsActive = sum(ss, "zktap_flows_active")
	cr.Sessions = sum(ss, "zookeeper_client_sessions_opened_total", "result", "established")
	cr.RSSKiB, _ = memKiB(zt.pid(), "VmRSS")
	cr.PeakRSSKiB, _ = memKiB(zt.pid(), "VmHWM")
	if failed > 0 {
		return cr, fmt.Errorf("bench: %d of %d connections failed: %w", failed, o.conns, herr)
	}
	return cr, nil
}

// roundDiffs lists, for each round of mix, ZooKeeper's ops/s under zktap
// against under tcpdump as a signed percentage: the rounds' spread says
// whether the difference of the totals stands out from the noise.
func roundDiffs(phases []Phase, mix string) string {
	type pair struct{ zt, td float64 }
	var rounds []int
	by := map[int]*pair{}
	for _, p := range phases {
		if p.Mix != mix || (p.Capture != capZktap && p.Capture != capTcpdump) {
			continue
		}
		q := by[p.Round]
		if q == nil {
			q = &pair{}
			by[p.Round] = q
			rounds = append(rounds, p.Round)
		}
		if p.Capture == capZktap {
			q.zt = p.Load.OpsPerSec
		} else {
			q.td = p.Load.OpsPerSec
		}
	}
	var parts []string
	for _, n := range rounds {
		if q := by[n]; q.zt > 0 && q.td > 0 {
			parts = append(parts, fmt.Sprintf("%+.1f %%", 100*(q.zt/q.td-1)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (by round: " + strings.Join(parts, ", ") + ")"
}

// targets checks the run against issue 4's targets.
func targets(r *Results) []Target {
	var ts []Target
	add := func(name, value string, met bool) { ts = append(ts, Target{name, value, met}) }
	var kdrops, qdrops float64
	equal, nz := true, 0
	for _, p := range r.Summary {
		if p.Zktap != nil {
			nz++
			kdrops += p.Zktap.KernelDrops
			qdrops += p.Zktap.QueueDrops
			equal = equal && p.Zktap.CountsEqual
		}
	}
	if nz > 0 {
		behind := 0
		for _, p := range r.Phases {
			if p.Zktap != nil && !p.Zktap.CaughtUp {
				behind++
			}
		}
		add("zktap: caught up within the 1 s drain (its CPU covers all its work)", fmt.Sprintf("%d phases behind", behind), behind == 0)
		add("zktap: zero kernel and queue drops at full load", fmt.Sprintf("kernel %.0f, queue %.0f", kdrops, qdrops), kdrops == 0 && qdrops == 0)
		add("zktap: request counts equal the client's", fmt.Sprint(equal), equal)
	}
	byKey := map[string]Phase{}
	for _, p := range r.Summary {
		byKey[p.Mix+"/"+p.Capture] = p
	}
	for _, mix := range []string{mixRead, mixWrite} {
		if p, ok := byKey[mix+"/"+capBoth]; ok && p.Zktap != nil && p.Tcpdump != nil {
			add(mix+": zktap CPU <= 1.5 x tcpdump (same traffic, same time; zktap scraped every "+scrapeInterval.String()+")",
				fmt.Sprintf("%.2f s / %.2f s = %.1f (%.1f without scrapes)", p.ZktapScrapedCPU(), p.Tcpdump.CPU, p.ZktapScrapedOverTcpdump, p.ZktapOverTcpdump),
				p.ZktapScrapedOverTcpdump <= 1.5)
		}
		for _, c := range []string{capZktap, capBoth} {
			if p, ok := byKey[mix+"/"+c]; ok && p.Zktap != nil {
				add(mix+"/"+c+": zktap CPU (scraped every "+scrapeInterval.String()+") <= 0.1 x ZooKeeper",
					fmt.Sprintf("%.2f s / %.2f s = %.3f", p.ZktapScrapedCPU(), p.ZKCPU, p.ZktapOverZK), p.ZktapOverZK <= 0.1)
			}
		}
		pt, ok1 := byKey[mix+"/"+capTcpdump]
		pz, ok2 := byKey[mix+"/"+capZktap]
		if ok1 && ok2 {
			add(mix+": ZooKeeper ops/s under zktap >= under tcpdump",
				fmt.Sprintf("%.0f vs %.0f%s", pz.Load.OpsPerSec, pt.Load.OpsPerSec, roundDiffs(r.Phases, mix)), pz.Load.OpsPerSec >= pt.Load.OpsPerSec)
		}
	}
	for _, off := range r.Offline {
		add("offline "+off.File+": zktap dump json <= 5 x tcpdump -r",
			fmt.Sprintf("%.2f s / %.2f s = %.1f", off.ZktapSeconds, off.TcpdumpSeconds, off.Ratio), off.Ratio > 0 && off.Ratio <= 5)
	}
	if c := r.Conns; c != nil {
		add(fmt.Sprintf("RSS <= 64 MiB with %d connections", c.Established),
			fmt.Sprintf("%.1f MiB (peak %.1f)", float64(c.RSSKiB)/1024, float64(c.PeakRSSKiB)/1024), c.PeakRSSKiB > 0 && c.PeakRSSKiB <= 64<<10)
	}
	if p := r.Paths; p != nil {
		// Every path label value is a tracked path, "other" or "" (ops
		// without a path).
		add(fmt.Sprintf("%d paths: path label values <= max-paths + 2", p.Paths),
			fmt.Sprintf("%d values, %d series, RSS %.1f MiB", p.PathValues, p.Series, float64(p.PeakRSSKiB)/1024),
			p.PathValues > 0 && p.PathValues <= p.MaxPaths+2)
	}
	return ts
}

// printBreakdown writes, per mix, zktap serve's CPU against tcpdump's next
// to the decode-only zktap's and one scrape's, so that the table shows where
// zktap's CPU goes: capture and decoding, statistics, exposition.
func printBreakdown(w io.Writer, summary []Phase) {
	by := map[string]Phase{}
	var mixes []string
	for _, p := range summary {
		if !slices.Contains(mixes, p.Mix) {
			mixes = append(mixes, p.Mix)
		}
		by[p.Mix+"/"+p.Capture] = p
	}
	for _, mix := range mixes {
		var parts []string
		if p, ok := by[mix+"/"+capBoth]; ok && p.ZktapOverTcpdump > 0 {
			parts = append(parts, fmt.Sprintf("zktap serve %.2f x tcpdump (%.2f x scraped every %s)", p.ZktapOverTcpdump, p.ZktapScrapedOverTcpdump, scrapeInterval))
		}
		if p, ok := by[mix+"/"+capDecode]; ok && p.DecodeOverTcpdump > 0 {
			parts = append(parts, fmt.Sprintf("decoding only %.2f x", p.DecodeOverTcpdump))
		}
		var scrape float64
		var n int
		for _, c := range []string{capZktap, capBoth} {
			if p, ok := by[mix+"/"+c]; ok && p.Zktap != nil {
				scrape += p.Zktap.ScrapeCPU
				n += p.Rounds
			}
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("one /metrics scrape %.1f ms CPU", 1000*scrape/float64(n)))
		}
		if len(parts) > 0 {
			fmt.Fprintf(w, "%s: %s\n", mix, strings.Join(parts, "; "))
		}
	}
}

// printTable writes the human-readable summary.
func printTable(w io.Writer, r *Results) {
	bw := bufio.NewWriter(w)
	defer bw.Flush()
	m := r.Machine
	fmt.Fprintf(bw, "\nzktap benchmark, %s, %.0f s\n", r.Started.Format(time.RFC3339), r.Seconds)
	fmt.Fprintf(bw, "machine: %d x %s, kernel %s, %s, ZooKeeper %s, zktap %s\n", m.NumCPU, m.CPUModel, m.Kernel, m.GoVersion, m.ZKVersion, m.ZktapRev)
	fmt.Fprintf(bw, "tcpdump: %s\n", m.Tcpdump)
	fmt.Fprintf(bw, "load average (1 min): %.2f at start, %.2f at end\n\n", m.LoadAvgAtStart, m.LoadAvgAtEnd)

	fmt.Fprintf(bw, "%-5s %-6s %-8s %6s %9s %9s %8s | %8s %7s | %8s %7s %7s %7s %6s | %7s %7s\n",
		"round", "mix", "capture", "load", "ops/s", "lo pkt/s", "ZK cpu", "td cpu", "td drop", "zt cpu", "zt kdrp", "zt qdrp", "RSS MiB", "counts", "zt/td", "zt/ZK")
	rows := append(slices.Clone(r.Phases), r.Summary...)
	for i, p := range rows {
		round := strconv.Itoa(p.Round)
		if p.Round == 0 {
			round = "all"
		}
		if i == len(r.Phases) && i > 0 {
			fmt.Fprintln(bw, strings.Repeat("-", 150))
		}
		td, tdd := "-", "-"
		if p.Tcpdump != nil {
			td, tdd = fmt.Sprintf("%.2f", p.Tcpdump.CPU), fmt.Sprint(p.Tcpdump.KernelDrops)
		}
		zt, zk, zq, rss, eq, ratio, ratioZK := "-", "-", "-", "-", "-", "-", "-"
		if z := p.Zktap; z != nil {
			zt, zk, zq = fmt.Sprintf("%.2f", z.CPU), fmt.Sprintf("%.0f", z.KernelDrops), fmt.Sprintf("%.0f", z.QueueDrops)
			rss = fmt.Sprintf("%.1f", float64(z.PeakRSSKiB)/1024)
			eq = map[bool]string{true: "equal", false: "DIFFER"}[z.CountsEqual]
			ratioZK = fmt.Sprintf("%.3f", p.ZktapOverZK)
		}
		if p.ZktapOverTcpdump > 0 {
			ratio = fmt.Sprintf("%.1f", p.ZktapOverTcpdump)
		}
		if d := p.Decode; d != nil {
			zt, zk = fmt.Sprintf("%.2f", d.CPU), fmt.Sprint(d.KernelDrops)
			if p.DecodeOverTcpdump > 0 {
				ratio = fmt.Sprintf("%.1f", p.DecodeOverTcpdump)
			}
		}
		fmt.Fprintf(bw, "%-5s %-6s %-8s %6.1f %9.0f %9.0f %8.2f | %8s %7s | %8s %7s %7s %7s %6s | %7s %7s\n",
			round, p.Mix, p.Capture, p.LoadAvg, p.Load.OpsPerSec, p.LoPacketsPerSec, p.ZKCPU, td, tdd, zt, zk, zq, rss, eq, ratio, ratioZK)
	}
	fmt.Fprintf(bw, "(load: 1-min load average; cpu: CPU seconds over each %s load plus drain, \"all\" rows add the rounds up;\n td = tcpdump -w /dev/null, zt = zktap serve --iface lo; kdrp/qdrp: kernel and worker-queue drops;\n decode: zt = zktap dump --iface lo --proto fle beside tcpdump, decoding every message, keeping no statistics)\n",
		r.Settings["duration"])
	printBreakdown(bw, r.Summary)
	fmt.Fprintln(bw)

	if len(r.Offline) > 0 {
		fmt.Fprintf(bw, "%-12s %8s %9s %9s | %8s %8s %10s %7s %7s | %8s %8s | %6s %6s\n",
			"offline", "MB", "packets", "messages", "zt s", "zt cpu", "msg/s", "MB/s", "RSS MiB", "td s", "td cpu", "zt/td", "cpu")
		for _, o := range r.Offline {
			fmt.Fprintf(bw, "%-12s %8.1f %9d %9d | %8.2f %8.2f %10.0f %7.1f %7.1f | %8.2f %8.2f | %6.1f %6.1f\n",
				o.File, float64(o.Bytes)/1e6, o.Packets, o.Messages, o.ZktapSeconds, o.ZktapCPU, o.MessagesPerSec, o.MBPerSec,
				float64(o.ZktapPeakRSSKiB)/1024, o.TcpdumpSeconds, o.TcpdumpCPU, o.Ratio, o.CPURatio)
		}
		fmt.Fprintf(bw, "(fastest of %d runs each; zt = zktap dump --format json > /dev/null, td = tcpdump -r FILE -w /dev/null)\n\n", offlineRuns)
	}
	if c := r.Conns; c != nil {
		fmt.Fprintf(bw, "connections: %d of %d established in %.1f s; zktap flows %.0f, sessions %.0f; RSS %.1f MiB (before %.1f, peak %.1f)\n",
			c.Established, c.Wanted, c.Seconds, c.FlowsActive, c.Sessions,
			float64(c.RSSKiB)/1024, float64(c.BaseRSSKiB)/1024, float64(c.PeakRSSKiB)/1024)
	}
	if p := r.Paths; p != nil {
		fmt.Fprintf(bw, "paths: %d distinct (%d packets, %.1f MB) replayed in %.1f s; exists counted %.0f; max-paths %d: %d path values, %.0f tracked, %d series (%d request series); RSS %.1f MiB (peak %.1f)\n",
			p.Paths, p.Packets, float64(p.Bytes)/1e6, p.ReplaySeconds, p.Requests, p.MaxPaths, p.PathValues, p.PathsTracked,
			p.Series, p.RequestSeries, float64(p.RSSKiB)/1024, float64(p.PeakRSSKiB)/1024)
	}
	fmt.Fprintln(bw, "\ntargets (issue 4):")
	for _, t := range r.Targets {
		fmt.Fprintf(bw, "  [%s] %s: %s\n", map[bool]string{true: "met", false: "MISSED"}[t.Met], t.Name, t.Value)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(bw, "error: %s\n", e)
	}
}
