package stats

// maxPathLen bounds the bytes of one normalised path kept as a key, so the
// memory of the path table is bounded by MaxPaths*maxPathLen whatever the
// traffic. Longer paths are cut at a segment boundary where possible.
const maxPathLen = 256

// normalizePath appends the normalised form of p to dst and returns it.
// depth > 0 keeps only the first depth segments. Numeric and UUID segments
// become "#" and a sequential-znode suffix of 10 digits becomes "#". It
// never allocates when dst has room for maxPathLen bytes.
//
// A path of at most maxPathLen bytes, which is never cut (normalising does
// not lengthen a path), is read once: the loop that finds a segment's end
// also copies it and counts its trailing digits, which is all that telling
// a numeric segment or a sequential suffix takes. (Finding the end, testing
// the segment and copying it in three passes was a tenth of the serve path
// on a stream of distinct paths.) Longer ones take normalizeLong, which
// measures each segment before copying it.
func normalizePath(dst, p []byte, depth int) []byte {
	if len(p) == 0 {
		return dst
	}
	if p[0] != '/' {
		// Not a znode path (decoder damage or a relative chroot path):
		// keep it out of the label space entirely.
		return append(dst, '?')
	}
	if len(p) > maxPathLen {
		return normalizeLong(dst, p, depth)
	}
	start := len(dst)
	seg := 0
	for i := 1; i < len(p); {
		if p[i] == '/' {
			i++ // "//" or a trailing slash: skip the empty segment
			continue
		}
		if depth > 0 && seg == depth {
			break
		}
		// Copy the segment p[i:j] after a slash, counting its trailing
		// digits.
		mark := len(dst)
		dst = append(dst, '/')
		j, digits := i, 0
		for ; j < len(p); j++ {
			c := p[j]
			if c == '/' {
				break
			}
			digits++
			if c-'0' > 9 {
				digits = 0
			}
			dst = append(dst, c)
		}
		switch n := j - i; {
		case digits == n || n == 36 && isUUID(p[i:j]):
			dst = append(dst[:mark+1], '#')
		case n > 10 && digits >= 10:
			// Sequential znodes end in a 10-digit zero-padded counter
			// (CreateMode *_SEQUENTIAL); keep the prefix the application
			// chose.
			dst = append(dst[:len(dst)-10], '#')
		}
		seg++
		i = j
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

// normalizeLong is normalizePath for a path that starts with a slash and
// may be longer than maxPathLen: segments that would take the result past
// maxPathLen are cut, at a segment boundary.
func normalizeLong(dst, p []byte, depth int) []byte {
	start := len(dst)
	seg := 0
	i := 1
	for i <= len(p) {
		j := i
		for j < len(p) && p[j] != '/' {
			j++
		}
		s := p[i:j]
		if len(s) == 0 {
			if j >= len(p) {
				break // trailing slash
			}
			i = j + 1
			continue // "//": skip empty segment
		}
		if depth > 0 && seg == depth {
			break
		}
		if len(dst)-start+1+len(s) > maxPathLen {
			break
		}
		dst = append(dst, '/')
		dst = appendSegment(dst, s)
		seg++
		i = j + 1
	}
	if len(dst) == start {
		dst = append(dst, '/')
	}
	return dst
}

// appendSegment appends one normalised path segment.
func appendSegment(dst, s []byte) []byte {
	if allDigits(s) || isUUID(s) {
		return append(dst, '#')
	}
	// Sequential znodes end in a 10-digit zero-padded counter
	// (CreateMode *_SEQUENTIAL); keep the prefix the application chose.
	if n := len(s); n > 10 && allDigits(s[n-10:]) {
		dst = append(dst, s[:n-10]...)
		return append(dst, '#')
	}
	return append(dst, s...)
}

func allDigits(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// isUUID reports whether s is a textual UUID (8-4-4-4-12 hex digits).
func isUUID(s []byte) bool {
	if len(s) != 36 {
		return false
	}
	for i, c := range s {
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
