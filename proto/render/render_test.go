package render

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from current output")

var (
	client  = netip.MustParseAddrPort("10.0.0.5:51234")
	server  = netip.MustParseAddrPort("10.0.0.1:2181")
	client6 = netip.MustParseAddrPort("[2001:db8::5]:40000")
	server6 = netip.MustParseAddrPort("[2001:db8::1]:2181")
	t0      = time.Date(2026, 11, 25, 14, 3, 2, 123456789, time.UTC)
)

// messages are representative of what the decoders emit, one per kind of
// line a reader of the dump meets.
func messages() []struct {
	name string
	m    proto.Message
} {
	base := func(p proto.Proto, k proto.Kind, op string) proto.Message {
		var m proto.Message
		m.Reset()
		m.Time, m.Proto, m.Kind, m.Op = t0, p, k, op
		if k == proto.Request {
			m.Src, m.Dst = client, server
		} else {
			m.Src, m.Dst = server, client
		}
		return m
	}
	getDataReq := base(proto.ZK, proto.Request, "getData")
	getDataReq.Path, getDataReq.ZK.Watch = []byte("/a/b"), true
	getDataReq.Xid, getDataReq.HasXid = 12, true
	getDataReq.Session, getDataReq.HasSession = 0x100000abcd0001, true
	getDataReq.Size = 23

	getDataRep := base(proto.ZK, proto.Reply, "getData")
	getDataRep.Path = []byte("/a/b")
	getDataRep.Xid, getDataRep.HasXid = 12, true
	getDataRep.Zxid, getDataRep.HasZxid = 0x200000005, true
	getDataRep.Session, getDataRep.HasSession = 0x100000abcd0001, true
	getDataRep.ZK.DataLen = 0
	getDataRep.Latency, getDataRep.Paired = 754*time.Microsecond, true
	getDataRep.Size = 98

	noNode := base(proto.ZK, proto.Reply, "exists")
	noNode.Path = []byte("/missing")
	noNode.Xid, noNode.HasXid, noNode.Zxid, noNode.HasZxid = 13, true, 0x200000005, true
	noNode.Err = -101
	noNode.Latency, noNode.Paired = 1234567*time.Nanosecond, true
	noNode.Size = 20

	hostile := base(proto.ZK, proto.Request, "create")
	hostile.Path = []byte("/x\x00\"\\\n\x1b[31mred\xff\xfe\u2028é \xc2\x85")
	hostile.ZK.DataLen, hostile.ZK.CreateMode = 0, 1
	hostile.Xid, hostile.HasXid = 14, true

	event := base(proto.ZK, proto.Event, "notification")
	event.Path = []byte("/a/b")
	event.Xid, event.HasXid, event.Zxid, event.HasZxid = -1, true, 0x200000006, true
	event.ZK.EventType = 3

	connect := base(proto.ZK, proto.Reply, "connect")
	connect.Session, connect.HasSession = 0x100000abcd0001, true
	connect.ZK.Timeout = 30000
	connect.Latency, connect.Paired = 2*time.Millisecond, true

	connect6 := base(proto.ZK, proto.Request, "connect")
	connect6.Src, connect6.Dst = client6, server6
	connect6.ZK.Timeout, connect6.ZK.ReadOnly, connect6.ZK.Reconnect = 40000, true, true
	connect6.Session, connect6.HasSession = 0x100000abcd0001, true

	auth := base(proto.ZK, proto.Request, "auth")
	auth.Xid, auth.HasXid = -4, true
	auth.ZK.AuthScheme, auth.ZK.AuthUser = []byte("digest"), []byte("tacos")

	multi := base(proto.ZK, proto.Reply, "multi")
	multi.Xid, multi.HasXid = 15, true
	multi.ZK.Sub = []proto.SubOp{
		{Op: "create", Path: []byte("/m/1"), Err: -110},
		{Op: "delete", Path: []byte("/m/2"), Err: -2},
	}
	multi.Latency, multi.Paired = 3*time.Second+500*time.Millisecond, true

	children := base(proto.ZK, proto.Reply, "getChildren2")
	children.Path, children.ZK.Children = []byte("/"), 3
	children.Xid, children.HasXid = 16, true
	children.Latency, children.Paired = 900*time.Nanosecond, true

	setWatches := base(proto.ZK, proto.Request, "setWatches2")
	setWatches.Xid, setWatches.HasXid, setWatches.ZK.Watches = 17, true, 42

	addWatch := base(proto.ZK, proto.Request, "addWatch")
	addWatch.Path, addWatch.ZK.Watch, addWatch.ZK.WatchMode = []byte("/tree"), true, 1
	addWatch.Xid, addWatch.HasXid = 18, true

	removeWatches := base(proto.ZK, proto.Request, "removeWatches")
	removeWatches.Path, removeWatches.ZK.WatchMode = []byte("/a/b"), 2
	removeWatches.Xid, removeWatches.HasXid = 19, true

	// A WatcherType no server defines: the number alone.
	checkWatches := base(proto.ZK, proto.Request, "checkWatches")
	checkWatches.Path, checkWatches.ZK.WatchMode = []byte("/a/b"), 9
	checkWatches.Xid, checkWatches.HasXid = 20, true

	tls := base(proto.ZK, proto.Request, "")
	tls.ZK.TLS = true

	proposal := base(proto.ZAB, proto.Request, "proposal")
	proposal.Src = netip.MustParseAddrPort("127.0.0.1:2888")
	proposal.Dst = netip.MustParseAddrPort("127.0.0.1:40112")
	proposal.Zxid, proposal.HasZxid = 0x100000007, true
	proposal.Session, proposal.HasSession = 0x100000abcd0001, true
	proposal.ZAB = proto.ZABInfo{Type: 2, TxnType: 1, TxnOp: "create", CXid: 14, DataLen: 60}
	proposal.Size = 90

	snap := base(proto.ZAB, proto.Request, "snap")
	snap.ZAB = proto.ZABInfo{Type: 15, SnapSize: 1 << 20}

	fle := base(proto.FLE, proto.Request, "notification")
	fle.FLE = proto.FLEInfo{State: "looking", Leader: 3, ElectionEpoch: 2, PeerEpoch: 1, Version: 2, Sid: 1}

	fleInit := base(proto.FLE, proto.Request, "initial")
	fleInit.FLE = proto.FLEInfo{Sid: 2, Addr: []byte("127.0.0.2:3888")}

	mntr := base(proto.FourLetter, proto.Reply, "mntr")
	mntr.Text = []byte("zk_version\t3.8.0\nzk_avg_latency\t0\n")
	mntr.Latency, mntr.Paired = 5*time.Millisecond, true

	return []struct {
		name string
		m    proto.Message
	}{
		{"getdata_request", getDataReq},
		{"getdata_reply", getDataRep},
		{"exists_nonode", noNode},
		{"hostile_path", hostile},
		{"notification", event},
		{"connect_reply", connect},
		{"connect_request_ipv6", connect6},
		{"auth_digest", auth},
		{"multi_reply", multi},
		{"children_reply", children},
		{"setwatches", setWatches},
		{"addwatch_recursive", addWatch},
		{"removewatches_data", removeWatches},
		{"checkwatches_unknown_type", checkWatches},
		{"tls", tls},
		{"zab_proposal", proposal},
		{"zab_snap", snap},
		{"fle_notification", fle},
		{"fle_initial", fleInit},
		{"4lw_mntr", mntr},
	}
}

