// Package pump finds containers (events first, then list), runs one reader
// per container over a logs.Source, reassembles Docker's 16 KiB pieces into
// lines, and hands every line to the routes that take it (Router), with
// per-route back-pressure: a route whose queue stays full gets a reader of
// its own.
package pump

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/engine"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/retry"
	"github.com/sirupsen/logrus"
)

// Daemon is what the pump asks the daemon (engine.Client has it).
type Daemon interface {
	Events(ctx context.Context, since time.Time, ready func(), fn func(engine.Event)) error
	ListContainers(ctx context.Context) ([]string, error)
	Inspect(ctx context.Context, id string) (*logs.ContainerInfo, error)
}

// Router is the stage the pump feeds (route.Router has it).
type Router interface {
	// Version changes whenever the routes change.
	Version() uint64
	// Targets appends the routes that take c's lines to buf.
	Targets(c *logs.Container, buf []logs.Target) []logs.Target
}

// State is where resume points come from (state.Store has it).
type State interface {
	Lookup(id string) (logs.Streams, bool)
	Track(id string)
	Forget(id string)
	Prune(known map[string]bool)
}

// Config decides which containers are read, from where and how.
type Config struct {
	AllowTTY bool
	Exclude  []ExcludeLabel
	Backlog  bool
	// Sources read the logs; the first that accepts a container reads it.
	Sources []logs.Source
	// RelistEvery is how often containers are listed to catch a start event
	// the daemon dropped, while events come (default 3 s); on a quiet host
	// the list waits for RelistIdle (default 5 min): it costs dockerd work,
	// and a quiet host has no events to lose.
	RelistEvery time.Duration
	RelistIdle  time.Duration
	// DetachAfter is how long the main reader waits on a full route queue
	// before that route gets its own reader of the container (default 0.5 s).
	DetachAfter time.Duration
	// Tail > 0: a container attached for the first time (no saved
	// position) is read from its last Tail entries (logspout's TAIL).
	Tail int
	// InactivityTimeout > 0: a followed stream silent that long is attached
	// again from its position (logspout's INACTIVITY_TIMEOUT).
	InactivityTimeout time.Duration
	// Multiline groups lines for multiline+ routes (nil: no grouping).
	Multiline *Multiline
	// OnUnreadable is called once per container whose log the daemon
	// cannot read back (log driver none, or one without dual logging).
	OnUnreadable func(info *logs.ContainerInfo)
}

// Pump finds containers and runs one reader per container.
type Pump struct {
	daemon Daemon
	log    *logrus.Logger
	router Router
	state  State
	reg    *logs.Registry
	cfg    Config
	start  time.Time

	mu      sync.Mutex
	readers map[string]*reader
	wg      sync.WaitGroup

	daemonUp atomic.Bool
	events   atomic.Uint64 // container events seen
}

// reader is the pump's side of one container: which goroutines read it.
type reader struct {
	c          *logs.Container
	mu         sync.Mutex
	reading    bool // a reader goroutine owns this container
	again      bool // a start event arrived while it was reading: read once more
	tail       int  // > 0: the next read takes only the last tail entries
	unreadable bool // the daemon cannot read its log back: never try again
	lagging    map[logs.Target]*lagState
	src        string // name of the source the main reader used last
}

// lagState is a lagging route's own reader of a container.
type lagState struct {
	reading bool
	again   bool
}

// New returns a pump reading into router; reg receives the containers.
func New(d Daemon, log *logrus.Logger, router Router, st State, reg *logs.Registry, cfg Config) *Pump {
	if cfg.RelistEvery <= 0 {
		cfg.RelistEvery = 3 * time.Second
	}
	if cfg.RelistIdle <= 0 {
		cfg.RelistIdle = 5 * time.Minute
	}
	if cfg.DetachAfter <= 0 {
		cfg.DetachAfter = 500 * time.Millisecond
	}
	if cfg.OnUnreadable == nil {
		cfg.OnUnreadable = func(*logs.ContainerInfo) {}
	}
	return &Pump{daemon: d, log: log, router: router, state: st, reg: reg, cfg: cfg, start: time.Now(), readers: map[string]*reader{}}
}

// DaemonUp reports whether the daemon's event stream stands.
func (p *Pump) DaemonUp() bool { return p.daemonUp.Load() }

