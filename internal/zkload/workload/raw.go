package workload

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"time"
)

// The raw client below speaks the client protocol frame by frame, for the operations
// go-zookeeper cannot send (addWatch, multiRead, whoAmI, createTTL...). It behaves like
// the Java client where the two differ from go-zookeeper: its ConnectRequest carries the
// readOnly byte (45 bytes), auth uses xid -4 and ping xid -2, and after a reconnect it
// sends the ConnectRequest, its auth packets, then setWatches2.

// Opcodes the raw client sends (ZooDefs.OpCode).
const (
	opCreate, opDelete, opExists, opGetData, opSetData = 1, 2, 3, 4, 5
	opGetACL, opSetACL, opGetChildren, opSync, opPing  = 6, 7, 8, 9, 11
	opGetChildren2, opCheck, opMulti                   = 12, 13, 14
	opCreate2, opReconfig                              = 15, 16
	opCheckWatches, opRemoveWatches                    = 17, 18
	opCreateContainer, opCreateTTL, opMultiRead        = 19, 21, 22
	opAuth, opSetWatches                               = 100, 101
	opGetEphemerals, opGetAllChildrenNumber            = 103, 104
	opSetWatches2, opAddWatch, opWhoAmI                = 105, 106, 107
	opCloseSession                                     = -11
)

// Special xids (PROTOCOL.md 2.3).
const (
	xidNotification = -1
	xidPing         = -2
	xidAuth         = -4
)

// rawMaxFrame bounds a frame the raw client accepts from the server.
const rawMaxFrame = 4 << 20

// rawPathOps are the opcodes whose request record starts with a znode path: pathOps
// plus checkWatches and removeWatches, which go-zookeeper never sends.
var rawPathOps = map[int32]bool{17: true, 18: true}

func isPathOp(op int32) bool { return pathOps[op] || rawPathOps[op] }

// Jute encoders.
func putInt(b []byte, v int32) []byte  { return binary.BigEndian.AppendUint32(b, uint32(v)) }
func putLong(b []byte, v int64) []byte { return binary.BigEndian.AppendUint64(b, uint64(v)) }
func putString(b []byte, s string) []byte {
	return append(putInt(b, int32(len(s))), s...)
}

// putBuffer writes nil as the null buffer (length -1).
func putBuffer(b, d []byte) []byte {
	if d == nil {
		return putInt(b, -1)
	}
	return append(putInt(b, int32(len(d))), d...)
}

func putBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func putStrings(b []byte, ss []string) []byte {
	b = putInt(b, int32(len(ss)))
	for _, s := range ss {
		b = putString(b, s)
	}
	return b
}

// acl is one ACL entry: perms, scheme, id.
type acl struct {
	perms      int32
	scheme, id string
}

var worldAll = []acl{{31, "world", "anyone"}}

func putACLs(b []byte, acls []acl) []byte {
	b = putInt(b, int32(len(acls)))
	for _, a := range acls {
		b = putString(putString(putInt(b, a.perms), a.scheme), a.id)
	}
	return b
}

// jreader reads jute fields from a frame the server or the client wrote. A read past
// the end sets bad and returns zero values, so that no input can make it panic. It is
// not zktap's proto/jute on purpose: the reports are the tests' reference for zktap's
// decoders, so they share no decoding code with them (as the tap in wiretap.go).
type jreader struct {
	b   []byte
	bad bool
}

func (r *jreader) int() int32 {
	if len(r.b) < 4 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *jreader) long() int64 {
	if len(r.b) < 8 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	return v
}

func (r *jreader) bool() bool {
	if len(r.b) < 1 {
		r.bad = true
		return false
	}
	v := r.b[0] != 0
	r.b = r.b[1:]
	return v
}

// buffer returns a buffer or ustring; null (-1) is nil. It aliases r's bytes.
func (r *jreader) buffer() []byte {
	n := r.int()
	if n == -1 || r.bad {
		return nil
	}
	if n < 0 || int(n) > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *jreader) str() string { return string(r.buffer()) }

// vecLen reads a vector's count, bounded by the bytes left at min bytes per element.
func (r *jreader) vecLen(min int) int {
	n := r.int()
	if r.bad || n < 0 {
		return 0
	}
	if int(n) > len(r.b)/min {
		r.bad, r.b = true, nil
		return 0
	}
	return int(n)
}

func (r *jreader) strings() []string {
	n := r.vecLen(4)
	out := make([]string, 0, n)
	for range n {
		out = append(out, r.str())
	}
	return out
}

func (r *jreader) skipACLs() {
	for range r.vecLen(12) {
		r.int()
		r.buffer()
		r.buffer()
	}
}

const statSize = 68

