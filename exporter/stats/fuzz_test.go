package stats

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/zktap/zktap/proto"
)

// FuzzNormalizePath checks the path normaliser's invariants on arbitrary
// bytes: bounded output, a leading slash (or "?"), no empty segments,
// idempotence, depth respected, and the one-pass loop for paths that are
// never cut agreeing with normalizeLong, which measures before it copies.
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/b/c", "/locks/lock-0000000042", "//x//", "/jobs/123e4567-e89b-12d3-a456-426614174000",
		"/brokers/ids/1001", "rel", "/\x00/\xff", "/zookeeper/quota"} {
		f.Add([]byte(s), uint8(0))
		f.Add([]byte(s), uint8(2))
	}
	f.Fuzz(func(t *testing.T, p []byte, depth uint8) {
		d := int(depth % 8)
		out := normalizePath(nil, p, d)
		if len(p) == 0 {
			if len(out) != 0 {
				t.Fatalf("empty path normalised to %q", out)
			}
			return
		}
		if len(out) > maxPathLen {
			t.Fatalf("len %d > %d", len(out), maxPathLen)
		}
		if p[0] == '/' {
			if long := normalizeLong(nil, p, d); !bytes.Equal(out, long) {
				t.Fatalf("normalizePath(%q, %d) = %q, normalizeLong %q", p, d, out, long)
			}
		}
		if string(out) == "?" {
			return
		}
		if out[0] != '/' || bytes.Contains(out, []byte("//")) || (len(out) > 1 && out[len(out)-1] == '/') {
			t.Fatalf("malformed %q from %q", out, p)
		}
		if d > 0 && bytes.Count(out, []byte("/")) > d {
			t.Fatalf("%q has more than %d segments", out, d)
		}
		if again := normalizePath(nil, out, d); !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %q -> %q -> %q", p, out, again)
		}
	})
}

// FuzzObserve feeds messages built from fuzzed fields and checks that
// Observe neither panics nor lets the path table exceed its cap.
func FuzzObserve(f *testing.F) {
	f.Add(uint8(1), uint8(1), []byte("/a/b"), int32(0), []byte("digest"), []byte("user"), int32(4), int64(1000))
	f.Add(uint8(1), uint8(2), []byte("/locks/lock-0000000001"), int32(-101), []byte{}, []byte{}, int32(0), int64(-5))
	f.Add(uint8(3), uint8(3), []byte("\xff"), int32(7), []byte("sasl"), []byte{}, int32(99), int64(1<<62))
	f.Add(uint8(0x81), uint8(1), []byte("/a"), int32(-101), []byte("digest"), []byte("getData"), int32(0), int64(1000))
	s := New(Config{Shards: 2, MaxPaths: 16, MaxConns: 8, TopClients: 2, TopAuths: 2, PathLatency: true}, time.Now)
	ops := []string{"exists", "getData", "auth", "multi", "connect", "notification", "ping", "closeSession", "setWatches"}
	f.Fuzz(func(t *testing.T, protoN, kind uint8, path []byte, errc int32, scheme, user []byte, ev int32, lat int64) {
		op := ops[int(kind)%len(ops)]
		if protoN&0x80 != 0 {
			// A name built at run time, not a decoder's static string:
			// it misses the op cache and may mint new op names.
			op = string(user)
		}
		m := &proto.Message{
			Proto: proto.Proto(protoN % 6), Kind: proto.Kind(kind % 4), Op: op,
			Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(len(path))}), uint16(errc)),
			Dst: netip.MustParseAddrPort("10.9.9.9:2181"), Path: path, Err: errc,
			Latency: time.Duration(lat), Paired: lat != 0, Size: int(errc),
		}
		m.ZK.AuthScheme, m.ZK.AuthUser, m.ZK.EventType, m.ZK.Watch, m.ZK.Watches = scheme, user, ev, ev%2 == 0, ev
		m.ZK.Sub = []proto.SubOp{{Op: "create", Path: path}}
		m.FLE.State = string(scheme)
		s.Shard(int(kind)).Observe(m)
		snap := s.Snapshot()
		if snap.PathsTracked > 16 {
			t.Fatalf("PathsTracked %d > 16", snap.PathsTracked)
		}
		names := map[string]bool{}
		for _, r := range snap.Requests {
			names[r.Op] = true
		}
		if len(names) > 2*(maxOps+1) {
			t.Fatalf("%d op names in Requests from 2 shards, want <= %d", len(names), 2*(maxOps+1))
		}
	})
}
