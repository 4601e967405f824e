package render

import "time"

// appendUTC appends t in UTC as timeLayout does (RFC 3339, nine-digit
// fraction, "Z"), without time.AppendFormat, which parses the layout on
// every call and took about half of AppendJSON. Years outside 0..9999,
// which the layout cannot show as four digits, fall back to AppendFormat.
func appendUTC(dst []byte, t time.Time) []byte {
	sec := t.Unix()
	// Days and seconds of day, floored so that times before 1970 work.
	days, sod := sec/86400, sec%86400
	if sod < 0 {
		days, sod = days-1, sod+86400
	}
	y, mo, d := civil(days)
	if y < 0 || y > 9999 {
		return t.UTC().AppendFormat(dst, timeLayout)
	}
	ns := uint64(t.Nanosecond())
	var b [30]byte // 2006-01-02T15:04:05.000000000Z
	put4(b[0:], uint64(y))
	b[4] = '-'
	put2(b[5:], uint64(mo))
	b[7] = '-'
	put2(b[8:], uint64(d))
	b[10] = 'T'
	put2(b[11:], uint64(sod/3600))
	b[13] = ':'
	put2(b[14:], uint64(sod/60%60))
	b[16] = ':'
	put2(b[17:], uint64(sod%60))
	b[19] = '.'
	for i := 28; i >= 20; i-- {
		b[i] = byte('0' + ns%10)
		ns /= 10
	}
	b[29] = 'Z'
	return append(dst, b[:]...)
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse, exact for any int64 range
// used here).
func civil(days int64) (y int64, m, d int) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // [0, 146096]
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // [0, 399]
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100) // [0, 365]
	mp := (5*doy + 2) / 153                  // [0, 11], March first
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
		y++
	}
	return y, m, d
}

func put2(b []byte, v uint64) {
	b[0] = byte('0' + v/10)
	b[1] = byte('0' + v%10)
}

func put4(b []byte, v uint64) {
	b[0] = byte('0' + v/1000)
	b[1] = byte('0' + v/100%10)
	b[2] = byte('0' + v/10%10)
	b[3] = byte('0' + v%10)
}
