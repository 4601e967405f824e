//go:build linux

package sniff

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// openLo opens a capture on lo, skipping when the test lacks the privilege
// to open packet sockets.
func openLo(t *testing.T, cfg Config, keepOutgoing bool) *Live {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: live capture needs root or CAP_NET_RAW")
	}
	l, err := openLive("lo", cfg, keepOutgoing)
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("skipping: no permission for packet sockets: %v", err)
	}
	if err != nil {
		t.Fatalf("openLive: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// capturePaths are the two ways Live reads: every live test runs on both.
var capturePaths = []struct {
	name   string
	noRing bool
}{{"ring", false}, {"recvmsg", true}}

// forEachPath runs f as a subtest on the ring and on the recvmsg path.
func forEachPath(t *testing.T, f func(t *testing.T, noRing bool)) {
	t.Helper()
	for _, p := range capturePaths {
		t.Run(p.name, func(t *testing.T) { f(t, p.noRing) })
	}
}

// echoServer listens on 127.0.0.1 and answers each message "msg-i" with
// "ack-i". It returns its port.
func echoServer(t *testing.T) uint16 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					var i int
					fmt.Sscanf(string(buf[:n]), "msg-%d", &i)
					fmt.Fprintf(c, "ack-%d", i)
				}
			}()
		}
	}()
	return uint16(ln.Addr().(*net.TCPAddr).Port)
}

