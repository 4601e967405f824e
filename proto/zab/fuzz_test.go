package zab

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// FuzzDecode feeds arbitrary bytes, split at an arbitrary point, to both
// directions, from the start and mid-stream. Invariants: no panic,
// 0 <= n, n <= len(b) unless skipping inside a snapshot, every message has a
// known Op and a Size within the stream, and decoding is deterministic.
func FuzzDecode(f *testing.F) {
	sync, _ := syncStream()
	f.Add(sync, uint16(17), true)
	f.Add(cat(qp(typeFollowerInfo, 4<<32, cat(i64(2), i32(0x10000), i64(0))), ackPkt(zx),
		qp(typeRequest, -1, cat(i64(1), i32(3), i32(opCreate), createReq("/a", 3)), [2]string{"digest", "u:h"})), uint16(30), true)
	f.Add(cat(proposalPkt(zx, "/x"), commitPkt(zx), qp(typePing, zx, nil)), uint16(5), false)
	f.Add(cat(qp(typeSnap, zx, nil), i32(-5), ackPkt(zx)), uint16(0), true)
	f.Fuzz(func(t *testing.T, b []byte, cut uint16, fromStart bool) {
		run := func(dir proto.Dir) []rec {
			fd := newFeeder(fromStart)
			c := int(cut) % (len(b) + 1)
			fd.feed(dir, b[:c], t0)
			fd.feed(dir, b[c:], t0)
			fd.d.Close(t0)
			for _, r := range fd.recs {
				if r.Op == "" || r.Op == "unknown" || r.Size < minPacket || r.Size > len(b) {
					t.Fatalf("bad message %+v (stream %d bytes)", r, len(b))
				}
			}
			return fd.recs
		}
		for _, dir := range []proto.Dir{proto.ToServer, proto.ToClient} {
			a, b2 := run(dir), run(dir)
			if diff := cmp.Diff(a, b2); diff != "" {
				t.Fatalf("not deterministic (-first +second):\n%s", diff)
			}
		}
		// Direct Feed contract check on the whole input.
		d := NewDecoder(Config{}, nil, nil)
		d.Reset(proto.Endpoints{FromStart: fromStart})
		for _, dir := range []proto.Dir{proto.ToServer, proto.ToClient} {
			n := d.Feed(dir, b, t0)
			if n < 0 || (n > len(b) && d.dir[dir].state != stateSnap) {
				t.Fatalf("Feed returned %d for %d bytes", n, len(b))
			}
		}
	})
}
