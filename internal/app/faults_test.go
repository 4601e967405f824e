//go:build linux

package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/google/go-cmp/cmp"

	"github.com/zktap/zktap/config"
	"github.com/zktap/zktap/internal/vethtest"
	"github.com/zktap/zktap/internal/zkload/workload"
	"github.com/zktap/zktap/internal/zktest"
)

// Fault tests: zktap serve keeps running, and keeps counting, through the
// faults of a real deployment (issue 4, point 4).

// metricsOf scrapes base/metrics and sums metric by label.
func metricsOf(t *testing.T, base, metric, label string) map[string]float64 {
	t.Helper()
	return sumByLabel(httpGet(t, base+"/metrics"), metric, label)
}

// metricValue is the sum of every series of metric.
func metricValue(t *testing.T, base, metric string) float64 {
	t.Helper()
	return metricsOf(t, base, metric, "")[""]
}

// clientRequests is what a workload report says the client sent, by op, as
// zookeeper_client_requests_total counts it (connects have their own metric).
func clientRequests(reps ...workload.Report) map[string]float64 {
	out := map[string]float64{}
	for _, r := range reps {
		for op, n := range r.Requests {
			if op != "connect" {
				out[op] += float64(n)
			}
		}
	}
	return out
}

// delta returns after-before by key, leaving out zeros and the keys in skip.
func delta(after, before map[string]float64, skip ...string) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 && !contains(skip, k) {
			out[k] = d
		}
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// waitRequests waits until zktap's requests by op, less before, equal want
// (ops in skip aside), and reports the difference if they never do.
func waitRequests(t *testing.T, base string, before, want map[string]float64, skip ...string) {
	t.Helper()
	for _, k := range skip {
		delete(want, k)
	}
	var got map[string]float64
	deadline := time.Now().Add(20 * time.Second)
	for {
		got = delta(metricsOf(t, base, "zookeeper_client_requests_total", "op"), before, skip...)
		if cmp.Equal(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests by op, client's wire count (-want) vs zktap (+got):\n%s", diff)
	}
}

// checkNoDrops fails the test if zktap lost packets.
func checkNoDrops(t *testing.T, base string) {
	t.Helper()
	if d := metricsOf(t, base, "zktap_drops_total", "where"); d["kernel"] != 0 || d["queue"] != 0 {
		t.Errorf("drops: %v", d)
	}
}

// smallWork is a workload run of every part with small sizes, so each run
// takes well under a second.
func smallWork(root string) workload.Spec {
	return workload.Spec{Root: root, Children: 100, BigSize: 64 << 10, Pipelined: 50}
}

// waitPath waits until ZooKeeper answers ruok at addr, through the veth
// and the namespace proxy, so that a broken set-up fails here, saying so,
// rather than as a workload without a session (which is how ZooKeeper
// killed by Pdeathsig showed: see proxyFromNS). Four-letter words are
// counted apart from client requests.
func waitPath(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write([]byte("ruok"))
			var got []byte
			if err == nil {
				got, err = io.ReadAll(c)
			}
			c.Close()
			if err == nil && string(got) == "imok" {
				return
			}
			if err == nil {
				err = fmt.Errorf("answer %q", got)
			}
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("ZooKeeper never answered ruok at %s through the veth and proxy within 15 s: %v", addr, last)
}

// setnsSyscall is setns(2)'s number: package syscall lacks SYS_SETNS on
// some architectures, and only package sniff may import x/sys/unix.
var setnsSyscall = map[string]uintptr{"amd64": 308, "arm64": 268, "riscv64": 268, "386": 346, "arm": 375}

// proxyFromNS listens on port in the namespace and forwards every
// connection to target, dialled from this namespace: the ZooKeeper traffic
// then crosses the veth. The listening socket is created on an OS thread
// moved into the namespace and moved back before it is unlocked.
//
// The thread must not simply die with its goroutine (the usual way to
// retire a thread in another namespace): zktest starts ZooKeeper with
// Pdeathsig SIGKILL, which Linux sends when the *thread* that forked the
// JVM exits, and that thread may be the one locked here. It was, in about
// one run in five under load: ZooKeeper vanished right after starting, and
// every proxied connection was refused.
func proxyFromNS(t *testing.T, ns string, port int, target string) {
	t.Helper()
	lnc := make(chan net.Listener)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		nr, ok := setnsSyscall[runtime.GOARCH]
		if !ok {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("setns: system call number on %s unknown to this test", runtime.GOARCH)
			return
		}
		setns := func(f *os.File) error {
			if _, _, e := syscall.RawSyscall(nr, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
				return fmt.Errorf("setns %s: %w", f.Name(), e)
			}
			return nil
		}
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer home.Close()
		target, err := os.Open("/var/run/netns/" + ns)
		if err == nil {
			defer target.Close()
			err = setns(target)
		}
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		ln, lerr := net.Listen("tcp4", ":"+strconv.Itoa(port))
		if err := setns(home); err != nil {
			// Stuck in the namespace: the thread must die (still locked),
			// whatever that costs; say so.
			if lerr == nil {
				ln.Close()
			}
			errc <- fmt.Errorf("back to this process's namespace: %w", err)
			return
		}
		runtime.UnlockOSThread()
		if lerr != nil {
			errc <- lerr
			return
		}
		lnc <- ln
	}()
	var ln net.Listener
	select {
	case ln = <-lnc:
	case err := <-errc:
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
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.(*net.TCPConn).CloseWrite() }()
				io.Copy(c, s)
			}()
		}
	}()
}

