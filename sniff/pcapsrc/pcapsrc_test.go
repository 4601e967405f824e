package pcapsrc

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/zktap/zktap/sniff"
)

const corpus = "../../testdata/zktraffic"

// readmeCounts parses the "pkts (payload)" column of the corpus README.
func readmeCounts(t *testing.T) map[string][2]int {
	t.Helper()
	f, err := os.Open(filepath.Join(corpus, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile(`^\| (\S+\.pcap) \| [^|]+ \| (\d+) \((\d+)\) \|`)
	counts := map[string][2]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			pkts, _ := strconv.Atoi(m[2])
			payload, _ := strconv.Atoi(m[3])
			counts[m[1]] = [2]int{pkts, payload}
		}
	}
	if len(counts) != 19 {
		t.Fatalf("README table has %d rows, want 19", len(counts))
	}
	return counts
}

// readAll reads s to the end and returns its frame count, the count of
// frames with TCP payload according to sniff.ParseFrame, and the error that
// ended reading (nil for io.EOF).
func readAll(s *Source) (frames, payload int, err error) {
	var seg sniff.Segment
	for {
		data, ts, link, err := s.ReadFrame()
		if err == io.EOF {
			return frames, payload, nil
		}
		if err != nil {
			return frames, payload, err
		}
		frames++
		if sniff.ParseFrame(link, data, ts, &seg) == nil && len(seg.Payload) > 0 {
			payload++
		}
	}
}

func TestZktrafficCorpus(t *testing.T) {
	for name, want := range readmeCounts(t) {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(corpus, name)
			s, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			frames, payload, err := readAll(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, [2]int{frames, payload}); diff != "" {
				t.Errorf("[frames, payload frames] (-README +got):\n%s", diff)
			}
			fi, _ := os.Stat(path)
			read, total := s.Progress()
			if total != fi.Size() || read != total {
				t.Errorf("Progress() = %d, %d at EOF; want %d, %d", read, total, fi.Size(), fi.Size())
			}
			if st := s.Stats(); st.Frames != uint64(frames) || st.Bytes == 0 {
				t.Errorf("Stats() = %+v, want %d frames", st, frames)
			}
		})
	}
}

// ethFrame is an Ethernet/IPv4/TCP frame from 10.0.0.1:40000 to
// 10.0.0.2:2181 carrying payload.
func ethFrame(payload string) []byte {
	b := make([]byte, 12)
	b = append(b, 0x08, 0x00)
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(40+len(payload)))
	b = append(b, 0, 0, 0, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2)
	b = append(b, 0x9c, 0x40, 0x08, 0x85) // ports 40000 -> 2181
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, payload...)
}

// sllFrame is the same IPv4 packet behind a Linux cooked v1 header.
func sllFrame(payload string) []byte {
	b := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}
	return append(b, ethFrame(payload)[14:]...)
}

type frameInfo struct {
	Link    sniff.LinkType
	Payload string
	Time    time.Time
}

func TestPcapngRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "rt.pcapng")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	// Two interfaces with different link types; frames alternate.
	w, err := pcapgo.NewNgWriterInterface(f, pcapgo.NgInterface{Name: "eth0", LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	sllID, err := w.AddInterface(pcapgo.NgInterface{Name: "any", LinkType: layers.LinkTypeLinuxSLL, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	var want []frameInfo
	for i := range 6 {
		payload := "payload-" + strconv.Itoa(i)
		ts := base.Add(time.Duration(i) * 1500 * time.Microsecond)
		data, link, ifc := ethFrame(payload), sniff.LinkEthernet, 0
		if i%2 == 1 {
			data, link, ifc = sllFrame(payload), sniff.LinkSLL, sllID
		}
		ci := gopacket.CaptureInfo{Timestamp: ts, CaptureLength: len(data), Length: len(data), InterfaceIndex: ifc}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		want = append(want, frameInfo{link, payload, ts})
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []frameInfo
	var seg sniff.Segment
	for {
		data, ts, link, err := s.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := sniff.ParseFrame(link, data, ts, &seg); err != nil {
			t.Fatalf("frame %d: %v", len(got), err)
		}
		got = append(got, frameInfo{link, string(seg.Payload), ts.UTC()})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

func TestOpenErrors(t *testing.T) {
	// A classic pcap header with an 802.11 link type.
	var wifi bytes.Buffer
	if err := pcapgo.NewWriter(&wifi).WriteFileHeader(65535, layers.LinkTypeIEEE802_11); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "pcapsrc: reading magic: unexpected EOF"},
		{"text", []byte("hello, world\n"), "pcapsrc: not a pcap or pcapng file"},
		{"802.11", wifi.Bytes(), "pcapsrc: unsupported link type 105 (802.11)"},
		{"cut pcap header", wifi.Bytes()[:10], "pcapsrc: pcap header: unexpected EOF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(bytes.NewReader(tt.file))
			if tt.name == "802.11" && !errors.Is(err, ErrUnsupportedLink) {
				t.Errorf("error %v is not ErrUnsupportedLink", err)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Open error %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := OpenFile(filepath.Join(t.TempDir(), "missing.pcap")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("OpenFile of a missing file: %v, want os.ErrNotExist", err)
	}
}

func TestPcapngUnsupportedInterface(t *testing.T) {
	// Ethernet, USB, Ethernet: the USB frame is an error, reading goes on.
	var file bytes.Buffer
	w, err := pcapgo.NewNgWriterInterface(&file, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	usb, err := w.AddInterface(pcapgo.NgInterface{LinkType: layers.LinkTypeLinuxUSB, SnapLength: 65535})
	if err != nil {
		t.Fatal(err)
	}
	for i, ifc := range []int{0, usb, 0} {
		data := ethFrame(strconv.Itoa(i))
		ci := gopacket.CaptureInfo{Timestamp: time.Unix(int64(i), 0), CaptureLength: len(data), Length: len(data), InterfaceIndex: ifc}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		_, _, link, err := s.ReadFrame()
		if err == io.EOF {
			break
		}
		switch {
		case errors.Is(err, ErrUnsupportedLink):
			got = append(got, err.Error())
		case err != nil:
			t.Fatal(err)
		default:
			got = append(got, strconv.Itoa(int(link)))
		}
	}
	want := []string{"1", "pcapsrc: frame 2: interface 1: pcapsrc: unsupported link type 220 (USB)", "1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("frames (-want +got):\n%s", diff)
	}
}

// TestTruncatedFile cuts a capture at every byte offset: each cut must open
// with an error or read the whole records before the cut and then end with
// io.EOF exactly at a record boundary, or an error otherwise.
func TestTruncatedFile(t *testing.T) {
	for _, name := range []string{"dump.pcap", "multi.pcap"} {
		t.Run(name, func(t *testing.T) {
			full, err := os.ReadFile(filepath.Join(corpus, name))
			if err != nil {
				t.Fatal(err)
			}
			// Record boundaries: 24-byte file header, then 16-byte record
			// headers each followed by the captured bytes.
			ends := map[int]int{24: 0}
			for off, n := 24, 0; off+16 <= len(full); n++ {
				off += 16 + int(binary.LittleEndian.Uint32(full[off+8:]))
				ends[off] = n + 1
			}
			for cut := range len(full) {
				s, err := Open(bytes.NewReader(full[:cut]))
				if err != nil {
					if cut >= 24 {
						t.Errorf("cut at %d: Open: %v", cut, err)
					}
					continue
				}
				frames, _, err := readAll(s)
				if want, boundary := ends[cut]; boundary {
					if err != nil || frames != want {
						t.Errorf("cut at %d (boundary): %d frames, %v; want %d, EOF", cut, frames, err, want)
					}
				} else if err == nil {
					t.Errorf("cut at %d (inside a record): clean EOF after %d frames", cut, frames)
				}
			}
		})
	}
}

func TestReadFrameAllocs(t *testing.T) {
	// 2,000 copies of one 1,454-byte frame in memory, so reads never hit
	// EOF, and the 1,001 reads cross a chunk boundary.
	var file bytes.Buffer
	w := pcapgo.NewWriter(&file)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := ethFrame(strings.Repeat("some zookeeper bytes", 70))
	for range 2000 {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Now(), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(bytes.NewReader(file.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, _, _, err := s.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFrame allocates %v times per frame, want 0", allocs)
	}
}

func TestClose(t *testing.T) {
	s, err := OpenFile(filepath.Join(corpus, "auth.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.ReadFrame(); err == nil || err == io.EOF {
		t.Errorf("ReadFrame after Close: %v, want an error", err)
	}
	if err := s.Close(); err == nil {
		t.Error("second Close returned nil")
	}
}

func BenchmarkReadFrame(b *testing.B) {
	full, err := os.ReadFile(filepath.Join(corpus, "omni.pcap"))
	if err != nil {
		b.Fatal(err)
	}
	r := bytes.NewReader(full)
	s, err := Open(r)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, _, err := s.ReadFrame(); err == io.EOF {
			// Rewind: a new Source over the same bytes.
			b.StopTimer()
			r.Reset(full)
			if s, err = Open(r); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		} else if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadFile reads a whole capture from memory per iteration, Open
// included, and reports the time per frame: testdata's largest capture, or
// the file ZKTAP_BENCH_PCAP names.
func BenchmarkReadFile(b *testing.B) {
	path := os.Getenv("ZKTAP_BENCH_PCAP")
	if path == "" {
		path = "../../testdata/captures/workload.pcap"
	}
	full, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(full)))
	b.ReportAllocs()
	frames := 0
	for b.Loop() {
		s, err := Open(bytes.NewReader(full))
		if err != nil {
			b.Fatal(err)
		}
		for {
			_, _, _, err := s.ReadFrame()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			frames++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(frames), "ns/frame")
}
