package exporter

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/proto"
)

var update = flag.Bool("update", false, "rewrite golden files")

var (
	t0     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	server = netip.MustParseAddrPort("10.0.0.1:2181")
	alice  = "10.1.1.1:40000"
	bob    = "10.1.1.2:40001"
)

func fixedNow() time.Time { return t0 }

func zkMsg(kind proto.Kind, client, op, path string, size int) *proto.Message {
	c := netip.MustParseAddrPort(client)
	m := &proto.Message{Time: t0, Proto: proto.ZK, Kind: kind, Op: op, Size: size, Path: []byte(path),
		Src: c, Dst: server}
	if kind != proto.Request {
		m.Src, m.Dst = server, c
	}
	m.ZK.DataLen, m.ZK.Children = -1, -1
	return m
}

// workload observes a small, hand-made session of every kind of message the
// exporter counts, and returns how many requests of each op it sent and
// how many of them were answered with a paired reply.
func workload(s *stats.Stats) (sent, answered map[string]int) {
	sent, answered = map[string]int{}, map[string]int{}
	obs := func(m *proto.Message) {
		if m.Kind == proto.Request && m.Proto == proto.ZK && m.Op != "connect" {
			sent[m.Op]++
		}
		s.Observe(m)
	}
	pair := func(client, op, path string, lat time.Duration, err int32) {
		obs(zkMsg(proto.Request, client, op, path, 30))
		r := zkMsg(proto.Reply, client, op, path, 40)
		r.Latency, r.Paired, r.Err = lat, true, err
		obs(r)
		answered[op]++
	}
	c := zkMsg(proto.Request, alice, "connect", "", 49)
	obs(c)
	cr := zkMsg(proto.Reply, alice, "connect", "", 41)
	cr.ZK.Timeout = 30000
	cr.Session, cr.HasSession = 0x1234, true
	obs(cr)
	a := zkMsg(proto.Request, alice, "auth", "", 43)
	// The decoder reports only the user half of digest "user:secret".
	a.ZK.AuthScheme, a.ZK.AuthUser = []byte("digest"), []byte("user")
	obs(a)
	ar := zkMsg(proto.Reply, alice, "auth", "", 20)
	ar.Paired, ar.Latency = true, 80*time.Microsecond
	obs(ar)
	answered["auth"]++
	pair(alice, "create", "/locks/lock-0000000001", 2*time.Millisecond, 0)
	pair(alice, "create", "/locks/lock-0000000002", 3*time.Millisecond, 0)
	pair(alice, "exists", "/app/config", 120*time.Microsecond, 0)
	pair(bob, "getData", "/app/missing", 90*time.Microsecond, -101)
	pair(bob, "ping", "", 60*time.Microsecond, 0)
	mu := zkMsg(proto.Request, alice, "multi", "", 90)
	mu.ZK.Sub = []proto.SubOp{{Op: "create", Path: []byte("/jobs/123e4567-e89b-12d3-a456-426614174000")}, {Op: "delete", Path: []byte("/jobs/7")}}
	obs(mu)
	w := zkMsg(proto.Request, bob, "getChildren", "/app", 30)
	w.ZK.Watch = true
	obs(w)
	ev := zkMsg(proto.Event, bob, "notification", "/app", 40)
	ev.ZK.EventType = 4
	obs(ev)
	cs := zkMsg(proto.Request, alice, "closeSession", "", 12)
	cs.Session, cs.HasSession = 0x1234, true
	obs(cs)
	obs(&proto.Message{Time: t0, Proto: proto.FourLetter, Kind: proto.Request, Op: "mntr", Src: netip.MustParseAddrPort(bob), Dst: server})
	obs(&proto.Message{Time: t0, Proto: proto.ZAB, Kind: proto.Request, Op: "proposal"})
	obs(&proto.Message{Time: t0, Proto: proto.ZAB, Kind: proto.Reply, Op: "ack", Paired: true, Latency: 400 * time.Microsecond})
	obs(&proto.Message{Time: t0, Proto: proto.ZAB, Kind: proto.Event, Op: "commit", Paired: true, Latency: 700 * time.Microsecond})
	obs(&proto.Message{Time: t0, Proto: proto.FLE, Kind: proto.Event, Op: "notification", FLE: proto.FLEInfo{State: "looking", Leader: 1}})
	obs(&proto.Message{Time: t0.Add(1200 * time.Millisecond), Proto: proto.FLE, Kind: proto.Event, Op: "notification", FLE: proto.FLEInfo{State: "leading", Leader: 2}})
	return sent, answered
}

func newTestExporter(t *testing.T, opts Options) (*Exporter, *stats.Stats) {
	t.Helper()
	s := opts.Stats
	if s == nil {
		s = stats.New(stats.Config{Shards: 2}, fixedNow)
		opts.Stats = s
	}
	if opts.Now == nil {
		opts.Now = fixedNow
	}
	e, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = e.Shutdown(context.Background()) })
	return e, s
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec.Code, rec.Body.String()
}

