// Package logsink has the log receivers logspout-route is tested and demoed
// against: a JSON-lines TCP listener, a UDP listener and a lumberjack v2
// (Beats) server that ACKs. They work outside tests too (make demo).
package logsink

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/elastic/go-lumber/lj"
	lumber "github.com/elastic/go-lumber/server/v2"
)

// Options tune a sink.
type Options struct {
	// CountOnly keeps no lines, only their number (benchmarks).
	CountOnly bool
	// LinesPerSecond > 0 makes a slow sink: it takes lines at most at
	// that rate (TCP back-pressure; beats ACKs come later).
	LinesPerSecond float64
}

// store is what every sink keeps: the lines received, in order.
type store struct {
	mu    sync.Mutex
	keep  bool
	rate  float64
	paced int64
	since time.Time
	lines [][]byte
	count int64
	first time.Time
	last  time.Time
}

func (s *store) add(line []byte) {
	if s.rate > 0 {
		s.pace()
	}
	s.mu.Lock()
	if s.count == 0 {
		s.first = time.Now()
	}
	s.count++
	s.last = time.Now()
	if s.keep {
		s.lines = append(s.lines, append([]byte(nil), line...))
	}
	s.mu.Unlock()
}

// pace waits until the next line is due at the sink's rate.
func (s *store) pace() {
	s.mu.Lock()
	if s.since.IsZero() {
		s.since = time.Now()
	}
	due := s.since.Add(time.Duration(float64(s.paced) / s.rate * float64(time.Second)))
	s.paced++
	s.mu.Unlock()
	if d := time.Until(due); d > 0 {
		time.Sleep(d)
	}
}

// configure applies opts to the store.
func (s *store) configure(opts []Options) {
	s.keep = len(opts) == 0 || !opts[0].CountOnly
	if len(opts) > 0 {
		s.rate = opts[0].LinesPerSecond
	}
}

// Lines returns a copy of the list of lines received so far (each line
// without its '\n'; for lumberjack, each event's JSON).
func (s *store) Lines() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.lines...)
}

// Count is the number of lines received.
func (s *store) Count() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Span is the time between the first and the last line received.
func (s *store) Span() (first, last time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.first, s.last
}

// TCPSink receives '\n'-separated lines over TCP (Logstash's json_lines input).
type TCPSink struct {
	store
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// StartTCP listens on addr ("127.0.0.1:0" for any port).
func StartTCP(addr string, opts ...Options) (*TCPSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &TCPSink{ln: ln, conns: map[net.Conn]bool{}}
	s.configure(opts)
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address.
func (s *TCPSink) Addr() string { return s.ln.Addr().String() }

func (s *TCPSink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			r := bufio.NewReaderSize(c, 256<<10)
			for {
				line, err := r.ReadSlice('\n')
				if errors.Is(err, bufio.ErrBufferFull) {
					// A long line: gather it whole.
					full := append([]byte(nil), line...)
					for errors.Is(err, bufio.ErrBufferFull) {
						line, err = r.ReadSlice('\n')
						full = append(full, line...)
					}
					line = full
				}
				if err != nil {
					break // a partial line at close is not a line
				}
				s.add(line[:len(line)-1])
			}
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// Close stops listening and drops every connection, as a sink that dies.
func (s *TCPSink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

// UDPSink receives one line per datagram.
type UDPSink struct {
	store
	conn *net.UDPConn
	done chan struct{}
}

// StartUDP listens on addr.
func StartUDP(addr string, opts ...Options) (*UDPSink, error) {
	ua, err := net.ResolveUDPAddr("udp", addr)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, err
	}
	_ = c.SetReadBuffer(8 << 20)
	s := &UDPSink{conn: c, done: make(chan struct{})}
	s.configure(opts)
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				return
			}
			s.add(bytes.TrimSuffix(buf[:n], []byte("\n")))
		}
	}()
	return s, nil
}

// Addr is the listening address.
func (s *UDPSink) Addr() string { return s.conn.LocalAddr().String() }

// Close stops the sink.
func (s *UDPSink) Close() error {
	err := s.conn.Close()
	<-s.done
	return err
}

// LumberjackSink is a lumberjack v2 server (github.com/elastic/go-lumber)
// that stores every event's JSON and ACKs each batch after storing it.
type LumberjackSink struct {
	store
	srv  *lumber.Server
	addr string
	done chan struct{}
}

// StartLumberjack listens on addr.
func StartLumberjack(addr string, opts ...Options) (*LumberjackSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	raw := func(b []byte, v interface{}) error {
		p, ok := v.(*interface{})
		if !ok {
			return errors.New("logsink: unexpected decode target")
		}
		*p = append([]byte(nil), b...)
		return nil
	}
	srv, err := lumber.NewWithListener(ln, lumber.JSONDecoder(raw), lumber.Keepalive(time.Second))
	if err != nil {
		ln.Close()
		return nil, err
	}
	s := &LumberjackSink{srv: srv, addr: ln.Addr().String(), done: make(chan struct{})}
	s.configure(opts)
	go func() {
		defer close(s.done)
		for b := range srv.ReceiveChan() {
			s.batch(b)
		}
	}()
	return s, nil
}

func (s *LumberjackSink) batch(b *lj.Batch) {
	for _, ev := range b.Events {
		if raw, ok := ev.([]byte); ok {
			s.add(raw)
		}
	}
	b.ACK()
}

// Addr is the listening address.
func (s *LumberjackSink) Addr() string { return s.addr }

// Close stops the server and drops its connections.
func (s *LumberjackSink) Close() error {
	err := s.srv.Close()
	<-s.done
	return err
}

// SeqCounts counts, per sequence number, the lines containing
// "<prefix> <seq> " (loggen's format; inside JSON the text is unchanged).
func SeqCounts(lines [][]byte, prefix string) map[int]int {
	counts := map[int]int{}
	needle := []byte(prefix + " ")
	for _, l := range lines {
		if seq, ok := SeqOf(l, needle); ok {
			counts[seq]++
		}
	}
	return counts
}

// SeqOf finds "<needle><digits>" in line and returns the number.
func SeqOf(line, needle []byte) (int, bool) {
	for off := 0; ; {
		i := bytes.Index(line[off:], needle)
		if i < 0 {
			return 0, false
		}
		j := off + i + len(needle)
		k := j
		for k < len(line) && line[k] >= '0' && line[k] <= '9' {
			k++
		}
		if k > j && (k == len(line) || line[k] == ' ' || line[k] == '"') {
			n, err := strconv.Atoi(string(line[j:k]))
			return n, err == nil
		}
		off = j
	}
}

// Check compares counts with 1..n exactly once each: it returns the missing
// and the duplicated sequence numbers (at most 20 of each).
func Check(counts map[int]int, n int) (missing, duplicated []int) {
	for i := 1; i <= n; i++ {
		switch c := counts[i]; {
		case c == 0 && len(missing) < 20:
			missing = append(missing, i)
		case c > 1 && len(duplicated) < 20:
			duplicated = append(duplicated, i)
		}
	}
	return missing, duplicated
}