// Run subscribes to events first, then lists containers: a container that
// starts in between is seen by both, and ensure is idempotent. That closes
// logspout's list-then-subscribe race (5 of 40 burst containers seen). It
// returns when ctx ends and every reader has stopped.
func (p *Pump) Run(ctx context.Context) {
	subscribed := make(chan struct{})
	var once sync.Once
	ready := func() {
		p.daemonUp.Store(true)
		once.Do(func() { close(subscribed) })
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.watchEvents(ctx, ready)
	}()
	select {
	case <-subscribed:
	case <-ctx.Done():
	}
	if ctx.Err() == nil {
		p.listAll(ctx)
	}
	// dockerd drops events for a subscriber that does not take them within
	// 100 ms (daemon/events), which a loaded host can cause: list again now
	// and then, and attach whatever is new.
	t := time.NewTicker(p.cfg.RelistEvery)
	defer t.Stop()
	seen, listed := p.events.Load(), time.Now()
	for ctx.Err() == nil {
		select {
		case <-t.C:
			if ev := p.events.Load(); ev != seen || time.Since(listed) >= p.cfg.RelistIdle {
				p.listNew(ctx)
				seen, listed = ev, time.Now()
			}
		case <-ctx.Done():
		}
	}
	<-done
	p.wg.Wait()
}

// watchEvents follows container events forever, resubscribing after an
// error from the last event seen (the daemon replays up to 256), and
// listing again after a break to catch anything older.
func (p *Pump) watchEvents(ctx context.Context, ready func()) {
	since := p.start.Add(-time.Second)
	bo := retry.New(100*time.Millisecond, 5*time.Second)
	first := true
	for ctx.Err() == nil {
		err := p.daemon.Events(ctx, since, func() {
			ready()
			bo.Reset()
			if !first {
				go p.listAll(ctx)
			}
			first = false
		}, func(ev engine.Event) {
			p.events.Add(1)
			if ev.TimeNano > 0 {
				since = time.Unix(0, ev.TimeNano)
			}
			switch ev.Action {
			case "start":
				p.ensure(ctx, ev.ID)
			case "destroy":
				p.forget(ev.ID)
			}
		})
		if ctx.Err() != nil {
			return
		}
		p.daemonUp.Store(false)
		p.log.WithError(err).Warn("docker events stream ended; resubscribing")
		bo.Sleep(ctx)
	}
}

// listAll ensures a reader for every running container and every stopped
// one we were tracking (its last lines may not be shipped yet).
func (p *Pump) listAll(ctx context.Context) {
	ids, err := p.daemon.ListContainers(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.log.WithError(err).Warn("list containers")
		}
		return
	}
	known := make(map[string]bool, len(ids))
	for _, id := range ids {
		known[id] = true
		p.ensure(ctx, id)
	}
	p.state.Prune(known)
}

// listNew attaches containers we have never seen.
func (p *Pump) listNew(ctx context.Context) {
	ids, err := p.daemon.ListContainers(ctx)
	if err != nil {
		return
	}
	for _, id := range ids {
		p.mu.Lock()
		known := p.readers[id] != nil
		p.mu.Unlock()
		if !known {
			p.ensure(ctx, id)
		}
	}
}

// ensure makes sure a reader runs for id. It never blocks on the daemon:
// the event loop must keep draining, or the daemon drops events for us.
func (p *Pump) ensure(ctx context.Context, id string) {
	p.mu.Lock()
	r := p.readers[id]
	if r == nil {
		c, _ := p.reg.GetOrAdd(id)
		r = &reader{c: c}
		p.readers[id] = r
	}
	p.mu.Unlock()
	r.mu.Lock()
	var lagging []logs.Target
	for t, ls := range r.lagging {
		if ls.reading {
			ls.again = true
		} else {
			ls.reading = true
			lagging = append(lagging, t)
		}
	}
	start := !r.reading
	if r.reading {
		r.again = true
	}
	r.reading = true
	r.mu.Unlock()
	if start {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.readLoop(ctx, r)
		}()
	}
	for _, t := range lagging {
		p.startDetached(ctx, r, t)
	}
}

// readLoop follows r's container, once more when a start event came meanwhile.
func (p *Pump) readLoop(ctx context.Context, r *reader) {
	for {
		p.follow(ctx, r, nil)
		r.mu.Lock()
		if r.again && ctx.Err() == nil {
			r.again = false
			r.mu.Unlock()
			continue
		}
		r.reading = false
		r.mu.Unlock()
		return
	}
}

// detach gives route t its own reader of r's container from position from:
// t's queue is full, and waiting for it would hold back every other route.
// Its reader waits on t's queue alone (back-pressure on that route only);
// the lines stay in dockerd's log until then.
func (p *Pump) detach(ctx context.Context, r *reader, t logs.Target, from logs.Pos) {
	r.c.Detach(t, from)
	r.mu.Lock()
	if r.lagging == nil {
		r.lagging = map[logs.Target]*lagState{}
	}
	r.lagging[t] = &lagState{reading: true}
	r.mu.Unlock()
	t.CountDetached()
	p.log.WithField("route", t.ID()).WithField("container", short(r.c.ID)).
		Warn("route queue full: the route gets its own reader for this container")
	p.startDetached(ctx, r, t)
}

func (p *Pump) startDetached(ctx context.Context, r *reader, t logs.Target) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			p.follow(ctx, r, t)
			r.mu.Lock()
			ls := r.lagging[t]
			if ls != nil && ls.again && ctx.Err() == nil && r.c.IsDetached(t) {
				ls.again = false
				r.mu.Unlock()
				continue
			}
			if ls != nil {
				ls.reading = false
				if !r.c.IsDetached(t) {
					delete(r.lagging, t) // the route was deleted
				}
			}
			r.mu.Unlock()
			return
		}
	}()
}

