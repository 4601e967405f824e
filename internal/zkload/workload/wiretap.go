package workload

import (
	"encoding/binary"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// opNames are ZooKeeper's opcode names (ZooDefs.OpCode), the same names PROTOCOL.md uses.
var opNames = map[int32]string{
	0: "notification", 1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData",
	6: "getACL", 7: "setACL", 8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2",
	13: "check", 14: "multi", 15: "create2", 16: "reconfig", 17: "checkWatches",
	18: "removeWatches", 19: "createContainer", 20: "deleteContainer", 21: "createTTL",
	22: "multiRead", 100: "auth", 101: "setWatches", 102: "sasl", 103: "getEphemerals",
	104: "getAllChildrenNumber", 105: "setWatches2", 106: "addWatch", 107: "whoAmI",
	-10: "createSession", -11: "closeSession", -1: "error",
}

// OpName returns ZooKeeper's name for an opcode, or "op<N>" for an unknown one.
func OpName(op int32) string {
	if n, ok := opNames[op]; ok {
		return n
	}
	return "op" + strconv.Itoa(int(op))
}

var eventNames = map[int32]string{
	1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged",
	5: "DataWatchRemoved", 6: "ChildWatchRemoved", 7: "PersistentWatchRemoved", -1: "None",
}

// pathOps are the opcodes whose request record starts with the znode path.
var pathOps = map[int32]bool{
	1: true, 2: true, 3: true, 4: true, 5: true, 6: true, 7: true, 8: true, 9: true,
	12: true, 13: true, 15: true, 19: true, 21: true, 103: true, 104: true, 106: true,
}

// counts is what the wire tap saw on all connections of one run. It is what the client
// really sent and received, including the frames go-zookeeper sends on its own (connect,
// ping, closeSession), so a decoder's counts can be compared with it exactly.
type counts struct {
	mu            sync.Mutex
	connections   int
	requests      map[string]int
	byPath        map[string]map[string]int
	multiOps      map[string]int
	replies       map[string]map[string]int
	notifications map[string]int
	bytesSent     int64
	bytesRecv     int64
	pathKey       func(string) string
}

func newCounts(pathKey func(string) string) *counts {
	return &counts{
		requests:      map[string]int{},
		byPath:        map[string]map[string]int{},
		multiOps:      map[string]int{},
		replies:       map[string]map[string]int{},
		notifications: map[string]int{},
		pathKey:       pathKey,
	}
}

// dialer wraps every connection go-zookeeper opens with a tap that parses the frames.
func (c *counts) dialer(network, address string, timeout time.Duration) (net.Conn, error) {
	conn, err := net.DialTimeout(network, address, timeout)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.connections++
	c.mu.Unlock()
	t := &tapConn{Conn: conn, c: c, pending: map[int32]int32{}}
	t.out.onFrame = t.request
	t.in.onFrame = t.reply
	return t, nil
}

type tapConn struct {
	net.Conn
	c        *counts
	out, in  frameScanner
	pmu      sync.Mutex
	pending  map[int32]int32 // xid -> opcode of requests awaiting a reply
	outFirst bool            // ConnectRequest seen
	inFirst  bool            // ConnectResponse seen
}

func (t *tapConn) Write(p []byte) (int, error) {
	// Record the request before it leaves: its reply can be read (by go-zookeeper's
	// receive goroutine) before Write returns. If the write fails the connection is dead
	// and the frame counts as sent, which is what a capture would show at worst.
	t.out.feed(p)
	n, err := t.Conn.Write(p)
	t.c.mu.Lock()
	t.c.bytesSent += int64(n)
	t.c.mu.Unlock()
	return n, err
}

func (t *tapConn) Read(p []byte) (int, error) {
	n, err := t.Conn.Read(p)
	t.in.feed(p[:n])
	t.c.mu.Lock()
	t.c.bytesRecv += int64(n)
	t.c.mu.Unlock()
	return n, err
}

func readString(b []byte) (string, bool) {
	if len(b) < 4 {
		return "", false
	}
	n := int(int32(binary.BigEndian.Uint32(b)))
	if n < 0 || n > len(b)-4 {
		return "", false
	}
	return string(b[4 : 4+n]), true
}

// request records one client frame; head is its first bytes, total its length.
func (t *tapConn) request(head []byte, total int) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.outFirst {
		t.outFirst = true
		c.requests["connect"]++
		return
	}
	if len(head) < 8 {
		c.requests["short"]++
		return
	}
	xid := int32(binary.BigEndian.Uint32(head))
	op := int32(binary.BigEndian.Uint32(head[4:]))
	name := OpName(op)
	c.requests[name]++
	// Pings (xid -2) and closeSession get replies too; match everything by xid.
	t.pmu.Lock()
	t.pending[xid] = op
	t.pmu.Unlock()
	if pathOps[op] {
		if p, ok := readString(head[8:]); ok {
			k := c.pathKey(p)
			if c.byPath[k] == nil {
				c.byPath[k] = map[string]int{}
			}
			c.byPath[k][name]++
		}
	}
	if op == 14 {
		c.countMulti(head[8:])
	}
}

