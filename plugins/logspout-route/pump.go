package main

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// pumpConfig is what decides which containers are read and from where.
type pumpConfig struct {
	AllowTTY bool
	Exclude  []excludeLabel
	Backlog  bool
	Logstash logstashConfig
}

// pump finds containers and runs one reader per container.
type pump struct {
	eng    engine
	log    *logrus.Logger
	router *router
	state  *stateStore
	cfg    pumpConfig
	start  time.Time

	ctx  context.Context // for readers started from the dispatcher
	mu   sync.Mutex
	ctrs map[string]*container
	wg   sync.WaitGroup

	daemonUp atomic.Bool
}

func newPump(eng engine, log *logrus.Logger, r *router, st *stateStore, cfg pumpConfig) *pump {
	return &pump{eng: eng, log: log, router: r, state: st, cfg: cfg, start: time.Now(), ctrs: map[string]*container{}}
}

// run subscribes to events first, then lists containers: a container that
// starts in between is seen by both, and ensure is idempotent. That closes
// logspout's list-then-subscribe race (5 of 40 burst containers seen).
func (p *pump) run(ctx context.Context) {
	p.ctx = ctx
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
	t := time.NewTicker(relistEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			p.listNew(ctx)
			continue
		case <-ctx.Done():
		}
		break
	}
	<-done
	p.wg.Wait()
}

// watchEvents follows container events forever, resubscribing after an
// error from the last event seen (the daemon replays up to 256), and
// listing again after a break to catch anything older.
func (p *pump) watchEvents(ctx context.Context, ready func()) {
	since := p.start.Add(-time.Second)
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	first := true
	for ctx.Err() == nil {
		err := p.eng.Events(ctx, since, func() {
			ready()
			backoff.reset()
			if !first {
				go p.listAll(ctx)
			}
			first = false
		}, func(ev engineEvent) {
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
		backoff.sleep(ctx)
	}
}

// listAll ensures a reader for every running container and every stopped
// one we were tracking (its last lines may not be shipped yet).
func (p *pump) listAll(ctx context.Context) {
	ids, err := p.eng.ListContainers(ctx)
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
	p.state.prune(known)
}

// relistEvery is how often containers are listed to catch a start event
// the daemon dropped.
const relistEvery = 3 * time.Second

// listNew attaches containers we have never seen.
func (p *pump) listNew(ctx context.Context) {
	ids, err := p.eng.ListContainers(ctx)
	if err != nil {
		return
	}
	for _, id := range ids {
		p.mu.Lock()
		known := p.ctrs[id] != nil
		p.mu.Unlock()
		if !known {
			p.ensure(ctx, id)
		}
	}
}

// ensure makes sure a reader runs for id. It never blocks on the daemon:
// the event loop must keep draining, or the daemon drops events for us.
func (p *pump) ensure(ctx context.Context, id string) {
	p.mu.Lock()
	c := p.ctrs[id]
	if c == nil {
		c = &container{id: id}
		p.ctrs[id] = c
	}
	p.mu.Unlock()
	c.mu.Lock()
	var lagging []*routeRun
	for r, ds := range c.detached {
		if ds.reading {
			ds.again = true
		} else {
			ds.reading = true
			lagging = append(lagging, r)
		}
	}
	if c.reading {
		c.again = true
		c.mu.Unlock()
	} else {
		c.reading = true
		c.mu.Unlock()
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			for {
				p.follow(ctx, c, nil)
				c.mu.Lock()
				if c.again && ctx.Err() == nil {
					c.again = false
					c.mu.Unlock()
					continue
				}
				c.reading = false
				c.mu.Unlock()
				return
			}
		}()
	}
	for _, r := range lagging {
		p.startDetached(ctx, c, r)
	}
}

// detach gives route r its own reader of c from position from: r's queue is
// full, and waiting for it would hold back every other route. Its reader
// waits on r's queue alone (back-pressure on that route only); the lines
// stay in dockerd's log until then.
func (p *pump) detach(c *container, r *routeRun, from pos) {
	c.mu.Lock()
	if c.detached == nil {
		c.detached = map[*routeRun]*detachedState{}
	}
	c.detached[r] = &detachedState{pos: from, reading: true}
	c.mu.Unlock()
	r.metrics.detached.Inc()
	p.log.WithField("route", r.route.ID).WithField("container", c.id[:min(12, len(c.id))]).
		Warn("route queue full: the route gets its own reader for this container")
	ctx := p.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	p.startDetached(ctx, c, r)
}

func (p *pump) startDetached(ctx context.Context, c *container, r *routeRun) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			p.follow(ctx, c, r)
			c.mu.Lock()
			ds := c.detached[r]
			if ds != nil && ds.again && ctx.Err() == nil {
				ds.again = false
				c.mu.Unlock()
				continue
			}
			if ds != nil {
				ds.reading = false
			}
			c.mu.Unlock()
			return
		}
	}()
}

// forget drops a destroyed container.
func (p *pump) forget(id string) {
	p.mu.Lock()
	delete(p.ctrs, id)
	p.mu.Unlock()
	p.state.forget(id)
}

