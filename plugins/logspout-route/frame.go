package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// Stream numbers of Docker's multiplexed log stream.
const (
	streamStdin  = 0
	streamStdout = 1
	streamStderr = 2
	streamSystem = 3 // daemon error text ("Error grabbing logs: ...")
)

// maxFrame bounds one frame's payload: dockerd sends at most 16 KiB of log
// plus its timestamp; anything far larger is a corrupt stream, not a line.
const maxFrame = 1 << 20

// frameReader decodes Docker's multiplexed stream:
// [stream][0 0 0][uint32 big-endian size][payload]. Unlike stdcopy it
// reports a frame cut short at EOF (io.ErrUnexpectedEOF) instead of
// silently dropping it, and it never allocates per frame.
type frameReader struct {
	r   *bufio.Reader
	hdr [8]byte // a field, not a local: a local escapes through io.ReadFull
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	// The HTTP connection below buffers too (4 KiB: the Docker client's
	// default transport); the payload buffer grows only when long lines
	// come. With 100 containers followed these buffers are most of our
	// memory.
	return &frameReader{r: bufio.NewReaderSize(r, 16<<10), buf: make([]byte, 0, 4<<10)}
}

// errDaemon carries a stream-3 message.
type errDaemon struct{ msg string }

func (e errDaemon) Error() string { return "daemon: " + e.msg }

// Next returns the next frame's stream and payload; the payload is valid
// until the next call. io.EOF only between frames.
func (f *frameReader) Next() (stream byte, payload []byte, err error) {
	hdr := f.hdr[:]
	if _, err := io.ReadFull(f.r, hdr); err != nil {
		return 0, nil, err // io.EOF at a frame boundary, else io.ErrUnexpectedEOF
	}
	stream = hdr[0]
	size := binary.BigEndian.Uint32(hdr[4:])
	if stream > streamSystem || hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 {
		return 0, nil, fmt.Errorf("log stream: bad frame header % x", hdr)
	}
	if size > maxFrame {
		return 0, nil, fmt.Errorf("log stream: frame of %d bytes", size)
	}
	if cap(f.buf) < int(size) {
		f.buf = make([]byte, size)
	}
	f.buf = f.buf[:size]
	if _, err := io.ReadFull(f.r, f.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	if stream == streamSystem {
		return stream, f.buf, errDaemon{string(f.buf)}
	}
	return stream, f.buf, nil
}

// ttyReader reads a TTY container's raw stream: no frames, every log entry
// is "<timestamp> <bytes>" and entries end in '\n'. It reports everything as
// stdout, as Docker does for TTYs.
type ttyReader struct {
	r *bufio.Reader
}

func newTTYReader(r io.Reader) *ttyReader { return &ttyReader{r: bufio.NewReaderSize(r, 32<<10)} }

// Next returns the next entry (with its '\n', or without at EOF).
func (t *ttyReader) Next() (stream byte, payload []byte, err error) {
	line, err := t.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// A very long TTY line: hand it over in pieces; the caller's
		// reassembly sees a partial entry, which is what it is.
		return streamStdout, line, nil
	}
	if err == io.EOF && len(line) > 0 {
		return streamStdout, line, nil
	}
	if err != nil {
		return 0, nil, err
	}
	return streamStdout, line, nil
}

// tsLen is the length of Docker's fixed RFC3339Nano UTC timestamp
// "2006-01-02T15:04:05.000000000Z".
const tsLen = 30

// splitTimestamp splits "<RFC3339Nano> <data>" into the time in Unix
// nanoseconds, the timestamp's text and the data. The daemon's fixed
// 9-digit UTC form is parsed without allocating; other forms go through
// time.Parse.
func splitTimestamp(p []byte) (ns int64, ts, data []byte, err error) {
	if len(p) > tsLen && p[tsLen] == ' ' && p[tsLen-1] == 'Z' {
		if ns, ok := parseFixedTS(p[:tsLen]); ok {
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

// parseFixedTS parses "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ".
func parseFixedTS(b []byte) (int64, bool) {
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[19] != '.' {
		return 0, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	n, ok7 := num(b[20:29])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60 {
		return 0, false
	}
	days := daysFromCivil(y, mo, d)
	return ((days*24+int64(h))*60+int64(mi))*60*1e9 + int64(s)*1e9 + int64(n), true
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
