package render

import (
	"strconv"
	"time"

	"github.com/zktap/zktap/proto"
)

// AppendText appends m to dst as one line for people, newline included, in
// the style of zk-dump:
//
//	14:03:02.123456 10.0.0.5:51234 -> 10.0.0.1:2181 zk getData /a/b watch=true xid=12
//	14:03:02.124210 10.0.0.1:2181 -> 10.0.0.5:51234 zk getData /a/b xid=12 err=NONODE latency=754µs
//
// A paired reply shows its request's op and path and the latency, so a
// reply line reads as the whole exchange. It does not allocate when dst has
// room.
func AppendText(dst []byte, m *proto.Message, opts Options) []byte {
	loc := opts.Location
	if loc == nil {
		loc = time.UTC
	}
	dst = m.Time.In(loc).AppendFormat(dst, "15:04:05.000000")
	dst = append(dst, ' ')
	dst = appendAddrPort(dst, m.Src)
	dst = append(dst, " -> "...)
	dst = appendAddrPort(dst, m.Dst)
	dst = append(dst, ' ')
	dst = append(dst, m.Proto.String()...)
	dst = append(dst, ' ')
	if m.Op != "" {
		dst = appendTextString(dst, m.Op)
	} else {
		dst = append(dst, m.Kind.String()...)
	}
	if len(m.Path) > 0 {
		dst = append(dst, ' ')
		dst = appendTextBytes(dst, m.Path)
	}
	switch m.Proto {
	case proto.ZK:
		dst = appendZKText(dst, m)
	case proto.ZAB:
		dst = appendZABText(dst, m)
	case proto.FLE:
		dst = appendFLEText(dst, &m.FLE)
	case proto.FourLetter:
		if opts.ShowText && len(m.Text) > 0 {
			dst = append(dst, " text="...)
			dst = appendTextBytes(dst, m.Text)
		}
	}
	if m.Paired {
		dst = append(dst, " latency="...)
		dst = appendHumanDuration(dst, m.Latency)
	}
	return append(dst, '\n')
}

func appendZKText(dst []byte, m *proto.Message) []byte {
	z := &m.ZK
	if z.TLS {
		dst = append(dst, " tls=true"...)
	}
	if m.Kind == proto.Event {
		dst = append(dst, " event="...)
		if name := EventName(z.EventType); name != "" {
			dst = append(dst, name...)
		} else {
			dst = strconv.AppendInt(dst, int64(z.EventType), 10)
		}
	}
	if z.Watch {
		dst = append(dst, " watch=true"...)
	}
	if m.Kind == proto.Request {
		if m.Op == "addWatch" {
			dst = append(dst, " mode="...)
			switch z.WatchMode {
			case 0:
				dst = append(dst, "persistent"...)
			case 1:
				dst = append(dst, "persistentRecursive"...)
			default:
				dst = strconv.AppendInt(dst, int64(z.WatchMode), 10)
			}
		} else if isWatcherOp(m.Op) {
			dst = append(dst, " watcher="...)
			if name := WatcherTypeName(z.WatchMode); name != "" {
				dst = append(dst, name...)
			} else {
				dst = strconv.AppendInt(dst, int64(z.WatchMode), 10)
			}
		}
	}
	if m.HasSession {
		dst = append(dst, " session=0x"...)
		dst = appendHex(dst, uint64(m.Session))
	}
	if m.Op == "connect" {
		dst = appendTextInt(dst, " timeout=", int64(z.Timeout))
		if z.ReadOnly {
			dst = append(dst, " read_only=true"...)
		}
		if z.Reconnect {
			dst = append(dst, " reconnect=true"...)
		}
	}
	if len(z.AuthScheme) > 0 {
		dst = append(dst, " auth="...)
		dst = appendTextBytes(dst, z.AuthScheme)
		if len(z.AuthUser) > 0 {
			dst = append(dst, ':')
			dst = appendTextBytes(dst, z.AuthUser)
		}
	}
	if z.Watches != 0 {
		dst = appendTextInt(dst, " watches=", int64(z.Watches))
	}
	if z.DataLen > 0 || z.DataLen == 0 && hasData(m.Op, m.Kind) {
		dst = appendTextInt(dst, " data_len=", int64(z.DataLen))
	}
	if z.Children > 0 || z.Children == 0 && m.Kind == proto.Reply && hasChildren(m.Op) {
		dst = appendTextInt(dst, " children=", int64(z.Children))
	}
	for i := range z.Sub {
		s := &z.Sub[i]
		if i == 0 {
			dst = append(dst, " ops=["...)
		} else {
			dst = append(dst, ", "...)
		}
		dst = appendTextString(dst, s.Op)
		if len(s.Path) > 0 {
			dst = append(dst, ' ')
			dst = appendTextBytes(dst, s.Path)
		}
		if m.Kind == proto.Reply && s.Err != 0 {
			dst = append(dst, ' ')
			dst = appendErr(dst, s.Err)
		}
		if i == len(z.Sub)-1 {
			dst = append(dst, ']')
		}
	}
	if m.HasXid {
		dst = appendTextInt(dst, " xid=", int64(m.Xid))
	}
	if m.HasZxid {
		dst = append(dst, " zxid=0x"...)
		dst = strconv.AppendUint(dst, uint64(m.Zxid), 16)
	}
	if m.Kind == proto.Reply {
		dst = append(dst, " err="...)
		dst = appendErr(dst, m.Err)
	}
	return dst
}