func (r *jreader) skipStat() {
	if len(r.b) < statSize {
		r.bad, r.b = true, nil
		return
	}
	r.b = r.b[statSize:]
}

// SubOp is one operation of a multi or multiRead request, or one result of its reply:
// the op name (for a result its type: an error result is "error"), the path where the
// record has one, and for a result the error code (omitted when 0).
type SubOp struct {
	Op   string `json:"op"`
	Path string `json:"path,omitempty"`
	Err  int32  `json:"err,omitempty"`
}

// MultiRecord is one multi or multiRead request and the results of its reply.
type MultiRecord struct {
	Op      string  `json:"op"`
	Ops     []SubOp `json:"ops"`
	Results []SubOp `json:"results"`
}

// PathMode is an addWatch request (Mode: 0 persistent, 1 persistentRecursive) or a
// checkWatches or removeWatches request (Mode: the WatcherType, 1 children, 2 data,
// 3 any).
type PathMode struct {
	Op   string `json:"op"`
	Path string `json:"path"`
	Mode int32  `json:"mode"`
}

// ClientInfo is one identity of a whoAmI reply.
type ClientInfo struct {
	Scheme string `json:"auth_scheme"`
	User   string `json:"user"`
}

// rawCounts extends counts with what only the raw client's operations carry. Like
// counts it is filled from the bytes the client wrote and read.
type rawCounts struct {
	*counts
	reconnects    int
	multiReadOps  map[string]int
	multis        []MultiRecord
	createModes   map[string]map[string]int
	watchRequests map[string]int
	pathModes     []PathMode
	notifByPath   map[string]map[string]int
	whoAmI        [][]ClientInfo
}

func newRawCounts() *rawCounts {
	return &rawCounts{
		counts:        newCounts(func(p string) string { return p }),
		multiReadOps:  map[string]int{},
		createModes:   map[string]map[string]int{},
		watchRequests: map[string]int{},
		notifByPath:   map[string]map[string]int{},
	}
}

func inc(m map[string]map[string]int, k1, k2 string) {
	if m[k1] == nil {
		m[k1] = map[string]int{}
	}
	m[k1][k2]++
}

// pendingReq is a request awaiting its reply on one connection.
type pendingReq struct {
	op    int32
	multi int // index in rawCounts.multis, or -1
}

// event is one watch notification.
type event struct {
	Type int32
	Path string
}

func (e event) String() string { return eventName(e.Type) + " " + e.Path }

func eventName(t int32) string {
	if n, ok := eventNames[t]; ok {
		return n
	}
	return "type" + strconv.Itoa(int(t))
}

// rawSession is one TCP connection of the raw client. It is used by one goroutine.
type rawSession struct {
	name     string // for errors
	conn     net.Conn
	br       *bufio.Reader
	c        *rawCounts
	pending  map[int32]pendingReq
	sentConn bool // ConnectRequest written
	readConn bool // ConnectResponse read
	xid      int32
	id       int64
	passwd   []byte
	lastZxid int64
	events   []event // notifications read and not yet checked
	timeout  time.Duration
}

// dialRaw opens a connection and completes the handshake. A zero id opens a new
// session; otherwise the session id and password resume that session, with lastZxid
// the highest zxid the client saw on it.
func dialRaw(ctx context.Context, name, addr string, c *rawCounts, sessTimeout time.Duration, id int64, passwd []byte, lastZxid int64) (*rawSession, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("workload: %s: %w", name, err)
	}
	c.mu.Lock()
	c.connections++
	c.mu.Unlock()
	s := &rawSession{name: name, conn: conn, br: bufio.NewReaderSize(conn, 64<<10), c: c,
		pending: map[int32]pendingReq{}, lastZxid: lastZxid, timeout: 10 * time.Second}
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd,
	// readOnly (false), as the Java client writes it.
	b := putInt(nil, 0)
	b = putLong(b, lastZxid)
	b = putInt(b, int32(sessTimeout/time.Millisecond))
	b = putLong(b, id)
	b = putBuffer(b, passwd)
	b = putBool(b, false)
	if err := s.write(b); err != nil {
		conn.Close()
		return nil, err
	}
	f, err := s.readFrame()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("workload: %s: connect response: %w", name, err)
	}
	// ConnectResponse: protocolVersion, timeOut, sessionId, passwd, readOnly.
	r := jreader{b: f}
	r.int()
	to := r.int()
	s.id = r.long()
	s.passwd = slices.Clone(r.buffer())
	if r.bad || to == 0 {
		conn.Close()
		return nil, fmt.Errorf("workload: %s: session refused (timeout %d)", name, to)
	}
	if id != 0 && s.id != id {
		conn.Close()
		return nil, fmt.Errorf("workload: %s: resumed session 0x%x, got 0x%x", name, id, s.id)
	}
	return s, nil
}

