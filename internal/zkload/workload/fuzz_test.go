package workload

import (
	"encoding/binary"
	"testing"
)

// FuzzTap feeds arbitrary client and server byte streams, in arbitrary chunks, through
// the wire tap's frame parsing. The tap runs inside the workload client against whatever
// a server sends, so it must never panic and must count every complete frame once.
func FuzzTap(f *testing.F) {
	// A ConnectRequest-sized frame then exists(xid 1, "/a"); the ConnectResponse then the
	// exists reply (xid 1, zxid 7, err -101) and a notification (xid -1, NodeDataChanged).
	exists := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 1), 3)
	exists = append(binary.BigEndian.AppendUint32(exists, 2), "/a"...)
	client := append(frame(make([]byte, 44)), frame(exists)...)
	reply := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, 1), 7), 0xffffff9b)
	notif := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(nil, 0xffffffff), 7), 0)
	notif = binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(notif, 3), 3)
	notif = binary.BigEndian.AppendUint32(notif, 2)
	notif = append(notif, "/a"...)
	server := append(append(frame(make([]byte, 36)), frame(reply)...), frame(notif)...)
	// A multi with a create, a delete and the done header.
	multi := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, 2), 14)
	multi = append(binary.BigEndian.AppendUint32(multi, 1), 0, 0xff, 0xff, 0xff, 0xff)
	multi = append(binary.BigEndian.AppendUint32(multi, 2), "/m"...)
	multi = append(binary.BigEndian.AppendUint32(multi, 0xffffffff), 0, 0, 0, 0, 0, 0, 0, 0)
	multi = append(binary.BigEndian.AppendUint32(multi, 2), 0, 0xff, 0xff, 0xff, 0xff)
	multi = append(binary.BigEndian.AppendUint32(multi, 2), "/m"...)
	multi = binary.BigEndian.AppendUint32(multi, 0xffffffff)
	multi = append(binary.BigEndian.AppendUint32(multi, 0xffffffff), 1, 0xff, 0xff, 0xff, 0xff)
	f.Add(append(client, frame(multi)...), server, uint8(3))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2}, []byte{0x80, 0, 0, 0}, uint8(1))
	f.Fuzz(func(t *testing.T, out, in []byte, chunk uint8) {
		c := newCounts(pathKeyFunc("/k"))
		tc := &tapConn{c: c, pending: map[int32]int32{}}
		tc.out.onFrame = tc.request
		tc.in.onFrame = tc.reply
		var frames int
		count := func(b []byte) {
			// Frames the scanner must report: complete length-prefixed frames.
			for len(b) >= 4 {
				n := int(int32(binary.BigEndian.Uint32(b)))
				n = max(n, 0)
				if n > len(b)-4 {
					return
				}
				frames++
				b = b[4+n:]
			}
		}
		count(out)
		step := int(chunk%16) + 1
		for p := out; len(p) > 0; p = p[min(step, len(p)):] {
			tc.out.feed(p[:min(step, len(p))])
		}
		for p := in; len(p) > 0; p = p[min(step, len(p)):] {
			tc.in.feed(p[:min(step, len(p))])
		}
		got := 0
		for _, n := range c.requests {
			got += n
		}
		if got != frames {
			t.Fatalf("tap counted %d client frames, the stream has %d", got, frames)
		}
		if len(tc.pending) > frames {
			t.Fatalf("%d pending xids from %d frames", len(tc.pending), frames)
		}
	})
}
