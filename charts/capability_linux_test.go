package charts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFileCapability checks the least-privilege scheme the Dockerfile and the
// chart rely on, on this kernel: a binary built like zktap's image binary
// (CGO_ENABLED=0, -trimpath, -s -w) with the file capability cap_net_raw+ep
// opens an AF_PACKET socket as uid 65532 with every other capability gone
// and no_new_privs set, which is how runc starts the sidecar with
// `capabilities: {drop: [ALL], add: [NET_RAW]}` and
// `allowPrivilegeEscalation: false`.
//
// It needs root to set file capabilities and to switch users, and the
// setcap and setpriv tools; without them it skips and says why.
func TestFileCapability(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to setcap a binary and switch to uid 65532")
	}
	setcap, err := exec.LookPath("setcap")
	if err != nil {
		t.Skip("setcap not installed (Debian: libcap2-bin)")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("setpriv not installed (Debian: util-linux)")
	}

	// The directory must be reachable by uid 65532; t.TempDir is 0700.
	dir, err := os.MkdirTemp("", "zktap-cap-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	withCap := filepath.Join(dir, "with-cap")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", withCap, "./testdata/afpacket")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	noCap := filepath.Join(dir, "no-cap")
	if out, err := exec.Command("cp", withCap, noCap).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	if out, err := exec.Command(setcap, "cap_net_raw+ep", withCap).CombinedOutput(); err != nil {
		t.Fatalf("setcap: %v\n%s", err, out)
	}

	tests := []struct {
		name     string
		bin      string
		bounding string // setpriv --bounding-set
		nnp      bool
		want     string // "ok", "socket" (opens but socket fails) or "exec" (kernel refuses exec)
	}{
		{"file cap, NET_RAW added, no_new_privs", withCap, "-all,+net_raw", true, "ok"},
		{"file cap, NET_RAW added", withCap, "-all,+net_raw", false, "ok"},
		{"no file cap, NET_RAW added", noCap, "-all,+net_raw", true, "socket"},
		{"file cap, NET_RAW not added", withCap, "-all", true, "exec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--reuid=65532", "--regid=65532", "--clear-groups", "--inh-caps=-all", "--bounding-set=" + tt.bounding}
			if tt.nnp {
				args = append(args, "--no-new-privs")
			}
			cmd := exec.Command(setpriv, append(args, tt.bin)...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var got string
			var exit *exec.ExitError
			switch {
			case err == nil && strings.TrimSpace(stdout.String()) == "ok":
				got = "ok"
			case errors.As(err, &exit) && strings.HasPrefix(stdout.String(), "socket:"):
				got = "socket"
			case errors.As(err, &exit) && strings.Contains(stderr.String(), "failed to execute"):
				got = "exec"
			default:
				t.Fatalf("unexpected outcome: err=%v stdout=%q stderr=%q", err, stdout.String(), stderr.String())
			}
			if got != tt.want {
				t.Errorf("outcome = %s, want %s (stdout %q, stderr %q)", got, tt.want, stdout.String(), stderr.String())
			}
		})
	}
}
