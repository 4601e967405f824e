package render

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAppendUTC checks the hand-written clock against time.AppendFormat
// on edge dates and on random instants over the years 0..9999.
func TestAppendUTC(t *testing.T) {
	times := []time.Time{
		{}, // year 1, what a zero Message.Time renders as
		time.Unix(0, 0),
		time.Unix(-1, 999_999_999),
		time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC),
		time.Date(2000, 2, 29, 12, 0, 0, 0, time.UTC),
		time.Date(2100, 2, 28, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 15, 34, 37, 123_456_789, time.FixedZone("CET", 3600)),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC),
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC),  // falls back
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // falls back
	}
	lo := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).Unix()
	r := rand.New(rand.NewPCG(1, 2))
	for range 100_000 {
		times = append(times, time.Unix(lo+r.Int64N(hi-lo), r.Int64N(1e9)))
	}
	for _, tm := range times {
		want := tm.UTC().AppendFormat(nil, timeLayout)
		if diff := cmp.Diff(string(want), string(appendUTC(nil, tm))); diff != "" {
			t.Fatalf("appendUTC(%v) (-want +got):\n%s", tm, diff)
		}
	}
}

func BenchmarkAppendUTC(b *testing.B) {
	tm := time.Date(2026, 11, 25, 15, 34, 37, 123_456_789, time.UTC)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendUTC(buf[:0], tm)
	}
}

func BenchmarkAppendFormat(b *testing.B) {
	tm := time.Date(2026, 11, 25, 15, 34, 37, 123_456_789, time.UTC)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for b.Loop() {
		buf = tm.UTC().AppendFormat(buf[:0], timeLayout)
	}
}
