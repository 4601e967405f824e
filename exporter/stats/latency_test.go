package stats

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
	"time"
)

// TestBucketOf: the bucket found from integer nanoseconds is the one
// sort.SearchFloat64s finds from the float seconds, for the default bounds
// and for odd ones, at every bound's edge (one nanosecond either side of
// where the float comparison flips), at the ends of the integer span and
// beyond it, and at random durations.
func TestBucketOf(t *testing.T) {
	tests := []struct {
		name   string
		bounds []float64
	}{
		{"default", DefaultBuckets},
		{"one", []float64{0.001}},
		{"negative and zero", []float64{-1, -1e-9, 0, 1e-9, 3e-9}},
		{"not representable in ns", []float64{1e-10, 0.1, 1.0000000001, 1 / 3.0}},
		{"infinities", []float64{math.Inf(-1), 0.5, math.Inf(1)}},
		{"NaN", []float64{0.1, math.NaN(), 1}},
		{"unsorted", []float64{5, 0.001, 1, 0.0001}},
		{"huge", []float64{1e9, 1e12, 1e300}},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			durs := newDurBounds(tt.bounds)
			ds := []time.Duration{0, 1, -1, math.MaxInt64, math.MinInt64, durSpan, -durSpan,
				durSpan + 1, -durSpan - 1, time.Millisecond, 2500 * time.Microsecond}
			for _, b := range durs {
				for _, off := range []int64{-1, 0, 1} {
					ds = append(ds, time.Duration(b+off))
				}
			}
			for _, b := range tt.bounds {
				if !math.IsNaN(b) && math.Abs(b) < 9e9 {
					ds = append(ds, time.Duration(b*1e9))
				}
			}
			r := rand.New(rand.NewPCG(1, 2))
			for range 10000 {
				// Log-uniform over 1 ns .. 1000 s, either sign.
				d := time.Duration(math.Exp(r.Float64() * math.Log(1e12)))
				if r.IntN(4) == 0 {
					d = -d
				}
				ds = append(ds, d)
			}
			for _, d := range ds {
				want := sort.SearchFloat64s(tt.bounds, d.Seconds())
				if got := bucketOf(tt.bounds, durs, d); got != want {
					t.Fatalf("bucketOf(%v) = %d, want %d (SearchFloat64s of %v s)", int64(d), got, want, d.Seconds())
				}
			}
		})
	}
}

// TestDurBoundsEdge: each default bound's duration is the last one whose
// seconds do not exceed the bound.
func TestDurBoundsEdge(t *testing.T) {
	for i, d := range newDurBounds(DefaultBuckets) {
		b := DefaultBuckets[i]
		if s := time.Duration(d).Seconds(); s > b {
			t.Errorf("bound %v: %d ns is %v s, above it", b, d, s)
		}
		if s := time.Duration(d + 1).Seconds(); s <= b {
			t.Errorf("bound %v: %d ns is %v s, not above it", b, d+1, s)
		}
	}
}

// TestSeconds: the shortcut gives the very bits of Duration.Seconds, at
// the edges of its range, outside it and at random.
func TestSeconds(t *testing.T) {
	ds := []time.Duration{0, 1, -1, time.Second - 1, time.Second, time.Second + 1,
		-time.Second, math.MaxInt64, math.MinInt64, 300 * time.Microsecond, 7*time.Second + 3}
	r := rand.New(rand.NewPCG(3, 4))
	for range 100000 {
		ds = append(ds, time.Duration(r.Int64N(4*int64(time.Second))-int64(time.Second)))
	}
	for _, d := range ds {
		if got, want := seconds(d), d.Seconds(); math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("seconds(%d) = %v, want %v", int64(d), got, want)
		}
	}
}