// containers returns the tracked containers (for the state file).
func (p *pump) containers() []*container {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*container, 0, len(p.ctrs))
	for _, c := range p.ctrs {
		out = append(out, c)
	}
	return out
}

// follow reads one container until it has stopped and every line it wrote
// has been read. A follow stream that ends is followed by a read without
// follow from the last line read: dockerd 20.10's follow stream can lose the
// tail of a final line without '\n' (moby#43860); the plain read has it.
func (p *pump) follow(ctx context.Context, c *container, only *routeRun) {
	backoff := newBackoff(100*time.Millisecond, 5*time.Second)
	for ctx.Err() == nil {
		info, err := p.eng.Inspect(ctx, c.id)
		var nf errNotFound
		if errors.As(err, &nf) {
			return
		}
		if err != nil {
			p.log.WithError(err).Debug("inspect")
			backoff.sleep(ctx)
			continue
		}
		if only == nil && !p.attachable(c, info) {
			return
		}
		if only != nil && !c.isDetached(only) {
			return // the route was deleted
		}
		err = p.stream(ctx, c, info.Running, only)
		if errors.Is(err, errRouteGone) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if !info.Running && err == nil {
			return // the whole log of a stopped container is read
		}
		if err != nil {
			p.log.WithError(err).WithField("container", c.id[:min(12, len(c.id))]).Debug("log stream ended")
			backoff.sleep(ctx)
		} else {
			sleepCtx(ctx, 10*time.Millisecond) // follow ended: inspect again, then read the rest
		}
	}
}

// attachable applies the skip rules on first sight and sets the starting
// point of a container we have not read before.
func (p *pump) attachable(c *container, info *containerInfo) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.info == nil {
		if why := skipReason(info, p.cfg.AllowTTY, p.cfg.Exclude); why != "" {
			p.log.WithField("container", info.Name).Debug("skipped: " + why)
			return false
		}
		c.info = info
		c.logstashPrefix, c.logstashSuffix, c.decodeJSON = p.cfg.Logstash.containerParts(info)
	}
	if !c.tracked {
		if sp, ok := p.state.lookup(c.id); ok {
			c.readPos = sp // resume: skip exactly what was delivered
		} else if !info.Running && !p.cfg.Backlog && info.Created.Before(p.start) {
			// Stopped before we started and never tracked: logspout reads
			// nothing of it either.
			return false
		} else {
			// A fresh attach starts from Created, not StartedAt: the first
			// lines can be stamped ~30 ms before StartedAt. Containers that
			// predate us start at our start-up unless BACKLOG=true.
			from := info.Created
			if !p.cfg.Backlog && from.Before(p.start) {
				from = p.start
			}
			if p.cfg.Backlog {
				from = time.Time{}
			}
			c.readPos = pos{NS: timeNS(from)}
		}
		c.tracked = true
		p.state.track(c)
	}
	return true
}

func timeNS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// tailSteps are the windows tried before tail=all when resuming.
var tailSteps = []string{"16384", "262144"}

// maxLine caps a reassembled line; beyond it the rest becomes a new line.
const maxLine = 1 << 20

// stream reads one log stream of c from its read position. With follow
// false it also flushes a final line that has no '\n'.
func (p *pump) stream(ctx context.Context, c *container, follow bool, only *routeRun) error {
	c.mu.Lock()
	start := c.readPos
	if only != nil {
		ds := c.detached[only]
		if ds == nil {
			c.mu.Unlock()
			return errRouteGone
		}
		start = ds.pos
	}
	tty := c.info.Tty
	c.mu.Unlock()
	var since time.Time
	if start.NS > 0 {
		since = time.Unix(0, start.NS)
	}
	// With tail=all dockerd decodes the whole retained log to filter by
	// since (3 s per 1M lines), on every re-attach. Try reading only the
	// last entries, from a second before the resume point, and accept the
	// result when its first line is older than the resume point: then the
	// window holds every line stamped at the resume point, which the skip
	// count needs (a window starting between two lines of the same
	// nanosecond would skip one too many). Otherwise ask for more. Nothing
	// is dispatched before that check.
	tails := []string{"all"}
	if start.NS > 0 && start.N > 0 {
		tails = append(append([]string{}, tailSteps...), "all")
	}
	var (
		rc      io.ReadCloser
		next    func() (byte, []byte, error)
		first   bool // a frame read by the check waits in stream/payload
		fStream byte
		fData   []byte
	)
	for i, tail := range tails {
		var err error
		from := since
		if i < len(tails)-1 {
			from = since.Add(-time.Second)
		}
		rc, err = p.eng.Logs(ctx, c.id, logsOptions{Follow: follow, Since: from, Tail: tail})
		if err != nil {
			return err
		}
		if tty {
			next = newTTYReader(rc).Next
		} else {
			next = newFrameReader(rc).Next
		}
		if i == len(tails)-1 {
			break
		}
		s, payload, err := next()
		if err != nil {
			if err == io.EOF {
				break // nothing after since among the last entries: nothing new at all
			}
			rc.Close()
			return err
		}
		if ns, _, _, err := splitTimestamp(payload); err == nil && ns < start.NS {
			first, fStream, fData = true, s, append([]byte(nil), payload...)
			break
		}
		rc.Close() // the window began after our position: read further back
	}
	defer rc.Close()
	if first {
		inner := next
		next = func() (byte, []byte, error) {
			if first {
				first = false
				return fStream, fData, nil
			}
			return inner()
		}
	}
	d := dispatcher{p: p, c: c, skip: start, only: only}
	var partial [3][]byte
	var partialNS [3]int64
	for {
		if d.gone {
			return errRouteGone
		}
		stream, payload, err := next()
		if err != nil {
			if err == io.EOF {
				if !follow {
					// The last line of a stopped container may lack its '\n'.
					for s := range partial {
						if len(partial[s]) > 0 {
							d.emit(partialNS[s], byte(s), partial[s])
							partial[s] = partial[s][:0]
						}
					}
				}
				return nil
			}
			return err
		}
		if stream != streamStdout && stream != streamStderr {
			continue
		}
		ns, _, data, err := splitTimestamp(payload)
		if err != nil {
			return err
		}
		// Docker splits lines at 16 KiB; each chunk is a frame with the same
		// timestamp, only the last ending in '\n'. Reassemble per stream and
		// keep the first chunk's timestamp.
		if len(partial[stream]) > 0 {
			partial[stream] = append(partial[stream], data...)
			if l := len(partial[stream]); partial[stream][l-1] == '\n' {
				d.emit(partialNS[stream], stream, partial[stream][:l-1])
				partial[stream] = partial[stream][:0]
			} else if l >= maxLine {
				d.emit(partialNS[stream], stream, partial[stream])
				partial[stream] = partial[stream][:0]
			}
			continue
		}
		if l := len(data); l > 0 && data[l-1] == '\n' {
			l--
			if tty && l > 0 && data[l-1] == '\r' {
				l-- // a TTY ends its lines in "\r\n"
			}
			d.emit(ns, stream, data[:l])
			continue
		}
		partial[stream] = append(partial[stream], data...)
		partialNS[stream] = ns
	}
}

