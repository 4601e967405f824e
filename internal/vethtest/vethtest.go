//go:build linux

// Package vethtest gives tests a real interface that can be deleted and
// created again: a veth pair whose host end stays in the test's network
// namespace and whose peer lives in a namespace of its own, so that packets
// sent to the peer's address really cross the host end, where a capture
// listens. Tests of capture loss (sniff's Reopener, zktap serve's fault
// tests) use it. It needs root and ip(8); without them New skips the test.
package vethtest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Pair is one veth pair. Host is the host end's name (address
// <subnet>.1/24); PeerIface, in namespace NS, has address Peer
// (<subnet>.2/24).
type Pair struct {
	Host, PeerIface string
	NS              string
	Peer            string
	subnet          string // "10.x.y"
}

// New creates namespace and pair; t.Cleanup removes both, after logging
// both ends' state (see Diagnose) if the test failed. tag (at most 4
// lower-case letters) and id tell apart the pairs of one test binary;
// second (the subnet's second octet) keeps packages whose test binaries run
// at the same time in different subnets, since two host ends in one subnet
// would steal each other's routes.
func New(t testing.TB, tag string, second, id int) *Pair {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: creating veth pairs and namespaces needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("skipping: no ip(8) command to create a veth pair")
	}
	pid := os.Getpid()
	host := fmt.Sprintf("%s%d%da", tag, pid%100000, id) // at most 15 bytes: IFNAMSIZ
	p := &Pair{
		Host:      host,
		PeerIface: strings.TrimSuffix(host, "a") + "b",
		NS:        fmt.Sprintf("%s-%d-%d", tag, pid, id),
		subnet:    fmt.Sprintf("10.%d.%d", second, (pid+id)%250),
	}
	p.Peer = p.subnet + ".2"
	IP(t, "netns", "add", p.NS)
	t.Cleanup(func() {
		if t.Failed() {
			p.Diagnose(t)
		}
		exec.Command("ip", "link", "del", p.Host).Run()
		exec.Command("ip", "netns", "del", p.NS).Run()
	})
	p.Create(t)
	return p
}

// Create (re-)creates the pair under the same names and addresses, both
// ends up, and the namespace's loopback up.
func (p *Pair) Create(t testing.TB) {
	t.Helper()
	IP(t, "link", "add", p.Host, "type", "veth", "peer", "name", p.PeerIface, "netns", p.NS)
	IP(t, "addr", "add", p.subnet+".1/24", "dev", p.Host)
	IP(t, "link", "set", p.Host, "up")
	IP(t, "-n", p.NS, "addr", "add", p.Peer+"/24", "dev", p.PeerIface)
	IP(t, "-n", p.NS, "link", "set", p.PeerIface, "up")
	IP(t, "-n", p.NS, "link", "set", "lo", "up")
}

// Remove deletes the pair; both ends go.
func (p *Pair) Remove(t testing.TB) { t.Helper(); IP(t, "link", "del", p.Host) }

// Diagnose logs the state of both ends, for a test that failed: links,
// addresses, neighbours, the route to the peer, and TCP sockets and
// counters on each side.
func (p *Pair) Diagnose(t testing.TB) {
	for _, args := range [][]string{
		{"ip", "-d", "link", "show", p.Host}, {"ip", "addr", "show", p.Host}, {"ip", "neigh", "show", "dev", p.Host},
		{"ip", "-n", p.NS, "-d", "link"}, {"ip", "-n", p.NS, "addr"}, {"ip", "-n", p.NS, "neigh"},
		{"ip", "route", "get", p.Peer}, {"ss", "-tanpi"}, {"ip", "netns", "exec", p.NS, "ss", "-tanpi"},
		{"nstat", "-az", "TcpExtListenDrops", "TcpExtListenOverflows", "TcpAttemptFails", "TcpRetransSegs", "TcpExtTCPSynRetrans"},
	} {
		out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
		t.Logf("diagnose: %s (err %v):\n%s", strings.Join(args, " "), err, out)
	}
}

// IP runs ip(8) with args and fails the test, with its output, if it fails.
func IP(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}
