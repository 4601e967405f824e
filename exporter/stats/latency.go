package stats

import (
	"sort"
	"time"
)

// Latency histograms are observed on every answered request, and finding a
// bucket by binary search over float64 bounds (sort.SearchFloat64s, with a
// closure call per probe) cost as much as the rest of hist.observe. The
// bounds are fixed when Stats is made, so they are translated once into
// durations: durBounds[i] is the longest duration d for which
// Buckets[i] >= d.Seconds(). Duration.Seconds is monotonic, so
// Buckets[i] >= d.Seconds() exactly when d <= durBounds[i], and bucketOf
// finds, with integer compares, the very index SearchFloat64s finds from
// d.Seconds(): same probes, same outcomes, whatever the bounds (unsorted,
// NaN, infinite).

// durSpan bounds the durations bucketOf answers by integers, about 73
// years either way: wide enough for any latency a capture shows, narrow
// enough that the bisection in newDurBounds cannot overflow. Beyond it,
// bucketOf falls back to the float search.
const durSpan = 1 << 61

// newDurBounds returns durBounds for bounds in seconds: for each, the
// largest d in [-durSpan, durSpan] with b >= d.Seconds(), or -durSpan-1
// when there is none (b is NaN or below -durSpan).
func newDurBounds(bounds []float64) []int64 {
	holds := func(b float64, d int64) bool { return b >= time.Duration(d).Seconds() }
	out := make([]int64, len(bounds))
	for i, b := range bounds {
		lo, hi := int64(-durSpan), int64(durSpan)
		switch {
		case !holds(b, lo):
			out[i] = lo - 1
		case holds(b, hi):
			out[i] = hi
		default:
			// holds(lo) and !holds(hi): bisect to the last d that holds.
			for hi-lo > 1 {
				mid := lo + (hi-lo)/2
				if holds(b, mid) {
					lo = mid
				} else {
					hi = mid
				}
			}
			out[i] = lo
		}
	}
	return out
}

// bucketOf returns the histogram bucket of d for bounds (Config.Buckets),
// whose durBounds are durs: sort.SearchFloat64s(bounds, d.Seconds()).
func bucketOf(bounds []float64, durs []int64, d time.Duration) int {
	if !nearDur(d) {
		return sort.SearchFloat64s(bounds, d.Seconds())
	}
	return bucketNear(durs, d)
}

// nearDur reports whether d is in [-durSpan, durSpan], where bucketNear
// answers for bucketOf.
func nearDur(d time.Duration) bool { return uint64(d+durSpan) <= 2*durSpan }

// bucketNear is bucketOf for a d that is nearDur: sort.Search, with its
// predicate durs[h] >= d for bounds[h] >= v. Unlike bucketOf, it inlines.
func bucketNear(durs []int64, d time.Duration) int {
	i, j := 0, len(durs)
	for i < j {
		h := int(uint(i+j) >> 1)
		if int64(d) > durs[h] {
			i = h + 1
		} else {
			j = h
		}
	}
	return i
}

// seconds is d.Seconds(), with a shortcut for the latency of almost every
// reply: under a second, Seconds adds its float nanoseconds to a zero
// whole-second part, which changes no bit, so they alone are the result.
func seconds(d time.Duration) float64 {
	if uint64(d) < uint64(time.Second) {
		return float64(d) / 1e9
	}
	return d.Seconds()
}