// write sends one frame with body b and counts it.
func (s *rawSession) write(b []byte) error {
	f := putInt(make([]byte, 0, 4+len(b)), int32(len(b)))
	f = append(f, b...)
	s.record(b)
	s.conn.SetWriteDeadline(time.Now().Add(s.timeout))
	n, err := s.conn.Write(f)
	s.c.mu.Lock()
	s.c.bytesSent += int64(n)
	s.c.mu.Unlock()
	if err != nil {
		return fmt.Errorf("workload: %s: write: %w", s.name, err)
	}
	return nil
}

// readFrame reads one frame (deadline s.timeout) and counts it.
func (s *rawSession) readFrame() ([]byte, error) {
	s.conn.SetReadDeadline(time.Now().Add(s.timeout))
	var h [4]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(h[:]))
	if n < 0 || n > rawMaxFrame {
		return nil, fmt.Errorf("workload: %s: frame length %d", s.name, n)
	}
	f := make([]byte, n)
	if _, err := io.ReadFull(s.br, f); err != nil {
		return nil, err
	}
	s.c.mu.Lock()
	s.c.bytesRecv += int64(4 + n)
	s.c.mu.Unlock()
	s.recordReply(f)
	return f, nil
}

// record counts one client frame from its bytes.
func (s *rawSession) record(b []byte) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.sentConn {
		s.sentConn = true
		c.requests["connect"]++
		r := jreader{b: b}
		r.int()
		r.long()
		r.int()
		if r.long() != 0 {
			c.reconnects++
		}
		return
	}
	r := jreader{b: b}
	xid, op := r.int(), r.int()
	if r.bad {
		c.requests["short"]++
		return
	}
	name := OpName(op)
	c.requests[name]++
	p := pendingReq{op: op, multi: -1}
	body := r
	var path string
	if isPathOp(op) {
		path = r.str()
		inc(c.byPath, c.pathKey(path), name)
	}
	switch op {
	case opExists, opGetData, opGetChildren, opGetChildren2:
		if r.bool() {
			c.watchRequests[name]++
		}
	case opCreate, opCreate2, opCreateContainer, opCreateTTL:
		r.buffer()
		r.skipACLs()
		if flags := r.int(); !r.bad {
			inc(c.createModes, name, strconv.Itoa(int(flags)))
		}
	case opAddWatch, opCheckWatches, opRemoveWatches:
		mode := r.int()
		c.pathModes = append(c.pathModes, PathMode{Op: name, Path: path, Mode: mode})
		if op == opAddWatch {
			c.watchRequests[name]++
		}
	case opMulti, opMultiRead:
		p.multi = len(c.multis)
		m := MultiRecord{Op: name, Ops: readMultiOps(&body)}
		for _, o := range m.Ops {
			if op == opMulti {
				c.multiOps[o.Op]++
			} else {
				c.multiReadOps[o.Op]++
			}
		}
		c.multis = append(c.multis, m)
	}
	s.pending[xid] = p
}

// readMultiOps reads a MultiOperationRecord's ops (the kinds the raw client sends).
func readMultiOps(r *jreader) []SubOp {
	var ops []SubOp
	for !r.bad {
		typ, done := r.int(), r.bool()
		r.int()
		if done || r.bad {
			break
		}
		o := SubOp{Op: OpName(typ), Path: r.str()}
		switch typ {
		case opCreate, opCreate2, opCreateContainer, opCreateTTL:
			r.buffer()
			r.skipACLs()
			r.int()
			if typ == opCreateTTL {
				r.long()
			}
		case opDelete, opCheck:
			r.int()
		case opSetData:
			r.buffer()
			r.int()
		case opGetData, opGetChildren:
			r.bool()
		default:
			r.bad = true
		}
		ops = append(ops, o)
	}
	return ops
}

// recordReply counts one server frame from its bytes.
func (s *rawSession) recordReply(f []byte) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.readConn {
		s.readConn = true
		c.addReply("connect", 0)
		return
	}
	r := jreader{b: f}
	xid, zxid, code := r.int(), r.long(), r.int()
	if r.bad {
		c.addReply("short", 0)
		return
	}
	if xid == xidNotification {
		typ, _, path := r.int(), r.int(), r.str()
		if r.bad {
			c.notifications["short"]++
			return
		}
		name := eventName(typ)
		c.notifications[name]++
		inc(c.notifByPath, path, name)
		s.events = append(s.events, event{typ, path})
		return
	}
	if zxid > s.lastZxid {
		s.lastZxid = zxid
	}
	p, ok := s.pending[xid]
	delete(s.pending, xid)
	if !ok {
		c.addReply("unmatched", code)
		return
	}
	c.addReply(OpName(p.op), code)
	switch {
	case p.multi >= 0:
		c.multis[p.multi].Results = readMultiResults(&r)
	case p.op == opWhoAmI && code == 0:
		var ids []ClientInfo
		for range r.vecLen(8) {
			ids = append(ids, ClientInfo{Scheme: r.str(), User: r.str()})
		}
		c.whoAmI = append(c.whoAmI, ids)
	}
}

