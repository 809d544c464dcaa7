// Package engine is the daemon boundary: the few Engine API calls
// logspout-route makes (events, list, inspect, logs) through the official
// client (github.com/docker/docker/client), the frame decoder of the
// multiplexed log stream, and Source, which reads any container's log
// through the API. Its ContainerLogs hands us the raw multiplexed stream,
// which our own frame decoder (frame.go) reads: we must account for every
// byte, and stdcopy silently drops a frame cut short at EOF.
package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/events"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// Event is a container event.
type Event struct {
	ID       string
	Action   string
	TimeNano int64
}

// LogsOptions select what a log read returns.
type LogsOptions struct {
	Follow bool
	Since  time.Time // zero: from the start
	Tail   string    // "all" (default) or a number of entries from the end
}

// Client is the daemon through the official Engine API client
// (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH, DOCKER_API_VERSION;
// the API version is negotiated with /_ping, as the Docker CLI does).
type Client struct {
	cli *client.Client
}

// IsUnreadable reports the daemon's refusal to read a container's log back
// ("configured logging driver does not support reading": log driver none,
// or a driver without dual logging).
func IsUnreadable(err error) bool {
	return err != nil && (cerrdefs.IsNotImplemented(err) || strings.Contains(err.Error(), "does not support reading"))
}

// ErrNotFound is a 404 from the daemon: the container is gone.
type ErrNotFound struct{ msg string }

func (e ErrNotFound) Error() string { return e.msg }

// NewClient connects to DOCKER_HOST (default unix:///var/run/docker.sock)
// and pings the daemon. A bad DOCKER_HOST returns no client; a daemon that
// does not answer yet returns the client and the error (callers retry).
func NewClient(ctx context.Context) (*Client, error) {
	cli, err := client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation(), withBlockingUnix)
	if err != nil {
		return nil, err
	}
	c := &Client{cli: cli}
	if err := c.Ping(ctx); err != nil {
		return c, err
	}
	return c, nil
}

// withBlockingUnix makes a unix DOCKER_HOST use dialDockerUnix (see there).
// It runs after FromEnv and before the client wraps its transport.
func withBlockingUnix(cli *client.Client) error {
	u, err := client.ParseHostURL(cli.DaemonHost())
	if err != nil || u.Scheme != "unix" || !pollUnix {
		return nil
	}
	path := u.Host
	idle := newIdleWaiter()
	return client.WithDialContext(func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialDockerUnix(ctx, path, idle)
	})(cli)
}

// Ping checks the daemon answers, and negotiates the API version with the
// answer while it is not negotiated yet.
func (c *Client) Ping(ctx context.Context) error {
	p, err := c.cli.Ping(ctx)
	if err != nil {
		return fmt.Errorf("docker ping: %w", err)
	}
	c.cli.NegotiateAPIVersionPing(p)
	return nil
}

// subscribeGrace is how long Events waits for an error after the client
// returned its channels before it calls ready. The client returns once the
// /events request has been answered or has failed, and a failure reaches the
// error channel right after; so an error within the grace means the
// subscription never stood, and ready is not called (nor the backoff reset).
const subscribeGrace = 50 * time.Millisecond

// Events streams container start, die and destroy events from since until
// ctx ends or the stream breaks. fn is called synchronously: a slow fn slows
// the read, it never drops an event on our side (the client's message
// channel blocks its reader, it never drops either). An error ends the
// stream: the caller subscribes again.
func (c *Client) Events(ctx context.Context, since time.Time, ready func(), fn func(Event)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the client's reader goroutine and its connection
	opts := events.ListOptions{Filters: filters.NewArgs(
		filters.Arg("type", string(events.ContainerEventType)),
		filters.Arg("event", string(events.ActionStart)),
		filters.Arg("event", string(events.ActionDie)),
		filters.Arg("event", string(events.ActionDestroy)),
	)}
	if !since.IsZero() {
		// The client sends it as "seconds.nanoseconds": the nanoseconds a
		// resume point needs reach the daemon.
		opts.Since = since.UTC().Format(time.RFC3339Nano)
	}
	msgs, errs := c.cli.Events(ctx, opts)
	grace := time.NewTimer(subscribeGrace)
	defer grace.Stop()
	pending := grace.C
	for {
		select {
		case <-pending:
			pending = nil
			ready()
		case m := <-msgs:
			if pending != nil {
				pending = nil
				ready()
			}
			if m.Type == events.ContainerEventType {
				fn(Event{ID: m.Actor.ID, Action: string(m.Action), TimeNano: m.TimeNano})
			}
		case err := <-errs:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err == nil {
				err = io.EOF
			}
			return fmt.Errorf("docker events: %w", err)
		}
	}
}

// ListContainers returns the ids of all containers, stopped ones included.
func (c *Client) ListContainers(ctx context.Context) ([]string, error) {
	list, err := c.cli.ContainerList(ctx, dcontainer.ListOptions{All: true})
	if err != nil {
		return nil, fmt.Errorf("docker list: %w", err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// Inspect returns the fields of GET /containers/{id}/json we use.
func (c *Client) Inspect(ctx context.Context, id string) (*logs.ContainerInfo, error) {
	v, err := c.cli.ContainerInspect(ctx, id)
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, ErrNotFound{err.Error()})
	}
	if err != nil {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, err)
	}
	if v.ContainerJSONBase == nil || v.Config == nil || v.State == nil || v.HostConfig == nil {
		return nil, fmt.Errorf("docker inspect %.12s: incomplete answer", id)
	}
	created, err := time.Parse(time.RFC3339Nano, v.Created)
	if err != nil {
		return nil, fmt.Errorf("docker inspect %.12s: Created: %w", id, err)
	}
	return &logs.ContainerInfo{
		ID: v.ID, Name: v.Name, Image: v.Config.Image, Hostname: v.Config.Hostname,
		Env: v.Config.Env, Labels: v.Config.Labels, Tty: v.Config.Tty,
		LogDriver: v.HostConfig.LogConfig.Type, Running: v.State.Running,
		Created: created, Pid: v.State.Pid,
	}, nil
}

// Logs opens a container's log stream with timestamps, both streams, every
// retained line since o.Since (tail=all: tail=0 would ignore since). The
// client sends Since as "seconds.nanoseconds", keeping the nanoseconds a
// resume point needs.
func (c *Client) Logs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error) {
	tail := o.Tail
	if tail == "" {
		tail = "all"
	}
	opts := dcontainer.LogsOptions{ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: o.Follow, Tail: tail}
	if !o.Since.IsZero() {
		opts.Since = o.Since.UTC().Format(time.RFC3339Nano)
	}
	rc, err := c.cli.ContainerLogs(ctx, id, opts)
	if err != nil {
		return nil, fmt.Errorf("docker logs %.12s: %w", id, err)
	}
	return &lingerReader{rc: rc}, nil
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
