package app

import (
	"bytes"
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/internal/zkload/workload"
	"github.com/zktap/zktap/internal/zktest"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
	"github.com/zktap/zktap/sniff/pipeline"
)

// syncBuffer lets the test read what a running dump wrote so far.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.b.Bytes())
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("live capture needs CAP_NET_RAW: run the tests as root (CI does)")
	}
}

// TestLiveDumpCountsEqualClient runs `zktap dump --iface lo` while a real
// client drives a real ZooKeeper with the known workload, and checks that
// zktap decoded exactly the requests the client put on the wire, by op.
func TestLiveDumpCountsEqualClient(t *testing.T) {
	requireRoot(t)
	srv := zktest.StartStandalone(t, zktest.Options{JuteMaxBuffer: 4 << 20})
	port := uint16(srv.ClientPort)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A generous ring: this machine may be busy running other tests, and a
	// descheduled reader must not lose frames of the 1 MiB bursts.
	src, err := openSource(CaptureOptions{Iface: "lo", ZKPorts: []uint16{port}, RingSize: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out syncBuffer
	var ctr proto.Counters
	done := make(chan pipeline.Health, 1)
	go func() {
		h, err := Dump(ctx, src, DumpOptions{JSON: true, Filter: render.Filter{IncludePings: true},
			Pipeline: pipeline.Config{Workers: 2, ZKPorts: []uint16{port}}}, &out, &ctr)
		if err != nil {
			t.Error(err)
		}
		done <- h
	}()
	time.Sleep(200 * time.Millisecond) // the socket is open; let the first read start

	rep, err := workload.Run(context.Background(), srv.Addr, workload.Spec{Root: "/live"})
	if err != nil {
		t.Fatal(err)
	}
	// Wait until the dump holds every request the client sent (capture
	// and decode run asynchronously), then stop it.
	want := rep.Requests
	var got map[string]int
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = requestCounts(t, out.Bytes())
		if cmp.Equal(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	h := <-done
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by op, client's wire count (-want) vs zktap (+got):\n%s", diff)
	}
	if h.QueueDrops != 0 || h.KernelDrops != 0 {
		t.Errorf("drops: queue %d kernel %d", h.QueueDrops, h.KernelDrops)
	}
	// Every reply the client received was paired with its request.
	replies := 0
	for _, l := range parseDump(t, out.Bytes()) {
		if l.Proto == "zk" && l.Kind == "reply" {
			replies++
			if l.Op == "unknown" {
				t.Errorf("unpaired reply: %+v", l)
			}
		}
	}
	wantReplies := 0
	for _, byErr := range rep.Replies {
		for _, n := range byErr {
			wantReplies += n
		}
	}
	if replies != wantReplies {
		t.Errorf("replies decoded = %d, client received %d", replies, wantReplies)
	}
	// The digest password never appears in the dump.
	if bytes.Contains(out.Bytes(), []byte(workload.AuthUser+":"+workload.AuthPassword)) ||
		bytes.Contains(out.Bytes(), []byte(`"`+workload.AuthPassword+`"`)) ||
		bytes.Contains(out.Bytes(), []byte(workload.SecretData)) {
		t.Error("the dump shows the digest password or znode data")
	}
	t.Logf("client sent %d request kinds, %d replies; zktap health %+v", len(want), replies, h)
}

// requestCounts counts zk request lines by op, spelled as the workload
// report spells them.
func requestCounts(t *testing.T, b []byte) map[string]int {
	m := map[string]int{}
	for _, l := range parseDump(t, b) {
		if l.Proto == "zk" && l.Kind == "request" && !strings.HasPrefix(l.Op, "unknown") {
			m[l.Op]++
		}
	}
	return m
}
