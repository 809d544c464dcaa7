package jsonfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Options configure a Log.
type Options struct {
	// Keep is how many files newer than the one being read are held open
	// while the reader lags: the daemon's max-file. Beyond that the oldest
	// unread file is let go and its entries counted in Lost (the daemon
	// deleted it too). Below 1 means 1.
	Keep int
	// Watcher wakes the reader when the log grows or rotates; nil for a
	// log that is only read to its end.
	Watcher *Watcher
	// Buffers lends read buffers (of readBuf bytes) to the logs of one
	// Source; nil: each log keeps its own.
	Buffers *sync.Pool
}

// Line is one log line: a json-file entry, or several joined (the daemon
// splits lines longer than 16 KiB into entries without '\n').
type Line struct {
	Stream byte
	TS     int64  // the first entry's time, Unix ns
	Data   []byte // without the final '\n'; valid until the next call
	Attrs  []byte // raw JSON object of --log-opt labels/env, or nil
	// Pos is where to resume so that this line is not read again.
	Pos Pos
	// Partial: Data does not end a line (a final line without '\n', or a
	// line cut at MaxLine).
	Partial bool
}

// MaxLine caps a joined line; the rest becomes a line of its own.
const MaxLine = 1 << 20

// Log reads one container's json-file log, following its rotations.
// It is used by one goroutine; the watcher only appends files and wakes it.
type Log struct {
	dir, base string
	opts      Options
	wake      chan struct{}

	stateChanged atomic.Bool
	readTS       atomic.Int64 // time of the newest entry read

	mu     sync.Mutex
	closed bool
	files  []*file // held open: [0] is being read, the rest newer, in order
	lost   int64   // entries of files let go unread, not yet reported
	// letGo: .gz files let go unread, their entries not counted yet:
	// counting decompresses the whole file, which the reader does (see
	// countLetGo) rather than the watcher, whose time every container's
	// rotations share (a watcher that falls behind misses files).
	letGo    []*file
	countDue atomic.Bool
	// dropped: first entry times of files let go unread (by the time, as a
	// .gz copy of one has another inode).
	dropped map[int64]bool
	// creates counts the live files the daemon created since Open, added
	// the files we took since: fewer added means one was missed.
	creates, added int
	// gap: the resume position's file was gone; entries between it and
	// the oldest retained file could not be counted.
	gap bool

	src     *source
	dec     decoder
	rec     Record
	part    [3]partial
	open    [3]Pos // per stream: before the first piece of a line not ended yet
	resume  Pos
	checked bool // EOF seen after a newer file appeared: the file is finished
}

type partial struct {
	data  []byte
	attrs []byte
	ts    int64
}

// ErrNoLogFile: the container has no log file (yet: the daemon creates it
// when the container starts).
var ErrNoLogFile = errors.New("no log file")

