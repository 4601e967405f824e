package workload

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/internal/zktest"
)

// expectedRequests derives from the spec what Run must send; it mirrors the parts'
// code, so a change to a part that is not reflected here fails the test.
func expectedRequests(s Spec) (req map[string]int, byPath map[string]map[string]int) {
	req = map[string]int{}
	byPath = map[string]map[string]int{}
	add := func(op, path string, n int) {
		req[op] += n
		if path != "" {
			if byPath[path] == nil {
				byPath[path] = map[string]int{}
			}
			byPath[path][op] += n
		}
	}
	R := s.Root
	add("connect", "", 1)
	add("create", R, 1)
	add("closeSession", "", 1)
	add("create", R+"/a", 1)
	add("create", R+"/seq-", 3)
	add("create", R+"/eph", 1)
	add("create", R+"/eph-seq-", 1)
	add("exists", R+"/a", s.Iterations)
	add("exists", R+"/missing", s.Iterations)
	add("getData", R+"/a", s.Iterations)
	add("getChildren2", R, s.Iterations)
	add("create", R+"/w", 1)
	add("getData", R+"/w", 1)
	add("setData", R+"/w", 1)
	add("multi", "", 2)
	add("connect", "", 1)
	add("auth", "", 1)
	add("create", R+"/secret", 1)
	add("getData", R+"/secret", 2)
	add("closeSession", "", 1)
	add("sync", R, 1)
	add("exists", R, s.Pipelined)
	add("create", R+"/big", 1)
	add("getData", R+"/big", 1)
	add("create", R+"/kids", 1)
	add("create", R+"/kids/*", s.Children)
	add("getChildren2", R+"/kids", 1)
	add("create", R+"/d", 1)
	add("create", R+"/d/x", 1)
	add("delete", R+"/d", 2)
	add("delete", R+"/d/x", 1)
	return req, byPath
}

func TestRunFullWorkload(t *testing.T) {
	s := zktest.StartStandalone(t, zktest.Options{JuteMaxBuffer: 4 << 20})
	spec := Spec{Iterations: 2, Pipelined: 50, BigSize: 1 << 20, Children: 300}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rep, err := Run(ctx, s.Addr, spec)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	spec = spec.withDefaults()
	wantReq, wantPath := expectedRequests(spec)
	// go-zookeeper pings on its own timer (every SessionTimeout/3): not part of the
	// workload, so not predictable; every ping must still be answered.
	if rep.Requests["ping"] != rep.Replies["ping"]["0"] {
		t.Errorf("%d pings, %d ping replies", rep.Requests["ping"], rep.Replies["ping"]["0"])
	}
	delete(rep.Requests, "ping")
	delete(rep.Replies, "ping")
	if diff := cmp.Diff(wantReq, rep.Requests); diff != "" {
		t.Errorf("requests mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPath, rep.RequestsByPath); diff != "" {
		t.Errorf("requests by path mismatch (-want +got):\n%s", diff)
	}
	wantMulti := map[string]int{"create": 3, "setData": 1, "check": 1, "delete": 1}
	if diff := cmp.Diff(wantMulti, rep.MultiOps); diff != "" {
		t.Errorf("multi ops mismatch (-want +got):\n%s", diff)
	}
	ok := func(n int) map[string]int { return map[string]int{"0": n} }
	wantReplies := map[string]map[string]int{
		"connect":      ok(2),
		"create":       ok(wantReq["create"]),
		"exists":       {"0": spec.Iterations + spec.Pipelined, "-101": spec.Iterations},
		"getData":      {"0": spec.Iterations + 3, "-102": 1},
		"getChildren2": ok(spec.Iterations + 1),
		"setData":      ok(1),
		"multi":        ok(2), // a failed multi has err 0 in its header
		"auth":         ok(1),
		"sync":         ok(1),
		"delete":       {"0": 2, "-111": 1},
		"closeSession": ok(2),
	}
	if diff := cmp.Diff(wantReplies, rep.Replies); diff != "" {
		t.Errorf("replies mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"NodeDataChanged": 1}, rep.Notifications); diff != "" {
		t.Errorf("notifications mismatch (-want +got):\n%s", diff)
	}
	if rep.Connections != 2 {
		t.Errorf("Connections = %d, want 2", rep.Connections)
	}
	if rep.BytesSent < int64(spec.BigSize) || rep.BytesReceived < int64(spec.BigSize) {
		t.Errorf("bytes sent %d received %d, want both over %d", rep.BytesSent, rep.BytesReceived, spec.BigSize)
	}

	// The root exists now: a second run must fail and say so.
	if _, err := Run(ctx, s.Addr, Spec{Parts: []string{PartSync}}); err == nil {
		t.Error("second Run on the same root succeeded")
	}
}

func TestLoad(t *testing.T) {
	s := zktest.StartStandalone(t, zktest.Options{})
	tests := []struct {
		name     string
		spec     LoadSpec
		min, max float64 // ops/s
	}{
		{name: "paced", spec: LoadSpec{Sessions: 2, Outstanding: 4, Rate: 400, Duration: 2 * time.Second}, min: 300, max: 440},
		{name: "unlimited", spec: LoadSpec{Sessions: 2, Outstanding: 16, Duration: time.Second}, min: 1000, max: 1e7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := Load(context.Background(), s.Addr, tt.spec)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if rep.OpsPerSecond < tt.min || rep.OpsPerSecond > tt.max {
				t.Errorf("%.0f ops/s, want %.0f..%.0f", rep.OpsPerSecond, tt.min, tt.max)
			}
			if got := int64(rep.Requests["exists"]); got != rep.Ops {
				t.Errorf("%d exists on the wire, %d ops counted", got, rep.Ops)
			}
			// Every reply is matched to its request by xid, even with many in flight.
			if diff := cmp.Diff(map[string]int{"0": int(rep.Ops)}, rep.Replies["exists"]); diff != "" || rep.Replies["unmatched"] != nil {
				t.Errorf("exists replies mismatch (-want +got):\n%s\nunmatched: %v", diff, rep.Replies["unmatched"])
			}
			if got := rep.Requests["connect"]; got != tt.spec.Sessions {
				t.Errorf("%d connects, want %d", got, tt.spec.Sessions)
			}
		})
	}
}

// frame builds one length-prefixed frame with the given body.
func frame(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestFrameScannerSplits(t *testing.T) {
	big := make([]byte, 3*headCap)
	// ConnectRequest-sized body, an exists request (xid 1, op 3, path "/a"), an empty
	// frame, and a frame longer than headCap.
	exists := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 3)
	exists = append(binary.BigEndian.AppendUint32(exists, 2), "/a"...)
	var stream []byte
	for _, b := range [][]byte{make([]byte, 44), exists, nil, big} {
		stream = append(stream, frame(b)...)
	}
	type got struct{ Head, Total int }
	want := []got{{44, 44}, {len(exists), len(exists)}, {0, 0}, {headCap, len(big)}}
	for _, chunk := range []int{1, 3, 4, 7, 100, len(stream)} {
		var frames []got
		s := frameScanner{onFrame: func(h []byte, n int) { frames = append(frames, got{len(h), n}) }}
		for p := stream; len(p) > 0; {
			k := min(chunk, len(p))
			s.feed(p[:k])
			p = p[k:]
		}
		if diff := cmp.Diff(want, frames); diff != "" {
			t.Errorf("chunk %d: frames mismatch (-want +got):\n%s", chunk, diff)
		}
	}
}
