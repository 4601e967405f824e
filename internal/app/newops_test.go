package app

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/internal/zkload/workload"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/sniff/pipeline"
)

// newopsLine is the part of a dump line TestNewOpsCapture checks.
type newopsLine struct {
	Proto       string   `json:"proto"`
	Kind        string   `json:"kind"`
	Op          string   `json:"op"`
	Session     string   `json:"session"`
	Path        *string  `json:"path"`
	Err         *int32   `json:"err"`
	Latency     *float64 `json:"latency"`
	Watch       bool     `json:"watch"`
	AddWatch    *int32   `json:"add_watch_mode"`
	WatcherType *int32   `json:"watcher_type"`
	WatcherName string   `json:"watcher_name"`
	CreateMode  int32    `json:"create_mode"`
	Reconnect   bool     `json:"reconnect"`
	EventName   string   `json:"event_name"`
	Scheme      string   `json:"auth_scheme"`
	User        string   `json:"auth_user"`
	Sub         []struct {
		Op   string `json:"op"`
		Path string `json:"path"`
		Err  int32  `json:"err"`
	} `json:"sub"`
}

func (l newopsLine) path() string {
	if l.Path == nil {
		return ""
	}
	return *l.Path
}

// TestNewOpsCapture: newops.pcap holds the ZooKeeper 3.6+ operations
// go-zookeeper cannot send (addWatch and the notifications persistent
// watches fire again and again, checkWatches, removeWatches, multiRead with
// a failing op, whoAmI, createTTL, createContainer, getEphemerals,
// getAllChildrenNumber, getACL, setACL, setWatches, setWatches2 after a
// reconnect, reconfig), sent by a raw-frame client to a real ZooKeeper 3.8
// (testdata/gen-captures.sh newops). newops.json is that client's count of
// what went over its sockets; zktap must decode the same, field by field,
// and never print the digest password, its hash or znode data.
func TestNewOpsCapture(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "captures", "newops.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want workload.NewOpsReport
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	out, h, ctr := dumpJSON(t, filepath.Join("..", "..", "testdata", "captures", "newops.pcap"), pipeline.Config{})

	var lines []newopsLine
	for _, line := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		var l newopsLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("dump line is not JSON: %v\n%s", err, line)
		}
		if l.Proto == "zk" {
			lines = append(lines, l)
		}
	}

	inc := func(m map[string]map[string]int, k1, k2 string) {
		if m[k1] == nil {
			m[k1] = map[string]int{}
		}
		m[k1][k2]++
	}
	requests := map[string]int{}
	byPath := map[string]map[string]int{}
	replies := map[string]map[string]int{}
	replyPaths := map[string]map[string]int{}
	notifications := map[string]int{}
	notifByPath := map[string]map[string]int{}
	createModes := map[string]map[string]int{}
	watchRequests := map[string]int{}
	var watchModes []workload.PathMode
	var multis []workload.MultiRecord
	var whoAmI []workload.ClientInfo
	reconnects, unpaired := 0, 0
	for _, l := range lines {
		switch l.Kind {
		case "request":
			requests[l.Op]++
			if l.Path != nil {
				inc(byPath, *l.Path, l.Op)
			}
			switch l.Op {
			case "create", "create2", "createContainer", "createTTL":
				inc(createModes, l.Op, strconv.Itoa(int(l.CreateMode)))
			case "addWatch":
				if l.AddWatch == nil {
					t.Errorf("addWatch %s without add_watch_mode", l.path())
				} else {
					watchModes = append(watchModes, workload.PathMode{Op: l.Op, Path: l.path(), Mode: *l.AddWatch})
				}
			case "checkWatches", "removeWatches":
				if l.WatcherType == nil {
					t.Errorf("%s %s without watcher_type", l.Op, l.path())
					continue
				}
				// The client sends data (2) and any (3) watchers.
				if want := map[int32]string{2: "data", 3: "any"}[*l.WatcherType]; l.WatcherName != want {
					t.Errorf("%s %s: watcher_type %d named %q, want %q", l.Op, l.path(), *l.WatcherType, l.WatcherName, want)
				}
				watchModes = append(watchModes, workload.PathMode{Op: l.Op, Path: l.path(), Mode: *l.WatcherType})
			case "multi", "multiRead":
				m := workload.MultiRecord{Op: l.Op}
				for _, s := range l.Sub {
					m.Ops = append(m.Ops, workload.SubOp{Op: s.Op, Path: s.Path})
				}
				multis = append(multis, m)
			case "connect":
				if l.Reconnect {
					reconnects++
				}
			}
			if l.Watch {
				watchRequests[l.Op]++
			}
		case "reply":
			if l.Latency == nil {
				unpaired++
				continue
			}
			if l.Err == nil {
				t.Errorf("%s reply without err", l.Op)
				continue
			}
			inc(replies, l.Op, strconv.Itoa(int(*l.Err)))
			if l.Path != nil {
				inc(replyPaths, *l.Path, l.Op)
			}
			switch l.Op {
			case "multi", "multiRead":
				var res []workload.SubOp
				for _, s := range l.Sub {
					res = append(res, workload.SubOp{Op: s.Op, Path: s.Path, Err: s.Err})
				}
				for i := range multis {
					if multis[i].Op == l.Op && multis[i].Results == nil {
						multis[i].Results = res
						break
					}
				}
			case "whoAmI":
				whoAmI = append(whoAmI, workload.ClientInfo{Scheme: l.Scheme, User: l.User})
			}
		case "event":
			notifications[l.EventName]++
			inc(notifByPath, l.path(), l.EventName)
		}
	}

	check := func(what string, want, got any) {
		t.Helper()
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			t.Errorf("%s (-client +zktap):\n%s", what, diff)
		}
	}
	check("requests by op", want.Requests, requests)
	check("requests by path", want.RequestsByPath, byPath)
	check("replies by op and error code", want.Replies, replies)
	// Every request is answered, and a reply carries its request's path, or
	// none when the request had none.
	check("replies by their request's path", want.RequestsByPath, replyPaths)
	check("notifications by type", want.Notifications, notifications)
	check("notifications by path and type", want.NotificationsByPath, notifByPath)
	check("create modes", want.CreateModes, createModes)
	check("requests arming a watch", want.WatchRequests, watchRequests)
	check("addWatch modes, checkWatches and removeWatches WatcherTypes", want.WatchModes, watchModes)
	check("multi and multiRead ops and results", want.Multis, multis)
	// zktap reports a whoAmI reply's first identity.
	var wantWho []workload.ClientInfo
	for _, ids := range want.WhoAmI {
		if len(ids) > 0 {
			wantWho = append(wantWho, ids[0])
		}
	}
	check("whoAmI identities", wantWho, whoAmI)
	if reconnects != want.Reconnects {
		t.Errorf("%d reconnecting connect requests, the client sent %d", reconnects, want.Reconnects)
	}
	if unpaired != 0 {
		t.Errorf("%d replies were not paired with a request", unpaired)
	}
	if h.Reasm.Gaps != 0 {
		t.Errorf("reassembly reported %d gaps in a complete capture", h.Reasm.Gaps)
	}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if n := ctr.Get(proto.ZK, r); n != 0 {
			t.Errorf("zk decoder counted %d %s", n, r)
		}
	}

	// The report must hold what this test relies on, or the comparisons
	// above prove little.
	if want.Notifications["NodeDataChanged"] < 2 || want.NotificationsByPath["/newops/p"]["NodeDataChanged"] < 2 {
		t.Errorf("the client saw no persistent watch fire twice: %v", want.NotificationsByPath)
	}
	for _, op := range []string{"addWatch", "checkWatches", "removeWatches", "multiRead", "whoAmI",
		"createTTL", "createContainer", "getEphemerals", "getAllChildrenNumber", "getACL", "setACL",
		"setWatches", "setWatches2", "reconfig", "ping"} {
		if want.Requests[op] == 0 {
			t.Errorf("newops.json has no %s request", op)
		}
	}

	// Secrets on the wire that must not reach the output.
	digest := workload.NewOpsDigest()
	for _, s := range []string{workload.NewOpsPassword, workload.NewOpsData, digest[strings.IndexByte(digest, ':')+1:]} {
		if bytes.Contains(out, []byte(s)) {
			t.Errorf("the dump output contains the secret %q", s)
		}
	}
	if !bytes.Contains(out, []byte(`"auth_user":"`+workload.NewOpsUser+`"`)) {
		t.Errorf("the dump output never names the digest user %q", workload.NewOpsUser)
	}
}
