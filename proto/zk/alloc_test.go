package zk

import (
	"bytes"
	"testing"

	"github.com/zktap/zktap/proto"
)

// discard is a Sink that keeps nothing.
var discard = proto.SinkFunc(func(*proto.Message) {})

func TestSteadyStateAllocs(t *testing.T) {
	multiReply := cat(
		i32(1), boolb(false), i32(0), ustr("/m/a"),
		i32(5), boolb(false), i32(0), stat(10, 0),
		i32(13), boolb(false), i32(0),
		i32(2), boolb(false), i32(0),
		i32(-1), boolb(true), i32(-1))
	tests := []struct {
		name     string
		req, rep []byte
	}{
		{"exists", req(1, opExists, ustr("/a/b/c"), boolb(true)), rep(1, 5, 0, stat(3, 0))},
		{"getData", req(1, opGetData, ustr("/config/app"), boolb(false)), rep(1, 5, 0, ustr("payload"), stat(7, 0))},
		{"multi", req(1, opMulti, multiReqBody()), rep(1, 5, 0, multiReply)},
		{"notification and ping", req(-2, opPing), cat(rep(-1, 6, 0, i32(3), i32(3), ustr("/w")), rep(-2, 6, 0))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctr := new(proto.Counters)
			d := NewDecoder(Config{}, discard, ctr)
			d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: true})
			d.Feed(proto.ToServer, connReq(0, 30000, 0, false), t0)
			d.Feed(proto.ToClient, connResp(30000, sid, false), t0)
			pair := func() {
				if n := d.Feed(proto.ToServer, tt.req, t0); n != len(tt.req) {
					t.Fatalf("Feed(request) = %d, want %d", n, len(tt.req))
				}
				if n := d.Feed(proto.ToClient, tt.rep, t0); n != len(tt.rep) {
					t.Fatalf("Feed(reply) = %d, want %d", n, len(tt.rep))
				}
			}
			for range 4 {
				pair() // warm up: grow the pending ring, Sub and path storage
			}
			if got := testing.AllocsPerRun(200, pair); got != 0 {
				t.Errorf("allocs per request/reply pair = %v, want 0", got)
			}
			if d.q.n != 0 {
				t.Errorf("%d requests left pending", d.q.n)
			}
			if got := counts(ctr, proto.ZK); len(got) != 0 {
				t.Errorf("counters = %v, want none", got)
			}
		})
	}
	t.Run("reset", func(t *testing.T) {
		d := NewDecoder(Config{}, discard, nil)
		conn := connReq(0, 30000, 0, false)
		ex := req(1, opExists, ustr("/a"), boolb(false))
		ep := proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: true}
		run := func() {
			d.Reset(ep)
			d.Feed(proto.ToServer, conn, t0)
			d.Feed(proto.ToServer, ex, t0)
			d.Close(t0)
		}
		run()
		if got := testing.AllocsPerRun(100, run); got != 0 {
			t.Errorf("allocs per reused connection = %v", got)
		}
	})
}

// pipelined builds a stream of n exists/getData requests and their replies,
// as a client with many outstanding requests produces.
func pipelined(n int) (toServer, toClient []byte, msgs int) {
	var s, c [][]byte
	for i := 1; i <= n; i++ {
		xid := int32(i)
		if i%2 == 0 {
			s = append(s, req(xid, opExists, ustr("/service/node-"+string(rune('a'+i%26))), boolb(true)))
			c = append(c, rep(xid, int64(i), 0, stat(12, 0)))
		} else {
			s = append(s, req(xid, opGetData, ustr("/config/key"), boolb(false)))
			c = append(c, rep(xid, int64(i), 0, ustr("0123456789ab"), stat(12, 0)))
		}
	}
	return bytes.Join(s, nil), bytes.Join(c, nil), 2 * n
}

func BenchmarkDecodePipelined(b *testing.B) {
	const depth = 64
	toServer, toClient, msgs := pipelined(depth)
	d := NewDecoder(Config{}, discard, new(proto.Counters))
	d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: true})
	d.Feed(proto.ToServer, connReq(0, 30000, 0, false), t0)
	d.Feed(proto.ToClient, connResp(30000, sid, false), t0)
	b.SetBytes(int64(len(toServer) + len(toClient)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(proto.ToServer, toServer, t0)
		d.Feed(proto.ToClient, toClient, t0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*msgs), "ns/msg")
}

func BenchmarkResyncScan(b *testing.B) {
	_, toClient, _ := pipelined(64)
	d := NewDecoder(Config{}, discard, new(proto.Counters))
	b.SetBytes(int64(len(toClient)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr})
		d.Feed(proto.ToClient, toClient[5:], t0)
	}
}

// BenchmarkResyncHostile joins a stream of random bytes that opens with a
// plausible reply header claiming 1 MiB, fed in 1460-byte segments the way
// the pipeline offers them (unconsumed bytes again, plus the new segment).
func BenchmarkResyncHostile(b *testing.B) {
	data := make([]byte, 2<<20)
	var x uint32 = 1
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
	}
	copy(data, cat(i32(1<<20), i32(5), i64(7), i32(0)))
	d := NewDecoder(Config{}, discard, new(proto.Counters))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr})
		start := 0
		for end := 1460; start < len(data); end += 1460 {
			end = min(end, len(data))
			start += d.Feed(proto.ToClient, data[start:end], t0)
			if start > end {
				b.Fatalf("skip in resync")
			}
			if end == len(data) {
				break
			}
		}
	}
}
