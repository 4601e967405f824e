package exporter

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/zktap/zktap/exporter/stats"
)

// TestSeriesCache checks that a cached series carries the attribute set
// its labels describe, is reused while it is observed, and is dropped by
// the first collection that does not observe it.
func TestSeriesCache(t *testing.T) {
	c := &seriesCache{m: map[labels]*series{}}
	ab := label2("op", "getData", "path", "/a")
	root := label2("op", "getData", "path", "")
	other := label("client", stats.Overflow)
	none := labels{}
	want := map[labels]attribute.Set{
		ab:    attribute.NewSet(attribute.String("op", "getData"), attribute.String("path", "/a")),
		root:  attribute.NewSet(attribute.String("op", "getData"), attribute.String("path", "")),
		other: attribute.NewSet(attribute.String("client", stats.Overflow)),
		none:  *attribute.EmptySet(),
	}
	c.gen++
	first := map[labels]*series{}
	for l, set := range want {
		sr := c.get(l)
		first[l] = sr
		got := metric.NewObserveConfig(sr.opts).Attributes()
		if !got.Equals(&set) {
			t.Errorf("%+v: attributes %v, want %v", l, got.Encoded(attribute.DefaultEncoder()), set.Encoded(attribute.DefaultEncoder()))
		}
	}
	c.sweep()
	if len(c.m) != len(want) {
		t.Fatalf("after the first collection the cache holds %d series, want %d", len(c.m), len(want))
	}
	// The second collection observes two of them again.
	c.gen++
	if c.get(ab) != first[ab] || c.get(other) != first[other] {
		t.Errorf("a series observed again was built again")
	}
	c.sweep()
	var kept []labels
	for l := range c.m {
		kept = append(kept, l)
	}
	if len(kept) != 2 || c.m[ab] == nil || c.m[other] == nil {
		t.Errorf("after the second collection the cache holds %v, want only %v and %v", kept, ab, other)
	}
}

// TestConcurrentScrapes scrapes from several goroutines at once, so
// callbacks and producers of different collections interleave and hand
// snapshots to each other; every scrape must still see the same data
// (run with -race).
func TestConcurrentScrapes(t *testing.T) {
	e, s := newTestExporter(t, Options{})
	workload(s)
	_, want := get(t, e.Handler(), "/metrics")
	var wg sync.WaitGroup
	bodies := make([][]string, 4)
	for g := range bodies {
		wg.Go(func() {
			for range 20 {
				_, body := get(t, e.Handler(), "/metrics")
				bodies[g] = append(bodies[g], body)
			}
		})
	}
	wg.Wait()
	for g, bs := range bodies {
		for i, got := range bs {
			if got != want {
				t.Fatalf("goroutine %d, scrape %d (-want +got):\n%s", g, i, cmp.Diff(want, got))
			}
		}
	}
	if snap := e.share.take(); snap != nil {
		t.Errorf("a snapshot was left in the share after every collection ended")
	}
}
