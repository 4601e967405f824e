package app

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/zktap/zktap/internal/zktest"
)

// TestServePprof checks that --debug.pprof-address serves the profiles on
// its own listener and that the metrics listener does not.
func TestServePprof(t *testing.T) {
	pp := "127.0.0.1:" + strconv.Itoa(zktest.FreePort(t, "127.0.0.1"))
	base := startServe(t, "--pcap", "../../testdata/captures/ensemble.pcap", "--debug.pprof-address", pp)
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		name, url string
		code      int
		contains  string
	}{
		{"pprof index on its listener", "http://" + pp + "/debug/pprof/", http.StatusOK, "goroutine"},
		{"heap profile on its listener", "http://" + pp + "/debug/pprof/heap?debug=1", http.StatusOK, "heap profile"},
		{"not on the metrics listener", base + "/debug/pprof/", http.StatusNotFound, ""},
		{"metrics not on the pprof listener", "http://" + pp + "/metrics", http.StatusNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := get(tt.url)
			if code != tt.code || !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s: %d, body %.80q; want %d containing %q", tt.url, code, body, tt.code, tt.contains)
			}
		})
	}
}
