package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// pollUnix: unix DOCKER_HOSTs use dialDockerUnix.
const pollUnix = true

// dialDockerUnix connects to the daemon's unix socket
// outside Go's netpoller. dockerd writes (and flushes) every log entry of a
// followed stream on its own; with the socket in epoll, each of those
// writes woke the runtime's idle thread (epoll_pwait, a context switch)
// whether or not a goroutine waited on it: at 100k+ lines/s that wakeup per
// line was most of our CPU. This connection's reads never block: a read
// that finds nothing sleeps and tries again (polledConn), so what dockerd
// writes meanwhile is taken in one read, and an idle stream holds neither
// a thread nor an epoll registration.
func dialDockerUnix(ctx context.Context, path string) (net.Conn, error) {
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
	return &polledConn{fd: fd, raddr: addr}, nil
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
}

// io runs op until it moves bytes or fails, sleeping while it would block.
func (c *polledConn) io(op func(fd int) (int, error)) (int, error) {
	wait := pollMin
	for {
		c.mu.RLock()
		if c.closed {
			c.mu.RUnlock()
			return 0, net.ErrClosed
		}
		n, err := op(c.fd)
		c.mu.RUnlock()
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
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
	n, err := c.io(func(fd int) (int, error) { return unix.Read(fd, p) })
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
		n, err := c.io(func(fd int) (int, error) { return unix.Write(fd, p[done:]) })
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
	return unix.Close(c.fd)
}

func (c *polledConn) LocalAddr() net.Addr              { return &net.UnixAddr{Net: "unix"} }
func (c *polledConn) RemoteAddr() net.Addr             { return c.raddr }
func (c *polledConn) SetDeadline(time.Time) error      { return nil }
func (c *polledConn) SetReadDeadline(time.Time) error  { return nil }
func (c *polledConn) SetWriteDeadline(time.Time) error { return nil }
