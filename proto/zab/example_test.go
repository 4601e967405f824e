package zab_test

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/zab"
)

func Example() {
	var ctr proto.Counters
	d := zab.NewDecoder(zab.Config{}, proto.SinkFunc(func(m *proto.Message) {
		fmt.Printf("%s %s zxid=%#x paired=%v latency=%v\n", m.Kind, m.Op, m.Zxid, m.Paired, m.Latency)
	}), &ctr)
	d.Reset(proto.Endpoints{
		Client:    netip.MustParseAddrPort("127.0.0.2:40000"), // follower
		Server:    netip.MustParseAddrPort("127.0.0.1:2888"),  // leader
		FromStart: true,
	})
	// qp builds a QuorumPacket {int type, long zxid, buffer data (null), vector authinfo (null)}.
	qp := func(typ uint32, zxid uint64) []byte {
		b := binary.BigEndian.AppendUint32(nil, typ)
		b = binary.BigEndian.AppendUint64(b, zxid)
		b = binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
		return binary.BigEndian.AppendUint32(b, 0xFFFFFFFF)
	}
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	d.Feed(proto.ToClient, qp(5, 0x500000009), t)                         // leader PING
	d.Feed(proto.ToServer, qp(5, 0x500000009), t.Add(2*time.Millisecond)) // follower echo
	// Output:
	// request ping zxid=0x500000009 paired=false latency=0s
	// reply ping zxid=0x500000009 paired=true latency=2ms
}