// forget drops a destroyed container.
func (p *Pump) forget(id string) {
	p.mu.Lock()
	delete(p.readers, id)
	p.mu.Unlock()
	p.reg.Remove(id)
	p.state.Forget(id)
}

func short(id string) string { return id[:min(12, len(id))] }

// follow reads one container until it has stopped and every line it wrote
// has been read. A follow stream that ends is followed by a read without
// follow from the last line read: dockerd 20.10's follow stream can lose the
// tail of a final line without '\n' (moby#43860); the plain read has it.
func (p *Pump) follow(ctx context.Context, r *reader, only logs.Target) {
	bo := retry.New(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil && !r.isUnreadable() {
		info, err := p.daemon.Inspect(ctx, r.c.ID)
		var nf engine.ErrNotFound
		if errors.As(err, &nf) {
			return
		}
		if err != nil {
			p.log.WithError(err).Debug("inspect")
			bo.Sleep(ctx)
			continue
		}
		if only == nil && !p.attachable(r, info) {
			return
		}
		if only != nil && !r.c.IsDetached(only) {
			return // the route was deleted
		}
		err = p.stream(ctx, r, info.Running, only)
		if errors.Is(err, errRouteGone) || ctx.Err() != nil {
			return
		}
		if engine.IsUnreadable(err) {
			p.unreadable(r, info, err)
			return
		}
		if !info.Running && err == nil {
			return // the whole log of a stopped container is read
		}
		switch {
		case errors.Is(err, errInactive):
			p.log.WithField("container", short(r.c.ID)).Debug("inactivity timeout: attaching again")
		case err != nil:
			p.log.WithError(err).WithField("container", short(r.c.ID)).Debug("log stream ended")
			bo.Sleep(ctx)
		default:
			retry.Sleep(ctx, 10*time.Millisecond) // follow ended: inspect again, then read the rest
		}
	}
}

// attachable applies the skip rules on first sight and sets the starting
// point of a container we have not read before.
func (p *Pump) attachable(r *reader, info *logs.ContainerInfo) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.c
	if c.Info == nil {
		if why := skipReason(info, p.cfg.AllowTTY, p.cfg.Exclude); why != "" {
			p.log.WithField("container", info.Name).Debug("skipped: " + why)
			return false
		}
		c.Info = info
	}
	if c.Tracked() {
		return true
	}
	if sp, ok := p.state.Lookup(c.ID); ok {
		c.SetResume(sp) // resume: skip exactly what was delivered
	} else if p.cfg.Tail > 0 {
		r.tail = p.cfg.Tail // TAIL: the last entries, whatever their age
	} else if !info.Running && !p.cfg.Backlog && info.Created.Before(p.start) {
		// Stopped before we started and never tracked: logspout reads
		// nothing of it either.
		return false
	} else {
		c.SetPosition(logs.Pos{NS: logs.TimeNS(p.firstRead(info))})
	}
	c.Track()
	p.state.Track(c.ID)
	return true
}

// unreadable notes, once, a container whose log the daemon cannot read.
func (p *Pump) unreadable(r *reader, info *logs.ContainerInfo, err error) {
	r.mu.Lock()
	first := !r.unreadable
	r.unreadable = true
	r.mu.Unlock()
	if first {
		p.log.WithField("container", info.Name).WithField("log_driver", info.LogDriver).
			Infof("not shipped: the daemon cannot read this container's log back (%v)", err)
		p.cfg.OnUnreadable(info)
	}
}

func (r *reader) isUnreadable() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unreadable
}

// firstRead is where a container never read before starts. A fresh attach
// starts from Created, not StartedAt: the first lines can be stamped ~30 ms
// before StartedAt. Containers that predate us start at our start-up
// unless BACKLOG=true (then from the start).
func (p *Pump) firstRead(info *logs.ContainerInfo) time.Time {
	if p.cfg.Backlog {
		return time.Time{}
	}
	if info.Created.Before(p.start) {
		return p.start
	}
	return info.Created
}

// source is the first source that accepts the container. The log says
// which one reads each container, and when that changes.
func (p *Pump) source(r *reader, only logs.Target) logs.Source {
	for _, s := range p.cfg.Sources {
		if s.Accepts(r.c.Info) {
			r.mu.Lock()
			changed := only == nil && r.src != s.Name()
			if changed {
				r.src = s.Name()
			}
			r.mu.Unlock()
			if changed {
				p.log.WithField("container", short(r.c.ID)).WithField("name", r.c.Info.Name).
					WithField("driver", r.c.Info.LogDriver).WithField("source", s.Name()).Info("reading container")
			}
			return s
		}
	}
	return nil
}
