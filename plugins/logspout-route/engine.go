package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// The daemon boundary: the few Engine API calls logspout-route makes. A small
// client of our own keeps the image under its 12 MB budget (the official one
// adds ~7 MB with OpenTelemetry) and hands us the raw log stream, whose
// frames we must account for byte by byte anyway (stdcopy drops a cut frame).

// containerInfo is what we need of a container's inspect.
type containerInfo struct {
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

// engineEvent is a container event.
type engineEvent struct {
	ID       string
	Action   string
	TimeNano int64
}

// engine is the daemon as logspout-route uses it.
type engine interface {
	Ping(ctx context.Context) error
	Events(ctx context.Context, since time.Time, ready func(), fn func(engineEvent)) error
	ListContainers(ctx context.Context) ([]string, error)
	Inspect(ctx context.Context, id string) (*containerInfo, error)
	Logs(ctx context.Context, id string, o logsOptions) (io.ReadCloser, error)
}

type logsOptions struct {
	Follow bool
	Since  time.Time // zero: from the start
	Tail   string    // "all" (default) or a number of entries from the end
}

// engineClient speaks the Engine API over DOCKER_HOST (unix or tcp).
type engineClient struct {
	http    *http.Client
	base    string // http://docker/v1.41
	version string
}

// errNotFound is a 404 from the daemon: the container is gone.
type errNotFound struct{ msg string }

func (e errNotFound) Error() string { return e.msg }

// newEngineClient connects to DOCKER_HOST (default unix:///var/run/docker.sock)
// and negotiates the API version with /_ping, as the Docker CLI does.
func newEngineClient(ctx context.Context) (*engineClient, error) {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	proto, addr, ok := strings.Cut(host, "://")
	if !ok {
		return nil, fmt.Errorf("DOCKER_HOST %q: want unix:// or tcp://", host)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, DisableCompression: true,
		ReadBufferSize: 32 << 10}
	base := "http://docker"
	switch proto {
	case "unix":
		d := net.Dialer{Timeout: 10 * time.Second}
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", addr)
		}
	case "tcp", "http":
		base = "http://" + addr
	default:
		return nil, fmt.Errorf("DOCKER_HOST %q: only unix:// and tcp:// are supported", host)
	}
	c := &engineClient{http: &http.Client{Transport: tr}, base: base}
	if err := c.negotiate(ctx); err != nil {
		return c, err
	}
	return c, nil
}

func (c *engineClient) negotiate(ctx context.Context) error {
	if v := os.Getenv("DOCKER_API_VERSION"); v != "" {
		c.version = v
		return nil
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("docker ping: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c.version = resp.Header.Get("API-Version")
	if c.version == "" {
		c.version = "1.41"
	}
	return nil
}

func (c *engineClient) get(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	if c.version == "" {
		if err := c.negotiate(ctx); err != nil {
			return nil, err
		}
	}
	u := c.base + "/v" + c.version + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var m struct{ Message string }
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &m) == nil && m.Message != "" {
			msg = m.Message
		}
		if resp.StatusCode == http.StatusNotFound {
			return nil, errNotFound{msg}
		}
		return nil, fmt.Errorf("docker %s: %d %s", path, resp.StatusCode, msg)
	}
	return resp, nil
}

// Ping checks the daemon answers.
func (c *engineClient) Ping(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/_ping", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("docker ping: %s", resp.Status)
	}
	return nil
}

// Events streams container start, die and destroy events from since until
// ctx ends or the stream breaks. fn is called synchronously: a slow fn slows
// the read, it never drops an event on our side.
func (c *engineClient) Events(ctx context.Context, since time.Time, ready func(), fn func(engineEvent)) error {
	filters := `{"type":["container"],"event":["start","die","destroy"]}`
	q := url.Values{"filters": {filters}}
	if !since.IsZero() {
		q.Set("since", apiTime(since))
	}
	resp, err := c.get(ctx, "/events", q)
	if err != nil {
		return fmt.Errorf("docker events: %w", err)
	}
	defer resp.Body.Close()
	ready()
	dec := json.NewDecoder(resp.Body)
	for {
		var m struct {
			Type     string
			Action   string
			Actor    struct{ ID string }
			TimeNano int64 `json:"timeNano"`
		}
		if err := dec.Decode(&m); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("docker events: %w", err)
		}
		if m.Type == "container" {
			fn(engineEvent{ID: m.Actor.ID, Action: m.Action, TimeNano: m.TimeNano})
		}
	}
}

