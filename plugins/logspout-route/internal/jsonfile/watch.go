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
	dir  string
	logs []*Log
}

const watchMask = unix.IN_MODIFY | unix.IN_CREATE | unix.IN_MOVED_TO

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
		w.wds[wd].logs = append(w.wds[wd].logs, l)
		return nil
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
	w.wds[int32(wd)] = &watch{dir: dir, logs: []*Log{l}}
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
	if len(wt.logs) > 0 {
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
