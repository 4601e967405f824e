package fle

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

var (
	dialer   = netip.MustParseAddrPort("127.0.0.3:41000")
	acceptor = netip.MustParseAddrPort("127.0.0.1:3888")
	t0       = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func i32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }
func i64(v int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(v)) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// initialV builds a V1/V2 initial message: long version, long sid, int n, n bytes of address.
func initialV(version, sid int64, addr string) []byte {
	return cat(i64(version), i64(sid), i32(int32(len(addr))), []byte(addr))
}

// note builds a length-prefixed notification body of the given form:
// 28 (3.3), 36 (+peerEpoch), 40 (+version 1) or 44+len(config) (version 2).
func note(form int, state int32, leader, zxid, epoch, peerEpoch int64, config string) []byte {
	b := cat(i32(state), i64(leader), i64(zxid), i64(epoch))
	if form >= 36 {
		b = append(b, i64(peerEpoch)...)
	}
	switch {
	case form == 40:
		b = append(b, i32(1)...)
	case form >= 44:
		b = cat(b, i32(2), i32(int32(len(config))), []byte(config))
	}
	return cat(i32(int32(len(b))), b)
}

const cfgText = "server.1=127.0.0.1:2888:3888:participant;0.0.0.0:2181\nversion=0"

type rec struct {
	Dir           proto.Dir
	Op            string
	Kind          proto.Kind
	Size          int
	Zxid          int64
	HasZxid       bool
	Sid           int64
	Addr          string
	State         string
	Leader        int64
	ElectionEpoch int64
	PeerEpoch     int64
	Version       int32
}

type feeder struct {
	d    *Decoder
	buf  [2][]byte
	recs []rec
	ctr  proto.Counters
}

func newFeeder(fromStart bool) *feeder {
	f := &feeder{}
	f.d = NewDecoder(Config{}, proto.SinkFunc(func(m *proto.Message) {
		dir := proto.ToServer
		if m.Src == acceptor {
			dir = proto.ToClient
		}
		f.recs = append(f.recs, rec{Dir: dir, Op: m.Op, Kind: m.Kind, Size: m.Size, Zxid: m.Zxid, HasZxid: m.HasZxid,
			Sid: m.FLE.Sid, Addr: string(m.FLE.Addr), State: m.FLE.State, Leader: m.FLE.Leader,
			ElectionEpoch: m.FLE.ElectionEpoch, PeerEpoch: m.FLE.PeerEpoch, Version: m.FLE.Version})
	}), &f.ctr)
	f.d.Reset(proto.Endpoints{Client: dialer, Server: acceptor, FromStart: fromStart})
	return f
}

func (f *feeder) feed(dir proto.Dir, chunk []byte) {
	f.buf[dir] = append(f.buf[dir], chunk...)
	n := f.d.Feed(dir, f.buf[dir], t0)
	if n < 0 || n > len(f.buf[dir]) {
		panic("bad n")
	}
	f.buf[dir] = append(f.buf[dir][:0], f.buf[dir][n:]...)
}

func (f *feeder) counts() map[string]uint64 {
	out := map[string]uint64{}
	for r := proto.Reason(0); int(r) < proto.NumReasons; r++ {
		if v := f.ctr.Get(proto.FLE, r); v != 0 {
			out[r.String()] = v
		}
	}
	return out
}

