package jute

import (
	"encoding/binary"
	"errors"
)

var (
	errShort     = errors.New("jute: short buffer")
	errBadLength = errors.New("jute: bad length")
	errTooLarge  = errors.New("jute: length over maximum")
	errBadBool   = errors.New("jute: boolean not 0 or 1")
)

// StatSize is the encoded size of a Stat record (11 fixed-size fields).
const StatSize = 68

// Reader reads big-endian jute primitives from a byte slice with a sticky
// error. The zero value reads nothing and has no length limit beyond the
// slice itself. A Reader is not safe for concurrent use.
type Reader struct {
	b      []byte
	off    int
	max    int
	strict bool
	err    error
}

// NewReader returns a Reader over b whose buffers, strings and vectors may
// declare at most max bytes or elements; max <= 0 means len(b).
func NewReader(b []byte, max int) Reader {
	var r Reader
	r.Reset(b, max)
	return r
}

// Reset makes r read b from the start with the given maximum, clearing any
// error and strict mode.
func (r *Reader) Reset(b []byte, max int) {
	if max <= 0 {
		max = len(b)
	}
	*r = Reader{b: b, max: max}
}

// SetStrict makes Bool fail on bytes other than 0 and 1. Java readers accept
// any non-zero byte, so decoders are lenient by default; strict mode is for
// deciding whether unknown bytes look like a genuine record.
func (r *Reader) SetStrict(strict bool) { r.strict = strict }

// Err returns the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Remaining returns the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.b) - r.off }

// Offset returns the number of bytes read so far.
func (r *Reader) Offset() int { return r.off }

func (r *Reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.off = len(r.b)
}

// take returns the next n bytes, or nil after recording errShort.
func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errShort)
		return nil
	}
	s := r.b[r.off : r.off+n : r.off+n]
	r.off += n
	return s
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	s := r.take(1)
	if s == nil {
		return 0
	}
	return s[0]
}

// Bool reads a jute boolean: any non-zero byte is true, unless strict mode
// is on, where only 0 and 1 are accepted.
func (r *Reader) Bool() bool {
	if r.off < len(r.b) {
		if c := r.b[r.off]; c <= 1 { // valid in both modes
			r.off++
			return c == 1
		}
	}
	return r.boolean()
}

// boolean is Bool's general path: short input and bytes above 1.
func (r *Reader) boolean() bool {
	s := r.take(1)
	if s == nil {
		return false
	}
	if r.strict && s[0] > 1 {
		r.fail(errBadBool)
		return false
	}
	return s[0] != 0
}

// Int reads a jute int (int32).
//
// Int, Long and Buffer test the bytes left directly instead of going
// through take, which keeps them small enough to inline (Int and Long) or
// to take one branch on the common path (Buffer): they run several times
// per message. A set error needs no test of its own here, because fail
// leaves no bytes to read.
func (r *Reader) Int() int32 {
	if r.off <= len(r.b)-4 {
		v := binary.BigEndian.Uint32(r.b[r.off:])
		r.off += 4
		return int32(v)
	}
	r.fail(errShort)
	return 0
}

// Long reads a jute long (int64).
func (r *Reader) Long() int64 {
	if r.off <= len(r.b)-8 {
		v := binary.BigEndian.Uint64(r.b[r.off:])
		r.off += 8
		return int64(v)
	}
	r.fail(errShort)
	return 0
}

// length reads a length prefix: -1 is null, other negatives are malformed,
// and positives must fit both the maximum and the bytes left (a count of
// one-byte elements).
func (r *Reader) length() int32 { return r.VectorLen(1) }

// Buffer reads a jute buffer and returns a slice aliasing the input, nil
// when the buffer is null (length -1). An empty buffer is a non-nil empty
// slice.
func (r *Reader) Buffer() []byte {
	if rest := r.b[r.off:]; len(rest) >= 4 {
		// A length that fits both the bytes left and the maximum: the
		// checks of length, and then take's, all pass.
		n := int32(binary.BigEndian.Uint32(rest))
		if n > 0 && int(n) <= len(rest)-4 && int(n) <= r.max {
			r.off += 4 + int(n)
			return rest[4 : 4+n : 4+n]
		}
	}
	return r.buffer()
}

// buffer is Buffer's general path: null, empty, malformed and short
// buffers.
func (r *Reader) buffer() []byte {
	n := r.length()
	if n <= 0 {
		if n == 0 && r.err == nil {
			return r.b[r.off:r.off:r.off]
		}
		return nil
	}
	return r.take(int(n))
}

// UString reads a jute ustring as raw bytes aliasing the input (no UTF-8
// validation: Java writes CESU-8 for characters above U+FFFF). Null is nil.
func (r *Reader) UString() []byte { return r.Buffer() }

// SkipBuffer skips a buffer or ustring and returns its declared length
// (-1 for null, 0 after an error).
func (r *Reader) SkipBuffer() int32 {
	if rest := r.b[r.off:]; len(rest) >= 4 {
		// The short path of Buffer.
		n := int32(binary.BigEndian.Uint32(rest))
		if n > 0 && int(n) <= len(rest)-4 && int(n) <= r.max {
			r.off += 4 + int(n)
			return n
		}
	}
	return r.skipBuffer()
}

// skipBuffer is SkipBuffer's general path.
func (r *Reader) skipBuffer() int32 {
	n := r.length()
	if n > 0 {
		r.take(int(n))
	}
	return n
}

// VectorLen reads a vector's element count: -1 for null. The count is
// checked against the maximum and against the bytes left, assuming each
// element takes at least minElem bytes (use 4 for ustrings), so a hostile
// count cannot drive a long loop.
func (r *Reader) VectorLen(minElem int) int32 {
	n := r.Int()
	if r.err != nil {
		return 0
	}
	switch {
	case n == -1:
		return -1
	case n < 0:
		r.fail(errBadLength)
		return 0
	case int(n) > r.max:
		r.fail(errTooLarge)
		return 0
	case minElem > 0 && int64(n)*int64(minElem) > int64(len(r.b)-r.off):
		r.fail(errShort)
		return 0
	}
	return n
}

// SkipStrings skips a vector<ustring> and returns its count (-1 for null).
func (r *Reader) SkipStrings() int32 {
	n := r.VectorLen(4)
	for i := int32(0); i < n && r.err == nil; i++ {
		r.SkipBuffer()
	}
	return n
}

// Skip skips n bytes.
func (r *Reader) Skip(n int) { r.take(n) }

// SkipStat skips a Stat record.
func (r *Reader) SkipStat() { r.take(StatSize) }