// Open holds the retained files of container id's log under
// containersDir open (the live log and its rotations) and, with a
// watcher, watches the directory first so no rotation falls in between.
// The reader starts at the oldest file; Seek or SeekTime move it.
func Open(containersDir, id string, opts Options) (*Log, error) {
	if opts.Keep < 1 {
		opts.Keep = 1
	}
	l := newLog(containersDir, id, opts)
	if opts.Watcher != nil {
		if err := opts.Watcher.add(l.dir, l); err != nil {
			return nil, err
		}
	}
	names, err := retained(l.dir, l.base)
	if err == nil && len(names) == 0 && opts.Watcher == nil {
		err = fmt.Errorf("%s: %w", l.dir, ErrNoLogFile)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	// Every retained file is held, whatever Keep says (the watcher may
	// already be trimming: under l.mu).
	l.mu.Lock()
	l.opts.Keep = max(l.opts.Keep, len(names))
	l.mu.Unlock()
	for _, name := range names {
		fl, err := openFile(name)
		if err != nil {
			continue // rotated away between the listing and the open
		}
		l.mu.Lock()
		l.appendFile(fl)
		l.mu.Unlock()
	}
	l.mu.Lock()
	none := len(l.files) == 0
	l.added = 0 // count from here on, as creates does
	l.mu.Unlock()
	if none && len(names) > 0 {
		l.Close()
		return nil, fmt.Errorf("%s: no readable log file", l.dir)
	}
	return l, nil
}

// newLog is container id's log holding no file yet.
func newLog(containersDir, id string, opts Options) *Log {
	return &Log{dir: filepath.Join(containersDir, id), base: id + "-json.log", opts: opts, wake: make(chan struct{}, 1)}
}

// Wake is signalled when the log may have grown.
func (l *Log) Wake() <-chan struct{} { return l.wake }

// Close lets every file go and stops watching.
func (l *Log) Close() {
	if l.opts.Watcher != nil {
		l.opts.Watcher.remove(l.dir, l)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fl := range append(l.files, l.letGo...) {
		fl.f.Close()
	}
	l.files, l.letGo, l.closed = nil, nil, true
	if l.src != nil && l.src.zr != nil {
		l.src.zr.Close()
	}
	l.src = nil
}

// appendFile adds a newer file, unless it is the newest already (l.mu held).
func (l *Log) appendFile(fl *file) bool {
	for _, have := range l.files {
		if have.id == fl.id {
			fl.f.Close()
			return false
		}
	}
	l.files = append(l.files, fl)
	l.added++
	l.trim()
	return true
}

// trim lets the oldest unread files go beyond Keep (l.mu held).
func (l *Log) trim() {
	// Hold at most Keep files beyond the one being read: the oldest unread
	// one goes, as the daemon's own copy did. Its entries are counted.
	for len(l.files) > l.opts.Keep+1 {
		gone := l.files[1]
		if ts, ok := firstTS(gone); ok {
			if l.dropped == nil {
				l.dropped = map[int64]bool{}
			}
			l.dropped[ts] = true // resync must not take it back
		}
		l.files = append(l.files[:1], l.files[2:]...)
		if gone.gz && len(l.letGo) < l.opts.Keep {
			// At most Keep held: a reader that does not come (a sink
			// that waits) must not hold deleted files on disk.
			l.letGo = append(l.letGo, gone)
			l.countDue.Store(true)
			continue
		}
		l.lost += countEntries(gone, 0)
		gone.f.Close()
	}
}

// countLetGo counts the entries of the files in letGo and closes them.
func (l *Log) countLetGo() {
	if !l.countDue.Load() || !l.countDue.Swap(false) {
		return
	}
	l.mu.Lock()
	gone := l.letGo
	l.letGo = nil
	l.mu.Unlock()
	var n int64
	for _, fl := range gone {
		n += countEntries(fl, 0)
		fl.f.Close()
	}
	l.mu.Lock()
	l.lost += n
	l.mu.Unlock()
}

// notify is called by the watcher for an event on the log's directory.
func (l *Log) notify(name []byte, created bool) {
	if string(name) == configName {
		l.stateChanged.Store(true)
		l.signal()
		return
	}
	if string(name) != l.base && name != nil {
		return
	}
	if created || name == nil {
		// A rotation made a new live file (or events were lost): hold it
		// now, before the daemon can rotate it away too.
		l.mu.Lock()
		if !l.closed {
			if created {
				l.creates++
			}
			l.takeRotations()
			if l.added < l.creates {
				// A file came and went (rotated past max-file) before we
				// could open it: its lines are lost, uncounted. Say so.
				l.gap = true
				l.added = l.creates
			}
		}
		l.mu.Unlock()
	}
	l.signal()
}

// takeRotations holds the files the daemon's rotations made (l.mu held).
// It may have rotated more than once before we looked: the files between
// are rotations now (.1, .1.gz). Then the live file, opened after them:
// the newest.
func (l *Log) takeRotations() {
	l.resync()
	if fl, err := openFile(filepath.Join(l.dir, l.base)); err == nil {
		l.appendFile(fl)
	}
}

// liveMoved reports that the live log is no longer the newest file held:
// a rotation the watcher has not handled yet.
func (l *Log) liveMoved() bool {
	var st unix.Stat_t
	if unix.Stat(filepath.Join(l.dir, l.base), &st) != nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.files) > 0 && l.files[len(l.files)-1].id.Ino != st.Ino
}

func (l *Log) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// configName is the daemon's record of a container (its state included),
// rewritten (temp file, rename) at every state change.
const configName = "config.v2.json"

// StateChanged reports, once, that the daemon rewrote the container's
// config since the last call: it may have stopped.
func (l *Log) StateChanged() bool { return l.stateChanged.Swap(false) }

// Running reads the container's state from the daemon's config.v2.json.
// The daemon records a stop only after its log copier has written the
// container's last entry (daemon: Reset waits for the copier), so a
// reader that finds the log at its end after that has read everything.
func (l *Log) Running() (bool, error) {
	b, err := os.ReadFile(filepath.Join(l.dir, configName))
	if err != nil {
		return false, err
	}
	var c struct {
		State struct{ Running bool }
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return false, fmt.Errorf("%s: %w", configName, err)
	}
	return c.State.Running, nil
}

// Lost returns how many entries were let go unread since the last call,
// and whether a resume point's file was gone (entries between it and the
// oldest retained file are lost uncounted).
func (l *Log) Lost() (int64, bool) {
	l.countLetGo()
	l.mu.Lock()
	defer l.mu.Unlock()
	n, gap := l.lost, l.gap
	l.lost, l.gap = 0, false
	return n, gap
}

// Seek moves the reader to p, exactly, and returns true when p's file is
// still retained and the entry ending at p.Off carries timestamp ts (a
// freed inode handed to a newer file fails that check). Otherwise it
// returns false and the caller falls back to SeekTime.
func (l *Log) Seek(p Pos, ts int64) (bool, error) {
	l.mu.Lock()
	idx := -1
	for i, fl := range l.files {
		if fl.id == p.File {
			idx = i
			break
		}
	}
	if idx < 0 {
		l.mu.Unlock()
		return false, nil
	}
	fl := l.files[idx]
	l.mu.Unlock()
	last, err := entryBefore(fl, p.Off)
	if err != nil {
		return false, nil //nolint:nilerr // not our file any more: fall back
	}
	if last != nil {
		var r Record
		var d decoder
		if d.decode(last, &r) != nil || r.TS != ts {
			return false, nil
		}
	}
	return true, l.startAt(idx, p.Off)
}

// SeekTime moves the reader to the newest file whose first entry is older
// than ts, so that every entry at or after ts is read (the caller skips the
// ones at or before its resume point). gap reports that the oldest file
// starts after ts: entries between may be gone (or there were none).
func (l *Log) SeekTime(ts int64) (gap bool, err error) {
	l.mu.Lock()
	files := append([]*file(nil), l.files...)
	l.mu.Unlock()
	idx := 0
	for i := len(files) - 1; i >= 0; i-- {
		first, ok := firstTS(files[i])
		if ok && first < ts {
			idx = i
			break
		}
		if i == 0 && ok && first > ts {
			gap = true
		}
	}
	return gap, l.startAt(idx, 0)
}

// olderMayBeGone reports, for a first read, that files older than the
// oldest one held may have been deleted before the open. The daemon deletes
// a file only when it rotates a full set (max-file files: the oldest is
// <base>.<max-file-1>), and none yet while the oldest of that set is the
// file it opened when the container started. With max-file 1 it truncates
// in place, which leaves no trace: false.
func (l *Log) olderMayBeGone(maxFile int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if maxFile < 2 || len(l.files) == 0 {
		return false
	}
	oldest := l.files[0]
	return rotation(filepath.Base(oldest.name), l.base) == maxFile-1 && !startedLog(oldest)
}

func firstTS(fl *file) (int64, bool) {
	src, err := newSource(fl, 0, make([]byte, 0, 16<<10))
	if err != nil {
		return 0, false
	}
	if src.zr != nil {
		defer src.zr.Close()
	}
	line, _, err := src.next()
	if err != nil {
		return 0, false
	}
	var r Record
	var d decoder
	if d.decode(line, &r) != nil {
		return 0, false
	}
	return r.TS, true
}

// startAt lets the files before idx go and reads files[idx] from off.
func (l *Log) startAt(idx int, off int64) error {
	l.mu.Lock()
	for _, fl := range l.files[:idx] {
		fl.f.Close()
	}
	l.files = append(l.files[:0], l.files[idx:]...)
	if len(l.files) == 0 {
		l.mu.Unlock()
		return nil // no file yet: Next starts at the first one
	}
	fl := l.files[0]
	l.mu.Unlock()
	var buf []byte
	if l.src != nil {
		buf = l.src.buf
		if l.src.zr != nil {
			l.src.zr.Close()
		}
	}
	src, err := newSource(fl, off, buf)
	if err != nil {
		return err
	}
	src.bufs = l.opts.Buffers
	l.src, l.checked, l.open = src, false, [3]Pos{}
	return nil
}

// Poll tells the watcher whether the log is read by polling (a busy log)
// or waits for the watcher's wake-ups (see Watcher.setPolling).
func (l *Log) Poll(polling bool) error {
	if l.opts.Watcher == nil {
		return nil
	}
	return l.opts.Watcher.setPolling(l.dir, l, polling)
}

// Idle is called before waiting for more: the read buffer is lent back
// while nothing is pending in it.
func (l *Log) Idle() {
	if l.src != nil {
		l.src.release()
	}
}

// Position is where the reader is: after the last entry it consumed.
func (l *Log) Position() Pos {
	if l.src == nil {
		return Pos{}
	}
	return Pos{File: l.src.file.id, Off: l.src.consumed()}
}

// Next returns the next complete line, joining the daemon's 16 KiB pieces;
// io.EOF when there is none yet (wait on Wake, or call Flush once the
// container has stopped).
func (l *Log) Next(out *Line) error {
	for {
		r, err := l.NextEntry()
		if err != nil {
			return err
		}
		if l.join(out, r) {
			return nil
		}
	}
}

// NextEntry returns the next entry as the daemon wrote it: a line ending
// in '\n' or a 16 KiB piece of one (valid until the next call); io.EOF when
// there is none yet. Resume tells where to start again after it.
func (l *Log) NextEntry() (*Record, error) {
	l.countLetGo()
	if l.src == nil {
		l.mu.Lock()
		none := len(l.files) == 0
		l.mu.Unlock()
		if none {
			return nil, io.EOF // the daemon has not created the file yet
		}
		if err := l.startAt(0, 0); err != nil {
			return nil, err
		}
	}
	for {
		line, end, err := l.src.next()
		if errors.Is(err, io.EOF) {
			if more, err := l.endOfFile(); err != nil || !more {
				if err == nil {
					err = io.EOF
				}
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		start := end - int64(len(line)) - 1
		if err := l.dec.decode(line, &l.rec); err != nil {
			if err := l.badEntry(start); err != nil {
				return nil, err
			}
			continue
		}
		id := l.src.file.id
		l.track(Pos{File: id, Off: start}, Pos{File: id, Off: end})
		if l.rec.TS > l.readTS.Load() {
			l.readTS.Store(l.rec.TS)
		}
		return &l.rec, nil
	}
}

// track sets the resume position after an entry: right after it, unless
// another stream has a line open (pieces read, its '\n' not yet): then
// before that line's first piece, which a resume must read again
// (at-least-once for lines longer than 16 KiB interleaved across streams).
func (l *Log) track(start, end Pos) {
	r := &l.rec
	if len(r.Log) > 0 && r.Log[len(r.Log)-1] == '\n' {
		l.open[r.Stream] = Pos{}
	} else if l.open[r.Stream].IsZero() {
		l.open[r.Stream] = start
	}
	l.resume = end
	for s, o := range l.open {
		if byte(s) != r.Stream && o.File == end.File && !o.IsZero() && o.Off < l.resume.Off {
			l.resume = o
		}
	}
}

// Resume is where to start again so that nothing after the last entry
// returned is missed.
func (l *Log) Resume() Pos { return l.resume }

// join adds the entry to its stream's partial line, and fills out when a
// line is complete.
func (l *Log) join(out *Line, r *Record) bool {
	s := r.Stream
	p := &l.part[s]
	complete := len(r.Log) > 0 && r.Log[len(r.Log)-1] == '\n'
	if len(p.data) == 0 && complete {
		l.fill(out, s, r.TS, r.Log[:len(r.Log)-1], r.Attrs, false)
		return true
	}
	if len(p.data) == 0 {
		p.ts = r.TS
		p.attrs = append(p.attrs[:0], r.Attrs...)
	}
	p.data = append(p.data, r.Log...)
	switch {
	case complete:
		l.fill(out, s, p.ts, p.data[:len(p.data)-1], p.attrs, false)
	case len(p.data) >= MaxLine:
		l.fill(out, s, p.ts, p.data, p.attrs, true)
	default:
		return false
	}
	p.data = p.data[:0]
	return true
}

func (l *Log) fill(out *Line, stream byte, ts int64, data, attrs []byte, partial bool) {
	*out = Line{Stream: stream, TS: ts, Data: data, Attrs: attrs, Pos: l.resume, Partial: partial}
}

// Flush returns a pending partial line (a container's final line without
// '\n'); call it after Next returned io.EOF for a stopped container.
func (l *Log) Flush(out *Line) bool {
	for s := range l.part {
		p := &l.part[s]
		if len(p.data) > 0 {
			l.fill(out, byte(s), p.ts, p.data, p.attrs, true)
			p.data = p.data[:0]
			return true
		}
	}
	return false
}

// endOfFile is reached in the file being read: move to the next file when
// this one is finished (a newer one exists and a second read found nothing
// more: the daemon renames a file only after its last write), or notice a
// truncation. more: try reading again.
func (l *Log) endOfFile() (more bool, err error) {
	l.mu.Lock()
	newer := len(l.files) > 1
	l.mu.Unlock()
	if !newer && !l.src.file.gz && l.liveMoved() {
		// Rotated, and the watcher has not caught up: take the new files
		// now rather than wait (a file rotated away before anyone opened
		// it is lost).
		l.mu.Lock()
		if !l.closed {
			l.takeRotations()
		}
		newer = len(l.files) > 1
		l.mu.Unlock()
	}
	if !newer {
		return false, l.checkTruncated()
	}
	if !l.checked {
		l.checked = true
		return true, nil
	}
	if n := l.src.pending(); n > 0 {
		// A torn last entry in a finished file: not a line the daemon wrote whole.
		l.mu.Lock()
		l.lost++
		l.mu.Unlock()
	}
	return true, l.startAt(1, 0)
}

// checkTruncated notices the live file shrinking under the reader: with
// max-file=1 the daemon rotates by truncating in place.
func (l *Log) checkTruncated() error {
	if l.src.file.gz {
		return nil
	}
	_, size, err := fileID(l.src.file.f)
	if err != nil {
		return err
	}
	if size >= l.src.consumed()+int64(l.src.pending()) {
		return nil
	}
	l.mu.Lock()
	l.gap = true
	l.mu.Unlock()
	return l.src.reset()
}

// badEntry handles a line that is no json-file entry. With max-file=1 the
// daemon truncates the live file in place, and a reader that fell behind
// finds new content under its old offset: when the line did not start
// after a '\n', that is what happened, and reading starts again at 0.
// Otherwise the entry is skipped and counted lost.
func (l *Log) badEntry(start int64) error {
	var b [1]byte
	l.mu.Lock()
	live := len(l.files) == 1 && !l.src.file.gz
	l.mu.Unlock()
	if live && start > 0 {
		if _, err := l.src.file.f.ReadAt(b[:], start-1); err == nil && b[0] != '\n' {
			l.mu.Lock()
			l.gap = true
			l.mu.Unlock()
			return l.src.reset()
		}
	}
	l.mu.Lock()
	l.lost++
	l.mu.Unlock()
	return nil
}

// resync picks up rotations made while the watcher was not looking: every
// retained file newer than the one being read and not held yet (by its
// first entry's time: a .gz holds the same content as the plain file it
// was made from) is held, in order (l.mu held).
func (l *Log) resync() {
	// A rotation under way renames files while they are listed and opened:
	// when a listed file is gone, look again.
	for range 3 {
		if l.resyncOnce() {
			break
		}
	}
	l.trim()
}

// resyncOnce is one pass of resync; false when a listed file was gone.
func (l *Log) resyncOnce() bool {
	names, err := retained(l.dir, l.base)
	if err != nil || len(l.files) == 0 {
		return true
	}
	complete := true
	firsts := make([]int64, len(l.files))
	for i, fl := range l.files {
		firsts[i], _ = firstTS(fl)
	}
	for ts := range l.dropped {
		if ts <= firsts[0] {
			delete(l.dropped, ts) // older than the file being read: skipped anyway
		}
	}
	for _, name := range names {
		fl, err := openFile(name)
		if err != nil {
			complete = false
			continue
		}
		ts, ok := firstTS(fl)
		at := l.insertAt(fl, ts, ok, firsts)
		if at < 0 {
			fl.f.Close()
			continue
		}
		l.files = append(l.files[:at], append([]*file{fl}, l.files[at:]...)...)
		firsts = append(firsts[:at], append([]int64{ts}, firsts[at:]...)...)
		l.added++
	}
	return complete
}

// insertAt is where fl goes among the held files, or -1 when it is held
// already or older than the file being read.
func (l *Log) insertAt(fl *file, ts int64, ok bool, firsts []int64) int {
	if !ok || ts <= firsts[0] || ts <= l.readTS.Load() || l.dropped[ts] {
		return -1 // read already (the file being read may have no entry yet)
	}
	for i, have := range l.files {
		if have.id == fl.id || firsts[i] == ts {
			return -1
		}
	}
	for i := 1; i < len(firsts); i++ {
		// A held file with no entry yet is the new live one: newer.
		if firsts[i] == 0 || ts < firsts[i] {
			return i
		}
	}
	return len(l.files)
}

// holds reports whether l holds the file id.
func (l *Log) holds(id FileID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, fl := range l.files {
		if fl.id == id {
			return true
		}
	}
	return false
}

// filesFrom returns copies (own descriptors) of the files l holds from
// the file id on, oldest first; nil when l does not hold id.
func (l *Log) filesFrom(id FileID) []*file {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, fl := range l.files {
		if fl.id != id {
			continue
		}
		var out []*file
		for _, g := range l.files[i:] {
			if d, err := g.dup(); err == nil {
				out = append(out, d)
			}
		}
		return out
	}
	return nil
}

// prepend adds older files before the ones l holds (those it holds
// already are dropped), and keeps them all.
func (l *Log) prepend(files []*file) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var older []*file
	for _, fl := range files {
		held := false
		for _, have := range l.files {
			held = held || have.id == fl.id
		}
		if held {
			fl.f.Close()
			continue
		}
		older = append(older, fl)
	}
	l.files = append(older, l.files...)
	l.opts.Keep = max(l.opts.Keep, len(l.files)-1)
}
