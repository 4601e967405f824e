package pcapsrc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// aheadSize is a size of the chunks read ahead and of the room before
// them; the small ones put chunk ends everywhere in a record, and a room
// smaller than a record's start gathers it in the spill buffer.
type aheadSize struct{ size, room int }

var aheadSizes = []aheadSize{
	{chunkSize, aheadRoom}, // what ReadAhead uses
	{4093, 1500},           // most records cut, the long ones gathered
	{65536, 0},             // every cut record gathered
	{100, 16},              // chunks shorter than most records
}

// reads reads s to io.EOF, or limit reads, and lists what each returned:
// a frame's length, time and a hash of its bytes, or the error. The last
// entry is "EOF" when reading ended there.
func reads(s *Source, limit int) []string {
	var out []string
	for range limit {
		data, ts, _, err := s.ReadFrame()
		if err == io.EOF {
			return append(out, "EOF")
		}
		if err != nil {
			out = append(out, err.Error())
			continue
		}
		var h uint32 = 2166136261 // FNV-1a: a diff of megabytes of frames would be unreadable
		for _, c := range data {
			h = (h ^ uint32(c)) * 16777619
		}
		out = append(out, fmt.Sprintf("len %d at %s hash %08x", len(data), ts.Format(time.RFC3339Nano), h))
	}
	return out
}

// readWith opens r and reads it to the end, reading ahead in chunks of sz
// when sz.size is not 0. A read-ahead that reached the end of the file
// must have ended its goroutine without Close.
func readWith(t *testing.T, r io.Reader, sz aheadSize, limit int) []string {
	t.Helper()
	out, _ := readSpill(t, r, sz, limit)
	return out
}

// readSpill is readWith, and also returns the size of the buffer reading
// ahead gathered records longer than the room in.
func readSpill(t *testing.T, r io.Reader, sz aheadSize, limit int) ([]string, int) {
	t.Helper()
	s, err := Open(r)
	if err != nil {
		return []string{"Open: " + err.Error()}, 0
	}
	defer s.Close()
	if sz.size != 0 {
		if s.pcap == nil {
			t.Fatal("not a classic pcap file")
		}
		// Not when Open read the whole file already (a small gzipped
		// one: the gzip reader returns io.EOF with its last bytes).
		s.pcap.readAhead(sz.size, sz.room)
		if s.pcap.ahead != nil {
			aheadStarted++
		}
	}
	out := reads(s, limit)
	if s.pcap != nil && s.pcap.ahead != nil && len(out) > 0 && out[len(out)-1] == "EOF" {
		select {
		case <-s.pcap.ahead.gone:
		case <-time.After(5 * time.Second):
			t.Error("the read-ahead goroutine still runs after the end of the file")
		}
	}
	if s.pcap == nil {
		return out, 0
	}
	return out, cap(s.pcap.spill)
}

// aheadStarted counts the reads ahead readWith started.
var aheadStarted int

// TestReadAheadSameFrames reads every capture under testdata/, plain and
// gzipped, in large and in odd-sized reads, ahead in chunks of each size,
// and checks that every frame, time and error is what reading without
// read-ahead gives, in the same order.
func TestReadAheadSameFrames(t *testing.T) {
	paths := testdataCaptures(t)
	frames, started := 0, aheadStarted
	for _, path := range paths {
		name, _ := filepath.Rel("../../testdata", path)
		t.Run(name, func(t *testing.T) {
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			want := readWith(t, bytes.NewReader(file), aheadSize{}, 1<<30)
			frames += len(want)
			gz := gzipped(t, file)
			for _, sz := range aheadSizes {
				for _, rd := range []struct {
					name string
					r    io.Reader
				}{
					{"whole", bytes.NewReader(file)},
					{"chunky", &chunkyReader{r: bytes.NewReader(file)}},
					{"gzip", bytes.NewReader(gz)},
				} {
					got := readWith(t, rd.r, sz, 1<<30)
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s, chunks of %d with %d of room (-without +with read-ahead):\n%s", rd.name, sz.size, sz.room, diff)
					}
				}
			}
		})
	}
	// Every read but those of small gzipped files.
	if started = aheadStarted - started; frames < 20000 || started < 8*len(paths) {
		t.Errorf("read %d frames in all, ahead %d times of %d: the comparison proved little", frames, started, 12*len(paths))
	}
}

