package config

import (
	"bytes"
	"strings"
	"testing"
)

// TestUsageListsEveryFlag: each subcommand's help names each of its flags
// once, with its environment variable, and nothing from other subcommands.
func TestUsageListsEveryFlag(t *testing.T) {
	for _, sub := range []string{CmdDump, CmdTop, CmdServe} {
		var b bytes.Buffer
		Usage(&b, sub)
		out := b.String()
		for _, d := range flagDefs {
			n := strings.Count(out, "  --"+d.name+" ") + strings.Count(out, "  --"+d.name+"\n")
			want := 0
			if d.scope&scopeOf(sub) != 0 {
				want = 1
			}
			if n != want {
				t.Errorf("help %s: --%s listed %d times, want %d", sub, d.name, n, want)
			}
			if want == 1 && !strings.Contains(out, "$"+d.env()+"]") {
				t.Errorf("help %s: no $%s", sub, d.env())
			}
		}
	}
	var b bytes.Buffer
	Usage(&b, "")
	for _, s := range summaries {
		if !strings.Contains(b.String(), "  "+s.cmd+" ") {
			t.Errorf("overview lacks %s", s.cmd)
		}
	}
}
