package exporter

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	colmetricpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricpb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/zktap/zktap/exporter/stats"
)

// TestHistogramCountEqualsAnswered checks that each op's histogram count
// equals the replies paired for it, and requests_total the frames sent.
func TestHistogramCountEqualsAnswered(t *testing.T) {
	e, s := newTestExporter(t, Options{})
	sent, answered := workload(s)
	_, body := get(t, e.Handler(), "/metrics")
	got := map[string]int{}
	counts := map[string]int{}
	for _, l := range strings.Split(body, "\n") {
		var op string
		var n int
		if strings.HasPrefix(l, "zookeeper_client_requests_total{") {
			if _, err := fmt.Sscanf(l[strings.Index(l, `op="`)+4:], "%s", &op); err == nil {
				op = op[:strings.IndexByte(op, '"')]
				fmt.Sscanf(l[strings.LastIndexByte(l, ' ')+1:], "%d", &n)
				got[op] += n
			}
		}
		if strings.HasPrefix(l, "zookeeper_client_request_duration_seconds_count{") {
			op = l[strings.Index(l, `op="`)+4:]
			op = op[:strings.IndexByte(op, '"')]
			fmt.Sscanf(l[strings.LastIndexByte(l, ' ')+1:], "%d", &n)
			counts[op] = n
		}
	}
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Errorf("zookeeper_client_requests_total by op (-sent +exported):\n%s", diff)
	}
	if diff := cmp.Diff(answered, counts); diff != "" {
		t.Errorf("histogram _count by op (-want +got):\n%s", diff)
	}
}

// TestSecrets feeds a digest auth of user:secret (the decoder reports the
// user only, and a create whose data would be secret) and checks that
// "secret" is nowhere and "user" is where identities belong.
func TestSecrets(t *testing.T) {
	e, s := newTestExporter(t, Options{})
	workload(s)
	h := e.Handler()
	for _, path := range []string{"/metrics", "/json/paths", "/json/ips", "/json/auths", "/json/auths-dump", "/json/info", "/"} {
		code, body := get(t, h, path)
		if code != http.StatusOK {
			t.Errorf("GET %s = %d", path, code)
		}
		if strings.Contains(body, "secret") {
			t.Errorf("GET %s contains the password", path)
		}
		wantUser := path == "/metrics" || path == "/json/auths" || path == "/json/auths-dump"
		if got := strings.Contains(body, "digest:user"); got != wantUser {
			t.Errorf("GET %s contains the identity digest:user = %v, want %v", path, got, wantUser)
		}
	}
}

func getJSON[T any](t *testing.T, h http.Handler, path string) T {
	t.Helper()
	code, body := get(t, h, path)
	if code != http.StatusOK {
		t.Fatalf("GET %s = %d", path, code)
	}
	var v T
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		t.Fatalf("GET %s: %v\n%s", path, err, body)
	}
	return v
}

