//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// child is a process the bench started. Its output goes to a log file in
// the run's temporary directory.
type child struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// start runs argv in its own process group with stderr and stdout in
// dir/name.log.
func start(dir, name string, argv ...string) (*child, error) {
	logName := filepath.Join(dir, name+".log")
	f, err := os.Create(logName)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("bench: start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, log: logName, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(c.done) }()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group and waits up to 15 s, then kills it.
func (c *child) stop(sig syscall.Signal) {
	if c == nil || c.exited() {
		return
	}
	syscall.Kill(-c.pid(), sig)
	select {
	case <-c.done:
	case <-time.After(15 * time.Second):
		syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
	}
}

// output returns what the child has written so far.
func (c *child) output() string {
	b, _ := os.ReadFile(c.log)
	return string(b)
}

// waitOutput waits until the child's output contains s.
func (c *child) waitOutput(ctx context.Context, s string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if strings.Contains(c.output(), s) {
			return nil
		}
		if c.exited() {
			return fmt.Errorf("bench: %s exited before printing %q: %s", c.name, s, tail(c.output()))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("bench: %s did not print %q within %s: %s", c.name, s, timeout, tail(c.output()))
}

func tail(s string) string {
	if len(s) > 800 {
		return "..." + s[len(s)-800:]
	}
	return s
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fourLetter sends a four-letter word and returns the answer.
func fourLetter(addr, cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		return "", err
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String(), nil
}

// zookeeper is a standalone ZooKeeper server in its own directory.
type zookeeper struct {
	*child
	addr    string
	version string
}

// startZooKeeper starts Debian's ZooKeeper with a large heap and no limit on
// connections per client address, and waits until it serves.
func startZooKeeper(ctx context.Context, dir string) (*zookeeper, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "zkdata")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return nil, err
	}
	cfg := fmt.Sprintf(`tickTime=2000
dataDir=%s
clientPort=%d
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
`, data, port)
	cfgName := filepath.Join(dir, "zoo.cfg")
	if err := os.WriteFile(cfgName, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	c, err := start(dir, "zookeeper", "java", "-Xms1g", "-Xmx1g",
		"-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
		"-Dzookeeper.jmx.log4j.disable=true",
		"-cp", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar",
		"org.apache.zookeeper.server.quorum.QuorumPeerMain", cfgName)
	if err != nil {
		return nil, err
	}
	z := &zookeeper{child: c, addr: fmt.Sprintf("127.0.0.1:%d", port)}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if c.exited() {
			return nil, fmt.Errorf("bench: zookeeper exited: %s", tail(c.output()))
		}
		if out, err := fourLetter(z.addr, "srvr"); err == nil && strings.Contains(out, "Mode:") {
			if m := regexp.MustCompile(`Zookeeper version: ([^,\n]+)`).FindStringSubmatch(out); m != nil {
				// Debian's build leaves the Maven placeholder in.
				z.version = strings.TrimSuffix(m[1], "-${mvngit.commit.id}")
			}
			return z, nil
		}
		select {
		case <-ctx.Done():
			c.stop(syscall.SIGKILL)
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	c.stop(syscall.SIGKILL)
	return nil, fmt.Errorf("bench: zookeeper not serving within 60s: %s", tail(c.output()))
}

// tcpdumpStats are the counters tcpdump prints on exit.
type tcpdumpStats struct {
	Captured    int64 `json:"captured"`
	Received    int64 `json:"received_by_filter"`
	KernelDrops int64 `json:"dropped_by_kernel"`
}

var tcpdumpLine = regexp.MustCompile(`(\d+) packets? (captured|received by filter|dropped by kernel)`)

func parseTcpdump(out string) (tcpdumpStats, error) {
	var s tcpdumpStats
	seen := 0
	for _, m := range tcpdumpLine.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		switch m[2] {
		case "captured":
			s.Captured = n
		case "received by filter":
			s.Received = n
		case "dropped by kernel":
			s.KernelDrops = n
		}
		seen++
	}
	if seen < 3 {
		return s, fmt.Errorf("bench: tcpdump printed no statistics: %s", tail(out))
	}
	return s, nil
}

// startTcpdump captures the ZooKeeper port on lo into w (a file or
// /dev/null) through libpcap's memory-mapped ring, and waits until it
// listens. immediate delivers each packet at once (needed for a complete
// file); without it libpcap hands over whole ring blocks.
func startTcpdump(ctx context.Context, dir, name, w string, port int, immediate bool) (*child, error) {
	argv := []string{"tcpdump", "-i", "lo", "-n", "-Z", "root", "-B", "262144", "-w", w}
	if immediate {
		argv = append(argv, "--immediate-mode")
	}
	argv = append(argv, "tcp", "port", strconv.Itoa(port))
	c, err := start(dir, name, argv...)
	if err != nil {
		return nil, err
	}
	if err := c.waitOutput(ctx, "listening on", 20*time.Second); err != nil {
		c.stop(syscall.SIGKILL)
		return nil, err
	}
	return c, nil
}

// zktapProc is a running `zktap serve`.
type zktapProc struct {
	*child
	metrics string
}

// startZktap runs `zktap serve` with args and waits for /healthz.
func startZktap(ctx context.Context, dir, name, bin string, args ...string) (*zktapProc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	listen := fmt.Sprintf("127.0.0.1:%d", port)
	argv := append([]string{bin, "serve", "--web.listen-address", listen}, args...)
	c, err := start(dir, name, argv...)
	if err != nil {
		return nil, err
	}
	z := &zktapProc{child: c, metrics: "http://" + listen + "/metrics"}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c.exited() {
			return nil, fmt.Errorf("bench: zktap exited: %s", tail(c.output()))
		}
		resp, err := http.Get("http://" + listen + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The capture socket opens beside the web server; give it a moment.
				time.Sleep(500 * time.Millisecond)
				return z, nil
			}
		}
		select {
		case <-ctx.Done():
			c.stop(syscall.SIGKILL)
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	c.stop(syscall.SIGKILL)
	return nil, errors.New("bench: zktap /healthz not ready within 30s: " + tail(c.output()))
}

// startDecodeOnly runs zktap dump on lo with a protocol filter that the
// client port never matches (--proto fle): it captures, reassembles,
// decodes and pairs every client message like zktap serve, but keeps no
// statistics and prints nothing. It waits until the capture socket is open.
func startDecodeOnly(ctx context.Context, dir, name, bin string, port int) (*child, error) {
	c, err := start(dir, name, bin, "dump", "--iface", "lo", "--zk-ports", strconv.Itoa(port), "--proto", "fle")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(20 * time.Second)
	for !hasPacketSocket(c.pid()) {
		if c.exited() {
			return nil, fmt.Errorf("bench: %s exited: %s", name, tail(c.output()))
		}
		if time.Now().After(deadline) {
			c.stop(syscall.SIGKILL)
			return nil, fmt.Errorf("bench: %s opened no packet socket within 20 s", name)
		}
		select {
		case <-ctx.Done():
			c.stop(syscall.SIGKILL)
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return c, nil
}

// hasPacketSocket reports whether pid holds an AF_PACKET socket: one of its
// descriptors is a socket whose inode /proc/net/packet lists.
func hasPacketSocket(pid int) bool {
	b, err := os.ReadFile("/proc/net/packet")
	if err != nil {
		return false
	}
	inodes := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			inodes[f[len(f)-1]] = true
		}
	}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") && inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] {
			return true
		}
	}
	return false
}

// captureDone matches the closing summary zktap logs at exit.
var captureDone = regexp.MustCompile(`msg="capture done" frames=(\d+) .*kernel_drops=(\d+)`)

// parseCaptureDone reads the frame and kernel-drop counts of zktap's
// closing summary.
func parseCaptureDone(out string) (frames, kernelDrops int64, err error) {
	m := captureDone.FindStringSubmatch(out)
	if m == nil {
		return 0, 0, fmt.Errorf("bench: zktap printed no capture summary: %s", tail(out))
	}
	frames, _ = strconv.ParseInt(m[1], 10, 64)
	kernelDrops, _ = strconv.ParseInt(m[2], 10, 64)
	return frames, kernelDrops, nil
}
