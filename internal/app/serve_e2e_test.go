package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/config"
	"github.com/zktap/zktap/internal/zkload/workload"
	"github.com/zktap/zktap/internal/zktest"
)

// startServe runs `zktap serve` in-process with args and waits for /healthz.
// It returns the base URL; the server stops at the end of the test.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	base, _ := startServeWith(t, io.Discard, args...)
	return base
}

// startServeCancel is startServe that also returns a function stopping
// zktap as SIGTERM does, waiting for it to exit.
func startServeCancel(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	return startServeWith(t, io.Discard, args...)
}

// startServeWith is startServeCancel with zktap's log written to logs.
func startServeWith(t *testing.T, logs io.Writer, args ...string) (string, func()) {
	t.Helper()
	port := zktest.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cfg, err := config.Parse(append([]string{"serve", "--web.listen-address", addr}, args...), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	logger := slog.New(slog.NewTextHandler(logs, nil))
	go func() { done <- Run(ctx, cfg, io.Discard, io.Discard, logger) }()
	var stopped bool
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != ExitOK {
				t.Errorf("zktap serve exited %d", code)
			}
		case <-time.After(10 * time.Second):
			t.Error("zktap serve did not stop within 10s of cancellation")
		}
	}
	t.Cleanup(stop)
	base := "http://" + addr
	waitOK(t, 10*time.Second, base+"/healthz")
	return base, stop
}

// waitOK waits until u answers 200.
func waitOK(t *testing.T, d time.Duration, u string) {
	t.Helper()
	waitFor(t, d, u, func() bool {
		resp, err := http.Get(u)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func httpGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// startPrometheus runs the Prometheus binary bin (Debian's "prometheus",
// or "prometheus3") scraping target every second (none when target is
// empty) and returns its base URL.
func startPrometheus(t *testing.T, bin, target string, extraFlags ...string) string {
	t.Helper()
	bin, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s is not installed: run testdata/setup.sh (%v)", bin, err)
	}
	dir := t.TempDir()
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: zktap\n    static_configs:\n      - targets: [%q]\n", target)
	if target == "" {
		cfg = "global:\n  scrape_interval: 1s\n"
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	port := zktest.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	log, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--config.file=" + filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"), "--web.listen-address=" + addr}, extraFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("prometheus log:\n%s", b)
		}
	})
	base := "http://" + addr
	waitOK(t, 30*time.Second, base+"/-/ready")
	return base
}

// promQuery runs an instant query and returns the value of each series by
// the given label.
func promQuery(t *testing.T, base, query, label string) map[string]float64 {
	t.Helper()
	body := httpGet(t, base+"/api/v1/query?query="+url.QueryEscape(query))
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  [2]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v %s", query, err, body)
	}
	out := map[string]float64{}
	for _, s := range r.Data.Result {
		v, _ := strconv.ParseFloat(s.Value[1].(string), 64)
		out[s.Metric[label]] = v
	}
	return out
}

