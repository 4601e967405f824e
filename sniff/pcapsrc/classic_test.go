package pcapsrc

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// record is what one read returned: a frame, or an error after which
// reading went on.
type record struct {
	Data []byte
	Time time.Time
	Err  bool
}

// readPcapgo reads a classic pcap file with pcapgo, as Source did before it
// read classic pcap itself, up to io.EOF or limit reads.
func readPcapgo(file []byte, limit int) ([]record, error) {
	r, err := pcapgo.NewReader(bytes.NewReader(file))
	if err != nil {
		return nil, err
	}
	var recs []record
	for range limit {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF && ci.CaptureLength == 0 {
			break
		}
		if err != nil {
			// io.EOF with a record header read is a cut record.
			recs = append(recs, record{Err: true})
			continue
		}
		recs = append(recs, record{Data: data, Time: ci.Timestamp})
	}
	return recs, nil
}

// readSource reads file from r with Source, copying each frame, up to
// io.EOF or limit reads.
func readSource(r io.Reader, limit int) ([]record, error) {
	s, err := Open(r)
	if err != nil {
		return nil, err
	}
	var recs []record
	for range limit {
		data, ts, _, err := s.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			recs = append(recs, record{Err: true})
			continue
		}
		recs = append(recs, record{Data: bytes.Clone(data), Time: ts})
	}
	return recs, nil
}

// diffRecords compares two reads of a file and describes the first frame
// that differs, with its neighbours, instead of a diff of megabytes.
func diffRecords(want, got []record) string {
	for i := range min(len(want), len(got)) {
		w, g := want[i], got[i]
		// cmp.Diff of every frame would take minutes.
		if bytes.Equal(w.Data, g.Data) && w.Time.Equal(g.Time) && w.Err == g.Err {
			continue
		}
		return fmt.Sprintf("read %d (-want +got):\n%s", i, cmp.Diff(w, g, cmpopts.EquateEmpty()))
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d reads, want %d", len(got), len(want))
	}
	return ""
}

// chunkyReader returns at most the next of a cycle of odd sizes per Read,
// so that records end and start everywhere relative to what a read returns.
type chunkyReader struct {
	r io.Reader
	i int
}

func (c *chunkyReader) Read(p []byte) (int, error) {
	sizes := [...]int{1, 7, 16, 15, 17, 100, 1500, 4093, 65536, 300000}
	c.i++
	return c.r.Read(p[:min(len(p), sizes[c.i%len(sizes)])])
}

// reencode rewrites a little-endian pcap file in the byte order asked
// for, record by record, and a microsecond one with nanosecond timestamps
// when nanos is set.
func reencode(t *testing.T, file []byte, order binary.AppendByteOrder, nanos bool) []byte {
	t.Helper()
	magic := binary.LittleEndian.Uint32(file)
	if magic != 0xa1b2c3d4 && magic != 0xa1b23c4d {
		t.Fatalf("not a little-endian pcap file: magic %x", magic)
	}
	scale := uint32(1)
	if nanos && magic == 0xa1b2c3d4 {
		magic, scale = 0xa1b23c4d, 1000
	}
	out := order.AppendUint32(nil, magic)
	out = order.AppendUint16(out, binary.LittleEndian.Uint16(file[4:])) // version major
	out = order.AppendUint16(out, binary.LittleEndian.Uint16(file[6:])) // version minor
	for off := 8; off < fileHeaderLen; off += 4 {                       // zone, sigfigs, snap length, link type
		out = order.AppendUint32(out, binary.LittleEndian.Uint32(file[off:]))
	}
	for off := fileHeaderLen; off < len(file); {
		h := file[off : off+recordHeaderLen]
		out = order.AppendUint32(out, binary.LittleEndian.Uint32(h))
		out = order.AppendUint32(out, binary.LittleEndian.Uint32(h[4:])*scale)
		out = order.AppendUint32(out, binary.LittleEndian.Uint32(h[8:]))
		out = order.AppendUint32(out, binary.LittleEndian.Uint32(h[12:]))
		n := int(binary.LittleEndian.Uint32(h[8:]))
		out = append(out, file[off+recordHeaderLen:off+recordHeaderLen+n]...)
		off += recordHeaderLen + n
	}
	return out
}