// exchange sends n messages to port, each after the previous reply, so each
// is its own segment, and returns the payloads both ways.
func exchange(t *testing.T, port uint16, prefix string, n int) []string {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var sent []string
	buf := make([]byte, 64)
	for i := range n {
		msg := fmt.Sprintf("%s-%d", prefix, i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		m, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		sent = append(sent, msg, string(buf[:m]))
	}
	return sent
}

// isTimeout reports an idle read timeout, after which reading goes on.
func isTimeout(err error) bool {
	if err == nil {
		return false // without allocating the target of errors.As
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// collector reads a Live in the background and counts TCP payloads seen.
type collector struct {
	mu       sync.Mutex
	payloads map[string]int
	ports    map[uint16]bool
	frames   uint64
	done     chan error
}

func collect(l *Live) *collector {
	c := &collector{payloads: map[string]int{}, ports: map[uint16]bool{}, done: make(chan error, 1)}
	go func() {
		var seg Segment
		for {
			data, ts, link, err := l.ReadFrame()
			if isTimeout(err) {
				continue
			}
			if err != nil {
				c.done <- err
				return
			}
			c.mu.Lock()
			c.frames++
			if err := ParseFrame(link, data, ts, &seg); err == nil {
				c.ports[seg.Flow.Src.Port()] = true
				c.ports[seg.Flow.Dst.Port()] = true
				if len(seg.Payload) > 0 {
					c.payloads[string(seg.Payload)]++
				}
			}
			c.mu.Unlock()
		}
	}()
	return c
}

// waitFor waits until every payload in want has been seen, then a little
// longer so that duplicates would arrive too.
func (c *collector) waitFor(t *testing.T, want []string) map[string]int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		all := true
		for _, w := range want {
			all = all && c.payloads[w] > 0
		}
		c.mu.Unlock()
		if all {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	c.mu.Lock()
	defer c.mu.Unlock()
	got := make(map[string]int, len(c.payloads))
	for k, v := range c.payloads {
		got[k] = v
	}
	return got
}

func TestLiveLoopback(t *testing.T) { forEachPath(t, testLiveLoopback) }

func testLiveLoopback(t *testing.T, noRing bool) {
	port := echoServer(t)
	other := echoServer(t)
	l := openLo(t, Config{ZKPorts: []uint16{port}, ReadTimeout: time.Second, NoRing: noRing}, false)
	if (l.ring == nil) != noRing {
		t.Fatalf("ring mapped = %v with NoRing %v", l.ring != nil, noRing)
	}
	// A second socket without the outgoing check shows that on lo the
	// kernel really delivers each packet twice, so the check is what
	// dedupes.
	dup := openLo(t, Config{ZKPorts: []uint16{port}, NoRing: noRing}, true)
	if l.LinkType() != LinkEthernet {
		t.Errorf("lo link type %d, want Ethernet", l.LinkType())
	}
	c, cdup := collect(l), collect(dup)

	const n = 5
	sent := exchange(t, port, "msg", n)
	exchange(t, other, "other", 3)

	want := map[string]int{}
	wantDup := map[string]int{}
	for _, p := range sent {
		want[p] = 1
		wantDup[p] = 2
	}
	if diff := cmp.Diff(want, c.waitFor(t, sent)); diff != "" {
		t.Errorf("payloads seen with loopback dedupe (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDup, cdup.waitFor(t, sent)); diff != "" {
		t.Errorf("payloads seen without the outgoing check (-want +got):\n%s", diff)
	}
	c.mu.Lock()
	if c.ports[other] {
		t.Errorf("traffic on port %d (not in the filter) was delivered", other)
	}
	frames := c.frames
	c.mu.Unlock()

	// SYN, SYN-ACK, ACK, 2n data segments (their ACKs may piggyback), FIN
	// exchange: at least 2n+4 frames.
	st := l.Stats()
	if st.Frames != frames || st.Frames < 2*n+4 || st.Bytes < st.Frames*54 {
		t.Errorf("Stats = %+v; collector read %d frames, want >= %d", st, frames, 2*n+4)
	}
	if st.KernelDrops != 0 {
		t.Errorf("KernelDrops = %d on an idle lo", st.KernelDrops)
	}

	// Close unblocks the collector's pending ReadFrame well before the
	// one-second read timeout would.
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-c.done:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("ReadFrame after Close: %v, want net.ErrClosed", err)
		}
		var op *net.OpError
		if !errors.As(err, &op) {
			t.Errorf("ReadFrame after Close: %T, want *net.OpError", err)
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("ReadFrame took %v to return after Close", d)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("ReadFrame still blocked 3s after Close")
	}
	if err := l.Close(); err == nil {
		t.Error("second Close returned nil")
	}
	if got := l.Stats(); got.Frames != st.Frames {
		t.Errorf("Stats after Close = %+v, want Frames %d", got, st.Frames)
	}
}

func TestLiveReadTimeout(t *testing.T) { forEachPath(t, testLiveReadTimeout) }

func testLiveReadTimeout(t *testing.T, noRing bool) {
	// With no traffic, ReadFrame returns a timeout error after ReadTimeout
	// (the pipeline flushes its batches and ages flows on it), and reading
	// again works. The deadline is refreshed only when half used, so a
	// timeout comes after ReadTimeout/2 to ReadTimeout of silence.
	const timeout = 100 * time.Millisecond
	l := openLo(t, Config{ZKPorts: []uint16{1}, ReadTimeout: timeout, NoRing: noRing}, false)
	for range 3 {
		start := time.Now()
		_, _, _, err := l.ReadFrame()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("ReadFrame with no traffic = %v, want a timeout", err)
		}
		if d := time.Since(start); d < timeout/2 || d > timeout+400*time.Millisecond {
			t.Errorf("timeout after %v, want about %v", d, timeout)
		}
	}
	l.Close()
	if _, _, _, err := l.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close: %v", err)
	}
}

func TestLiveReadFrameAllocs(t *testing.T) { forEachPath(t, testLiveReadFrameAllocs) }

func testLiveReadFrameAllocs(t *testing.T, noRing bool) {
	port := echoServer(t)
	l := openLo(t, Config{ZKPorts: []uint16{port}, NoRing: noRing}, false)
	// Queue the frames of one long exchange in the socket buffer first, so
	// that only the reads run (and allocate) while measuring.
	exchange(t, port, "m", 100)
	time.Sleep(50 * time.Millisecond)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, _, err := l.ReadFrame(); err != nil {
			t.Error(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFrame allocates %v times per frame, want 0", allocs)
	}
}

func TestOpenLiveErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: live capture needs root or CAP_NET_RAW")
	}
	tests := []struct {
		name  string
		iface string
		cfg   Config
	}{
		{"no such interface", "zktap-nonexistent0", Config{ZKPorts: []uint16{2181}}},
		{"no ports", "lo", Config{}},
		{"too many ports", "lo", Config{ZKPorts: seq(1000, 40), ZABPorts: seq(100, 40)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := OpenLive(tt.iface, tt.cfg)
			if err == nil {
				l.Close()
				t.Fatal("OpenLive succeeded")
			}
		})
	}
}

