package proto

import (
	"bytes"
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// How filler fills the slices of a Message.
const (
	fillFull  = iota // every slice holds distinct bytes or sub-operations
	fillEmpty        // every slice is empty but not nil
	fillNil          // every slice is nil
)

// filler sets every field of a Message, recursively, to a value of its own
// that no other field has, and records the buffers it made so that a test
// can overwrite them. Fills with the same seed and mode make equal
// messages that share no memory.
type filler struct {
	t    *testing.T
	mode int
	n    int64 // the last number used
	ip   netip.Addr
	bufs [][]byte // the byte slices made, to overwrite
	subs [][]SubOp
}

func (f *filler) fill(v reflect.Value, name string) {
	f.t.Helper()
	f.n++
	switch v.Interface().(type) {
	case time.Time: // a value; its *Location is never written through
		v.Set(reflect.ValueOf(time.Unix(1700000000, f.n).In(testZone)))
		return
	case netip.AddrPort: // a value; its zone handle is immutable
		v.Set(reflect.ValueOf(netip.AddrPortFrom(f.ip, uint16(f.n))))
		return
	case []byte:
		var b []byte
		switch f.mode {
		case fillFull:
			b = []byte(fmt.Sprintf("%s=%d", name, f.n))
		case fillEmpty:
			b = make([]byte, 0, 8) // room a copy must not share
		}
		if b != nil {
			f.bufs = append(f.bufs, b[:cap(b)])
		}
		v.Set(reflect.ValueOf(b))
		return
	case []SubOp:
		var s []SubOp
		switch f.mode {
		case fillFull:
			s = make([]SubOp, 3, 4)
			for i := range s {
				f.fill(reflect.ValueOf(&s[i]).Elem(), fmt.Sprintf("%s[%d]", name, i))
			}
		case fillEmpty:
			s = make([]SubOp, 0, 4)
		}
		if s != nil {
			f.subs = append(f.subs, s[:cap(s)])
		}
		v.Set(reflect.ValueOf(s))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(f.n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(f.n))
	case reflect.String: // immutable: sharing one is safe
		v.SetString(fmt.Sprintf("%s=%d", name, f.n))
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f.fill(v.Field(i), name+"."+v.Type().Field(i).Name)
		}
	default:
		// A slice, pointer, map, array, interface, channel or function
		// may share memory with the decoder's buffers: Push must copy it,
		// and this test must fill it, before it passes.
		f.t.Fatalf("%s: no rule for %s; teach MessageQueue.Push, Pop and this test", name, v.Type())
	}
}

// clobber overwrites every buffer the fill made.
func (f *filler) clobber() {
	for _, b := range f.bufs {
		for i := range b {
			b[i] = 0xEE
		}
	}
	for _, s := range f.subs {
		for i := range s {
			s[i] = SubOp{Op: "clobbered", Path: []byte("/clobbered"), Err: -1}
		}
	}
}

// testZone is a location other than Local and UTC.
var testZone = time.FixedZone("test", 3600)

// queueCase is a message to push, made twice: once to push and clobber,
// once to compare with.
type queueCase struct {
	name string
	make func(t *testing.T) (*Message, *filler)
}

func fillCase(mode int, ip string) func(t *testing.T) (*Message, *filler) {
	return func(t *testing.T) (*Message, *filler) {
		f := &filler{t: t, mode: mode, ip: netip.MustParseAddr(ip)}
		var m Message
		f.fill(reflect.ValueOf(&m).Elem(), "Message")
		return &m, f
	}
}

// queueCases cover each part of the packed form being there or not.
var queueCases = []queueCase{
	{"full", fillCase(fillFull, "192.0.2.9")},
	{"empty slices", fillCase(fillEmpty, "192.0.2.9")},
	{"nil slices", fillCase(fillNil, "192.0.2.9")},
	{"IPv6 with zone", fillCase(fillFull, "fe80::1%eth0")},
	{"IPv4 in IPv6", fillCase(fillFull, "::ffff:192.0.2.9")},
	{"client request", clientRequest},
	{"client request, Sub storage kept", func(t *testing.T) (*Message, *filler) {
		// What a decoder's Reset leaves after a multi: an empty Sub, not nil.
		m, f := clientRequest(t)
		m.ZK.Sub = make([]SubOp, 0, 4)
		return m, f
	}},
	{"zero", func(t *testing.T) (*Message, *filler) { return &Message{}, &filler{} }},
	{"ZAB only", func(t *testing.T) (*Message, *filler) {
		var m Message
		m.Reset()
		m.Proto, m.ZAB.TxnOp, m.ZAB.SnapSize = ZAB, "create", 1
		return &m, &filler{}
	}},
	{"FLE only", func(t *testing.T) (*Message, *filler) {
		var m Message
		m.Reset()
		m.Proto, m.FLE.Addr = FLE, []byte("10.0.0.1:3888")
		return &m, &filler{bufs: [][]byte{m.FLE.Addr}}
	}},
}