func gzipped(t *testing.T, file []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	if _, err := w.Write(file); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testdataCaptures returns the path of every classic pcap under the
// repository's testdata/: the zktraffic captures and zktap's own.
func testdataCaptures(t *testing.T) []string {
	t.Helper()
	var paths []string
	err := filepath.WalkDir("../../testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".pcap") {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 27 {
		t.Fatalf("found %d captures under testdata, want at least 27", len(paths))
	}
	return paths
}

// TestMatchesPcapgo reads every capture under testdata/, in each byte order
// and timestamp resolution, plain and gzipped, in large and in odd-sized
// reads, and compares every frame and timestamp with what pcapgo reads.
func TestMatchesPcapgo(t *testing.T) {
	paths := testdataCaptures(t)
	for _, path := range paths {
		name, _ := filepath.Rel("../../testdata", path)
		t.Run(name, func(t *testing.T) {
			file, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			plain, err := readPcapgo(file, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if len(plain) == 0 {
				t.Fatal("pcapgo read no frames")
			}
			variants := []struct {
				name string
				file []byte
			}{
				{"as is", file},
				{"big-endian", reencode(t, file, binary.BigEndian, false)},
				{"ns", reencode(t, file, binary.LittleEndian, true)},
				{"big-endian ns", reencode(t, file, binary.BigEndian, true)},
				{"gzip", gzipped(t, file)},
			}
			for _, v := range variants {
				want, err := readPcapgo(v.file, 1<<30)
				if err != nil {
					t.Fatalf("%s: pcapgo: %v", v.name, err)
				}
				// The variants hold the same frames and times.
				if d := diffRecords(plain, want); d != "" {
					t.Fatalf("%s: pcapgo reads the variant differently: %s", v.name, d)
				}
				for _, rd := range []struct {
					name string
					r    io.Reader
				}{
					{"whole", bytes.NewReader(v.file)},
					{"chunky", &chunkyReader{r: bytes.NewReader(v.file)}},
				} {
					got, err := readSource(rd.r, 1<<30)
					if err != nil {
						t.Fatalf("%s %s: %v", v.name, rd.name, err)
					}
					if d := diffRecords(want, got); d != "" {
						t.Errorf("%s %s: %s", v.name, rd.name, d)
					}
				}
			}
		})
	}
}

// pcapFile is a classic little-endian microsecond pcap file of the given
// snap length and records, each given as its header's captured length,
// original length and the bytes that follow the header.
func pcapFile(snaplen uint32, recs ...[]byte) []byte {
	// magic, version 2.4, zone, sigfigs, snap length, link type Ethernet
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b2c3d4)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = binary.LittleEndian.AppendUint64(b, 0)
	b = binary.LittleEndian.AppendUint32(b, snaplen)
	b = binary.LittleEndian.AppendUint32(b, 1)
	for _, r := range recs {
		b = append(b, r...)
	}
	return b
}

// pcapRecord is a record header (1 s and 2 µs, caplen, origlen) and data.
func pcapRecord(caplen, origlen uint32, data []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 1)
	b = binary.LittleEndian.AppendUint32(b, 2)
	b = binary.LittleEndian.AppendUint32(b, caplen)
	b = binary.LittleEndian.AppendUint32(b, origlen)
	return append(b, data...)
}

