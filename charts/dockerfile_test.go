package charts

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dockerfile is the parsed subset of ../Dockerfile the tests check: ARG
// defaults, FROM references after ARG substitution, and the instructions of
// the final stage. No Docker engine is needed; the image itself is unbuilt
// here, so these invariants are what keeps it honest.
type dockerfile struct {
	args  map[string]string
	froms []string
	final []string // instructions of the last stage, continuation lines joined
	all   []string
}

func parseDockerfile(t *testing.T, path string) dockerfile {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{args: map[string]string{}}
	var cur strings.Builder
	flush := func() {
		ins := strings.TrimSpace(cur.String())
		cur.Reset()
		if ins == "" {
			return
		}
		d.all = append(d.all, ins)
		word, rest, _ := strings.Cut(ins, " ")
		switch strings.ToUpper(word) {
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok {
				if _, seen := d.args[k]; !seen {
					d.args[k] = v
				}
			}
		case "FROM":
			fields := strings.Fields(rest)
			for len(fields) > 1 && strings.HasPrefix(fields[0], "--") {
				fields = fields[1:] // --platform=...
			}
			ref := os.Expand(fields[0], func(k string) string { return d.args[k] })
			d.froms = append(d.froms, ref)
			d.final = nil
			return
		}
		d.final = append(d.final, ins)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments may sit inside a continued instruction
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		flush()
	}
	flush()
	return d
}

var digestRE = regexp.MustCompile(`^[a-z0-9./-]+:[a-z0-9._-]+@sha256:[0-9a-f]{64}$`)

func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t, "../Dockerfile")

	if len(d.froms) != 2 {
		t.Fatalf("stages = %v, want a build stage and a runtime stage", d.froms)
	}
	for _, ref := range d.froms {
		if !digestRE.MatchString(ref) {
			t.Errorf("base image %q is not pinned by tag@sha256 digest", ref)
		}
	}
	if !strings.HasPrefix(d.froms[1], "gcr.io/distroless/static-debian12:nonroot@") {
		t.Errorf("runtime image = %q, want distroless static nonroot", d.froms[1])
	}

	// The build image's Go must be the one go.mod asks for: the build runs
	// with GOTOOLCHAIN=local and would fail on an older one.
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	if want := "golang:" + string(m[1]) + "-"; !strings.HasPrefix(d.froms[0], want) {
		t.Errorf("build image %q does not match go.mod's go %s", d.froms[0], m[1])
	}

	all := strings.Join(d.all, "\n")
	for _, want := range []string{
		"CGO_ENABLED=0",
		"-trimpath",
		`-ldflags="-s -w"`,
		"GOTOOLCHAIN=local",
		"setcap cap_net_raw+ep /out/zktap",
		"libcap2-bin",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}

	if strings.Contains(all, "COPY --link") {
		t.Error("COPY --link dropped file capabilities in Docker 23.0 (moby/moby#45128)")
	}

	// The final stage holds the binary and nothing that could add privilege.
	want := []string{
		"COPY --from=build /out/zktap /zktap",
		"USER 65532:65532",
		"EXPOSE 9771",
		`ENTRYPOINT ["/zktap"]`,
		`CMD ["serve"]`,
	}
	if diff := cmp.Diff(want, d.final); diff != "" {
		t.Errorf("runtime stage instructions (-want +got):\n%s", diff)
	}
}

// ignored reports whether a .dockerignore pattern list excludes path, with
// Docker's semantics: "**" spans directories, "*" does not, and excluding a
// directory excludes everything below it.
func ignored(patterns []string, path string) bool {
	for _, pat := range patterns {
		var re strings.Builder
		re.WriteString("^")
		for i := 0; i < len(pat); i++ {
			switch {
			case strings.HasPrefix(pat[i:], "**/"):
				re.WriteString("(?:.*/)?")
				i += 2
			case strings.HasPrefix(pat[i:], "**"):
				re.WriteString(".*")
				i++
			case pat[i] == '*':
				re.WriteString("[^/]*")
			case pat[i] == '?':
				re.WriteString("[^/]")
			default:
				re.WriteString(regexp.QuoteMeta(pat[i : i+1]))
			}
		}
		re.WriteString("(?:/.*)?$")
		if regexp.MustCompile(re.String()).MatchString(path) {
			return true
		}
	}
	return false
}

func TestDockerignore(t *testing.T) {
	b, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			if strings.HasPrefix(line, "!") {
				t.Fatalf("negated pattern %q: extend ignored() before using one", line)
			}
			patterns = append(patterns, line)
		}
	}
	tests := []struct {
		path    string
		ignored bool
	}{
		{"go.mod", false},
		{"go.sum", false},
		{"main.go", false},
		{"sniff/capture_linux.go", false},
		{"proto/zk/decode.go", false},
		{".git/HEAD", true},
		{"testdata/zktraffic/a.pcap", true},
		{"proto/zk/testdata/fuzz/FuzzDecode/x", true},
		{"charts/zktap/values.yaml", true},
		{"sniff/sniff.test", true},
	}
	for _, tt := range tests {
		if got := ignored(patterns, tt.path); got != tt.ignored {
			t.Errorf("%s ignored = %v, want %v", tt.path, got, tt.ignored)
		}
	}
}
