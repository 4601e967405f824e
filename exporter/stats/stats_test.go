package stats

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/zktap/zktap/proto"
)

var (
	t0     = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	server = netip.MustParseAddrPort("10.0.0.1:2181")
)

func fixedNow() time.Time { return t0 }

func req(client, op, path string, size int) *proto.Message {
	m := &proto.Message{Time: t0, Proto: proto.ZK, Kind: proto.Request, Op: op,
		Src: netip.MustParseAddrPort(client), Dst: server, Size: size, Path: []byte(path)}
	m.ZK.DataLen, m.ZK.Children = -1, -1
	return m
}

func rep(client, op, path string, size int, err int32, lat time.Duration) *proto.Message {
	m := &proto.Message{Time: t0, Proto: proto.ZK, Kind: proto.Reply, Op: op,
		Src: server, Dst: netip.MustParseAddrPort(client), Size: size, Path: []byte(path),
		Err: err, Latency: lat, Paired: true}
	m.ZK.DataLen, m.ZK.Children = -1, -1
	return m
}

// TestNormalizeOnePass: normalizePath's one-pass loop (paths up to
// maxPathLen) gives what normalizeLong gives, on random paths built from
// the bytes that matter (slashes, digits, hex, dashes) and on UUIDs and
// sequential names, at several depths.
func TestNormalizeOnePass(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const alphabet = "//0123456789aF-x"
	uuid := "123e4567-e89b-12d3-a456-426614174000"
	for range 200_000 {
		var b []byte
		for len(b) == 0 || r.IntN(8) != 0 {
			switch r.IntN(12) {
			case 0:
				b = append(b, '/')
				b = append(b, uuid...)
			case 1:
				b = append(b, "/lock-0000000042"...)
			default:
				b = append(b, alphabet[r.IntN(len(alphabet))])
			}
		}
		if r.IntN(3) != 0 {
			b = append([]byte{'/'}, b...)
		}
		if len(b) > maxPathLen {
			continue
		}
		d := r.IntN(4)
		want := []byte("?")
		if b[0] == '/' {
			want = normalizeLong(nil, b, d)
		}
		got := normalizePath(nil, b, d)
		if !bytes.Equal(got, want) {
			t.Fatalf("normalizePath(%q, %d) = %q, want %q", b, d, got, want)
		}
	}
}

func TestNormalizePath(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		depth int
		want  string
	}{
		{"empty", "", 0, ""},
		{"root", "/", 0, "/"},
		{"plain", "/a/b/c", 0, "/a/b/c"},
		{"depth", "/a/b/c", 2, "/a/b"},
		{"depth beyond", "/a", 3, "/a"},
		{"sequential", "/locks/lock-0000000042", 0, "/locks/lock-#"},
		{"numeric", "/brokers/ids/1001/state", 0, "/brokers/ids/#/state"},
		{"uuid", "/jobs/123e4567-e89b-12d3-a456-426614174000/x", 0, "/jobs/#/x"},
		{"not uuid", "/jobs/123e4567-e89b-12d3-a456-42661417400z", 0, "/jobs/123e4567-e89b-12d3-a456-42661417400z"},
		{"ten digits alone", "/seq/0000000001", 0, "/seq/#"},
		{"short digit suffix kept", "/host-12", 0, "/host-12"},
		{"double and trailing slash", "//a//b/", 0, "/a/b"},
		{"relative", "a/b", 0, "?"},
		{"long", "/" + strings.Repeat("x", 300), 0, "/"},
		{"long second segment cut", "/a/" + strings.Repeat("y", 300), 0, "/a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(normalizePath(nil, []byte(tt.in), tt.depth))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("normalizePath(%q, %d) (-want +got):\n%s", tt.in, tt.depth, diff)
			}
		})
	}
}

func TestObserveCounts(t *testing.T) {
	s := New(Config{Shards: 2}, fixedNow)
	c := "10.1.1.1:5000"
	s.Observe(req(c, "exists", "/a", 20))
	s.Observe(rep(c, "exists", "/a", 36, 0, 300*time.Microsecond))
	s.Observe(req(c, "getData", "/locks/lock-0000000001", 40))
	s.Observe(req(c, "getData", "/locks/lock-0000000002", 40))
	s.Observe(rep(c, "getData", "/locks/lock-0000000001", 50, -101, 2*time.Millisecond))
	s.Observe(req(c, "ping", "", 12))
	w := req(c, "getChildren", "/w", 20)
	w.ZK.Watch = true
	s.Observe(w)
	ev := rep(c, "notification", "/w", 30, 0, 0)
	ev.Kind, ev.Paired = proto.Event, false
	ev.ZK.EventType = 4
	s.Observe(ev)
	conn := req(c, "connect", "", 48)
	s.Observe(conn)
	cr := rep(c, "connect", "", 40, 0, 0)
	cr.ZK.Timeout = 30000
	s.Observe(cr)
	cr2 := rep(c, "connect", "", 40, -112, 0)
	s.Observe(cr2)

	snap := s.Snapshot()
	wantReq := []OpPath{
		{Op: "exists", Path: "/a", Traffic: Traffic{1, 20}},
		{Op: "getChildren", Path: "/w", Traffic: Traffic{1, 20}},
		{Op: "getData", Path: "/locks/lock-#", Traffic: Traffic{2, 80}},
		{Op: "ping", Path: "", Traffic: Traffic{1, 12}},
	}
	if diff := cmp.Diff(wantReq, snap.Requests); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]OpError{{Op: "getData", Code: -101, Count: 1}}, snap.Errors); diff != "" {
		t.Errorf("Errors (-want +got):\n%s", diff)
	}
	var lat []string
	for _, h := range snap.Latency {
		lat = append(lat, fmt.Sprintf("%s n=%d", h.Op, h.Count))
	}
	if diff := cmp.Diff([]string{"exists n=1", "getData n=1"}, lat); diff != "" {
		t.Errorf("Latency (-want +got):\n%s", diff)
	}
	// 300µs lands in the (250µs, 500µs] bucket.
	if got := snap.Latency[0].Counts[3]; got != 1 {
		t.Errorf("exists bucket le=0.0005 = %d, want 1 (counts %v)", got, snap.Latency[0].Counts)
	}
	if diff := cmp.Diff([]OpPath{{Op: "getChildren", Path: "/w", Traffic: Traffic{Count: 1}}}, snap.WatchesSet); diff != "" {
		t.Errorf("WatchesSet (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]WatchEvent{{Type: "NodeChildrenChanged", Path: "/w", Count: 1}}, snap.WatchesFired); diff != "" {
		t.Errorf("WatchesFired (-want +got):\n%s", diff)
	}
	gotConn := [4]uint64{snap.Connects, snap.Established, snap.Rejected, snap.TotalRequests.Count}
	if diff := cmp.Diff([4]uint64{1, 1, 1, 5}, gotConn); diff != "" {
		t.Errorf("connects, established, rejected, total requests (-want +got):\n%s", diff)
	}
}

