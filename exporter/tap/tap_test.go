package tap

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

var (
	client = netip.MustParseAddrPort("10.0.0.5:51234")
	server = netip.MustParseAddrPort("10.0.0.1:2181")
)

// message returns the i-th test message: alternately getData and exists,
// with a path that names i so receivers can check order and completeness.
func message(i int, pad int) *proto.Message {
	var m proto.Message
	m.Reset()
	m.Time = time.Date(2026, 11, 25, 14, 0, 0, i, time.UTC)
	m.Proto, m.Kind = proto.ZK, proto.Request
	m.Op = "getData"
	if i%2 == 1 {
		m.Op = "exists"
	}
	m.Src, m.Dst = client, server
	m.Xid, m.HasXid = int32(i), true
	m.Path = fmt.Appendf(nil, "/n/%d%s", i, strings.Repeat("x", pad))
	return &m
}

func newServer(t *testing.T, cfg Config) (*Tap, *httptest.Server) {
	t.Helper()
	tp := New(cfg)
	// Served the way the exporter mounts it.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/dump", tp.ServeDump)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		tp.Close()
		srv.Close()
	})
	return tp, srv
}

// subscribe opens a stream and waits until the tap counts it.
func subscribe(t *testing.T, tp *Tap, srv *httptest.Server, query string) *bufio.Scanner {
	t.Helper()
	before := tp.Stats().Subscribers
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/debug/dump?"+query, nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET ?%s: %s %s", query, resp.Status, b)
	}
	waitFor(t, func() bool { return tp.Stats().Subscribers > before })
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	return sc
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// readLines reads n lines, failing the test after a timeout.
func readLines(t *testing.T, sc *bufio.Scanner, n int) []string {
	t.Helper()
	lines := make([]string, 0, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(lines) < n && sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("read %d of %d lines within 10s", len(lines), n)
	}
	return lines
}

func paths(t *testing.T, lines []string) []string {
	t.Helper()
	var out []string
	for _, l := range lines {
		var v struct{ Path string }
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("bad JSON line %q: %v", l, err)
		}
		out = append(out, v.Path)
	}
	return out
}

// TestFanOut: several subscribers with different formats and filters each
// get exactly the messages their filter selects, in order.
func TestFanOut(t *testing.T) {
	tp, srv := newServer(t, Config{})
	const n = 200
	all := []*bufio.Scanner{
		subscribe(t, tp, srv, ""),
		subscribe(t, tp, srv, "format=json"),
		subscribe(t, tp, srv, "pings=1"),
	}
	exists := subscribe(t, tp, srv, "op=exists")
	text := subscribe(t, tp, srv, "format=text&path=/n/1")

	var wg sync.WaitGroup
	for w := range 4 { // concurrent publishers, as pipeline workers are
		wg.Go(func() {
			for i := w; i < n; i += 4 {
				tp.Publish(message(i, 0))
			}
		})
	}
	wg.Wait()

	var want, wantExists []string
	for i := range n {
		want = append(want, fmt.Sprintf("/n/%d", i))
		if i%2 == 1 {
			wantExists = append(wantExists, fmt.Sprintf("/n/%d", i))
		}
	}
	for i, sc := range all {
		got := paths(t, readLines(t, sc, n))
		slices.Sort(got) // publishers interleave
		slices.Sort(want)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("subscriber %d (-want +got):\n%s", i, diff)
		}
	}
	got := paths(t, readLines(t, exists, len(wantExists)))
	slices.Sort(got)
	slices.Sort(wantExists)
	if diff := cmp.Diff(wantExists, got); diff != "" {
		t.Errorf("op=exists subscriber (-want +got):\n%s", diff)
	}
	// /n/1, /n/10..19, /n/100..199: 111 lines, each one line of text.
	lines := readLines(t, text, 111)
	for _, l := range lines {
		if !strings.Contains(l, " zk ") || !strings.Contains(l, " /n/1") {
			t.Errorf("unexpected text line %q", l)
		}
	}
	st := tp.Stats()
	if st.Dropped != 0 || st.Sent != 3*n+uint64(len(wantExists))+111 {
		t.Errorf("Stats = %+v, want Sent %d and no drops", st, 3*n+len(wantExists)+111)
	}
}

