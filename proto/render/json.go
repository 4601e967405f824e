package render

import (
	"time"

	"github.com/zktap/zktap/proto"
)

// Options tunes rendering. The zero value is ready to use.
type Options struct {
	// ShowText includes the reply text of four-letter words. It is server
	// status, not a secret, but long and multi-line, so it is opt-in.
	ShowText bool
	// Location is the time zone of AppendText's clock; nil means UTC.
	// JSON times are always UTC.
	Location *time.Location
}

// timeLayout is RFC 3339 with a fixed nine-digit fraction, so lines align
// and sort as text.
const timeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// AppendJSON appends m to dst as one JSON object followed by a newline
// (NDJSON) and returns the extended slice. It does not allocate when dst has
// room. Fields that do not apply to m are omitted; see the package doc for
// the key names. m is only read, and nothing of it is retained.
func AppendJSON(dst []byte, m *proto.Message, opts Options) []byte {
	e := Encoder{Options: opts, oneShot: true}
	return e.AppendJSON(dst, m)
}

func appendZKJSON(dst []byte, m *proto.Message) []byte {
	z := &m.ZK
	if z.TLS {
		dst = append(dst, `,"tls":true`...)
	}
	if z.Watch {
		dst = append(dst, `,"watch":true`...)
	}
	if z.DataLen > 0 || z.DataLen == 0 && hasData(m.Op, m.Kind) {
		dst = appendJSONInt(dst, `,"data_len":`, int64(z.DataLen))
	}
	if z.Children > 0 || z.Children == 0 && m.Kind == proto.Reply && hasChildren(m.Op) {
		dst = appendJSONInt(dst, `,"children":`, int64(z.Children))
	}
	if m.Op == "connect" {
		dst = appendJSONInt(dst, `,"timeout":`, int64(z.Timeout))
		if z.ReadOnly {
			dst = append(dst, `,"read_only":true`...)
		}
		if z.Reconnect {
			dst = append(dst, `,"reconnect":true`...)
		}
	}
	if m.Kind == proto.Event {
		dst = appendJSONInt(dst, `,"event_type":`, int64(z.EventType))
		if name := EventName(z.EventType); name != "" {
			dst = append(dst, `,"event_name":"`...)
			dst = append(dst, name...)
			dst = append(dst, '"')
		}
	}
	if m.Kind == proto.Request {
		if m.Op == "addWatch" {
			dst = appendJSONInt(dst, `,"add_watch_mode":`, int64(z.WatchMode))
		} else if isWatcherOp(m.Op) {
			dst = appendJSONInt(dst, `,"watcher_type":`, int64(z.WatchMode))
			if name := WatcherTypeName(z.WatchMode); name != "" {
				dst = append(dst, `,"watcher_name":"`...)
				dst = append(dst, name...)
				dst = append(dst, '"')
			}
		}
	}
	if z.CreateMode != 0 {
		dst = appendJSONInt(dst, `,"create_mode":`, int64(z.CreateMode))
	}
	if z.AuthScheme != nil {
		dst = append(dst, `,"auth_scheme":`...)
		dst = appendJSONBytes(dst, z.AuthScheme)
	}
	if z.AuthUser != nil {
		dst = append(dst, `,"auth_user":`...)
		dst = appendJSONBytes(dst, z.AuthUser)
	}
	if z.Watches != 0 {
		dst = appendJSONInt(dst, `,"watches":`, int64(z.Watches))
	}
	if len(z.Sub) > 0 {
		dst = append(dst, `,"sub":[`...)
		for i := range z.Sub {
			s := &z.Sub[i]
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"op":`...)
			dst = appendJSONString(dst, s.Op)
			if s.Path != nil {
				dst = append(dst, `,"path":`...)
				dst = appendJSONBytes(dst, s.Path)
			}
			if m.Kind == proto.Reply {
				dst = appendJSONInt(dst, `,"err":`, int64(s.Err))
			}
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return dst
}

// zkOpQuiet reports whether appendZKJSON writes nothing for a message of
// op and kind whose own fields ask for nothing (see zkQuiet): no zero
// data length or child count worth printing, not a connect, not an event,
// not an addWatch, checkWatches or removeWatches request.
func zkOpQuiet(op string, k proto.Kind) bool {
	return !hasData(op, k) && !(k == proto.Reply && hasChildren(op)) && op != "connect" &&
		k != proto.Event && !(k == proto.Request && (op == "addWatch" || isWatcherOp(op)))
}

// zkQuiet reports whether appendZKJSON appends nothing for m, whose op and
// kind are zkOpQuiet: the Encoder then ends the line with one copy. It
// must stay in step with appendZKJSON (TestZKQuiet).
func zkQuiet(m *proto.Message) bool {
	z := &m.ZK
	return !z.TLS && !z.Watch && z.DataLen <= 0 && z.Children <= 0 && z.CreateMode == 0 &&
		z.AuthScheme == nil && z.AuthUser == nil && z.Watches == 0 && len(z.Sub) == 0
}

// hasData tells the messages whose zero data length is worth printing (an
// empty znode) from those that carry no data at all.
func hasData(op string, k proto.Kind) bool {
	switch op {
	case "getData":
		return k == proto.Reply
	case "setData", "create", "create2", "createContainer", "createTTL":
		return k == proto.Request
	}
	return false
}

// hasChildren tells the ops whose zero child count is worth printing.
func hasChildren(op string) bool {
	switch op {
	case "getChildren", "getChildren2", "getAllChildrenNumber", "getEphemerals":
		return true
	}
	return false
}

func appendZABJSON(dst []byte, z *proto.ZABInfo) []byte {
	if z.Type != 0 {
		dst = appendJSONInt(dst, `,"type":`, int64(z.Type))
	}
	if z.Sid != 0 {
		dst = appendJSONInt(dst, `,"sid":`, z.Sid)
	}
	if z.TxnOp != "" {
		dst = append(dst, `,"txn_op":`...)
		dst = appendJSONString(dst, z.TxnOp)
	}
	if z.TxnType != 0 {
		dst = appendJSONInt(dst, `,"txn_type":`, int64(z.TxnType))
	}
	if z.CXid != 0 {
		dst = appendJSONInt(dst, `,"cxid":`, int64(z.CXid))
	}
	if z.DataLen > 0 {
		dst = appendJSONInt(dst, `,"data_len":`, int64(z.DataLen))
	}
	if z.SnapSize != 0 {
		dst = appendJSONInt(dst, `,"snap_size":`, z.SnapSize)
	}
	return dst
}

func appendFLEJSON(dst []byte, f *proto.FLEInfo) []byte {
	if f.Sid != 0 {
		dst = appendJSONInt(dst, `,"sid":`, f.Sid)
	}
	if f.Addr != nil {
		dst = append(dst, `,"addr":`...)
		dst = appendJSONBytes(dst, f.Addr)
	}
	if f.State != "" {
		dst = append(dst, `,"state":`...)
		dst = appendJSONString(dst, f.State)
		dst = appendJSONInt(dst, `,"leader":`, f.Leader)
		dst = appendJSONInt(dst, `,"election_epoch":`, f.ElectionEpoch)
		dst = appendJSONInt(dst, `,"peer_epoch":`, f.PeerEpoch)
		dst = appendJSONInt(dst, `,"version":`, int64(f.Version))
	}
	return dst
}

func appendJSONInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	return appendInt(dst, v)
}

// appendSeconds writes d as decimal seconds, exactly (no float rounding),
// trailing zeros trimmed: 1.5ms is 0.0015.
func appendSeconds(dst []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u
	}
	if u < 1e9 { // most latencies: no call for the zero
		dst = append(dst, '0')
	} else {
		dst = appendUint(dst, u/1e9)
	}
	frac := uint32(u % 1e9)
	if frac == 0 {
		return dst
	}
	// Nine digits in place (one, then eight in two independent groups),
	// then the trailing zeros off.
	l := len(dst)
	dst = grow(dst, 10)[:l+10]
	b := dst[l : l+10]
	q := frac / 1e8
	b[0], b[1] = '.', byte('0'+q)
	put8(b[2:], frac-q*1e8)
	n := 10
	for b[n-1] == '0' {
		n--
	}
	return dst[:l+n]
}