// TestExposition pins metric names, types, units, help and labels in a
// golden file (regenerate with go test ./exporter -update).
func TestExposition(t *testing.T) {
	var dec proto.Counters
	dec.Count(proto.ZK, proto.ReasonOrphanReply)
	dec.Count(proto.ZAB, proto.ReasonResync)
	s := stats.New(stats.Config{Shards: 2, PathLatency: true}, fixedNow)
	e, _ := newTestExporter(t, Options{Stats: s, Decode: &dec, Health: func() stats.Health {
		return stats.Health{Packets: 100, Bytes: 6400, KernelDrops: 1, QueueDrops: 2, FlowsActive: 3,
			FlowsEvicted: 4, ReasmGaps: 5, ReasmOverflows: 6, BufferedBytes: 700, Messages: 42, DumpSubs: 1, DumpDropped: 9,
			CaptureReopens: 2, CaptureDown: 1500 * time.Millisecond, CaptureLost: true}
	}})
	workload(s)
	_, body := get(t, e.Handler(), "/metrics")
	// target_info carries host-dependent resource attributes.
	var lines []string
	for _, l := range strings.SplitAfter(body, "\n") {
		if !strings.Contains(l, "target_info") {
			lines = append(lines, l)
		}
	}
	got := strings.Join(lines, "")
	golden := filepath.Join("testdata", "exposition.prom")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("/metrics (-want +got):\n%s", diff)
	}
	// The same, through client_golang's parser: the file is valid exposition.
	if err := testutil.GatherAndCompare(e.Registry(), bytes.NewReader(want), "zookeeper_client_requests_total", "zookeeper_client_request_duration_seconds"); err != nil {
		t.Errorf("GatherAndCompare: %v", err)
	}
}

// TestDocListsEveryMetric keeps the package documentation in step with the
// exposition: every family in the golden file is named in doc.go.
func TestDocListsEveryMetric(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	prom, err := os.ReadFile(filepath.Join("testdata", "exposition.prom"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(prom), "\n") {
		if f := strings.Fields(l); len(f) >= 3 && f[0] == "#" && f[1] == "TYPE" {
			if !strings.Contains(string(doc), f[2]) {
				t.Errorf("doc.go does not list %s", f[2])
			}
		}
	}
}

// TestNativeHistograms checks that exponential histograms reach Prometheus
// as native histograms of schema 3 with the right counts.
func TestNativeHistograms(t *testing.T) {
	s := stats.New(stats.Config{Exponential: true}, fixedNow)
	e, _ := newTestExporter(t, Options{Stats: s})
	_, answered := workload(s)
	mfs, err := e.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "zookeeper_client_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h.GetSchema() != stats.ExpScale || len(h.GetPositiveSpan()) == 0 {
				t.Errorf("not a native histogram of schema %d: %v", stats.ExpScale, h)
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "op" {
					got[l.GetValue()] = int(h.GetSampleCount())
				}
			}
		}
	}
	if diff := cmp.Diff(answered, got); diff != "" {
		t.Errorf("native histogram counts by op (-want +got):\n%s", diff)
	}
}

// TestSeriesWithinCaps drives 100 000 distinct paths from 5 000 client
// ports through the exporter and counts the series /metrics exposes.
func TestSeriesWithinCaps(t *testing.T) {
	cfg := stats.Config{Shards: 2, MaxPaths: 200, TopClients: 5, TopAuths: 5}
	s := stats.New(cfg, fixedNow)
	e, _ := newTestExporter(t, Options{Stats: s})
	for i := range 100_000 {
		client := fmt.Sprintf("10.0.%d.%d:%d", i%5000/250, i%250, 20000+i%5000)
		m := zkMsg(proto.Request, client, "getData", fmt.Sprintf("/svc%d/n%d", i%3, i), 30)
		s.Shard(i % 2).Observe(m)
		if i%20_000 == 0 {
			get(t, e.Handler(), "/metrics")
		}
	}
	_, body := get(t, e.Handler(), "/metrics")
	series := map[string]int{}
	var folded string
	for _, l := range strings.Split(body, "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		name := l[:strings.IndexAny(l, "{ ")]
		series[name]++
		if strings.HasPrefix(l, `zktap_folded_total{dimension="path"}`) {
			folded = l[strings.LastIndexByte(l, ' ')+1:]
		}
	}
	limits := map[string]int{
		"zookeeper_client_requests_total":           cfg.MaxPaths + 1,
		"zookeeper_client_ip_requests_total":        cfg.TopClients + 1,
		"zookeeper_client_identity_requests_total":  cfg.TopAuths + 1,
		"zookeeper_client_request_size_bytes_total": cfg.MaxPaths + 1,
	}
	for name, max := range limits {
		if series[name] == 0 || series[name] > max {
			t.Errorf("%s has %d series, want 1..%d", name, series[name], max)
		}
	}
	if want := fmt.Sprint(100_000 - cfg.MaxPaths); folded != want {
		t.Errorf("zktap_folded_total{dimension=\"path\"} = %q, want %s", folded, want)
	}
	if strings.Contains(body, "otel_metric_overflow") {
		t.Errorf("the SDK backstop fired; the stats caps should have held")
	}
}

// BenchmarkScrape measures one /metrics collection with 1000 paths x 5 ops
// across 2 shards.
func BenchmarkScrape(b *testing.B) {
	s := stats.New(stats.Config{Shards: 2}, fixedNow)
	e, err := New(Options{Stats: s, Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	ops := []string{"exists", "getData", "setData", "create", "delete"}
	for i := range 5000 {
		op := ops[i%5]
		c := fmt.Sprintf("10.0.0.%d:%d", i%50, 1000+i%200)
		s.Shard(i % 2).Observe(zkMsg(proto.Request, c, op, fmt.Sprintf("/p/%c%d", 'a'+byte(i%26), i/5%1000), 30))
		r := zkMsg(proto.Reply, c, op, fmt.Sprintf("/p/%c%d", 'a'+byte(i%26), i/5%1000), 30)
		r.Paired, r.Latency = true, time.Millisecond
		s.Shard(i % 2).Observe(r)
	}
	benchScrape(b, e)
}
