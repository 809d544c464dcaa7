package logs

import (
	"strings"
	"sync"
	"time"
)

// ContainerInfo is what logspout-route needs of a container's inspect.
type ContainerInfo struct {
	ID        string
	Name      string // with the leading '/'
	Image     string // Config.Image
	Hostname  string
	Env       []string
	Labels    map[string]string
	Tty       bool
	LogDriver string
	Running   bool
	Created   time.Time
	Pid       int
}

// EnvValue returns the value of key in the container's environment.
func (c *ContainerInfo) EnvValue(key string) (string, bool) {
	for _, kv := range c.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// Streams holds one position per stream (indexed by StreamStdout,
// StreamStderr): multiline groups make the two streams' delivery points
// independent.
type Streams [3]Pos

// Min is the earlier of the stdout and stderr positions.
func (s Streams) Min() Pos {
	if s[StreamStderr].Less(s[StreamStdout]) {
		return s[StreamStderr]
	}
	return s[StreamStdout]
}

// Both is p for both streams.
func Both(p Pos) Streams { return Streams{StreamStdout: p, StreamStderr: p} }

// Before is the position just before the line at p: resuming there reads
// that line again.
func Before(p Pos) Pos {
	if p.N > 0 {
		p.N--
	}
	return p
}

// Container is one source container: what we know of it and where its
// lines have got to on their way to every route, per stream.
type Container struct {
	ID string
	// Info is set once by the reader (after inspect) before any line is
	// queued; read-only after.
	Info *ContainerInfo

	mu sync.Mutex
	// readPos is the last line read and handed to the routes (or the resume
	// point before any). Its N counts lines (of both streams) at that
	// timestamp.
	readPos Pos
	// resume is where each stream was delivered up to when reading started
	// (a restart): lines up to it are skipped.
	resume  Streams
	routes  map[Target]*progress
	holds   [3]*Pos // per stream: before the first line of a multiline group being gathered
	tracked bool    // attached at least once: keep its position in the state file
	// detached holds the routes that fell behind on this container: each
	// has its own reader, and this is its position.
	detached map[Target]Pos
	cache    map[any]any
}

// NewContainer returns a container starting at from.
func NewContainer(id string, info *ContainerInfo, from Pos) *Container {
	return &Container{ID: id, Info: info, readPos: from, resume: Both(from)}
}

// progress is one route's progress through one container's lines, per stream.
type progress struct {
	pending   [3]int // events queued, not yet confirmed
	confirmed [3]Pos // last confirmed line (or the point before the first queued)
}

func (c *Container) progress(t Target) *progress {
	rp := c.routes[t]
	if rp == nil {
		rp = &progress{}
		if c.routes == nil {
			c.routes = map[Target]*progress{}
		}
		c.routes[t] = rp
	}
	return rp
}

// Queued records that an event of stream s whose first line comes right
// after before went to route t (call before pushing it).
func (c *Container) Queued(t Target, s byte, before Pos) {
	c.mu.Lock()
	rp := c.progress(t)
	if rp.pending[s] == 0 || before.Less(rp.confirmed[s]) {
		rp.confirmed[s] = before
	}
	rp.pending[s]++
	c.mu.Unlock()
}

// QueuedNext is Queued for the line right after the read position (a plain
// line): one lock instead of Position then Queued.
func (c *Container) QueuedNext(t Target, s byte) {
	c.mu.Lock()
	rp := c.progress(t)
	if rp.pending[s] == 0 || c.readPos.Less(rp.confirmed[s]) {
		rp.confirmed[s] = c.readPos
	}
	rp.pending[s]++
	c.mu.Unlock()
}

// Confirmed records that route t delivered count events of stream s, the
// last ending at p.
func (c *Container) Confirmed(t Target, s byte, p Pos, count int) {
	c.mu.Lock()
	if rp := c.routes[t]; rp != nil {
		rp.pending[s] -= count
		if rp.pending[s] < 0 {
			rp.pending[s] = 0
		}
		rp.confirmed[s] = p
	}
	c.mu.Unlock()
}

// Unqueued undoes Queued when the route refused the event.
func (c *Container) Unqueued(t Target, s byte) {
	c.mu.Lock()
	if rp := c.routes[t]; rp != nil && rp.pending[s] > 0 {
		rp.pending[s]--
	}
	c.mu.Unlock()
}

// Hold keeps stream s's resume point at or before before while a multiline
// group is gathered (its lines are read but in no queue yet).
func (c *Container) Hold(s byte, before Pos) {
	c.mu.Lock()
	c.holds[s] = &before
	c.mu.Unlock()
}

// Release ends Hold (the group is queued, or dropped).
func (c *Container) Release(s byte) {
	c.mu.Lock()
	c.holds[s] = nil
	c.mu.Unlock()
}

// Read advances the read position after a line went to every route.
func (c *Container) Read(p Pos) {
	c.mu.Lock()
	c.readPos = p
	c.mu.Unlock()
}

// Position is the main reader's position (the point before the line it is
// handing out).
func (c *Container) Position() Pos {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.readPos
}

// SafePosition is Position, or earlier while a multiline group is
// gathered: a reader starting there sees every line of the group.
func (c *Container) SafePosition() Pos {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.readPos
	for _, h := range c.holds {
		if h != nil && h.Less(p) {
			p = *h
		}
	}
	return p
}

// SetPosition sets where reading starts (first attach).
func (c *Container) SetPosition(p Pos) { c.SetResume(Both(p)) }

// SetResume sets where each stream resumes (a saved state): reading starts
// at the earlier one, and each stream skips what it delivered.
func (c *Container) SetResume(r Streams) {
	c.mu.Lock()
	c.readPos = r.Min()
	c.resume = r
	c.mu.Unlock()
}

// Skip is, per stream, the last line already delivered before this read.
func (c *Container) Skip() Streams {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Streams
	for s := range out {
		out[s] = c.readPos
		if c.readPos.Less(c.resume[s]) {
			out[s] = c.resume[s]
		}
	}
	return out
}

// Checkpoint is the resume point per stream: every line up to it was
// delivered by every route that took it. A route with nothing pending does
// not hold it back; a multiline group being gathered does.
func (c *Container) Checkpoint() Streams {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out Streams
	for _, s := range []byte{StreamStdout, StreamStderr} {
		p := c.readPos
		if p.Less(c.resume[s]) {
			p = c.resume[s] // skipped lines of this stream were delivered before
		}
		for _, rp := range c.routes {
			if rp.pending[s] > 0 && rp.confirmed[s].Less(p) {
				p = rp.confirmed[s]
			}
		}
		if h := c.holds[s]; h != nil && h.Less(p) {
			p = *h
		}
		for _, dp := range c.detached {
			if dp.Less(p) {
				p = dp
			}
		}
		out[s] = p
	}
	return out
}

// DropRoute forgets a deleted route's pending lines.
func (c *Container) DropRoute(t Target) {
	c.mu.Lock()
	delete(c.routes, t)
	delete(c.detached, t)
	c.mu.Unlock()
}

// Detach records that route t now has its own reader of c from position from.
func (c *Container) Detach(t Target, from Pos) {
	c.mu.Lock()
	if c.detached == nil {
		c.detached = map[Target]Pos{}
	}
	c.detached[t] = from
	c.mu.Unlock()
}

// IsDetached reports whether route t has its own reader of c.
func (c *Container) IsDetached(t Target) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.detached[t]
	return ok
}

