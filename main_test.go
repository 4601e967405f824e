package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/zktap/zktap/internal/zktest"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildZktap builds the real binary, once for the whole test run.
func buildZktap(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "zktap-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "zktap")
		cmd := exec.Command("go", "build", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestBadFlags: a bad flag or value is a one-line error naming it, exit 2.
func TestBadFlags(t *testing.T) {
	bin := buildZktap(t)
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"dump", "--pcap", "x.pcap", "--zk-ports", "70000"}, want: "--zk-ports"},
		{args: []string{"dump", "--no-such-flag"}, want: "no-such-flag"},
		{args: []string{"serve", "--pcap", "x", "--web.listen-address", "nonsense"}, want: "--web.listen-address"},
		{args: []string{"dump", "--pcap", "testdata/zktraffic/missing.pcap"}, want: "--pcap"},
		{args: []string{"dump", "--pcap", "x"}, env: "ZKTAP_MIN_LATENCY=soon", want: "ZKTAP_MIN_LATENCY"},
		{args: []string{"frobnicate"}, want: "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			if tt.env != "" {
				cmd.Env = append(os.Environ(), tt.env)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if code := exitCode(err); code != 2 {
				t.Errorf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
			}
			lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("stderr = %q, want one line naming %s", stderr.String(), tt.want)
			}
		})
	}
}

// TestDumpCapture runs the README's first command on a capture: no root
// needed, and the output is the decoded traffic.
func TestDumpCapture(t *testing.T) {
	bin := buildZktap(t)
	out, err := exec.Command(bin, "dump", "--pcap", "testdata/zktraffic/multi.pcap").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "zk multi ops=[create /foo, setData /foo] xid=5"
	if !strings.Contains(string(out), want) {
		t.Errorf("dump output lacks %q:\n%s", want, out)
	}
}

// TestDumpStdin: --pcap - reads the capture from standard input, pcapng too.
func TestDumpStdin(t *testing.T) {
	bin := buildZktap(t)
	f, err := os.Open("testdata/zktraffic/auth.pcap")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(bin, "dump", "--pcap", "-", "--format", "json")
	cmd.Stdin = f
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"op":"auth"`) || !strings.Contains(string(out), `"auth_user":"tacos"`) ||
		strings.Contains(string(out), "tacos:tacos") {
		t.Errorf("stdin dump = %s", out)
	}
}

// TestSIGTERM: `zktap serve` stops capture and exits 0 within seconds of
// SIGTERM.
func TestSIGTERM(t *testing.T) {
	bin := buildZktap(t)
	port := zktest.FreePort(t, "127.0.0.1")
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.Command(bin, "serve", "--pcap", "testdata/captures/workload.pcap", "--replay.pace", "recorded",
		"--web.listen-address", addr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("zktap serve never became healthy:\n%s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if code := exitCode(err); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0:\n%s", code, stderr.String())
		}
		t.Logf("exited %v after SIGTERM", time.Since(start))
	case <-time.After(5 * time.Second):
		t.Fatalf("still running 5s after SIGTERM:\n%s", stderr.String())
	}
}

// TestLeastPrivilege: zktap captures live as a non-root user holding only
// CAP_NET_RAW (a file capability, as in the container image), and without
// it the error says what is missing.
func TestLeastPrivilege(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to setcap the binary and switch users: run the tests as root (CI does)")
	}
	for _, tool := range []string{"setcap", "setpriv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not found: run testdata/setup.sh (%v)", tool, err)
		}
	}
	zk := zktest.StartStandalone(t, zktest.Options{})
	dir, err := os.MkdirTemp("", "zktap-priv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "zktap")
	src := buildZktap(t)
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// As the pod runs it: uid 65532, no supplementary groups, no inherited
	// capabilities, bounding set reduced to NET_RAW, no_new_privs.
	run := func(t *testing.T) (string, string, error) {
		cmd := exec.Command("setpriv", "--reuid=65532", "--regid=65532", "--clear-groups",
			"--inh-caps=-all", "--bounding-set=-all,+net_raw", "--no-new-privs",
			bin, "dump", "--iface", "lo", "--zk-ports", strconv.Itoa(zk.ClientPort), "--format", "json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		if _, err := zk.FourLetter("ruok"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		return stdout.String(), stderr.String(), err
	}

	t.Run("without the capability", func(t *testing.T) {
		_, stderr, err := run(t)
		if code := exitCode(err); code != 1 || !strings.Contains(stderr, "CAP_NET_RAW") {
			t.Errorf("exit %d, stderr %q; want exit 1 and a message naming CAP_NET_RAW", code, stderr)
		}
	})
	t.Run("with cap_net_raw+ep", func(t *testing.T) {
		if out, err := exec.Command("setcap", "cap_net_raw+ep", bin).CombinedOutput(); err != nil {
			t.Fatalf("setcap: %v %s", err, out)
		}
		stdout, stderr, err := run(t)
		if code := exitCode(err); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if !strings.Contains(stdout, `"proto":"4lw","kind":"request","op":"ruok"`) ||
			!strings.Contains(stdout, `"proto":"4lw","kind":"reply","op":"ruok"`) {
			t.Errorf("the ruok exchange was not captured:\n%s\n%s", stdout, stderr)
		}
	})
}
