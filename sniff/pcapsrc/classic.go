package pcapsrc

import (
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// chunkSize is how much of a classic pcap file one read asks for. Records
// are returned as slices of the chunk, so a frame costs no copy of its own;
// a larger chunk would only move the tail that straddles two chunks less
// often, and 1 MiB keeps that move below 0.1 % of the bytes.
const chunkSize = 1 << 20

// recordHeaderLen is the size of a classic pcap record header: seconds,
// fraction, captured length, original length, 32 bits each.
const recordHeaderLen = 16

// fileHeaderLen is the size of a classic pcap file header.
const fileHeaderLen = 24

// eagerMax is libpcap's MAXIMUM_SNAPLEN. Records up to it are taken
// whatever snap length the file declares, as tcpdump and Wireshark do with
// files whose writers did not truncate to their own snap length (dpkt).
const eagerMax = 262144

// maxRecordLen bounds a record's captured length whatever snap length the
// file declares: no link builds packets near it (Linux's BIG TCP
// aggregates at most 512 KiB), and without it a gzipped file declaring a
// snap length of 4 GiB could inflate one record into gigabytes of memory.
const maxRecordLen = 16 << 20

// maxEmptyReads is how many reads in a row may return nothing and no error
// before reading fails with io.ErrNoProgress, as bufio's limit.
const maxEmptyReads = 100

// pcapReader reads classic pcap records out of large chunks of the file:
// each record that lies wholly in the chunk is returned as a slice of it,
// and only a record cut by the chunk's end is moved to the front when the
// next chunk is read. It replaces pcapgo.Reader, which copies every record
// out of a bufio.Reader (13 % of the CPU of reading a capture in memory),
// and keeps its checks and errors: a captured length above the snap length
// (or eagerMax) or above the original length is an error for that record.
type pcapReader struct {
	r        io.Reader
	buf      []byte // buf[off:end] is read from r and not yet returned
	off, end int
	err      error // what ended reading r; r is not read after it
	big      bool  // the headers are big-endian
	factor   uint32
	snaplen  uint32
	maxLen   uint32 // the longest captured length taken
	link     uint32 // the file header's link type

	// Reading ahead (ahead.go): buf is then the chunk cur, or spill,
	// which gathers a record longer than aheadRoom, or, until the first
	// chunk, the buffer newPcapReader made.
	ahead *readAhead
	cur   *aheadChunk
	spill []byte
}

// newPcapReader reads the file header from r and checks it. size is the
// size of the file when it is known and not compressed, 0 otherwise: a
// smaller file gets a buffer of its size, not a chunk.
func newPcapReader(r io.Reader, size int64) (*pcapReader, error) {
	n := chunkSize
	if size > 0 && size < chunkSize {
		n = max(int(size), fileHeaderLen)
	}
	p := &pcapReader{r: r, buf: make([]byte, n)}
	if err := p.fill(fileHeaderLen); err != nil {
		if err == io.EOF {
			// The magic number was there: the file is cut, not empty.
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	h := p.buf[:fileHeaderLen]
	switch binary.LittleEndian.Uint32(h) {
	case 0xa1b2c3d4:
		p.factor = 1000
	case 0xd4c3b2a1:
		p.big, p.factor = true, 1000
	case 0xa1b23c4d:
		p.factor = 1
	case 0x4d3cb2a1:
		p.big, p.factor = true, 1
	default:
		return nil, fmt.Errorf("unknown magic %x", binary.LittleEndian.Uint32(h))
	}
	if v := p.u16(h[4:]); v != 2 {
		return nil, fmt.Errorf("unknown major version %d", v)
	}
	if v := p.u16(h[6:]); v != 4 {
		return nil, fmt.Errorf("unknown minor version %d", v)
	}
	// The time zone and sigfigs fields (8:16) are unused, as by libpcap.
	p.snaplen = p.u32(h[16:])
	p.maxLen = min(max(p.snaplen, eagerMax), maxRecordLen)
	p.link = p.u32(h[20:])
	p.off = fileHeaderLen
	return p, nil
}

func (p *pcapReader) u16(b []byte) uint16 {
	if p.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (p *pcapReader) u32(b []byte) uint32 {
	if p.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

// next returns the next record's captured bytes and timestamp. The bytes
// alias the chunk buffer and are valid until the next call. At the end of
// the file it returns io.EOF, and io.ErrUnexpectedEOF for a file cut inside
// a record.
func (p *pcapReader) next() ([]byte, time.Time, error) {
	if p.end-p.off < recordHeaderLen {
		if err := p.fill(recordHeaderLen); err != nil {
			return nil, time.Time{}, p.cut(err)
		}
	}
	h := p.buf[p.off : p.off+recordHeaderLen : p.off+recordHeaderLen]
	caplen, origlen := p.u32(h[8:]), p.u32(h[12:])
	// tooLong: a record the file's snap length allows but zktap will not
	// hold (maxRecordLen).
	tooLong := caplen > p.maxLen && p.maxLen == maxRecordLen && caplen <= p.snaplen
	if caplen > p.maxLen && !tooLong {
		// The header is consumed and the next read takes what follows it
		// as the next header, as pcapgo does.
		p.off += recordHeaderLen
		return nil, time.Time{}, fmt.Errorf("capture length exceeds snap length: %d > %d", caplen, p.snaplen)
	}
	if caplen > origlen {
		p.off += recordHeaderLen
		return nil, time.Time{}, fmt.Errorf("capture length exceeds original packet length: %d > %d", caplen, origlen)
	}
	if tooLong {
		// Its bytes are skipped, not held, which keeps the stream in
		// step; where the file ends first, reading ends, as pcapgo's
		// would after reading them all.
		p.off += recordHeaderLen
		p.discard(int(caplen))
		return nil, time.Time{}, fmt.Errorf("capture length exceeds the largest record read: %d > %d", caplen, maxRecordLen)
	}
	// The fraction is scaled in 32 bits, wrapping as pcapgo's does, so
	// that a damaged fraction gives the same time as before.
	ts := time.Unix(int64(p.u32(h[0:])), int64(p.u32(h[4:])*p.factor)).UTC()
	n := recordHeaderLen + int(caplen) // caplen <= maxLen < 2^32: no overflow in 64 bits
	if p.end-p.off < n {
		if err := p.fill(n); err != nil {
			return nil, time.Time{}, p.cut(err)
		}
	}
	data := p.buf[p.off+recordHeaderLen : p.off+n : p.off+n]
	p.off += n
	return data, ts, nil
}

// cut turns the error that ended a fill into next's: io.EOF only when no
// byte of a record was left, io.ErrUnexpectedEOF for part of one. The
// bytes of the part are dropped, so the next call returns io.EOF.
func (p *pcapReader) cut(err error) error {
	partial := p.end > p.off
	p.off, p.end = 0, 0
	if err == io.EOF && partial {
		return io.ErrUnexpectedEOF
	}
	return err
}

// discard drops the next n bytes of the file, reading them through the
// buffer without growing it, or as many as there are.
func (p *pcapReader) discard(n int) {
	empty := 0
	for n > 0 {
		if p.off == p.end {
			if p.err != nil {
				return
			}
			if p.ahead != nil {
				p.takeChunk(0)
				continue
			}
			p.off, p.end = 0, p.read(p.buf, &empty)
			continue
		}
		k := min(n, p.end-p.off)
		p.off += k
		n -= k
	}
}

// fill reads until buf[off:end] holds at least n bytes, first moving those
// bytes to the front of buf. It grows buf only when buf is full of bytes
// read and still short of n, at most doubling it, so a record's declared
// length cannot make it allocate more than twice what the file holds. It
// returns the error that ended reading r when it cannot read n bytes; a
// reading error other than io.EOF is returned once, and io.EOF after it, so
// a read loop that goes on after errors ends.
func (p *pcapReader) fill(n int) error {
	if p.ahead != nil {
		for p.end-p.off < n {
			if p.err != nil {
				err := p.err
				p.err = io.EOF
				return err
			}
			p.takeChunk(n)
		}
		return nil
	}
	if p.off > 0 {
		p.end = copy(p.buf, p.buf[p.off:p.end])
		p.off = 0
	}
	empty := 0
	for p.end < n {
		if p.err != nil {
			err := p.err
			p.err = io.EOF
			return err
		}
		if p.end == len(p.buf) {
			// Only a record longer than a chunk gets here; the buffer
			// keeps its size after it, bounded by maxLen.
			b := make([]byte, len(p.buf)+min(len(p.buf), n-p.end))
			copy(b, p.buf[:p.end])
			p.buf = b
		}
		p.end += p.read(p.buf[p.end:], &empty)
	}
	return nil
}

// read reads once from r into b. It keeps what ends reading in p.err, and
// counts reads in a row that return nothing in *empty: maxEmptyReads of
// them end reading with io.ErrNoProgress.
func (p *pcapReader) read(b []byte, empty *int) int {
	m, err := p.r.Read(b)
	switch {
	case err != nil:
		p.err = err
	case m == 0:
		if *empty++; *empty == maxEmptyReads {
			p.err = io.ErrNoProgress
		}
	default:
		*empty = 0
	}
	return m
}

// readAhead starts reading ahead in chunks of size bytes with room bytes
// of room before each (ahead.go). It must not be called while next runs.
func (p *pcapReader) readAhead(size, room int) {
	if p.ahead == nil && p.err == nil {
		p.ahead = newReadAhead(p.r, size, room)
	}
}

// takeChunk waits for the next chunk the goroutine read and appends its
// bytes to buf[off:end], which hold the start of a record at most, for
// fill to find want bytes at off. When want fits, those bytes go to the
// room before the chunk's, and the chunk they were in goes back to the
// goroutine: in place, as fill moves them to the front of its buffer. A
// record that does not fit (longer than the room, or than what is left
// of the chunk) is gathered in spill, chunk after chunk, which grows at
// most to twice what it holds, as fill's buffer does. The error that
// ended reading goes to p.err.
func (p *pcapReader) takeChunk(want int) {
	c, err := p.ahead.take()
	if err != nil {
		p.err = err
		return
	}
	if c.err != nil {
		p.err = c.err
	}
	if c.n == 0 { // only the end
		p.ahead.give(c)
		return
	}
	room := p.ahead.room
	left := p.buf[p.off:p.end]
	data := c.b[room : room+c.n]
	if len(left) <= room && len(left)+len(data) >= want {
		start := room - len(left)
		copy(c.b[start:], left)
		p.ahead.give(p.cur)
		p.cur, p.buf, p.off, p.end = c, c.b, start, room+c.n
		return
	}
	if p.cur != nil || p.end+len(data) > len(p.buf) {
		// Into spill, left at its front, with room for data.
		need := len(left) + len(data)
		if cap(p.spill) < need {
			b := make([]byte, max(need, min(2*cap(p.spill), 2*need)))
			copy(b, left)
			p.spill = b
		} else {
			copy(p.spill[:cap(p.spill)], left) // left may be in spill: copy moves it
		}
		p.ahead.give(p.cur)
		p.cur, p.buf, p.off, p.end = nil, p.spill[:cap(p.spill)], 0, len(left)
	}
	p.end += copy(p.buf[p.end:], data)
	p.ahead.give(c)
}

// stopAhead ends reading ahead, waiting for the goroutine to return.
func (p *pcapReader) stopAhead() {
	if p.ahead != nil {
		p.ahead.stop()
	}
}