func TestPathCap(t *testing.T) {
	s := New(Config{MaxPaths: 3}, fixedNow)
	for _, p := range []string{"/a", "/b", "/c", "/d", "/e", "/a"} {
		s.Observe(req("10.1.1.1:1", "exists", p, 10))
	}
	snap := s.Snapshot()
	want := []OpPath{
		{Op: "exists", Path: "/a", Traffic: Traffic{2, 20}},
		{Op: "exists", Path: "/b", Traffic: Traffic{1, 10}},
		{Op: "exists", Path: "/c", Traffic: Traffic{1, 10}},
		{Op: "exists", Path: Overflow, Traffic: Traffic{2, 20}},
	}
	if diff := cmp.Diff(want, snap.Requests); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if snap.PathsFolded != 2 || snap.PathsTracked != 3 {
		t.Errorf("PathsFolded, PathsTracked = %d, %d, want 2, 3", snap.PathsFolded, snap.PathsTracked)
	}
}

func TestTopNMonotonic(t *testing.T) {
	s := New(Config{TopClients: 2}, fixedNow)
	send := func(ip string, n int) {
		for range n {
			s.Observe(req(ip+":1000", "exists", "/x", 10))
		}
	}
	keys := func(tops []Top) map[string]uint64 {
		m := map[string]uint64{}
		for _, t := range tops {
			m[t.Key] = t.Requests.Count
		}
		return m
	}
	send("10.0.0.1", 5)
	send("10.0.0.2", 3)
	send("10.0.0.3", 1)
	got := keys(s.Snapshot().Clients)
	if diff := cmp.Diff(map[string]uint64{"10.0.0.1": 5, "10.0.0.2": 3, Overflow: 1}, got); diff != "" {
		t.Errorf("first election (-want +got):\n%s", diff)
	}
	send("10.0.0.1", 1)
	send("10.0.0.3", 10) // overtakes 10.0.0.2
	got = keys(s.Snapshot().Clients)
	// 10.0.0.3 is elected with its count so far as baseline, because
	// those requests were already exported in "other"; 10.0.0.2 leaves and
	// its requests return to "other", which only grows.
	if diff := cmp.Diff(map[string]uint64{"10.0.0.1": 6, "10.0.0.3": 0, Overflow: 14}, got); diff != "" {
		t.Errorf("second election (-want +got):\n%s", diff)
	}
	send("10.0.0.3", 2)
	got = keys(s.Snapshot().Clients)
	if diff := cmp.Diff(map[string]uint64{"10.0.0.1": 6, "10.0.0.3": 2, Overflow: 14}, got); diff != "" {
		t.Errorf("third election (-want +got):\n%s", diff)
	}
}

func TestAuthIdentity(t *testing.T) {
	s := New(Config{}, fixedNow)
	c := "10.1.1.1:5000"
	a := req(c, "auth", "", 40)
	a.ZK.AuthScheme, a.ZK.AuthUser = []byte("digest"), []byte("user")
	s.Observe(a)
	s.Observe(req(c, "exists", "/a", 20))
	s.Observe(req("10.1.1.2:5000", "exists", "/a", 20))
	snap := s.Snapshot()
	got := map[string]uint64{}
	for _, t := range snap.Auths {
		got[t.Key] = t.Cumulative.Count
	}
	if diff := cmp.Diff(map[string]uint64{"digest:user": 2, NoAuth: 1, Overflow: 0}, got); diff != "" {
		t.Errorf("Auths (-want +got):\n%s", diff)
	}
	want := []ConnIdentity{{Client: netip.MustParseAddrPort(c), Identity: "digest:user"}}
	if diff := cmp.Diff(want, snap.Conns, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("Conns (-want +got):\n%s", diff)
	}
}

func TestSASLIdentity(t *testing.T) {
	s := New(Config{}, fixedNow)
	c := "10.1.1.1:5000"
	for _, user := range []string{"", "bob", ""} {
		m := req(c, "sasl", "", 100)
		m.ZK.AuthScheme, m.ZK.AuthUser = []byte("sasl"), []byte(user)
		s.Observe(m)
	}
	want := []ConnIdentity{{Client: netip.MustParseAddrPort(c), Identity: "sasl:bob"}}
	if diff := cmp.Diff(want, s.Snapshot().Conns, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("Conns (-want +got):\n%s", diff)
	}
}

