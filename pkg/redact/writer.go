package redact

import (
	"bytes"
	"io"
	"sync"
)

// Writer returns an io.Writer that scrubs whatever passes through it before
// writing it to w. Complete lines are written at once; a partial line is held
// until its newline arrives (or Flush) so a secret split across two writes is
// still masked.
func (r *Redactor) Writer(w io.Writer) *LineWriter {
	return &LineWriter{r: r, w: w}
}

// LineWriter is the io.Writer returned by Redactor.Writer.
type LineWriter struct {
	mu  sync.Mutex
	r   *Redactor
	w   io.Writer
	buf []byte
}

// maxHeld bounds the partial line a LineWriter holds: past it, the part no
// secret crosses is written.
const maxHeld = 64 << 10

// Write implements io.Writer. A carriage return ends a line too (progress
// output redraws one line with \r).
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	i := bytes.LastIndexAny(l.buf, "\n\r") + 1
	if i == 0 && len(l.buf) > maxHeld {
		i = l.r.safeCut(string(l.buf), len(l.buf)-maxHeld/2)
	}
	if i == 0 {
		return len(p), nil
	}
	out := l.r.Scrub(string(l.buf[:i]))
	l.buf = append(l.buf[:0], l.buf[i:]...)
	if _, err := io.WriteString(l.w, out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held partial line.
func (l *LineWriter) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) == 0 {
		return nil
	}
	out := l.r.Scrub(string(l.buf))
	l.buf = l.buf[:0]
	_, err := io.WriteString(l.w, out)
	return err
}
