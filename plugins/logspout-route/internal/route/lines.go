package route

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/retry"
)

// lineAdapter writes encoded lines over a stream transport (tcp, tls).
type lineAdapter struct{}

// datagramAdapter sends one datagram per line (udp).
type datagramAdapter struct{}

// linger is how long a stream route waits to fill a batch once the last
// one was small: 2 ms at 80k lines/s is ~160 lines per write.
const linger = 2 * time.Millisecond

// serveStream writes batches over TCP or TLS. A line counts as delivered
// once the peer's TCP acknowledged its last byte (SIOCOUTQ); after a
// reconnect the unconfirmed lines and the last ResendTail confirmed ones
// are written again, covering what a dying sink had received but not read.
func (lineAdapter) Serve(ctx context.Context, l *Link) error {
	conn, err := l.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	l.Connected()
	return l.serveStream(ctx, conn)
}

func (l *Link) serveStream(ctx context.Context, conn net.Conn) error {
	// While written lines wait for the peer's TCP acknowledgement, look
	// again every 50 ms; with none waiting, sleep until lines come.
	recheck := time.NewTimer(time.Hour)
	recheck.Stop()
	defer recheck.Stop()
	var written uint64
	unacked := unackedFunc(conn)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	// Sinks send nothing: a read that returns means the peer closed or reset
	// the connection, so /health turns red without waiting for a write.
	broken := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, conn)
		if err == nil {
			err = io.EOF
		}
		broken <- err
	}()
	small := false
	for {
		select {
		case err := <-broken:
			return fmt.Errorf("peer closed: %w", err)
		default:
		}
		if small {
			// The last batch was small: linger a moment so the next write
			// carries many lines instead of one syscall per line.
			retry.Sleep(ctx, linger)
		}
		from, to := l.q.take(l.Batch)
		small = int(to-from) < l.Batch/4
		if from == to {
			l.q.done()
			l.confirmStream(written, unacked)
			var tick <-chan time.Time
			if l.q.unconfirmed() {
				recheck.Reset(50 * time.Millisecond)
				tick = recheck.C
			}
			select {
			case <-l.q.wake:
			case <-tick:
			case err := <-broken:
				return fmt.Errorf("peer closed: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		buf := l.wbuf[:0]
		for i := from; i < to; i++ {
			e := l.q.at(i)
			buf = l.enc.AppendLine(buf, e)
			e.End = written + uint64(len(buf))
		}
		l.q.done()
		l.wbuf = buf
		conn.SetWriteDeadline(time.Now().Add(l.WriteTimeout))
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		written += uint64(len(buf))
		l.confirmStream(written, unacked)
	}
}

// confirmStream confirms the sent lines whose bytes the peer acknowledged.
func (l *Link) confirmStream(written uint64, unacked func() (int, bool)) {
	q := l.q
	q.mu.Lock()
	conf, sent := q.conf, q.sent
	q.mu.Unlock()
	if conf >= sent {
		return
	}
	n, exact := unacked()
	if n < 0 {
		return
	}
	var delivered uint64
	switch {
	case n == 0:
		delivered = written
	case exact && uint64(n) <= written:
		delivered = written - uint64(n)
	default:
		return // TLS: record overhead hides the mapping; wait for an empty queue
	}
	upTo := conf
	for upTo < sent && q.at(upTo).End <= delivered {
		upTo++
	}
	q.confirm(l.run, upTo)
}

// serveUDP sends one datagram per line: best effort, nothing confirms it.
func (datagramAdapter) Serve(ctx context.Context, l *Link) error {
	conn, err := l.Dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	l.Connected()
	return l.serveUDP(ctx, conn)
}

func (l *Link) serveUDP(ctx context.Context, conn net.Conn) error {
	for {
		from, to := l.q.take(l.Batch)
		if from == to {
			l.q.done()
			if err := l.Wait(ctx, nil); err != nil {
				return err
			}
			continue
		}
		for i := from; i < to; i++ {
			l.wbuf = l.enc.AppendLine(l.wbuf[:0], l.q.at(i))
			if len(l.wbuf) > 65507 {
				l.wbuf = l.wbuf[:65507] // a datagram cannot carry more
			}
			_, _ = conn.Write(l.wbuf) // ICMP refusals are not delivery reports
		}
		l.q.done()
		l.q.confirm(l.run, to)
	}
}
