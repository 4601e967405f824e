package render

import (
	"math"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAppendNumbers(t *testing.T) {
	ints := []int64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, 65535, -1, -10, -99, -100,
		math.MaxInt32, math.MinInt32, math.MaxInt64, math.MinInt64}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		ints = append(ints, int64(r.Uint64()), r.Int64N(1e6)-5e5)
	}
	for _, v := range ints {
		if diff := cmp.Diff(strconv.AppendInt(nil, v, 10), appendInt(nil, v)); diff != "" {
			t.Fatalf("appendInt(%d) (-want +got):\n%s", v, diff)
		}
		u := uint64(v)
		if diff := cmp.Diff(strconv.AppendUint(nil, u, 10), appendUint(nil, u)); diff != "" {
			t.Fatalf("appendUint(%d) (-want +got):\n%s", u, diff)
		}
		if diff := cmp.Diff(strconv.AppendUint(nil, u, 16), appendHex(nil, u)); diff != "" {
			t.Fatalf("appendHex(%#x) (-want +got):\n%s", u, diff)
		}
	}
}

func TestAppendAddrPort(t *testing.T) {
	aps := []netip.AddrPort{
		{},
		netip.MustParseAddrPort("127.0.0.1:2181"),
		netip.MustParseAddrPort("0.0.0.0:0"),
		netip.MustParseAddrPort("255.255.255.255:65535"),
		netip.MustParseAddrPort("10.20.3.4:9"),
		netip.MustParseAddrPort("[::1]:2181"),
		netip.MustParseAddrPort("[::ffff:10.0.0.1]:2181"),
		netip.MustParseAddrPort("[fe80::1%eth0]:3888"),
	}
	for _, ap := range aps {
		if diff := cmp.Diff(string(ap.AppendTo(nil)), string(appendAddrPort(nil, ap))); diff != "" {
			t.Errorf("appendAddrPort(%v) (-want +got):\n%s", ap, diff)
		}
	}
}

func BenchmarkAppendAddrPort(b *testing.B) {
	ap := netip.MustParseAddrPort("127.0.0.1:46571")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendAddrPort(buf[:0], ap)
	}
}
