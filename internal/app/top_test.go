package app

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/sniff/pipeline"
)

func runTop(t *testing.T, file string, o TopOptions) []TopRow {
	t.Helper()
	src, err := openSource(CaptureOptions{Pcap: filepath.Join("..", "..", "testdata", "zktraffic", file)})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	o.JSON = true
	o.Pipeline = pipeline.Config{Blocking: true, Workers: 2}
	var out bytes.Buffer
	if _, err := Top(context.Background(), src, o, &out, &proto.Counters{}); err != nil {
		t.Fatal(err)
	}
	var rows []TopRow
	if err := json.Unmarshal(out.Bytes(), &rows); err != nil {
		t.Fatalf("top JSON: %v\n%s", err, out.Bytes())
	}
	return rows
}

func TestTopCountRequests(t *testing.T) {
	rows := runTop(t, "create.pcap", TopOptions{CountRequests: 1000, GroupBy: ByType})
	got := map[string]uint64{}
	for _, r := range rows {
		got[r.Key] = r.Requests
	}
	want := map[string]uint64{"create": 25, "delete": 25, "connect": 6, "exists": 5}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by type (-want +got):\n%s", diff)
	}
	// Sorted by count, largest first.
	for i := 1; i < len(rows); i++ {
		if rows[i].Requests > rows[i-1].Requests {
			t.Errorf("rows not sorted by requests: %v", rows)
		}
	}

	// Path grouping with aggregation depth 1 folds /load-testing/N.
	rows = runTop(t, "create.pcap", TopOptions{CountRequests: 1000, GroupBy: ByPath, Depth: 1})
	if rows[0].Key != "/load-testing" || rows[0].Requests != 55 {
		t.Errorf("top path at depth 1 = %+v, want /load-testing with 55 requests (25 create, 25 delete, 5 exists)", rows[0])
	}
}

func TestTopMeasureLatency(t *testing.T) {
	// The reference: latencies of dump.pcap's replies as the dump reports them.
	out, _, _ := dumpJSON(t, filepath.Join("..", "..", "testdata", "zktraffic", "dump.pcap"), pipeline.Config{})
	var sum float64
	var n int
	var maxLat float64
	for _, l := range parseDump(t, out) {
		if l.Op == "exists" && l.Kind == "reply" {
			sum += l.Latency
			n++
			maxLat = math.Max(maxLat, l.Latency)
		}
	}
	rows := runTop(t, "dump.pcap", TopOptions{MeasureLatency: 1000, GroupBy: ByType, SortBy: "p99",
		Filter: render.Filter{IncludePings: true}})
	var exists *TopRow
	for i := range rows {
		if rows[i].Key == "exists" {
			exists = &rows[i]
		}
	}
	if exists == nil || int(exists.Replies) != n || n != 5 {
		t.Fatalf("exists row = %+v, want %d replies", exists, n)
	}
	if math.Abs(exists.Avg-sum/float64(n)) > 1e-9 || exists.Max != maxLat {
		t.Errorf("exists avg/max = %v/%v, want %v/%v", exists.Avg, exists.Max, sum/float64(n), maxLat)
	}
	// p50 is within one 5 % bucket of a real sample, and never above max.
	if exists.P50 <= 0 || exists.P50 > exists.Max || exists.P99 != exists.Max {
		t.Errorf("exists quantiles = p50 %v p99 %v max %v", exists.P50, exists.P99, exists.Max)
	}
	for i := 1; i < len(rows); i++ {
		if rows[i].P99 > rows[i-1].P99 {
			t.Errorf("rows not sorted by p99: %+v", rows)
		}
	}
}

func TestTopTable(t *testing.T) {
	var out bytes.Buffer
	writeTable(&out, []TopRow{{Key: "/a", Replies: 2, Avg: 0.0005, P50: 0.0004, P95: 0.002, P99: 0.002, Max: 1.5}}, true, "PATH", 0)
	want := "PATH  REPLIES    AVG    P50     P95     P99     MAX\n  /a        2  500µs  400µs  2.00ms  2.00ms  1.500s\n"
	if diff := cmp.Diff(strings.Fields(want), strings.Fields(out.String())); diff != "" {
		t.Errorf("table (-want +got):\n%s", diff)
	}
}
