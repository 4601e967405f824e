package zk

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The testdata/*.stream files hold the client-port TCP payloads of one
// connection of a real capture, in capture order: one byte FromStart (the
// SYN was captured), then records of direction (0 to server, 1 to client),
// big-endian uint32 length and the payload. zktraffic-*.stream come from
// twitter/zktraffic's test pcaps (testdata/zktraffic at the repository
// root, Apache-2.0); zk38-*.stream from testdata/captures (Debian's
// ZooKeeper 3.8 with go-zookeeper).

type segment struct {
	dir proto.Dir
	b   []byte
}

func readStream(t testing.TB, path string) (fromStart bool, segs []segment) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) == 0 {
		t.Fatalf("%s: empty", path)
	}
	fromStart, b = b[0] == 1, b[1:]
	for len(b) > 0 {
		if len(b) < 5 {
			t.Fatalf("%s: truncated record", path)
		}
		n := int(binary.BigEndian.Uint32(b[1:]))
		if len(b) < 5+n {
			t.Fatalf("%s: truncated payload", path)
		}
		segs = append(segs, segment{proto.Dir(b[0]), b[5 : 5+n]})
		b = b[5+n:]
	}
	return fromStart, segs
}

// replay feeds the segments a millisecond apart and returns the messages
// and counters.
func replay(t testing.TB, fromStart bool, segs []segment) ([]rec, map[string]uint64) {
	c := newConn(t, Config{}, fromStart)
	for _, s := range segs {
		c.send(s.dir, s.b)
	}
	c.d.Close(c.now)
	ctr := counts(c.ctr, proto.ZK)
	for k, v := range counts(c.ctr, proto.FourLetter) {
		ctr["4lw/"+k] = v
	}
	return c.take(), ctr
}

func formatRec(r rec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", r.Proto, r.Kind, r.Op)
	if r.HasXid {
		fmt.Fprintf(&b, " xid=%d", r.Xid)
	}
	if r.HasSession {
		fmt.Fprintf(&b, " session=%#x", r.Session)
	}
	if r.HasZxid {
		fmt.Fprintf(&b, " zxid=%#x", r.Zxid)
	}
	if r.Kind == proto.Reply {
		fmt.Fprintf(&b, " err=%s", ErrName(r.Err))
	}
	if r.Path != "" {
		fmt.Fprintf(&b, " path=%q", r.Path)
	}
	fmt.Fprintf(&b, " size=%d", r.Size)
	if r.Paired {
		fmt.Fprintf(&b, " paired latency=%v", r.Latency)
	}
	for _, f := range []struct {
		name string
		v    int32
		skip int32
	}{{"datalen", r.DataLen, -1}, {"children", r.Children, -1}, {"timeout", r.Timeout, 0},
		{"event", r.EventType, 0}, {"createmode", r.CreateMode, 0}, {"addwatch", r.WatchMode, 0}, {"watches", r.Watches, 0}} {
		if f.v != f.skip {
			fmt.Fprintf(&b, " %s=%d", f.name, f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    bool
	}{{"watch", r.Watch}, {"readonly", r.ReadOnly}, {"reconnect", r.Reconnect}, {"tls", r.TLS}} {
		if f.v {
			fmt.Fprintf(&b, " %s", f.name)
		}
	}
	if r.AuthScheme != "" || r.AuthUser != "" {
		fmt.Fprintf(&b, " auth=%q/%q", r.AuthScheme, r.AuthUser)
	}
	for _, s := range r.Sub {
		fmt.Fprintf(&b, " [%s %q %s]", s.Op, s.Path, ErrName(s.Err))
	}
	if r.Text != "" {
		fmt.Fprintf(&b, " text=%q", r.Text)
	}
	return b.String()
}

// TestGoldenCaptures decodes real captures and compares the messages and
// counters with testdata/<name>.golden (regenerate with -update).
func TestGoldenCaptures(t *testing.T) {
	files, err := filepath.Glob("testdata/zktraffic-*.stream")
	if err != nil || len(files) == 0 {
		t.Fatalf("no streams: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".stream")
		t.Run(name, func(t *testing.T) {
			fromStart, segs := readStream(t, f)
			recs, ctr := replay(t, fromStart, segs)
			var b strings.Builder
			for _, r := range recs {
				b.WriteString(formatRec(r))
				b.WriteByte('\n')
			}
			fmt.Fprintf(&b, "counters %v\n", ctr)
			got := b.String()
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
			// The same bytes in 1-byte Feeds decode the same way.
			var small []segment
			for _, s := range segs {
				for i := range s.b {
					small = append(small, segment{s.dir, s.b[i : i+1]})
				}
			}
			recs2, ctr2 := replay(t, fromStart, small)
			for i := range recs2 {
				recs2[i].Latency, recs2[i].Paired = 0, false
			}
			for i := range recs {
				recs[i].Latency, recs[i].Paired = 0, false
			}
			if diff := cmp.Diff(recs, recs2); diff != "" {
				t.Errorf("byte-by-byte differs (-segments +bytes):\n%s", diff)
			}
			if diff := cmp.Diff(ctr, ctr2); diff != "" {
				t.Errorf("byte-by-byte counters differ (-segments +bytes):\n%s", diff)
			}
		})
	}
}

// TestRealPipelined replays a go-zookeeper session against ZooKeeper 3.8
// with 500 pipelined exists requests: every request is answered, in order,
// with nothing counted.
func TestRealPipelined(t *testing.T) {
	fromStart, segs := readStream(t, "testdata/zk38-pipelined.stream")
	recs, ctr := replay(t, fromStart, segs)
	if diff := cmp.Diff(map[string]uint64{}, ctr); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
	ops := map[string]int{}
	for _, r := range recs {
		ops[r.Kind.String()+" "+r.Op]++
		if r.Kind == proto.Reply && !r.Paired {
			t.Errorf("unpaired reply %s", formatRec(r))
		}
		if r.Op != "connect" && !r.HasSession {
			t.Errorf("no session on %s", formatRec(r))
		}
	}
	// testdata/captures/pipelined.json: one session creating /pipe, then
	// 500 pipelined exists, then closeSession.
	want := map[string]int{
		"request connect": 1, "reply connect": 1, "request create": 1, "reply create": 1,
		"request exists": 500, "reply exists": 500, "request closeSession": 1, "reply closeSession": 1,
	}
	if diff := cmp.Diff(want, ops); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
}
