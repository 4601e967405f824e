package render_test

import (
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"time"

	"github.com/zktap/zktap/proto"
	"github.com/zktap/zktap/proto/render"
)

// A filter from /debug/dump?op=getData&min_latency=1ms selects a slow
// paired reply, which renders as one line with its request's op and path.
func Example() {
	f, err := render.ParseFilter(url.Values{"op": {"getData"}, "min_latency": {"1ms"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	var m proto.Message
	m.Reset()
	m.Time = time.Date(2026, 11, 25, 14, 3, 2, 123456000, time.UTC)
	m.Proto, m.Kind, m.Op, m.Path = proto.ZK, proto.Reply, "getData", []byte("/a/b")
	m.Src = netip.MustParseAddrPort("10.0.0.1:2181")
	m.Dst = netip.MustParseAddrPort("10.0.0.5:51234")
	m.Xid, m.HasXid = 12, true
	m.Err = -101
	m.Latency, m.Paired = 1500*time.Microsecond, true

	if f.Match(&m) {
		os.Stdout.Write(render.AppendText(nil, &m, render.Options{}))
		os.Stdout.Write(render.AppendJSON(nil, &m, render.Options{}))
	}
	// Output:
	// 14:03:02.123456 10.0.0.1:2181 -> 10.0.0.5:51234 zk getData /a/b xid=12 err=NONODE latency=1.5ms
	// {"time":"2026-11-25T14:03:02.123456000Z","proto":"zk","kind":"reply","op":"getData","src":"10.0.0.1:2181","dst":"10.0.0.5:51234","xid":12,"err":-101,"err_name":"NONODE","path":"/a/b","latency":0.0015,"size":0}
}
