package render

import (
	"bytes"
	"encoding/binary"
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
	// Every power of ten and its neighbours, where the digit count
	// changes, and every value below 10^5.
	for _, p := range pow10 {
		// Above 10^18 the int64 is negative; appendUint gets p back.
		ints = append(ints, int64(p-1), int64(p), int64(p+1), -int64(p))
	}
	for v := range int64(100_000) {
		ints = append(ints, v)
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 10_000 {
		ints = append(ints, int64(r.Uint64()), r.Int64N(1e6)-5e5)
	}
	// cmp.Diff only on a difference: 130,000 diffs take seconds.
	check := func(name string, v any, want, got []byte) {
		t.Helper()
		if !bytes.Equal(want, got) {
			t.Fatalf("%s(%v) (-want +got):\n%s", name, v, cmp.Diff(string(want), string(got)))
		}
	}
	for _, v := range ints {
		check("appendInt", v, strconv.AppendInt(nil, v, 10), appendInt(nil, v))
		u := uint64(v)
		check("appendUint", u, strconv.AppendUint(nil, u, 10), appendUint(nil, u))
		check("appendHex", u, strconv.AppendUint(nil, u, 16), appendHex(nil, u))
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

// TestDigits8 compares digits8 with put8 at every value of each half, around
// each power of ten, and at random values.
func TestDigits8(t *testing.T) {
	vals := []uint32{0, 99_999_999}
	for _, p := range pow10[:8] {
		vals = append(vals, uint32(p), uint32(p)-1, uint32(p)+1)
	}
	// Every value of each half (v/1e4 and v%1e4 go through the lanes
	// apart), and steps that change both.
	for v := range uint32(1e4) {
		vals = append(vals, v, v*1e4, v*1e4+9999-v)
	}
	for v := uint32(0); v < 1e8; v += 9999 {
		vals = append(vals, v, min(v+1, 1e8-1))
	}
	r := rand.New(rand.NewPCG(7, 8))
	for range 100_000 {
		vals = append(vals, r.Uint32N(1e8))
	}
	for _, v := range vals {
		var want, got [8]byte
		put8(want[:], v)
		binary.LittleEndian.PutUint64(got[:], digits8(v))
		if want != got {
			t.Fatalf("digits8(%d) = %q, want %q", v, got[:], want[:])
		}
	}
}