// TestStuckSubscriber: a client that stops reading, over a real TCP
// connection, neither slows Publish nor the other subscriber; its drops are
// counted and reported in its stream once it reads again.
func TestStuckSubscriber(t *testing.T) {
	tp, srv := newServer(t, Config{BufferMessages: 512, BufferBytes: 1 << 20})
	healthy := subscribe(t, tp, srv, "")

	// The stuck client: a raw connection that
	// sends a request and then reads nothing.
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /debug/dump?format=json HTTP/1.1\r\nHost: tap\r\n\r\n")
	waitFor(t, func() bool { return tp.Stats().Subscribers == 2 })

	const batches, perBatch, pad = 40, 250, 2000 // ~20 MB, far over socket buffers
	var durs []time.Duration
	total := 0
	for b := range batches {
		for range perBatch {
			start := time.Now()
			tp.Publish(message(total, pad))
			durs = append(durs, time.Since(start))
			total++
		}
		// Pace by the healthy reader, which must get everything.
		got := paths(t, readLines(t, healthy, perBatch))
		for i, p := range got {
			if want := fmt.Sprintf("/n/%d%s", b*perBatch+i, strings.Repeat("x", pad)); p != want {
				t.Fatalf("healthy subscriber: line %d has path %.20q, want %.20q", b*perBatch+i, p, want)
			}
		}
	}
	st := tp.Stats()
	if st.Dropped == 0 {
		t.Fatalf("stuck subscriber dropped nothing: %+v", st)
	}

	// Publish latency stays flat: the mean of the last batches, with the
	// stuck client's buffer full, is not far above that of the first batch.
	mean := func(d []time.Duration) time.Duration {
		var s time.Duration
		for _, x := range d {
			s += x
		}
		return s / time.Duration(len(d))
	}
	first, last := mean(durs[:perBatch]), mean(durs[len(durs)-10*perBatch:])
	t.Logf("mean Publish: first batch %v, last 10 batches %v; stats %+v", first, last, st)
	if last > 10*first+200*time.Microsecond {
		t.Errorf("Publish slowed down while a subscriber was stuck: %v, then %v", first, last)
	}

	// The stuck client reads again: it gets every message it did not
	// miss, plus dropped notices that add up to the rest.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	var received, dropped int
	last_ := -1
	for received+dropped < total && sc.Scan() {
		var v struct {
			Dropped *int
			Xid     int
		}
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("bad line (%d bytes) %.80q...%q: %v", len(sc.Text()), sc.Text(), sc.Text()[max(0, len(sc.Text())-40):], err)
		}
		if v.Dropped != nil {
			dropped += *v.Dropped
			continue
		}
		if v.Xid <= last_ {
			t.Fatalf("stuck subscriber: xid %d after %d", v.Xid, last_)
		}
		last_ = v.Xid
		received++
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("after %d lines and %d dropped: %v", received, dropped, err)
	}
	if received+dropped != total || uint64(dropped) != st.Dropped {
		t.Errorf("stuck subscriber: received %d + dropped %d, want %d; tap counted %d drops", received, dropped, total, st.Dropped)
	}
	if got := tp.Stats().Sent; got != uint64(total+received) {
		t.Errorf("Sent = %d, want %d", got, total+received)
	}
}

func TestTextDropNotice(t *testing.T) {
	if got := string(appendDropped(nil, 7, true)); got != "# dropped 7 messages\n" {
		t.Errorf("text notice %q", got)
	}
	if got := string(appendDropped(nil, 7, false)); got != "{\"dropped\":7}\n" {
		t.Errorf("json notice %q", got)
	}
}

