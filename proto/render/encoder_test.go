package render

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/zk"
)

// TestEncoderMatchesAppendJSON renders streams of messages with one
// Encoder, whose caches carry over from message to message, and compares
// every line with AppendJSON's, which starts cold each time (and is held to
// the golden file by TestGolden). The streams change what the caches key
// on: the second, the day, the year's range, the endpoint pair, its
// direction, a third pair evicting one of two, and IPv6.
func TestEncoderMatchesAppendJSON(t *testing.T) {
	base := messages()
	third := netip.MustParseAddrPort("192.168.100.200:65535")
	// A client port whose pair with the server shares the slot of
	// (client, server): they evict each other.
	collide := client
	for p := client.Port() + 1; ; p++ {
		collide = netip.AddrPortFrom(client.Addr(), p)
		if connSlot(collide, server) == connSlot(client, server) {
			break
		}
	}
	times := []time.Time{
		t0,
		t0.Add(1),                // same second
		t0.Add(time.Second),      // next second
		t0.Add(-time.Second),     // back again
		t0.Add(24 * time.Hour),   // next day
		time.Unix(0, 0),          // epoch
		time.Unix(-1, 999999999), // just before it
		time.Unix(-1, 999999999), // same, cached
		time.Date(10000, 1, 1, 0, 0, 0, 5, time.UTC), // five-digit year: not cached
		time.Date(10000, 1, 1, 0, 0, 0, 6, time.UTC),
		time.Date(-1, 12, 31, 23, 59, 59, 1, time.UTC),
		t0.In(time.FixedZone("x", 3600)), // same instant, other zone
	}
	pairs := [][2]netip.AddrPort{
		{client, server}, {server, client}, {client, server},
		{third, server}, {client, server}, {server, third}, {server, client},
		{client6, server6}, {server6, client6}, {client, server6}, {{}, {}},
		{client, netip.AddrPortFrom(client.Addr(), 1)},
		// collide and client share a cache slot: they evict each other.
		{client, server}, {collide, server}, {client, server}, {server, collide}, {collide, server},
	}
	for _, opts := range []Options{{}, {ShowText: true}} {
		var e Encoder
		e.Options = opts
		var got, want []byte
		n := 0
		for i, tm := range times {
			for j, pr := range pairs {
				m := base[(i*len(pairs)+j)%len(base)].m
				m.Time, m.Src, m.Dst = tm, pr[0], pr[1]
				if j%3 == 0 { // runs of sessions, and a change between them
					m.Session, m.HasSession = int64(j/6)<<40|1, true
				}
				// The message, then variants that share its head (the
				// head cache hits) or differ from it in one field.
				same := m
				same.Xid, same.HasXid, same.Path = m.Xid+1, true, []byte("/other")
				noSess := same
				noSess.HasSession = !m.HasSession
				otherSess := same
				otherSess.Session, otherSess.HasSession = m.Session+1, true
				otherKind := same
				otherKind.Kind = m.Kind%3 + 1
				otherOp := same
				otherOp.Op = m.Op + "x"
				otherZxid := same
				otherZxid.Zxid, otherZxid.HasZxid = m.Zxid+int64(i*j)-3, true
				otherNs := same
				otherNs.Time = tm.Add(1)
				// Ops that fit the op cache exactly, that do not, that
				// need escapes, and one sharing the op's cache slot.
				fullOp, longOp, escOp, collideOp := same, same, same, same
				fullOp.Op = strings.Repeat("f", 20)
				longOp.Op = strings.Repeat("l", 60)
				escOp.Op = strings.Repeat("\x01", 19) + "\"" // 20 bytes, 121 escaped
				for n := 0; ; n++ {
					collideOp.Op = "op" + strconv.Itoa(n)
					if opSlot(same.Proto, same.Kind, collideOp.Op) == opSlot(same.Proto, same.Kind, same.Op) {
						break
					}
				}
				otherErr := same
				otherErr.Err = -101 // NONODE
				otherSrc := same
				otherSrc.Src = third
				otherDst := same
				otherDst.Dst = third
				// Each variant follows two lines of same's head, so that it
				// meets a kept head that differs from its own in one field.
				stream := []*proto.Message{&m}
				for _, v := range []*proto.Message{&noSess, &otherSess, &otherKind, &otherOp, &otherZxid, &otherZxid, &otherNs, &otherErr, &otherErr, &otherSrc, &otherDst, &fullOp, &fullOp, &longOp, &longOp, &escOp, &escOp, &collideOp, &m} {
					stream = append(stream, &same, &same, v)
				}
				for k, v := range stream {
					got = e.AppendJSON(got[:0], v)
					want = AppendJSON(want[:0], v, opts)
					if diff := cmp.Diff(string(want), string(got)); diff != "" {
						t.Fatalf("message %d (time %d, pair %d, variant %d) (-want +got):\n%s", n, i, j, k, diff)
					}
				}
				n++
			}
		}
	}
}

