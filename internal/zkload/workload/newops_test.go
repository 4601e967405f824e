package workload

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/internal/zktest"
)

// TestRunNewOps runs the newops workload against a real server and checks the
// client's own counts against the steps RunNewOps documents, so a change to the steps
// that is not reflected here, or a server that answers differently, fails.
func TestRunNewOps(t *testing.T) {
	s := zktest.StartStandalone(t, zktest.Options{ExtendedTypes: true})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const R = "/nt"
	rep, err := RunNewOps(ctx, s.Addr, NewOpsSpec{Root: R})
	if err != nil {
		t.Fatalf("RunNewOps: %v", err)
	}
	wantReq := map[string]int{
		"connect": 3, "closeSession": 2, "auth": 2, "whoAmI": 1, "ping": 1, "reconfig": 1,
		"create": 9, "create2": 6, "createContainer": 1, "createTTL": 2, "delete": 2, "setData": 6,
		"exists": 1, "getData": 1, "getChildren": 1, "getACL": 1, "setACL": 2,
		"addWatch": 2, "checkWatches": 2, "removeWatches": 2, "setWatches": 1, "setWatches2": 1,
		"multi": 1, "multiRead": 1, "getEphemerals": 2, "getAllChildrenNumber": 2,
	}
	if diff := cmp.Diff(wantReq, rep.Requests); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	ok := func(n int) map[string]int { return map[string]int{"0": n} }
	wantReplies := map[string]map[string]int{}
	for op, n := range wantReq {
		wantReplies[op] = ok(n)
	}
	wantReplies["exists"] = map[string]int{"-101": 1}
	wantReplies["getAllChildrenNumber"] = map[string]int{"0": 1, "-101": 1}
	wantReplies["checkWatches"] = map[string]int{"0": 1, "-121": 1}
	wantReplies["removeWatches"] = map[string]int{"0": 1, "-121": 1}
	wantReplies["setACL"] = map[string]int{"0": 1, "-103": 1}
	wantReplies["reconfig"] = map[string]int{"-123": 1}
	if diff := cmp.Diff(wantReplies, rep.Replies); diff != "" {
		t.Errorf("replies (-want +got):\n%s", diff)
	}
	wantNotif := map[string]map[string]int{
		R + "/p":        {"NodeDataChanged": 2, "NodeChildrenChanged": 2}, // persistent: fired again
		R + "/tree":     {"NodeDataChanged": 1},
		R + "/tree/a":   {"NodeCreated": 1},
		R + "/tree/a/b": {"NodeCreated": 1, "NodeDataChanged": 1, "NodeDeleted": 1},
		R + "/tree/z":   {"NodeCreated": 1}, // the recursive watch restored by setWatches2
		R + "/x":        {"NodeCreated": 1},
		R:               {"NodeChildrenChanged": 1},
		R + "/d":        {"NodeDataChanged": 1}, // fired at once by setWatches2
		R + "/later":    {"NodeCreated": 1},     // the exist watch set by setWatches
	}
	if diff := cmp.Diff(wantNotif, rep.NotificationsByPath); diff != "" {
		t.Errorf("notifications by path (-want +got):\n%s", diff)
	}
	wantTypes := map[string]int{"NodeCreated": 5, "NodeDeleted": 1, "NodeDataChanged": 5, "NodeChildrenChanged": 3}
	if diff := cmp.Diff(wantTypes, rep.Notifications); diff != "" {
		t.Errorf("notifications (-want +got):\n%s", diff)
	}
	wantModes := map[string]map[string]int{
		"create": {"0": 9}, "create2": {"0": 4, "1": 1, "3": 1},
		"createTTL": {"5": 1, "6": 1}, "createContainer": {"4": 1},
	}
	if diff := cmp.Diff(wantModes, rep.CreateModes); diff != "" {
		t.Errorf("create modes (-want +got):\n%s", diff)
	}
	wantWatch := []PathMode{
		{"addWatch", R + "/p", 0}, {"addWatch", R + "/tree", 1},
		{"checkWatches", R + "/p", 3}, {"checkWatches", R + "/x", 2},
		{"removeWatches", R + "/p", 3}, {"removeWatches", R + "/p", 3},
	}
	if diff := cmp.Diff(wantWatch, rep.WatchModes); diff != "" {
		t.Errorf("watch modes (-want +got):\n%s", diff)
	}
	// ZooKeeper 3.8 answers a create2 inside a multi with a create result (no Stat), and
	// createTTL and createContainer with create2 results.
	wantMultis := []MultiRecord{
		{Op: "multiRead",
			Ops:     []SubOp{{Op: "getData", Path: R + "/p"}, {Op: "getChildren", Path: R + "/tree"}, {Op: "getData", Path: R + "/missing"}},
			Results: []SubOp{{Op: "getData"}, {Op: "getChildren"}, {Op: "error", Err: -101}}},
		{Op: "multi",
			Ops:     []SubOp{{Op: "create2", Path: R + "/m1"}, {Op: "createTTL", Path: R + "/m-ttl"}, {Op: "createContainer", Path: R + "/m-cont"}},
			Results: []SubOp{{Op: "create", Path: R + "/m1"}, {Op: "create2", Path: R + "/m-ttl"}, {Op: "create2", Path: R + "/m-cont"}}},
	}
	if diff := cmp.Diff(wantMultis, rep.Multis); diff != "" {
		t.Errorf("multis (-want +got):\n%s", diff)
	}
	if len(rep.WhoAmI) != 1 || !cmp.Equal(rep.WhoAmI[0][0], ClientInfo{"digest", NewOpsUser}) {
		t.Errorf("whoAmI = %v, want digest %s first", rep.WhoAmI, NewOpsUser)
	}
	if rep.Connections != 3 || rep.Reconnects != 1 {
		t.Errorf("%d connections, %d reconnects; want 3 and 1", rep.Connections, rep.Reconnects)
	}

	// The root exists now: a second run must fail at its first create.
	if _, err := RunNewOps(ctx, s.Addr, NewOpsSpec{Root: R}); err == nil {
		t.Error("second RunNewOps on the same root succeeded")
	}
}

