package config

import (
	"fmt"
	"io"
	"strings"
)

var summaries = []struct{ cmd, text string }{
	{CmdDump, "print decoded messages as they pass (zk-dump)"},
	{CmdTop, "count requests or measure latency by path, type or client"},
	{CmdServe, "export metrics (Prometheus, OTLP) and a live dump over HTTP"},
	{CmdVersion, "print the version"},
	{CmdHelp, "show this help, or a subcommand's: zktap help dump"},
}

// Usage writes help text to w: the overview when sub is empty, otherwise
// the flags of subcommand sub with their defaults and environment
// variables.
func Usage(w io.Writer, sub string) {
	sc := scopeOf(sub)
	if sc == 0 {
		fmt.Fprintln(w, "Usage: zktap <subcommand> [flags]")
		fmt.Fprintln(w, "\nzktap observes ZooKeeper traffic passively, from a network interface or a pcap file.")
		fmt.Fprintln(w, "\nSubcommands:")
		for _, s := range summaries {
			fmt.Fprintf(w, "  %-8s %s\n", s.cmd, s.text)
		}
		fmt.Fprintln(w, "\nEvery flag --x.y-z can also be set by the environment variable ZKTAP_X_Y_Z or by")
		fmt.Fprintln(w, "the key x.y-z of the --config YAML file; flags beat the environment, which beats the file.")
		return
	}
	for _, s := range summaries {
		if s.cmd == sub {
			fmt.Fprintf(w, "Usage: zktap %s [flags]\n\n%s.\n", sub, strings.ToUpper(s.text[:1])+s.text[1:])
		}
	}
	for g, title := range []string{"Common", "Filters", "Flags of " + sub} {
		printed := false
		for i := range flagDefs {
			d := &flagDefs[i]
			if d.scope&sc == 0 || usageGroup(d) != g {
				continue
			}
			if !printed {
				fmt.Fprintf(w, "\n%s:\n", title)
				printed = true
			}
			arg := " value"
			switch d.kind {
			case kBool:
				arg = ""
			case kList:
				arg = " list"
			}
			fmt.Fprintf(w, "  --%s%s\n      %s", d.name, arg, d.usage)
			if d.def != "" && d.def != "0" && d.def != "false" && d.def != "0s" {
				fmt.Fprintf(w, " (default %s)", d.def)
			}
			fmt.Fprintf(w, " [$%s]\n", d.env())
		}
	}
}

// usageGroup sorts flags into the sections of Usage: common, filters, and
// those of one subcommand.
func usageGroup(d *flagDef) int {
	switch {
	case d.scope == inCommon:
		return 0
	case d.scope == inFilter && d.name != "format":
		return 1
	}
	return 2
}
