package jute

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func be32(v int32) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func TestReader(t *testing.T) {
	type out struct {
		Vals      []any
		Remaining int
		Err       error
	}
	tests := []struct {
		name string
		in   []byte
		max  int
		read func(r *Reader) []any
		want out
	}{
		{
			name: "int long bool byte",
			// int 7, long -2, bool 1, byte 0xAB
			in:   append(append(be32(7), binary.BigEndian.AppendUint64(nil, ^uint64(1))...), 1, 0xAB),
			read: func(r *Reader) []any { return []any{r.Int(), r.Long(), r.Bool(), r.Byte()} },
			want: out{Vals: []any{int32(7), int64(-2), true, byte(0xAB)}},
		},
		{
			name: "buffer aliases, null is nil, empty is empty",
			// "ab", null, ""
			in:   append(append(append(be32(2), 'a', 'b'), be32(-1)...), be32(0)...),
			read: func(r *Reader) []any { return []any{string(r.Buffer()), r.UString() == nil, r.Buffer() != nil} },
			want: out{Vals: []any{"ab", true, true}},
		},
		{
			name: "short int is sticky",
			in:   []byte{0, 0, 1},
			read: func(r *Reader) []any { return []any{r.Int(), r.Byte(), r.Long()} },
			want: out{Vals: []any{int32(0), byte(0), int64(0)}, Err: errShort},
		},
		{
			name: "buffer longer than data",
			in:   append(be32(10), 'x'),
			max:  100,
			read: func(r *Reader) []any { return []any{r.Buffer() == nil} },
			want: out{Vals: []any{true}, Err: errShort},
		},
		{
			name: "buffer over max",
			in:   append(be32(3), "abc"...),
			max:  2,
			read: func(r *Reader) []any { return []any{r.SkipBuffer()} },
			want: out{Vals: []any{int32(0)}, Err: errTooLarge},
		},
		{
			name: "negative length other than -1",
			in:   be32(-2),
			read: func(r *Reader) []any { return []any{r.Buffer() == nil} },
			want: out{Vals: []any{true}, Err: errBadLength},
		},
		{
			name: "vector of strings",
			in:   append(append(append(be32(2), be32(1)...), 'a'), append(be32(1), 'b')...),
			read: func(r *Reader) []any { return []any{r.SkipStrings()} },
			want: out{Vals: []any{int32(2)}},
		},
		{
			name: "hostile vector count",
			in:   append(be32(1<<30), 0, 0, 0, 0),
			max:  1 << 31,
			read: func(r *Reader) []any { return []any{r.VectorLen(4)} },
			want: out{Vals: []any{int32(0)}, Err: errShort},
		},
		{
			name: "stat and skip",
			in:   make([]byte, StatSize+3),
			read: func(r *Reader) []any { r.SkipStat(); r.Skip(2); return []any{r.Offset()} },
			want: out{Vals: []any{StatSize + 2}, Remaining: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewReader(tt.in, tt.max)
			got := out{Vals: tt.read(&r), Remaining: r.Remaining(), Err: r.Err()}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool { return errors.Is(a, b) })); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestFastPaths holds Buffer, SkipBuffer and Bool, which take a short path
// when the input is well formed, to their general paths (buffer, skipBuffer
// and boolean) at the
// edges of that short path: lengths equal to or one past the bytes left or
// the maximum, null, empty and negative lengths, and reads after an error.
func TestFastPaths(t *testing.T) {
	type state struct {
		Val    []byte
		IsNil  bool
		Skip   int32
		Bool   bool
		Off    int
		ErrMsg string
	}
	snap := func(r *Reader, val []byte, isNil, b bool) state {
		s := state{Val: val, IsNil: isNil, Bool: b, Off: r.Offset()}
		if r.Err() != nil {
			s.ErrMsg = r.Err().Error()
		}
		return s
	}
	tests := []struct {
		name   string
		in     []byte
		max    int
		strict bool
		pre    func(r *Reader) // reads before the one compared
	}{
		{name: "fits exactly", in: append(be32(3), "abc"...)},
		{name: "one byte short", in: append(be32(4), "abc"...)},
		{name: "at max", in: append(be32(3), "abcd"...), max: 3},
		{name: "one over max", in: append(be32(4), "abcd"...), max: 3},
		{name: "empty", in: append(be32(0), "ab"...)},
		{name: "null", in: append(be32(-1), "ab"...)},
		{name: "negative", in: append(be32(-2), "ab"...)},
		{name: "most negative", in: append(be32(-1<<31), "ab"...)},
		{name: "huge", in: append(be32(1<<31-1), "ab"...), max: 1 << 40},
		{name: "three bytes", in: []byte{0, 0, 0}},
		{name: "nothing", in: nil},
		{name: "after error", in: append(be32(1), 'a'), pre: func(r *Reader) { r.Long() }},
		{name: "bool 1 strict", in: []byte{1}, strict: true},
		{name: "bool 2 strict", in: []byte{2}, strict: true},
		{name: "bool 2 lenient", in: []byte{2}},
		{name: "bool 0", in: []byte{0, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			read := func(general bool) (buf, skip, bl state) {
				for i, kind := range []string{"buffer", "skip", "bool"} {
					r := NewReader(tt.in, tt.max)
					r.SetStrict(tt.strict)
					if tt.pre != nil {
						tt.pre(&r)
					}
					var s state
					switch {
					case kind == "buffer" && general:
						v := r.buffer()
						s = snap(&r, v, v == nil, false)
					case kind == "buffer":
						v := r.Buffer()
						s = snap(&r, v, v == nil, false)
					case kind == "skip" && general:
						n := r.skipBuffer()
						s = snap(&r, nil, false, false)
						s.Skip = n
					case kind == "skip":
						n := r.SkipBuffer()
						s = snap(&r, nil, false, false)
						s.Skip = n
					case general:
						s = snap(&r, nil, false, r.boolean())
					default:
						s = snap(&r, nil, false, r.Bool())
					}
					switch i {
					case 0:
						buf = s
					case 1:
						skip = s
					default:
						bl = s
					}
				}
				return buf, skip, bl
			}
			wantBuf, wantSkip, wantBool := read(true)
			gotBuf, gotSkip, gotBool := read(false)
			if diff := cmp.Diff(wantBuf, gotBuf); diff != "" {
				t.Errorf("Buffer (-general +Buffer):\n%s", diff)
			}
			if diff := cmp.Diff(wantSkip, gotSkip); diff != "" {
				t.Errorf("SkipBuffer (-general +SkipBuffer):\n%s", diff)
			}
			if diff := cmp.Diff(wantBool, gotBool); diff != "" {
				t.Errorf("Bool (-general +Bool):\n%s", diff)
			}
		})
	}
}

func TestStrictBool(t *testing.T) {
	r := NewReader([]byte{2, 1}, 0)
	if !r.Bool() || r.Err() != nil {
		t.Fatalf("lenient Bool(2) = false or error %v", r.Err())
	}
	r = NewReader([]byte{2, 1}, 0)
	r.SetStrict(true)
	if r.Bool() || !errors.Is(r.Err(), errBadBool) {
		t.Fatalf("strict Bool(2): err %v, want %v", r.Err(), errBadBool)
	}
}

func TestReaderAllocs(t *testing.T) {
	in := append(append(be32(4), "/a/b"...), 1)
	got := testing.AllocsPerRun(100, func() {
		r := NewReader(in, 0)
		_ = r.UString()
		_ = r.Bool()
	})
	if got != 0 {
		t.Errorf("allocs = %v, want 0", got)
	}
}

func FuzzReader(f *testing.F) {
	f.Add(append(append(be32(4), "/a/b"...), 1), 0)
	f.Add(be32(-1), 3)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		r := NewReader(b, max%(1<<20))
		for r.Err() == nil && r.Remaining() > 0 {
			before := r.Remaining()
			switch r.Byte() % 6 {
			case 0:
				ref := r
				want := ref.buffer()
				s := r.Buffer()
				if len(s) > before {
					t.Fatal("buffer longer than input")
				}
				if string(s) != string(want) || (s == nil) != (want == nil) || r.off != ref.off || r.err != ref.err {
					t.Fatalf("Buffer = %q (nil %v), offset %d; general path %q (nil %v), offset %d",
						s, s == nil, r.off, want, want == nil, ref.off)
				}
			case 1:
				r.SkipStrings()
			case 2:
				r.Long()
			case 3:
				r.VectorLen(1)
			case 4:
				r.SkipStat()
			case 5:
				ref := r
				want := ref.skipBuffer()
				if n := r.SkipBuffer(); n != want || r.off != ref.off || r.err != ref.err {
					t.Fatalf("SkipBuffer = %d, offset %d; general path %d, offset %d", n, r.off, want, ref.off)
				}
			}
			if r.Remaining() < 0 || r.Offset() > len(b) {
				t.Fatalf("offset %d past %d", r.Offset(), len(b))
			}
		}
	})
}
