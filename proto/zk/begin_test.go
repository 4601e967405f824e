package zk

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// TestBeginClearsEveryField fills every field of the decoder's message that
// it may write (all but ZAB and FLE) with a non-zero value, as a previous
// frame could have left it, and checks that begin leaves exactly what
// Reset plus the header would. A field added to Message or ZKInfo that
// begin does not clear makes this fail.
func TestBeginClearsEveryField(t *testing.T) {
	d := NewDecoder(Config{}, nil, nil)
	d.Reset(proto.Endpoints{Client: netip.MustParseAddrPort("10.0.0.1:40000"), Server: netip.MustParseAddrPort("10.0.0.2:2181")})
	mv := reflect.ValueOf(&d.msg).Elem()
	for i := 0; i < mv.NumField(); i++ {
		if name := mv.Type().Field(i).Name; name == "ZAB" || name == "FLE" {
			continue
		}
		fillNonZero(t, mv.Field(i))
	}
	if d.msg.ZK.Sub == nil || d.msg.Path == nil || d.msg.Text == nil {
		t.Fatal("fillNonZero left slices nil; the test would prove nothing")
	}

	ts := time.Unix(1700000000, 123)
	got := d.begin(proto.ToClient, proto.ZK, proto.Reply, ts, 42)

	var want proto.Message
	want.Reset()
	want.Time, want.Proto, want.Kind, want.Size = ts, proto.ZK, proto.Reply, 42
	want.Src, want.Dst = d.ep.Server, d.ep.Client
	opts := cmp.Options{
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
		cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
		// Sub keeps its storage; only its length matters.
		cmp.Comparer(func(a, b []proto.SubOp) bool { return len(a) == len(b) }),
	}
	if diff := cmp.Diff(&want, got, opts); diff != "" {
		t.Errorf("begin left fields of the previous message (-want +got):\n%s", diff)
	}
	if cap(got.ZK.Sub) == 0 {
		t.Error("begin dropped Sub's storage; reusing it is what keeps multi from allocating")
	}
}

// fillNonZero sets v, recursively, to a value other than its zero value.
func fillNonZero(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Interface().(type) {
	case time.Time:
		v.Set(reflect.ValueOf(time.Unix(1, 1)))
		return
	case netip.AddrPort:
		v.Set(reflect.ValueOf(netip.MustParseAddrPort("192.0.2.9:9")))
		return
	}
	switch v.Kind() {
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.String:
		v.SetString("stale")
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 4)
		fillNonZero(t, s.Index(0))
		v.Set(s)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fillNonZero(t, v.Field(i))
		}
	default:
		t.Fatalf("fillNonZero: no rule for %s", v.Type())
	}
}