// TestJSONKeys checks zktraffic's key scheme on the zk-stats-daemon endpoints.
func TestJSONKeys(t *testing.T) {
	e, s := newTestExporter(t, Options{})
	h := e.Handler()
	// Before any traffic the fixed keys are already there (zktraffic had
	// none for its first minute).
	empty := getJSON[map[string]uint64](t, h, "/json/paths")
	if diff := cmp.Diff(map[string]uint64{"reads/": 0, "readsBytes/": 0, "writes/": 0, "writesBytes/": 0,
		"total/reads": 0, "total/readBytes": 0, "total/writes": 0, "total/writeBytes": 0}, empty); diff != "" {
		t.Errorf("/json/paths before traffic (-want +got):\n%s", diff)
	}
	workload(s)
	paths := getJSON[map[string]uint64](t, h, "/json/paths")
	want := map[string]uint64{
		"ExistsRequest/app/config":        1,
		"ExistsRequestBytes/app/config":   30,
		"CreateRequest/locks/lock-#":      2,
		"CreateRequestBytes/locks/lock-#": 60,
		"writes/locks/lock-#":             2,
		"writesBytes/locks/lock-#":        60,
		"reads/app/config":                1,
		"watches/app":                     1,
		"NodeChildrenChanged/app":         1,
		"total/writes":                    3, // two creates and a multi
		"total/writeBytes":                60 + 90,
		// exists, getData, getChildren, ping, auth, closeSession
		"total/reads":     6,
		"total/readBytes": 30*4 + 43 + 12,
	}
	for k, v := range want {
		if got, ok := paths[k]; !ok || got != v {
			t.Errorf("/json/paths[%q] = %d (present %v), want %d", k, got, ok, v)
		}
	}
	ips := getJSON[map[string]uint64](t, h, "/json/ips")
	// zktraffic's per-IP keys: op, then path, then ":" and the client.
	for k, v := range map[string]uint64{"per_ip/ExistsRequest/app/config:10.1.1.1": 1,
		"per_ip/GetDataRequest/app/missing:10.1.1.2": 1, "per_ip/PingRequest/:10.1.1.2": 1,
		"per_ip/writes/locks/lock-#:10.1.1.1": 2, "per_ip/CreateRequestBytes/locks/lock-#:10.1.1.1": 60,
		"per_ip/total/reads": 6} {
		if got := ips[k]; got != v {
			t.Errorf("/json/ips[%q] = %d, want %d", k, got, v)
		}
	}
	auths := getJSON[map[string]uint64](t, h, "/json/auths")
	for k, v := range map[string]uint64{"per_auth/ExistsRequest/app/config:digest:user": 1,
		"per_auth/GetDataRequest/app/missing:noauth": 1} {
		if got := auths[k]; got != v {
			t.Errorf("/json/auths[%q] = %d, want %d", k, got, v)
		}
	}
	dump := getJSON[map[string]string](t, h, "/json/auths-dump")
	if diff := cmp.Diff(map[string]string{alice: "digest:user"}, dump); diff != "" {
		t.Errorf("/json/auths-dump (-want +got):\n%s", diff)
	}
	info := getJSON[map[string]any](t, h, "/json/info")
	if _, ok := info["uptime"]; !ok {
		t.Errorf("/json/info has no uptime: %v", info)
	}
}

type fakeDump struct{}

func (fakeDump) ServeDump(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "{\"format\":%q}\n", r.URL.Query().Get("format"))
}

func TestSwitches(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		codes map[string]int
	}{
		{"all on", Options{Dump: fakeDump{}}, map[string]int{"/debug/dump": 200, "/json/auths": 200, "/json/auths-dump": 200, "/healthz": 200, "/": 200, "/nope": 404}},
		{"dump off", Options{Dump: fakeDump{}, DisableDump: true}, map[string]int{"/debug/dump": 404, "/json/auths": 200}},
		{"no dump source", Options{}, map[string]int{"/debug/dump": 404}},
		{"auths off", Options{DisableAuths: true}, map[string]int{"/json/auths": 404, "/json/auths-dump": 404, "/json/paths": 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _ := newTestExporter(t, tt.opts)
			got := map[string]int{}
			for p := range tt.codes {
				got[p], _ = get(t, e.Handler(), p)
			}
			if diff := cmp.Diff(tt.codes, got); diff != "" {
				t.Errorf("status codes (-want +got):\n%s", diff)
			}
		})
	}
	e, _ := newTestExporter(t, Options{Dump: fakeDump{}})
	if _, body := get(t, e.Handler(), "/debug/dump?format=text"); body != "{\"format\":\"text\"}\n" {
		t.Errorf("/debug/dump did not reach the DumpSource with its query: %q", body)
	}
}

// TestBasicAuth serves through exporter-toolkit with a web config file that
// requires basic auth.
func TestBasicAuth(t *testing.T) {
	e, s := newTestExporter(t, Options{})
	workload(s)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "web.yml")
	// bcrypt (cost 4) of "scrape-pass".
	const hash = "$2a$04$IIo0QpRFQy62dAzMkOSNO.biIge9gi/F5Vl8PESMYdRVmO/dhaePG"
	if err := os.WriteFile(cfg, []byte("basic_auth_users:\n  prom: "+hash+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.ServeListener(ctx, l, cfg, nil) }()
	url := "http://" + l.Addr().String()
	tests := []struct {
		name, path, user, pass string
		want                   int
	}{
		{"no credentials", "/metrics", "", "", http.StatusUnauthorized},
		{"wrong password", "/metrics", "prom", "nope", http.StatusUnauthorized},
		{"json without credentials", "/json/paths", "", "", http.StatusUnauthorized},
		{"dump without credentials", "/debug/dump", "", "", http.StatusUnauthorized},
		{"right password", "/metrics", "prom", "scrape-pass", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", url+tt.path, nil)
			if tt.user != "" {
				req.SetBasicAuth(tt.user, tt.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("GET %s = %d, want %d", tt.path, resp.StatusCode, tt.want)
			}
			if tt.want == http.StatusOK && !strings.Contains(string(body), "zookeeper_client_requests_total") {
				t.Errorf("authorised scrape lacks zookeeper_client_requests_total")
			}
		})
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return after cancel")
	}
}

