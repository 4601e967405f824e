package sniff_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/zktap/zktap/sniff"
)

func ExampleParseFrame() {
	// Ethernet (zero MACs), IPv4 10.0.0.1 -> 10.0.0.2, TCP 40000 -> 2181
	// with PSH|ACK, payload "ruok" (a ZooKeeper four-letter word).
	frame, _ := hex.DecodeString("000000000000000000000000" + "0800" +
		"4500002c00000000400600000a0000010a000002" +
		"9c400885000000010000000050180fff00000000" +
		"72756f6b")
	var seg sniff.Segment
	if err := sniff.ParseFrame(sniff.LinkEthernet, frame, time.Unix(0, 0), &seg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%v -> %v seq=%d payload=%q\n", seg.Flow.Src, seg.Flow.Dst, seg.Seq, seg.Payload)

	// An ARP frame is not for zktap: the error matches ErrNotTCP.
	arp, _ := hex.DecodeString("ffffffffffff000000000001" + "0806" + "0001080006040001")
	err := sniff.ParseFrame(sniff.LinkEthernet, arp, time.Unix(0, 0), &seg)
	fmt.Println(errors.Is(err, sniff.ErrNotTCP), sniff.ErrorToken(err))
	// Output:
	// 10.0.0.1:40000 -> 10.0.0.2:2181 seq=1 payload="ruok"
	// true not_ip
}