func TestMaxSubscribers(t *testing.T) {
	tp, srv := newServer(t, Config{MaxSubscribers: 2})
	subscribe(t, tp, srv, "")
	subscribe(t, tp, srv, "format=text")
	resp, err := srv.Client().Get(srv.URL + "/debug/dump")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("third subscriber: %s, want 503", resp.Status)
	}
	if st := tp.Stats(); st.Rejected != 1 || st.Subscribers != 2 {
		t.Errorf("Stats = %+v, want 1 rejected, 2 subscribers", st)
	}
}

func TestBadQuery(t *testing.T) {
	tp, srv := newServer(t, Config{})
	tests := []struct{ query, want string }{
		{"format=xml", `format: "xml" is not json or text`},
		{"proto=http&show_text=maybe", "proto: \"http\" is not one of zk, zab, fle, 4lw\nshow_text: \"maybe\" is not a boolean"},
	}
	for _, tt := range tests {
		resp, err := srv.Client().Get(srv.URL + "/debug/dump?" + tt.query)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || strings.TrimSpace(string(body)) != tt.want {
			t.Errorf("?%s: %s %q, want 400 %q", tt.query, resp.Status, body, tt.want)
		}
	}
	if tp.Stats().Subscribers != 0 {
		t.Error("a rejected query left a subscriber")
	}
}

// TestClientGoesAway: cancelling the request ends the subscription.
func TestClientGoesAway(t *testing.T) {
	tp, srv := newServer(t, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/debug/dump", nil)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, func() bool { return tp.Active() })
	cancel()
	waitFor(t, func() bool { return !tp.Active() && tp.Stats().Subscribers == 0 })
}

// TestClose ends streams, even one blocked on a client that never reads,
// and refuses new subscribers.
func TestClose(t *testing.T) {
	tp := New(Config{BufferMessages: 64})
	srv := httptest.NewServer(tp)
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: tap\r\n\r\n")
	waitFor(t, tp.Active)
	for i := range 5000 { // enough to block the handler in Write
		tp.Publish(message(i, 2000))
		if i%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	tp.Close()
	waitFor(t, func() bool { return tp.Stats().Subscribers == 0 })
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after Close: %s, want 503", resp.Status)
	}
}

func TestPublishNoSubscriberNoAlloc(t *testing.T) {
	tp := New(Config{})
	m := message(1, 0)
	if n := testing.AllocsPerRun(1000, func() { tp.Publish(m) }); n != 0 {
		t.Errorf("Publish with no subscriber allocates %v times", n)
	}
}

// TestPublishSteadyStateNoAlloc: with a subscriber whose filter does not
// match, and with one that matches, Publish reuses its buffers.
func TestPublishSteadyStateNoAlloc(t *testing.T) {
	tp := New(Config{BufferMessages: 1 << 20, BufferBytes: 1 << 30})
	s := &subscriber{variant: formatJSON, abort: func() {}, maxMsgs: 1 << 30, maxBytes: 1 << 30,
		notify: make(chan struct{}, 1), buf: make([]byte, 0, 1<<26)}
	if !tp.subscribe(s) {
		t.Fatal("subscribe failed")
	}
	m := message(1, 0)
	if n := testing.AllocsPerRun(1000, func() { tp.Publish(m) }); n != 0 {
		t.Errorf("Publish to a subscriber allocates %v times", n)
	}
}

func BenchmarkPublishIdle(b *testing.B) {
	tp := New(Config{})
	m := message(1, 0)
	b.ReportAllocs()
	for b.Loop() {
		if tp.Active() {
			tp.Publish(m)
		}
	}
}

func BenchmarkPublishOneSubscriber(b *testing.B) {
	tp := New(Config{})
	s := &subscriber{variant: formatJSON, abort: func() {}, maxMsgs: 1 << 30, maxBytes: 1 << 30,
		notify: make(chan struct{}, 1), buf: make([]byte, 0, 1<<20)}
	tp.subscribe(s)
	m := message(1, 0)
	b.ReportAllocs()
	for b.Loop() {
		tp.Publish(m)
		if len(s.buf) > 1<<19 {
			s.take(s.buf)
		}
	}
}