// TestFaultInterfaceRecreated captures on a veth, deletes it and creates it
// again under the same name: zktap keeps running and answering, counts the
// loss, reopens the socket, and counts the traffic after the return as
// exactly as before the loss.
func TestFaultInterfaceRecreated(t *testing.T) {
	requireRoot(t)
	v := vethtest.New(t, "zkt", 232, 0)
	srv := zktest.StartStandalone(t, zktest.Options{})
	const port = 2181 // in the namespace; the server itself is on lo
	proxyFromNS(t, v.NS, port, srv.Addr)
	var logs syncBuffer
	base, _ := startServeWith(t, &logs, "--iface", v.Host, "--zk-ports", strconv.Itoa(port))
	addr := net.JoinHostPort(v.Peer, strconv.Itoa(port))

	waitPath(t, addr)
	rep1, err := workload.Run(context.Background(), addr, smallWork("/veth1"))
	if err != nil {
		t.Fatal(err)
	}
	waitRequests(t, base, nil, clientRequests(rep1))
	if up := metricValue(t, base, "zktap_capture_up"); up != 1 {
		t.Errorf("zktap_capture_up = %v before the loss, want 1", up)
	}

	lost := time.Now()
	v.Remove(t)
	waitFor(t, 5*time.Second, "zktap_capture_up to fall to 0", func() bool {
		return metricValue(t, base, "zktap_capture_up") == 0
	})
	t.Logf("loss seen after %v", time.Since(lost))
	time.Sleep(1500 * time.Millisecond) // a few failed reopen attempts
	if s := httpGet(t, base+"/healthz"); s == "" {
		t.Error("/healthz answered nothing while the capture was lost")
	}
	if n := metricValue(t, base, "zktap_capture_reopens_total"); n != 0 {
		t.Errorf("%v reopens while the interface is gone", n)
	}

	v.Create(t)
	waitFor(t, 5*time.Second, "the capture to be reopened", func() bool {
		return metricValue(t, base, "zktap_capture_up") == 1
	})
	waitPath(t, addr)
	rep2, err := workload.Run(context.Background(), addr, smallWork("/veth2"))
	if err != nil {
		t.Fatal(err)
	}
	waitRequests(t, base, nil, clientRequests(rep1, rep2))
	if n := metricValue(t, base, "zktap_capture_reopens_total"); n != 1 {
		t.Errorf("zktap_capture_reopens_total = %v, want 1", n)
	}
	if d := metricValue(t, base, "zktap_capture_down_seconds_total"); d < 1.5 || d > time.Since(lost).Seconds() {
		t.Errorf("zktap_capture_down_seconds_total = %v, want between 1.5 and %v", d, time.Since(lost).Seconds())
	}
	if n := metricsOf(t, base, "zookeeper_client_connects_total", "kind")["new"]; n != float64(rep1.Requests["connect"]+rep2.Requests["connect"]) {
		t.Errorf("new connects = %v, client sent %d", n, rep1.Requests["connect"]+rep2.Requests["connect"])
	}
	checkNoDrops(t, base)
	// One warning naming the interface and the error, one info line with
	// the gap.
	var warns, infos int
	for _, l := range strings.Split(string(logs.Bytes()), "\n") {
		switch {
		case strings.Contains(l, "level=WARN") && strings.Contains(l, "capture lost"):
			warns++
			if !strings.Contains(l, "iface="+v.Host) || !strings.Contains(l, "network is down") {
				t.Errorf("warning without the interface or the error: %s", l)
			}
		case strings.Contains(l, "level=INFO") && strings.Contains(l, "capture back"):
			infos++
			if !strings.Contains(l, "iface="+v.Host) || !strings.Contains(l, "down=") {
				t.Errorf("info line without the interface or the gap: %s", l)
			}
		}
	}
	if warns != 1 || infos != 1 {
		t.Errorf("%d capture-lost warnings and %d capture-back lines, want 1 each; log:\n%s", warns, infos, logs.Bytes())
	}
}