func seq(from uint16, n int) []uint16 {
	s := make([]uint16, n)
	for i := range s {
		s[i] = from + uint16(i)
	}
	return s
}

func TestLiveKernelTimestamps(t *testing.T) { forEachPath(t, testLiveKernelTimestamps) }

func testLiveKernelTimestamps(t *testing.T, noRing bool) {
	port := echoServer(t)
	l := openLo(t, Config{ZKPorts: []uint16{port}, NoRing: noRing}, false)
	// The kernel turns on receive timestamping from a work queue after the
	// socket asks for it; until then skbs are stamped when read.
	time.Sleep(100 * time.Millisecond)
	before := time.Now()
	exchange(t, port, "ts", 1)
	// The frames wait in the socket buffer; their timestamps must be the
	// kernel's receive times, not the time they are read.
	time.Sleep(300 * time.Millisecond)
	var seg Segment
	for {
		data, ts, link, err := l.ReadFrame()
		if err != nil {
			t.Fatal(err) // a timeout too: the frames are already queued
		}
		if ParseFrame(link, data, ts, &seg) != nil || string(seg.Payload) != "ts-0" {
			continue
		}
		read := time.Now()
		if ts.Before(before) || read.Sub(ts) < 250*time.Millisecond {
			t.Errorf("timestamp %v: sent after %v, read at %v; want the receive time", ts, before, read)
		}
		return
	}
}

func TestCmsgTimestamp(t *testing.T) {
	// One SOL_SOCKET/SCM_TIMESTAMPNS control message, then damaged ones.
	hdr := unix.CmsgLen(0)
	tsLen := int(unsafe.Sizeof(unix.Timespec{}))
	good := make([]byte, unix.CmsgSpace(tsLen))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&good[0]))
	h.Level, h.Type = unix.SOL_SOCKET, unix.SCM_TIMESTAMPNS
	h.SetLen(unix.CmsgLen(tsLen))
	*(*unix.Timespec)(unsafe.Pointer(&good[hdr])) = unix.Timespec{Sec: 1700000000, Nsec: 123}
	longLen := slices.Clone(good)
	(*unix.Cmsghdr)(unsafe.Pointer(&longLen[0])).SetLen(len(good) + 100)
	other := slices.Clone(good)
	(*unix.Cmsghdr)(unsafe.Pointer(&other[0])).Type = unix.SCM_RIGHTS
	tests := []struct {
		name string
		oob  []byte
		want time.Time
	}{
		{"timestamp", good, time.Unix(1700000000, 123)},
		{"after another message", append(slices.Clone(other), good...), time.Unix(1700000000, 123)},
		{"empty", nil, time.Time{}},
		{"short", good[:hdr-1], time.Time{}},
		{"length past the buffer", longLen, time.Time{}},
		{"other message only", other, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cmsgTimestamp(tt.oob); !got.Equal(tt.want) {
				t.Errorf("cmsgTimestamp = %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkLiveReadFrame reads loopback frames of a bulk TCP transfer
// through the filter (with the outgoing-copy check) and parses them.
func BenchmarkLiveReadFrame(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: live capture needs root or CAP_NET_RAW")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
		c.Close()
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	l, err := OpenLive("lo", Config{ZKPorts: []uint16{port}, RecvBuffer: 8 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	go func() {
		chunk := make([]byte, 1024) // one segment per write: TCP_NODELAY
		for {
			select {
			case <-stop:
				c.Close()
				return
			default:
			}
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	defer close(stop)
	var seg Segment
	b.ReportAllocs()
	for b.Loop() {
		data, ts, link, err := l.ReadFrame()
		if isTimeout(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		_ = ParseFrame(link, data, ts, &seg)
	}
	b.StopTimer()
	st := l.Stats()
	b.ReportMetric(float64(st.KernelDrops), "kernel-drops")
}
