package pipeline_test

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/zktap/zktap/proto"
)

// TestInlineMatchesWorker: decoding in the capture goroutine (Config.Inline)
// yields exactly the messages, in the same order, and the same counters as
// handing batches to a worker goroutine, on every real capture, clean and
// damaged at 10 %. The source scribbles over each frame before reading the
// next, so an inline path that kept a reference into a frame would differ.
func TestInlineMatchesWorker(t *testing.T) {
	files := realCaptures(t)
	total := 0
	for _, path := range files {
		pkts := loadCapture(t, path)
		for _, pct := range []int{0, 10} {
			input := pkts
			if pct > 0 {
				rng := rand.New(rand.NewPCG(uint64(pct), uint64(len(pkts))))
				input, _ = mutate(pkts, len(pkts)/3, 2*len(pkts)/3, float64(pct)/100, rng)
			}
			t.Run(fmt.Sprintf("%s/%d%%", filepath.Base(path), pct), func(t *testing.T) {
				cfg := captureConfig
				cfg.Workers = 1
				batched := run(t, cfg, sliceSource(input), runOpts{keep: true})
				cfg.Inline = true
				inline := run(t, cfg, sliceSource(input), runOpts{keep: true})
				if diff := cmp.Diff(batched.msgs, inline.msgs, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
					t.Errorf("messages differ (-worker +inline):\n%s", diff)
				}
				hb, hi := batched.health, inline.health
				if diff := cmp.Diff(hb, hi); diff != "" {
					t.Errorf("health differs (-worker +inline):\n%s", diff)
				}
				for _, pr := range []proto.Proto{proto.ZK, proto.ZAB, proto.FLE} {
					if diff := cmp.Diff(batched.counts(pr), inline.counts(pr)); diff != "" {
						t.Errorf("%v decode counters differ (-worker +inline):\n%s", pr, diff)
					}
				}
				total += len(inline.msgs)
			})
		}
	}
	if total == 0 {
		t.Fatal("no message decoded: the comparison compared nothing")
	}
	t.Logf("%d messages compared", total)
}

// TestInlineWorkersIgnored: Inline needs the single worker; with more it
// falls back to sharding rather than decoding every flow in one goroutine
// while the others idle.
func TestInlineWorkersIgnored(t *testing.T) {
	pkts := loadCapture(t, "../../testdata/captures/workload.pcap")
	cfg := captureConfig
	cfg.Workers, cfg.Inline = 3, true
	res := run(t, cfg, sliceSource(pkts), runOpts{})
	if res.n == 0 || res.paired == 0 {
		t.Fatalf("decoded %d messages, %d paired: want the workload", res.n, res.paired)
	}
	cfg.Workers, cfg.Inline = 1, true
	one := run(t, cfg, sliceSource(pkts), runOpts{})
	if res.n != one.n || res.paired != one.paired {
		t.Errorf("3 workers: %d messages, %d paired; inline: %d, %d", res.n, res.paired, one.n, one.paired)
	}
}