// TestGolden renders every representative message in both formats, with
// and without ShowText, and compares with testdata/render.golden.
func TestGolden(t *testing.T) {
	var got []byte
	for _, tt := range messages() {
		for _, show := range []bool{false, true} {
			opts := Options{ShowText: show}
			got = append(got, "# "...)
			got = append(got, tt.name...)
			if show {
				got = append(got, " show_text"...)
			}
			got = append(got, '\n')
			got = AppendJSON(got, &tt.m, opts)
			got = AppendText(got, &tt.m, opts)
		}
	}
	golden := filepath.Join("testdata", "render.golden")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("render output differs from %s (-want +got):\n%s", golden, diff)
	}
}

// TestJSONFields decodes the JSON of each message with encoding/json and
// checks the fields against the Message, so the golden file is not the only
// judge of correctness.
func TestJSONFields(t *testing.T) {
	for _, tt := range messages() {
		t.Run(tt.name, func(t *testing.T) {
			line := AppendJSON(nil, &tt.m, Options{ShowText: true})
			if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("not one NDJSON line: %q", line)
			}
			var got map[string]any
			if err := json.Unmarshal(line, &got); err != nil {
				t.Fatalf("invalid JSON %q: %v", line, err)
			}
			m := &tt.m
			want := map[string]any{
				"time":  m.Time.UTC().Format(time.RFC3339Nano),
				"proto": m.Proto.String(),
				"kind":  m.Kind.String(),
				"src":   m.Src.String(),
				"dst":   m.Dst.String(),
			}
			if m.Op != "" {
				want["op"] = m.Op
			}
			if m.Path != nil {
				want["path"] = coerced(t, m.Path)
			}
			if m.Paired {
				want["latency"] = m.Latency.Seconds()
			}
			gotTime, _ := time.Parse(time.RFC3339Nano, got["time"].(string))
			got["time"] = gotTime.Format(time.RFC3339Nano)
			for k, w := range want {
				if diff := cmp.Diff(w, got[k]); diff != "" {
					t.Errorf("key %q (-want +got):\n%s", k, diff)
				}
			}
			if _, ok := got["text"]; ok != (m.Proto == proto.FourLetter && m.Text != nil) {
				t.Errorf("text present = %v for proto %v", ok, m.Proto)
			}
		})
	}
}

