//go:build linux

package sniff

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

func TestRingParams(t *testing.T) {
	page := os.Getpagesize()
	ok := Config{RingBlockSize: 1 << 20, RingBlocks: 16, RingTimeout: 20 * time.Millisecond}
	with := func(f func(*Config)) Config { c := ok; f(&c); return c }
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", ok, false},
		{"smallest", Config{RingBlockSize: page, RingBlocks: 2, RingTimeout: time.Millisecond}, false},
		{"block not a power of two", with(func(c *Config) { c.RingBlockSize = 3 * page }), true},
		{"block under a page", with(func(c *Config) { c.RingBlockSize = page / 2 }), true},
		{"one block", with(func(c *Config) { c.RingBlocks = 1 }), true},
		{"negative blocks", with(func(c *Config) { c.RingBlocks = -4 }), true},
		{"over 4 GiB", with(func(c *Config) { c.RingBlockSize = 1 << 30; c.RingBlocks = 5 }), true},
		{"timeout under 1ms", with(func(c *Config) { c.RingTimeout = time.Microsecond }), true},
		{"timeout over 60s", with(func(c *Config) { c.RingTimeout = time.Hour }), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ringParams(tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ringParams(%+v) error = %v, want error %v", tt.cfg, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			// What the kernel checks in packet_set_ring.
			if req.Frame_size%16 != 0 || req.Block_size%req.Frame_size != 0 ||
				req.Frame_nr != req.Block_size/req.Frame_size*req.Block_nr ||
				int(req.Block_size) != tt.cfg.RingBlockSize || int(req.Block_nr) != tt.cfg.RingBlocks ||
				req.Retire_blk_tov != uint32(tt.cfg.RingTimeout.Milliseconds()) {
				t.Errorf("ringParams(%+v) = %+v", tt.cfg, req)
			}
		})
	}
}

func TestOpenLiveBadRing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipping: live capture needs root or CAP_NET_RAW")
	}
	l, err := OpenLive("lo", Config{ZKPorts: []uint16{2181}, RingBlockSize: 12345})
	if err == nil {
		l.Close()
		t.Fatal("OpenLive with a 12345-byte ring block succeeded")
	}
}

// TestLiveRingBlocks sends many small segments through a ring of 4 KiB
// blocks, about 25 frames each, so that reading crosses hundreds of block
// boundaries and wraps around the ring. Each payload must be seen exactly
// once, in order, with kernel timestamps that never go back and lie within
// the exchange. (The ring holds ~100 ms of this traffic: a smaller one
// overflows whenever the reading goroutine is not scheduled for a few ms,
// which the drop test shows is then counted.)
func TestLiveRingBlocks(t *testing.T) {
	port := echoServer(t)
	const blocks = 256
	l := openLo(t, Config{
		ZKPorts:       []uint16{port},
		RingBlockSize: os.Getpagesize(),
		RingBlocks:    blocks,
		RingTimeout:   5 * time.Millisecond,
	}, false)
	// The kernel switches timestamping on from a work queue.
	time.Sleep(100 * time.Millisecond)

	type frame struct {
		payload string
		ts      time.Time
	}
	frames := make(chan frame, 1<<14)
	done := make(chan error, 1)
	go func() {
		var seg Segment
		for {
			data, ts, link, err := l.ReadFrame()
			if isTimeout(err) {
				continue
			}
			if err != nil {
				done <- err
				return
			}
			if ParseFrame(link, data, ts, &seg) == nil && len(seg.Payload) > 0 {
				frames <- frame{string(seg.Payload), ts}
			}
		}
	}()

	const n = 5000
	before := time.Now()
	sent := exchange(t, port, "blk", n)
	after := time.Now()

	var got []string
	var last time.Time
	deadline := time.After(5 * time.Second)
	for len(got) < len(sent) {
		select {
		case f := <-frames:
			got = append(got, f.payload)
			if f.ts.Before(last) {
				t.Errorf("frame %d %q: timestamp %v before the previous %v", len(got), f.payload, f.ts, last)
			}
			if f.ts.Before(before) || f.ts.After(after) {
				t.Errorf("frame %q: timestamp %v outside the exchange [%v, %v]", f.payload, f.ts, before, after)
			}
			last = f.ts
		case <-deadline:
			t.Fatalf("saw %d of %d payloads after 5s (last %q); stats %+v", len(got), len(sent), got[len(got)-1], l.Stats())
		}
	}
	// Duplicates would arrive within a few block timeouts.
	select {
	case f := <-frames:
		t.Errorf("extra frame %q", f.payload)
	case <-time.After(100 * time.Millisecond):
	}
	if diff := cmp.Diff(sent, got); diff != "" {
		t.Errorf("payloads read across blocks (-want +got):\n%s", diff)
	}
	if n := l.badBlocks.Load(); n != 0 {
		t.Errorf("%d ring packet headers rejected", n)
	}
	st := l.Stats()
	if st.KernelDrops != 0 {
		t.Errorf("KernelDrops = %d while reading", st.KernelDrops)
	}
	// Every frame takes at least 82 bytes before its link header (tp_mac:
	// tpacket3_hdr, sockaddr_ll, alignment) and 54 bytes of headers: more
	// frames than that fit means the reader went round the ring.
	if fit := uint64(blocks * os.Getpagesize() / (82 + 54)); st.Frames <= fit {
		t.Errorf("read %d frames, not more than the %d the ring holds at once", st.Frames, fit)
	}
	l.Close()
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close: %v", err)
	}
}