// detachAfter is how long the main reader waits on a full route queue
// before that route gets its own reader of the container.
const detachAfter = 500 * time.Millisecond

// errRouteGone ends a lagging route's reader when the route was deleted.
var errRouteGone = errors.New("route deleted")

// dispatcher hands one stream's lines to the matching routes: every
// attached route (main reader) or one lagging route (only).
type dispatcher struct {
	p        *pump
	c        *container
	only     *routeRun
	skip     pos // lines up to here were delivered before: drop them
	last     pos
	version  uint64
	resolved bool
	gone     bool
	targets  []target
}

type target struct {
	r    *routeRun
	mask uint8
}

// emit counts a complete line, drops it when it was delivered before the
// resume point, and queues it on every matching route. A full queue blocks
// here: back-pressure on this container's reader.
func (d *dispatcher) emit(ns int64, stream byte, line []byte) {
	n := uint32(1)
	if ns == d.last.NS {
		n = d.last.N + 1
	}
	d.last = pos{ns, n}
	// Docker's `since` keeps lines stamped exactly at since: skip the ones
	// already delivered, counted at that timestamp. Without this every
	// resume repeats the boundary line(s).
	if ns < d.skip.NS || (ns == d.skip.NS && n <= d.skip.N) {
		return
	}
	if v := d.p.router.version.Load(); v != d.version || !d.resolved {
		d.resolve()
		d.version, d.resolved = v, true
	}
	for i := 0; i < len(d.targets); i++ {
		t := d.targets[i]
		if t.mask&(1<<stream) == 0 {
			continue
		}
		d.c.queued(t.r)
		res := t.r.q.push(d.c, ns, n, stream, line, d.only != nil)
		// A queue full for a moment is normal while history is read faster
		// than a sink takes it: wait a little before giving up on the route.
		if res == queueFull {
			for deadline := time.Now().Add(detachAfter); res == queueFull && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
				res = t.r.q.push(d.c, ns, n, stream, line, false)
			}
		}
		switch res {
		case pushed:
			t.r.metrics.read.Inc()
		case queueFull:
			// Only the main reader gets here: hand this line and the rest
			// to a reader of the route's own.
			d.c.unqueued(t.r)
			d.p.detach(d.c, t.r, d.c.position())
			d.targets = append(d.targets[:i], d.targets[i+1:]...)
			i--
		case queueClosed:
			d.c.unqueued(t.r) // route deleted meanwhile
			if d.only != nil {
				d.gone = true
			}
		}
	}
	if d.only != nil {
		d.c.detachedRead(d.only, d.last)
	} else {
		d.c.read(d.last)
	}
}

// resolve picks the routes this reader feeds.
func (d *dispatcher) resolve() {
	all := d.p.router.targetsFor(d.c, d.targets[:0])
	d.targets = all[:0]
	for _, t := range all {
		switch {
		case d.only != nil && t.r == d.only:
			d.targets = append(d.targets, t)
		case d.only == nil && !d.c.isDetached(t.r):
			d.targets = append(d.targets, t)
		}
	}
	if d.only != nil && len(d.targets) == 0 {
		d.gone = true
	}
}
