package route

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/retry"
)

// beatsLinger is how long a beats route gathers lines after a small window
// (Filebeat waits up to 1 s by default): at most ~10 small windows a second.
const beatsLinger = 100 * time.Millisecond

// beatsDrain is how long a stopping beats route waits for the ACK of the
// window in flight.
const beatsDrain = 2 * time.Second

// beatsAdapter speaks lumberjack v2 over tcp or tls.
type beatsAdapter struct{}

func (beatsAdapter) Serve(ctx context.Context, l *Link) error {
	conn, err := l.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	l.Connected()
	return l.serveBeats(ctx, conn)
}

// serveBeats sends windows of events with lumberjack v2 and confirms only
// what the server ACKed (partial ACKs included). The state file is written
// right after each ACK, so a restart skips exactly the acknowledged lines.
func (l *Link) serveBeats(ctx context.Context, conn net.Conn) error {
	lj := newLumberjack(conn, l.WriteTimeout)
	defer lj.drainOnStop(ctx, beatsDrain)()
	events := make([][]byte, l.Batch)
	small := false
	for {
		if small {
			// Few lines per window: gather for a moment. Fewer windows mean
			// fewer ACK-to-state-file gaps, the only moment a crash can
			// cause a resend of lines the server already has.
			retry.Sleep(ctx, beatsLinger)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		from, to := l.q.take(l.Batch)
		small = int(to-from) < l.Batch/4
		if from == to {
			l.q.done()
			if err := l.Wait(ctx, nil); err != nil {
				return err
			}
			continue
		}
		k := int(to - from)
		for i := 0; i < k; i++ {
			events[i] = l.enc.AppendLine(events[i][:0], l.q.at(from+uint64(i)))
		}
		l.q.done()
		if err := lj.send(events[:k]); err != nil {
			return fmt.Errorf("beats send: %w", err)
		}
		seq, err := lj.awaitACK(uint32(k))
		if seq > 0 {
			l.Acked(from + uint64(seq))
		}
		if err != nil {
			return fmt.Errorf("beats ack: %w", err)
		}
	}
}

// lumberjack is the client side of lumberjack v2 (the Beats protocol, as
// elastic/go-lumber's client/v2 speaks it, without compression): a window
// frame '2' 'W' count, then per event '2' 'J' seq len JSON; the server
// answers '2' 'A' seq, where seq 0 is a keepalive. All integers are
// big-endian uint32.
type lumberjack struct {
	conn    net.Conn
	w       *bufio.Writer
	timeout time.Duration
	hdr     [10]byte
	ack     [6]byte
	drainBy atomic.Int64 // Unix ns: the route is stopping, ACKs until then
}

func newLumberjack(conn net.Conn, timeout time.Duration) *lumberjack {
	return &lumberjack{conn: conn, w: bufio.NewWriterSize(conn, 64<<10), timeout: timeout}
}

// send writes one window of events.
func (c *lumberjack) send(events [][]byte) error {
	if err := c.conn.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return err
	}
	c.hdr[0], c.hdr[1] = '2', 'W'
	binary.BigEndian.PutUint32(c.hdr[2:6], uint32(len(events)))
	if _, err := c.w.Write(c.hdr[:6]); err != nil {
		return err
	}
	for i, e := range events {
		c.hdr[0], c.hdr[1] = '2', 'J'
		binary.BigEndian.PutUint32(c.hdr[2:6], uint32(i+1))
		binary.BigEndian.PutUint32(c.hdr[6:10], uint32(len(e)))
		if _, err := c.w.Write(c.hdr[:10]); err != nil {
			return err
		}
		if _, err := c.w.Write(e); err != nil {
			return err
		}
	}
	return c.w.Flush()
}

// drainOnStop: once ctx ends, the window in flight has drain to be
// acknowledged (the server has it, and without its ACK in the state file
// a restart would send it again); the caller sends no new window. It
// returns the function that stops the watch.
func (c *lumberjack) drainOnStop(ctx context.Context, drain time.Duration) (stop func() bool) {
	return context.AfterFunc(ctx, func() {
		by := time.Now().Add(drain)
		c.drainBy.Store(by.UnixNano())
		_ = c.conn.SetDeadline(by)
	})
}

// deadline is the read timeout from now, or the stop's drain deadline.
func (c *lumberjack) deadline() time.Time {
	d := time.Now().Add(c.timeout)
	if by := c.drainBy.Load(); by != 0 && by < d.UnixNano() {
		d = time.Unix(0, by)
	}
	return d
}

// awaitACK reads ACKs until the whole window of count events is
// acknowledged; it returns the highest sequence acknowledged, also on error
// (a partial ACK confirms what it names).
func (c *lumberjack) awaitACK(count uint32) (uint32, error) {
	var seq uint32
	for seq < count {
		if err := c.conn.SetReadDeadline(c.deadline()); err != nil {
			return seq, err
		}
		if _, err := io.ReadFull(c.conn, c.ack[:]); err != nil {
			return seq, err
		}
		if c.ack[0] != '2' || c.ack[1] != 'A' {
			return seq, fmt.Errorf("lumberjack: unexpected frame % x", c.ack[:2])
		}
		s := binary.BigEndian.Uint32(c.ack[2:])
		if s > count {
			return seq, fmt.Errorf("lumberjack: ACK for %d of a window of %d", s, count)
		}
		if s > seq {
			seq = s // 0 (or an older seq) is a keepalive
		}
	}
	return seq, nil
}
