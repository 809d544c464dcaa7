package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/sirupsen/logrus"
)

// routerConfig is what every route runner shares.
type routerConfig struct {
	QueueSize    int
	ResendTail   int           // plain TCP: confirmed lines kept for a resend after a reconnect
	WriteTimeout time.Duration // a sink that accepts nothing for this long is reconnected
	Batch        int
	TLS          *tls.Config
	Formats      *formatConfig
}

// router holds the routes. Readers snapshot the matching routes and look
// again only when version changes.
type router struct {
	ctx     context.Context
	log     *logrus.Logger
	cfg     routerConfig
	metrics *metrics.Set
	state   *stateStore
	pump    func() *pump

	mu      sync.Mutex
	routes  map[string]*routeRun
	version atomic.Uint64
}

func newRouter(ctx context.Context, log *logrus.Logger, cfg routerConfig, set *metrics.Set, st *stateStore) *router {
	return &router{ctx: ctx, log: log, cfg: cfg, metrics: set, state: st, routes: map[string]*routeRun{}}
}

// add starts a route; a route with an existing id replaces it.
func (r *router) add(rt *Route) error {
	if err := rt.validate(); err != nil {
		return err
	}
	format, transport, _ := splitAdapter(rt.Adapter)
	rr := &routeRun{route: rt, format: format, transport: transport, cfg: &r.cfg, log: r.log, state: r.state}
	keep := 0
	if transport != "udp" && format != "beats" {
		keep = r.cfg.ResendTail
	}
	rr.q = newQueue(r.cfg.QueueSize, keep)
	rr.keep = uint64(keep)
	rr.enc = newEncoder(format, transport != "udp", r.cfg.Formats, rt)
	rr.mask = rt.sourceMask()
	rr.metrics = newRouteMetrics(r.metrics, rt.ID, rr)
	ctx, cancel := context.WithCancel(r.ctx)
	rr.cancel = cancel
	rr.done = make(chan struct{})
	r.mu.Lock()
	old := r.routes[rt.ID]
	r.routes[rt.ID] = rr
	r.version.Add(1)
	r.mu.Unlock()
	if old != nil {
		r.stop(old)
	}
	go func() {
		defer close(rr.done)
		rr.run(ctx)
	}()
	return nil
}

// remove stops and forgets a route; its unsent lines are dropped.
func (r *router) remove(id string) bool {
	r.mu.Lock()
	rr := r.routes[id]
	delete(r.routes, id)
	r.version.Add(1)
	r.mu.Unlock()
	if rr == nil {
		return false
	}
	r.stop(rr)
	return true
}

func (r *router) stop(rr *routeRun) {
	rr.cancel()
	rr.q.close()
	<-rr.done
	rr.metrics.unregister()
	if r.pump != nil {
		for _, c := range r.pump().containers() {
			c.dropRoute(rr)
		}
	}
}

func (r *router) get(id string) *Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rr := r.routes[id]; rr != nil {
		return rr.route
	}
	return nil
}

func (r *router) list() []*Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Route, 0, len(r.routes))
	for _, rr := range r.routes {
		out = append(out, rr.route)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *router) runs() []*routeRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*routeRun, 0, len(r.routes))
	for _, rr := range r.routes {
		out = append(out, rr)
	}
	return out
}

// targetsFor returns the routes that take c's lines.
func (r *router) targetsFor(c *container, buf []target) []target {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rr := range r.routes {
		if !rr.route.matchContainer(c.info) {
			continue
		}
		if (rr.format == "logstash" || rr.format == "beats") && !r.cfg.Formats.Logstash.includes(c.info.Name) {
			continue
		}
		buf = append(buf, target{r: rr, mask: rr.mask})
	}
	return buf
}

// routeRun delivers one route's queue over its transport, reconnecting
// with backoff forever: a sink that goes away never ends the process.
type routeRun struct {
	route     *Route
	format    string
	transport string
	cfg       *routerConfig
	log       *logrus.Logger
	state     *stateStore
	q         *queue
	keep      uint64
	enc       encoder
	mask      uint8
	metrics   *routeMetrics
	cancel    context.CancelFunc
	done      chan struct{}
	up        atomic.Bool
	lastErr   atomic.Value // string

	wbuf []byte
}

