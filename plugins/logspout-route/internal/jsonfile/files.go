package jsonfile

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// FileID names a file while it exists: device and inode.
type FileID struct {
	Dev uint64
	Ino uint64
}

// Pos is a position in a container's log: the byte offset after the last
// entry consumed in the file with that identity (for a .gz rotation, the
// offset in its decompressed content).
type Pos struct {
	File FileID
	Off  int64
}

// IsZero reports a position that names no file.
func (p Pos) IsZero() bool { return p.File == FileID{} }

// LogPath is where the daemon writes a json-file container's log.
func LogPath(containersDir, id string) string {
	return filepath.Join(containersDir, id, id+"-json.log")
}

// file is one log file held open: the live <id>-json.log or a rotation.
type file struct {
	id   FileID
	name string // its name when opened (rotations rename it later)
	f    *os.File
	gz   bool
}

func fileID(f *os.File) (FileID, int64, error) {
	st, err := f.Stat()
	if err != nil {
		return FileID{}, 0, err
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, 0, errors.New("no inode")
	}
	return FileID{Dev: uint64(sys.Dev), Ino: sys.Ino}, st.Size(), nil //nolint:unconvert // Dev is uint32 on some platforms
}

// dup is a copy of fl with its own descriptor.
func (fl *file) dup() (*file, error) {
	sc, err := fl.f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var fd int
	var dupErr error
	if err := sc.Control(func(old uintptr) { fd, dupErr = unix.FcntlInt(old, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return nil, err
	}
	if dupErr != nil {
		return nil, dupErr
	}
	return &file{id: fl.id, name: fl.name, f: os.NewFile(uintptr(fd), fl.name), gz: fl.gz}, nil
}

func openFile(path string) (*file, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	id, _, err := fileID(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &file{id: id, name: path, f: f, gz: strings.HasSuffix(path, ".gz")}, nil
}

// retained lists the files the daemon keeps for base (the live log and its
// rotations), oldest first. When a rotation exists both plain and
// compressed, the daemon is compressing it right now: the plain one is
// complete, the .gz may not be.
func retained(dir, base string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rot struct {
		n    int
		name string
	}
	plain := map[int]bool{}
	var rots []rot
	live := false
	for _, e := range ents {
		name := e.Name()
		if name == base {
			live = true
			continue
		}
		n := rotation(name, base)
		if n < 1 {
			continue
		}
		if !strings.HasSuffix(name, ".gz") {
			plain[n] = true
		}
		rots = append(rots, rot{n, name})
	}
	sort.Slice(rots, func(i, j int) bool { return rots[i].n > rots[j].n })
	var out []string
	for _, r := range rots {
		if strings.HasSuffix(r.name, ".gz") && plain[r.n] {
			continue
		}
		out = append(out, filepath.Join(dir, r.name))
	}
	if live {
		out = append(out, filepath.Join(dir, base))
	}
	return out, nil
}

// rotation is the number N of a rotation of base (base.N or base.N.gz),
// 0 for any other name.
func rotation(name, base string) int {
	rest, ok := strings.CutPrefix(name, base+".")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSuffix(rest, ".gz"))
	if err != nil || n < 1 {
		return 0
	}
	return n
}

// startSlack is how long before its first entry's time a rotation's file
// may seem to be created: the daemon creates it right after stamping that
// entry, but file times come from a coarse clock, up to a tick behind (10
// ms at HZ=100; 4 to 6 ms seen at HZ=250). A container's process logs later
// than that after the daemon opened its log (runc starts it: 300 to 600 ms
// seen on a loaded machine); one quicker only costs a gap reported in vain.
const startSlack = 50 * time.Millisecond

// startedLog reports that fl is the file the daemon opened when the
// container started, not one a rotation made: it was created well before
// its first entry was stamped (the container's process logs only after it
// started, while a rotation's file is created after the entry that did not
// fit the previous file was stamped). False when unsure: a .gz (created by
// the compression), a filesystem without birth times, no entry yet.
func startedLog(fl *file) bool {
	if fl.gz {
		return false
	}
	sc, err := fl.f.SyscallConn()
	if err != nil {
		return false
	}
	var stx unix.Statx_t
	var statErr error
	if err := sc.Control(func(fd uintptr) {
		statErr = unix.Statx(int(fd), "", unix.AT_EMPTY_PATH, unix.STATX_BTIME, &stx)
	}); err != nil || statErr != nil || stx.Mask&unix.STATX_BTIME == 0 {
		return false
	}
	first, ok := firstTS(fl)
	born := stx.Btime.Sec*int64(time.Second) + int64(stx.Btime.Nsec)
	return ok && born < first-int64(startSlack)
}

// source reads one file's entries from an offset.
type source struct {
	file *file
	r    io.Reader // the file, or its decompressed content
	off  int64     // offset of buf[start] in the (decompressed) content
	buf  []byte
	pos  int // first unconsumed byte in buf
	zr   *gzip.Reader
	// bufs lends read buffers: an idle reader gives its buffer back
	// (release), so quiet containers hold none. nil: buffers are made.
	bufs *sync.Pool
}

// readBuf is the size of a read buffer (grown for longer entries).
const readBuf = 64 << 10

// maxEntry bounds one json-file entry: 16 KiB of log escaped as \u00XX is
// under 100 KiB; anything far larger is not an entry the daemon wrote.
const maxEntry = 4 << 20

func newSource(fl *file, off int64, buf []byte) (*source, error) {
	// Readers of one file share its descriptor: each reads at its own
	// offset (pread), never through the descriptor's.
	s := &source{file: fl, buf: buf[:0]}
	if !fl.gz {
		s.r, s.off = io.NewSectionReader(fl.f, off, math.MaxInt64-off), off
		return s, nil
	}
	zr, err := gzip.NewReader(bufio.NewReaderSize(io.NewSectionReader(fl.f, 0, math.MaxInt64), 32<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fl.name, err)
	}
	s.zr, s.r = zr, zr
	if off > 0 {
		n, err := io.CopyN(io.Discard, zr, off)
		if err != nil {
			return nil, fmt.Errorf("%s: offset %d of %d: %w", fl.name, off, n, err)
		}
		s.off = off
	}
	return s, nil
}

// next returns the next complete entry (without '\n') and the offset after
// it; io.EOF when no complete entry is there yet.
func (s *source) next() ([]byte, int64, error) {
	for {
		if i := bytes.IndexByte(s.buf[s.pos:], '\n'); i >= 0 {
			line := s.buf[s.pos : s.pos+i]
			s.pos += i + 1
			return line, s.off + int64(s.pos), nil
		}
		if err := s.fill(); err != nil {
			return nil, 0, err
		}
	}
}

// fill reads more after compacting the buffer.
func (s *source) fill() error {
	if s.pos > 0 {
		n := copy(s.buf, s.buf[s.pos:])
		s.off += int64(s.pos)
		s.buf, s.pos = s.buf[:n], 0
	}
	if cap(s.buf) == 0 {
		s.buf = s.borrow()
	}
	if len(s.buf) == cap(s.buf) {
		if cap(s.buf) >= maxEntry {
			return fmt.Errorf("%s: entry at offset %d longer than %d bytes", s.file.name, s.off, maxEntry)
		}
		nb := make([]byte, len(s.buf), max(2*cap(s.buf), 64<<10))
		copy(nb, s.buf)
		s.buf = nb
	}
	n, err := s.r.Read(s.buf[len(s.buf):cap(s.buf)])
	s.buf = s.buf[:len(s.buf)+n]
	if n > 0 {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return io.EOF
	}
	return fmt.Errorf("%s: %w", s.file.name, err)
}

func (s *source) borrow() []byte {
	if s.bufs != nil {
		if b, ok := s.bufs.Get().(*[]byte); ok {
			return (*b)[:0]
		}
	}
	return make([]byte, 0, readBuf)
}

// release lends the buffer back when nothing read is pending: the entry
// last returned is no longer used (it is valid until the next call).
func (s *source) release() {
	if s.bufs == nil || cap(s.buf) == 0 || s.pending() > 0 {
		return
	}
	s.off += int64(s.pos)
	b := s.buf[:0]
	if cap(b) == readBuf {
		s.bufs.Put(&b)
	}
	s.buf, s.pos = nil, 0
}

// consumed is the offset after the last entry returned.
func (s *source) consumed() int64 { return s.off + int64(s.pos) }

// pending is how many bytes were read past the last complete entry.
func (s *source) pending() int { return len(s.buf) - s.pos }

// reset starts again at offset 0 (the daemon truncated the file:
// max-file=1 rotates in place).
func (s *source) reset() error {
	s.r = io.NewSectionReader(s.file.f, 0, math.MaxInt64)
	s.buf, s.pos, s.off = s.buf[:0], 0, 0
	return nil
}

// entryBefore returns the entry that ends at off in fl (the last one a
// saved position consumed): what tells a saved position from an inode the
// filesystem handed to a newer file.
func entryBefore(fl *file, off int64) ([]byte, error) {
	if off <= 0 {
		return nil, nil
	}
	if fl.gz {
		return gzEntryBefore(fl, off)
	}
	for w := int64(64 << 10); ; w *= 4 {
		from := max(off-w, 0)
		b := make([]byte, off-from)
		if _, err := fl.f.ReadAt(b, from); err != nil {
			return nil, err
		}
		if b[len(b)-1] != '\n' {
			return nil, errors.New("offset is not at an entry boundary")
		}
		if i := bytes.LastIndexByte(b[:len(b)-1], '\n'); i >= 0 {
			return b[i+1 : len(b)-1], nil
		}
		if from == 0 {
			return b[:len(b)-1], nil
		}
		if w > maxEntry {
			return nil, errors.New("no entry boundary before offset")
		}
	}
}

func gzEntryBefore(fl *file, off int64) ([]byte, error) {
	src, err := newSource(fl, 0, make([]byte, 0, 64<<10))
	if err != nil {
		return nil, err
	}
	defer src.zr.Close()
	var last []byte
	for {
		line, end, err := src.next()
		if err != nil {
			return nil, fmt.Errorf("offset %d past the content: %w", off, err)
		}
		if end == off {
			return append(last[:0], line...), nil
		}
		if end > off {
			return nil, errors.New("offset is not at an entry boundary")
		}
	}
}

// countEntries counts the entries of fl after off: lines lost when a
// file is let go unread.
func countEntries(fl *file, off int64) int64 {
	src, err := newSource(fl, off, make([]byte, 0, 64<<10))
	if err != nil {
		return 0
	}
	if src.zr != nil {
		defer src.zr.Close()
	}
	var n int64
	for {
		if err := src.fill(); err != nil {
			break
		}
		n += int64(bytes.Count(src.buf[src.pos:], []byte{'\n'}))
		src.pos = len(src.buf)
	}
	return n
}