// flood writes count 64-byte chunks to a discarding server on port, one
// segment each (TCP_NODELAY), and waits until the server has read them all.
func flood(t *testing.T, ln net.Listener, count int) {
	t.Helper()
	read := make(chan int64, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			read <- 0
			return
		}
		defer c.Close()
		n, _ := io.Copy(io.Discard, c)
		read <- n
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64)
	for range count {
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if n := <-read; n != int64(count*len(chunk)) {
		t.Fatalf("server read %d bytes, want %d", n, count*len(chunk))
	}
}

// TestLiveRingDrops floods a ring of two 4 KiB blocks that nobody reads:
// the kernel must count the packets it had no room for. The same flood into
// a default ring that is read concurrently must lose nothing.
func TestLiveRingDrops(t *testing.T) {
	const count = 20000
	listen := func() (net.Listener, uint16) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
	}

	t.Run("tiny ring not read", func(t *testing.T) {
		ln, port := listen()
		l := openLo(t, Config{ZKPorts: []uint16{port}, RingBlockSize: os.Getpagesize(), RingBlocks: 2, RingTimeout: time.Millisecond}, false)
		flood(t, ln, count)
		time.Sleep(20 * time.Millisecond) // let the last block retire
		read := readAll(t, l)
		st := l.Stats()
		t.Logf("read %d frames, kernel drops %d, freezes %d", read, st.KernelDrops, st.KernelFreezes)
		if st.KernelDrops == 0 || st.KernelFreezes == 0 {
			t.Errorf("Stats = %+v after %d segments into 8 KiB unread, want drops and freezes", st, count)
		}
		// Two blocks hold at most 2*4096/(48+54+64) frames of data.
		if read > 2*os.Getpagesize()/(48+54) {
			t.Errorf("read %d frames from a ring of two pages", read)
		}
		if st.Frames != uint64(read) {
			t.Errorf("Stats.Frames = %d, read %d", st.Frames, read)
		}
	})
	t.Run("default ring read", func(t *testing.T) {
		ln, port := listen()
		l := openLo(t, Config{ZKPorts: []uint16{port}}, false)
		c := collect(l)
		flood(t, ln, count)
		time.Sleep(100 * time.Millisecond)
		st := l.Stats()
		c.mu.Lock()
		frames := c.frames
		c.mu.Unlock()
		t.Logf("read %d frames, kernel drops %d, freezes %d", frames, st.KernelDrops, st.KernelFreezes)
		if st.KernelDrops != 0 || st.KernelFreezes != 0 {
			t.Errorf("Stats = %+v while reading, want no drops", st)
		}
		// Coalescing can merge writes, but the data segments carry the
		// count*64 bytes; the handshake alone is 3 frames more.
		if frames < 3 || st.Bytes < count*64 {
			t.Errorf("read %d frames, %d bytes, want at least %d bytes", frames, st.Bytes, count*64)
		}
	})
}

// TestLiveRingCloseWhileHolding closes the capture while the reader holds a
// frame from the ring: the frame stays readable, the next read reports
// net.ErrClosed, and the ring is unmapped then.
func TestLiveRingCloseWhileHolding(t *testing.T) {
	port := echoServer(t)
	l := openLo(t, Config{ZKPorts: []uint16{port}}, false)
	exchange(t, port, "hold", 3)
	data, _, _, err := l.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	sum := 0
	for _, b := range data { // faults if the ring was unmapped under it
		sum += int(b)
	}
	if l.ring.mem == nil {
		t.Error("ring unmapped while the reader held a frame")
	}
	if _, _, _, err := l.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("ReadFrame after Close = %v, want net.ErrClosed", err)
	}
	if l.ring.mem != nil {
		t.Error("ring still mapped after the reader saw the close")
	}
	if _, _, _, err := l.ReadFrame(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("second ReadFrame after Close = %v, want net.ErrClosed", err)
	}
	t.Logf("held a frame of %d bytes (byte sum %d) across Close", len(data), sum)
}