// clientRequest has Reset's defaults: no rarer fields, no ZAB or FLE
// details.
func clientRequest(t *testing.T) (*Message, *filler) {
	var m Message
	m.Reset()
	m.Time, m.Proto, m.Kind, m.Op = time.Unix(1700000000, 1), ZK, Request, "exists"
	m.Src, m.Dst = netip.MustParseAddrPort("10.0.0.5:40000"), netip.MustParseAddrPort("10.0.0.1:2181")
	m.Xid, m.HasXid, m.Session, m.HasSession, m.Size = 7, true, 0x1000, true, 30
	m.Path = []byte("/a/b")
	return &m, &filler{bufs: [][]byte{m.Path}}
}

var queueOpts = cmp.Options{
	cmp.Comparer(func(a, b time.Time) bool { return a == b }), // the same instant, location and monotonic reading
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// TestMessageQueueEveryField fills every field of a Message by reflection,
// with buffers of its own for each slice, pushes it among messages that
// leave out each optional part of the packed form, overwrites every source
// buffer, and pops each into a message holding another's fields. What
// comes out must equal the message as filled. A field added to Message,
// ZKInfo, ZABInfo, FLEInfo or SubOp that Push and Pop do not carry makes
// it fail (or fill stops at a type it has no rule for). Nil and empty
// slices must come out nil and empty: the renderers print an empty path
// but not a nil one.
func TestMessageQueueEveryField(t *testing.T) {
	// Room for 4 strings a message: most cases have 3.
	q := NewMessageQueue(4*len(queueCases), 4096, 16)
	for round := range 2 { // the second after Reset
		var fillers []*filler
		for _, c := range queueCases {
			m, f := c.make(t)
			if !q.Push(m) {
				t.Fatalf("%s: refused after %d messages", c.name, q.Len())
			}
			fillers = append(fillers, f)
		}
		for _, f := range fillers {
			f.clobber()
		}
		if q.Len() != len(queueCases) {
			t.Fatalf("Len = %d after %d pushes", q.Len(), len(queueCases))
		}
		for _, c := range queueCases {
			got, _ := fillCase(fillFull, "203.0.113.7")(t) // another message's fields, as a reused one has
			if !q.Pop(got) {
				t.Fatalf("%s: Pop found nothing", c.name)
			}
			want, _ := c.make(t)
			if diff := cmp.Diff(want, got, queueOpts); diff != "" {
				t.Errorf("round %d, %s: copy differs from the message pushed, or kept fields of the message popped into (-want +got):\n%s", round, c.name, diff)
			}
			for name, b := range byteSlices(reflect.ValueOf(got).Elem(), "Message") {
				if cap(b) != len(b) {
					t.Errorf("%s: %s has cap %d, len %d: appending to it would overwrite the next bytes", c.name, name, cap(b), len(b))
				}
			}
		}
		var m Message
		if q.Pop(&m) || q.Len() != 0 {
			t.Errorf("Pop found a message after the last one (Len %d)", q.Len())
		}
		q.Reset()
	}
}

// leafFields lists the index paths of the fields of a struct type t, down
// to the values filler fills whole (times, endpoints, slices, scalars).
func leafFields(t reflect.Type, prefix []int) [][]int {
	var out [][]int
	for i := range t.NumField() {
		f := t.Field(i)
		idx := append(append([]int(nil), prefix...), i)
		if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeFor[time.Time]() && f.Type != reflect.TypeFor[netip.AddrPort]() {
			out = append(out, leafFields(f.Type, idx)...)
			continue
		}
		out = append(out, idx)
	}
	return out
}

// TestMessageQueueEachField sets each field of a plain client request
// (clientRequest, what Push packs itself) alone, and with it set pushes
// the message, overwrites its buffers, and pops it: what comes out must
// equal what was pushed. A field Push neither leaves to push nor carries,
// as one added to Message would be, fails it. Push's packed form must be
// push's, byte for byte.
func TestMessageQueueEachField(t *testing.T) {
	fields := leafFields(reflect.TypeFor[Message](), nil)
	if len(fields) < 45 {
		t.Fatalf("found %d fields in Message", len(fields))
	}
	for _, ip := range []string{"192.0.2.9", "2001:db8::9"} {
		for _, idx := range fields {
			build := func() (*Message, *filler) {
				m, f := clientRequest(t)
				f.t, f.mode, f.n, f.ip = t, fillFull, 1000, netip.MustParseAddr(ip)
				v := reflect.ValueOf(m).Elem()
				for _, i := range idx {
					v = v.Field(i)
				}
				f.fill(v, fieldName(idx))
				return m, f
			}
			m, f := build()
			name := fmt.Sprintf("%s (%s)", fieldName(idx), ip)
			q, ref := NewMessageQueue(4, 4096, 16), NewMessageQueue(4, 4096, 16)
			if !q.Push(m) || !ref.push(m) {
				t.Fatalf("%s: refused", name)
			}
			if !bytes.Equal(q.buf, ref.buf) || !cmp.Equal(q.times, ref.times, queueOpts) || !cmp.Equal(q.strs, ref.strs) ||
				!cmp.Equal(q.addrs, ref.addrs, queueOpts) || !cmp.Equal(q.subs, ref.subs) {
				t.Errorf("%s: Push packed\n%x %v\npush packed\n%x %v", name, q.buf, q.strs, ref.buf, ref.strs)
			}
			f.clobber()
			var got Message
			if !q.Pop(&got) {
				t.Fatalf("%s: Pop found nothing", name)
			}
			want, _ := build()
			if diff := cmp.Diff(want, &got, queueOpts); diff != "" {
				t.Errorf("%s: copy differs from the message pushed (-want +got):\n%s", name, diff)
			}
		}
	}
}

// fieldName is the dotted name of the field at idx in Message.
func fieldName(idx []int) string {
	t, name := reflect.TypeFor[Message](), ""
	for _, i := range idx {
		name += "." + t.Field(i).Name
		t = t.Field(i).Type
	}
	return name[1:]
}

// byteSlices returns every byte slice in v, recursively, by name.
func byteSlices(v reflect.Value, name string) map[string][]byte {
	out := map[string][]byte{}
	var walk func(v reflect.Value, name string)
	walk = func(v reflect.Value, name string) {
		switch v.Interface().(type) {
		case time.Time, netip.AddrPort:
			return
		case []byte:
			out[name] = v.Bytes()
			return
		}
		switch v.Kind() {
		case reflect.Slice:
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", name, i))
			}
		case reflect.Struct:
			for i := 0; i < v.NumField(); i++ {
				walk(v.Field(i), name+"."+v.Type().Field(i).Name)
			}
		}
	}
	walk(v, name)
	return out
}

