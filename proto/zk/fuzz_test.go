package zk

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// fuzzMaxFrame is small so that the fuzzer reaches the length limits.
const fuzzMaxFrame = 4096

// encodeChunks turns (dir, bytes) pieces into the fuzz input format: a
// control byte (bit 0 = direction, bits 1-7 = chunk length-1) followed by
// the chunk.
func encodeChunks(pieces ...any) []byte {
	var out []byte
	for i := 0; i < len(pieces); i += 2 {
		dir, b := pieces[i].(proto.Dir), pieces[i+1].([]byte)
		for len(b) > 0 {
			n := min(len(b), 128)
			out = append(out, byte(n-1)<<1|byte(dir))
			out = append(out, b[:n]...)
			b = b[n:]
		}
	}
	return out
}

// fuzzRun decodes data in the chunk format with d and returns the messages,
// checking the ConnDecoder contract on every Feed.
func fuzzRun(t *testing.T, d *Decoder, got *[]rec, data []byte, fromStart bool) []rec {
	*got = nil
	d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: fromStart})
	var buf [2][]byte
	var skip [2]int
	now := t0
	for len(data) > 0 {
		c := data[0]
		dir := proto.Dir(c & 1)
		n := int(c>>1) + 1
		data = data[1:]
		chunk := data[:min(n, len(data))]
		data = data[len(chunk):]
		if c == 0xff && len(chunk) > 0 && chunk[0] == 0 {
			d.Gap(dir)
			buf[dir] = buf[dir][:0]
			continue
		}
		if s := min(skip[dir], len(chunk)); s > 0 {
			skip[dir] -= s
			chunk = chunk[s:]
		}
		buf[dir] = append(buf[dir], chunk...)
		used := d.Feed(dir, buf[dir], now)
		now = now.Add(time.Microsecond)
		switch {
		case used < 0:
			t.Fatalf("Feed returned %d", used)
		case used > len(buf[dir]) && d.mode != modeTLS:
			t.Fatalf("Feed returned %d > %d outside TLS", used, len(buf[dir]))
		case used >= len(buf[dir]):
			skip[dir] += used - len(buf[dir])
			buf[dir] = buf[dir][:0]
		default:
			buf[dir] = append(buf[dir][:0], buf[dir][used:]...)
		}
		if len(buf[dir]) > 2*(fuzzMaxFrame+4) {
			t.Fatalf("caller holds %d bytes for the decoder, bound is %d", len(buf[dir]), 2*(fuzzMaxFrame+4))
		}
		if d.q.n > d.q.max {
			t.Fatalf("pending %d over max %d", d.q.n, d.q.max)
		}
	}
	d.Close(now)
	return *got
}

func FuzzDecode(f *testing.F) {
	ts, tc := conversation()
	var pieces []any
	for i := range ts {
		pieces = append(pieces, proto.ToServer, ts[i])
		if i < len(tc) {
			pieces = append(pieces, proto.ToClient, tc[i])
		}
	}
	pieces = append(pieces, proto.ToClient, tc[len(tc)-1])
	conv := encodeChunks(pieces...)
	f.Add(conv, true)
	f.Add(conv[7:], false)
	f.Add(encodeChunks(proto.ToServer, bytes.Join(ts[1:], nil), proto.ToClient, bytes.Join(tc[1:], nil)), false)
	f.Add(encodeChunks(proto.ToServer, []byte("ruok\n"), proto.ToClient, []byte("imok")), true)
	f.Add(encodeChunks(proto.ToServer, cat([]byte("stmk"), i64(1)), proto.ToClient, []byte("1")), true)
	f.Add(encodeChunks(proto.ToServer, []byte{0x16, 0x03, 0x01, 0, 5, 1, 2, 3, 4, 5}), true)
	f.Add(encodeChunks(
		proto.ToServer, connReq(0, 30000, 0),
		proto.ToClient, connResp(30000, sid),
		proto.ToServer, req(1, opMultiRead, cat(i32(4), boolb(false), i32(-1), ustr("/r"), boolb(false), i32(-1), boolb(true), i32(-1))),
		proto.ToServer, req(2, opSetWatches2, cat(i64(1), strs("/a"), strs(), strs(), strs("/p"), strs())),
		proto.ToServer, req(3, opSasl, ustr(`username="u"`)),
		proto.ToClient, rep(3, 0, 0, ustr("x")),
		proto.ToClient, rep(1, 5, 0, cat(i32(4), boolb(false), i32(0), ustr("d"), stat(1, 0), i32(-1), boolb(true), i32(-1))),
	), true)
	f.Add(encodeChunks(proto.ToServer, cat(i32(1<<30), []byte("garbage")), proto.ToClient, cat(i32(-7), []byte("more"))), true)

	// Real captures, segment by segment.
	files, _ := filepath.Glob("testdata/*.stream")
	for _, file := range files {
		fromStart, segs := readStream(f, file)
		var pieces []any
		for _, s := range segs {
			pieces = append(pieces, s.dir, s.b)
		}
		if in := encodeChunks(pieces...); len(in) < 8<<10 {
			f.Add(in, fromStart)
		}
	}

	var got []rec
	d := NewDecoder(Config{MaxFrame: fuzzMaxFrame, MaxPending: 16},
		proto.SinkFunc(func(m *proto.Message) { got = append(got, snapshot(m)) }), new(proto.Counters))
	f.Fuzz(func(t *testing.T, data []byte, fromStart bool) {
		first := fuzzRun(t, d, &got, data, fromStart)
		// The same input decoded again, by the reused decoder, gives the
		// same messages.
		second := fuzzRun(t, d, &got, data, fromStart)
		if diff := cmp.Diff(first, second); diff != "" {
			t.Fatalf("second decode differs (-first +second):\n%s", diff)
		}
		for _, r := range first {
			if r.Op == "" {
				t.Fatalf("message without Op: %+v", r)
			}
		}
	})
}
