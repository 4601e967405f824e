package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestImportBoundaries enforces the data flow of STYLE.md: capture
// primitives stay in sniff, decoders know nothing of capture or export,
// and the configuration reaches only main and the app that wires it.
func TestImportBoundaries(t *testing.T) {
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/zktap/zktap"
	type pkg struct {
		ImportPath string
		Imports    []string
	}
	// Packages under importer must not import anything under banned.
	rules := []struct {
		importer string
		banned   []string
	}{
		{importer: mod + "/proto", banned: []string{mod + "/sniff", mod + "/exporter", mod + "/internal", mod + "/config",
			"go.opentelemetry.io", "github.com/prometheus", "golang.org/x/sys/unix", "github.com/mdlayher", "golang.org/x/net/bpf"}},
		{importer: mod + "/sniff/reasm", banned: []string{mod + "/proto", mod + "/exporter", "go.opentelemetry.io"}},
		{importer: mod + "/exporter", banned: []string{mod + "/sniff", mod + "/config", "golang.org/x/sys/unix", "github.com/mdlayher"}},
		{importer: mod + "/config", banned: []string{mod + "/"}},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			// Only sniff may talk to the kernel's packet interfaces.
			if (imp == "golang.org/x/sys/unix" || strings.HasPrefix(imp, "github.com/mdlayher/") || imp == "golang.org/x/net/bpf") &&
				!strings.HasPrefix(p.ImportPath, mod+"/sniff") {
				t.Errorf("%s imports %s: only sniff may", p.ImportPath, imp)
			}
			for _, r := range rules {
				if p.ImportPath != r.importer && !strings.HasPrefix(p.ImportPath, r.importer+"/") {
					continue
				}
				for _, b := range r.banned {
					if strings.HasPrefix(imp, b) {
						t.Errorf("%s imports %s, against the data flow", p.ImportPath, imp)
					}
				}
			}
		}
	}
}