// queueMessage is a client request with a path of n bytes.
func queueMessage(n int) *Message {
	var m Message
	m.Reset()
	m.Time, m.Proto, m.Kind, m.Op = time.Unix(1700000000, 1), ZK, Request, "getData"
	m.Src, m.Dst = netip.MustParseAddrPort("10.0.0.5:40000"), netip.MustParseAddrPort("10.0.0.1:2181")
	m.Path = make([]byte, n)
	return &m
}

// TestMessageQueueRoom: a queue refuses a message it has no room for and
// is left as it was; an empty queue takes a message of any size; Reset
// lets go of storage grown past the queue's size.
func TestMessageQueueRoom(t *testing.T) {
	q := NewMessageQueue(8, 1024, 4)
	small := queueMessage(100)
	n := 0
	for q.Push(small) {
		n++
	}
	if n != 8 { // 8 x (68+100) bytes fit in 8 x 68 + 1024
		t.Errorf("took %d messages of 100-byte paths, want 8 (the message limit)", n)
	}
	q.Reset()
	if !q.Push(queueMessage(1000)) || q.Push(queueMessage(1000)) {
		t.Error("a queue with room for one 1000-byte path took none or two")
	}
	var m Message
	if !q.Pop(&m) || len(m.Path) != 1000 || q.Pop(&m) {
		t.Errorf("after a refused push: popped a path of %d bytes, then more", len(m.Path))
	}
	q.Reset()
	if !q.Push(queueMessage(1 << 20)) {
		t.Error("an empty queue refused a 1 MiB path")
	}
	if !q.Pop(&m) || len(m.Path) != 1<<20 {
		t.Errorf("popped a path of %d bytes, want 1 MiB", len(m.Path))
	}
	q.Reset()
	if cap(q.buf) != 8*qHead+1024 {
		t.Errorf("after Reset the queue holds %d bytes, want its size, %d", cap(q.buf), 8*qHead+1024)
	}
}

