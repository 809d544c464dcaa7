package main

import (
	"context"
	"fmt"
	"net"
	"time"

	lumber "github.com/elastic/go-lumber/client/v2"
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
func (rr *routeRun) serveBeats(ctx context.Context, conn net.Conn) error {
	cl, err := lumber.NewWithConn(conn, lumber.JSONEncoder(passThrough), lumber.Timeout(rr.cfg.WriteTimeout))
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	events := make([]beatsEvent, rr.cfg.Batch)
	data := make([]interface{}, rr.cfg.Batch)
	small := false
	for {
		if small {
			// Few lines per window: gather for a moment. Fewer windows mean
			// fewer ACK-to-state-file gaps, the only moment a crash can
			// cause a resend of lines the server already has.
			sleepCtx(ctx, beatsLinger)
		}
		from, to := rr.q.take(rr.cfg.Batch)
		small = int(to-from) < rr.cfg.Batch/4
		if from == to {
			rr.q.done()
			if err := rr.wait(ctx, nil); err != nil {
				return err
			}
			continue
		}
		k := int(to - from)
		for i := 0; i < k; i++ {
			events[i].b = rr.enc.appendLine(events[i].b[:0], rr.q.at(from+uint64(i)))
			data[i] = &events[i]
		}
		rr.q.done()
		if err := cl.Send(data[:k]); err != nil {
			return fmt.Errorf("beats send: %w", err)
		}
		seq, err := cl.AwaitACK(uint32(k))
		if seq > 0 {
			rr.q.confirm(rr, from+uint64(seq))
			rr.state.flushSoon()
		}
		if err != nil {
			return fmt.Errorf("beats ack: %w", err)
		}
	}
}