// TestEncoderRuns renders runs of replies in which one field changes
// from line to line as the Encoder's per-line caches expect it to (the xid
// by one, zxid, error and latency not at all) or does not, on two
// connections and an IPv6 one (not cached) taking turns, and compares
// every line with AppendJSON's. The xids cross every carry of their digits,
// int32's ends and the negative xids of pings and watch events.
func TestEncoderRuns(t *testing.T) {
	var xids []int32
	for _, start := range []int32{-3, 7, 17, 97, 197, 997, 1097, 9997, 99997, 999997, 9999997, 99999997, 999999997, math.MaxInt32 - 2} {
		for x := start; x < start+5 && x >= start; x++ { // stop at wrap-around
			xids = append(xids, x)
		}
	}
	xids = append(xids, math.MinInt32, math.MinInt32+1, 5, 5, 4, 6, -1, 0, 1, -2, -1)
	base := messages()[2].m // the NONODE reply
	pairs := [][2]netip.AddrPort{{server, client}, {server, netip.AddrPortFrom(client.Addr(), 1)}, {server6, client6}}
	tests := []struct {
		name string
		vary func(m *proto.Message, i int)
	}{
		{"xid", func(m *proto.Message, i int) { m.Xid = xids[i%len(xids)] }},
		{"xid and head", func(m *proto.Message, i int) {
			m.Xid = xids[i%len(xids)]
			m.Time = t0.Add(time.Duration(i / 3))
		}},
		{"zxid", func(m *proto.Message, i int) {
			m.Zxid, m.HasZxid = []int64{5, 5, 6, math.MinInt64, math.MaxInt64, 0, 0}[i%7], i%5 != 0
		}},
		{"err", func(m *proto.Message, i int) {
			m.Err = []int32{0, 0, -101, -101, 1, math.MinInt32, -110}[i%7]
		}},
		{"latency", func(m *proto.Message, i int) {
			m.Latency = []time.Duration{5000, 5000, 0, 1, -1, math.MinInt64, math.MaxInt64, 1e9}[i%8]
			m.Paired = i%9 != 0
		}},
		{"size and op", func(m *proto.Message, i int) {
			m.Size = []int{26, 26, 27, 0, 26, math.MinInt64, math.MaxInt64, 188}[i%8]
			if i%5 >= 2 { // a getData reply has a data length after its size
				m.Op, m.ZK.DataLen = "getData", int32(i%3)
			}
			if i%7 == 0 {
				m.Proto = proto.ZAB
			}
		}},
		{"kind", func(m *proto.Message, i int) {
			m.Kind = proto.Kind(i%3 + 1)
			m.Xid = int32(i / 3)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e Encoder
			var got, want []byte
			for i := range 4 * len(xids) {
				// Each pair takes three lines in turn (the third takes
				// the head the second kept), and sees the whole run: its
				// j-th line has the run's j-th value.
				m := base
				p := i / 3 % len(pairs)
				m.Src, m.Dst = pairs[p][0], pairs[p][1]
				tt.vary(&m, i/(3*len(pairs))*3+i%3)
				got = e.AppendJSON(got[:0], &m)
				want = AppendJSON(want[:0], &m, Options{})
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Fatalf("line %d (-want +got):\n%s", i, diff)
				}
			}
		})
	}
}

