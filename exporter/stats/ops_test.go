package stats

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestOpTable: an op name gets the same id whether it arrives as a static
// string (a cache hit by address) or as a copy built at run time (a miss
// found by name); past maxOps names, new ones share Overflow's id; and the
// address cache stays a fixed array however many strings go through it.
func TestOpTable(t *testing.T) {
	tab := newOpTable()
	exists := tab.id("exists")
	dynamic := strings.Clone("exists")
	tests := []struct {
		name string
		op   string
		want uint32
	}{
		{"static again", "exists", exists},
		{"copy of a known name", dynamic, exists},
		{"the copy again (now cached by its address)", dynamic, exists},
		{"Overflow", Overflow, opOther},
		{"a prefix of a cached string, at the same address", dynamic[:3], 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tab.id(tt.op); got != tt.want {
				t.Errorf("id(%q) = %d, want %d", tt.op, got, tt.want)
			}
			if got := tab.name(tab.id(tt.op)); got != tt.op {
				t.Errorf("name(id(%q)) = %q", tt.op, got)
			}
		})
	}

	// Fill the table with names built at run time.
	for i := len(tab.names); i <= maxOps; i++ {
		op := fmt.Sprintf("op%d", i)
		if got := tab.id(op); got != uint32(i) {
			t.Fatalf("id(%q) = %d, want %d", op, got, i)
		}
	}
	for i := range 10 * opCacheSlots {
		if got := tab.id(fmt.Sprintf("late%d", i)); got != opOther {
			t.Fatalf("id of name %d past maxOps = %d, want opOther", i, got)
		}
	}
	if len(tab.names) != maxOps+1 || len(tab.ids) != maxOps+1 {
		t.Errorf("table holds %d names, %d ids; want %d", len(tab.names), len(tab.ids), maxOps+1)
	}
	if got := tab.id("exists"); got != exists {
		t.Errorf("id(exists) after overflow = %d, want %d", got, exists)
	}
}

// TestOpOverflow: requests of more than maxOps distinct op names are all
// counted, the ones past the bound under the op Overflow, with their paths.
func TestOpOverflow(t *testing.T) {
	s := New(Config{}, fixedNow)
	c := "10.1.1.1:5000"
	const extra = 5
	for i := range maxOps + extra {
		s.Observe(req(c, fmt.Sprintf("op%03d", i), "/a", 10))
		s.Observe(rep(c, fmt.Sprintf("op%03d", i), "/a", 10, -101, time.Millisecond))
	}
	snap := s.Snapshot()
	count := func(rows []OpPath) map[string]uint64 {
		m := map[string]uint64{}
		for _, r := range rows {
			m[r.Op+" "+r.Path] += r.Count
		}
		return m
	}
	// Overflow took one of the maxOps+1 ids, so maxOps names have their own.
	want := map[string]uint64{Overflow + " /a": extra}
	for i := range maxOps {
		want[fmt.Sprintf("op%03d /a", i)] = 1
	}
	if diff := cmp.Diff(want, count(snap.Requests)); diff != "" {
		t.Errorf("Requests (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, count(snap.Replies)); diff != "" {
		t.Errorf("Replies (-want +got):\n%s", diff)
	}
	var errs, lat uint64
	for _, e := range snap.Errors {
		errs += e.Count
	}
	for _, h := range snap.Latency {
		lat += h.Count
	}
	if errs != maxOps+extra || lat != maxOps+extra {
		t.Errorf("errors %d, latency observations %d; want %d each", errs, lat, maxOps+extra)
	}
	if n := len(snap.Latency); n != maxOps+1 {
		t.Errorf("%d latency histograms, want %d", n, maxOps+1)
	}
}

// TestPairBound: past maxOps*(MaxPaths+2) distinct (op, path) pairs a new
// pair counts under the op Overflow with its path, requests and replies
// alike, and nothing is lost.
func TestPairBound(t *testing.T) {
	s := New(Config{MaxPaths: 1}, fixedNow)
	c := "10.1.1.1:5000"
	// 130 names: op000..op127 get ids, op128 and op129 share Overflow's.
	// Three paths: none, "/a" (admitted, the cap), "/b" (folded into
	// Overflow). That is 3*129 = 387 pairs against a bound of 384.
	for _, p := range []string{"", "/a", "/b"} {
		for i := range maxOps + 2 {
			op := fmt.Sprintf("op%03d", i)
			s.Observe(req(c, op, p, 10))
			s.Observe(rep(c, op, p, 20, 0, time.Millisecond))
		}
	}
	want := map[string]Traffic{}
	for _, p := range []string{"", "/a"} {
		for i := range maxOps {
			want[fmt.Sprintf("op%03d %s", i, p)] = Traffic{1, 10}
		}
		want[Overflow+" "+p] = Traffic{2, 20}
	}
	// On the folded path, 2*129 pairs are taken, so 126 more fit; the
	// 127th folds into (Overflow, Overflow), as do op128 and op129.
	for i := range 126 {
		want[fmt.Sprintf("op%03d %s", i, Overflow)] = Traffic{1, 10}
	}
	want[Overflow+" "+Overflow] = Traffic{4, 40}
	snap := s.Snapshot()
	for _, tt := range []struct {
		name  string
		rows  []OpPath
		scale uint64
	}{{"Requests", snap.Requests, 1}, {"Replies", snap.Replies, 2}} {
		got := map[string]Traffic{}
		for _, r := range tt.rows {
			got[r.Op+" "+r.Path] = r.Traffic
		}
		w := map[string]Traffic{}
		for k, v := range want {
			w[k] = Traffic{v.Count, v.Bytes * tt.scale}
		}
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestOpKind: an op's kind follows its name, also once the name is folded
// into opOther, and also for a name not at the static string's address.
func TestOpKind(t *testing.T) {
	tab := newOpTable()
	for i := range maxOps {
		tab.id(fmt.Sprintf("op%03d", i)) // fill the table
	}
	for _, tt := range []struct {
		op   string
		want opKind
	}{
		{"auth", kindAuth}, {"sasl", kindSASL}, {"closeSession", kindCloseSession},
		{"setWatches", kindSetWatches}, {"setWatches2", kindSetWatches},
		{"multi", kindMulti}, {"multiRead", kindMulti},
		{"exists", kindPlain}, {"op007", kindPlain}, {Overflow, kindPlain},
	} {
		for _, op := range []string{tt.op, strings.Clone(tt.op)} {
			id, kind := tab.idKind(op)
			if kind != tt.want {
				t.Errorf("idKind(%q) kind = %d, want %d", op, kind, tt.want)
			}
			if want := tab.lookup(op); id != want {
				t.Errorf("idKind(%q) id = %d, want %d", op, id, want)
			}
		}
	}
}
