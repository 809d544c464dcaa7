package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// pollUnix: unix DOCKER_HOSTs use dialDockerUnix.
const pollUnix = true

// dialDockerUnix connects to the daemon's unix socket outside Go's
// netpoller. dockerd writes (and flushes) every log entry of a followed
// stream on its own; with the socket in epoll, each of those writes woke
// the runtime's idle thread (epoll_pwait, a context switch) whether or not
// a goroutine waited on it: at 100k+ lines/s that wakeup per line was most
// of our CPU. So a busy connection polls: a read that finds nothing sleeps
// and tries again (polledConn), and what dockerd writes meanwhile is taken
// in one read. A connection that stays empty for a while (~60 ms of
// doubling sleeps) parks on w, one epoll set shared by every idle
// connection and waited on by one goroutine: an idle host wakes us only
// when a line comes.
func dialDockerUnix(ctx context.Context, path string, w *idleWaiter) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Non-blocking after connect: a unix connect completes at once or fails
	// (EAGAIN only when the daemon's backlog is full, reported as an error).
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	addr := &net.UnixAddr{Name: path, Net: "unix"}
	if err := unix.Connect(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return nil, &net.OpError{Op: "dial", Net: "unix", Addr: addr, Err: os.NewSyscallError("connect", err)}
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dial %s: %w", path, err)
	}
	return &polledConn{fd: fd, raddr: addr, idle: w}, nil
}

// Polling intervals: the first retry after an empty read comes soon (a
// busy stream gets ~1 ms of lines per read), later ones back off to
// pollMax while the stream stays idle (the latency of an idle stream's
// next line).
const (
	pollMin = time.Millisecond
	pollMax = 50 * time.Millisecond
)

// polledConn is a net.Conn over a non-blocking socket that is not in the
// netpoller. Close ends a read or write waiting in another goroutine at its
// next poll (the HTTP transport closes the connection when a request's
// context ends). It has no deadlines: the transport sets none on plain
// HTTP/1, and every daemon call here is bounded by its context instead.
type polledConn struct {
	mu     sync.RWMutex // read-held around each syscall; Close takes it to close fd
	fd     int
	closed bool
	raddr  net.Addr
	idle   *idleWaiter  // nil: never park, poll at pollMax
	tries  atomic.Int64 // read and write syscalls (tests count the idle ones)
}

// io runs op until it moves bytes or fails, sleeping while it would block.
func (c *polledConn) io(op func(fd int) (int, error), read bool) (int, error) {
	wait := pollMin
	for {
		c.mu.RLock()
		if c.closed {
			c.mu.RUnlock()
			return 0, net.ErrClosed
		}
		n, err := op(c.fd)
		c.mu.RUnlock()
		c.tries.Add(1)
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			if read && wait >= pollMax && c.idle != nil {
				if c.idle.park(c) {
					wait = pollMin
					continue
				}
			}
			time.Sleep(wait)
			wait = min(2*wait, pollMax)
			continue
		}
		return 0, err
	}
}

func (c *polledConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, err := c.io(func(fd int) (int, error) { return unix.Read(fd, p) }, true)
	if err != nil {
		return 0, &net.OpError{Op: "read", Net: "unix", Addr: c.raddr, Err: err}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

func (c *polledConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := c.io(func(fd int) (int, error) { return unix.Write(fd, p[done:]) }, false)
		if err != nil {
			return done, &net.OpError{Op: "write", Net: "unix", Addr: c.raddr, Err: err}
		}
		done += n
	}
	return done, nil
}

func (c *polledConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return net.ErrClosed
	}
	c.closed = true
	if c.idle != nil {
		c.idle.forget(c.fd) // wakes a read parked on it
	}
	return unix.Close(c.fd)
}

// idleWaiter is one epoll set for the idle connections of a client, waited
// on by one goroutine (started on first use; it lives as long as the
// process, one blocked thread). A parked read registers its descriptor
// (one-shot) and sleeps on a channel until the descriptor is readable or
// closed.
type idleWaiter struct {
	once    sync.Once
	started atomic.Bool // epfd is set
	epfd    int
	err     error
	mu      sync.Mutex
	parked  map[int]chan struct{}
}

func newIdleWaiter() *idleWaiter { return &idleWaiter{parked: map[int]chan struct{}{}} }

func (w *idleWaiter) start() {
	w.epfd, w.err = unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if w.err != nil {
		return
	}
	w.started.Store(true)
	go w.loop()
}

func (w *idleWaiter) loop() {
	events := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		w.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			if ch, ok := w.parked[int(ev.Fd)]; ok {
				delete(w.parked, int(ev.Fd))
				close(ch)
			}
		}
		w.mu.Unlock()
	}
}

// park waits until c's descriptor is readable (or c is closed). false: no
// epoll here; the caller keeps polling.
func (w *idleWaiter) park(c *polledConn) bool {
	w.once.Do(w.start)
	if w.err != nil {
		return false
	}
	ch := make(chan struct{})
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return true // the caller sees closed
	}
	fd := c.fd
	w.mu.Lock()
	w.parked[fd] = ch
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
	err := unix.EpollCtl(w.epfd, unix.EPOLL_CTL_MOD, fd, &ev)
	if errors.Is(err, unix.ENOENT) {
		err = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, fd, &ev)
	}
	if err != nil {
		delete(w.parked, fd)
	}
	w.mu.Unlock()
	c.mu.RUnlock()
	if err != nil {
		return false
	}
	<-ch
	return true
}

// forget drops fd (about to be closed) and wakes its parked read.
func (w *idleWaiter) forget(fd int) {
	if !w.started.Load() {
		return // never used
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if ch, ok := w.parked[fd]; ok {
		delete(w.parked, fd)
		close(ch)
	}
}

func (c *polledConn) LocalAddr() net.Addr              { return &net.UnixAddr{Net: "unix"} }
func (c *polledConn) RemoteAddr() net.Addr             { return c.raddr }
func (c *polledConn) SetDeadline(time.Time) error      { return nil }
func (c *polledConn) SetReadDeadline(time.Time) error  { return nil }
func (c *polledConn) SetWriteDeadline(time.Time) error { return nil }