// TestMessageQueueNoAlloc: pushing and popping allocate nothing while the
// queue has room.
func TestMessageQueueNoAlloc(t *testing.T) {
	for _, c := range queueCases {
		src, _ := c.make(t)
		q := NewMessageQueue(4, 4096, 16)
		var m Message
		if n := testing.AllocsPerRun(1000, func() {
			q.Push(src)
			q.Pop(&m)
			q.Reset()
		}); n != 0 && c.name != "IPv6 with zone" {
			t.Errorf("%s: Push and Pop allocate %v times", c.name, n)
		}
	}
}

// BenchmarkMessageQueue pushes and pops client requests and replies, a
// batch at a time, as a two-stage dump does.
func BenchmarkMessageQueue(b *testing.B) {
	req := queueMessage(12)
	rep := *req
	rep.Kind, rep.Zxid, rep.HasZxid, rep.Latency, rep.Paired = Reply, 5, true, time.Millisecond, true
	msgs := []*Message{req, &rep}
	q := NewMessageQueue(512, 64<<10, 1024)
	var m Message
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if !q.Push(msgs[i&1]) {
			for q.Pop(&m) {
			}
			q.Reset()
			q.Push(msgs[i&1])
		}
		i++
	}
}

// BenchmarkMessageQueuePush pushes the client requests and replies of the
// million-path capture (exists, NONODE) into a two-stage dump's batch, with
// Push and with push, which packs any message.
func BenchmarkMessageQueuePush(b *testing.B) {
	req := queueMessage(14)
	req.Op, req.Xid, req.HasXid, req.Session, req.HasSession = "exists", 7, true, 0x1000, true
	rep := *req
	rep.Kind, rep.Zxid, rep.HasZxid, rep.Latency, rep.Paired, rep.Err = Reply, 5, true, time.Millisecond, true, -101
	msgs := []*Message{req, &rep}
	for _, bb := range []struct {
		name string
		push func(q *MessageQueue, m *Message) bool
	}{
		{"Push", (*MessageQueue).Push},
		{"push", (*MessageQueue).push},
	} {
		b.Run(bb.name, func(b *testing.B) {
			q := NewMessageQueue(1024, 128<<10, 1024)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if !bb.push(q, msgs[i&1]) {
					q.Reset()
					bb.push(q, msgs[i&1])
				}
				i++
			}
		})
	}
}

