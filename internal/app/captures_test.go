package app

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/internal/zkload/workload"
	"github.com/zktap/zktap/sniff/pipeline"
)

// The captures under testdata/captures come from a real ZooKeeper 3.8 and
// a real client (testdata/gen-captures.sh); each X.json beside X.pcap is
// the client's own count of what it sent and received on its socket.

func readReport(t *testing.T, name string) workload.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "captures", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var r workload.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// The workload's second multi fails inside (its delete of a missing
	// node gets NONODE). ZooKeeper's reply header says err 0 for a failed
	// multi and the client counts that; zktap reports the failing op's
	// code on the reply so the failure is visible.
	if r.Replies["multi"]["0"] == 2 {
		r.Replies["multi"] = map[string]int{"0": 1, "-101": 1}
	}
	return r
}

// decoded is what the dump of a capture holds, counted the way the
// workload report counts.
type decoded struct {
	requests      map[string]int
	replies       map[string]map[string]int // op -> err code -> n
	notifications map[string]int
	byPath        map[string]map[string]int
	unpaired      int
}

func decodeCapture(t *testing.T, name string, cfg pipeline.Config) (decoded, []dumpLine, pipeline.Health) {
	t.Helper()
	out, h, _ := dumpJSON(t, filepath.Join("..", "..", "testdata", "captures", name+".pcap"), cfg)
	lines := parseDump(t, out)
	d := decoded{requests: map[string]int{}, replies: map[string]map[string]int{},
		notifications: map[string]int{}, byPath: map[string]map[string]int{}}
	eventNames := map[int32]string{1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged"}
	for _, l := range lines {
		if l.Proto != "zk" {
			continue
		}
		switch l.Kind {
		case "request":
			d.requests[l.Op]++
			if l.Path != "" {
				p := l.Path
				if i := strings.Index(p, "/kids/"); i >= 0 {
					p = p[:i] + "/kids/*"
				}
				if d.byPath[p] == nil {
					d.byPath[p] = map[string]int{}
				}
				d.byPath[p][l.Op]++
			}
		case "reply":
			if l.Latency == 0 && l.Op == "unknown" {
				d.unpaired++
				continue
			}
			if d.replies[l.Op] == nil {
				d.replies[l.Op] = map[string]int{}
			}
			d.replies[l.Op][strconv.Itoa(int(*l.Err))]++
		case "event":
			d.notifications[eventNames[l.Event]]++
		}
	}
	return d, lines, h
}

// TestRealCapturesMatchClient: for complete captures, every request the
// client sent is decoded with the right op (and path), every reply is
// paired with its request and carries the error code the client got.
func TestRealCapturesMatchClient(t *testing.T) {
	for _, name := range []string{"workload", "segmented", "pipelined", "duplicated"} {
		t.Run(name, func(t *testing.T) {
			report := name
			if name == "duplicated" {
				report = "workload" // same traffic, rewritten
			}
			want := readReport(t, report)
			got, _, h := decodeCapture(t, name, pipeline.Config{})
			if diff := cmp.Diff(want.Requests, got.requests); diff != "" {
				t.Errorf("requests by op (-client +zktap):\n%s", diff)
			}
			if diff := cmp.Diff(want.Replies, got.replies); diff != "" {
				t.Errorf("replies by op and error (-client +zktap):\n%s", diff)
			}
			if diff := cmp.Diff(want.Notifications, got.notifications, cmpEmpty); diff != "" {
				t.Errorf("notifications (-client +zktap):\n%s", diff)
			}
			if diff := cmp.Diff(want.RequestsByPath, got.byPath); diff != "" {
				t.Errorf("requests by path (-client +zktap):\n%s", diff)
			}
			if got.unpaired != 0 {
				t.Errorf("%d replies were not paired with a request", got.unpaired)
			}
			switch name {
			case "duplicated":
				if h.Reasm.Retransmitted == 0 {
					t.Error("reassembly trimmed no retransmitted bytes in duplicated.pcap")
				}
			}
			if h.Reasm.Gaps != 0 {
				t.Errorf("reassembly reported %d gaps in a complete capture", h.Reasm.Gaps)
			}
		})
	}
}

var cmpEmpty = cmp.Comparer(func(a, b map[string]int) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	return cmp.Equal(a, b)
})