// ListContainers returns the ids of all containers, stopped ones included.
func (c *engineClient) ListContainers(ctx context.Context) ([]string, error) {
	resp, err := c.get(ctx, "/containers/json", url.Values{"all": {"1"}})
	if err != nil {
		return nil, fmt.Errorf("docker list: %w", err)
	}
	defer resp.Body.Close()
	var list []struct {
		ID string `json:"Id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, fmt.Errorf("docker list: %w", err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// Inspect returns the fields of GET /containers/{id}/json we use.
func (c *engineClient) Inspect(ctx context.Context, id string) (*containerInfo, error) {
	resp, err := c.get(ctx, "/containers/"+url.PathEscape(id)+"/json", nil)
	if err != nil {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, err)
	}
	defer resp.Body.Close()
	var v struct {
		ID      string `json:"Id"`
		Name    string
		Created time.Time
		Config  struct {
			Image    string
			Hostname string
			Env      []string
			Labels   map[string]string
			Tty      bool
		}
		State struct {
			Running bool
			Pid     int
		}
		HostConfig struct {
			LogConfig struct{ Type string }
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, err)
	}
	return &containerInfo{
		ID: v.ID, Name: v.Name, Image: v.Config.Image, Hostname: v.Config.Hostname,
		Env: v.Config.Env, Labels: v.Config.Labels, Tty: v.Config.Tty,
		LogDriver: v.HostConfig.LogConfig.Type, Running: v.State.Running,
		Created: v.Created, Pid: v.State.Pid,
	}, nil
}

// Logs opens a container's log stream with timestamps, both streams, every
// retained line since o.Since (tail=all: tail=0 would ignore since).
func (c *engineClient) Logs(ctx context.Context, id string, o logsOptions) (io.ReadCloser, error) {
	tail := o.Tail
	if tail == "" {
		tail = "all"
	}
	q := url.Values{"stdout": {"1"}, "stderr": {"1"}, "timestamps": {"1"}, "tail": {tail}}
	if o.Follow {
		q.Set("follow", "1")
	}
	if !o.Since.IsZero() {
		q.Set("since", apiTime(o.Since))
	}
	resp, err := c.get(ctx, "/containers/"+url.PathEscape(id)+"/logs", q)
	if err != nil {
		return nil, fmt.Errorf("docker logs %.12s: %w", id, err)
	}
	return &lingerReader{rc: resp.Body}, nil
}

// A log stream rests after a small read, between minLinger and maxLinger.
const (
	minLinger   = 250 * time.Microsecond
	maxLinger   = 5 * time.Millisecond
	lingerBytes = 16 << 10 // what a rest aims to let accumulate
)

// lingerReader lets a log stream accumulate: dockerd writes and flushes one
// frame per line, so a reader keeping up with it would pay a syscall and a
// goroutine wake-up per line. After a small read it rests, and the next
// read takes everything that arrived meanwhile. The rest adapts to the
// stream's rate so that ~16 KiB gathers (at most 5 ms of added latency); a
// fast stream never rests, an idle one costs nothing (rests follow data).
type lingerReader struct {
	rc    io.ReadCloser
	small bool
	rest  time.Duration // adapted to the observed rate
	since time.Time     // start of the rate window
	bytes int64         // read in the window
}

func (l *lingerReader) Read(p []byte) (int, error) {
	if l.small {
		if l.rest == 0 {
			l.rest = time.Millisecond
		}
		time.Sleep(l.rest)
	}
	n, err := l.rc.Read(p)
	now := time.Now()
	if l.since.IsZero() {
		l.since = now
	}
	l.bytes += int64(n)
	if el := now.Sub(l.since); el >= 20*time.Millisecond {
		// Rest long enough for lingerBytes at the rate of the last window.
		rate := float64(l.bytes) / el.Seconds()
		r := maxLinger
		if rate > 0 {
			r = time.Duration(float64(lingerBytes) / rate * float64(time.Second))
		}
		l.rest = min(max(r, minLinger), maxLinger)
		l.since, l.bytes = now, 0
	}
	l.small = n < 4096 && n < len(p)
	return n, err
}

func (l *lingerReader) Close() error { return l.rc.Close() }

// apiTime formats t as the daemon's "seconds.nanoseconds", keeping the
// nanoseconds a resume point needs.
func apiTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}