// readMultiResults reads a MultiResponse's results.
func readMultiResults(r *jreader) []SubOp {
	var res []SubOp
	for !r.bad {
		typ, done, code := r.int(), r.bool(), r.int()
		if done || r.bad {
			break
		}
		o := SubOp{Op: OpName(typ), Err: code}
		switch typ {
		case opCreate:
			o.Path = r.str()
		case opCreate2, opCreateContainer, opCreateTTL:
			o.Path = r.str()
			r.skipStat()
		case opDelete, opCheck:
		case opSetData:
			r.skipStat()
		case opGetChildren:
			r.strings()
		case opGetData:
			r.buffer()
			r.skipStat()
		case -1:
			r.int()
		default:
			r.bad = true
		}
		res = append(res, o)
	}
	return res
}

// errReply is a reply whose error code is not the one the step expected.
var errReply = errors.New("unexpected error code")

// call sends one request (opcode op, record body) and reads frames until its reply,
// keeping notifications read on the way in s.events. It returns the reply's record
// and fails unless the reply's error code is want.
func (s *rawSession) call(op int32, body []byte, want int32) ([]byte, error) {
	xid := s.nextXid(op)
	b := putInt(putInt(make([]byte, 0, 8+len(body)), xid), op)
	if err := s.write(append(b, body...)); err != nil {
		return nil, err
	}
	for {
		f, err := s.readFrame()
		if err != nil {
			return nil, fmt.Errorf("workload: %s: %s: %w", s.name, OpName(op), err)
		}
		r := jreader{b: f}
		rx := r.int()
		r.long()
		code := r.int()
		if r.bad {
			return nil, fmt.Errorf("workload: %s: %s: reply of %d bytes", s.name, OpName(op), len(f))
		}
		switch rx {
		case xidNotification:
			continue
		case xid:
			if code != want {
				return nil, fmt.Errorf("workload: %s: %s: %w %d, want %d", s.name, OpName(op), errReply, code, want)
			}
			return r.b, nil
		default:
			return nil, fmt.Errorf("workload: %s: %s (xid %d): reply with xid %d", s.name, OpName(op), xid, rx)
		}
	}
}

// nextXid is the xid of the next request: ping and auth use their special xids, the
// rest count up from 1, as in the Java client.
func (s *rawSession) nextXid(op int32) int32 {
	switch op {
	case opPing:
		return xidPing
	case opAuth:
		return xidAuth
	}
	s.xid++
	return s.xid
}

// expectEvents checks that the notifications read since the last check are exactly
// want, in any order, and forgets them.
func (s *rawSession) expectEvents(step string, want ...event) error {
	got := s.events
	s.events = nil
	if sameEvents(got, want) {
		return nil
	}
	return fmt.Errorf("workload: %s: %s: notifications %v, want %v", s.name, step, got, want)
}

// waitEvents reads frames until the notifications read since the last check are want
// (another session's change fires them, so they come at any time), then checks them.
func (s *rawSession) waitEvents(step string, want ...event) error {
	for len(s.events) < len(want) {
		f, err := s.readFrame()
		if err != nil {
			return fmt.Errorf("workload: %s: %s: waiting for %v: %w", s.name, step, want, err)
		}
		if r := (jreader{b: f}); r.int() != xidNotification {
			return fmt.Errorf("workload: %s: %s: unsolicited frame of %d bytes", s.name, step, len(f))
		}
	}
	return s.expectEvents(step, want...)
}

func sameEvents(a, b []event) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[event]int{}
	for _, e := range a {
		n[e]++
	}
	for _, e := range b {
		n[e]--
	}
	for _, v := range n {
		if v != 0 {
			return false
		}
	}
	return true
}

// closeSession sends closeSession, reads its reply and closes the connection.
func (s *rawSession) closeSession() error {
	_, err := s.call(opCloseSession, nil, 0)
	s.conn.Close()
	return err
}

// snapshot returns the extra counts for a report.
func (c *rawCounts) snapshot() (modes map[string]map[string]int, byPath map[string]map[string]int) {
	modes = make(map[string]map[string]int, len(c.createModes))
	for k, v := range c.createModes {
		modes[k] = maps.Clone(v)
	}
	byPath = make(map[string]map[string]int, len(c.notifByPath))
	for k, v := range c.notifByPath {
		byPath[k] = maps.Clone(v)
	}
	return modes, byPath
}