// TestLiveRingCloseIdle closes a capture whose reader holds nothing: the
// ring is unmapped by Close itself.
func TestLiveRingCloseIdle(t *testing.T) {
	l := openLo(t, Config{ZKPorts: []uint16{1}, ReadTimeout: 10 * time.Millisecond}, false)
	if _, _, _, err := l.ReadFrame(); !isTimeout(err) {
		t.Fatalf("ReadFrame = %v, want a timeout", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if l.ring.mem != nil {
		t.Error("ring still mapped after Close with no reader")
	}
}

// ringBlock is one 4 KiB TPACKET_V3 block handed to user space, holding
// frames at the offsets the kernel uses: the first header right after the
// 48-byte block descriptor, each frame at tp_mac 82 behind its header, the
// next header 8-byte aligned; the last header's tp_next_offset is 0.
func ringBlock(frames ...[]byte) []byte {
	b := make([]byte, 4096)
	le := binary.LittleEndian // the kernel's byte order on the machines tested
	le.PutUint32(b[blkStatusOff:], unix.TP_STATUS_USER)
	le.PutUint32(b[blkNumPktsOff:], uint32(len(frames)))
	le.PutUint32(b[blkFirstPktOff:], blkHdrLen)
	off := blkHdrLen
	for i, f := range frames {
		const mac = 82
		next := (mac + len(f) + 7) &^ 7
		if i == len(frames)-1 {
			next = 0
		}
		h := b[off:]
		le.PutUint32(h[0:], uint32(next))         // tp_next_offset
		le.PutUint32(h[4:], 1700000000)           // tp_sec
		le.PutUint32(h[8:], uint32(i))            // tp_nsec
		le.PutUint32(h[12:], uint32(len(f)))      // tp_snaplen
		le.PutUint32(h[16:], uint32(len(f)))      // tp_len
		le.PutUint32(h[20:], unix.TP_STATUS_USER) // tp_status
		le.PutUint16(h[24:], mac)                 // tp_mac
		copy(h[mac:], f)
		off += next
	}
	return b
}

// walkBlock reads every frame the ring code finds in block b, at most limit.
func walkBlock(b []byte, snapLen, limit int) (frames [][]byte, steps int) {
	r := &ring{mem: b, blockSize: len(b), blocks: 1}
	if !r.blockReady() {
		return nil, 0
	}
	r.take()
	for r.left > 0 && steps < limit {
		steps++
		if f, _, ok := r.packet(snapLen); ok {
			frames = append(frames, f)
		}
	}
	r.release()
	return frames, steps
}

func TestRingWalk(t *testing.T) {
	f1 := ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 2181, 1, 0, PSH|ACK, nil, "one")))
	f2 := ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 2181, 4, 0, PSH|ACK, nil, "two")))
	le := binary.LittleEndian
	withWord := func(b []byte, off int, v uint32) []byte { le.PutUint32(b[off:], v); return b }
	second := blkHdrLen + (82+len(f1)+7)&^7
	tests := []struct {
		name    string
		block   []byte
		snapLen int
		want    [][]byte
	}{
		{"two frames", ringBlock(f1, f2), 1 << 16, [][]byte{f1, f2}},
		{"snap length cuts", ringBlock(f1), 20, [][]byte{f1[:20]}},
		{"kernel owned", withWord(ringBlock(f1), blkStatusOff, unix.TP_STATUS_KERNEL), 1 << 16, nil},
		{"count larger than the frames", withWord(ringBlock(f1, f2), blkNumPktsOff, 1000), 1 << 16, [][]byte{f1, f2}},
		{"first offset in the descriptor", withWord(ringBlock(f1), blkFirstPktOff, 8), 1 << 16, nil},
		{"first offset past the block", withWord(ringBlock(f1), blkFirstPktOff, 1<<20), 1 << 16, nil},
		{"unaligned next header", withWord(ringBlock(f1, f2), blkHdrLen, uint32(second-blkHdrLen+1)), 1 << 16, [][]byte{f1}},
		{"snaplen past the block", withWord(ringBlock(f1, f2), second+12, 1<<20), 1 << 16, [][]byte{f1}},
		{"mac inside the header", withWord(ringBlock(f1), blkHdrLen+24, 4), 1 << 16, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := walkBlock(tt.block, tt.snapLen, 1<<20)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frames (-want +got):\n%s", diff)
			}
			if s := le.Uint32(tt.block[blkStatusOff:]); s != unix.TP_STATUS_KERNEL {
				t.Errorf("block status after the walk = %#x, want TP_STATUS_KERNEL", s)
			}
		})
	}
}

