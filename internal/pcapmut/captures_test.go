package main

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// This file checks the committed captures in testdata/captures against the workload
// reports beside them, independently of zktap's own decoders: it reassembles the
// client-port streams with a simple unbounded reassembler and counts request opcodes.
// It catches a capture that lost packets (tcpdump without --immediate-mode loses the
// tail) and checks that the reordered and duplicated rewrites still hold the whole
// workload while the dropped one does not.

var opName = map[int32]string{
	1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData", 6: "getACL", 7: "setACL",
	8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2", 13: "check", 14: "multi",
	15: "create2", 16: "reconfig", 17: "checkWatches", 18: "removeWatches", 19: "createContainer",
	21: "createTTL", 22: "multiRead", 100: "auth", 101: "setWatches", 103: "getEphemerals",
	104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch", 107: "whoAmI", -11: "closeSession",
}

type halfStream struct {
	started bool
	next    uint32
	pending map[uint32][]byte // out-of-order payloads by sequence number
	data    []byte
	gap     bool
}

func (h *halfStream) add(seq uint32, syn bool, payload []byte) {
	if syn {
		h.started, h.next = true, seq+1
		return
	}
	if !h.started || len(payload) == 0 {
		return
	}
	if h.pending == nil {
		h.pending = map[uint32][]byte{}
	}
	h.pending[seq] = payload
	for progress := true; progress; {
		progress = false
		for s, p := range h.pending {
			d := int32(h.next - s)
			switch {
			case d >= 0 && int(d) < len(p): // starts at or before next: take the new part
				h.data = append(h.data, p[d:]...)
				h.next += uint32(len(p) - int(d))
				delete(h.pending, s)
				progress = true
			case d >= 0: // already delivered: a retransmission or duplicate
				delete(h.pending, s)
			}
		}
	}
}

type conn struct{ client, server halfStream }

// countRequests reassembles every TCP connection to port on a capture and counts the
// client's frames by opcode ("connect" for the first), skipping four-letter-word
// connections. It also reports whether any stream had a hole.
func countRequests(t *testing.T, path string, port layers.TCPPort) (map[string]int, bool) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	conns := map[string]*conn{}
	var order []string
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		pk := gopacket.NewPacket(data, r.LinkType(), gopacket.DecodeOptions{Lazy: true, NoCopy: true})
		tl, ok := pk.Layer(layers.LayerTypeTCP).(*layers.TCP)
		if !ok || pk.NetworkLayer() == nil {
			continue
		}
		src, dst := pk.NetworkLayer().NetworkFlow().Endpoints()
		var key string
		toServer := tl.DstPort == port
		switch {
		case toServer:
			key = fmt.Sprintf("%v:%d-%v", src, tl.SrcPort, dst)
		case tl.SrcPort == port:
			key = fmt.Sprintf("%v:%d-%v", dst, tl.DstPort, src)
		default:
			continue
		}
		c := conns[key]
		if c == nil {
			c = &conn{}
			conns[key] = c
			order = append(order, key)
		}
		if toServer {
			c.client.add(tl.Seq, tl.SYN, tl.Payload)
		} else {
			c.server.add(tl.Seq, tl.SYN, tl.Payload)
		}
	}
	got := map[string]int{}
	gap := false
	for _, k := range order {
		c := conns[k]
		if len(c.client.pending) > 0 {
			gap = true
		}
		b := c.client.data
		if len(b) >= 4 && binary.BigEndian.Uint32(b) > 1<<30 { // a four-letter word
			continue
		}
		for first := true; len(b) >= 4; first = false {
			n := int(binary.BigEndian.Uint32(b))
			if n > len(b)-4 {
				gap = true
				break
			}
			body := b[4 : 4+n]
			b = b[4+n:]
			if first {
				got["connect"]++
				continue
			}
			if len(body) < 8 {
				t.Fatalf("%s: %s: short request frame", path, k)
			}
			op := int32(binary.BigEndian.Uint32(body[4:]))
			name, ok := opName[op]
			if !ok {
				name = fmt.Sprint(op)
			}
			got[name]++
		}
	}
	return got, gap
}

func reportRequests(t *testing.T, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Requests map[string]int `json:"requests"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	return rep.Requests
}

func TestCapturesMatchReports(t *testing.T) {
	dir := filepath.Join("..", "..", "testdata", "captures")
	tests := []struct {
		pcap, report string
		wantGap      bool
	}{
		{pcap: "workload.pcap", report: "workload.json"},
		{pcap: "segmented.pcap", report: "segmented.json"},
		{pcap: "pipelined.pcap", report: "pipelined.json"},
		{pcap: "ensemble.pcap", report: "ensemble.json"},
		{pcap: "newops.pcap", report: "newops.json"},
		{pcap: "reordered.pcap", report: "workload.json"},
		{pcap: "duplicated.pcap", report: "workload.json"},
	}
	for _, tt := range tests {
		t.Run(tt.pcap, func(t *testing.T) {
			got, gap := countRequests(t, filepath.Join(dir, tt.pcap), 2181)
			if gap != tt.wantGap {
				t.Errorf("stream hole = %v, want %v", gap, tt.wantGap)
			}
			want := reportRequests(t, filepath.Join(dir, tt.report))
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("requests mismatch (-report +capture):\n%s", diff)
			}
		})
	}
	// Every capture is checked: by the table, by the dropped.pcap case below, or not at
	// all for midstream.pcap, whose capture starts inside its sessions.
	covered := map[string]bool{"dropped.pcap": true, "midstream.pcap": true}
	for _, tt := range tests {
		covered[tt.pcap] = true
	}
	all, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if !covered[filepath.Base(p)] {
			t.Errorf("%s is not checked against a report", filepath.Base(p))
		}
	}
	t.Run("dropped.pcap", func(t *testing.T) {
		got, gap := countRequests(t, filepath.Join(dir, "dropped.pcap"), 2181)
		if !gap {
			t.Error("no stream hole in dropped.pcap")
		}
		want := reportRequests(t, filepath.Join(dir, "workload.json"))
		if cmp.Equal(want, got) {
			t.Error("dropped.pcap still holds the whole workload")
		}
	})
}
