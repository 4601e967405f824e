package pcapsrc

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/zktap/zktap/sniff"
)

// ErrUnsupportedLink reports a link type sniff.ParseFrame cannot parse. Open
// returns it for a pcap file; for pcapng, whose interfaces are declared as
// the file goes, ReadFrame returns it for each frame of such an interface, and
// reading may continue with the next frame.
var ErrUnsupportedLink = errors.New("pcapsrc: unsupported link type")

var (
	errFormat = errors.New("pcapsrc: not a pcap or pcapng file")
	errClosed = errors.New("pcapsrc: source closed")
)

// Magic numbers at the start of the supported formats.
var (
	magicNg   = []byte{0x0a, 0x0d, 0x0d, 0x0a}
	magicGzip = []byte{0x1f, 0x8b}
	magicPcap = [][]byte{
		{0xa1, 0xb2, 0xc3, 0xd4}, {0xd4, 0xc3, 0xb2, 0xa1}, // microseconds
		{0xa1, 0xb2, 0x3c, 0x4d}, {0x4d, 0x3c, 0xb2, 0xa1}, // nanoseconds
	}
)

// Source reads frames from a capture file. It implements sniff.Source.
// ReadFrame must be called from one goroutine at a time; Stats, Progress and
// Close are safe for concurrent use.
type Source struct {
	pcap   *pcapReader      // classic pcap; nil for pcapng
	ng     *pcapgo.NgReader // pcapng; nil for classic pcap
	link   sniff.LinkType   // classic pcap: the file's one link type
	file   *os.File         // closed by Close when OpenFile opened it
	count  countingReader
	total  int64
	gzip   bool // a gzipped classic pcap file
	closed atomic.Bool
	frames atomic.Uint64
	bytes  atomic.Uint64
}

// countingReader counts bytes read from the underlying file for Progress.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// OpenFile opens the capture file at path; "-" reads standard input.
// Close closes the file.
func OpenFile(path string) (*Source, error) {
	if path == "-" {
		return Open(os.Stdin)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := Open(f)
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("pcapsrc: %s: %w", path, err)
	}
	s.file = f
	return s, nil
}

// Open reads a capture from r, detecting pcap or pcapng by its magic number.
// It fails if the header is damaged or, for pcap, if the link type is one
// sniff.ParseFrame does not handle. Open does not take ownership of r: Close does not close it.
func Open(r io.Reader) (*Source, error) {
	s := &Source{total: size(r)}
	s.count.r = r
	br := bufio.NewReaderSize(&s.count, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("pcapsrc: reading magic: %w", err)
	}
	switch {
	case bytes.Equal(magic, magicNg):
		// Frames of every interface, each with its own link type: by
		// default NgReader drops those whose link type differs from the
		// first interface's.
		ng, err := pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			return nil, fmt.Errorf("pcapsrc: pcapng header: %w", err)
		}
		s.ng = ng
	case bytes.HasPrefix(magic, magicGzip) || isPcap(magic):
		var r io.Reader = br
		size := s.total
		if bytes.HasPrefix(magic, magicGzip) {
			gz, err := gzip.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("pcapsrc: pcap header: %w", err)
			}
			r, size, s.gzip = gz, 0, true
		}
		pr, err := newPcapReader(r, size)
		if err != nil {
			return nil, fmt.Errorf("pcapsrc: pcap header: %w", err)
		}
		if s.link, err = linkType(layers.LinkType(pr.link)); err != nil {
			return nil, err
		}
		s.pcap = pr
	default:
		return nil, errFormat
	}
	return s, nil
}

func isPcap(magic []byte) bool {
	for _, m := range magicPcap {
		if bytes.Equal(magic, m) {
			return true
		}
	}
	return false
}

// size returns the total size of r when it is known, for Progress.
func size(r io.Reader) int64 {
	switch r := r.(type) {
	case *os.File:
		if fi, err := r.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	case interface{ Size() int64 }: // bytes.Reader, strings.Reader
		return r.Size()
	}
	return 0
}