// TestZKQuiet: when zkOpQuiet and zkQuiet say appendZKJSON has nothing to
// write, it writes nothing, for every op the decoder names (and the
// pseudo-ops connect and ping), every kind, and each field appendZKJSON
// looks at set alone; and the quiet case does occur.
func TestZKQuiet(t *testing.T) {
	ops := []string{"connect", "ping", "", "x"}
	for code := int32(-20); code < 200; code++ {
		if name := zk.OpName(code); !strings.HasPrefix(name, "unknown") {
			ops = append(ops, name)
		}
	}
	fields := []struct {
		name string
		set  func(z *proto.ZKInfo)
	}{
		{"none", func(z *proto.ZKInfo) {}},
		{"tls", func(z *proto.ZKInfo) { z.TLS = true }},
		{"watch", func(z *proto.ZKInfo) { z.Watch = true }},
		{"data_len 0", func(z *proto.ZKInfo) { z.DataLen = 0 }},
		{"data_len 1", func(z *proto.ZKInfo) { z.DataLen = 1 }},
		{"children 0", func(z *proto.ZKInfo) { z.Children = 0 }},
		{"children 1", func(z *proto.ZKInfo) { z.Children = 1 }},
		{"create_mode", func(z *proto.ZKInfo) { z.CreateMode = 1 }},
		{"auth_scheme", func(z *proto.ZKInfo) { z.AuthScheme = []byte{} }},
		{"auth_user", func(z *proto.ZKInfo) { z.AuthUser = []byte{} }},
		{"watches", func(z *proto.ZKInfo) { z.Watches = -1 }},
		{"sub", func(z *proto.ZKInfo) { z.Sub = []proto.SubOp{{}} }},
		{"others", func(z *proto.ZKInfo) {
			z.Timeout, z.ReadOnly, z.Reconnect, z.EventType, z.WatchMode = 1, true, true, 1, 1
		}},
	}
	quiet := 0
	for _, op := range ops {
		for k := range proto.Kind(numKinds + 1) {
			for _, f := range fields {
				var m proto.Message
				m.Reset()
				m.Proto, m.Kind, m.Op = proto.ZK, k, op
				f.set(&m.ZK)
				if !zkOpQuiet(op, k) || !zkQuiet(&m) {
					continue
				}
				quiet++
				if got := appendZKJSON(nil, &m); len(got) != 0 {
					t.Errorf("op %q, kind %v, %s: quiet, but appendZKJSON writes %q", op, k, f.name, got)
				}
			}
		}
	}
	if quiet == 0 {
		t.Error("no message is quiet")
	}
}

// TestOpCacheKeys plants the op cache entry of one (proto, kind, op) in
// the slot of another, for every two protos and kinds with a name and two
// ops, and checks that the Encoder renders the other's line as AppendJSON
// does: an entry is used only for its own key. (Real keys rarely share a
// slot: the hash spreads the few kinds of one op apart.)
func TestOpCacheKeys(t *testing.T) {
	type key struct {
		p  proto.Proto
		k  proto.Kind
		op string
	}
	var keys []key
	for p := range proto.NumProtos {
		for k := range numKinds {
			for _, op := range []string{"getData", "setData"} {
				keys = append(keys, key{proto.Proto(p), proto.Kind(k), op})
			}
		}
	}
	msg := func(c key) *proto.Message {
		var m proto.Message
		m.Reset()
		m.Time, m.Src, m.Dst = t0, client, server
		m.Proto, m.Kind, m.Op = c.p, c.k, c.op
		return &m
	}
	var got, want []byte
	for _, a := range keys {
		for _, b := range keys {
			if a == b {
				continue
			}
			var e Encoder
			got = e.AppendJSON(got[:0], msg(a))
			e.ops[opSlot(b.p, b.k, b.op)] = e.ops[opSlot(a.p, a.k, a.op)]
			got = e.AppendJSON(got[:0], msg(b))
			want = AppendJSON(want[:0], msg(b), Options{})
			if diff := cmp.Diff(string(want), string(got)); diff != "" {
				t.Fatalf("%v in the slot of %v (-want +got):\n%s", a, b, diff)
			}
		}
	}
}

// TestReplyTextFits: the text of the longest zxid and of every error code,
// the longest number included, fits the Encoder's replyText, which it is
// written into in place.
func TestReplyTextFits(t *testing.T) {
	var e Encoder
	zxid := appendJSONInt(nil, `,"zxid":`, math.MinInt64)
	for code := int32(-1000); code <= 1000; code++ {
		for _, c := range []int32{code, math.MinInt32 + code + 1000} {
			if n := len(appendErrJSON(zxid, c)); n > len(e.replyText) {
				t.Errorf("code %d: %d bytes of text, replyText has %d", c, n, len(e.replyText))
			}
		}
	}
}

// TestLatTextFits: the longest latencies' text fits the Encoder's latText,
// the longest xid's its xidText, and the longest size's sizeText.
func TestLatTextFits(t *testing.T) {
	var e Encoder
	var c connText
	for _, d := range []time.Duration{math.MinInt64, math.MinInt64 + 1, math.MaxInt64} {
		if n := len(appendSeconds([]byte(`,"latency":`), d)); n > len(e.latText) {
			t.Errorf("latency %d: %d bytes of text, latText has %d", d, n, len(e.latText))
		}
	}
	if n := len(appendJSONInt(nil, `,"xid":`, math.MinInt32)); n > len(c.xidText) {
		t.Errorf("xid: %d bytes of text, xidText has %d", n, len(c.xidText))
	}
	if n := len(appendJSONInt(nil, `,"size":`, math.MinInt64)) + 2; n > len(e.sizeText) {
		t.Errorf("size: %d bytes of text, sizeText has %d", n, len(e.sizeText))
	}
}

