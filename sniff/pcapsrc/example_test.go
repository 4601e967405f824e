package pcapsrc_test

import (
	"fmt"
	"io"

	"github.com/zktap/zktap/sniff"
	"github.com/zktap/zktap/sniff/pcapsrc"
)

func Example() {
	src, err := pcapsrc.OpenFile("../../testdata/zktraffic/auth.pcap")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer src.Close()
	var seg sniff.Segment
	for {
		data, ts, link, err := src.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		if err := sniff.ParseFrame(link, data, ts, &seg); err == nil {
			fmt.Printf("%v -> %v %d bytes\n", seg.Flow.Src, seg.Flow.Dst, len(seg.Payload))
		}
	}
	fmt.Println(src.Stats().Frames, "frames")
	// Output:
	// 127.0.0.1:57541 -> 127.0.0.1:2181 41 bytes
	// 127.0.0.1:2181 -> 127.0.0.1:57541 20 bytes
	// 127.0.0.1:57541 -> 127.0.0.1:2181 0 bytes
	// 3 frames
}