// TestFaultMissingInterface: reopening is for an interface that goes away
// later; one missing at start is still a bad flag, reported at once.
func TestFaultMissingInterface(t *testing.T) {
	cfg, err := config.Parse([]string{"serve", "--iface", "zktapmissing0", "--web.listen-address", "127.0.0.1:0"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	start := time.Now()
	code := Run(context.Background(), cfg, io.Discard, &stderr, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if code != ExitUsage || !strings.Contains(stderr.String(), "--iface") || time.Since(start) > 2*time.Second {
		t.Errorf("serve --iface zktapmissing0: exit %d after %v, stderr %q; want exit %d at once naming the flag",
			code, time.Since(start), stderr.String(), ExitUsage)
	}
}

// connectSessions opens n go-zookeeper sessions to addr and waits until
// each has one.
func connectSessions(t *testing.T, addr string, n int) []*zk.Conn {
	t.Helper()
	var conns []*zk.Conn
	for range n {
		c, _, err := zk.Connect([]string{addr}, 30*time.Second, zk.WithLogInfo(false), zk.WithLogger(quietLogger{}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		conns = append(conns, c)
	}
	waitSessions(t, conns)
	return conns
}

// waitSessions waits until every connection has its session.
func waitSessions(t *testing.T, conns []*zk.Conn) {
	t.Helper()
	waitFor(t, 30*time.Second, "every client to hold its session", func() bool {
		for _, c := range conns {
			if c.State() != zk.StateHasSession {
				return false
			}
		}
		return true
	})
}

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}

// TestFaultZooKeeperRestart restarts ZooKeeper under live sessions while
// zktap captures on lo: the sessions resume on new connections, the cut
// connections are closed in zktap's flow table (the active flows come back
// to the live connections), and requests after the restart are counted
// exactly.
func TestFaultZooKeeperRestart(t *testing.T) {
	requireRoot(t)
	srv := zktest.StartStandalone(t, zktest.Options{})
	base := startServe(t, "--iface", "lo", "--zk-ports", strconv.Itoa(srv.ClientPort))
	const sessions = 5
	conns := connectSessions(t, srv.Addr, sessions)
	for i, c := range conns {
		if _, err := c.Create(fmt.Sprintf("/restart-%d", i), nil, 0, zk.WorldACL(zk.PermAll)); err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := c.GetW(fmt.Sprintf("/restart-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the sessions' flows", func() bool {
		return metricValue(t, base, "zktap_flows_active") == sessions
	})
	before := metricsOf(t, base, "zookeeper_client_connects_total", "kind")

	srv.Restart(t)
	waitSessions(t, conns)
	// The old connections ended with the JVM; only the resumed ones remain.
	// A retry cut while the server starts closes only once the server
	// reads it, which takes longer on a loaded machine: hence 30 s.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		flows := metricValue(t, base, "zktap_flows_active")
		if flows == sessions {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zktap_flows_active = %v 30 s after the restart, want the %d live connections", flows, sessions)
		}
	}
	connects := delta(metricsOf(t, base, "zookeeper_client_connects_total", "kind"), before)
	// Every session resumes; a client that tries before the restarted
	// server serves is cut and tries again, so a session may show more
	// than one resume on the wire, but none may start a new session.
	if connects["resume"] < sessions || connects["new"] != 0 || len(connects) > 2 {
		t.Errorf("connects during the restart = %v, want at least %d resumes and no new sessions", connects, sessions)
	}
	// Each resumed session re-sends its watch in a setWatches.
	watches := metricsOf(t, base, "zookeeper_client_watches_set_total", "op")["setWatches"]
	if watches != sessions {
		t.Errorf("watches re-set by setWatches = %v, want %d", watches, sessions)
	}

	reqs := metricsOf(t, base, "zookeeper_client_requests_total", "op")
	rep, err := workload.Run(context.Background(), srv.Addr, smallWork("/after-restart"))
	if err != nil {
		t.Fatal(err)
	}
	// The idle sessions may ping meanwhile: pings are left out.
	waitRequests(t, base, reqs, clientRequests(rep), "ping")
	checkNoDrops(t, base)
}

// TestFaultLeaderLostJoinedMidstream: zktap starts after the ensemble has
// formed (a sidecar restarted during the ensemble's life), so the election
// connections between the servers are joined mid-stream; when the leader is
// killed, the survivors' votes on those connections are still decoded, and
// the election and its winner are reported.
func TestFaultLeaderLostJoinedMidstream(t *testing.T) {
	requireRoot(t)
	opts := freeEnsembleOptions(t)
	ens := zktest.StartEnsemble(t, opts)
	leader := zktest.WaitLeader(t, ens, 30*time.Second)
	base := startServe(t, serveEnsembleArgs(opts)...)
	time.Sleep(time.Second) // the capture is open: ZAB pings flow on the joined connections
	if n := metricValue(t, base, "zookeeper_fle_elections_total"); n != 0 {
		t.Fatalf("zookeeper_fle_elections_total = %v before any election was seen", n)
	}

	leader.Kill()
	newLeader := zktest.WaitLeader(t, ens, 60*time.Second)
	if newLeader == leader {
		t.Fatal("the killed server still leads")
	}
	var notes map[string]float64
	var won, elections float64
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		notes = metricsOf(t, base, "zookeeper_fle_notifications_total", "state")
		won, elections = metricValue(t, base, "zookeeper_fle_leader"), metricValue(t, base, "zookeeper_fle_elections_total")
		if won == float64(newLeader.ID) && elections == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zookeeper_fle_leader = %v, elections %v; want %d (the old leader was %d), 1; notifications %v, zab %v, decode errors %v",
				won, elections, newLeader.ID, leader.ID, notes, metricsOf(t, base, "zookeeper_zab_packets_total", "type"),
				metricsOf(t, base, "zktap_decode_errors_total", "reason"))
		}
	}
	// Each survivor votes to the other on the connection joined mid-stream.
	// (How many votes an election takes varies, 2 to 5 here; a lone vote
	// on a connection is covered by proto/fle's TestMidStreamJoin.)
	if notes["looking"] < 2 {
		t.Errorf("LOOKING notifications decoded = %v (all: %v), want both survivors' votes", notes["looking"], notes)
	}
	t.Logf("notifications by state after the kill: %v", notes)
}

// TestFaultLeaderLost kills the leader of a 3-node ensemble while zktap
// captures client, quorum and election ports on lo: zktap sees the
// election and its winner, the followers' resynchronisation with the new
// leader, and keeps counting client requests exactly.
func TestFaultLeaderLost(t *testing.T) {
	requireRoot(t)
	opts := freeEnsembleOptions(t)
	base := startServe(t, serveEnsembleArgs(opts)...)
	ens := zktest.StartEnsemble(t, opts)
	leader := zktest.WaitLeader(t, ens, 30*time.Second)
	waitFor(t, 10*time.Second, fmt.Sprintf("zookeeper_fle_leader to be the first leader %d", leader.ID), func() bool {
		return metricValue(t, base, "zookeeper_fle_leader") == float64(leader.ID)
	})

	var follower *zktest.Server
	for _, s := range ens {
		if s != leader {
			follower = s
			break
		}
	}
	rep1, err := workload.Run(context.Background(), follower.Addr, smallWork("/before-election"))
	if err != nil {
		t.Fatal(err)
	}
	waitRequests(t, base, nil, clientRequests(rep1))
	elections := metricValue(t, base, "zookeeper_fle_elections_total")
	zab := metricsOf(t, base, "zookeeper_zab_packets_total", "type")

	leader.Kill()
	newLeader := zktest.WaitLeader(t, ens, 60*time.Second)
	if newLeader == leader {
		t.Fatal("the killed server still leads")
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, base, "zookeeper_fle_leader") != float64(newLeader.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("zookeeper_fle_leader = %v, want %d (the old leader was %d); elections %v, notifications %v, decode errors %v",
				metricValue(t, base, "zookeeper_fle_leader"), newLeader.ID, leader.ID,
				metricValue(t, base, "zookeeper_fle_elections_total"), metricsOf(t, base, "zookeeper_fle_notifications_total", "state"), metricsOf(t, base, "zktap_decode_errors_total", "reason"))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n := metricValue(t, base, "zookeeper_fle_elections_total"); n <= elections {
		t.Errorf("zookeeper_fle_elections_total = %v after the leader was lost, %v before", n, elections)
	}
	// The surviving follower syncs with the new leader: NEWLEADER, its
	// ACK, UPTODATE, and one of DIFF, TRUNC or SNAP.
	var sync map[string]float64
	synced := func() bool {
		sync = delta(metricsOf(t, base, "zookeeper_zab_packets_total", "type"), zab)
		return sync["newleader"] >= 1 && sync["uptodate"] >= 1 && sync["diff"]+sync["trunc"]+sync["snap"] >= 1
	}
	for deadline := time.Now().Add(10 * time.Second); !synced() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !synced() {
		t.Errorf("ZAB packets since the leader was lost = %v, want newleader, uptodate and diff, trunc or snap", sync)
	}

	var survivor *zktest.Server
	for _, s := range ens {
		if s != leader && s != newLeader {
			survivor = s
		}
	}
	rep2, err := workload.Run(context.Background(), survivor.Addr, smallWork("/after-election"))
	if err != nil {
		t.Fatal(err)
	}
	waitRequests(t, base, nil, clientRequests(rep1, rep2))
	checkNoDrops(t, base)
}

// rawSession is a ZooKeeper session held on a raw connection.
type rawSession struct {
	id     int64
	passwd []byte
}

// connectRaw dials addr and performs the connect handshake for s (a new
// session when s.id is 0), filling s from the ConnectResponse.
func connectRaw(addr string, s *rawSession) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	passwd := s.passwd
	if passwd == nil {
		passwd = make([]byte, 16)
	}
	// ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId,
	// passwd (buffer), readOnly.
	b := binary.BigEndian.AppendUint32(nil, 0) // length, set below
	b = binary.BigEndian.AppendUint32(b, 0)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = binary.BigEndian.AppendUint32(b, 30000)
	b = binary.BigEndian.AppendUint64(b, uint64(s.id))
	b = binary.BigEndian.AppendUint32(b, uint32(len(passwd)))
	b = append(b, passwd...)
	b = append(b, 0)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		c.Close()
		return nil, err
	}
	// ConnectResponse: protocolVersion, timeOut, sessionId, passwd, readOnly.
	resp, err := readFrame(c)
	if err != nil || len(resp) < 20 {
		c.Close()
		return nil, fmt.Errorf("connect response: %d bytes, %v", len(resp), err)
	}
	timeout, id := binary.BigEndian.Uint32(resp[4:]), int64(binary.BigEndian.Uint64(resp[8:]))
	n := int(binary.BigEndian.Uint32(resp[16:]))
	if timeout == 0 || id == 0 || (s.id != 0 && id != s.id) || n != 16 || len(resp) < 20+n {
		c.Close()
		return nil, fmt.Errorf("session %#x refused: response timeout %d, session %#x", s.id, timeout, id)
	}
	s.id, s.passwd = id, bytes.Clone(resp[20:20+n])
	return c, nil
}

func readFrame(c net.Conn) ([]byte, error) {
	var l [4]byte
	if _, err := io.ReadFull(c, l[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(l[:])
	if n > 1<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err := io.ReadFull(c, b)
	return b, err
}

// setWatches sends a SetWatches request (xid -8, op 101) re-registering
// data, exist and child watches, and waits for its reply.
func setWatches(c net.Conn, data, exist, child []string) error {
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(0xfffffff8)) // xid -8
	b = binary.BigEndian.AppendUint32(b, 101)
	b = binary.BigEndian.AppendUint64(b, 0) // relativeZxid
	for _, paths := range [][]string{data, exist, child} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(paths)))
		for _, p := range paths {
			b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
			b = append(b, p...)
		}
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	if _, err := c.Write(b); err != nil {
		return err
	}
	for { // watch events (xid -1) may come first
		r, err := readFrame(c)
		if err != nil {
			return err
		}
		if len(r) >= 16 && int32(binary.BigEndian.Uint32(r)) == -8 {
			if e := int32(binary.BigEndian.Uint32(r[12:])); e != 0 {
				return fmt.Errorf("setWatches: error %d", e)
			}
			return nil
		}
	}
}

