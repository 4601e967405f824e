package reasm

import (
	"fmt"
	"strings"
	"time"

	"github.com/zktap/zktap/sniff"
)

// recorder is a Consumer that logs what it is given. In raw mode it consumes
// everything and logs runs of data ("d:..."), merged across calls. In frame
// mode it reads frames of a type byte and a 1-byte length: 'F' frames are
// consumed whole and logged ("f:payload"); 'S' asks to skip that many bytes
// after the header, delivered or not ("s"); any other byte is junk, consumed
// one at a time and counted ("junk:n"), which is how it resynchronises.
type recorder struct {
	frames bool
	events []string
	times  []time.Time // capture time offered with each frame
}

func (r *recorder) Consume(b []byte, ts time.Time) int {
	if !r.frames {
		if n := len(r.events); n > 0 && strings.HasPrefix(r.events[n-1], "d:") {
			r.events[n-1] += string(b)
		} else {
			r.events = append(r.events, "d:"+string(b))
		}
		return len(b)
	}
	switch {
	case len(b) == 0:
		return 0
	case b[0] != 'F' && b[0] != 'S':
		var k int
		if n := len(r.events); n > 0 {
			if _, err := fmt.Sscanf(r.events[n-1], "junk:%d", &k); err == nil {
				r.events[n-1] = fmt.Sprintf("junk:%d", k+1)
				return 1
			}
		}
		r.events = append(r.events, "junk:1")
		return 1
	case len(b) < 2:
		return 0
	case b[0] == 'S':
		r.events = append(r.events, "s")
		return 2 + int(b[1])
	}
	n := int(b[1])
	if len(b) < 2+n {
		return 0
	}
	r.events = append(r.events, "f:"+string(b[2:2+n]))
	r.times = append(r.times, ts)
	return 2 + n
}

func (r *recorder) Gap() { r.events = append(r.events, "gap") }

// frame returns an 'F' frame carrying p.
func frame(p string) string { return "F" + string([]byte{byte(len(p))}) + p }

// skipFrame returns an 'S' header asking to skip n bytes.
func skipFrame(n int) string { return "S" + string([]byte{byte(n)}) }

// seg is a segment of a test script.
type seg struct {
	seq     uint32
	data    string
	flags   sniff.TCPFlags
	wireLen int // 0: len(data)
}

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// feed adds each segment to s, at t0 plus i milliseconds, and clobbers the
// payload afterwards so that any retained alias shows up as corrupt data.
func feed(s *Stream, c Consumer, segs []seg) {
	for i, sg := range segs {
		p := []byte(sg.data)
		s.Add(&sniff.Segment{
			Seq:     sg.seq,
			Flags:   sg.flags,
			Time:    t0.Add(time.Duration(i) * time.Millisecond),
			Payload: p,
			WireLen: max(sg.wireLen, len(p)),
		}, c)
		for j := range p {
			p[j] = '#'
		}
	}
}
