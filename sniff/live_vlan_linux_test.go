//go:build linux

package sniff

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLiveVLAN injects VLAN-tagged frames into a tap device. On receive the
// kernel moves a frame's outer tag into packet metadata before packet
// sockets and their filters see it (skb_vlan_untag), so ReadFrame returns
// single-tagged frames untagged and QinQ frames with their inner tag only;
// ParseFrame decodes both, and the filter still rejects other ports.
func TestLiveVLAN(t *testing.T) { forEachPath(t, testLiveVLAN) }

func testLiveVLAN(t *testing.T, noRing bool) {
	name, tap := openTap(t)
	l, err := OpenLive(name, Config{ZKPorts: []uint16{2181}, ReadTimeout: 50 * time.Millisecond, NoRing: noRing})
	if err != nil {
		t.Fatalf("OpenLive(%s): %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	if l.LinkType() != LinkEthernet {
		t.Fatalf("tap link type %d, want LinkEthernet", l.LinkType())
	}
	seg := func(dport uint16, payload string) []byte {
		return ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, dport, 1, 0, PSH|ACK, nil, payload))
	}
	for _, f := range [][]byte{
		ether(0x0800, nil, seg(2181, "untagged")),
		ether(0x0800, []uint16{0x8100}, seg(2181, "dot1q")),
		ether(0x0800, []uint16{0x88a8, 0x8100}, seg(2181, "qinq")),
		ether(0x0800, []uint16{0x8100}, seg(80, "dot1q-to-http")),
	} {
		if _, err := tap.Write(f); err != nil {
			t.Fatalf("write to tap: %v", err)
		}
	}
	type frame struct {
		Payload string
		Len     int // of the frame as returned: 14 + 20 + 20 + payload + inline tags
	}
	var got []frame
	done := make(chan struct{})
	go func() {
		defer close(done)
		var s Segment
		for {
			data, ts, link, err := l.ReadFrame()
			if isTimeout(err) {
				continue
			}
			if err != nil {
				return
			}
			if err := ParseFrame(link, data, ts, &s); err != nil {
				t.Errorf("ParseFrame(% x): %v", data, err)
				continue
			}
			got = append(got, frame{string(s.Payload), len(data)})
		}
	}()
	time.Sleep(300 * time.Millisecond)
	l.Close()
	<-done
	want := []frame{{"untagged", 54 + 8}, {"dot1q", 54 + 5}, {"qinq", 54 + 4 + 4}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames captured on %s (-want +got):\n%s", name, diff)
	}
	if !noRing {
		// The dot1q and qinq frames reached the ring with their outer tag
		// in tp_vlan_tci; the filter rejected the tagged port-80 frame.
		if n := l.vlanStripped.Load(); n != 2 {
			t.Errorf("ring frames with TP_STATUS_VLAN_VALID = %d, want 2", n)
		}
	}
}