// TestOTLP pushes to an in-test OTLP/HTTP receiver and checks that it
// receives the same request counts and histogram counts as /metrics shows.
func TestOTLP(t *testing.T) {
	var mu sync.Mutex
	var last *colmetricpb.ExportMetricsServiceRequest
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var req colmetricpb.ExportMetricsServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		last = &req
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		out, _ := proto.Marshal(&colmetricpb.ExportMetricsServiceResponse{})
		_, _ = w.Write(out)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	s := stats.New(stats.Config{}, fixedNow)
	e, err := New(Options{Stats: s, Now: fixedNow, OTLP: OTLPOptions{
		Protocol: "http/protobuf", Endpoint: "http://" + l.Addr().String() + "/v1/metrics", Interval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	sent, answered := workload(s)
	// Shutdown flushes the final export, as on SIGTERM.
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	checkExport(t, last, sent, answered)
}

// checkExport compares what an OTLP receiver got with the workload.
func checkExport(t *testing.T, last *colmetricpb.ExportMetricsServiceRequest, sent, answered map[string]int) {
	t.Helper()
	if last == nil {
		t.Fatal("receiver got no export")
	}
	reqs := map[string]int{}
	hcount := map[string]int{}
	for _, rm := range last.ResourceMetrics {
		for _, sm := range rm.ScopeMetrics {
			for _, m := range sm.Metrics {
				switch m.Name {
				case "zookeeper.client.requests":
					if m.Unit != "{request}" || !m.GetSum().GetIsMonotonic() ||
						m.GetSum().GetAggregationTemporality() != metricpb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE {
						t.Errorf("%s: unit %q monotonic %v temporality %v", m.Name, m.Unit,
							m.GetSum().GetIsMonotonic(), m.GetSum().GetAggregationTemporality())
					}
					for _, dp := range m.GetSum().DataPoints {
						reqs[attr(dp.Attributes, "op")] += int(dp.GetAsInt())
					}
				case "zookeeper.client.request.duration":
					if m.Unit != "s" {
						t.Errorf("%s: unit %q", m.Name, m.Unit)
					}
					for _, dp := range m.GetHistogram().DataPoints {
						hcount[attr(dp.Attributes, "op")] = int(dp.Count)
					}
				}
			}
		}
	}
	if diff := cmp.Diff(sent, reqs); diff != "" {
		t.Errorf("OTLP zookeeper.client.requests by op (-sent +received):\n%s", diff)
	}
	if diff := cmp.Diff(answered, hcount); diff != "" {
		t.Errorf("OTLP request.duration counts (-want +got):\n%s", diff)
	}
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

type grpcReceiver struct {
	colmetricpb.UnimplementedMetricsServiceServer
	mu   sync.Mutex
	last *colmetricpb.ExportMetricsServiceRequest
}

func (g *grpcReceiver) Export(_ context.Context, r *colmetricpb.ExportMetricsServiceRequest) (*colmetricpb.ExportMetricsServiceResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.last = r
	return &colmetricpb.ExportMetricsServiceResponse{}, nil
}

// TestOTLPGRPCFromEnv configures OTLP/gRPC only through the standard
// environment variables and checks what an in-test gRPC receiver gets.
func TestOTLPGRPCFromEnv(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &grpcReceiver{}
	gs := grpc.NewServer()
	colmetricpb.RegisterMetricsServiceServer(gs, rcv)
	go func() { _ = gs.Serve(l) }()
	t.Cleanup(gs.Stop)

	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+l.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")
	s := stats.New(stats.Config{}, fixedNow)
	e, err := New(Options{Stats: s, Now: fixedNow, Getenv: os.Getenv})
	if err != nil {
		t.Fatal(err)
	}
	sent, answered := workload(s)
	if err := e.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	checkExport(t, rcv.last, sent, answered)
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"no stats", Options{}, "Options.Stats is nil"},
		{"bad protocol", Options{Stats: stats.New(stats.Config{}, fixedNow), OTLP: OTLPOptions{Enabled: true, Protocol: "thrift"}}, `otlp protocol "thrift"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}
