package render

import (
	"math/bits"
	"net/netip"
)

// The helpers below replace strconv and netip formatting on the offline
// dump's path, where one message renders several numbers and two
// addresses; together they took a third of AppendJSON. They produce the
// same text as what they replace (tests compare them).

// digits2 holds "00".."99", two bytes per number.
const digits2 = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// appendUint is strconv.AppendUint(dst, v, 10). It writes the digits in
// place, where a scratch array and an append cost a memmove call per
// number, and in groups of four from 32-bit halves, so that the divisions
// of the groups do not wait on each other as a loop dividing by 100 does.
func appendUint(dst []byte, v uint64) []byte {
	if v < 10 {
		return append(dst, byte('0'+v))
	}
	if v < 100 {
		return append(dst, digits2[v*2], digits2[v*2+1])
	}
	n := uintLen(v)
	l := len(dst)
	dst = grow(dst, n)[:l+n]
	b := dst[l : l+n]
	for len(b) > 8 {
		q := v / 1e8
		put8(b[len(b)-8:], uint32(v-q*1e8))
		b, v = b[:len(b)-8], q
	}
	// v < 1e8 has len(b) digits.
	r := uint32(v)
	if len(b) > 4 {
		q := r / 1e4
		put4d(b[len(b)-4:], r-q*1e4)
		b, r = b[:len(b)-4], q
	}
	// r < 1e4 has len(b) digits, 1 to 4.
	switch len(b) {
	case 4:
		put4d(b, r)
	case 3:
		q := r / 100
		b[0] = byte('0' + q)
		put2d(b[1:], r-q*100)
	case 2:
		put2d(b, r)
	case 1:
		b[0] = byte('0' + r)
	}
	return dst
}

// put8 writes r < 1e8 as eight digits.
func put8(b []byte, r uint32) {
	_ = b[7]
	q := r / 1e4
	put4d(b[4:], r-q*1e4)
	put4d(b, q)
}

// put4d writes r < 1e4 as four digits.
func put4d(b []byte, r uint32) {
	_ = b[3]
	q := r / 100
	put2d(b[2:], r-q*100)
	put2d(b, q)
}

// put2d writes r < 100 as two digits.
func put2d(b []byte, r uint32) {
	_ = b[1]
	b[0], b[1] = digits2[r*2], digits2[r*2+1]
}

// uintLen is the number of decimal digits of v.
func uintLen(v uint64) int {
	// bits.Len64(v)*1233>>12 is log10 of v's power of two, which is
	// either log10(v) or one less.
	n := bits.Len64(v) * 1233 >> 12
	if v >= pow10[n] {
		n++
	}
	return max(n, 1)
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// appendInt is strconv.AppendInt(dst, v, 10).
func appendInt(dst []byte, v int64) []byte {
	if v < 0 {
		return appendUint(append(dst, '-'), -uint64(v))
	}
	return appendUint(dst, uint64(v))
}

// appendHex is strconv.AppendUint(dst, v, 16).
func appendHex(dst []byte, v uint64) []byte {
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = hexDigits[v&0xf]
		v >>= 4
		if v == 0 {
			break
		}
	}
	return append(dst, b[i:]...)
}

// appendAddrPort is ap.AppendTo(dst), with IPv4 written directly; other
// addresses (IPv6, zones, the zero AddrPort) go through netip.
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	if !a.Is4() {
		return ap.AppendTo(dst)
	}
	for i, o := range a.As4() {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = appendUint(dst, uint64(o))
	}
	dst = append(dst, ':')
	return appendUint(dst, uint64(ap.Port()))
}
