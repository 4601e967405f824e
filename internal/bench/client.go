//go:build linux

package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ZooKeeper opcodes the client sends (ZooDefs.OpCode).
const (
	opCreate       = 1
	opDelete       = 2
	opExists       = 3
	opGetData      = 4
	opSetData      = 5
	opCloseSession = -11
)

// opNames are zktap's op label values for the opcodes above.
var opNames = map[int32]string{
	opCreate: "create", opDelete: "delete", opExists: "exists",
	opGetData: "getData", opSetData: "setData", opCloseSession: "closeSession",
}

// maxFrame bounds a reply the client accepts; ZooKeeper's default
// jute.maxbuffer is just under 1 MiB.
const maxFrame = 1 << 20

var errFrameTooLarge = errors.New("bench: reply frame too large")

// session is one raw ZooKeeper client connection.
type session struct {
	c   net.Conn
	br  *bufio.Reader
	id  int64
	xid int32
}

// dialSession opens a TCP connection and completes the ConnectRequest /
// ConnectResponse handshake with the given session timeout.
func dialSession(ctx context.Context, addr string, timeout time.Duration) (*session, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &session{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId,
	// passwd (16 zero bytes), readOnly.
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(timeout/time.Millisecond))
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 16)
	b = append(b, make([]byte, 16)...)
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	f, err := s.readFrame(nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("bench: connect response: %w", err)
	}
	// ConnectResponse: protocolVersion, timeOut, sessionId, passwd...
	if len(f) < 16 {
		c.Close()
		return nil, fmt.Errorf("bench: connect response of %d bytes", len(f))
	}
	s.id = int64(binary.BigEndian.Uint64(f[8:]))
	if binary.BigEndian.Uint32(f[4:]) == 0 {
		c.Close()
		return nil, errors.New("bench: session rejected (timeout 0)")
	}
	c.SetDeadline(time.Time{})
	return s, nil
}

// readFrame reads one length-prefixed frame into buf (grown as needed).
func (s *session) readFrame(buf []byte) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(s.br, h[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint32(h[:]))
	if n > maxFrame {
		return nil, errFrameTooLarge
	}
	if cap(buf) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	_, err := io.ReadFull(s.br, buf)
	return buf, err
}

// Jute encoders for request bodies.
func appendString(b []byte, s string) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
	return append(b, s...)
}

func appendBuffer(b, data []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	return append(b, data...)
}

// appendRequest appends one framed request: length, xid, opcode, body.
func appendRequest(b []byte, xid, op int32, body func([]byte) []byte) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(xid))
	b = binary.BigEndian.AppendUint32(b, uint32(op))
	if body != nil {
		b = body(b)
	}
	binary.BigEndian.PutUint32(b[start:], uint32(len(b)-start-4))
	return b
}

// worldACL is the ACL vector [{perms: ALL, id: world:anyone}].
func appendWorldACL(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint32(b, 31)
	b = appendString(b, "world")
	return appendString(b, "anyone")
}

func createBody(path string, data []byte) func([]byte) []byte {
	return func(b []byte) []byte {
		b = appendString(b, path)
		b = appendBuffer(b, data)
		b = appendWorldACL(b)
		return binary.BigEndian.AppendUint32(b, 0) // persistent
	}
}

// call sends one request and waits for its reply, returning the reply's
// error code. It is for setup, not for load.
func (s *session) call(op int32, body func([]byte) []byte) (int32, error) {
	s.xid++
	if _, err := s.c.Write(appendRequest(nil, s.xid, op, body)); err != nil {
		return 0, err
	}
	for {
		f, err := s.readFrame(nil)
		if err != nil {
			return 0, err
		}
		if len(f) < 16 {
			return 0, fmt.Errorf("bench: reply of %d bytes", len(f))
		}
		if int32(binary.BigEndian.Uint32(f)) == s.xid {
			return int32(binary.BigEndian.Uint32(f[12:])), nil
		}
	}
}

// close sends closeSession, waits for its reply and closes the connection.
func (s *session) close() error {
	s.c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := s.call(opCloseSession, nil)
	s.c.Close()
	return err
}

// Mixes of the load.
const (
	mixRead  = "read"  // exists and getData, alternately, on 100 nodes of 100 bytes
	mixWrite = "write" // setData, create, setData, delete of the node just created
)

// mixNodes is the number of nodes the read and setData operations spread over.
const mixNodes = 100

var nodeData = make([]byte, 100)

