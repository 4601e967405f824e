package zk_test

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/zk"
)

func Example() {
	var ctr proto.Counters
	d := zk.NewDecoder(zk.Config{}, proto.SinkFunc(func(m *proto.Message) {
		fmt.Printf("%s %s %s xid=%d path=%s err=%s latency=%v\n",
			m.Proto, m.Kind, m.Op, m.Xid, m.Path, zk.ErrName(m.Err), m.Latency)
	}), &ctr)
	// Joined mid-connection: the decoder proves frame boundaries first.
	d.Reset(proto.Endpoints{})

	be := binary.BigEndian
	// exists("/app", watch=true) with xid 7: length, xid, opcode 3, path, watch.
	req := be.AppendUint32(nil, 17)
	req = be.AppendUint32(req, 7)
	req = be.AppendUint32(req, 3)
	req = be.AppendUint32(req, 4)
	req = append(req, "/app"...)
	req = append(req, 1)
	// The reply: length 16, xid 7, zxid 0x100000002, err -101 (NONODE).
	rep := be.AppendUint32(nil, 16)
	rep = be.AppendUint32(rep, 7)
	rep = be.AppendUint64(rep, 0x100000002)
	rep = be.AppendUint32(rep, uint32(0xffffff9b))

	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	n := d.Feed(proto.ToServer, req, t)
	n += d.Feed(proto.ToClient, rep, t.Add(300*time.Microsecond))
	d.Close(t.Add(time.Second))
	fmt.Println("consumed", n, "resyncs", ctr.Get(proto.ZK, proto.ReasonResync))
	// Output:
	// zk request exists xid=7 path=/app err=OK latency=0s
	// zk reply exists xid=7 path=/app err=NONODE latency=300µs
	// consumed 41 resyncs 2
}
