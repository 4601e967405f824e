package app

import (
	"bytes"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/sniff/pipeline"
)

// TestOTLPEndToEnd: `zktap serve` replays a real ZooKeeper capture and
// pushes its metrics by OTLP (HTTP/protobuf) to a real receiver, a
// Prometheus 3 with its OTLP receiver on. The receiver holds the same
// request counts per op as the client sent and as zktap's own /metrics
// shows. The push interval is an hour, so the values can only come from
// the final export zktap flushes when it is stopped (SIGTERM).
func TestOTLPEndToEnd(t *testing.T) {
	prom := startPrometheus(t, "prometheus3", "", "--web.enable-otlp-receiver")
	pcap := filepath.Join("..", "..", "testdata", "captures", "workload.pcap")
	base, stop := startServeCancel(t, "--pcap", pcap, "--zk-ports", "2181",
		"--otlp.endpoint", prom+"/api/v1/otlp/v1/metrics", "--otlp.protocol", "http/protobuf",
		"--otlp.interval", "1h")

	want := map[string]float64{}
	for op, n := range readReport(t, "workload").Requests {
		if op != "connect" {
			want[op] = float64(n)
		}
	}
	// zktap's own exposition, once the file is replayed.
	var scraped map[string]float64
	waitFor(t, 30*time.Second, "zktap to replay the capture", func() bool {
		scraped = sumByLabel(httpGet(t, base+"/metrics"), "zookeeper_client_requests_total", "op")
		return cmp.Equal(want, scraped)
	})
	// Every decoded message is counted once the file is replayed (the
	// serve sink publishes its count when the pipeline flushes it).
	dump, _, _ := dumpJSON(t, pcap, pipeline.Config{ZKPorts: []uint16{2181}})
	if want, got := float64(bytes.Count(dump, []byte("\n"))), metricValue(t, base, "zktap_messages_total"); got != want || want == 0 {
		t.Errorf("zktap_messages_total = %v, want the %v lines of the capture's dump", got, want)
	}
	stop() // SIGTERM: final OTLP export

	var got map[string]float64
	waitFor(t, 20*time.Second, "the OTLP receiver to hold zktap's counts", func() bool {
		got = promQuery(t, prom, "sum by (op) (zookeeper_client_requests_total)", "op")
		return cmp.Equal(want, got)
	})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by op (-client +OTLP receiver):\n%s", diff)
	}
	hist := promQuery(t, prom, "sum(zookeeper_client_request_duration_seconds_count)", "")
	replies := 0.0
	for op, byErr := range readReport(t, "workload").Replies {
		if op != "connect" {
			for _, n := range byErr {
				replies += float64(n)
			}
		}
	}
	if hist[""] != replies {
		t.Errorf("histogram count via OTLP = %v, want %v answered requests", hist[""], replies)
	}
}

// sumByLabel sums the samples of metric in a text exposition by one label
// ("" when the metric has no labels).
func sumByLabel(exposition, metric, label string) map[string]float64 {
	out := map[string]float64{}
	for _, line := range strings.Split(exposition, "\n") {
		var labels, value string
		switch {
		case strings.HasPrefix(line, metric+"{"):
			end := strings.LastIndexByte(line, '}')
			labels, value = line[len(metric)+1:end], line[end+1:]
		case strings.HasPrefix(line, metric+" "):
			value = line[len(metric):]
		default:
			continue
		}
		var key string
		for _, kv := range strings.Split(labels, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && k == label {
				key = strings.Trim(v, `"`)
			}
		}
		if fields := strings.Fields(value); len(fields) > 0 {
			v, _ := strconv.ParseFloat(fields[0], 64)
			out[key] += v
		}
	}
	return out
}
