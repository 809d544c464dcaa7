package logs

import (
	"fmt"
	"time"
)

// Docker's timestamps: "<RFC3339Nano> <data>" on every log entry, parsed and
// formatted here without allocating.

// tsLen is the length of Docker's fixed RFC3339Nano UTC timestamp
// "2006-01-02T15:04:05.000000000Z".
const tsLen = 30

// SplitTimestamp splits "<RFC3339Nano> <data>" into the time in Unix
// nanoseconds, the timestamp's text and the data. The daemon's fixed
// 9-digit UTC form is parsed without allocating; other forms go through
// time.Parse.
func SplitTimestamp(p []byte) (ns int64, ts, data []byte, err error) {
	if len(p) > tsLen && p[tsLen] == ' ' && p[tsLen-1] == 'Z' {
		if ns, ok := parseUTC(p[:tsLen]); ok {
			return ns, p[:tsLen], p[tsLen+1:], nil
		}
	}
	sp := -1
	for i := 0; i < len(p) && i < 64; i++ {
		if p[i] == ' ' {
			sp = i
			break
		}
	}
	if sp < 0 {
		return 0, nil, nil, fmt.Errorf("log entry without timestamp: %.40q", p)
	}
	t, err := time.Parse(time.RFC3339Nano, string(p[:sp]))
	if err != nil {
		return 0, nil, nil, fmt.Errorf("log entry timestamp: %w", err)
	}
	return t.UnixNano(), p[:sp], p[sp+1:], nil
}

// IndexTimestamp returns the index of the first "<fixed timestamp> " in b
// at or after from, or -1: a TTY entry without '\n' runs straight into the
// next entry's timestamp.
func IndexTimestamp(b []byte, from int) int {
	for i := from; i+tsLen < len(b); i++ {
		if b[i+tsLen] == ' ' && b[i+tsLen-1] == 'Z' && b[i+10] == 'T' {
			if _, ok := parseUTC(b[i : i+tsLen]); ok {
				return i
			}
		}
	}
	return -1
}

// ParseTime parses Docker's RFC 3339 time in UTC with 0 to 9 fraction
// digits (the Engine API writes nine; json-file drops trailing zeros)
// without allocating; other forms go through time.Parse.
func ParseTime(b []byte) (int64, error) {
	if ns, ok := parseUTC(b); ok {
		return ns, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return 0, fmt.Errorf("log time: %w", err)
	}
	return t.UnixNano(), nil
}

// parseUTC parses "YYYY-MM-DDTHH:MM:SS[.n{1,9}]Z".
func parseUTC(b []byte) (int64, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	var f [6]int
	for i, at := range [6]int{0, 5, 8, 11, 14, 17} {
		w := 2
		if i == 0 {
			w = 4
		}
		v, ok := digits(b[at : at+w])
		if !ok {
			return 0, false
		}
		f[i] = v
	}
	frac, ok := fraction(b[19 : len(b)-1])
	if !ok || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60 {
		return 0, false
	}
	days := daysFromCivil(f[0], f[1], f[2])
	return ((days*24+int64(f[3]))*60+int64(f[4]))*60*1e9 + int64(f[5])*1e9 + int64(frac), true
}

// fraction is ".n{1,9}" (or nothing) in nanoseconds.
func fraction(rest []byte) (int, bool) {
	if len(rest) == 0 {
		return 0, true
	}
	if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
		return 0, false
	}
	v, ok := digits(rest[1:])
	if !ok {
		return 0, false
	}
	for n := len(rest) - 1; n < 9; n++ {
		v *= 10
	}
	return v, true
}

func digits(b []byte) (int, bool) {
	v := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// daysFromCivil is the days since 1970-01-01 of a proleptic Gregorian date
// (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era*146097 + doe - 719468)
}

// AppendRFC3339Nano appends ns as "2006-01-02T15:04:05.000000000Z" (UTC,
// nine digits, Docker's own form) without allocating.
func AppendRFC3339Nano(dst []byte, ns int64) []byte {
	secs := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
		secs--
	}
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civilFromDays(days)
	dst = appendInt(dst, y, 4)
	dst = append(dst, '-')
	dst = appendInt(dst, m, 2)
	dst = append(dst, '-')
	dst = appendInt(dst, d, 2)
	dst = append(dst, 'T')
	dst = appendInt(dst, int(rem/3600), 2)
	dst = append(dst, ':')
	dst = appendInt(dst, int(rem%3600/60), 2)
	dst = append(dst, ':')
	dst = appendInt(dst, int(rem%60), 2)
	dst = append(dst, '.')
	dst = appendInt(dst, int(frac), 9)
	return append(dst, 'Z')
}

func appendInt(dst []byte, v, width int) []byte {
	var b [20]byte
	i := len(b)
	for v > 0 || width > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		width--
	}
	return append(dst, b[i:]...)
}

// civilFromDays inverts daysFromCivil.
func civilFromDays(z int64) (y, m, d int) {
	z += 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	yy := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = int(doy - (153*mp+2)/5 + 1)
	if mp < 10 {
		m = int(mp + 3)
	} else {
		m = int(mp - 9)
	}
	if m <= 2 {
		yy++
	}
	return int(yy), m, d
}
