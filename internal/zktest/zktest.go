package zktest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Paths of Debian's ZooKeeper installation. slf4j-simple is added because Debian ships
// no slf4j binding with the server, which then logs nothing.
const (
	ZooKeeperJar = "/usr/share/java/zookeeper.jar"
	SLF4JJar     = "/usr/share/java/slf4j-simple.jar"
)

// Default ensemble ports, the same on every node since each node has its own address.
const (
	DefaultClientPort   = 2181
	DefaultQuorumPort   = 2888
	DefaultElectionPort = 3888
)

// Options configure the servers. The zero value is usable.
type Options struct {
	// ClientPort is the client port. Zero means a free port for a standalone server and
	// DefaultClientPort for an ensemble.
	ClientPort int
	// QuorumPort and ElectionPort are the ensemble's ZAB and FLE ports. Zero means
	// DefaultQuorumPort and DefaultElectionPort.
	QuorumPort, ElectionPort int
	// Host is the standalone server's address. Empty means 127.0.0.1. Ensemble nodes
	// always use 127.0.0.1, 127.0.0.2 and 127.0.0.3.
	Host string
	// ExtendedTypes enables TTL nodes (-Dzookeeper.extendedTypesEnabled=true).
	ExtendedTypes bool
	// JuteMaxBuffer, if positive, sets -Djute.maxbuffer, needed for replies over ~1 MB.
	JuteMaxBuffer int
	// JVMFlags are extra JVM flags, placed before the main class.
	JVMFlags []string
	// StartTimeout bounds the wait for `srvr` to print `Mode:`. Zero means 30 s.
	StartTimeout time.Duration
}

func (o Options) startTimeout() time.Duration {
	if o.StartTimeout > 0 {
		return o.StartTimeout
	}
	return 30 * time.Second
}

// Server is one ZooKeeper JVM.
type Server struct {
	// Addr is the client address, host:port.
	Addr string
	// ID is the server id (myid); 0 for a standalone server.
	ID int
	// Host is the address the server listens on.
	Host string
	// ClientPort, QuorumPort and ElectionPort are the listening ports (the last two are
	// zero for a standalone server).
	ClientPort, QuorumPort, ElectionPort int
	// Dir holds zoo.cfg, the data directory and the log.
	Dir string
	// LogPath is the server's combined stdout and stderr.
	LogPath string

	opts Options
	tb   testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd exits
}

// Installed reports whether the ZooKeeper server jars and java are present.
func Installed() error {
	for _, f := range []string{ZooKeeperJar, SLF4JJar} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("zktest: %w", err)
		}
	}
	if _, err := exec.LookPath("java"); err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	return nil
}

func requireInstalled(tb testing.TB) {
	tb.Helper()
	if err := Installed(); err != nil {
		tb.Fatalf("ZooKeeper is not installed (run testdata/setup.sh as root): %v", err)
	}
}