// TestRecordLengths checks the captured-length checks and what a hostile
// length costs: an error, and no buffer larger than what the file holds.
func TestRecordLengths(t *testing.T) {
	frame := ethFrame("abc")
	n := uint32(len(frame))
	big := bytes.Repeat([]byte{0x5a}, 3<<20) // longer than a chunk
	tests := []struct {
		name    string
		file    []byte
		want    []string // per read: the frame's length or the error
		maxBuf  int      // the longest the buffer may have grown to
		wantBuf int      // and must have, when not 0
	}{
		{
			name:   "caplen 2^31 above snap length",
			file:   pcapFile(65535, pcapRecord(1<<31, 1<<31, nil)),
			want:   []string{"pcapsrc: frame 1: capture length exceeds snap length: 2147483648 > 65535"},
			maxBuf: chunkSize,
		},
		{
			// The header of the bad record is consumed, as by pcapgo,
			// and reading goes on with the next record.
			name:   "caplen above snap length, then a frame",
			file:   pcapFile(65535, pcapRecord(300000, 300000, nil), pcapRecord(n, n, frame)),
			want:   []string{"pcapsrc: frame 1: capture length exceeds snap length: 300000 > 65535", lenOf(frame)},
			maxBuf: chunkSize,
		},
		{
			name: "caplen 2^31 under a hostile snap length",
			file: pcapFile(0xffffffff, pcapRecord(1<<31, 1<<31, frame)),
			// The record's bytes are skipped: here the file ends first.
			want:   []string{"pcapsrc: frame 1: capture length exceeds the largest record read: 2147483648 > 16777216"},
			maxBuf: chunkSize,
		},
		{
			// 64 MiB of zeros gzip to 64 KiB: without the record limit
			// they would all be read into the buffer.
			name: "gzipped 64 MiB record under a hostile snap length",
			file: gzipped(t, pcapFile(0xffffffff, pcapRecord(64<<20, 64<<20, make([]byte, 64<<20)), pcapRecord(n, n, frame))),
			// The record's bytes are skipped, not read as records, and
			// the next record is read.
			want:   []string{"pcapsrc: frame 1: capture length exceeds the largest record read: 67108864 > 16777216", lenOf(frame)},
			maxBuf: chunkSize,
		},
		{
			name:   "a record at the limit",
			file:   pcapFile(0xffffffff, pcapRecord(maxRecordLen, maxRecordLen, make([]byte, maxRecordLen)), pcapRecord(n, n, frame)),
			want:   []string{lenOf(make([]byte, maxRecordLen)), lenOf(frame)},
			maxBuf: 2 * (maxRecordLen + recordHeaderLen),
		},
		{
			name:   "caplen above origlen",
			file:   pcapFile(65535, pcapRecord(n, n-1, nil), pcapRecord(n, n, frame)),
			want:   []string{fmt.Sprintf("pcapsrc: frame 1: capture length exceeds original packet length: %d > %d", n, n-1), lenOf(frame)},
			maxBuf: chunkSize,
		},
		{
			name:   "caplen 2^18 under snap length 0",
			file:   pcapFile(0, pcapRecord(eagerMax, eagerMax, make([]byte, eagerMax))),
			want:   []string{"len 262144"},
			maxBuf: chunkSize,
		},
		{
			name:   "caplen 2^18+1 under snap length 0",
			file:   pcapFile(0, pcapRecord(eagerMax+1, eagerMax+1, nil)),
			want:   []string{"pcapsrc: frame 1: capture length exceeds snap length: 262145 > 0"},
			maxBuf: chunkSize,
		},
		{
			name:    "record longer than a chunk",
			file:    pcapFile(4<<20, pcapRecord(n, n, frame), pcapRecord(uint32(len(big)), uint32(len(big)), big), pcapRecord(n, n, frame)),
			want:    []string{lenOf(frame), lenOf(big), lenOf(frame)},
			maxBuf:  2 * len(big),
			wantBuf: recordHeaderLen + len(big),
		},
		{
			name:   "record longer than a chunk, cut",
			file:   pcapFile(4<<20, pcapRecord(uint32(len(big)), uint32(len(big)), big[:len(big)/2])),
			want:   []string{"pcapsrc: frame 1: unexpected EOF"},
			maxBuf: 2 << 20,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(bytes.NewReader(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for range 10 {
				data, _, _, err := s.ReadFrame()
				if err == io.EOF {
					break
				}
				if err != nil {
					got = append(got, err.Error())
					continue
				}
				got = append(got, lenOf(data))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
			if l := len(s.pcap.buf); l > tt.maxBuf || tt.wantBuf != 0 && l != tt.wantBuf {
				t.Errorf("buffer grew to %d bytes, want at most %d (exactly %d if set)", l, tt.maxBuf, tt.wantBuf)
			}
		})
	}
}

// TestReadErrors checks that an error of the underlying reader is returned
// once, wrapped, and that reading ends with io.EOF after it; and that a
// reader that returns nothing forever fails instead of hanging.
func TestReadErrors(t *testing.T) {
	errDisk := errors.New("disk on fire")
	frame := ethFrame("abc")
	n := uint32(len(frame))
	file := pcapFile(65535, pcapRecord(n, n, frame), pcapRecord(n, n, frame))
	tests := []struct {
		name string
		r    io.Reader
		want []string
		is   error
	}{
		{
			name: "error inside the second record",
			r:    io.MultiReader(bytes.NewReader(file[:len(file)-10]), iotestErr{errDisk}),
			want: []string{lenOf(frame), "pcapsrc: frame 2: disk on fire", "EOF"},
			is:   errDisk,
		},
		{
			name: "error at a record boundary",
			r:    io.MultiReader(bytes.NewReader(file), iotestErr{errDisk}),
			want: []string{lenOf(frame), lenOf(frame), "pcapsrc: frame 3: disk on fire", "EOF"},
			is:   errDisk,
		},
		{
			name: "no progress",
			r:    io.MultiReader(bytes.NewReader(file[:len(file)-10]), emptyReader{}),
			want: []string{lenOf(frame), "pcapsrc: frame 2: multiple Read calls return no data or error", "EOF"},
			is:   io.ErrNoProgress,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var sawIs bool
			for range 10 {
				data, _, _, err := s.ReadFrame()
				if err == io.EOF {
					got = append(got, "EOF")
					break
				}
				if err != nil {
					sawIs = sawIs || errors.Is(err, tt.is)
					got = append(got, err.Error())
					continue
				}
				got = append(got, lenOf(data))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("reads (-want +got):\n%s", diff)
			}
			if !sawIs {
				t.Errorf("no error wraps %v", tt.is)
			}
		})
	}
}

// iotestErr fails every Read with err.
type iotestErr struct{ err error }

func (e iotestErr) Read([]byte) (int, error) { return 0, e.err }

// emptyReader returns neither bytes nor an error, forever.
type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func lenOf(b []byte) string { return fmt.Sprintf("len %d", len(b)) }

// TestPcapFile checks that pcapFile and pcapRecord write what pcapgo's
// writer writes, so that the hand-built files above are real pcap files.
func TestPcapFile(t *testing.T) {
	var b bytes.Buffer
	w := pcapgo.NewWriter(&b)
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	frame := ethFrame("abc")
	if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1, 2000), CaptureLength: len(frame), Length: len(frame)}, frame); err != nil {
		t.Fatal(err)
	}
	want := pcapFile(65535, pcapRecord(uint32(len(frame)), uint32(len(frame)), frame))
	if diff := cmp.Diff(b.Bytes(), want); diff != "" {
		t.Errorf("pcapFile (-pcapgo +pcapFile):\n%s", diff)
	}
}
