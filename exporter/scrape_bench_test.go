package exporter

import (
	"context"
	"fmt"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/proto"
)

// BenchmarkScrapeWrite measures one /metrics collection shaped like the
// bench's write mix: 475 paths x 4 ops (1 900 (op, path) pairs, so 7 600
// request and response series), 50 clients, and error replies.
func BenchmarkScrapeWrite(b *testing.B) {
	s := stats.New(stats.Config{Shards: 2}, fixedNow)
	e, err := New(Options{Stats: s, Now: fixedNow})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	ops := []string{"create", "setData", "delete", "exists"}
	codes := []int32{0, 0, 0, -101, -110}
	for i := range 1900 * 3 {
		op := ops[i%4]
		path := fmt.Sprintf("/w/%c%d", 'a'+byte(i/4%19), i/4%475/19)
		c := fmt.Sprintf("10.0.1.%d:%d", i%50, 2000+i%300)
		sh := s.Shard(i % 2)
		sh.Observe(zkMsg(proto.Request, c, op, path, 60))
		r := zkMsg(proto.Reply, c, op, path, 24)
		r.Paired, r.Latency, r.Err = true, 2*time.Millisecond, codes[i%5]
		sh.Observe(r)
	}
	benchScrape(b, e)
}

// benchScrape scrapes e's /metrics in a loop and reports, besides wall
// time, the process's CPU time per scrape (the handler, the SDK and the
// garbage collector on every core).
func benchScrape(b *testing.B, e *Exporter) {
	b.Helper()
	h := e.Handler()
	scrape := func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if rec.Code != 200 || rec.Body.Len() == 0 {
			b.Fatalf("/metrics: %d, %d bytes", rec.Code, rec.Body.Len())
		}
	}
	scrape()
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	n := 0
	for b.Loop() {
		scrape()
		n++
	}
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/1e6/float64(n), "cpu-ms/op")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Skipf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
