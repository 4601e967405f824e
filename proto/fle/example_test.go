package fle_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/fle"
)

func Example() {
	var ctr proto.Counters
	d := fle.NewDecoder(fle.Config{}, proto.SinkFunc(func(m *proto.Message) {
		fmt.Println(m.Op, m.FLE.Sid, string(m.FLE.Addr), m.FLE.State, m.FLE.Leader, m.FLE.Version)
	}), &ctr)
	d.Reset(proto.Endpoints{
		Client:    netip.MustParseAddrPort("127.0.0.3:41000"),
		Server:    netip.MustParseAddrPort("127.0.0.1:3888"),
		FromStart: true,
	})
	// Initial message V1: version -65536, sid 3, address "127.0.0.3:3888".
	b := binary.BigEndian.AppendUint64(nil, uint64(0xFFFFFFFFFFFF0000))
	b = binary.BigEndian.AppendUint64(b, 3)
	b = binary.BigEndian.AppendUint32(b, 14)
	b = append(b, "127.0.0.3:3888"...)
	// Notification, 40-byte body: LOOKING, vote for 3, zxid 0x100000002,
	// election epoch 1, peer epoch 1, version 1.
	b = binary.BigEndian.AppendUint32(b, 40)
	b = binary.BigEndian.AppendUint32(b, 0)
	for _, v := range []uint64{3, 0x100000002, 1, 1} {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	b = binary.BigEndian.AppendUint32(b, 1)
	n := d.Feed(proto.ToServer, b, time.Now())
	fmt.Println("consumed", n, "of", len(b))
	// Output:
	// initial 3 127.0.0.3:3888  0 0
	// notification 0  looking 3 1
	// consumed 78 of 78
}
