package zk

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// TestDamage feeds malformed frames after a handshake and checks both the
// counted reason and that decoding carries on with the next frame.
func TestDamage(t *testing.T) {
	tests := []struct {
		name  string
		dir   proto.Dir
		b     []byte
		want  []pairing
		count map[string]uint64
	}{
		{
			name:  "path length past frame end",
			dir:   proto.ToServer,
			b:     req(1, opExists, i32(100), []byte("/a")), // ustring claims 100 bytes
			want:  []pairing{{proto.Request, "exists", 1, "", false}},
			count: map[string]uint64{"bad_record": 1, "unanswered": 1},
		},
		{
			name:  "trailing bytes after record",
			dir:   proto.ToServer,
			b:     req(1, opSync, ustr("/a"), []byte{9, 9}),
			want:  []pairing{{proto.Request, "sync", 1, "/a", false}},
			count: map[string]uint64{"trailing_bytes": 1, "unanswered": 1},
		},
		{
			name:  "unknown multi op",
			dir:   proto.ToServer,
			b:     req(1, opMulti, i32(77), boolb(false), i32(-1), ustr("/x")),
			want:  []pairing{{proto.Request, "multi", 1, "", false}},
			count: map[string]uint64{"bad_record": 1, "unanswered": 1},
		},
		{
			name:  "bad watcher event",
			dir:   proto.ToClient,
			b:     rep(-1, 5, 0, i32(1)), // WatcherEvent cut after type
			want:  []pairing{{proto.Event, "notification", -1, "", false}},
			count: map[string]uint64{"bad_record": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConn(t, Config{}, true)
			c.handshake()
			c.send(tt.dir, tt.b)
			c.d.Close(c.now)
			if diff := cmp.Diff(tt.want, pairings(c.take())); diff != "" {
				t.Errorf("messages (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.count, counts(c.ctr, proto.ZK)); diff != "" {
				t.Errorf("counters (-want +got):\n%s", diff)
			}
		})
	}
}

// TestBadHandshake: a connection seen from its SYN whose first client frame
// is not a ConnectRequest is counted and decoded as an ordinary request.
func TestBadHandshake(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.send(proto.ToServer, req(1, opSync, ustr("/a")))
	if diff := cmp.Diff([]pairing{{proto.Request, "sync", 1, "/a", false}}, pairings(c.take())); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"bad_handshake": 1}, counts(c.ctr, proto.ZK)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestFourLetterClose(t *testing.T) {
	c := newConn(t, Config{}, true)
	c.send(proto.ToServer, []byte("srvr"))
	c.d.Close(c.now)
	c.d.Close(c.now) // a second Close must not count or emit again
	if diff := cmp.Diff([]pairing{{proto.Request, "srvr", 0, "", false}}, pairings(c.take())); diff != "" {
		t.Errorf("messages (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]uint64{"unanswered": 1}, counts(c.ctr, proto.FourLetter)); diff != "" {
		t.Errorf("counters (-want +got):\n%s", diff)
	}
}

func TestMultiErr(t *testing.T) {
	tests := []struct {
		subs []proto.SubOp
		want int32
	}{
		{nil, 0},
		{[]proto.SubOp{{Err: 0}, {Err: -110}, {Err: -2}}, -110},
		{[]proto.SubOp{{Err: -2}, {Err: -2}}, -2},
		{[]proto.SubOp{{Err: 0}, {Err: 0}}, 0},
	}
	for _, tt := range tests {
		if got := multiErr(tt.subs); got != tt.want {
			t.Errorf("multiErr(%v) = %d, want %d", tt.subs, got, tt.want)
		}
	}
}