func TestElection(t *testing.T) {
	s := New(Config{}, fixedNow)
	fle := func(state string, at time.Duration, leader int64) *proto.Message {
		return &proto.Message{Time: t0.Add(at), Proto: proto.FLE, Kind: proto.Event, Op: "notification",
			FLE: proto.FLEInfo{State: state, Leader: leader, ElectionEpoch: 7}}
	}
	s.Observe(fle("looking", 0, 1))
	s.Observe(fle("looking", 100*time.Millisecond, 3))
	s.Observe(fle("following", 1500*time.Millisecond, 3))
	s.Observe(fle("following", 1600*time.Millisecond, 3))
	snap := s.Snapshot()
	if snap.Election.Count != 1 || snap.Election.Leader != 3 || snap.Election.Duration.Sum != 1.5 {
		t.Errorf("Election = %+v, want 1 election won by 3 lasting 1.5s", snap.Election)
	}
	if diff := cmp.Diff([]Count{{"following", 2}, {"looking", 2}}, snap.FLE); diff != "" {
		t.Errorf("FLE (-want +got):\n%s", diff)
	}
}

// TestElectionAllLooking: voters that all look at once decide on LOOKING
// votes alone; the election ends at the new leader's ZAB NEWLEADER, won by
// the latest vote, and a second NEWLEADER (to the other follower) does not
// count another election.
func TestElectionAllLooking(t *testing.T) {
	s := New(Config{}, fixedNow)
	looking := func(at time.Duration, leader, epoch int64) *proto.Message {
		return &proto.Message{Time: t0.Add(at), Proto: proto.FLE, Kind: proto.Event, Op: "notification",
			FLE: proto.FLEInfo{State: "looking", Leader: leader, ElectionEpoch: epoch}}
	}
	newLeader := func(at time.Duration) *proto.Message {
		return &proto.Message{Time: t0.Add(at), Proto: proto.ZAB, Kind: proto.Request, Op: "newleader"}
	}
	s.Observe(newLeader(0)) // no election running: ignored
	s.Observe(looking(100*time.Millisecond, 1, 2))
	s.Observe(looking(110*time.Millisecond, 2, 2))
	s.Observe(looking(120*time.Millisecond, 2, 2))
	s.Observe(looking(130*time.Millisecond, 1, 1)) // a stale epoch's vote
	s.Observe(newLeader(400 * time.Millisecond))
	s.Observe(newLeader(410 * time.Millisecond))
	got := s.Snapshot().Election
	if got.Count != 1 || got.Leader != 2 || got.Epoch != 2 || got.Running || math.Abs(got.Duration.Sum-0.3) > 1e-9 {
		t.Errorf("Election = %+v, want 1 election of epoch 2 won by 2 lasting 0.3s", got)
	}
}

// TestElectionStaleFollowing: after the leader (3) dies, a survivor votes
// in round 2 while the other, not yet aware, answers FOLLOWING 3 from round
// 1; that stale answer does not end the election, which the new leader's
// NEWLEADER ends, won by 2 (the sequence of a real ensemble, joined
// mid-stream, whose leader was killed).
func TestElectionStaleFollowing(t *testing.T) {
	s := New(Config{}, fixedNow)
	note := func(at time.Duration, state string, leader, epoch int64) *proto.Message {
		return &proto.Message{Time: t0.Add(at), Proto: proto.FLE, Kind: proto.Event, Op: "notification",
			FLE: proto.FLEInfo{State: state, Leader: leader, ElectionEpoch: epoch}}
	}
	s.Observe(note(0, "looking", 1, 2))
	s.Observe(note(1*time.Millisecond, "following", 3, 1))
	if got := s.Snapshot().Election; got.Count != 0 || !got.Running {
		t.Errorf("after a stale FOLLOWING: Election = %+v, want none ended, one running", got)
	}
	s.Observe(note(4*time.Millisecond, "looking", 2, 2))
	s.Observe(note(9*time.Millisecond, "looking", 2, 2))
	s.Observe(&proto.Message{Time: t0.Add(333 * time.Millisecond), Proto: proto.ZAB, Kind: proto.Request, Op: "newleader"})
	if got := s.Snapshot().Election; got.Count != 1 || got.Leader != 2 || got.Epoch != 2 || got.Running {
		t.Errorf("Election = %+v, want 1 of epoch 2 won by 2", got)
	}
}

// TestObserveNoAlloc proves the steady-state path allocates nothing once
// its keys are known: with paths admitted or folded (the table full), sub-ops
// of a multi, watches, errors, and connections that share a slot of the
// shard's connection cache (same port, other address).
func TestObserveNoAlloc(t *testing.T) {
	c, c2, c3 := "10.1.1.1:5000", "10.1.1.1:5001", "10.1.1.2:5000"
	a := req(c, "auth", "", 40)
	a.ZK.AuthScheme, a.ZK.AuthUser = []byte("digest"), []byte("user")
	w := req(c2, "getChildren", "/w", 20)
	w.ZK.Watch = true
	mu := req(c2, "multi", "", 50)
	mu.ZK.Sub = []proto.SubOp{{Op: "create", Path: []byte("/m/x")}, {Op: "delete", Path: []byte("/m/y")}}
	msgs := []*proto.Message{a, req(c, "exists", "/locks/lock-0000000042", 20),
		req(c3, "exists", "/locks/lock-0000000043", 20), w, mu,
		rep(c, "exists", "/locks/lock-0000000042", 36, 0, time.Millisecond),
		rep(c2, "multi", "", 36, 0, time.Millisecond),
		rep(c3, "exists", "/locks/lock-0000000043", 36, 0, time.Millisecond),
		rep(c, "getData", "/a/b", 36, -101, time.Millisecond)}
	for _, cfg := range []Config{
		{Shards: 1, PathLatency: true},
		{Shards: 1, PathLatency: true, Exponential: true, MaxPaths: 2},
	} {
		t.Run(fmt.Sprintf("MaxPaths=%d", cfg.MaxPaths), func(t *testing.T) {
			s := New(cfg, fixedNow)
			sh := s.Shard(0)
			for _, m := range msgs {
				sh.Observe(m)
			}
			if n := testing.AllocsPerRun(1000, func() {
				for _, m := range msgs {
					sh.Observe(m)
				}
			}); n != 0 {
				t.Errorf("Observe allocates %v times per run, want 0", n)
			}
			// The first pass, AllocsPerRun's warm-up run and its 1000 runs.
			snap := s.Snapshot()
			if got, want := snap.TotalRequests.Count+snap.TotalAnswered, uint64(1002*len(msgs)); got != want {
				t.Errorf("requests+answered = %d, want %d", got, want)
			}
		})
	}
}

