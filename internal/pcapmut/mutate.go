package main

import (
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// packet is one capture record.
type packet struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// segment describes a TCP data segment of the input.
type segment struct {
	index int    // position in the input
	dir   string // "src:port>dst:port"
	seq   uint32
	len   int
}

// Change is one edit, as written to the log.
type Change struct {
	Op    string `json:"op"`    // swap, duplicate, drop
	Index int    `json:"index"` // input position of the (first) packet
	With  int    `json:"with,omitempty"`
	Dir   string `json:"dir"`
	Seq   uint32 `json:"seq"`
	Len   int    `json:"len"`
}

// dataSegments finds the packets that carry TCP payload.
func dataSegments(pkts []packet, lt layers.LinkType) []segment {
	var segs []segment
	for i, p := range pkts {
		pk := gopacket.NewPacket(p.data, lt, gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tl, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || len(tl.Payload) == 0 {
			continue
		}
		nl := pk.NetworkLayer()
		if nl == nil {
			continue
		}
		src, dst := nl.NetworkFlow().Endpoints()
		dir := fmt.Sprintf("%v:%d>%v:%d", src, tl.SrcPort, dst, tl.DstPort)
		segs = append(segs, segment{index: i, dir: dir, seq: tl.Seq, len: len(tl.Payload)})
	}
	return segs
}

// mutate applies n edits of the given mode, chosen with a PCG seeded by seed. Output
// timestamps stay in file order: a moved packet takes the timestamp of its new slot.
func mutate(pkts []packet, lt layers.LinkType, mode string, n int, seed uint64) ([]packet, []Change, error) {
	segs := dataSegments(pkts, lt)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var changes []Change
	switch mode {
	case "reorder":
		// Pairs of a segment and the next segment of the same direction.
		next := map[string]int{} // dir -> index in segs of the last one seen
		var pairs [][2]segment
		for i := len(segs) - 1; i >= 0; i-- {
			if j, ok := next[segs[i].dir]; ok {
				pairs = append(pairs, [2]segment{segs[i], segs[j]})
			}
			next[segs[i].dir] = i
		}
		used := map[int]bool{}
		out := slices.Clone(pkts)
		for _, k := range pick(rng, len(pairs), n) {
			a, b := pairs[k][0], pairs[k][1]
			if used[a.index] || used[b.index] {
				continue
			}
			used[a.index], used[b.index] = true, true
			out[a.index].data, out[b.index].data = pkts[b.index].data, pkts[a.index].data
			out[a.index].ci.CaptureLength, out[b.index].ci.CaptureLength = pkts[b.index].ci.CaptureLength, pkts[a.index].ci.CaptureLength
			out[a.index].ci.Length, out[b.index].ci.Length = pkts[b.index].ci.Length, pkts[a.index].ci.Length
			changes = append(changes, Change{Op: "swap", Index: a.index, With: b.index, Dir: a.dir, Seq: a.seq, Len: a.len})
		}
		sortChanges(changes)
		return out, changes, nil
	case "duplicate", "drop":
		chosen := map[int]segment{}
		for _, k := range pick(rng, len(segs), n) {
			chosen[segs[k].index] = segs[k]
		}
		var out []packet
		for i, p := range pkts {
			s, ok := chosen[i]
			if !ok {
				out = append(out, p)
				continue
			}
			if mode == "drop" {
				changes = append(changes, Change{Op: "drop", Index: i, Dir: s.dir, Seq: s.seq, Len: s.len})
				continue
			}
			out = append(out, p, p)
			changes = append(changes, Change{Op: "duplicate", Index: i, Dir: s.dir, Seq: s.seq, Len: s.len})
		}
		return out, changes, nil
	}
	return nil, nil, fmt.Errorf("pcapmut: unknown mode %q (want reorder, duplicate or drop)", mode)
}

// pick returns min(n, total) distinct indices below total.
func pick(rng *rand.Rand, total, n int) []int {
	perm := rng.Perm(total)
	return perm[:min(n, total)]
}

func sortChanges(c []Change) {
	slices.SortFunc(c, func(a, b Change) int { return a.Index - b.Index })
}