// linkType maps a capture file's link type to the sniff.LinkType that
// ParseFrame parses, naming it in the error when there is none.
func linkType(lt layers.LinkType) (sniff.LinkType, error) {
	switch lt {
	case layers.LinkTypeNull:
		return sniff.LinkNull, nil
	case layers.LinkTypeEthernet:
		return sniff.LinkEthernet, nil
	case layers.LinkTypeRaw, 12, 14, layers.LinkTypeIPv4, layers.LinkTypeIPv6:
		return sniff.LinkRaw, nil
	case layers.LinkTypeLoop:
		return sniff.LinkLoop, nil
	case layers.LinkTypeLinuxSLL:
		return sniff.LinkSLL, nil
	case layers.LinkTypeLinuxSLL2:
		return sniff.LinkSLL2, nil
	}
	return 0, fmt.Errorf("%w %d (%s)", ErrUnsupportedLink, uint16(lt), lt)
}

// ReadFrame implements sniff.Source. It returns io.EOF at the end of the file
// and io.ErrUnexpectedEOF (wrapped) for a file cut inside a record. The frame
// is valid until the next call.
func (s *Source) ReadFrame() ([]byte, time.Time, sniff.LinkType, error) {
	if s.closed.Load() {
		return nil, time.Time{}, 0, errClosed
	}
	if s.pcap != nil {
		data, ts, err := s.pcap.next()
		if err != nil {
			if s.closed.Load() {
				return nil, time.Time{}, 0, errClosed
			}
			if err == io.EOF {
				return nil, time.Time{}, 0, io.EOF
			}
			return nil, time.Time{}, 0, fmt.Errorf("pcapsrc: frame %d: %w", s.frames.Load()+1, err)
		}
		s.frames.Add(1)
		s.bytes.Add(uint64(len(data)))
		return data, ts, s.link, nil
	}
	data, ci, err := s.ng.ZeroCopyReadPacketData()
	if err != nil {
		if s.closed.Load() {
			return nil, time.Time{}, 0, errClosed
		}
		if err == io.EOF && ci.CaptureLength > 0 {
			// pcapgo read a record header, then io.ReadFull found no
			// bytes of the frame at all: the file was cut, not ended.
			err = io.ErrUnexpectedEOF
		}
		if err == io.EOF {
			return nil, time.Time{}, 0, io.EOF
		}
		return nil, time.Time{}, 0, fmt.Errorf("pcapsrc: frame %d: %w", s.frames.Load()+1, err)
	}
	ifc, err := s.ng.Interface(ci.InterfaceIndex)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("pcapsrc: frame %d: %w", s.frames.Load()+1, err)
	}
	link, err := linkType(ifc.LinkType)
	if err != nil {
		return nil, time.Time{}, 0, fmt.Errorf("pcapsrc: frame %d: interface %d: %w", s.frames.Load()+1, ci.InterfaceIndex, err)
	}
	s.frames.Add(1)
	s.bytes.Add(uint64(len(data)))
	return data, ci.Timestamp, link, nil
}

// Stats implements sniff.Source. Files know no kernel drops.
func (s *Source) Stats() sniff.Stats {
	return sniff.Stats{Frames: s.frames.Load(), Bytes: s.bytes.Load()}
}

// Progress returns the bytes read from the file so far and its total size,
// or total 0 when the size is unknown (a pipe, standard input). read runs
// ahead of the frames returned by up to one buffer, or the chunks read
// ahead (ReadAhead).
func (s *Source) Progress() (read, total int64) {
	return s.count.n.Load(), s.total
}

// ReadAhead makes a classic pcap file read ahead: a goroutine reads the
// next chunks of 1 MiB, up to 3, while ReadFrame parses the one before, so
// that the read system calls run on another core, and a gzipped file's
// decompression with them. The frames, errors and their order are those
// ReadFrame returns without it. It reports whether it started: not for
// pcapng, nor for a file of unknown size (a pipe, whose bytes the
// goroutine would hold back until a chunk is full), one that fits in a
// chunk, one Open read to its end already, or a closed Source. Close ends
// the goroutine. ReadAhead must not be called while ReadFrame or Close
// runs.
func (s *Source) ReadAhead() bool {
	if s.pcap == nil || s.pcap.ahead != nil || s.total == 0 || s.total <= chunkSize && !s.gzip || s.closed.Load() {
		return false
	}
	s.pcap.readAhead(chunkSize, aheadRoom)
	return s.pcap.ahead != nil
}

// Close implements sniff.Source. It closes the file if OpenFile opened it,
// and ends reading ahead, waiting for a read in progress.
func (s *Source) Close() error {
	if s.closed.Swap(true) {
		return errClosed
	}
	var err error
	if s.file != nil {
		err = s.file.Close()
	}
	if s.pcap != nil {
		s.pcap.stopAhead()
	}
	return err
}

var _ sniff.Source = (*Source)(nil)