// TestCardinality drives 100 000 distinct paths from 5 000 client ports and
// checks that every label dimension stays within its cap and that memory
// stays bounded.
func TestCardinality(t *testing.T) {
	cfg := Config{Shards: 4, MaxPaths: 500, TopClients: 10, TopAuths: 10, MaxConns: 1000}
	s := New(cfg, fixedNow)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const paths, ports = 100_000, 5_000
	for i := range paths {
		// 250 client IPs x 20 ports = 5 000 client endpoints.
		ip := fmt.Sprintf("10.%d.%d.%d:%d", i%250/100, i%250%100/10, i%10, 10000+i%ports)
		m := req(ip, "getData", fmt.Sprintf("/app%d/node%c%d", i%7, 'a'+byte(i%26), i), 30)
		s.Shard(i % 4).Observe(m)
		if i%10_000 == 0 {
			s.Snapshot() // scrapes prune candidates as the workload runs
		}
	}
	snap := s.Snapshot()
	runtime.GC()
	runtime.ReadMemStats(&after)
	if snap.PathsTracked > cfg.MaxPaths {
		t.Errorf("PathsTracked = %d, want <= %d", snap.PathsTracked, cfg.MaxPaths)
	}
	distinct := map[string]bool{}
	var total uint64
	for _, r := range snap.Requests {
		distinct[r.Path] = true
		total += r.Count
	}
	if len(distinct) > cfg.MaxPaths+1 {
		t.Errorf("%d distinct path labels, want <= %d", len(distinct), cfg.MaxPaths+1)
	}
	if total != paths {
		t.Errorf("requests counted = %d, want %d", total, paths)
	}
	if want := uint64(paths - cfg.MaxPaths); snap.PathsFolded != want {
		t.Errorf("PathsFolded = %d, want %d", snap.PathsFolded, want)
	}
	if len(snap.Clients) != cfg.TopClients+1 {
		t.Errorf("%d client rows, want %d", len(snap.Clients), cfg.TopClients+1)
	}
	var sum uint64
	for _, c := range snap.Clients {
		sum += c.Requests.Count
	}
	if sum != paths {
		t.Errorf("client rows sum to %d requests, want %d", sum, paths)
	}
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap growth after %d paths from %d ports: %d KiB", paths, ports, heap/1024)
	if heap > 8<<20 {
		t.Errorf("heap grew %d bytes, want < 8 MiB", heap)
	}
	runtime.KeepAlive(s)
}

func BenchmarkObserve(b *testing.B) {
	s := New(Config{Shards: 1}, fixedNow)
	c := "10.1.1.1:5000"
	msgs := []*proto.Message{req(c, "exists", "/locks/lock-0000000042", 20),
		rep(c, "exists", "/locks/lock-0000000042", 36, 0, time.Millisecond)}
	sh := s.Shard(0)
	b.ReportAllocs()
	for b.Loop() {
		for _, m := range msgs {
			sh.Observe(m)
		}
	}
}

// BenchmarkObserveMix observes the shape of the issue #4 bench load, one
// message per op: 8 pipelining connections, each sending 16 requests before
// their replies come back interleaved with the other connections'; reads
// (exists, getData) over 100 nodes, writes (setData over 100 nodes, create
// and delete of a node never seen before), and errors on some reads.
func BenchmarkObserveMix(b *testing.B) {
	const conns, window, rounds = 8, 16, 256
	var msgs []*proto.Message
	seq := 0
	for r := range rounds {
		var reqs, reps [conns][]*proto.Message
		for c := range conns {
			client := fmt.Sprintf("127.0.0.1:%d", 40000+c)
			for i := range window {
				n := (r*window + i) % 100
				var op, path string
				var errc int32
				switch i % 8 {
				case 0, 2:
					op, path = "exists", fmt.Sprintf("/bench/r/n%d", n)
				case 1, 3:
					op, path = "getData", fmt.Sprintf("/bench/r/n%d", n)
					if n%10 == 0 {
						errc = -101
					}
				case 4, 6:
					op, path = "setData", fmt.Sprintf("/bench/w/n%d", n)
				case 5:
					seq++
					op, path = "create", fmt.Sprintf("/bench/c/r%ds%dn%d", r, c, seq)
				case 7:
					op, path = "delete", fmt.Sprintf("/bench/c/r%ds%dn%d", r, c, seq)
				}
				reqs[c] = append(reqs[c], req(client, op, path, 40))
				reps[c] = append(reps[c], rep(client, op, path, 60, errc, 300*time.Microsecond))
			}
		}
		for c := range conns {
			msgs = append(msgs, reqs[c]...)
		}
		for i := range window {
			for c := range conns {
				msgs = append(msgs, reps[c][i])
			}
		}
	}
	s := New(Config{Shards: 1}, fixedNow)
	sh := s.Shard(0)
	for _, m := range msgs {
		sh.Observe(m)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sh.Observe(msgs[i])
		if i++; i == len(msgs) {
			i = 0
		}
	}
}

