package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"context"

	"github.com/lightship-ci/lightship/pkg/testkit/logsink"
)

// stalledSink accepts connections with a tiny receive window and reads
// nothing until release: a sink that hangs.
type stalledSink struct {
	ln    net.Listener
	mu    sync.Mutex
	conns []net.Conn
	lines [][]byte
}

func startStalledSink(t *testing.T) *stalledSink {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &stalledSink{ln: ln}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	return s
}

// release starts reading every connection.
func (s *stalledSink) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		go func() {
			r := bufio.NewReader(c)
			for {
				l, err := r.ReadBytes('\n')
				if err != nil {
					return
				}
				s.mu.Lock()
				s.lines = append(s.lines, l)
				s.mu.Unlock()
			}
		}()
	}
}

func (s *stalledSink) Lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.lines...)
}

func TestHungRouteNeverHoldsBackTheOthers(t *testing.T) {
	r := newTestRun(t)
	alive, err := logsink.StartTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	hung := startStalledSink(t)
	p := startInProcess(t, map[string]string{
		"ROUTE_URIS":    routeURI("raw+tcp", alive.Addr(), r.filter()) + "," + routeURI("raw+tcp", hung.ln.Addr().String(), r.filter()),
		"QUEUE_SIZE":    "200",
		"WRITE_TIMEOUT": "5m",
	})
	waitHealthy(t, p.addr)
	const n = 50000
	r.start("iso", nil, "-n", fmt.Sprint(n), "-size", "200", "-prefix", r.prefix("iso"))
	lines := waitLines(alive, 90*time.Second, func(l [][]byte) bool { return len(l) >= n })
	if missing, dup := logsink.Check(logsink.SeqCounts(lines, r.prefix("iso")), n); len(missing)+len(dup) > 0 {
		t.Fatalf("live route while the other hangs: missing %v duplicated %v", missing, dup)
	}
	if got := len(hung.Lines()); got != 0 {
		t.Fatalf("the hung sink read %d lines before release", got)
	}
	// The hung route's queue filled: it got its own reader of the container.
	_, metrics := get(t, p.addr, "/metrics")
	detached := 0
	for _, l := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(l, "logspout_route_detached_readers_total{") && !strings.HasSuffix(l, " 0") {
			detached++
		}
	}
	if detached != 1 {
		t.Fatalf("want exactly one route with a detached reader:\n%s", metrics)
	}
	hung.release()
	got := waitLines(hung, 90*time.Second, func(l [][]byte) bool { return len(l) >= n })
	if missing, _ := logsink.Check(logsink.SeqCounts(got, r.prefix("iso")), n); len(missing) > 0 {
		t.Fatalf("hung route after release: missing %v (%d lines)", missing, len(got))
	}
}
