package zab

import "encoding/binary"

// reader is a bounds-checked big-endian jute reader over one buffer with a
// sticky failure flag: after the first short read every later read returns
// zero values, so a record decoder checks ok() once at the end.
//
// TODO(zab): switch to proto/jute once it lands; it did not exist when this
// package was written.
type reader struct {
	b   []byte
	off int
	bad bool
}

func (r *reader) ok() bool { return !r.bad }

func (r *reader) rest() int {
	if r.bad {
		return 0
	}
	return len(r.b) - r.off
}

func (r *reader) int32() int32 {
	if r.bad || len(r.b)-r.off < 4 {
		r.bad = true
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v
}

func (r *reader) int64() int64 {
	if r.bad || len(r.b)-r.off < 8 {
		r.bad = true
		return 0
	}
	v := int64(binary.BigEndian.Uint64(r.b[r.off:]))
	r.off += 8
	return v
}

func (r *reader) skip(n int) {
	if r.bad || n < 0 || len(r.b)-r.off < n {
		r.bad = true
		return
	}
	r.off += n
}

// buffer reads a jute buffer or ustring. It returns the bytes (nil for
// null) and the declared length (-1 for null). Lengths below -1 or past the
// end of the buffer fail.
func (r *reader) buffer() ([]byte, int32) {
	n := r.int32()
	if r.bad {
		return nil, 0
	}
	if n == -1 {
		return nil, -1
	}
	if n < 0 || int(n) > len(r.b)-r.off {
		r.bad = true
		return nil, 0
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v, n
}