// TestReadAheadErrors: records of hostile lengths, files cut anywhere and
// readers that fail are read ahead as they are read without: the same
// frames, the same errors at the same reads, and io.EOF after them.
func TestReadAheadErrors(t *testing.T) {
	errDisk := errors.New("disk on fire")
	frame := ethFrame("abc")
	n := uint32(len(frame))
	big := bytes.Repeat([]byte{0x5a}, 3<<20) // longer than a chunk
	two := pcapFile(65535, pcapRecord(n, n, frame), pcapRecord(n, n, frame))
	tests := []struct {
		name string
		r    func() io.Reader
		// longest is the longest record (header included) the file
		// holds: gathering one takes at most twice its bytes.
		longest int
	}{
		{"caplen above snap length, then a frame", file(pcapFile(65535, pcapRecord(300000, 300000, nil), pcapRecord(n, n, frame))), 16 + len(frame)},
		{"caplen 2^31 under a hostile snap length", file(pcapFile(0xffffffff, pcapRecord(1<<31, 1<<31, frame))), 16 + len(frame)},
		{"gzipped 64 MiB record under a hostile snap length", file(gzipped(t, pcapFile(0xffffffff, pcapRecord(64<<20, 64<<20, make([]byte, 64<<20)), pcapRecord(n, n, frame)))), 16 + len(frame)},
		{"a record at the limit", file(pcapFile(0xffffffff, pcapRecord(maxRecordLen, maxRecordLen, bytes.Repeat([]byte{7}, maxRecordLen)), pcapRecord(n, n, frame))), 16 + maxRecordLen},
		{"caplen above origlen", file(pcapFile(65535, pcapRecord(n, n-1, nil), pcapRecord(n, n, frame))), 16 + len(frame)},
		{"record longer than a chunk", file(pcapFile(4<<20, pcapRecord(n, n, frame), pcapRecord(uint32(len(big)), uint32(len(big)), big), pcapRecord(n, n, frame))), 16 + len(big)},
		{"record longer than a chunk, cut", file(pcapFile(4<<20, pcapRecord(uint32(len(big)), uint32(len(big)), big[:len(big)/2]))), 16 + len(big)/2},
		{"error inside the second record", func() io.Reader {
			return io.MultiReader(bytes.NewReader(two[:len(two)-10]), iotestErr{errDisk})
		}, 16 + len(frame)},
		{"error at a record boundary", func() io.Reader { return io.MultiReader(bytes.NewReader(two), iotestErr{errDisk}) }, 16 + len(frame)},
		{"no progress", func() io.Reader { return io.MultiReader(bytes.NewReader(two[:len(two)-10]), emptyReader{}) }, 16 + len(frame)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := readWith(t, tt.r(), aheadSize{}, 10)
			if len(want) < 2 {
				t.Fatalf("without read-ahead: %q: the case proves nothing", want)
			}
			for _, sz := range aheadSizes {
				got, spill := readSpill(t, tt.r(), sz, 10)
				if !cmp.Equal(want, got) {
					t.Errorf("chunks of %d with %d of room (-without +with read-ahead):\n%s", sz.size, sz.room, cmp.Diff(want, got))
				}
				// A chunk's bytes join what is gathered before it goes back.
				if spill > 2*(tt.longest+sz.size) {
					t.Errorf("chunks of %d with %d of room: gathered records in %d bytes, want at most %d", sz.size, sz.room, spill, 2*(tt.longest+sz.size))
				}
			}
		})
	}
	t.Run("cut at every byte", func(t *testing.T) {
		full, err := os.ReadFile(filepath.Join(corpus, "multi.pcap"))
		if err != nil {
			t.Fatal(err)
		}
		for cut := fileHeaderLen; cut < len(full); cut++ {
			want := readWith(t, bytes.NewReader(full[:cut]), aheadSize{}, 1<<20)
			got := readWith(t, bytes.NewReader(full[:cut]), aheadSize{size: 1 + cut%700, room: cut % 300}, 1<<20)
			if !cmp.Equal(want, got) {
				t.Fatalf("cut at %d (-without +with read-ahead):\n%s", cut, cmp.Diff(want, got))
			}
		}
	})
}

