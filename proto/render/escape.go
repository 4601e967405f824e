package render

import (
	"encoding/binary"
	"unicode/utf8"
)

const hexDigits = "0123456789abcdef"

// jsonPlain tells the bytes a JSON string holds as they are: ASCII from
// space on, except the quote and the backslash.
var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendJSONBytes appends s as a JSON string, quotes included. Invalid
// UTF-8 becomes U+FFFD so the output is always valid JSON; U+2028 and
// U+2029 are escaped because some JavaScript parsers treat them as line
// ends, which would split an NDJSON line.
func appendJSONBytes(dst, s []byte) []byte {
	// Nearly every path needs no escaping. One of eight bytes or more is
	// checked and copied eight bytes at a time in one pass, the last
	// eight overlapping the ones before; a shorter one is scanned and
	// copied. (A scan, then memmove, took a twentieth of a dump.)
	if n := len(s); n >= 8 {
		l := len(dst)
		dst = grow(dst, n+2)[:l+n+2]
		b := dst[l+1 : l+1+n]
		plain := true
		for i := 0; i+8 < n; i += 8 {
			w := binary.LittleEndian.Uint64(s[i:])
			binary.LittleEndian.PutUint64(b[i:], w)
			plain = plain && plainWord(w)
		}
		// The last eight bytes, overlapping what the loop did when n is
		// not a multiple of eight.
		w := binary.LittleEndian.Uint64(s[n-8:])
		binary.LittleEndian.PutUint64(b[n-8:], w)
		if plain && plainWord(w) {
			dst[l] = '"'
			dst[l+1+n] = '"'
			return dst
		}
		dst = dst[:l]
	} else if plainJSON(s) {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendJSONEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// plainJSON reports whether every byte of s is jsonPlain, eight bytes at
// a time.
func plainJSON(s []byte) bool {
	for len(s) >= 8 {
		if !plainWord(binary.LittleEndian.Uint64(s)) {
			break // let the byte loop find out which
		}
		s = s[8:]
	}
	for _, c := range s {
		if !jsonPlain[c] {
			return false
		}
	}
	return true
}

// plainWord reports whether all eight bytes of w are jsonPlain.
func plainWord(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// A byte is below 0x20 when subtracting 0x20 borrows into its high
	// bit that was clear; a byte equals c when w^c has a zero byte (the
	// classic haszero test). Bytes from 0x80 are caught by the high bits
	// themselves. Each test is exact for "some byte", which is all that is
	// asked.
	q, bs := w^('"'*ones), w^('\\'*ones)
	bad := (w-0x20*ones)&^w | (q-ones)&^q | (bs-ones)&^bs | w
	return bad&highs == 0
}

// appendJSONString is appendJSONBytes for a string.
func appendJSONString(dst []byte, s string) []byte {
	clean := true
	for i := 0; i < len(s); i++ {
		if !jsonPlain[s[i]] {
			clean = false
			break
		}
	}
	if clean {
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			dst = appendJSONEscape(dst, c)
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\u202`...)
			dst = append(dst, hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendJSONEscape(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendTextBytes appends s for a terminal: printable UTF-8 as is, and
// control bytes, backslashes, spaces and invalid UTF-8 as Go-style escapes,
// so a path can neither break the one-line format nor send escape sequences
// to the reader's terminal.
func appendTextBytes(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c > 0x20 && c < 0x7f && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\':
				dst = append(dst, '\\', '\\')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\r':
				dst = append(dst, '\\', 'r')
			default:
				dst = append(dst, '\\', 'x', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		// C1 controls (U+0080..U+009F) act as escape introducers on some
		// terminals; escape them with the invalid bytes.
		if (r == utf8.RuneError && size == 1) || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			for _, b := range s[i : i+size] {
				dst = append(dst, '\\', 'x', hexDigits[b>>4], hexDigits[b&0xf])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}

// appendTextString is appendTextBytes for a string (ops, states): ranging
// over a string decodes runes without converting it to a byte slice.
func appendTextString(dst []byte, s string) []byte {
	for i, r := range s {
		switch {
		case r == utf8.RuneError && (len(s)-i < 3 || s[i:i+3] != "\uFFFD"):
			dst = append(dst, '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&0xf])
		case r <= 0x20 || r == 0x7f || r == '\\' || r >= 0x80 && r < 0xa0 || r == '\u2028' || r == '\u2029':
			var b [utf8.UTFMax]byte
			dst = appendTextBytes(dst, b[:utf8.EncodeRune(b[:], r)])
		default:
			dst = utf8.AppendRune(dst, r)
		}
	}
	return dst
}
