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

// Write implements io.Writer.
func (l *LineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	i := bytes.LastIndexByte(l.buf, '\n')
	if i < 0 {
		return len(p), nil
	}
	out := l.r.Scrub(string(l.buf[:i+1]))
	l.buf = append(l.buf[:0], l.buf[i+1:]...)
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
