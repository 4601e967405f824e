package render

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
)

// FuzzAppendJSON renders messages with arbitrary strings, numbers and
// addresses and checks the invariants a dump reader relies on: every JSON
// line is one valid object whose path and op survive a round trip through
// encoding/json, and every text line is one line free of control bytes.
func FuzzAppendJSON(f *testing.F) {
	for _, tt := range messages() {
		m := &tt.m
		sub := []byte(nil)
		if len(m.ZK.Sub) > 0 {
			sub = m.ZK.Sub[0].Path
		}
		f.Add(uint8(m.Proto), uint8(m.Kind), m.Op, m.Path, m.ZK.AuthUser, m.Text, sub,
			m.Src.Addr().AsSlice(), m.Session, int64(m.Latency), m.Err, m.Time.UnixNano())
	}
	// One Encoder across inputs, so its caches meet whatever the fuzzer
	// strings together; its lines must equal AppendJSON's.
	var enc Encoder
	enc.ShowText = true
	f.Fuzz(func(t *testing.T, p, k uint8, op string, path, user, text, sub, ip []byte, session, latency int64, code int32, ns int64) {
		var m proto.Message
		m.Reset()
		m.Time = time.Unix(0, ns)
		m.Proto, m.Kind, m.Op = proto.Proto(p%6), proto.Kind(k%5), op
		if a, ok := netip.AddrFromSlice(ip); ok {
			m.Src = netip.AddrPortFrom(a, uint16(session))
		}
		m.Dst = server
		m.Path, m.ZK.AuthUser, m.ZK.AuthScheme, m.Text, m.FLE.Addr = path, user, user, text, text
		m.Session, m.HasSession = session, session&1 == 1
		m.Latency, m.Paired = time.Duration(latency), latency&1 == 1
		m.Zxid, m.HasZxid = latency>>1, latency&2 == 2
		m.Err, m.Xid, m.HasXid = code, code, code&2 == 2
		m.ZK.Sub = append(m.ZK.Sub, proto.SubOp{Op: op, Path: sub, Err: code})
		m.FLE.State, m.ZAB.TxnOp = op, op

		line := AppendJSON(nil, &m, Options{ShowText: true})
		if got := enc.AppendJSON(nil, &m); !bytes.Equal(got, line) {
			t.Fatalf("Encoder.AppendJSON = %q, AppendJSON = %q", got, line)
		}
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("JSON is not one line: %q", line)
		}
		var got map[string]any
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		if m.Path != nil {
			if s, _ := got["path"].(string); s != coerced(t, m.Path) {
				t.Fatalf("path %q round-tripped to %q", m.Path, s)
			}
		}
		if op != "" {
			if s, _ := got["op"].(string); s != coerced(t, []byte(op)) {
				t.Fatalf("op %q round-tripped to %q", op, s)
			}
		}

		txt := AppendText(nil, &m, Options{ShowText: true})
		if bytes.IndexByte(txt, '\n') != len(txt)-1 {
			t.Fatalf("text is not one line: %q", txt)
		}
		for _, c := range txt[:len(txt)-1] {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("text has control byte %#x: %q", c, txt)
			}
		}
	})
}

// FuzzParseFilter: any query either fails with an error or yields a
// filter that Match can use; neither panics.
func FuzzParseFilter(f *testing.F) {
	for _, q := range []string{
		"proto=zk,zab&op=getData&path=/a&client=10.0.0.0/8,10.0.0.5:51234,::ffff:1.2.3.4&min_latency=5ms&pings",
		"client=::ffff:0:0/90", "client=fe80::1%eth0", "min_latency=-1s", "pings=maybe", "path=/a&path=/b",
	} {
		f.Add(q)
	}
	msgs := messages()
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		flt, err := ParseFilter(q)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error text")
			}
			return
		}
		for i := range msgs {
			flt.Match(&msgs[i].m)
		}
	})
}
