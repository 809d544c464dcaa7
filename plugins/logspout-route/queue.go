package main

import (
	"sync"
	"time"
)

// entry is one log line waiting in a route's queue. Its data buffer belongs
// to the ring slot and is reused: no allocation per line once warm.
type entry struct {
	ctr    *container
	ns     int64  // Docker's timestamp, Unix ns
	n      uint32 // lines of this container at ns up to and including this one
	stream byte
	data   []byte
	end    uint64 // stream transports: connection byte offset after this line
}

// pos is a resume point: the last delivered line's timestamp and how many
// lines carried exactly that timestamp.
type pos struct {
	NS int64
	N  uint32
}

func (p pos) less(q pos) bool { return p.NS < q.NS || (p.NS == q.NS && p.N < q.N) }

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
	ring     []entry
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
	q := &queue{ring: make([]entry, limit+keep), limit: uint64(limit), wake: make(chan struct{}, 1), busyFrom: noBatch}
	q.notFull = sync.NewCond(&q.mu)
	return q
}

type pushResult int

const (
	pushed pushResult = iota
	queueFull
	queueClosed
)

// push copies a line into the ring. With block it waits while the queue is
// full; without, it reports queueFull instead.
func (q *queue) push(c *container, ns int64, n uint32, stream byte, data []byte, block bool) pushResult {
	q.mu.Lock()
	for q.tail-q.conf >= q.limit && !q.closed {
		if !block {
			q.mu.Unlock()
			return queueFull
		}
		q.notFull.Wait()
	}
	if q.closed {
		q.mu.Unlock()
		return queueClosed
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
				return queueClosed
			}
		}
		q.head++
	}
	e := &q.ring[q.tail%size]
	e.ctr, e.ns, e.n, e.stream, e.end = c, ns, n, stream, 0
	if cap(e.data) > 64<<10 && len(data) < 4<<10 {
		e.data = nil // do not let one huge line pin memory in every slot it visits
	}
	e.data = append(e.data[:0], data...)
	wasIdle := q.sent == q.tail
	q.tail++
	q.mu.Unlock()
	if wasIdle {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return pushed
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

func (q *queue) at(i uint64) *entry { return &q.ring[i%uint64(len(q.ring))] }

// confirm marks [conf, upTo) delivered: the containers' resume points move
// and producers waiting for room wake.
func (q *queue) confirm(r *routeRun, upTo uint64) {
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
	var run *container
	var last *entry
	count := 0
	flush := func() {
		if run != nil {
			run.confirmed(r, pos{last.ns, last.n}, count)
		}
	}
	for i := from; i < upTo; i++ {
		e := q.at(i)
		if e.ctr != run {
			flush()
			run, count = e.ctr, 0
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
	return now.Sub(time.Unix(0, q.at(q.conf).ns))
}

func (q *queue) close() {
	q.mu.Lock()
	q.closed = true
	q.notFull.Broadcast()
	q.mu.Unlock()
}
