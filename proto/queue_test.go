package proto

import (
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