// setupMixes creates the nodes the mixes read and write.
func setupMixes(ctx context.Context, addr string) error {
	s, err := dialSession(ctx, addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer s.close()
	paths := []string{"/bench", "/bench/r", "/bench/s", "/bench/c"}
	for i := range mixNodes {
		paths = append(paths, "/bench/r/k"+strconv.Itoa(i), "/bench/s/k"+strconv.Itoa(i))
	}
	for _, p := range paths {
		code, err := s.call(opCreate, createBody(p, nodeData))
		if err != nil {
			return fmt.Errorf("bench: create %s: %w", p, err)
		}
		if code != 0 && code != -110 { // NODEEXISTS
			return fmt.Errorf("bench: create %s: error %d", p, code)
		}
	}
	return nil
}

// mixOp appends request number i of a session's mix. tag makes the nodes
// created by the write mix unique to the phase and session.
func mixOp(b []byte, mix, tag string, xid int32, i int64) ([]byte, int32) {
	k := strconv.FormatInt((i/4)%mixNodes, 10)
	switch mix {
	case mixRead:
		op := int32(opExists)
		if i%2 == 1 {
			op = opGetData
		}
		k = strconv.FormatInt((i/2)%mixNodes, 10)
		return appendRequest(b, xid, op, func(b []byte) []byte {
			b = appendString(b, "/bench/r/k"+k)
			return append(b, 0) // no watch
		}), op
	default:
		node := "/bench/c/" + tag + "n" + strconv.FormatInt(i/4, 10)
		switch i % 4 {
		case 0, 2:
			return appendRequest(b, xid, opSetData, func(b []byte) []byte {
				b = appendString(b, "/bench/s/k"+k)
				b = appendBuffer(b, nodeData)
				return binary.BigEndian.AppendUint32(b, 0xffffffff) // any version
			}), opSetData
		case 1:
			return appendRequest(b, xid, opCreate, createBody(node, nodeData)), opCreate
		default:
			return appendRequest(b, xid, opDelete, func(b []byte) []byte {
				b = appendString(b, node)
				return binary.BigEndian.AppendUint32(b, 0xffffffff)
			}), opDelete
		}
	}
}

// loadResult is what the client sent and received in a load run.
type loadResult struct {
	Mix         string           `json:"mix"`
	Sessions    int              `json:"sessions"`
	Outstanding int              `json:"outstanding"`
	Seconds     float64          `json:"seconds"`
	Ops         int64            `json:"ops"` // replies to mix requests
	OpsPerSec   float64          `json:"ops_per_second"`
	Requests    map[string]int64 `json:"requests"`      // sent, by op, closeSession included
	ErrReplies  int64            `json:"error_replies"` // replies with a non-zero error code
}

// runLoad drives mix on sessions pipelined sessions, each keeping up to
// outstanding requests in flight, for d. Every request sent is answered
// before the session closes, so the counts are exact.
func runLoad(ctx context.Context, addr, mix, phase string, sessions, outstanding int, d time.Duration) (loadResult, error) {
	res := loadResult{Mix: mix, Sessions: sessions, Outstanding: outstanding, Requests: map[string]int64{}}
	var ss []*session
	for range sessions {
		s, err := dialSession(ctx, addr, 30*time.Second)
		if err != nil {
			for _, s := range ss {
				s.c.Close()
			}
			return res, err
		}
		ss = append(ss, s)
	}
	var mu sync.Mutex
	var ops, errReplies atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, sessions)
	begin := time.Now()
	end := begin.Add(d)
	for si, s := range ss {
		wg.Go(func() {
			sent, err := s.pipeline(ctx, mix, phase+"s"+strconv.Itoa(si), outstanding, end, &ops, &errReplies)
			errs[si] = err
			mu.Lock()
			for op, n := range sent {
				res.Requests[opNames[op]] += n
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.Seconds = time.Since(begin).Seconds()
	res.Ops = ops.Load()
	res.OpsPerSec = float64(res.Ops) / d.Seconds()
	res.ErrReplies = errReplies.Load()
	return res, errors.Join(errs...)
}

// pipeline runs one session's share of the load and then closes it.
func (s *session) pipeline(ctx context.Context, mix, tag string, outstanding int, end time.Time, ops, errReplies *atomic.Int64) (map[int32]int64, error) {
	defer s.c.Close()
	tokens := make(chan struct{}, outstanding)
	for range outstanding {
		tokens <- struct{}{}
	}
	sent := map[int32]int64{}
	var closeXid atomic.Int32 // set once closeSession is sent
	readErr := make(chan error, 1)
	go func() {
		var buf []byte
		var err error
		for {
			buf, err = s.readFrame(buf)
			if err != nil {
				readErr <- err
				return
			}
			if len(buf) < 16 {
				readErr <- fmt.Errorf("bench: reply of %d bytes", len(buf))
				return
			}
			xid := int32(binary.BigEndian.Uint32(buf))
			if cx := closeXid.Load(); cx != 0 && xid == cx {
				readErr <- nil
				return
			}
			if binary.BigEndian.Uint32(buf[12:]) != 0 {
				errReplies.Add(1)
			}
			ops.Add(1)
			tokens <- struct{}{}
		}
	}()
	var b []byte
	var i int64
	timer := time.NewTimer(time.Until(end))
	defer timer.Stop()
	var werr error
send:
	for time.Now().Before(end) {
		select {
		case <-tokens:
		case <-timer.C:
			break send
		case <-ctx.Done():
			break send
		case err := <-readErr:
			return sent, err
		}
		n := 1
	more:
		for n < outstanding {
			select {
			case <-tokens:
				n++
			default:
				break more
			}
		}
		b = b[:0]
		for range n {
			s.xid++
			var op int32
			b, op = mixOp(b, mix, tag, s.xid, i)
			sent[op]++
			i++
		}
		if _, werr = s.c.Write(b); werr != nil {
			break
		}
	}
	if werr == nil {
		s.xid++
		closeXid.Store(s.xid)
		sent[opCloseSession]++
		_, werr = s.c.Write(appendRequest(b[:0], s.xid, opCloseSession, nil))
	}
	if werr != nil {
		return sent, werr
	}
	s.c.SetReadDeadline(time.Now().Add(30 * time.Second))
	return sent, <-readErr
}

// holdConns opens n sessions (at most par at once) and returns them open.
func holdConns(ctx context.Context, addr string, n, par int, timeout time.Duration) ([]*session, int, error) {
	var mu sync.Mutex
	var held []*session
	var failed int
	var firstErr error
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for range n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			cctx, cancel := context.WithTimeout(ctx, 60*time.Second)
			defer cancel()
			s, err := dialSession(cctx, addr, timeout)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			held = append(held, s)
		})
	}
	wg.Wait()
	return held, failed, firstErr
}
