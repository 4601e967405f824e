package zk

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/zktap/zktap/proto"
)

// TestReplyPathOfPathlessRequest: the reply to a request without a path
// (whoAmI, multiRead, multi, closeSession...) has a nil Path, however the
// pending slot it was paired through was used before. The slots keep their
// path storage for reuse; a reply used to get that storage emptied, a
// non-nil empty Path that the JSON dump prints as "path":"", so whether
// such a reply had a path depended on how many requests the connection had
// sent before (newops.pcap: the whoAmI and multiRead replies had one, the
// closeSession replies not). A request whose path is the empty string on
// the wire keeps an empty, non-nil Path on its reply.
func TestReplyPathOfPathlessRequest(t *testing.T) {
	type pathOf struct {
		Kind   proto.Kind
		Op     string
		Path   string
		HasNil bool // Path is nil
	}
	var got []pathOf
	var ctr proto.Counters
	d := NewDecoder(Config{}, proto.SinkFunc(func(m *proto.Message) {
		got = append(got, pathOf{m.Kind, m.Op, string(m.Path), m.Path == nil})
	}), &ctr)
	d.Reset(proto.Endpoints{Client: clientAddr, Server: serverAddr, FromStart: true})
	var in, out []byte
	feed := func(dir proto.Dir, b []byte) {
		buf := &in
		if dir == proto.ToClient {
			buf = &out
		}
		*buf = append(*buf, b...)
		n := d.Feed(dir, *buf, t0)
		*buf = append((*buf)[:0], (*buf)[n:]...)
	}
	feed(proto.ToServer, connReq(0, 30000, 0, false))
	feed(proto.ToClient, connResp(30000, sid, false))
	got = nil
	// Enough exists requests, each answered, for the pending ring to wrap
	// and every slot to hold a path.
	var want []pathOf
	xid := int32(0)
	for range 2 * 64 {
		xid++
		feed(proto.ToServer, req(xid, opExists, ustr("/some/path"), boolb(false)))
		feed(proto.ToClient, rep(xid, 5, 0, stat(0, 0)))
		want = append(want,
			pathOf{proto.Request, "exists", "/some/path", false},
			pathOf{proto.Reply, "exists", "/some/path", false})
	}
	// whoAmI: no record. WhoAmIResponse: [(digest, u)].
	xid++
	feed(proto.ToServer, req(xid, opWhoAmI))
	feed(proto.ToClient, rep(xid, 5, 0, i32(1), ustr("digest"), ustr("u")))
	// multiRead of one getData, and its result.
	xid++
	feed(proto.ToServer, req(xid, opMultiRead, i32(opGetData), boolb(false), i32(-1), ustr("/r"), boolb(false),
		i32(-1), boolb(true), i32(-1)))
	feed(proto.ToClient, rep(xid, 5, 0, i32(opGetData), boolb(false), i32(0), null(), stat(0, 0),
		i32(-1), boolb(true), i32(-1)))
	// getEphemerals with the empty prefix: an empty path, not a missing one.
	xid++
	feed(proto.ToServer, req(xid, opGetEphemerals, ustr("")))
	feed(proto.ToClient, rep(xid, 5, 0, strs()))
	xid++
	feed(proto.ToServer, req(xid, opCloseSession))
	feed(proto.ToClient, rep(xid, 6, 0))
	want = append(want,
		pathOf{proto.Request, "whoAmI", "", true}, pathOf{proto.Reply, "whoAmI", "", true},
		pathOf{proto.Request, "multiRead", "", true}, pathOf{proto.Reply, "multiRead", "", true},
		pathOf{proto.Request, "getEphemerals", "", false}, pathOf{proto.Reply, "getEphemerals", "", false},
		pathOf{proto.Request, "closeSession", "", true}, pathOf{proto.Reply, "closeSession", "", true})
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("paths (-want +got):\n%s", diff)
	}
}
