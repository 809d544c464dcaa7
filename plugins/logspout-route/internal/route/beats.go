package route

import (
	"context"
	"fmt"
	"net"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/retry"
)

// beatsEvent is one pre-encoded event; a pointer to it passes through
// go-lumber's []interface{} without an allocation.
type beatsEvent struct{ b []byte }

func passThrough(v interface{}) ([]byte, error) { return v.(*beatsEvent).b, nil }

// beatsLinger is how long a beats route gathers lines after a small window
// (Filebeat waits up to 1 s by default): at most ~10 small windows a second.
const beatsLinger = 100 * time.Millisecond

// serveBeats sends windows of events with lumberjack v2 and confirms only
// what the server ACKed (partial ACKs included). The state file is written
// right after each ACK, so a restart skips exactly the acknowledged lines.
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

func (l *Link) serveBeats(ctx context.Context, conn net.Conn) error {
	cl, err := lumber.NewWithConn(conn, lumber.JSONEncoder(passThrough), lumber.Timeout(l.WriteTimeout))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	events := make([]beatsEvent, l.Batch)
	data := make([]interface{}, l.Batch)
	small := false
	for {
		if small {
			// Few lines per window: gather for a moment. Fewer windows mean
			// fewer ACK-to-state-file gaps, the only moment a crash can
			// cause a resend of lines the server already has.
			retry.Sleep(ctx, beatsLinger)
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
			events[i].b = l.enc.AppendLine(events[i].b[:0], l.q.at(from+uint64(i)))
			data[i] = &events[i]
		}
		l.q.done()
		if err := cl.Send(data[:k]); err != nil {
			return fmt.Errorf("beats send: %w", err)
		}
		seq, err := cl.AwaitACK(uint32(k))
		if seq > 0 {
			l.Acked(from + uint64(seq))
		}
		if err != nil {
			return fmt.Errorf("beats ack: %w", err)
		}
	}
}
