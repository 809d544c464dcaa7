package main

import (
	"sync"
)

// container is one source container: what we know of it, its fixed
// per-container JSON, and where its lines have got to.
type container struct {
	id   string
	info *containerInfo // set by the reader after inspect; read-only after
	// logstashDocker is the precomputed `"docker":{...}` member (and the
	// LOGSTASH_FIELDS / tags members) so the hot path only appends.
	logstashPrefix []byte
	logstashSuffix []byte
	decodeJSON     bool

	mu sync.Mutex
	// readPos is the last line read and handed to the routes (or the resume
	// point before any). Its N counts lines at that timestamp.
	readPos pos
	routes  map[*routeRun]*routeProgress
	// detached holds the routes that fell behind on this container: each
	// has its own reader (and position) so it cannot hold back the others.
	detached map[*routeRun]*detachedState
	reading  bool // a reader goroutine owns this container
	again    bool // a start event arrived while it was reading: read once more
	tracked  bool // attached at least once: keep its position in the state file
}

// detachedState is a lagging route's own reader of this container.
type detachedState struct {
	pos     pos // last line read for this route
	reading bool
	again   bool
}

// routeProgress is one route's progress through one container's lines.
type routeProgress struct {
	pending   int // lines queued, not yet confirmed
	confirmed pos // last confirmed line (or the point before the first queued)
}

// queued records that a line at p went to route r.
func (c *container) queued(r *routeRun) {
	c.mu.Lock()
	rp := c.routes[r]
	if rp == nil {
		rp = &routeProgress{}
		if c.routes == nil {
			c.routes = map[*routeRun]*routeProgress{}
		}
		c.routes[r] = rp
	}
	if rp.pending == 0 {
		rp.confirmed = c.readPos
	}
	rp.pending++
	c.mu.Unlock()
}

// confirmed records that route r delivered count lines, the last at p.
func (c *container) confirmed(r *routeRun, p pos, count int) {
	c.mu.Lock()
	if rp := c.routes[r]; rp != nil {
		rp.pending -= count
		if rp.pending < 0 {
			rp.pending = 0
		}
		rp.confirmed = p
	}
	c.mu.Unlock()
}

// read advances the read position after a line went to every route.
func (c *container) read(p pos) {
	c.mu.Lock()
	c.readPos = p
	c.mu.Unlock()
}

// checkpoint is the resume point: every line up to it was delivered by every
// route that took it. A route with nothing pending does not hold it back.
func (c *container) checkpoint() pos {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.readPos
	for _, rp := range c.routes {
		if rp.pending > 0 && rp.confirmed.less(p) {
			p = rp.confirmed
		}
	}
	for _, ds := range c.detached {
		if ds.pos.less(p) {
			p = ds.pos
		}
	}
	return p
}

// dropRoute forgets a deleted route's pending lines.
func (c *container) dropRoute(r *routeRun) {
	c.mu.Lock()
	delete(c.routes, r)
	delete(c.detached, r)
	c.mu.Unlock()
}

// unqueued undoes queued when the route refused the line (it was deleted).
func (c *container) unqueued(r *routeRun) {
	c.mu.Lock()
	if rp := c.routes[r]; rp != nil && rp.pending > 0 {
		rp.pending--
	}
	c.mu.Unlock()
}

func (c *container) isDetached(r *routeRun) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detached[r] != nil
}

// detachedRead advances a lagging route's own read position.
func (c *container) detachedRead(r *routeRun, p pos) {
	c.mu.Lock()
	if ds := c.detached[r]; ds != nil {
		ds.pos = p
	}
	c.mu.Unlock()
}

// position is the main reader's position (the point before the line it is
// handing out).
func (c *container) position() pos {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readPos
}
