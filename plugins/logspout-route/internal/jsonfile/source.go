package jsonfile

import (
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// linger is how long a follower woken by new data waits before reading
// it, so that one read takes what the daemon wrote meanwhile (a busy log
// is read in batches, not a line per wake-up; 5 ms at most of latency).
const linger = 5 * time.Millisecond

// busyEntries: a follower that read this many entries since its last wait
// polls (reads again after linger, without waiting for the watcher) until a
// poll finds fewer: at 6,400 lines/s and more, the inotify event each write
// costs the daemon is worth saving; below that, wake-ups are cheaper than
// polls.
const busyEntries = 32

// Source opens containers' json-file logs under Dir (the daemon's
// <DockerRootDir>/containers, mounted read-only).
type Source struct {
	Dir     string
	Watcher *Watcher
	// OnLost is told of entries let go unread (n) and of positions whose
	// file was gone (gap: the entries in between could not be counted).
	OnLost func(id string, n int64, gap bool)

	bufs sync.Pool // read buffers lent to the logs (see Log.Idle)
	mu   sync.Mutex
	open map[string][]*Log // per container, the logs being read
	read sync.Map          // container ids read from files (LogsSource)
}

// Readable reports whether container id's live log can be opened, or
// will be: a container created and not started yet has its directory but
// no log file (the daemon creates it at the start), and is read from the
// file once there, not through the Engine API for the rest of its life.
func (s *Source) Readable(id string) bool {
	f, err := os.Open(LogPath(s.Dir, id))
	if err == nil {
		f.Close()
		return true
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	d, err := os.Open(filepath.Join(s.Dir, id))
	if err != nil {
		return false
	}
	defer d.Close()
	_, err = d.Readdirnames(1)
	return err == nil
}

// maxFile is the container's max-file log option from the daemon's
// hostconfig.json (1 when unset, as the daemon's default).
func (s *Source) maxFile(id string) int {
	b, err := os.ReadFile(filepath.Join(s.Dir, id, "hostconfig.json"))
	if err != nil {
		return 1
	}
	var hc struct {
		LogConfig struct{ Config map[string]string }
	}
	if json.Unmarshal(b, &hc) != nil {
		return 1
	}
	n, err := strconv.Atoi(hc.LogConfig.Config["max-file"])
	if err != nil || n < 1 {
		return 1
	}
	return n
}

// Open reads container id's log after from: exactly when from's file is
// still there and ends an entry stamped fromNS, else from the first file
// holding fromNS (every entry stamped fromNS included; the caller skips
// what it delivered). A zero from and fromNS read everything retained.
// With follow it waits for new entries until done is closed or the
// container stops.
func (s *Source) Open(done <-chan struct{}, id string, from Pos, fromNS int64, follow bool) (*Follower, error) {
	opts := Options{Keep: s.maxFile(id), Buffers: &s.bufs}
	if follow {
		opts.Watcher = s.Watcher
	}
	l, err := Open(s.Dir, id, opts)
	if errors.Is(err, ErrNoLogFile) {
		// Created, never started: nothing to read, as the Engine API says.
		l, err = newLog(s.Dir, id, opts), nil
	}
	if err != nil {
		return nil, err
	}
	f := &Follower{l: l, id: id, src: s, follow: follow, done: done, checkState: true}
	s.track(id, l, true)
	if !from.IsZero() && !l.holds(from.File) {
		// A second reader of the container (a lagging route's) starting
		// where the first one is: that reader may hold files the daemon
		// has deleted since. Share them.
		s.borrow(id, l, from.File)
	}
	if !from.IsZero() {
		if f.exact, err = l.Seek(from, fromNS); err != nil {
			f.Close()
			return nil, err
		}
	}
	if !f.exact && fromNS > 0 {
		gap, err := l.SeekTime(fromNS)
		if err != nil {
			f.Close()
			return nil, err
		}
		// The oldest retained entry is newer than fromNS: entries may have
		// been rotated away before this open. A saved position's file is
		// gone, so they may; a first read (from the container's creation or
		// our start) finds that for every container, and may only have
		// missed files the daemon deleted.
		f.resumeGap = gap && (!from.IsZero() || l.olderMayBeGone(opts.Keep))
	}
	return f, nil
}

// Follower yields one container's entries in order.
type Follower struct {
	l          *Log
	id         string
	src        *Source
	follow     bool
	done       <-chan struct{}
	exact      bool
	checkState bool
	stopped    bool
	resumeGap  bool
	quiet      bool  // lost entries are not counted (CountLost)
	skip       int64 // entries still to skip (keepLast)
	timer      *time.Timer
	read       int  // entries returned since the last wait
	polling    bool // busy: read again after linger, no wake-ups (see wait)
}

// ErrDone is returned by Next when done was closed.
var ErrDone = errors.New("reader closed")

// Exact reports that reading started right after the position given to
// Open: no entry stamped at that time is read again.
func (f *Follower) Exact() bool { return f.exact }

// Resume is where to start again after the last entry Next returned.
func (f *Follower) Resume() Pos { return f.l.Resume() }

// keepLast skips all but the last n entries retained now (logspout's TAIL
// on a first attach).
func (f *Follower) keepLast(n int) {
	f.l.mu.Lock()
	files := append([]*file(nil), f.l.files...)
	f.l.mu.Unlock()
	var total int64
	for _, fl := range files {
		total += countEntries(fl, 0)
	}
	f.skip = max(total-int64(n), 0)
}

// Next returns the next entry: stream, time, and its log text (a line
// with its '\n' or a piece of one), valid until the next call. io.EOF at
// the end: without follow the log's current end, with follow once the
// container has stopped and its last entry is read.
func (f *Follower) Next() (byte, int64, []byte, error) {
	for {
		r, err := f.l.NextEntry()
		if err == nil && f.skip > 0 {
			f.skip--
			continue
		}
		if err == nil {
			f.read++
			return r.Stream, r.TS, r.Log, nil
		}
		if !errors.Is(err, io.EOF) {
			return 0, 0, nil, err
		}
		f.reportLost()
		if !f.follow || f.stopped {
			return 0, 0, nil, io.EOF
		}
		if f.checkState || f.l.StateChanged() {
			f.checkState = false
			if !f.running() {
				f.stopped = true
				continue // read once more: the daemon wrote the last entry before the stop
			}
		}
		if err := f.wait(); err != nil {
			return 0, 0, nil, err
		}
	}
}

// wait blocks until the log may have grown, then lingers a moment. A busy
// log (busyEntries read since the last wait) is polled: it lingers and
// reads again, and the watcher stops telling of its writes. When a poll
// finds less, the watcher is told first, then the log is read once more
// before waiting for wake-ups: a write in between is read or woken for.
func (f *Follower) wait() error {
	busy := f.read >= busyEntries
	f.read = 0
	if busy != f.polling {
		if err := f.l.Poll(busy); err != nil {
			busy = true // the watch's mask is not known: polling misses nothing
		} else {
			f.polling = busy
			if !busy {
				return nil
			}
		}
	}
	if !busy {
		f.l.Idle()
		select {
		case <-f.l.Wake():
		case <-f.done:
			return ErrDone
		}
	}
	return f.linger()
}

// linger waits a moment, so that one read takes what came meanwhile.
func (f *Follower) linger() error {
	if f.timer == nil {
		f.timer = time.NewTimer(linger)
	} else {
		f.timer.Reset(linger)
	}
	select {
	case <-f.timer.C:
		return nil
	case <-f.done:
		return ErrDone
	}
}

// running is false once the daemon recorded the container stopped (or its
// directory is gone).
func (f *Follower) running() bool {
	run, err := f.l.Running()
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	return err != nil || run
}

// CountLost sets whether entries let go unread are reported to OnLost
// (on when opened). Turning it off reports those let go until then; those
// let go while it is off are dropped: another reader reads or counts them.
func (f *Follower) CountLost(on bool) {
	if !on && !f.quiet {
		f.reportLost()
	}
	if on && f.quiet {
		f.l.Lost()
		f.resumeGap = false
	}
	f.quiet = !on
}

func (f *Follower) reportLost() {
	n, gap := f.l.Lost()
	gap = gap || f.resumeGap
	f.resumeGap = false
	if f.quiet {
		return
	}
	if (n > 0 || gap) && f.src.OnLost != nil {
		f.src.OnLost(f.id, n, gap)
	}
}

// Close releases the files and the watch.
func (f *Follower) Close() error {
	if f.timer != nil {
		f.timer.Stop()
	}
	f.reportLost()
	f.src.track(f.id, f.l, false)
	f.l.Close()
	return nil
}

// track adds (or removes) a log being read.
func (s *Source) track(id string, l *Log, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open == nil {
		s.open = map[string][]*Log{}
	}
	logs := s.open[id]
	for i, have := range logs {
		if have == l {
			logs = append(logs[:i], logs[i+1:]...)
			break
		}
	}
	if add {
		logs = append(logs, l)
	}
	if len(logs) == 0 {
		delete(s.open, id)
	} else {
		s.open[id] = logs
	}
}

// borrow gives l copies of the files another reader of id holds from the
// file fid on.
func (s *Source) borrow(id string, l *Log, fid FileID) {
	s.mu.Lock()
	others := append([]*Log(nil), s.open[id]...)
	s.mu.Unlock()
	for _, o := range others {
		if o == l {
			continue
		}
		if files := o.filesFrom(fid); len(files) > 0 {
			l.prepend(files)
			return
		}
	}
}
