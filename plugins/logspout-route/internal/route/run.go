package route

import (
	"context"
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/retry"
	"github.com/sirupsen/logrus"
)

// Run is one running route: its queue, delivered by its adapter,
// reconnecting with backoff forever (a sink that goes away never ends the
// process). It is the logs.Target the readers feed.
type Run struct {
	route     *logs.Route
	spec      *AdapterSpec
	multiline bool
	adapter   Adapter
	link      *Link
	log       *logrus.Logger
	mask      uint8
	metrics   *routeMetrics
	cancel    context.CancelFunc
	done      chan struct{}
	up        atomic.Bool
	lastErr   atomic.Value // string
}

// ID implements logs.Target.
func (rr *Run) ID() string { return rr.route.ID }

// Sources implements logs.Target.
func (rr *Run) Sources() uint8 { return rr.mask }

// Multiline implements logs.Target.
func (rr *Run) Multiline() bool { return rr.multiline }

// Push implements logs.Target.
func (rr *Run) Push(c *logs.Container, l *logs.Line, block bool) logs.PushResult {
	return rr.link.q.push(c, l, block)
}

// CountRead implements logs.Target.
func (rr *Run) CountRead() { rr.metrics.read.Inc() }

// CountDetached implements logs.Target.
func (rr *Run) CountDetached() { rr.metrics.detached.Inc() }

func (rr *Run) run(ctx context.Context) {
	bo := retry.New(100*time.Millisecond, 10*time.Second)
	failures := 0
	for ctx.Err() == nil {
		connected := false
		rr.link.connected = func() {
			connected = true
			if failures > 0 || rr.metrics.connects.Get() > 0 {
				rr.metrics.reconnects.Inc()
			}
			rr.metrics.connects.Inc()
			failures = 0
			rr.up.Store(true)
			bo.Reset()
			if n := rr.link.q.rewind(rr.link.keep); n > 0 {
				rr.metrics.resent.Add(int(n))
			}
		}
		err := rr.adapter.Serve(ctx, rr.link)
		if ctx.Err() != nil {
			return
		}
		rr.up.Store(false)
		if err == nil {
			err = net.ErrClosed
		}
		rr.lastErr.Store(err.Error())
		switch {
		case connected:
			rr.log.WithError(err).WithField("route", rr.route.ID).Warn("route connection lost; reconnecting")
		case failures == 0:
			rr.log.WithError(err).WithField("route", rr.route.ID).Warn("route down; retrying with backoff")
		}
		failures++
		bo.Sleep(ctx)
	}
}

// Link is a route's side of delivery, as its adapter sees it: the route,
// its queue (Take, At, Done, Confirm, Wait), its encoder and settings.
type Link struct {
	Route        *logs.Route
	Batch        int           // lines per write or window
	WriteTimeout time.Duration // a destination that accepts nothing for this long is dropped
	TLS          *tls.Config   // for adapters that connect by themselves
	Log          *logrus.Logger

	transport Transport
	run       *Run
	q         *queue
	keep      uint64
	enc       Encoder
	onAck     func()
	connected func()
	wbuf      []byte
}

// Dial connects to the route's address over its transport.
func (l *Link) Dial(ctx context.Context) (net.Conn, error) {
	if l.transport == nil {
		return nil, net.UnknownNetworkError("route " + l.Route.ID + ": no transport")
	}
	return l.transport.Dial(ctx, l.Route.Address, l.TLS)
}

// Connected tells the route its session stands: the unconfirmed lines are
// sent again first.
func (l *Link) Connected() { l.connected() }

// Take returns up to max waiting entries [from, to) and marks them sent;
// call Done when they are no longer read.
func (l *Link) Take(max int) (from, to uint64) { return l.q.take(max) }

// At is entry i of the last Take.
func (l *Link) At(i uint64) *logs.Entry { return l.q.at(i) }

// Done ends the read of the last batch taken.
func (l *Link) Done() { l.q.done() }

// Encode appends e's wire form.
func (l *Link) Encode(dst []byte, e *logs.Entry) []byte { return l.enc.AppendLine(dst, e) }

// Confirm marks every entry before upTo delivered (resume points move).
func (l *Link) Confirm(upTo uint64) { l.q.confirm(l.run, upTo) }

// Acked confirms up to upTo and writes the state file at once: for
// destinations whose acknowledgement means "processed" (beats).
func (l *Link) Acked(upTo uint64) {
	l.q.confirm(l.run, upTo)
	l.onAck()
}

// Wait blocks until the queue has lines, tick passes, or ctx ends.
func (l *Link) Wait(ctx context.Context, tick <-chan time.Time) error {
	select {
	case <-l.q.wake:
	case <-tick:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}
