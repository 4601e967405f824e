package zktest

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestStandalone(t *testing.T) {
	t.Parallel()
	s := StartStandalone(t, Options{})
	tests := []struct {
		cmd, want string
	}{
		{cmd: "ruok", want: "imok"},
		{cmd: "srvr", want: "Mode: standalone"},
		{cmd: "mntr", want: "zk_server_state\tstandalone"},
	}
	for _, tt := range tests {
		t.Run(tt.cmd, func(t *testing.T) {
			got, err := s.FourLetter(tt.cmd)
			if err != nil {
				t.Fatalf("FourLetter(%q): %v", tt.cmd, err)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("FourLetter(%q) = %q, want it to contain %q", tt.cmd, got, tt.want)
			}
		})
	}
	if got := Leader([]*Server{s}); got != s {
		t.Errorf("Leader = %v, want the standalone server", got)
	}

	s.Stop()
	if s.Running() {
		t.Fatal("server still running after Stop")
	}
	if _, err := s.FourLetter("ruok"); err == nil {
		t.Error("FourLetter succeeded on a stopped server")
	}
	s.Restart(t)
	if m, err := s.Mode(); err != nil || m != "standalone" {
		t.Errorf("after Restart Mode = %q, %v; want standalone", m, err)
	}
}

func TestEnsembleElection(t *testing.T) {
	t.Parallel()
	// Free ports: a fixed 38880 lies in the ephemeral range, where another
	// test's connection took it once and ZooKeeper failed to start.
	servers := StartEnsemble(t, Options{ClientPort: FreePort(t, "127.0.0.1"),
		QuorumPort: FreePort(t, "127.0.0.1"), ElectionPort: FreePort(t, "127.0.0.1")})
	leader := WaitLeader(t, servers, 30*time.Second)
	if l := Leader(servers); l != leader {
		t.Fatalf("Leader = %v, WaitLeader = %v", l, leader)
	}
	want := map[string]int{"leader": 1, "follower": 2}
	if diff := cmp.Diff(want, modes(t, servers)); diff != "" {
		t.Fatalf("modes mismatch (-want +got):\n%s", diff)
	}

	leader.Kill()
	next := WaitLeader(t, servers, 30*time.Second)
	if next == leader {
		t.Fatalf("server %d still leads after being killed", leader.ID)
	}
	want = map[string]int{"leader": 1, "follower": 1}
	if diff := cmp.Diff(want, modes(t, servers)); diff != "" {
		t.Fatalf("modes after killing %d mismatch (-want +got):\n%s", leader.ID, diff)
	}

	// The old leader rejoins as a follower of the new one.
	leader.Restart(t)
	want = map[string]int{"leader": 1, "follower": 2}
	if diff := cmp.Diff(want, modes(t, servers)); diff != "" {
		t.Fatalf("modes after restart mismatch (-want +got):\n%s", diff)
	}
	if l := Leader(servers); l != next {
		t.Errorf("leader after restart = %v, want %d", l, next.ID)
	}
}

func modes(t *testing.T, servers []*Server) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, s := range servers {
		if !s.Running() {
			continue
		}
		m, err := s.Mode()
		if err != nil {
			t.Fatalf("server %d: %v", s.ID, err)
		}
		got[m]++
	}
	return got
}