// TestNoTextByDefault: the 4lw reply text is opt-in in both formats.
func TestNoTextByDefault(t *testing.T) {
	var m proto.Message
	m.Reset()
	m.Proto, m.Kind, m.Op, m.Text = proto.FourLetter, proto.Reply, "mntr", []byte("zk_version\tsecret-ish")
	for name, out := range map[string][]byte{
		"json": AppendJSON(nil, &m, Options{}),
		"text": AppendText(nil, &m, Options{}),
	} {
		if bytes.Contains(out, []byte("zk_version")) {
			t.Errorf("%s shows 4lw text without ShowText: %q", name, out)
		}
	}
}

func TestAppendSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{1, "0.000000001"},
		{1500 * time.Microsecond, "0.0015"},
		{2 * time.Second, "2"},
		{-3 * time.Millisecond, "-0.003"},
		{time.Duration(-1 << 63), "-9223372036.854775808"},
	}
	for _, tt := range tests {
		if got := string(appendSeconds(nil, tt.d)); got != tt.want {
			t.Errorf("appendSeconds(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestAppendHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0ns"},
		{999, "999ns"},
		{time.Microsecond, "1µs"},
		{754 * time.Microsecond, "754µs"},
		{1234567, "1.234ms"},
		{1500 * time.Millisecond, "1.5s"},
		{-2 * time.Millisecond, "-2ms"},
	}
	for _, tt := range tests {
		if got := string(appendHumanDuration(nil, tt.d)); got != tt.want {
			t.Errorf("appendHumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestAppendNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, tt := range messages() {
		m := &tt.m
		opts := Options{ShowText: true}
		if n := testing.AllocsPerRun(100, func() { buf = AppendJSON(buf[:0], m, opts) }); n != 0 {
			t.Errorf("%s: AppendJSON allocates %v times", tt.name, n)
		}
		if n := testing.AllocsPerRun(100, func() { buf = AppendText(buf[:0], m, opts) }); n != 0 {
			t.Errorf("%s: AppendText allocates %v times", tt.name, n)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	m := messages()[1].m
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &m, Options{})
	}
}

func BenchmarkAppendText(b *testing.B) {
	m := messages()[1].m
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendText(buf[:0], &m, Options{})
	}
}

// coerced is what encoding/json makes of b as a string: each invalid byte
// becomes U+FFFD, the same rule AppendJSON follows.
func coerced(t testing.TB, b []byte) string {
	t.Helper()
	enc, err := json.Marshal(string(b))
	if err != nil {
		t.Fatal(err)
	}
	var s string
	if err := json.Unmarshal(enc, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestEmptyChildList: a reply listing no children (or no ephemerals) says
// so with a zero count in both formats, rather than looking like a reply
// that carries no list; a reply of an op without a list prints none.
func TestEmptyChildList(t *testing.T) {
	for _, op := range []string{"getChildren", "getChildren2", "getAllChildrenNumber", "getEphemerals", "getData"} {
		m := &proto.Message{Proto: proto.ZK, Kind: proto.Reply, Op: op, Path: []byte("/x")}
		m.Reset()
		m.Proto, m.Kind, m.Op, m.Path = proto.ZK, proto.Reply, op, []byte("/x")
		if op != "getData" {
			m.ZK.Children = 0
		}
		want := op != "getData"
		js := string(AppendJSON(nil, m, Options{}))
		if got := strings.Contains(js, `"children":0`); got != want {
			t.Errorf("%s reply JSON %s: children 0 printed %v, want %v", op, js, got, want)
		}
		txt := string(AppendText(nil, m, Options{}))
		if got := strings.Contains(txt, " children=0"); got != want {
			t.Errorf("%s reply text %q: children=0 printed %v, want %v", op, txt, got, want)
		}
	}
}