// TestServeEndToEndPrometheus: a real ZooKeeper, a real client running the
// known workload, `zktap serve --iface lo`, and a real Prometheus scraping
// it. The counts Prometheus holds per op equal what the client sent; each
// op's histogram count equals its answered requests; the digest password
// and znode data appear nowhere.
func TestServeEndToEndPrometheus(t *testing.T) {
	requireRoot(t)
	zk := zktest.StartStandalone(t, zktest.Options{JuteMaxBuffer: 4 << 20})
	base := startServe(t, "--iface", "lo", "--zk-ports", strconv.Itoa(zk.ClientPort), "--capture.ring-size", "64MiB")
	prom := startPrometheus(t, "prometheus", strings.TrimPrefix(base, "http://"))

	rep, err := workload.Run(context.Background(), zk.Addr, workload.Spec{Root: "/e2e", Children: 500, BigSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	wantReqs := map[string]float64{}
	for op, n := range rep.Requests {
		if op != "connect" { // connects have a metric of their own
			wantReqs[op] = float64(n)
		}
	}
	wantAnswered := map[string]float64{}
	for op, byErr := range rep.Replies {
		for _, n := range byErr {
			if op != "connect" {
				wantAnswered[op] += float64(n)
			}
		}
	}
	var got, gotAnswered map[string]float64
	waitFor(t, 30*time.Second, "Prometheus to hold the client's request counts", func() bool {
		got = promQuery(t, prom, "sum by (op) (zookeeper_client_requests_total)", "op")
		gotAnswered = promQuery(t, prom, "sum by (op) (zookeeper_client_request_duration_seconds_count)", "op")
		return cmp.Equal(wantReqs, got) && cmp.Equal(wantAnswered, gotAnswered)
	})
	if diff := cmp.Diff(wantReqs, got); diff != "" {
		t.Errorf("requests by op (-client +prometheus):\n%s", diff)
	}
	if diff := cmp.Diff(wantAnswered, gotAnswered); diff != "" {
		t.Errorf("histogram counts by op (-client replies +prometheus):\n%s", diff)
	}
	// Per path, for the workload's fixed paths (sequential and child names
	// are folded by design).
	byPath := promQuery(t, prom, `sum by (path) (zookeeper_client_requests_total{op="getData"})`, "path")
	for path, ops := range rep.RequestsByPath {
		if n, ok := ops["getData"]; ok && !strings.ContainsAny(path, "0123456789*") {
			if byPath[path] != float64(n) {
				t.Errorf("getData requests on %s: prometheus %v, client %d", path, byPath[path], n)
			}
		}
	}
	connects := promQuery(t, prom, "sum(zookeeper_client_connects_total)", "")
	if connects[""] != float64(rep.Requests["connect"]) {
		t.Errorf("connects: prometheus %v, client %d", connects[""], rep.Requests["connect"])
	}

	// Secrets: the digest password and znode data appear nowhere; the user does.
	var all strings.Builder
	for _, p := range []string{"/metrics", "/json/paths", "/json/ips", "/json/auths", "/json/auths-dump", "/json/info"} {
		all.WriteString(httpGet(t, base+p))
	}
	s := all.String()
	for _, secret := range []string{workload.AuthUser + ":" + workload.AuthPassword, workload.SecretData} {
		if strings.Contains(s, secret) {
			t.Errorf("%q appears in zktap's endpoints", secret)
		}
	}
	if !strings.Contains(s, workload.AuthUser) {
		t.Errorf("auth identity %q appears in no endpoint", workload.AuthUser)
	}
}

// TestServeDebugDumpLive: `curl` on /debug/dump receives the live
// messages while a real client runs, and a stuck subscriber (connected,
// never reading) slows neither capture nor the other subscriber: both
// still see every request, and what the stuck one missed is counted.
func TestServeDebugDumpLive(t *testing.T) {
	requireRoot(t)
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatalf("curl not found: %v", err)
	}
	zk := zktest.StartStandalone(t, zktest.Options{JuteMaxBuffer: 4 << 20})
	base := startServe(t, "--iface", "lo", "--zk-ports", strconv.Itoa(zk.ClientPort), "--capture.ring-size", "64MiB")

	// The stuck subscriber: a tiny receive window, and it never reads.
	stuck, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	stuck.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(stuck, "GET /debug/dump HTTP/1.1\r\nHost: zktap\r\n\r\n")

	// curl follows only exists, as NDJSON: a few hundred messages that a
	// reading client always keeps up with, while the stuck one is sent
	// everything.
	var out syncBuffer
	cmd := exec.Command(curl, "-sN", base+"/debug/dump?op=exists&proto=zk")
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	waitFor(t, 10*time.Second, "two dump subscribers", func() bool {
		return sumByLabel(httpGet(t, base+"/metrics"), "zktap_dump_subscribers", "")[""] == 2
	})

	// ~40 000 messages, ~10 MB of NDJSON: more than the kernel buffers
	// between zktap and the stuck client can absorb.
	rep, err := workload.Run(context.Background(), zk.Addr, workload.Spec{Root: "/dump", BigSize: 64 << 10, Children: 20000})
	if err != nil {
		t.Fatal(err)
	}
	wantExists := rep.Requests["exists"]
	countExists := func() (req, rep int) {
		for _, l := range parseDump(t, out.Bytes()) {
			if l.Op != "exists" {
				t.Fatalf("filter let through %+v", l)
			}
			if l.Kind == "request" {
				req++
			} else {
				rep++
			}
		}
		return req, rep
	}
	waitFor(t, 20*time.Second, "curl to receive every exists request and reply", func() bool {
		req, reply := countExists()
		return req == wantExists && reply == wantExists
	})
	var m string
	waitFor(t, 10*time.Second, "capture to count every create despite the stuck subscriber", func() bool {
		m = httpGet(t, base+"/metrics")
		return sumByLabel(m, "zookeeper_client_requests_total", "op")["create"] == float64(rep.Requests["create"])
	})
	if dropped := sumByLabel(m, "zktap_dump_dropped_total", "")[""]; dropped == 0 {
		t.Error("the stuck subscriber missed nothing: it was not stuck, the test proves nothing")
	}
}