func BenchmarkObserveParallel(b *testing.B) {
	s := New(Config{Shards: runtime.GOMAXPROCS(0)}, fixedNow)
	c := "10.1.1.1:5000"
	msgs := []*proto.Message{req(c, "exists", "/locks/lock-0000000042", 20),
		rep(c, "exists", "/locks/lock-0000000042", 36, 0, time.Millisecond)}
	var next atomicInt
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		sh := s.Shard(next.add())
		for pb.Next() {
			sh.Observe(msgs[0])
			sh.Observe(msgs[1])
		}
	})
}

func TestExponential(t *testing.T) {
	s := New(Config{Exponential: true}, fixedNow)
	c := "10.1.1.1:5000"
	for _, d := range []time.Duration{0, time.Millisecond, time.Millisecond, 2 * time.Millisecond} {
		s.Observe(rep(c, "exists", "/a", 36, 0, d))
	}
	h := s.Snapshot().Latency[0]
	// 1 ms: log2(0.001) = -9.966, *8 = -79.73, ceil -79, minus 1 = bucket
	// -80 (2^(-10), 2^(-79/8)]. 2 ms is exactly 2^-8.966: bucket -72.
	want := &ExpBuckets{Scale: 3, ZeroCount: 1, Offset: -80, Counts: []uint64{2, 0, 0, 0, 0, 0, 0, 0, 1}}
	if diff := cmp.Diff(want, h.Exp); diff != "" {
		t.Errorf("Exp (-want +got):\n%s", diff)
	}
	if h.Count != 4 {
		t.Errorf("Count = %d, want 4", h.Count)
	}
}

// TestConcurrent runs workers and scrapes at once (meaningful under -race)
// and checks that no request is lost or double counted.
func TestConcurrent(t *testing.T) {
	const workers, per = 4, 5000
	s := New(Config{Shards: workers}, fixedNow)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.Snapshot()
			}
		}
	}()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh := s.Shard(w)
			for i := range per {
				sh.Observe(req(fmt.Sprintf("10.0.%d.%d:1000", w, i%50), "exists", fmt.Sprintf("/p%d", i%30), 10))
			}
		}()
	}
	wg.Wait()
	close(stop)
	var n uint64
	for _, r := range s.Snapshot().Requests {
		n += r.Count
	}
	if n != workers*per {
		t.Errorf("requests = %d, want %d", n, workers*per)
	}
}

func BenchmarkSnapshot(b *testing.B) {
	s := New(Config{Shards: 2}, fixedNow)
	for i := range 5000 {
		s.Shard(i % 2).Observe(req(fmt.Sprintf("10.0.0.%d:%d", i%50, 1000+i%200), "exists", fmt.Sprintf("/p/%d", i%1000), 30))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.Snapshot()
	}
}

