package zk

import "time"

// maxStoredPath bounds the bytes of a request path kept for its reply, so
// MaxPending hostile requests with megabyte paths cannot pin megabytes per
// slot. Longer paths are truncated on the reply (the request carries the
// whole path).
const maxStoredPath = 1024

// pending is one outstanding request. path is reused storage owned by the
// slot: entries are swapped, never copied by value into a second slot.
// Emptied storage is not nil, so hasPath tells a request with a path (the
// empty string included) from one without.
type pending struct {
	xid     int32
	op      int32
	ts      time.Time
	path    []byte
	hasPath bool
	tag     uint64 // the sink's SinkTag on the request, for its reply
}

// pendingQueue is a FIFO of outstanding requests in a ring that grows up to
// max slots and then drops its oldest entry.
type pendingQueue struct {
	buf  []pending
	head int
	n    int
	max  int
}

// at returns entry i, 0 <= i <= q.n < len(q.buf) (or i < q.n == len):
// head+i is below twice the ring's size, so a subtraction wraps it where a
// modulo cost a division on every push, find and pop.
func (q *pendingQueue) at(i int) *pending {
	j := q.head + i
	if j >= len(q.buf) {
		j -= len(q.buf)
	}
	return &q.buf[j]
}

// push appends a request and returns its slot; dropped reports whether the
// oldest entry had to make room.
func (q *pendingQueue) push(xid, op int32, ts time.Time, path []byte) (p *pending, dropped bool) {
	if q.n == len(q.buf) {
		if len(q.buf) >= q.max {
			q.pop()
			dropped = true
		} else {
			q.grow()
		}
	}
	p = q.at(q.n)
	q.n++
	p.xid, p.op, p.ts, p.tag = xid, op, ts, 0
	if len(path) > maxStoredPath {
		path = path[:maxStoredPath]
	}
	p.path = append(p.path[:0], path...)
	p.hasPath = path != nil
	return p, dropped
}

func (q *pendingQueue) grow() {
	size := 2 * len(q.buf)
	if size < 8 {
		size = 8
	}
	if size > q.max {
		size = q.max
	}
	nb := make([]pending, size)
	for i := 0; i < len(q.buf); i++ {
		nb[i] = *q.at(i)
	}
	q.buf, q.head = nb, 0
}

// pop removes the head; its slot keeps its path storage for reuse.
func (q *pendingQueue) pop() {
	if q.n == 0 {
		return
	}
	q.head++
	if q.head == len(q.buf) {
		q.head = 0
	}
	q.n--
}

// find returns the index of the oldest entry with xid, or -1.
func (q *pendingQueue) find(xid int32) int {
	for i := 0; i < q.n; i++ {
		if q.at(i).xid == xid {
			return i
		}
	}
	return -1
}

// moveToHead rotates entry i to the head, keeping the order of the entries
// ahead of it, so that it can be popped while they stay pending.
func (q *pendingQueue) moveToHead(i int) {
	for ; i > 0; i-- {
		a, b := q.at(i), q.at(i-1)
		*a, *b = *b, *a
	}
}

func (q *pendingQueue) clear() { q.head, q.n = 0, 0 }