func appendErr(dst []byte, code int32) []byte {
	if name := ErrName(code); name != "" {
		return append(dst, name...)
	}
	return strconv.AppendInt(dst, int64(code), 10)
}

func appendZABText(dst []byte, m *proto.Message) []byte {
	z := &m.ZAB
	if z.Sid != 0 {
		dst = appendTextInt(dst, " sid=", z.Sid)
	}
	if z.TxnOp != "" {
		dst = append(dst, " txn="...)
		dst = appendTextString(dst, z.TxnOp)
	}
	if m.HasSession {
		dst = append(dst, " session=0x"...)
		dst = appendHex(dst, uint64(m.Session))
	}
	if z.CXid != 0 {
		dst = appendTextInt(dst, " cxid=", int64(z.CXid))
	}
	if m.HasZxid {
		dst = append(dst, " zxid=0x"...)
		dst = strconv.AppendUint(dst, uint64(m.Zxid), 16)
	}
	if z.DataLen > 0 {
		dst = appendTextInt(dst, " data_len=", int64(z.DataLen))
	}
	if z.SnapSize != 0 {
		dst = appendTextInt(dst, " snap_size=", z.SnapSize)
	}
	return dst
}

func appendFLEText(dst []byte, f *proto.FLEInfo) []byte {
	if f.Sid != 0 {
		dst = appendTextInt(dst, " sid=", f.Sid)
	}
	if len(f.Addr) > 0 {
		dst = append(dst, " addr="...)
		dst = appendTextBytes(dst, f.Addr)
	}
	if f.State != "" {
		dst = append(dst, " state="...)
		dst = appendTextString(dst, f.State)
		dst = appendTextInt(dst, " leader=", f.Leader)
		dst = appendTextInt(dst, " election_epoch=", f.ElectionEpoch)
		dst = appendTextInt(dst, " peer_epoch=", f.PeerEpoch)
	}
	return dst
}

func appendTextInt(dst []byte, key string, v int64) []byte {
	dst = append(dst, key...)
	return strconv.AppendInt(dst, v, 10)
}

// appendHumanDuration writes d in the largest unit that keeps it at or
// above 1 (s, ms or µs), with up to three decimals: 754µs, 1.234ms, 2.5s.
func appendHumanDuration(dst []byte, d time.Duration) []byte {
	if d < 0 {
		dst = append(dst, '-')
		d = -d
	}
	unit, suffix := time.Microsecond, "µs"
	switch {
	case d >= time.Second:
		unit, suffix = time.Second, "s"
	case d >= time.Millisecond:
		unit, suffix = time.Millisecond, "ms"
	case d < time.Microsecond:
		unit, suffix = time.Nanosecond, "ns"
	}
	whole := d / unit
	dst = strconv.AppendInt(dst, int64(whole), 10)
	if unit > time.Nanosecond {
		// Three decimals of the unit, trailing zeros trimmed.
		milli := int64((d % unit) / (unit / 1000))
		if milli != 0 {
			buf := [4]byte{'.', byte('0' + milli/100), byte('0' + milli/10%10), byte('0' + milli%10)}
			n := 4
			for buf[n-1] == '0' {
				n--
			}
			dst = append(dst, buf[:n]...)
		}
	}
	return append(dst, suffix...)
}