// FreePort returns a TCP port that was free on host a moment ago.
func FreePort(tb testing.TB, host string) int {
	tb.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatalf("zktest: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartStandalone starts one standalone server and waits until it serves clients.
func StartStandalone(tb testing.TB, opts Options) *Server {
	tb.Helper()
	requireInstalled(tb)
	host := opts.Host
	if host == "" {
		host = "127.0.0.1"
	}
	port := opts.ClientPort
	if port == 0 {
		port = FreePort(tb, host)
	}
	s := newServer(tb, opts, 0, host, port, 0, 0)
	s.writeConfig(tb, "")
	s.start(tb)
	s.waitServing(tb, time.Now().Add(opts.startTimeout()))
	return s
}

// StartEnsemble starts a 3-node ensemble on 127.0.0.1, 127.0.0.2 and 127.0.0.3 and waits
// until every node serves clients, that is until a quorum has formed.
func StartEnsemble(tb testing.TB, opts Options) []*Server {
	tb.Helper()
	requireInstalled(tb)
	cp, qp, ep := opts.ClientPort, opts.QuorumPort, opts.ElectionPort
	if cp == 0 {
		cp = DefaultClientPort
	}
	if qp == 0 {
		qp = DefaultQuorumPort
	}
	if ep == 0 {
		ep = DefaultElectionPort
	}
	var servers []*Server
	var members strings.Builder
	for id := 1; id <= 3; id++ {
		host := fmt.Sprintf("127.0.0.%d", id)
		servers = append(servers, newServer(tb, opts, id, host, cp, qp, ep))
		fmt.Fprintf(&members, "server.%d=%s:%d:%d\n", id, host, qp, ep)
	}
	for _, s := range servers {
		s.writeConfig(tb, members.String())
	}
	for _, s := range servers {
		s.start(tb)
	}
	deadline := time.Now().Add(opts.startTimeout())
	for _, s := range servers {
		s.waitServing(tb, deadline)
	}
	return servers
}

func newServer(tb testing.TB, opts Options, id int, host string, cp, qp, ep int) *Server {
	dir := tb.TempDir()
	s := &Server{
		Addr:         net.JoinHostPort(host, strconv.Itoa(cp)),
		ID:           id,
		Host:         host,
		ClientPort:   cp,
		QuorumPort:   qp,
		ElectionPort: ep,
		Dir:          dir,
		LogPath:      filepath.Join(dir, "zookeeper.log"),
		opts:         opts,
		tb:           tb,
	}
	tb.Cleanup(func() {
		s.Kill()
		if tb.Failed() {
			s.dumpLog(tb)
		}
	})
	return s
}

func (s *Server) writeConfig(tb testing.TB, members string) {
	tb.Helper()
	data := filepath.Join(s.Dir, "data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		tb.Fatalf("zktest: %v", err)
	}
	cfg := fmt.Sprintf(`tickTime=2000
initLimit=10
syncLimit=5
dataDir=%s
clientPort=%d
clientPortAddress=%s
maxClientCnxns=0
4lw.commands.whitelist=*
admin.enableServer=false
`, data, s.ClientPort, s.Host)
	if members != "" {
		cfg += members
		if err := os.WriteFile(filepath.Join(data, "myid"), []byte(strconv.Itoa(s.ID)+"\n"), 0o644); err != nil {
			tb.Fatalf("zktest: %v", err)
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		tb.Fatalf("zktest: %v", err)
	}
}

func (s *Server) start(tb testing.TB) {
	tb.Helper()
	args := []string{"-Xmx256m", "-cp", ZooKeeperJar + ":" + SLF4JJar}
	if s.opts.ExtendedTypes {
		args = append(args, "-Dzookeeper.extendedTypesEnabled=true")
	}
	if s.opts.JuteMaxBuffer > 0 {
		args = append(args, "-Djute.maxbuffer="+strconv.Itoa(s.opts.JuteMaxBuffer))
	}
	args = append(args, s.opts.JVMFlags...)
	args = append(args, "org.apache.zookeeper.server.quorum.QuorumPeerMain", filepath.Join(s.Dir, "zoo.cfg"))

	logf, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatalf("zktest: %v", err)
	}
	cmd := exec.Command("java", args...)
	cmd.Dir = s.Dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("zktest: start java: %v", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done = cmd, done
	s.mu.Unlock()
}

// Running reports whether the JVM is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.done == nil {
		return false
	}
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// waitServing waits until srvr prints a Mode line, failing the test at deadline or when
// the JVM exits.
func (s *Server) waitServing(tb testing.TB, deadline time.Time) {
	tb.Helper()
	if _, err := s.waitMode(deadline); err != nil {
		s.dumpLog(tb)
		tb.Fatalf("zktest: server %d at %s: %v", s.ID, s.Addr, err)
	}
}

func (s *Server) waitMode(deadline time.Time) (string, error) {
	var last error
	for time.Now().Before(deadline) {
		if !s.Running() {
			return "", errors.New("zookeeper exited during start")
		}
		mode, err := s.Mode()
		if err == nil {
			return mode, nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return "", fmt.Errorf("not serving before the deadline: %w", last)
}

// Mode returns the server's mode from `srvr`: standalone, leader, follower or observer.
// It fails while the server is not serving clients.
func (s *Server) Mode() (string, error) {
	out, err := s.FourLetter("srvr")
	if err != nil {
		return "", err
	}
	for line := range strings.Lines(out) {
		if m, ok := strings.CutPrefix(line, "Mode:"); ok {
			return strings.TrimSpace(m), nil
		}
	}
	return "", fmt.Errorf("zktest: no Mode line in srvr: %q", out)
}

// FourLetter sends a four-letter word (ruok, srvr, mntr...) and returns the reply.
func (s *Server) FourLetter(cmd string) (string, error) {
	c, err := net.DialTimeout("tcp", s.Addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, cmd); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	if err != nil && len(b) == 0 {
		return "", err
	}
	return string(b), nil
}

// Stop stops the server gracefully (SIGTERM to its process group), killing it after 10 s.
func (s *Server) Stop() { s.signal(syscall.SIGTERM, 10*time.Second) }

// Kill kills the server's process group at once (SIGKILL) and waits for the JVM to exit.
func (s *Server) Kill() { s.signal(syscall.SIGKILL, 10*time.Second) }

func (s *Server) signal(sig syscall.Signal, wait time.Duration) {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Restart kills the server if it runs, starts it again on the same data directory and
// waits until it serves clients (for an ensemble node: until it has rejoined a quorum).
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.Kill()
	s.start(tb)
	s.waitServing(tb, time.Now().Add(s.opts.startTimeout()))
}

// Leader returns the running server whose `srvr` Mode is leader (or standalone), or nil
// when there is none at the moment.
func Leader(servers []*Server) *Server {
	for _, s := range servers {
		if !s.Running() {
			continue
		}
		if m, err := s.Mode(); err == nil && (m == "leader" || m == "standalone") {
			return s
		}
	}
	return nil
}

// WaitLeader waits up to timeout for exactly one running server to lead, and for every
// other running server to serve as a follower, and returns the leader.
func WaitLeader(tb testing.TB, servers []*Server, timeout time.Duration) *Server {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	var modes []string
	for time.Now().Before(deadline) {
		modes = modes[:0]
		var leaders []*Server
		serving := true
		for _, s := range servers {
			if !s.Running() {
				continue
			}
			m, err := s.Mode()
			if err != nil {
				serving = false
				modes = append(modes, fmt.Sprintf("%d:%v", s.ID, err))
				continue
			}
			modes = append(modes, fmt.Sprintf("%d:%s", s.ID, m))
			if m == "leader" || m == "standalone" {
				leaders = append(leaders, s)
			}
		}
		if serving && len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("zktest: no single leader within %v: %v", timeout, modes)
	return nil
}

func (s *Server) dumpLog(tb testing.TB) {
	b, err := os.ReadFile(s.LogPath)
	if err != nil {
		tb.Logf("zktest: server %d log: %v", s.ID, err)
		return
	}
	// The tail holds the failure; the head is JVM and config noise.
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	tb.Logf("zktest: server %d (%s) log %s:\n%s", s.ID, s.Addr, s.LogPath, b)
}