// DetachedPosition is a lagging route's own read position.
func (c *Container) DetachedPosition(t Target) (Pos, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.detached[t]
	return p, ok
}

// DetachedRead advances a lagging route's own read position.
func (c *Container) DetachedRead(t Target, p Pos) {
	c.mu.Lock()
	if _, ok := c.detached[t]; ok {
		c.detached[t] = p
	}
	c.mu.Unlock()
}

// Detached returns the routes that have their own reader of c.
func (c *Container) Detached() []Target {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Target, 0, len(c.detached))
	for t := range c.detached {
		out = append(out, t)
	}
	return out
}

// Track marks c attached: its checkpoint goes to the state file.
func (c *Container) Track() {
	c.mu.Lock()
	c.tracked = true
	c.mu.Unlock()
}

// Tracked reports whether c was attached at least once.
func (c *Container) Tracked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tracked
}

// Cached returns the value stored under key, making it with mk on first use:
// per-container data an encoder computes once (it dies with the container,
// so no encoder keeps a map of every container ever seen).
func (c *Container) Cached(key any, mk func() any) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cache[key]; ok {
		return v
	}
	if c.cache == nil {
		c.cache = map[any]any{}
	}
	v := mk()
	c.cache[key] = v
	return v
}

// Registry is the set of containers being read. The source adds and
// removes them; the state store and the router walk it.
type Registry struct {
	mu   sync.Mutex
	ctrs map[string]*Container
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{ctrs: map[string]*Container{}} }

// GetOrAdd returns id's container, adding a new one if it is unknown.
func (r *Registry) GetOrAdd(id string) (c *Container, added bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c = r.ctrs[id]; c != nil {
		return c, false
	}
	c = &Container{ID: id}
	r.ctrs[id] = c
	return c, true
}

// Has reports whether id is known.
func (r *Registry) Has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ctrs[id] != nil
}

// Put adds c (tests and benchmarks build containers directly).
func (r *Registry) Put(c *Container) {
	r.mu.Lock()
	r.ctrs[c.ID] = c
	r.mu.Unlock()
}

// Remove forgets id.
func (r *Registry) Remove(id string) {
	r.mu.Lock()
	delete(r.ctrs, id)
	r.mu.Unlock()
}

// All returns the containers.
func (r *Registry) All() []*Container {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Container, 0, len(r.ctrs))
	for _, c := range r.ctrs {
		out = append(out, c)
	}
	return out
}

// Len is the number of containers.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ctrs)
}