func (rr *routeRun) run(ctx context.Context) {
	bo := newBackoff(100*time.Millisecond, 10*time.Second)
	failures := 0
	for ctx.Err() == nil {
		conn, err := rr.dial(ctx)
		if err != nil {
			rr.up.Store(false)
			rr.lastErr.Store(err.Error())
			if failures == 0 {
				rr.log.WithError(err).WithField("route", rr.route.ID).Warn("route down; retrying with backoff")
			}
			failures++
			bo.sleep(ctx)
			continue
		}
		if failures > 0 || rr.metrics.connects.Get() > 0 {
			rr.metrics.reconnects.Inc()
		}
		rr.metrics.connects.Inc()
		failures = 0
		rr.up.Store(true)
		bo.reset()
		if n := rr.q.rewind(rr.keep); n > 0 {
			rr.metrics.resent.Add(int(n))
		}
		switch {
		case rr.format == "beats":
			err = rr.serveBeats(ctx, conn)
		case rr.transport == "udp":
			err = rr.serveUDP(ctx, conn)
		default:
			err = rr.serveStream(ctx, conn)
		}
		conn.Close()
		if ctx.Err() != nil {
			return
		}
		rr.up.Store(false)
		rr.lastErr.Store(err.Error())
		rr.log.WithError(err).WithField("route", rr.route.ID).Warn("route connection lost; reconnecting")
		failures++
		bo.sleep(ctx)
	}
}

func (rr *routeRun) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	switch rr.transport {
	case "udp":
		return d.DialContext(ctx, "udp", rr.route.Address)
	case "tls":
		cfg := rr.cfg.TLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(rr.route.Address)
		}
		td := tls.Dialer{NetDialer: &d, Config: cfg}
		return td.DialContext(ctx, "tcp", rr.route.Address)
	default:
		return d.DialContext(ctx, "tcp", rr.route.Address)
	}
}

// wait blocks until the queue has lines, tick passes, or ctx ends.
func (rr *routeRun) wait(ctx context.Context, tick <-chan time.Time) error {
	select {
	case <-rr.q.wake:
	case <-tick:
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// linger is how long a stream route waits to fill a batch once the last
// one was small: 1 ms at 80k lines/s is ~80 lines per write.
const linger = 2 * time.Millisecond

// serveStream writes batches over TCP or TLS. A line counts as delivered
// once the peer's TCP acknowledged its last byte (SIOCOUTQ); after a
// reconnect the unconfirmed lines and the last ResendTail confirmed ones
// are written again, covering what a dying sink had received but not read.
func (rr *routeRun) serveStream(ctx context.Context, conn net.Conn) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
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
			sleepCtx(ctx, linger)
		}
		from, to := rr.q.take(rr.cfg.Batch)
		small = int(to-from) < rr.cfg.Batch/4
		if from == to {
			rr.q.done()
			rr.confirmStream(written, unacked)
			select {
			case <-rr.q.wake:
			case <-tick.C:
			case err := <-broken:
				return fmt.Errorf("peer closed: %w", err)
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		buf := rr.wbuf[:0]
		for i := from; i < to; i++ {
			e := rr.q.at(i)
			buf = rr.enc.appendLine(buf, e)
			e.end = written + uint64(len(buf))
		}
		rr.q.done()
		rr.wbuf = buf
		conn.SetWriteDeadline(time.Now().Add(rr.cfg.WriteTimeout))
		if _, err := conn.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		written += uint64(len(buf))
		rr.confirmStream(written, unacked)
	}
}

// confirmStream confirms the sent lines whose bytes the peer acknowledged.
func (rr *routeRun) confirmStream(written uint64, unacked func() (int, bool)) {
	q := rr.q
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
	for upTo < sent && q.at(upTo).end <= delivered {
		upTo++
	}
	q.confirm(rr, upTo)
}

// serveUDP sends one datagram per line: best effort, nothing confirms it.
func (rr *routeRun) serveUDP(ctx context.Context, conn net.Conn) error {
	for {
		from, to := rr.q.take(rr.cfg.Batch)
		if from == to {
			rr.q.done()
			if err := rr.wait(ctx, nil); err != nil {
				return err
			}
			continue
		}
		for i := from; i < to; i++ {
			rr.wbuf = rr.enc.appendLine(rr.wbuf[:0], rr.q.at(i))
			if len(rr.wbuf) > 65507 {
				rr.wbuf = rr.wbuf[:65507] // a datagram cannot carry more
			}
			_, _ = conn.Write(rr.wbuf) // ICMP refusals are not delivery reports
		}
		rr.q.done()
		rr.q.confirm(rr, to)
	}
}
