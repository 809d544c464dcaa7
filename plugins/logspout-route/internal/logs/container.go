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

// Container is one source container: what we know of it and where its
// lines have got to on their way to every route.
type Container struct {
	ID string
	// Info is set once by the reader (after inspect) before any line is
	// queued; read-only after.
	Info *ContainerInfo

	mu sync.Mutex
	// readPos is the last line read and handed to the routes (or the resume
	// point before any). Its N counts lines at that timestamp.
	readPos Pos
	routes  map[Target]*progress
	// detached holds the routes that fell behind on this container: each
	// has its own reader, and this is its position.
	detached map[Target]Pos
	tracked  bool // attached at least once: keep its position in the state file
	cache    map[any]any
}

// NewContainer returns a container starting at from.
func NewContainer(id string, info *ContainerInfo, from Pos) *Container {
	return &Container{ID: id, Info: info, readPos: from}
}

// progress is one route's progress through one container's lines.
type progress struct {
	pending   int // events queued (or being grouped), not yet confirmed
	confirmed Pos // last confirmed line (or the point before the first queued)
}

// Queued records that an event starting after the read position went to
// route t (call before pushing it).
func (c *Container) Queued(t Target) {
	c.mu.Lock()
	rp := c.routes[t]
	if rp == nil {
		rp = &progress{}
		if c.routes == nil {
			c.routes = map[Target]*progress{}
		}
		c.routes[t] = rp
	}
	if rp.pending == 0 {
		rp.confirmed = c.readPos
	}
	rp.pending++
	c.mu.Unlock()
}

// Confirmed records that route t delivered count events, the last ending at p.
func (c *Container) Confirmed(t Target, p Pos, count int) {
	c.mu.Lock()
	if rp := c.routes[t]; rp != nil {
		rp.pending -= count
		if rp.pending < 0 {
			rp.pending = 0
		}
		rp.confirmed = p
	}
	c.mu.Unlock()
}

// Unqueued undoes Queued when the route refused the event.
func (c *Container) Unqueued(t Target) {
	c.mu.Lock()
	if rp := c.routes[t]; rp != nil && rp.pending > 0 {
		rp.pending--
	}
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

// SetPosition sets where reading starts (resume point or first attach).
func (c *Container) SetPosition(p Pos) { c.Read(p) }

// Checkpoint is the resume point: every line up to it was delivered by every
// route that took it. A route with nothing pending does not hold it back.
func (c *Container) Checkpoint() Pos {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.readPos
	for _, rp := range c.routes {
		if rp.pending > 0 && rp.confirmed.Less(p) {
			p = rp.confirmed
		}
	}
	for _, dp := range c.detached {
		if dp.Less(p) {
			p = dp
		}
	}
	return p
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
