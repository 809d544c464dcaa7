package route

import (
	"sync"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// queue is one route's bounded ring. Indices grow forever; slot = i % len.
//
//	head <= conf <= sent <= tail
//	[head, conf) confirmed, kept for a plain-TCP resend after a reconnect
//	[conf, sent) written, not yet confirmed
//	[sent, tail) waiting
//
// Producers (container readers) block when tail-conf reaches limit: a full
// queue holds back the readers that feed it (back-pressure), never drops.
type queue struct {
	mu       sync.Mutex
	notFull  *sync.Cond
	wake     chan struct{}
	ring     []logs.Entry
	limit    uint64
	head     uint64
	conf     uint64
	sent     uint64
	tail     uint64
	busyFrom uint64 // start of the batch being encoded; slots from here stay
	closed   bool
}

const noBatch = ^uint64(0)

func newQueue(limit, keep int) *queue {
	q := &queue{ring: make([]logs.Entry, limit+keep), limit: uint64(limit), wake: make(chan struct{}, 1), busyFrom: noBatch}
	q.notFull = sync.NewCond(&q.mu)
	return q
}

// push copies a line into the ring. With block it waits while the queue is
// full; without, it reports queueFull instead.
func (q *queue) push(c *logs.Container, l *logs.Line, block bool) logs.PushResult {
	q.mu.Lock()
	for q.tail-q.conf >= q.limit && !q.closed {
		if !block {
			q.mu.Unlock()
			return logs.QueueFull
		}
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return logs.QueueClosed
	}
	size := uint64(len(q.ring))
	if q.tail-q.head >= size {
		// Reuse the oldest confirmed slot; limit < len(ring) guarantees head < conf,
		// and the batch being encoded is never overwritten.
		if q.head >= q.conf || q.head >= q.busyFrom {
			for (q.head >= q.conf || q.head >= q.busyFrom) && !q.closed {
				q.notFull.Wait()
			}
			if q.closed {
				q.mu.Unlock()
				return logs.QueueClosed
			}
		}
		q.head++
	}
	e := &q.ring[q.tail%size]
	e.Ctr, e.Pos, e.TimeNS, e.Stream, e.End = c, l.Pos, l.TimeNS, l.Stream, 0
	if cap(e.Data) > 64<<10 && len(l.Data) < 4<<10 {
		e.Data = nil // do not let one huge line pin memory in every slot it visits
	}
	e.Data = append(e.Data[:0], l.Data...)
	wasIdle := q.sent == q.tail
	q.tail++
	q.mu.Unlock()
	if wasIdle {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return logs.Pushed
}

// take returns up to max waiting entries [from, to) and marks them sent.
// The caller must call done when it no longer reads them.
func (q *queue) take(max int) (from, to uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.sent < q.head {
		q.sent = q.head // a rewound resend whose oldest slots were reused meanwhile
	}
	from, to = q.sent, q.tail
	if to-from > uint64(max) {
		to = from + uint64(max)
	}
	q.sent = to
	if from < to {
		q.busyFrom = from
	}
	return from, to
}

// done ends the read of the last batch taken.
func (q *queue) done() {
	q.mu.Lock()
	q.busyFrom = noBatch
	q.notFull.Broadcast()
	q.mu.Unlock()
}

func (q *queue) at(i uint64) *logs.Entry { return &q.ring[i%uint64(len(q.ring))] }

// confirm marks [conf, upTo) delivered: the containers' resume points move
// and producers waiting for room wake.
func (q *queue) confirm(r *Run, upTo uint64) {
	q.mu.Lock()
	from := q.conf
	if upTo > q.sent {
		upTo = q.sent
	}
	q.mu.Unlock()
	if upTo <= from {
		return
	}
	// [from, upTo) cannot be overwritten: head < conf == from.
	var run *logs.Container
	var last *logs.Entry
	count := 0
	flush := func() {
		if run != nil {
			run.Confirmed(r, last.Stream, last.Pos, count)
		}
	}
	for i := from; i < upTo; i++ {
		e := q.at(i)
		if e.Ctr != run || (last != nil && e.Stream != last.Stream) {
			flush()
			run, count = e.Ctr, 0
		}
		last = e
		count++
	}
	flush()
	q.mu.Lock()
	q.conf = upTo
	q.notFull.Broadcast()
	q.mu.Unlock()
	r.metrics.shipped.Add(int(upTo - from))
}

// rewind makes unconfirmed entries, plus up to keep confirmed ones before
// them, waiting again: what a new connection must send first.
func (q *queue) rewind(keep uint64) (resent uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	from := q.conf
	if from-q.head > keep {
		from = q.conf - keep
	} else {
		from = q.head
	}
	resent = q.sent - from
	q.sent = from
	return resent
}

// unconfirmed reports whether lines were sent and are not confirmed yet.
func (q *queue) unconfirmed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.conf < q.sent
}

// depth is the number of lines not yet confirmed.
func (q *queue) depth() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.tail - q.conf)
}

// lag is how old the oldest unconfirmed line is.
func (q *queue) lag(now time.Time) time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.conf == q.tail {
		return 0
	}
	return now.Sub(time.Unix(0, q.at(q.conf).TimeNS))
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.notFull.Broadcast()
	q.mu.Unlock()
}
