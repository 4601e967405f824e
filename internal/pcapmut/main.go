package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket/pcapgo"
)

func main() { os.Exit(run(os.Args[1:])) }

func run(args []string) int {
	fs := flag.NewFlagSet("pcapmut", flag.ContinueOnError)
	in := fs.String("in", "", "input pcap")
	out := fs.String("out", "", "output pcap")
	logf := fs.String("log", "", "write the list of changes as JSON to this file")
	mode := fs.String("mode", "", "reorder, duplicate or drop")
	n := fs.Int("n", 10, "number of edits")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := rewrite(*in, *out, *logf, *mode, *n, *seed); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func rewrite(in, out, logf, mode string, n int, seed uint64) error {
	f, err := os.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		return fmt.Errorf("pcapmut: %s: %w", in, err)
	}
	var pkts []packet
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("pcapmut: %s: %w", in, err)
		}
		pkts = append(pkts, packet{ci: ci, data: data})
	}
	res, changes, err := mutate(pkts, r.LinkType(), mode, n, seed)
	if err != nil {
		return err
	}
	// A moved or repeated packet takes the timestamp of its slot so time never runs backwards.
	for i := 1; i < len(res); i++ {
		if res[i].ci.Timestamp.Before(res[i-1].ci.Timestamp) {
			res[i].ci.Timestamp = res[i-1].ci.Timestamp
		}
	}
	o, err := os.Create(out)
	if err != nil {
		return err
	}
	w := pcapgo.NewWriterNanos(o)
	if err := w.WriteFileHeader(r.Snaplen(), r.LinkType()); err != nil {
		o.Close()
		return err
	}
	for _, p := range res {
		if err := w.WritePacket(p.ci, p.data); err != nil {
			o.Close()
			return err
		}
	}
	if err := o.Close(); err != nil {
		return err
	}
	if logf == "" {
		return nil
	}
	b, err := json.MarshalIndent(struct {
		Input   string   `json:"input"`
		Mode    string   `json:"mode"`
		Seed    uint64   `json:"seed"`
		Changes []Change `json:"changes"`
	}{filepath.Base(in), mode, seed, changes}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(logf, append(b, '\n'), 0o644)
}
