package app

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/exporter/tap"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pcapsrc"
	"github.com/zktap/zktap/sniff/pipeline"
)

// BenchmarkServeFromMemory is the per-message work of `zktap serve` on live
// traffic, without the kernel: a real capture held in memory goes through
// the inline pipeline (parse, flows, reassembly, decode, pairing) into the
// serve sink (a stats shard with the default bounds, the tap idle). It is
// the figure behind the bench's CPU per packet, free of ZooKeeper's noise.
//
// ZKTAP_BENCH_PCAP and ZKTAP_BENCH_ZK_PORT point it at another capture
// (testdata/bench keeps the recorded load with -tmp).
func BenchmarkServeFromMemory(b *testing.B) {
	data, port := benchCapture(b)
	st := stats.New(stats.Config{Shards: 1, MaxPaths: 1000, TopClients: 10, TopAuths: 10}, nil)
	tp := tap.New(tap.Config{})
	defer tp.Close()
	sink := &serveSink{shard: st.Shard(0), tap: tp}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	var msgs uint64
	for b.Loop() {
		src, err := pcapsrc.Open(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		before := sink.messages.Load()
		p := pipeline.New(pipeline.Config{Blocking: true, Inline: true, ZKPorts: []uint16{port}},
			func(int) proto.Sink { return sink }, &proto.Counters{})
		if err := p.Run(context.Background(), src); err != nil {
			b.Fatal(err)
		}
		msgs += sink.messages.Load() - before
	}
	if msgs == 0 {
		b.Fatal("no message decoded")
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/msg")
}

// benchCapture loads the capture the from-memory benchmarks replay:
// testdata's workload.pcap, or the file named by ZKTAP_BENCH_PCAP, whose
// client port is ZKTAP_BENCH_ZK_PORT (default 2181).
func benchCapture(b *testing.B) (data []byte, port uint16) {
	b.Helper()
	path := filepath.Join("..", "..", "testdata", "captures", "workload.pcap")
	port = 2181
	if p := os.Getenv("ZKTAP_BENCH_PCAP"); p != "" {
		path = p
	}
	if p := os.Getenv("ZKTAP_BENCH_ZK_PORT"); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			b.Fatalf("ZKTAP_BENCH_ZK_PORT: %v", err)
		}
		port = uint16(n)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data, port
}
