package exporter_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/zktap/zktap/exporter"
	"github.com/zktap/zktap/exporter/stats"
	"github.com/zktap/zktap/exporter/tap"
	"github.com/zktap/zktap/proto"
)

var _ exporter.DumpSource = (*tap.Tap)(nil)

// TestDumpThroughServe streams /debug/dump from the real tap through
// ServeListener, and checks that cancelling the serve context ends both the
// server and the open stream.
func TestDumpThroughServe(t *testing.T) {
	tp := tap.New(tap.Config{})
	t.Cleanup(func() { _ = tp.Close() })
	st := stats.New(stats.Config{}, time.Now)
	exp, err := exporter.New(exporter.Options{Stats: st, Dump: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- exp.ServeListener(ctx, l, "", nil) }()

	resp, err := http.Get("http://" + l.Addr().String() + "/debug/dump?op=exists")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for deadline := time.Now().Add(5 * time.Second); tp.Stats().Subscribers == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the dump client never subscribed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	for _, op := range []string{"getData", "exists"} {
		tp.Publish(&proto.Message{Time: time.Now(), Proto: proto.ZK, Kind: proto.Request, Op: op,
			Path: []byte("/a"), Src: netip.MustParseAddrPort("10.0.0.7:5000"), Dst: netip.MustParseAddrPort("10.0.0.1:2181")})
	}
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	if !strings.Contains(line, `"exists"`) || strings.Contains(line, "getData") {
		t.Errorf("first streamed line = %q, want the exists request only", line)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeListener did not return with a dump stream open")
	}
}