// TestAuthIdentityChanges: a connection's requests count under the
// identity it has when each is made, across authentication, a new TCP
// connection on the same endpoint and replies in between (the shard caches
// the last connection's candidates; every change must drop that cache).
func TestAuthIdentityChanges(t *testing.T) {
	c, other, sibling := "10.1.1.1:5000", "10.1.1.2:5000", "10.1.1.1:5001"
	auth := func(user string) *proto.Message {
		m := req(c, "auth", "", 40)
		m.ZK.AuthScheme, m.ZK.AuthUser = []byte("digest"), []byte(user)
		return m
	}
	tests := []struct {
		name     string
		msgs     []*proto.Message
		want     map[string]uint64 // requests by auth identity
		answered map[string]uint64
	}{
		{
			name: "requests before and after auth",
			msgs: []*proto.Message{req(c, "exists", "/a", 20), rep(c, "exists", "/a", 20, 0, time.Millisecond),
				auth("alice"), req(c, "exists", "/a", 20), rep(c, "exists", "/a", 20, 0, time.Millisecond)},
			want:     map[string]uint64{NoAuth: 1, "digest:alice": 2, Overflow: 0},
			answered: map[string]uint64{NoAuth: 1, "digest:alice": 1, Overflow: 0},
		},
		{
			name: "re-auth as someone else",
			msgs: []*proto.Message{auth("alice"), req(c, "exists", "/a", 20), auth("bob"),
				req(c, "exists", "/a", 20), rep(c, "exists", "/a", 20, 0, time.Millisecond)},
			want:     map[string]uint64{"digest:alice": 2, "digest:bob": 2, Overflow: 0},
			answered: map[string]uint64{"digest:alice": 0, "digest:bob": 1, Overflow: 0},
		},
		{
			name: "new connection on the endpoint starts unauthenticated",
			msgs: []*proto.Message{auth("alice"), req(c, "exists", "/a", 20), req(c, "connect", "", 48),
				req(c, "exists", "/a", 20), rep(c, "exists", "/a", 20, 0, time.Millisecond)},
			want:     map[string]uint64{"digest:alice": 2, NoAuth: 1, Overflow: 0},
			answered: map[string]uint64{"digest:alice": 0, NoAuth: 1, Overflow: 0},
		},
		{
			name: "interleaved connections",
			msgs: []*proto.Message{auth("alice"), req(other, "exists", "/a", 20), req(c, "exists", "/a", 20),
				rep(other, "exists", "/a", 20, 0, time.Millisecond), rep(c, "exists", "/a", 20, 0, time.Millisecond)},
			want:     map[string]uint64{"digest:alice": 2, NoAuth: 1, Overflow: 0},
			answered: map[string]uint64{"digest:alice": 1, NoAuth: 1, Overflow: 0},
		},
		{
			// Both connections are cached at once (different ports); the
			// auth of one must not leave its cached noauth candidate.
			name: "interleaved connections of one client",
			msgs: []*proto.Message{req(c, "exists", "/a", 20), req(sibling, "exists", "/a", 20), auth("alice"),
				req(c, "exists", "/a", 20), rep(sibling, "exists", "/a", 20, 0, time.Millisecond),
				rep(c, "exists", "/a", 20, 0, time.Millisecond), req(sibling, "exists", "/a", 20)},
			want:     map[string]uint64{"digest:alice": 2, NoAuth: 3, Overflow: 0},
			answered: map[string]uint64{"digest:alice": 1, NoAuth: 1, Overflow: 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Config{}, fixedNow)
			for _, m := range tt.msgs {
				s.Observe(m)
			}
			got, answered := map[string]uint64{}, map[string]uint64{}
			for _, a := range s.Snapshot().Auths {
				got[a.Key] = a.Cumulative.Count
				answered[a.Key] = a.Answered
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("requests by identity (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.answered, answered); diff != "" {
				t.Errorf("answered by identity (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPathTableFull: once the path table is full, a shard that saw none of
// its paths still counts each admitted path under its own name and folds
// the others, however it learnt that the table was full.
func TestPathTableFull(t *testing.T) {
	s := New(Config{Shards: 2, MaxPaths: 3}, fixedNow)
	c := "10.1.1.1:5000"
	for _, p := range []string{"/a", "/b", "/c", "/d"} {
		s.Shard(0).Observe(req(c, "exists", p, 10))
	}
	for _, p := range []string{"/e", "/a", "/b", "/f", "/c", "/b/#", "/a"} {
		s.Shard(1).Observe(req(c, "exists", p, 10))
	}
	snap := s.Snapshot()
	got := map[string]uint64{}
	for _, r := range snap.Requests {
		got[r.Path] = r.Count
	}
	want := map[string]uint64{"/a": 3, "/b": 2, "/c": 2, Overflow: 4}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by path (-want +got):\n%s", diff)
	}
	if snap.PathsFolded != 4 || snap.PathsTracked != 3 {
		t.Errorf("PathsFolded = %d, PathsTracked = %d; want 4, 3", snap.PathsFolded, snap.PathsTracked)
	}
}

// TestPathRepeats: paths seen again (a reply's path, a created node's
// delete) are answered by the shard's caches; counts by path and the folded
// count must be what a single lookup would give, for paths short enough for
// the recent-path cache and longer ones, and past the raw cache's cap.
func TestPathRepeats(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
	}{
		{"short", "/r/n"},
		{"at the recent-path limit", "/" + strings.Repeat("x", recentPathLen-6) + "/n"},
		{"longer", "/" + strings.Repeat("y", recentPathLen) + "/n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const maxPaths, distinct = 50, 3000 // raw caps at 200 entries
			s := New(Config{MaxPaths: maxPaths}, fixedNow)
			c := "10.1.1.1:5000"
			path := func(i int) string { return fmt.Sprintf("%sx%d", tt.prefix, i) }
			for i := range distinct {
				// Each path comes back after a run of others, then again
				// much later.
				s.Observe(req(c, "create", path(i), 10))
				if i >= 8 {
					s.Observe(rep(c, "create", path(i-8), 10, 0, time.Millisecond))
				}
			}
			for i := range distinct {
				s.Observe(req(c, "delete", path(i), 10))
			}
			snap := s.Snapshot()
			got := map[string]uint64{}
			for _, r := range snap.Requests {
				got[r.Op+" "+r.Path] += r.Count
			}
			for _, r := range snap.Replies {
				got["reply "+r.Op+" "+r.Path] += r.Count
			}
			want := map[string]uint64{}
			for i := range distinct {
				p := path(i)
				if i >= maxPaths {
					p = Overflow
				}
				want["create "+p]++
				want["delete "+p]++
				if i < distinct-8 {
					want["reply create "+p]++
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counts by path (-want +got):\n%s", diff)
			}
			if want := uint64(3*(distinct-maxPaths) - 8); snap.PathsFolded != want {
				t.Errorf("PathsFolded = %d, want %d", snap.PathsFolded, want)
			}
		})
	}
}

// TestObserveHeld: a writer that holds the shard's lock across messages
// counts exactly what Observe counts, elections included; a snapshot taken
// meanwhile waits for Release and then sees every message.
func TestObserveHeld(t *testing.T) {
	s := New(Config{}, fixedNow)
	sh := s.Shard(0)
	c := "10.1.1.1:5000"
	for range 3 {
		sh.ObserveHeld(req(c, "exists", "/a", 20))
		sh.ObserveHeld(rep(c, "exists", "/a", 36, 0, 300*time.Microsecond))
	}
	for i, state := range []string{"looking", "following"} {
		sh.ObserveHeld(&proto.Message{Time: t0.Add(time.Duration(i) * time.Second), Proto: proto.FLE, Kind: proto.Event,
			Op: "notification", FLE: proto.FLEInfo{State: state, Leader: 2, ElectionEpoch: 1}})
	}
	done := make(chan Snapshot, 1)
	go func() { done <- *s.Snapshot() }()
	select {
	case <-done:
		t.Fatal("a snapshot completed while the writer held the shard")
	case <-time.After(50 * time.Millisecond):
	}
	sh.Release()
	snap := <-done
	if diff := cmp.Diff([]OpPath{{Op: "exists", Path: "/a", Traffic: Traffic{3, 60}}}, snap.Requests); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if len(snap.Latency) != 1 || snap.Latency[0].Count != 3 {
		t.Errorf("Latency = %+v, want exists n=3", snap.Latency)
	}
	if snap.Election.Count != 1 || snap.Election.Leader != 2 {
		t.Errorf("Election = %+v, want 1 won by 2", snap.Election)
	}
	// Released, the shard serves Observe and snapshots as before.
	sh.Observe(req(c, "exists", "/a", 20))
	sh.Release() // nothing held: a no-op
	if got := s.Snapshot().Requests[0].Count; got != 4 {
		t.Errorf("after Release, exists requests = %d, want 4", got)
	}
}

// TestCandidateRecreated: a client whose candidate was pruned comes back as
// a new candidate, and its requests by op and path count in the new one
// only, however the shard cached the old one's counters.
func TestCandidateRecreated(t *testing.T) {
	s := New(Config{TopClients: 1}, fixedNow)
	send := func(ip, path string, n int) {
		for range n {
			s.Observe(req(ip+":1000", "exists", path, 10))
		}
	}
	send("10.9.9.9", "/a", 3)
	send("10.9.9.9", "/b", 1)
	// More candidates than the shard keeps after pruning, all heavier:
	// 10.9.9.9 drops out of the top 4 and is pruned.
	for i := range 200 {
		send(fmt.Sprintf("10.1.%d.%d", i/100, i%100), "/c", 5)
	}
	s.Snapshot()
	send("10.9.9.9", "/a", 1000) // elected next, counted from its new candidate
	var got *Top
	for _, c := range s.Snapshot().Clients {
		if c.Key == "10.9.9.9" {
			got = &c
		}
	}
	if got == nil {
		t.Fatal("10.9.9.9 not elected")
	}
	want := []OpTraffic{{Op: "exists", Path: "/a", Traffic: Traffic{1000, 10000}}}
	if diff := cmp.Diff(want, got.Ops); diff != "" {
		t.Errorf("Ops (-want +got):\n%s", diff)
	}
}

// TestHashPath: the recent-path hash depends on every byte of a path and
// spreads similar paths over the slots, or the slots would miss.
func TestHashPath(t *testing.T) {
	seed := uint64(0x1234)
	for n := 1; n <= recentPathLen; n++ {
		p := []byte(strings.Repeat("/a", n)[:n])
		h := hashPath(seed, p)
		if h2 := hashPath(seed, bytes.Clone(p)); h2 != h {
			t.Fatalf("len %d: hash %x then %x", n, h, h2)
		}
		for i := range p {
			q := bytes.Clone(p)
			q[i] ^= 0x10
			if hashPath(seed, q) == h {
				t.Errorf("len %d: flipping byte %d keeps the hash", n, i)
			}
		}
	}
	for _, tt := range []struct {
		name string
		path func(i int) string
	}{
		{"numbered", func(i int) string { return fmt.Sprintf("/bench/r/k%d", i) }},
		{"sequential", func(i int) string { return fmt.Sprintf("/locks/lock-%010d", i) }},
		{"long prefix", func(i int) string { return fmt.Sprintf("/a/very/long/common/prefix/shared/by/all/%d", i) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// n keys in n slots fill 1-1/e (63 %) of them when random.
			for _, level := range []struct {
				name  string
				slots int
				index func(h uint64) uint64
			}{
				{"recentPaths", recentPathSlots, func(h uint64) uint64 { return h >> (64 - recentPathBits) }},
				{"olderPaths", olderPathSlots, func(h uint64) uint64 { return h & (olderPathSlots - 1) }},
			} {
				used := map[uint64]bool{}
				for i := range level.slots {
					used[level.index(hashPath(seed, []byte(tt.path(i))))] = true
				}
				if len(used) < level.slots*55/100 {
					t.Errorf("%s: %d paths use %d of %d slots, want >= 55 %%", level.name, level.slots, len(used), level.slots)
				}
			}
		})
	}
}

// TestSinkTagReplies: a request's SinkTag handed back on its reply (as
// proto/zk does) gives exactly the figures of looking the reply's op and
// path up again, folded paths, long paths and errors included; a tag made
// by another Stats is ignored. The last check shows the tag is what the
// reply is counted by: a reply whose path differs from its tagged
// request's counts under the request's.
func TestSinkTagReplies(t *testing.T) {
	long := "/" + strings.Repeat("l", 2*recentPathLen)
	type exchange struct {
		op, path string
		err      int32
	}
	var traffic []exchange
	for i := range 400 {
		ops := []string{"exists", "getData", "create", "setData", "delete", "auth"}
		path := fmt.Sprintf("/t/n%d", i%37)
		switch i % 9 {
		case 3:
			path = long + fmt.Sprint(i%5)
		case 5:
			path = fmt.Sprintf("/fresh/%d", i) // past MaxPaths: folds
		}
		traffic = append(traffic, exchange{ops[i%len(ops)], path, int32(-(i % 3) * 101)})
	}
	// Another Stats whose ids differ: it has seen other ops and paths first.
	foreign := New(Config{MaxPaths: 20}, fixedNow)
	for i := range 10 {
		foreign.Observe(req("10.9.9.9:1", []string{"sync", "getChildren"}[i%2], fmt.Sprintf("/z/k%d", i), 1))
	}
	run := func(echo string) *Snapshot {
		s := New(Config{MaxPaths: 20, PathLatency: true}, fixedNow)
		c := "10.1.1.1:5000"
		for i, x := range traffic {
			q := req(c, x.op, x.path, 20+i%7)
			s.Observe(q)
			r := rep(c, x.op, x.path, 30+i%5, x.err, time.Duration(i)*time.Microsecond)
			switch echo {
			case "echo":
				r.SinkTag = q.SinkTag
			case "foreign":
				f := req(c, x.op, x.path, 1)
				foreign.Observe(f)
				r.SinkTag = f.SinkTag
			}
			s.Observe(r)
		}
		return s.Snapshot()
	}
	lookedUp := run("none")
	if diff := cmp.Diff(lookedUp, run("echo")); diff != "" {
		t.Errorf("tagged replies differ from looked-up ones (-lookup +tagged):\n%s", diff)
	}
	if diff := cmp.Diff(lookedUp, run("foreign")); diff != "" {
		t.Errorf("replies with another Stats' tags differ from looked-up ones (-lookup +foreign):\n%s", diff)
	}
	if lookedUp.PathsFolded == 0 {
		t.Fatal("no path folded: the test lost its folded case")
	}

	s := New(Config{}, fixedNow)
	q := req("10.1.1.1:5000", "getData", "/asked", 20)
	s.Observe(q)
	if q.SinkTag == 0 {
		t.Fatal("request not tagged")
	}
	r := rep("10.1.1.1:5000", "getData", "/elsewhere", 30, 0, time.Millisecond)
	r.SinkTag = q.SinkTag
	s.Observe(r)
	want := []OpPath{{Op: "getData", Path: "/asked", Traffic: Traffic{1, 30}}}
	if diff := cmp.Diff(want, s.Snapshot().Replies); diff != "" {
		t.Errorf("tagged reply counted under (-want +got):\n%s", diff)
	}
}

// TestFoldFilter: once the path table is full, a new raw path whose
// normalised form was admitted still counts under it (the bitset of
// admitted paths has no false negatives), whether normalising changed it
// or not, and new normalised paths fold.
// Each raw path here is seen once, so none is answered by the raw-path
// caches.
func TestFoldFilter(t *testing.T) {
	const admitted, fresh = 500, 5000
	s := New(Config{MaxPaths: admitted}, fixedNow)
	c := "10.1.1.1:5000"
	for i := range admitted {
		s.Observe(req(c, "exists", fmt.Sprintf("/n%d/1", i), 10)) // admitted as /n<i>/#
	}
	s.Observe(req(c, "exists", "/full", 10)) // folds: the table is full
	for i := range admitted {
		s.Observe(req(c, "exists", fmt.Sprintf("/n%d/2", i), 10))
	}
	for i := range fresh {
		s.Observe(req(c, "exists", fmt.Sprintf("/z%d", i), 10))
	}
	for i := range admitted {
		// Raw paths already normal: the bitset is asked with their raw hash.
		s.Observe(req(c, "exists", fmt.Sprintf("/n%d/#", i), 10))
	}
	snap := s.Snapshot()
	var want []OpPath
	for i := range admitted {
		want = append(want, OpPath{Op: "exists", Path: fmt.Sprintf("/n%d/#", i), Traffic: Traffic{3, 30}})
	}
	want = append(want, OpPath{Op: "exists", Path: Overflow, Traffic: Traffic{fresh + 1, 10 * (fresh + 1)}})
	sortOpPaths := cmpopts.SortSlices(func(a, b OpPath) bool { return a.Path < b.Path })
	if diff := cmp.Diff(want, snap.Requests, sortOpPaths); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if snap.PathsFolded != fresh+1 || snap.PathsTracked != admitted {
		t.Errorf("PathsFolded, PathsTracked = %d, %d, want %d, %d", snap.PathsFolded, snap.PathsTracked, fresh+1, admitted)
	}
}

// TestErrorBound: error replies are counted by op and code up to
// maxErrKeys keys, and the rest under (Overflow, 0), however often they
// repeat and however they share the shard's cache of error counters with
// a frequent key (exists NONODE, between every two of them).
func TestErrorBound(t *testing.T) {
	const codes = maxErrKeys + 50
	s := New(Config{}, fixedNow)
	c := "10.1.1.1:5000"
	s.Observe(rep(c, "exists", "/a", 10, -101, time.Millisecond))
	for range 2 {
		for i := range codes {
			s.Observe(rep(c, "getData", "/a", 10, int32(-1-i), time.Millisecond))
			s.Observe(rep(c, "exists", "/a", 10, -101, time.Millisecond))
		}
	}
	want := []OpError{{Op: "exists", Code: -101, Count: 1 + 2*codes}}
	for i := range maxErrKeys - 1 {
		want = append(want, OpError{Op: "getData", Code: int32(-1 - i), Count: 2})
	}
	want = append(want, OpError{Op: Overflow, Code: 0, Count: 2 * (codes - (maxErrKeys - 1))})
	sortErrs := cmpopts.SortSlices(func(a, b OpError) bool {
		return a.Op < b.Op || a.Op == b.Op && a.Code < b.Code
	})
	if diff := cmp.Diff(want, s.Snapshot().Errors, sortErrs); diff != "" {
		t.Errorf("Errors (-want +got):\n%s", diff)
	}
}

// TestPathSlots: a path looked up once is held by its slot in both
// path caches, so it is answered again without a normalisation, and the
// slot holds no other path of the same length.
func TestPathSlots(t *testing.T) {
	s := New(Config{}, fixedNow)
	sh := s.Shard(0)
	for i := range 100 {
		p := []byte(fmt.Sprintf("/bench/p%06d", i))
		id := sh.pathID(p)
		h := hashPath(sh.seed, p)
		tag := uint8(h >> 32)
		for _, e := range []*pathSlot{&sh.recentPaths[h>>(64-recentPathBits)], &sh.olderPaths[h&(olderPathSlots-1)]} {
			if !e.holds(p, tag) || e.id != id {
				t.Fatalf("%s: slot holds %q (id %d, tag %d), want it with id %d, tag %d", p, e.b[:e.n], e.id, e.tag, id, tag)
			}
			q := []byte(fmt.Sprintf("/bench/q%06d", i))
			if e.holds(q, uint8(hashPath(sh.seed, q)>>32)) {
				t.Fatalf("slot of %s holds %s too", p, q)
			}
		}
	}
}