// TestReorderedSegments: reordered.pcap swaps 39 pairs of data segments of
// one direction, often across packets of the other direction. Every
// request and every reply is still decoded. Where a swap moved a request
// behind its own reply (a capture can reorder across directions, the wire
// cannot), that reply is reported unpaired and its request unanswered:
// zktap decodes in capture order and never pairs a reply with a request
// seen after it.
func TestReorderedSegments(t *testing.T) {
	want := readReport(t, "workload")
	got, _, h := decodeCapture(t, "reordered", pipeline.Config{})
	if diff := cmp.Diff(want.Requests, got.requests); diff != "" {
		t.Errorf("requests by op (-client +zktap):\n%s", diff)
	}
	paired := 0
	for _, byErr := range got.replies {
		for _, n := range byErr {
			paired += n
		}
	}
	total := 0
	for _, byErr := range want.Replies {
		for _, n := range byErr {
			total += n
		}
	}
	if paired+got.unpaired != total {
		t.Errorf("replies: %d paired + %d unpaired, client received %d", paired, got.unpaired, total)
	}
	if got.unpaired > 2*39 {
		t.Errorf("%d unpaired replies for 39 swaps", got.unpaired)
	}
	if h.Reasm.OutOfOrder == 0 || h.Reasm.Gaps != 0 {
		t.Errorf("reassembly: %d out-of-order, %d gaps; want some and none", h.Reasm.OutOfOrder, h.Reasm.Gaps)
	}
	t.Logf("%d of %d replies unpaired: their requests were moved behind them", got.unpaired, total)
}

// TestDroppedSegments: dropped.pcap lost five whole create requests in
// capture. zktap reports the gaps, the five replies as unpaired, and every
// other message exactly.
func TestDroppedSegments(t *testing.T) {
	want := readReport(t, "workload")
	got, _, h := decodeCapture(t, "dropped", pipeline.Config{})
	want.Requests["create"] -= 5
	want.Replies["create"]["0"] -= 5
	if diff := cmp.Diff(want.Requests, got.requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want.Replies, got.replies); diff != "" {
		t.Errorf("replies (-want +got):\n%s", diff)
	}
	if got.unpaired != 5 {
		t.Errorf("unpaired replies = %d, want 5 (answers to the lost creates)", got.unpaired)
	}
	if h.Reasm.Gaps != 5 {
		t.Errorf("gaps = %d, want 5", h.Reasm.Gaps)
	}
}

// TestMidstreamJoin: the capture starts in the middle of four busy
// sessions, possibly inside a frame. zktap resynchronises on each and
// decodes the rest: the capture holds 4 closeSession frames and 2049
// exists frames (36,930 client payload bytes, see the README), so at most
// a frame or two per connection may be lost to the cut.
func TestMidstreamJoin(t *testing.T) {
	got, _, _ := decodeCapture(t, "midstream", pipeline.Config{})
	if got.requests["closeSession"] != 4 || got.requests["connect"] != 0 {
		t.Errorf("closeSession %d (want 4), connect %d (want 0)", got.requests["closeSession"], got.requests["connect"])
	}
	if n := got.requests["exists"]; n < 2049-4 || n > 2049 {
		t.Errorf("exists requests = %d, want 2045..2049", n)
	}
	if n, want := got.replies["exists"]["0"], got.requests["exists"]; n < want-8 || n > want {
		t.Errorf("paired exists replies = %d for %d requests", n, want)
	}
}

// TestEnsembleCapture: a 3-node ensemble starting (FLE), a client writing
// through a follower (ZAB REQUEST, PROPOSAL, ACK, COMMIT), the leader
// killed and a new election.
func TestEnsembleCapture(t *testing.T) {
	want := readReport(t, "ensemble")
	got, lines, _ := decodeCapture(t, "ensemble", pipeline.Config{})
	if diff := cmp.Diff(want.Requests, got.requests); diff != "" {
		t.Errorf("client requests (-client +zktap):\n%s", diff)
	}
	if diff := cmp.Diff(want.Replies, got.replies); diff != "" {
		t.Errorf("client replies (-client +zktap):\n%s", diff)
	}
	counts := tally(lines)
	// Writes the client sent through the follower, plus its createSession
	// and closeSession, are forwarded to the leader as ZAB REQUESTs.
	writes := want.Requests["create"] + want.Requests["delete"] + want.Requests["setData"] + want.Requests["multi"]
	if n := counts["zab request request"]; n != writes+want.Requests["sync"]+2 {
		t.Errorf("ZAB REQUESTs = %d, want %d writes + sync + createSession + closeSession", n, writes)
	}
	// Each txn is proposed to and committed on both followers.
	if p, c := counts["zab request proposal"], counts["zab reply commit"]; p != 2*(writes+2) || c != p {
		t.Errorf("proposals %d, commits %d; want %d each", p, c, 2*(writes+2))
	}
	states := map[string]int{}
	for _, l := range lines {
		if l.Proto == "fle" && l.Op == "notification" {
			states[l.State]++
		}
	}
	if states["looking"] == 0 || states["following"]+states["leading"] == 0 {
		t.Errorf("FLE notification states = %v, want looking and following/leading", states)
	}
	if counts["4lw request srvr"] == 0 || counts["4lw request srvr"] != counts["4lw reply srvr"] {
		t.Errorf("srvr polls: %d requests, %d replies", counts["4lw request srvr"], counts["4lw reply srvr"])
	}
}