// file returns a reader of b for each call.
func file(b []byte) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(b) }
}

// gateReader reads r, but a read after the first blocks until open is
// closed; started is closed when one blocks.
type gateReader struct {
	r       io.Reader
	reads   int
	open    chan struct{}
	started chan struct{}
	once    sync.Once
}

func (g *gateReader) Read(p []byte) (int, error) {
	if g.reads++; g.reads > 1 {
		g.once.Do(func() { close(g.started) })
		<-g.open
	}
	return g.r.Read(p)
}

// bigFile is a classic pcap file of count copies of a 1,454-byte frame.
func bigFile(count int) []byte {
	frame := ethFrame(strings.Repeat("some zookeeper bytes", 70))
	recs := make([][]byte, count)
	for i := range recs {
		recs[i] = pcapRecord(uint32(len(frame)), uint32(len(frame)), frame)
	}
	return pcapFile(65535, recs...)
}

// TestReadAheadClose: Close ends the goroutine wherever it is (waiting for
// a chunk given back, in a read), unblocks a ReadFrame waiting for a
// chunk, and waits for a read in progress; at the end of the file, or
// after a read error, the goroutine ends without Close.
func TestReadAheadClose(t *testing.T) {
	big := bigFile(3000) // 4.4 MB: more chunks than there are
	t.Run("chunks not taken", func(t *testing.T) {
		before := runtime.NumGoroutine()
		s, err := Open(bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		if !s.ReadAhead() {
			t.Fatal("ReadAhead did not start on a 4.4 MB pcap file")
		}
		if _, _, _, err := s.ReadFrame(); err != nil {
			t.Fatal(err)
		}
		// The goroutine fills the chunks there are and waits.
		time.Sleep(20 * time.Millisecond)
		closed := make(chan error)
		go func() { closed <- s.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return")
		}
		if _, _, _, err := s.ReadFrame(); !errors.Is(err, errClosed) {
			t.Errorf("ReadFrame after Close: %v, want %v", err, errClosed)
		}
		waitGoroutines(t, before)
	})
	t.Run("close while reading", func(t *testing.T) {
		before := runtime.NumGoroutine()
		g := &gateReader{r: bytes.NewReader(big), open: make(chan struct{}), started: make(chan struct{})}
		s, err := Open(g)
		if err != nil {
			t.Fatal(err)
		}
		s.total = int64(len(big)) // as a file's: the gate hides the size
		if !s.ReadAhead() {
			t.Fatal("ReadAhead did not start")
		}
		<-g.started // the goroutine waits in a read; ReadFrame will wait for it
		frames := make(chan error)
		go func() {
			var err error
			for err == nil {
				_, _, _, err = s.ReadFrame()
			}
			frames <- err
		}()
		closed := make(chan error)
		go func() { closed <- s.Close() }()
		select {
		case err := <-frames:
			if !errors.Is(err, errClosed) {
				t.Errorf("ReadFrame waiting for a chunk ended with %v, want %v", err, errClosed)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not unblock ReadFrame")
		}
		select {
		case <-closed:
			t.Fatal("Close returned while the goroutine was still in a read")
		case <-time.After(20 * time.Millisecond):
		}
		close(g.open)
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Close did not return after the read")
		}
		waitGoroutines(t, before)
	})
	for _, tt := range []struct {
		name string
		r    io.Reader
		want error
	}{
		{"end of file", bytes.NewReader(big), io.EOF},
		{"read error", io.MultiReader(bytes.NewReader(big[:len(big)/2]), iotestErr{errors.New("disk on fire")}), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			s, err := Open(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			s.pcap.readAhead(chunkSize, aheadRoom)
			for err == nil {
				_, _, _, err = s.ReadFrame()
			}
			if tt.want != nil && err != tt.want || tt.want == nil && (err == io.EOF || !strings.Contains(err.Error(), "disk on fire")) {
				t.Errorf("reading ended with %v", err)
			}
			waitGoroutines(t, before) // no Close
			s.Close()
		})
	}
}

// waitGoroutines waits until no more than n goroutines run.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for range 500 {
		if runtime.NumGoroutine() <= n {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("%d goroutines run, %d before: the read-ahead goroutine was left behind", runtime.NumGoroutine(), n)
}

// TestReadAheadStarts: only a classic pcap file of known size, larger
// than a chunk or gzipped, not read to its end and not closed, is read
// ahead.
func TestReadAheadStarts(t *testing.T) {
	big := bigFile(1000) // 1.5 MB
	var ng bytes.Buffer
	ngFile(t, &ng, 1000)
	tests := []struct {
		name  string
		r     io.Reader
		close bool
		want  bool
	}{
		{"large file", bytes.NewReader(big), false, true},
		{"gzipped file", bytes.NewReader(gzipped(t, bigFile(200))), false, true},
		{"gzipped file read to its end", bytes.NewReader(gzipped(t, bigFile(1))), false, false},
		{"small file", bytes.NewReader(bigFile(100)), false, false},
		{"size unknown", &chunkyReader{r: bytes.NewReader(big)}, false, false},
		{"pcapng", bytes.NewReader(ng.Bytes()), false, false},
		{"closed", bytes.NewReader(big), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if tt.close {
				s.Close()
			}
			if got := s.ReadAhead(); got != tt.want {
				t.Errorf("ReadAhead() = %v, want %v", got, tt.want)
			}
			if s.ReadAhead() {
				t.Error("a second ReadAhead started again")
			}
		})
	}
}

