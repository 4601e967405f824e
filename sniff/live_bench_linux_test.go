//go:build linux

package sniff

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// floodEnv, when set in the environment of this test binary, turns it into
// the traffic generator of the capture benchmarks instead of running tests.
const floodEnv = "ZKTAP_SNIFF_FLOOD"

func TestMain(m *testing.M) {
	if size := os.Getenv(floodEnv); size != "" {
		os.Exit(runFlood(size))
	}
	os.Exit(m.Run())
}

// runFlood listens on 127.0.0.1, prints its port, then connects to itself
// and writes chunks of the given size as fast as it can (one segment per
// write unless the socket backs up: Go sets TCP_NODELAY) while a second
// goroutine discards them, until its standard input is closed.
func runFlood(size string) int {
	n, err := strconv.Atoi(size)
	if err != nil || n <= 0 {
		fmt.Fprintf(os.Stderr, "flood: bad chunk size %q\n", size)
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		return 1
	}
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	// Wait for the capture to open before sending.
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		return 0
	}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(io.Discard, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		return 1
	}
	go func() {
		chunk := make([]byte, n)
		for {
			if _, err := c.Write(chunk); err != nil {
				return
			}
		}
	}()
	io.Copy(io.Discard, in) // until the benchmark closes our stdin
	return 0
}

// startFlood runs this test binary as a traffic generator in its own
// process, so that its CPU time is not charged to the capture being
// measured, and returns the port it sends to and a function that starts it.
func startFlood(b *testing.B, chunk int) (port uint16, start func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), floodEnv+"="+strconv.Itoa(chunk))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatalf("flood process: %v", err)
	}
	p, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		b.Fatalf("flood process printed %q", line)
	}
	return uint16(p), func() { io.WriteString(stdin, "go\n") }
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchmarkLive reads and parses the frames of a loopback flood of small
// segments from another process. Besides the time per frame, which is set
// by the flood's rate, it reports what the capture costs: CPU microseconds
// of this whole process per frame (getrusage deltas: system calls, copies
// and Go runtime included; the kernel's work in the sender's softirq, the
// same for every capture, is not), the CPU seconds it burns per second of
// wall time, frames and megabytes per second, and the kernel's drops.
//
// The flood fills both cores of a small machine, so frames/s varies from
// run to run and the capture competes with it for CPU; compare the
// cpu-µs/frame figures.
func benchmarkLive(b *testing.B, cfg Config) {
	if os.Geteuid() != 0 {
		b.Skip("skipping: live capture needs root or CAP_NET_RAW")
	}
	port, start := startFlood(b, 64)
	cfg.ZKPorts = []uint16{port}
	l, err := OpenLive("lo", cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	start()
	// Let the flood reach its pace before measuring.
	for deadline := time.Now().Add(200 * time.Millisecond); time.Now().Before(deadline); {
		if _, _, _, err := l.ReadFrame(); err != nil && !isTimeout(err) {
			b.Fatal(err)
		}
	}
	st0 := l.Stats()
	var seg Segment
	var parsed int
	b.ReportAllocs()
	wall0, cpu0 := time.Now(), cpuTime(b)
	for b.Loop() {
		data, ts, link, err := l.ReadFrame()
		if isTimeout(err) {
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		if ParseFrame(link, data, ts, &seg) == nil {
			parsed++
		}
	}
	cpu, wall := cpuTime(b)-cpu0, time.Since(wall0)
	b.StopTimer()
	st := l.Stats()
	frames := float64(st.Frames - st0.Frames)
	if parsed == 0 || frames == 0 {
		b.Fatalf("parsed %d of %v frames", parsed, frames)
	}
	if n := l.badBlocks.Load(); n != 0 {
		b.Fatalf("%d ring packet headers rejected: frames were skipped", n)
	}
	b.ReportMetric(float64(cpu.Microseconds())/frames, "cpu-µs/frame")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpu-s/s")
	b.ReportMetric(frames/wall.Seconds(), "frames/s")
	b.ReportMetric(float64(st.Bytes-st0.Bytes)/1e6/wall.Seconds(), "MB/s")
	b.ReportMetric(float64(st.KernelDrops-st0.KernelDrops), "kernel-drops")
}

// BenchmarkLiveRing measures capture from the default TPACKET_V3 ring:
//
//	go test -run='^$' -bench='BenchmarkLive(Ring|Recvmsg)$' -benchtime=2000000x ./sniff
func BenchmarkLiveRing(b *testing.B) { benchmarkLive(b, Config{}) }

// BenchmarkLiveRecvmsg measures the same capture with one recvmsg(2) per
// frame, through a receive buffer as large as the default ring.
func BenchmarkLiveRecvmsg(b *testing.B) {
	benchmarkLive(b, Config{NoRing: true, RecvBuffer: DefaultRingBlockSize * DefaultRingBlocks})
}