// TestProtoKindJSON: the head table covers out-of-range values as
// Proto.String and Kind.String do.
func TestProtoKindJSON(t *testing.T) {
	for p := range 256 {
		for k := range 256 {
			want := `","proto":"` + proto.Proto(p).String() + `","kind":"` + proto.Kind(k).String() + `"`
			if got := protoKindJSON(proto.Proto(p), proto.Kind(k)); got != want {
				t.Fatalf("protoKindJSON(%d, %d) = %q, want %q", p, k, got, want)
			}
		}
	}
}

func TestEncoderNoAlloc(t *testing.T) {
	buf := make([]byte, 0, 4096)
	var e Encoder
	e.ShowText = true
	msgs := messages()
	i := 0
	n := testing.AllocsPerRun(1000, func() {
		m := &msgs[i%len(msgs)].m
		m.Time = m.Time.Add(time.Duration(i) * 300 * time.Millisecond)
		buf = e.AppendJSON(buf[:0], m)
		i++
	})
	if n != 0 {
		t.Errorf("Encoder.AppendJSON allocates %v times per message", n)
	}
}

// BenchmarkEncoderJSON renders a request and its reply alternately, as a
// dump meets them.
func BenchmarkEncoderJSON(b *testing.B) {
	msgs := messages()
	req, rep := msgs[0].m, msgs[1].m
	buf := make([]byte, 0, 1024)
	var e Encoder
	b.ReportAllocs()
	for b.Loop() {
		buf = e.AppendJSON(buf[:0], &req)
		buf = e.AppendJSON(buf, &rep)
	}
}

// TestPlainJSON compares the eight-bytes-at-a-time scan with the byte
// table for every byte value at every position of strings of 1 to 24
// plain bytes, and for random strings.
func TestPlainJSON(t *testing.T) {
	slow := func(s []byte) bool {
		for _, c := range s {
			if !jsonPlain[c] {
				return false
			}
		}
		return true
	}
	for n := 1; n <= 24; n++ {
		s := bytes.Repeat([]byte("a/"), n)[:n]
		for i := range n {
			for c := range 256 {
				s[i] = byte(c)
				if got, want := plainJSON(s), slow(s); got != want {
					t.Fatalf("plainJSON(%q) = %v, want %v", s, got, want)
				}
			}
			s[i] = 'a'
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		s := make([]byte, r.IntN(40))
		for i := range s {
			s[i] = byte(0x1e + r.IntN(0x64)) // around both ends of the plain range
		}
		if got, want := plainJSON(s), slow(s); got != want {
			t.Fatalf("plainJSON(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestAppendJSONBytes compares appendJSONBytes, whose paths of eight
// bytes or more are checked and copied a word at a time, with
// appendJSONString, which checks a byte at a time, for every byte value at
// every position of strings of 0 to 24 bytes, behind a prefix that must
// survive, and into a buffer with and without room.
func TestAppendJSONBytes(t *testing.T) {
	prefix := []byte(`{"path":`)
	for n := range 25 {
		s := bytes.Repeat([]byte("a/"), n)[:n]
		for i := range max(n, 1) {
			for c := range 256 {
				if n > 0 {
					s[i] = byte(c)
				}
				want := appendJSONString(bytes.Clone(prefix), string(s))
				for _, room := range []int{0, 64} {
					dst := append(make([]byte, 0, len(prefix)+room), prefix...)
					if got := appendJSONBytes(dst, s); !bytes.Equal(got, want) {
						t.Fatalf("appendJSONBytes(%q) (-want +got):\n%s", s, cmp.Diff(string(want), string(got)))
					}
				}
			}
			if n > 0 {
				s[i] = 'a'
			}
		}
	}
}

// TestAppendSecondsRandom compares appendSeconds with a plain decimal
// rendering (seconds, point, nine digits, zeros trimmed) of random
// durations of every magnitude.
func TestAppendSecondsRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for range 100_000 {
		d := time.Duration(r.Int64() >> r.IntN(64))
		if r.IntN(2) == 0 {
			d = -d
		}
		u := uint64(d)
		sign := ""
		if d < 0 {
			sign, u = "-", -u
		}
		want := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%s%d.%09d", sign, u/1e9, u%1e9), "0"), ".")
		if got := string(appendSeconds(nil, d)); got != want {
			t.Fatalf("appendSeconds(%d) = %q, want %q", int64(d), got, want)
		}
	}
}
