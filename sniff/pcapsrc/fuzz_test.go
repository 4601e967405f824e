package pcapsrc

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/zktap/zktap/sniff"
)

// FuzzOpen reads arbitrary files: Open and ReadFrame must fail cleanly, never
// panic, and frames must be parseable or rejected by sniff.ParseFrame. A
// classic pcap file, plain or gzipped, must read as pcapgo reads it: the
// same frames and times, and an error where pcapgo has one.
func FuzzOpen(f *testing.F) {
	for _, name := range []string{"auth.pcap", "multi.pcap", "reconfig.pcap", "fire_watches.pcap"} {
		b, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var ng bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&ng, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		f.Fatal(err)
	}
	sll, _ := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxSLL, SnapLength: 65535})
	for i, data := range [][]byte{ethFrame("abc"), sllFrame("defg")} {
		_ = w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(data), Length: len(data), InterfaceIndex: i * sll}, data)
	}
	_ = w.Flush()
	f.Add(ng.Bytes())
	// Hostile lengths: caplen 2^31 under snap lengths 65535 and 2^32-1.
	f.Add(pcapFile(65535, pcapRecord(1<<31, 1<<31, ethFrame("abc"))))
	f.Add(pcapFile(0xffffffff, pcapRecord(1<<31, 1<<31, ethFrame("abc"))))

	f.Fuzz(func(t *testing.T, file []byte) {
		s, err := Open(bytes.NewReader(file))
		if err != nil {
			classic := len(file) >= 4 && (isPcap(file[:4]) || bytes.HasPrefix(file, magicGzip))
			if classic && !errors.Is(err, ErrUnsupportedLink) {
				if _, perr := readPcapgo(file, 0); perr == nil {
					t.Fatalf("Open: %v, pcapgo: no error", err)
				}
			}
			return
		}
		var seg sniff.Segment
		var total int
		for range 10000 {
			data, ts, link, err := s.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				continue // a damaged record; later reads must still not panic
			}
			total += len(data)
			if total > 4*len(file)+1<<20 {
				t.Fatalf("read %d frame bytes from a %d-byte file", total, len(file))
			}
			_ = sniff.ParseFrame(link, data, ts, &seg)
		}
		if st := s.Stats(); st.Bytes != uint64(total) {
			t.Fatalf("Stats().Bytes = %d, frames had %d", st.Bytes, total)
		}
		if s.pcap == nil {
			return // pcapng: pcapgo's own reader
		}
		want, err := readPcapgo(file, 10000)
		if err != nil {
			t.Fatalf("pcapgo: %v, Open: no error", err)
		}
		got, _ := readSource(bytes.NewReader(file), 10000)
		if d := diffRecords(want, got); d != "" {
			t.Fatalf("reads differ from pcapgo's: %s", d)
		}
	})
}