// countMulti counts the operations inside a MultiOperationRecord: a sequence of
// MultiHeader{int type, bool done, int err} each followed by its op's record.
func (c *counts) countMulti(b []byte) {
	for len(b) >= 9 {
		typ := int32(binary.BigEndian.Uint32(b))
		done := b[4] != 0
		b = b[9:]
		if done {
			return
		}
		c.multiOps[OpName(typ)]++
		// Every op the go-zookeeper client puts in a multi starts with a path; skip the
		// record: create has path, data, acl vector, flags; the others path and more.
		p, ok := readString(b)
		if !ok {
			return
		}
		b = b[4+len(p):]
		switch typ {
		case 1, 15, 19: // data buffer, ACL vector, flags
			d, ok := readString(b)
			if !ok {
				return
			}
			b = b[4+len(d):]
			if len(b) < 4 {
				return
			}
			nacl := int(int32(binary.BigEndian.Uint32(b)))
			b = b[4:]
			for range nacl {
				if len(b) < 4 {
					return
				}
				b = b[4:]     // perms
				for range 2 { // scheme, id
					s, ok := readString(b)
					if !ok {
						return
					}
					b = b[4+len(s):]
				}
			}
			if len(b) < 4 {
				return
			}
			b = b[4:]
		case 2, 13: // version
			if len(b) < 4 {
				return
			}
			b = b[4:]
		case 5: // data, version
			d, ok := readString(b)
			if !ok || len(b) < 8+len(d) {
				return
			}
			b = b[8+len(d):]
		default:
			return
		}
	}
}

// reply records one server frame.
func (t *tapConn) reply(head []byte, total int) {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !t.inFirst {
		t.inFirst = true
		c.addReply("connect", 0)
		return
	}
	if len(head) < 16 {
		c.addReply("short", 0)
		return
	}
	xid := int32(binary.BigEndian.Uint32(head))
	errc := int32(binary.BigEndian.Uint32(head[12:]))
	if xid == -1 {
		if len(head) >= 20 {
			typ := int32(binary.BigEndian.Uint32(head[16:]))
			name, ok := eventNames[typ]
			if !ok {
				name = "type" + strconv.Itoa(int(typ))
			}
			c.notifications[name]++
		}
		return
	}
	t.pmu.Lock()
	op, ok := t.pending[xid]
	delete(t.pending, xid)
	t.pmu.Unlock()
	name := "unmatched"
	if ok {
		name = OpName(op)
	} else if xid == -2 {
		name = "ping"
	}
	c.addReply(name, errc)
}

func (c *counts) addReply(op string, errc int32) {
	if c.replies[op] == nil {
		c.replies[op] = map[string]int{}
	}
	c.replies[op][strconv.Itoa(int(errc))]++
}

// frameScanner splits a byte stream into ZooKeeper's length-prefixed frames, keeping
// only the first headCap bytes of each so that a 1 MB frame costs nothing to track.
type frameScanner struct {
	lenBuf  [4]byte
	lenN    int
	left    int // body bytes still to come; valid when lenN == 4
	total   int
	head    []byte
	onFrame func(head []byte, total int)
}

const headCap = 4096

func (s *frameScanner) feed(p []byte) {
	for len(p) > 0 {
		if s.lenN < 4 {
			k := copy(s.lenBuf[s.lenN:], p)
			s.lenN += k
			p = p[k:]
			if s.lenN < 4 {
				return
			}
			s.total = int(int32(binary.BigEndian.Uint32(s.lenBuf[:])))
			if s.total < 0 {
				s.total = 0
			}
			s.left = s.total
			s.head = s.head[:0]
			if s.left == 0 {
				s.done()
			}
			continue
		}
		k := min(s.left, len(p))
		if room := headCap - len(s.head); room > 0 {
			s.head = append(s.head, p[:min(k, room)]...)
		}
		s.left -= k
		p = p[k:]
		if s.left == 0 {
			s.done()
		}
	}
}

func (s *frameScanner) done() {
	s.onFrame(s.head, s.total)
	s.lenN = 0
}

// pathKeyFunc groups the children of the many-children node under one key, so that the
// report lists fixed paths and does not grow with the number of children.
func pathKeyFunc(kidsDir string) func(string) string {
	prefix := kidsDir + "/"
	return func(p string) string {
		if strings.HasPrefix(p, prefix) {
			return prefix + "*"
		}
		return p
	}
}
