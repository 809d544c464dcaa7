package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
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

// ErrDaemon carries a stream-3 message.
type ErrDaemon struct{ msg string }

func (e ErrDaemon) Error() string { return "daemon: " + e.msg }

// Next returns the next frame's stream and payload; the payload is valid
// until the next call. io.EOF only between frames.
func (f *frameReader) Next() (stream byte, payload []byte, err error) {
	hdr := f.hdr[:]
	if _, err := io.ReadFull(f.r, hdr); err != nil {
		return 0, nil, err // io.EOF at a frame boundary, else io.ErrUnexpectedEOF
	}
	stream = hdr[0]
	size := binary.BigEndian.Uint32(hdr[4:])
	if stream > logs.StreamSystem || hdr[1] != 0 || hdr[2] != 0 || hdr[3] != 0 {
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
	if stream == logs.StreamSystem {
		return stream, f.buf, ErrDaemon{string(f.buf)}
	}
	return stream, f.buf, nil
}

// ttyReader reads a TTY container's raw stream: no frames, every log entry
// is "<timestamp> <bytes>". Entries usually end in '\n', but one without
// (a prompt) runs straight into the next entry's timestamp: it is split
// there. It reports everything as stdout, as Docker does for TTYs.
type ttyReader struct {
	r    *bufio.Reader
	rest []byte // the next entry, found inside the last line read
}

func newTTYReader(r io.Reader) *ttyReader { return &ttyReader{r: bufio.NewReaderSize(r, 32<<10)} }

// Next returns the next entry (with its '\n', or without).
func (t *ttyReader) Next() (stream byte, payload []byte, err error) {
	line := t.rest
	t.rest = nil
	if len(line) == 0 {
		line, err = t.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull), errors.Is(err, io.EOF) && len(line) > 0:
			// A very long TTY line comes in pieces; a last one may lack '\n'.
		case err != nil:
			return 0, nil, err
		}
	}
	if k := logs.IndexTimestamp(line, 1); k > 0 {
		t.rest = line[k:]
		line = line[:k]
	}
	return logs.StreamStdout, line, nil
}