// ngFile writes a pcapng file of count Ethernet frames to w.
func ngFile(t *testing.T, w io.Writer, count int) {
	t.Helper()
	ng, err := pcapgo.NewNgWriterInterface(w, pcapgo.NgInterface{LinkType: layers.LinkTypeEthernet, SnapLength: 65535}, pcapgo.DefaultNgWriterOptions)
	if err != nil {
		t.Fatal(err)
	}
	frame := ethFrame("abc")
	for range count {
		if err := ng.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 0), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := ng.Flush(); err != nil {
		t.Fatal(err)
	}
}

// TestReadAheadAllocs: reading ahead allocates its chunks once; ReadFrame
// then allocates nothing, in either goroutine, across chunk ends.
func TestReadAheadAllocs(t *testing.T) {
	big := bigFile(20000) // 29 MB
	s, err := Open(bytes.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pcap.readAhead(64<<10, 4096) // a chunk end every 45 frames
	for range 1000 {
		if _, _, _, err := s.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(10000, func() {
		if _, _, _, err := s.ReadFrame(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ReadFrame reading ahead allocates %v times per frame, want 0", allocs)
	}
}

// FuzzReadAhead reads arbitrary files ahead, in chunks and with room of
// sizes the input picks, and checks that every read returns what it
// returns without read-ahead.
func FuzzReadAhead(f *testing.F) {
	for _, name := range []string{"auth.pcap", "multi.pcap"} {
		b, err := os.ReadFile(filepath.Join(corpus, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint16(4093), uint16(100))
	}
	f.Add(pcapFile(65535, pcapRecord(300000, 300000, nil), pcapRecord(20, 20, make([]byte, 20))), uint16(7), uint16(0))
	f.Fuzz(func(t *testing.T, file []byte, size, room uint16) {
		if len(file) < 4 || !isPcap(file[:4]) && !bytes.HasPrefix(file, magicGzip) {
			return // pcapng, or not a capture: not read ahead
		}
		want := readWith(t, bytes.NewReader(file), aheadSize{}, 10000)
		got := readWith(t, bytes.NewReader(file), aheadSize{size: 1 + int(size), room: int(room)}, 10000)
		if !cmp.Equal(want, got) {
			t.Fatalf("chunks of %d with %d of room (-without +with read-ahead):\n%s", 1+int(size), room, cmp.Diff(want, got))
		}
	})
}
