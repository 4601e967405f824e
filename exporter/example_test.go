package exporter_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"time"

	"github.com/zktap/zktap/exporter"
	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/proto"
)

// Example wires stats and the exporter the way `zktap serve` does: each
// pipeline worker i observes into st.Shard(i), and the HTTP handler (or
// Serve, with a web config file) exposes the result.
func Example() {
	st := stats.New(stats.Config{Shards: 2, MaxPaths: 1000, TopClients: 20}, time.Now)
	var decodeErrors proto.Counters
	exp, err := exporter.New(exporter.Options{
		Stats:  st,
		Decode: &decodeErrors,
		Health: func() stats.Health { return stats.Health{} }, // the pipeline's counters
		// Dump: tap, // the live-dump fan-out implements DumpSource
	})
	if err != nil {
		panic(err)
	}
	defer exp.Shutdown(context.Background()) // flushes a final OTLP export

	// What worker 0 does for every decoded message.
	st.Shard(0).Observe(&proto.Message{Proto: proto.ZK, Kind: proto.Request, Op: "exists",
		Path: []byte("/locks/lock-0000000042"), Size: 40,
		Src: netip.MustParseAddrPort("10.0.0.7:50000"), Dst: netip.MustParseAddrPort("10.0.0.1:2181")})

	rec := httptest.NewRecorder()
	exp.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, l := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(l, "zookeeper_client_requests_total") {
			fmt.Println(l)
		}
	}
	// Output:
	// zookeeper_client_requests_total{op="exists",path="/locks/lock-#"} 1
}