func TestDecode(t *testing.T) {
	S, C := proto.ToServer, proto.ToClient
	ev := proto.Event
	n44 := note(44, 2, 3, 0x100000005, -1, 1, cfgText)
	tests := []struct {
		name string
		dir  proto.Dir
		in   []byte
		want []rec
	}{
		{"legacy initial", S, i64(3), []rec{{Dir: S, Op: "initial", Kind: ev, Size: 8, Sid: 3}}},
		{"V1 initial", S, initialV(-65536, 3, "127.0.0.3:3888"), []rec{{Dir: S, Op: "initial", Kind: ev, Size: 34, Sid: 3, Addr: "127.0.0.3:3888"}}},
		{"V2 initial", S, initialV(-65535, 4, "10.0.0.4:3888|[::1]:3888"), []rec{{Dir: S, Op: "initial", Kind: ev, Size: 44, Sid: 4, Addr: "10.0.0.4:3888|[::1]:3888"}}},
		{"initial then notifications", S, cat(initialV(-65536, 3, "h:1"), note(28, 0, 3, 7, 1, 0, ""), note(40, 0, 3, 7, 1, 1, "")), []rec{
			{Dir: S, Op: "initial", Kind: ev, Size: 23, Sid: 3, Addr: "h:1"},
			{Dir: S, Op: "notification", Kind: ev, Size: 32, Zxid: 7, HasZxid: true, State: "looking", Leader: 3, ElectionEpoch: 1},
			{Dir: S, Op: "notification", Kind: ev, Size: 44, Zxid: 7, HasZxid: true, State: "looking", Leader: 3, ElectionEpoch: 1, PeerEpoch: 1, Version: 1},
		}},
		{"acceptor notifications 36 and 44+N", C, cat(note(36, 1, 3, 7, 2, 1, ""), n44), []rec{
			{Dir: C, Op: "notification", Kind: ev, Size: 40, Zxid: 7, HasZxid: true, State: "following", Leader: 3, ElectionEpoch: 2, PeerEpoch: 1},
			{Dir: C, Op: "notification", Kind: ev, Size: len(n44), Zxid: 0x100000005, HasZxid: true, State: "leading", Leader: 3, ElectionEpoch: -1, PeerEpoch: 1, Version: 2},
		}},
		{"observing", C, note(40, 3, 1, 0, 1, 0, ""), []rec{{Dir: C, Op: "notification", Kind: ev, Size: 44, HasZxid: true, State: "observing", Leader: 1, ElectionEpoch: 1, Version: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			whole := newFeeder(true)
			whole.feed(tt.dir, tt.in)
			if diff := cmp.Diff(tt.want, whole.recs); diff != "" {
				t.Fatalf("messages (-want +got):\n%s", diff)
			}
			if c := whole.counts(); len(c) != 0 {
				t.Errorf("unexpected counters %v", c)
			}
			// Every two-piece split and one byte at a time (the 1-byte
			// length segments of omni.pcap) give the same messages.
			for cut := 1; cut < len(tt.in); cut++ {
				f := newFeeder(true)
				f.feed(tt.dir, tt.in[:cut])
				f.feed(tt.dir, tt.in[cut:])
				if diff := cmp.Diff(tt.want, f.recs); diff != "" {
					t.Fatalf("cut %d (-want +got):\n%s", cut, diff)
				}
			}
			f := newFeeder(true)
			for i := range tt.in {
				f.feed(tt.dir, tt.in[i:i+1])
			}
			if diff := cmp.Diff(tt.want, f.recs); diff != "" {
				t.Fatalf("byte by byte (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostile(t *testing.T) {
	good := cat(note(40, 0, 3, 7, 1, 1, ""), note(40, 0, 2, 7, 1, 1, ""))
	tests := []struct {
		name string
		dir  proto.Dir
		in   []byte
		want map[string]uint64
		msgs int
	}{
		{"bad initial version", proto.ToServer, cat(i64(-7), good), map[string]uint64{"bad_handshake": 1, "resync": 1}, 2},
		{"V1 address too long", proto.ToServer, cat(i64(-65536), i64(1), i32(4096), good), map[string]uint64{"bad_handshake": 1, "resync": 1}, 2},
		{"V1 address empty", proto.ToServer, cat(i64(-65536), i64(1), i32(0), good), map[string]uint64{"bad_handshake": 1, "resync": 1}, 2},
		{"negative length", proto.ToClient, cat(i32(-3), good), map[string]uint64{"len_negative": 1, "resync": 1}, 2},
		{"zero length", proto.ToClient, cat(i32(0), good), map[string]uint64{"short_frame": 1, "resync": 1}, 2},
		{"length over 512KiB", proto.ToClient, cat(i32(MaxNotification+1), good), map[string]uint64{"len_too_large": 1, "resync": 1}, 2},
		{"short body skipped", proto.ToClient, cat(i32(8), i64(0), good), map[string]uint64{"bad_record": 1}, 2},
		{"bad state skipped", proto.ToClient, cat(note(40, 9, 3, 7, 1, 1, ""), good), map[string]uint64{"bad_record": 1}, 2},
		{"config length past frame", proto.ToClient, cat(i32(44), i32(0), i64(1), i64(1), i64(1), i64(1), i32(2), i32(100), good), map[string]uint64{"bad_record": 1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFeeder(true)
			f.feed(tt.dir, tt.in)
			if diff := cmp.Diff(tt.want, f.counts()); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
			if len(f.recs) != tt.msgs {
				t.Errorf("got %d messages, want %d: %+v", len(f.recs), tt.msgs, f.recs)
			}
		})
	}
}

func TestMidStreamJoin(t *testing.T) {
	stream := cat(note(44, 0, 3, 7, 1, 1, cfgText), note(40, 0, 2, 7, 1, 1, ""), note(44, 1, 3, 7, 1, 1, cfgText))
	for _, start := range []int{0, 1, 5, 30} {
		f := newFeeder(false)
		f.feed(proto.ToClient, stream[start:])
		want := 3
		if start > 0 {
			want = 2
		}
		if len(f.recs) != want {
			t.Errorf("start %d: got %d messages, want %d", start, len(f.recs), want)
		}
		wantC := map[string]uint64{}
		if start > 0 {
			wantC["resync"] = 1
		}
		if diff := cmp.Diff(wantC, f.counts()); diff != "" {
			t.Errorf("start %d counters (-want +got):\n%s", start, diff)
		}
	}
	// One byte at a time: same messages, one resync episode.
	f0 := newFeeder(false)
	for i := 5; i < len(stream); i++ {
		f0.feed(proto.ToClient, stream[i:i+1])
	}
	if len(f0.recs) != 2 {
		t.Errorf("byte by byte: %d messages, want 2", len(f0.recs))
	}
	if diff := cmp.Diff(map[string]uint64{"resync": 1}, f0.counts()); diff != "" {
		t.Errorf("byte by byte counters (-want +got):\n%s", diff)
	}
	// A connection that carries a single vote after the join (an election
	// sends one or two per connection): a current notification that ends
	// where the bytes end is decoded at once, after a damaged tail too.
	for _, prefix := range [][]byte{nil, stream[30:44]} {
		f1 := newFeeder(false)
		f1.feed(proto.ToClient, cat(prefix, note(44, 0, 3, 7, 1, 1, cfgText)))
		if len(f1.recs) != 1 {
			t.Errorf("one vote after %d bytes of another: %d messages, want 1", len(prefix), len(f1.recs))
		}
	}
	// An older, shorter notification alone is not proof enough: it waits
	// for a second one.
	f2 := newFeeder(false)
	f2.feed(proto.ToClient, note(40, 0, 2, 7, 1, 1, ""))
	if len(f2.recs) != 0 {
		t.Errorf("a lone 40-byte notification decoded %d messages, want 0 until the next", len(f2.recs))
	}
	// After a gap the direction resynchronises too.
	f := newFeeder(true)
	f.feed(proto.ToClient, stream[:20])
	f.d.Gap(proto.ToClient)
	f.buf[proto.ToClient] = nil
	f.feed(proto.ToClient, stream[50:])
	if len(f.recs) != 2 {
		t.Errorf("after gap: %d messages, want 2", len(f.recs))
	}
}

func TestAllocs(t *testing.T) {
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	d.Reset(proto.Endpoints{Client: dialer, Server: acceptor, FromStart: true})
	d.Feed(proto.ToServer, initialV(-65536, 3, "h:1"), t0)
	b := cat(note(44, 0, 3, 7, 1, 1, cfgText), note(40, 1, 3, 7, 1, 1, ""))
	if a := testing.AllocsPerRun(1000, func() {
		if n := d.Feed(proto.ToServer, b, t0); n != len(b) {
			t.Fatalf("n = %d", n)
		}
	}); a != 0 {
		t.Errorf("%v allocations per notification pair, want 0", a)
	}
}

func BenchmarkNotifications(b *testing.B) {
	d := NewDecoder(Config{}, proto.SinkFunc(func(*proto.Message) {}), nil)
	d.Reset(proto.Endpoints{Client: dialer, Server: acceptor, FromStart: true})
	d.Feed(proto.ToServer, i64(3), t0)
	buf := cat(note(44, 0, 3, 7, 1, 1, cfgText), note(40, 1, 3, 7, 1, 1, ""))
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		d.Feed(proto.ToServer, buf, t0)
	}
}

// FuzzDecode: no panic, 0 <= n <= len(b), known Ops with sizes inside the
// input, deterministic over two runs with an arbitrary split.
func FuzzDecode(f *testing.F) {
	f.Add(cat(initialV(-65536, 3, "127.0.0.3:3888"), note(44, 0, 3, 7, 1, 1, cfgText), note(40, 1, 3, 7, 1, 1, "")), uint16(9), true)
	f.Add(cat(i64(2), note(28, 0, 2, 0, 1, 0, "")), uint16(3), true)
	f.Add(cat(note(36, 2, 2, 0, 1, 0, ""), note(40, 1, 3, 7, 1, 1, "")), uint16(40), false)
	f.Fuzz(func(t *testing.T, b []byte, cut uint16, fromStart bool) {
		run := func(dir proto.Dir) []rec {
			fd := newFeeder(fromStart)
			c := int(cut) % (len(b) + 1)
			fd.feed(dir, b[:c])
			fd.feed(dir, b[c:])
			for _, r := range fd.recs {
				if (r.Op != "initial" && r.Op != "notification") || r.Size < 8 || r.Size > len(b) {
					t.Fatalf("bad message %+v", r)
				}
			}
			return fd.recs
		}
		for _, dir := range []proto.Dir{proto.ToServer, proto.ToClient} {
			if diff := cmp.Diff(run(dir), run(dir)); diff != "" {
				t.Fatalf("not deterministic:\n%s", diff)
			}
		}
	})
}