// FuzzRingBlock walks arbitrary block contents: whatever the descriptor and
// headers say, the walk ends, returns only frames inside the block and no
// longer than the snap length, and hands the block back.
func FuzzRingBlock(f *testing.F) {
	f1 := ether(0x0800, nil, ipv4Pkt(v4a, v4b, 6, 0, nil, tcpSeg(40000, 2181, 1, 0, PSH|ACK, nil, "one")))
	f.Add(ringBlock(f1), 1<<16)
	f.Add(ringBlock(f1, f1, f1), 30)
	f.Add(ringBlock(), 1<<16)
	f.Fuzz(func(t *testing.T, data []byte, snapLen int) {
		if snapLen <= 0 {
			return
		}
		b := make([]byte, 4096)
		copy(b, data)
		b[blkStatusOff] |= unix.TP_STATUS_USER
		frames, steps := walkBlock(b, snapLen, 4096)
		if steps >= 4096 {
			t.Fatalf("walk did not end after %d steps", steps)
		}
		lo := uintptr(unsafe.Pointer(&b[0]))
		for _, fr := range frames {
			if len(fr) > snapLen {
				t.Fatalf("frame of %d bytes, snap length %d", len(fr), snapLen)
			}
			if len(fr) == 0 {
				continue
			}
			p := uintptr(unsafe.Pointer(&fr[0]))
			if p < lo+blkHdrLen || p+uintptr(len(fr)) > lo+uintptr(len(b)) {
				t.Fatalf("frame at %d+%d outside the block", p-lo, len(fr))
			}
		}
		if binary.LittleEndian.Uint32(b[blkStatusOff:]) != unix.TP_STATUS_KERNEL {
			t.Fatal("block not handed back")
		}
	})
}

// TestRingStallAtLowRate: the kernel hands a ring block over when it is full
// or when RingTimeout has passed since its first packet, so on a light link
// every block holds one timeout's worth of traffic and the longest stall of
// the reader the ring survives is blocks × RingTimeout, however big the
// blocks. A trickle of packets for 600 ms while nothing reads loses packets
// from 8 blocks that retire every 20 ms (160 ms), and none from 8 that
// retire every 100 ms (800 ms): why zktap's --capture.ring-timeout is 100ms.
func TestRingStallAtLowRate(t *testing.T) {
	for _, tc := range []struct {
		timeout   time.Duration
		wantDrops bool
	}{{20 * time.Millisecond, true}, {100 * time.Millisecond, false}} {
		t.Run(tc.timeout.String(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			port := uint16(ln.Addr().(*net.TCPAddr).Port)
			l := openLo(t, Config{ZKPorts: []uint16{port}, RingBlockSize: DefaultRingBlockSize, RingBlocks: 8, RingTimeout: tc.timeout}, false)
			go func() {
				c, err := ln.Accept()
				if err == nil {
					io.Copy(io.Discard, c)
					c.Close()
				}
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			// A 64-byte write every 5 ms for 600 ms, nobody reading the ring.
			sent := 0
			for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); sent++ {
				if _, err := c.Write(make([]byte, 64)); err != nil {
					t.Fatal(err)
				}
				time.Sleep(5 * time.Millisecond)
			}
			c.Close()
			time.Sleep(tc.timeout + 50*time.Millisecond) // let the last block retire
			read := readAll(t, l)
			st := l.Stats()
			t.Logf("ring timeout %v: %d writes, %d frames read, kernel drops %d", tc.timeout, sent, read, st.KernelDrops)
			if got := st.KernelDrops > 0; got != tc.wantDrops {
				t.Errorf("kernel drops %d, want drops: %v (8 blocks × %v against a 600 ms stall)", st.KernelDrops, tc.wantDrops, tc.timeout)
			}
			if !tc.wantDrops && read < sent {
				t.Errorf("read %d frames of %d writes with no drop", read, sent)
			}
		})
	}
}

// readAll reads frames until a read times out and returns how many it read.
func readAll(t *testing.T, l *Live) int {
	t.Helper()
	read := 0
	for {
		_, _, _, err := l.ReadFrame()
		if err != nil {
			if !isTimeout(err) {
				t.Fatal(err)
			}
			return read
		}
		read++
	}
}
