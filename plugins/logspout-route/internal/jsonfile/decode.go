// Package jsonfile reads the Docker daemon's json-file logs from disk:
// <containers>/<id>/<id>-json.log and its rotations (<id>-json.log.1, .2,
// ..., or .1.gz, .2.gz with compress=true), followed with one inotify
// instance for the whole process.
//
// A position is the file's identity (device, inode) and the byte offset
// after the last entry consumed: exact, unlike the Engine API's
// since-timestamp. Files are kept open while they are followed, so a
// rotation (rename, compress, unlink) never takes a line from under a
// reader, and ext4's reuse of a freed inode cannot make an open file's
// identity name another file.
package jsonfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"unicode/utf8"
)

// Stream numbers, as in Docker's multiplexed stream.
const (
	Stdout = 1
	Stderr = 2
)

// Record is one decoded line of a json-file log: one entry written by the
// daemon, which is a whole line or a 16 KiB piece of one.
type Record struct {
	Stream byte
	TS     int64  // the entry's "time", Unix nanoseconds
	Log    []byte // "log", unescaped; valid until the next decode
	Attrs  []byte // "attrs" as raw JSON (an object) or nil; valid until the next decode
}

// errSlow reports a line the fast decoder does not handle; the slow one
// (encoding/json) is tried next.
var errSlow = errors.New("not in the daemon's own layout")

// decoder turns json-file lines into Records without allocating.
type decoder struct {
	buf []byte
}

// decode parses one line (without its '\n'). The daemon writes the keys in
// a fixed order (jsonlog.MarshalJSONBuf: log, stream, attrs, time; log and
// stream are left out when empty), which the fast path expects; anything
// else goes through encoding/json.
func (d *decoder) decode(line []byte, r *Record) error {
	if err := d.fast(line, r); err == nil {
		return nil
	}
	return d.slow(line, r)
}

func (d *decoder) fast(line []byte, r *Record) error {
	*r = Record{Stream: Stdout}
	d.buf = d.buf[:0]
	p := line
	if !bytes.HasPrefix(p, []byte(`{`)) {
		return errSlow
	}
	p = p[1:]
	if bytes.HasPrefix(p, []byte(`"log":"`)) {
		var err error
		d.buf, p, err = unquote(d.buf, p[len(`"log":"`):])
		if err != nil {
			return err
		}
		r.Log = d.buf
		if len(p) == 0 || p[0] != ',' {
			return errSlow
		}
		p = p[1:]
	}
	switch {
	case bytes.HasPrefix(p, []byte(`"stream":"stdout",`)):
		p = p[len(`"stream":"stdout",`):]
	case bytes.HasPrefix(p, []byte(`"stream":"stderr",`)):
		r.Stream = Stderr
		p = p[len(`"stream":"stderr",`):]
	}
	if bytes.HasPrefix(p, []byte(`"attrs":{`)) {
		p = p[len(`"attrs":`):]
		n, err := objectLen(p)
		if err != nil {
			return err
		}
		r.Attrs = p[:n]
		p = p[n:]
		if len(p) == 0 || p[0] != ',' {
			return errSlow
		}
		p = p[1:]
	}
	if !bytes.HasPrefix(p, []byte(`"time":"`)) {
		return errSlow
	}
	p = p[len(`"time":"`):]
	end := bytes.IndexByte(p, '"')
	if end < 0 || string(p[end:]) != `"}` {
		return errSlow
	}
	ts, err := logs.ParseTime(p[:end])
	if err != nil {
		return err
	}
	r.TS = ts
	return nil
}

// jsonLine is a json-file entry for encoding/json.
type jsonLine struct {
	Log    string          `json:"log"`
	Stream string          `json:"stream"`
	Attrs  json.RawMessage `json:"attrs"`
	Time   time.Time       `json:"time"`
}

func (d *decoder) slow(line []byte, r *Record) error {
	var l jsonLine
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("json-file entry: %w", err)
	}
	if l.Time.IsZero() {
		return fmt.Errorf("json-file entry without time: %.60q", line)
	}
	*r = Record{Stream: Stdout, TS: l.Time.UnixNano()}
	if l.Stream == "stderr" {
		r.Stream = Stderr
	}
	d.buf = append(d.buf[:0], l.Log...)
	r.Log = d.buf
	if len(l.Attrs) > 0 && l.Attrs[0] == '{' {
		r.Attrs = l.Attrs
	}
	return nil
}

// unquote appends the JSON string body at the start of p (after its opening
// quote) to dst, unescaped, and returns the rest of p after the closing
// quote.
func unquote(dst, p []byte) ([]byte, []byte, error) {
	for {
		i := indexQuoteOrEscape(p)
		if i < 0 {
			return dst, nil, errSlow
		}
		dst = append(dst, p[:i]...)
		if p[i] == '"' {
			return dst, p[i+1:], nil
		}
		p = p[i:]
		if len(p) < 2 {
			return dst, nil, errSlow
		}
		var n int
		dst, n = unescape(dst, p)
		if n == 0 {
			return dst, nil, errSlow
		}
		p = p[n:]
	}
}

func indexQuoteOrEscape(p []byte) int {
	q := bytes.IndexByte(p, '"')
	if q < 0 {
		return -1
	}
	if e := bytes.IndexByte(p[:q], '\\'); e >= 0 {
		return e
	}
	return q
}

// unescape decodes the escape at the start of p (p[0] == '\\'), appends it
// to dst and returns how many bytes of p it took (0: not an escape).
func unescape(dst, p []byte) ([]byte, int) {
	switch c := p[1]; c {
	case '"', '\\', '/':
		return append(dst, c), 2
	case 'n':
		return append(dst, '\n'), 2
	case 'r':
		return append(dst, '\r'), 2
	case 't':
		return append(dst, '\t'), 2
	case 'b':
		return append(dst, '\b'), 2
	case 'f':
		return append(dst, '\f'), 2
	case 'u':
		r, ok := hex4(p[2:])
		if !ok {
			return dst, 0
		}
		n := 6
		if utf16.IsSurrogate(r) {
			r2, ok := rune(0), false
			if len(p) >= 12 && p[6] == '\\' && p[7] == 'u' {
				r2, ok = hex4(p[8:])
			}
			if d := utf16.DecodeRune(r, r2); ok && d != utf8.RuneError {
				r, n = d, 12
			} else {
				r = utf8.RuneError
			}
		}
		return utf8.AppendRune(dst, r), n
	}
	return dst, 0
}

func hex4(p []byte) (rune, bool) {
	if len(p) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p[:4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// objectLen returns the length of the JSON object at the start of p (the
// attrs map: string keys and values only).
func objectLen(p []byte) (int, error) {
	inString := false
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case inString && c == '\\':
			i++
		case c == '"':
			inString = !inString
		case !inString && c == '}':
			return i + 1, nil
		case !inString && (c == '{' || c == '['):
			return 0, errSlow
		}
	}
	return 0, errSlow
}
