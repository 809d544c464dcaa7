// Package route delivers lines: routes (logspout's ROUTE_URIS and /routes),
// one bounded queue per route, the encoders (logstash, syslog, raw, beats)
// and the adapters and transports that carry them (see adapters.go for the
// extension points).
package route

import (
	"context"
	"crypto/tls"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/sirupsen/logrus"
)

// Config is what every route shares.
type Config struct {
	QueueSize    int
	ResendTail   int           // plain TCP: confirmed lines kept for a resend after a reconnect
	WriteTimeout time.Duration // a sink that accepts nothing for this long is reconnected
	Batch        int
	TLS          *tls.Config
	Formats      *Formats
	// OnAck runs right after a destination acknowledged a batch (the
	// state store's fast write).
	OnAck func()
}

// Router holds the routes. Readers snapshot the matching routes and look
// again only when Version changes.
type Router struct {
	log      *logrus.Logger
	cfg      Config
	metrics  *metrics.Set
	reg      *logs.Registry
	adapters *Registry

	mu      sync.Mutex
	routes  map[string]*Run
	live    map[logs.Target]func(*logs.ContainerInfo) bool
	version atomic.Uint64
}

// New returns a router with no routes. reg is the containers being read
// (a deleted route's accounting is dropped from each).
func New(log *logrus.Logger, cfg Config, adapters *Registry, set *metrics.Set, reg *logs.Registry) *Router {
	if cfg.OnAck == nil {
		cfg.OnAck = func() {}
	}
	return &Router{log: log, cfg: cfg, metrics: set, reg: reg, adapters: adapters, routes: map[string]*Run{}}
}

// Add starts a route; a route with an existing id replaces it.
func (r *Router) Add(rt *logs.Route) error {
	if err := r.adapters.Validate(rt); err != nil {
		return err
	}
	res, _ := r.adapters.Resolve(rt.Adapter)
	rr := r.newRun(rt, res)
	ctx, cancel := context.WithCancel(context.Background())
	rr.cancel = cancel
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

func (r *Router) newRun(rt *logs.Route, res Resolved) *Run {
	tr := r.adapters.transports[res.Transport]
	stream := tr != nil && tr.Stream()
	var ad Adapter
	switch {
	case res.Spec.NewAdapter != nil:
		ad = res.Spec.NewAdapter(res.Transport)
	case stream:
		ad = lineAdapter{}
	default:
		ad = datagramAdapter{}
	}
	keep := 0
	if res.Spec.NewAdapter == nil && stream {
		keep = r.cfg.ResendTail
	}
	rr := &Run{route: rt, spec: res.Spec, multiline: res.Multiline, adapter: ad, log: r.log, done: make(chan struct{}), mask: rt.SourceMask()}
	rr.link = &Link{Route: rt, Batch: r.cfg.Batch, WriteTimeout: r.cfg.WriteTimeout, TLS: r.cfg.TLS, Log: r.log,
		transport: tr, run: rr, q: newQueue(r.cfg.QueueSize, keep), keep: uint64(keep), onAck: r.cfg.OnAck,
		enc: res.Spec.NewEncoder(r.cfg.Formats, rt, stream)}
	rr.metrics = newRouteMetrics(r.metrics, rt.ID, rr)
	return rr
}

// Remove stops and forgets a route; its unsent lines are dropped.
func (r *Router) Remove(id string) bool {
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

func (r *Router) stop(rr *Run) {
	rr.cancel()
	rr.link.q.close()
	<-rr.done
	rr.metrics.unregister()
	for _, c := range r.reg.All() {
		c.DropRoute(rr)
	}
}

// Get returns the route with id, or nil.
func (r *Router) Get(id string) *logs.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rr := r.routes[id]; rr != nil {
		return rr.route
	}
	return nil
}

// List returns the routes by id.
func (r *Router) List() []*logs.Route {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*logs.Route, 0, len(r.routes))
	for _, rr := range r.routes {
		out = append(out, rr.route)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (r *Router) runs() []*Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Run, 0, len(r.routes))
	for _, rr := range r.routes {
		out = append(out, rr)
	}
	return out
}

// Version changes whenever a route is added or removed.
func (r *Router) Version() uint64 { return r.version.Load() }

// Targets appends the routes that take c's lines to buf.
func (r *Router) Targets(c *logs.Container, buf []logs.Target) []logs.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rr := range r.routes {
		if !rr.route.MatchContainer(c.Info) {
			continue
		}
		if rr.spec.Logstash && !r.cfg.Formats.Logstash.includes(c.Info.Name) {
			continue
		}
		buf = append(buf, rr)
	}
	for t, match := range r.live {
		if match(c.Info) {
			buf = append(buf, t)
		}
	}
	return buf
}

// Subscribe adds a live target (a /logs client) that takes the lines of
// the containers match accepts, best effort: it must never block, and it
// takes no part in delivery accounting. The returned func removes it.
func (r *Router) Subscribe(t logs.Target, match func(*logs.ContainerInfo) bool) (cancel func()) {
	r.mu.Lock()
	if r.live == nil {
		r.live = map[logs.Target]func(*logs.ContainerInfo) bool{}
	}
	r.live[t] = match
	r.version.Add(1)
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		delete(r.live, t)
		r.version.Add(1)
		r.mu.Unlock()
		for _, c := range r.reg.All() {
			c.DropRoute(t)
		}
	}
}

// Down lists the routes not connected, each as "route <id> (<adapter>://<address>) down: <last error>".
func (r *Router) Down() []string {
	var out []string
	for _, rr := range r.runs() {
		if !rr.up.Load() {
			msg, _ := rr.lastErr.Load().(string)
			out = append(out, "route "+rr.route.ID+" ("+rr.route.Adapter+"://"+rr.route.Address+") down: "+msg)
		}
	}
	return out
}

// CloseQueues wakes readers waiting on a full queue so they can end
// (shutdown: the readers stop first).
func (r *Router) CloseQueues() {
	for _, rr := range r.runs() {
		rr.link.q.close()
	}
}

// Stop ends every route and waits for them.
func (r *Router) Stop() {
	runs := r.runs()
	for _, rr := range runs {
		rr.cancel()
	}
	for _, rr := range runs {
		<-rr.done
	}
}