// FuzzRawRecord feeds arbitrary client and server frames to the raw client's
// counting, which parses what a server sends: it must never panic, and must count
// every frame once.
func FuzzRawRecord(f *testing.F) {
	be := binary.BigEndian
	// exists(xid 1, "/a", watch); its reply; a notification; a multiRead of one getData
	// and its error result.
	exists := append(be.AppendUint32(be.AppendUint32(be.AppendUint32(nil, 1), 3), 2), "/a\x01"...)
	reply := be.AppendUint32(be.AppendUint64(be.AppendUint32(nil, 1), 7), 0xffffff9b)
	notif := be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint64(be.AppendUint32(nil, 0xffffffff), 7), 0), 3), 3)
	notif = append(be.AppendUint32(notif, 2), "/a"...)
	mr := multiRec(multiOp{opGetData, pathWatchRec("/a", false)})
	mreq := append(be.AppendUint32(be.AppendUint32(nil, 2), opMultiRead), mr...)
	mrep := be.AppendUint32(be.AppendUint64(be.AppendUint32(nil, 2), 7), 0)
	mrep = append(mrep, 0xff, 0xff, 0xff, 0xff, 0, 0xff, 0xff, 0xff, 0x9b, 0xff, 0xff, 0xff, 0x9b, 0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff)
	f.Add(exists, reply)
	f.Add(notif, notif)
	f.Add(mreq, mrep)
	f.Add([]byte{0, 0, 0, 5, 0, 0, 0, 107}, []byte{0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, out, in []byte) {
		c := newRawCounts()
		s := &rawSession{c: c, pending: map[int32]pendingReq{}, sentConn: true, readConn: true}
		s.record(out)
		s.recordReply(in)
		total := 0
		for _, n := range c.requests {
			total += n
		}
		if total != 1 {
			t.Fatalf("one client frame counted %d times: %v", total, c.requests)
		}
		total = 0
		for _, byErr := range c.replies {
			for _, n := range byErr {
				total += n
			}
		}
		for _, n := range c.notifications {
			total += n
		}
		if total != 1 {
			t.Fatalf("one server frame counted %d times: %v %v", total, c.replies, c.notifications)
		}
	})
}
