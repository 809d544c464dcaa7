package jsonfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Watcher is the one inotify instance of the process (instances are few:
// 128 per user by default, and dockerd holds one per API log follower). It
// watches container directories, not files: a directory watch sees the
// live log being written, renamed and created again at each rotation.
// While nothing is written it costs nothing.
type Watcher struct {
	f *os.File

	mu   sync.Mutex
	wds  map[int32]*watch
	dirs map[string]int32
}

type watch struct {
	dir     string
	logs    []*Log
	polling map[*Log]bool // logs read by polling: they need no IN_MODIFY
	mask    uint32        // the watch's mask now
}

// Masks of a directory watch: every event we use, and the one for a
// directory whose logs all poll. dockerd's write to a watched file costs
// it an inotify event (queued, merged, the reader woken) on every line;
// a busy log is polled instead (see Follower.wait), and only its rotations
// (a new file, a renamed one) and the container's state file are watched.
const (
	watchMask   = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO
	pollingMask = unix.IN_CREATE | unix.IN_MOVED_TO
)

// coalesce is the watcher's pause after a batch of events that only told
// of writes: the kernel merges a file's repeated IN_MODIFY events while
// nobody reads them, so a busy log costs one read per pause instead of one
// per line the daemon writes. A rotation is passed on without a pause;
// idle, there are no events and no pauses.
const coalesce = 2 * time.Millisecond

// NewWatcher starts the inotify instance and its reader goroutine; Close
// ends both.
func NewWatcher() (*Watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// Non-blocking: the runtime poller waits for events, and Close wakes
	// a pending Read.
	w := &Watcher{f: os.NewFile(uintptr(fd), "inotify"), wds: map[int32]*watch{}, dirs: map[string]int32{}}
	go w.run()
	return w, nil
}

// Close stops the watcher.
func (w *Watcher) Close() error { return w.f.Close() }

func (w *Watcher) add(dir string, l *Log) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wd, ok := w.dirs[dir]; ok {
		wt := w.wds[wd]
		wt.logs = append(wt.logs, l)
		return w.setMask(wt) // l waits for writes: IN_MODIFY again
	}
	sc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var wd int
	var addErr error
	if err := sc.Control(func(fd uintptr) { wd, addErr = unix.InotifyAddWatch(int(fd), dir, watchMask) }); err != nil {
		return err
	}
	if addErr != nil {
		return fmt.Errorf("inotify watch %s: %w", dir, addErr)
	}
	w.dirs[dir] = int32(wd) //nolint:gosec // inotify descriptors are int32 in events
	w.wds[int32(wd)] = &watch{dir: dir, logs: []*Log{l}, mask: watchMask}
	return nil
}

// setPolling records whether l, watching dir, reads its log by polling, and
// gives the directory's watch the mask its logs need: IN_MODIFY only while
// one of them waits for writes. Taking IN_MODIFY back is done before the
// caller reads once more, so no write goes unnoticed.
func (w *Watcher) setPolling(dir string, l *Log, polling bool) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	wt := w.wds[w.dirs[dir]]
	if wt == nil {
		return nil
	}
	if polling {
		if wt.polling == nil {
			wt.polling = map[*Log]bool{}
		}
		wt.polling[l] = true
	} else {
		delete(wt.polling, l)
	}
	return w.setMask(wt)
}

// setMask changes wt's mask to what its logs need (w.mu held).
func (w *Watcher) setMask(wt *watch) error {
	mask := uint32(watchMask)
	if len(wt.polling) == len(wt.logs) {
		mask = pollingMask
	}
	if mask == wt.mask {
		return nil
	}
	sc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	var addErr error
	// On a watched directory, inotify_add_watch replaces the mask and
	// returns the same descriptor.
	if err := sc.Control(func(fd uintptr) { _, addErr = unix.InotifyAddWatch(int(fd), wt.dir, mask) }); err != nil {
		return err
	}
	if addErr != nil {
		return fmt.Errorf("inotify watch %s: %w", wt.dir, addErr)
	}
	wt.mask = mask
	return nil
}

func (w *Watcher) remove(dir string, l *Log) {
	w.mu.Lock()
	defer w.mu.Unlock()
	wd, ok := w.dirs[dir]
	if !ok {
		return
	}
	wt := w.wds[wd]
	for i, have := range wt.logs {
		if have == l {
			wt.logs = append(wt.logs[:i], wt.logs[i+1:]...)
			break
		}
	}
	delete(wt.polling, l)
	if len(wt.logs) > 0 {
		_ = w.setMask(wt) // every log left may poll: IN_MODIFY goes (a failure only leaves events)
		return
	}
	delete(w.dirs, dir)
	delete(w.wds, wd)
	if sc, err := w.f.SyscallConn(); err == nil {
		_ = sc.Control(func(fd uintptr) { _, _ = unix.InotifyRmWatch(int(fd), uint32(wd)) }) //nolint:gosec // wd came from InotifyAddWatch
	}
}

// Watched is how many directories are watched.
func (w *Watcher) Watched() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.dirs)
}

func (w *Watcher) run() {
	buf := make([]byte, 64<<10)
	var logs []*Log
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			continue
		}
		var rotated bool
		if logs, rotated = w.dispatchAll(buf[:n], logs); !rotated {
			time.Sleep(coalesce)
		}
	}
}

// dispatchAll hands each event of one read to its logs; rotated: one of
// them told of a new file (or of lost events).
func (w *Watcher) dispatchAll(p []byte, logs []*Log) ([]*Log, bool) {
	rotated := false
	for len(p) >= unix.SizeofInotifyEvent {
		ev := (*unix.InotifyEvent)(unsafe.Pointer(&p[0]))
		end := unix.SizeofInotifyEvent + int(ev.Len)
		if end > len(p) {
			break
		}
		name := p[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		logs = w.dispatch(ev.Wd, ev.Mask, name, logs[:0])
		rotated = rotated || ev.Mask&(unix.IN_CREATE|unix.IN_MOVED_TO|unix.IN_Q_OVERFLOW) != 0
		p = p[end:]
	}
	return logs, rotated
}

// dispatch hands one event to the logs watching its directory. After a
// queue overflow every log checks for a new live file.
func (w *Watcher) dispatch(wd int32, mask uint32, name []byte, logs []*Log) []*Log {
	w.mu.Lock()
	if mask&unix.IN_Q_OVERFLOW != 0 {
		for _, wt := range w.wds {
			logs = append(logs, wt.logs...)
		}
		name = nil
	} else if wt := w.wds[wd]; wt != nil {
		logs = append(logs, wt.logs...)
	}
	w.mu.Unlock()
	created := mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0
	for _, l := range logs {
		l.notify(name, created)
	}
	return logs
}