// FuzzMessageQueue pushes a run of messages built from the input through
// a small queue, starting a new batch whenever one is full, and checks that
// every message pops back equal to what was pushed, after the pushed
// message's buffers have been overwritten. Unlike TestMessageQueueEveryField
// it mixes kinds of messages and sizes in one batch, and reaches the room
// checks at every boundary.
func FuzzMessageQueue(f *testing.F) {
	f.Add([]byte("\x00\x01\x02/zk/path\x00"), uint8(4))
	f.Add([]byte("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0/a/b/c"), uint8(1))
	f.Add(make([]byte, 300), uint8(2))
	ops := []string{"exists", "getData", "multi", "proposal", "notification", "ruok"}
	f.Fuzz(func(t *testing.T, data []byte, room uint8) {
		next := func(n int) []byte { // the next n bytes of data, or fewer
			n = min(n, len(data))
			b := data[:n:n]
			data = data[n:]
			return b
		}
		num := func() int64 {
			var v int64
			for _, c := range next(3) {
				v = v<<8 | int64(c)
			}
			return v
		}
		// bytesOrNil takes a length byte: 0 means nil, 1 empty, n a copy
		// of n-1 bytes of data.
		bytesOrNil := func() []byte {
			l := next(1)
			if len(l) == 0 || l[0] == 0 {
				return nil
			}
			return append(make([]byte, 0, int(l[0])), next(int(l[0])-1)...)
		}
		var want []Message
		var bufs [][][]byte // per message: the buffers its slices point into
		keep := func(b []byte) []byte {
			if b != nil {
				bufs[len(bufs)-1] = append(bufs[len(bufs)-1], b[:cap(b)])
			}
			return b
		}
		for len(data) > 0 && len(want) < 64 {
			bufs = append(bufs, nil)
			var m Message
			m.Reset()
			flags := num()
			m.Time = time.Unix(0, num()*1e6)
			m.Proto, m.Kind, m.Op = Proto(flags&3), Kind(flags>>2&3), ops[int(flags>>4&0xff)%len(ops)]
			ip := netip.AddrFrom4([4]byte{127, 0, 0, byte(flags >> 8)})
			if flags&(1<<16) != 0 {
				ip = netip.MustParseAddr("fe80::1").WithZone("lo")
			}
			m.Src, m.Dst = netip.AddrPortFrom(ip, uint16(num())), netip.AddrPortFrom(netip.IPv4Unspecified(), 2181)
			m.Size, m.Session, m.HasSession = int(num()), num(), flags&(1<<17) != 0
			m.Xid, m.HasXid, m.Zxid, m.HasZxid = int32(num()), flags&(1<<18) != 0, num(), flags&(1<<19) != 0
			m.Err, m.Latency, m.Paired, m.SinkTag = int32(num()), time.Duration(num()), flags&(1<<20) != 0, uint64(num())
			m.Path = keep(bytesOrNil())
			if flags&(1<<21) != 0 {
				z := &m.ZK
				z.Watch, z.DataLen, z.Children, z.CreateMode = flags&(1<<22) != 0, int32(num()), int32(num()), int32(num())
				z.AuthScheme, z.AuthUser = keep(bytesOrNil()), keep(bytesOrNil())
				for range num() % 4 {
					z.Sub = append(z.Sub, SubOp{Op: ops[0], Path: keep(bytesOrNil()), Err: int32(num())})
				}
				m.Text = keep(bytesOrNil())
			}
			if flags&(1<<23) != 0 {
				m.ZAB = ZABInfo{Type: int32(num()), Sid: num(), TxnOp: ops[1], DataLen: int32(num())}
				m.FLE = FLEInfo{Sid: num(), Addr: keep(bytesOrNil()), State: "looking", Leader: num()}
			}
			want = append(want, m)
		}
		// Deep copies of want, to compare with once the buffers are overwritten.
		var golden []Message
		for _, m := range want {
			g := m
			g.Path = bytesCopy(m.Path)
			g.ZK.AuthScheme, g.ZK.AuthUser, g.Text, g.FLE.Addr = bytesCopy(m.ZK.AuthScheme), bytesCopy(m.ZK.AuthUser), bytesCopy(m.Text), bytesCopy(m.FLE.Addr)
			if m.ZK.Sub != nil {
				g.ZK.Sub = make([]SubOp, len(m.ZK.Sub))
				for i, s := range m.ZK.Sub {
					g.ZK.Sub[i] = SubOp{Op: s.Op, Path: bytesCopy(s.Path), Err: s.Err}
				}
			}
			golden = append(golden, g)
		}
		n := int(room%8) + 1
		q := NewMessageQueue(n, 16*n, n)
		popAll := func(from int) {
			var m Message
			for i := from; q.Pop(&m); i++ {
				if diff := cmp.Diff(golden[i], m, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
					t.Fatalf("message %d popped differs (-pushed +popped):\n%s", i, diff)
				}
			}
			q.Reset()
		}
		// clobber overwrites the buffers of the pushed messages [from, to).
		clobber := func(from, to int, v byte) {
			for _, mb := range bufs[from:to] {
				for _, b := range mb {
					for j := range b {
						b[j] = v
					}
				}
			}
		}
		first := 0
		for i := range want {
			if !q.Push(&want[i]) {
				if q.Len() == 0 {
					t.Fatalf("an empty queue refused message %d", i)
				}
				clobber(first, i, 0)
				popAll(first)
				first = i
				if !q.Push(&want[i]) {
					t.Fatalf("a reset queue refused message %d", i)
				}
			}
		}
		clobber(first, len(want), 0xAA)
		popAll(first)
	})
}

func bytesCopy(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