// forEach runs f(i) for i in [0, n) on 50 goroutines and fails the test on
// the first error.
func forEach(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	errc := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 50 {
		go func() {
			for i := range next {
				errc <- f(i)
			}
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}
}

// TestFaultThousandReconnects: a thousand sessions lose their connections
// at once and come back on new ones, each resuming its session and
// re-sending its watches in a SetWatches, as clients do after a network cut
// or a server restart. zktap counts every resume and every re-set watch,
// without drops or decoder panics.
func TestFaultThousandReconnects(t *testing.T) {
	requireRoot(t)
	const clients = 1000
	// Each client holds a socket, and so does the server for it.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur < 4*clients {
		want := lim
		want.Cur = min(lim.Max, 8*clients)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil || want.Cur < 4*clients {
			t.Skipf("skipping: RLIMIT_NOFILE %d, cannot raise it to %d: %v", lim.Cur, 4*clients, err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim) })
	}
	srv := zktest.StartStandalone(t, zktest.Options{}) // zoo.cfg has maxClientCnxns=0: no per-IP cap
	base := startServe(t, "--iface", "lo", "--zk-ports", strconv.Itoa(srv.ClientPort), "--capture.ring-size", "64MiB")

	sessions := make([]rawSession, clients)
	conns := make([]net.Conn, clients)
	forEach(t, clients, func(i int) (err error) {
		conns[i], err = connectRaw(srv.Addr, &sessions[i])
		return err
	})
	// The cut: every connection closes at once.
	for _, c := range conns {
		c.Close()
	}
	paths := func(i int) (data, exist, child []string) {
		return []string{fmt.Sprintf("/app/c%d/config", i), fmt.Sprintf("/app/c%d/state", i)},
			[]string{fmt.Sprintf("/app/c%d/lock", i)},
			[]string{"/app"}
	}
	forEach(t, clients, func(i int) (err error) {
		conns[i], err = connectRaw(srv.Addr, &sessions[i])
		if err != nil {
			return err
		}
		data, exist, child := paths(i)
		return setWatches(conns[i], data, exist, child)
	})
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	wantConnects := map[string]float64{"new": clients, "resume": clients}
	var connects map[string]float64
	var watches float64
	waitFor(t, 20*time.Second, "zktap to count every resume and re-set watch", func() bool {
		connects = metricsOf(t, base, "zookeeper_client_connects_total", "kind")
		watches = metricsOf(t, base, "zookeeper_client_watches_set_total", "op")["setWatches"]
		return cmp.Equal(wantConnects, connects) && watches == 4*clients
	})
	t.Logf("connects %v, watches re-set %v", connects, watches)
	if n := metricsOf(t, base, "zookeeper_client_requests_total", "op")["setWatches"]; n != clients {
		t.Errorf("setWatches requests = %v, want %d", n, clients)
	}
	if n := metricsOf(t, base, "zktap_decode_errors_total", "reason")["decoder_panic"]; n != 0 {
		t.Errorf("%v decoder panics", n)
	}
	checkNoDrops(t, base)
}

// freeEnsembleOptions picks free ports rather than 2181/2888/3888: other
// tests on this machine may run an ensemble at the same time.
func freeEnsembleOptions(t *testing.T) zktest.Options {
	return zktest.Options{
		ClientPort:   zktest.FreePort(t, "127.0.0.1"),
		QuorumPort:   zktest.FreePort(t, "127.0.0.1"),
		ElectionPort: zktest.FreePort(t, "127.0.0.1"),
	}
}

// serveEnsembleArgs has zktap serve capture an ensemble's three ports on lo.
func serveEnsembleArgs(o zktest.Options) []string {
	return []string{"--iface", "lo", "--zk-ports", strconv.Itoa(o.ClientPort),
		"--zab-ports", strconv.Itoa(o.QuorumPort), "--fle-ports", strconv.Itoa(o.ElectionPort)}
}
