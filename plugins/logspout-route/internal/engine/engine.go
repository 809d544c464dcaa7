// Package engine is the daemon boundary: the few Engine API calls
// logspout-route makes (events, list, inspect, logs) through a small client
// of our own (client.go says why), the frame decoder of the multiplexed log
// stream, and Source, which reads any container's log through the API. The
// raw multiplexed stream goes to our own frame decoder (frame.go): we must
// account for every byte, and stdcopy silently drops a frame cut short at
// EOF.
package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

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

// IsUnreadable reports the daemon's refusal to read a container's log back
// ("configured logging driver does not support reading", 501: log driver
// none, or a driver without dual logging).
func IsUnreadable(err error) bool {
	return err != nil && (statusOf(err) == http.StatusNotImplemented || strings.Contains(err.Error(), "does not support reading"))
}

// ErrNotFound is a 404 from the daemon: the container is gone.
type ErrNotFound struct{ msg string }

func (e ErrNotFound) Error() string { return e.msg }

// apiTime is t as the Engine API's since parameters take it:
// "seconds.nanoseconds", so a resume point's nanoseconds reach the daemon.
func apiTime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// eventFilters are the events the pump follows, in the API's filter JSON.
const eventFilters = `{"type":{"container":true},"event":{"start":true,"die":true,"destroy":true}}`

// Events streams container start, die and destroy events from since until
// ctx ends or the stream breaks. ready is called once the daemon has
// answered the subscription (dockerd sends its headers at once), before
// any event. fn is called synchronously: a slow fn slows the read, it never
// drops an event on our side. An error ends the stream: the caller
// subscribes again.
func (c *Client) Events(ctx context.Context, since time.Time, ready func(), fn func(Event)) error {
	q := url.Values{"filters": {eventFilters}}
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
			fn(Event{ID: m.Actor.ID, Action: m.Action, TimeNano: m.TimeNano})
		}
	}
}

// ListContainers returns the ids of all containers, stopped ones included.
func (c *Client) ListContainers(ctx context.Context) ([]string, error) {
	var list []struct {
		ID string `json:"Id"`
	}
	if err := c.getJSON(ctx, "/containers/json", url.Values{"all": {"1"}}, &list); err != nil {
		return nil, fmt.Errorf("docker list: %w", err)
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	return ids, nil
}

// inspectAnswer is the part of GET /containers/{id}/json we use.
type inspectAnswer struct {
	ID      string `json:"Id"`
	Name    string
	Created string
	Config  *struct {
		Image, Hostname string
		Env             []string
		Labels          map[string]string
		Tty             bool
	}
	State *struct {
		Running bool
		Pid     int
	}
	HostConfig *struct {
		LogConfig struct{ Type string }
	}
}

// Inspect returns the fields of GET /containers/{id}/json we use.
func (c *Client) Inspect(ctx context.Context, id string) (*logs.ContainerInfo, error) {
	var v inspectAnswer
	err := c.getJSON(ctx, "/containers/"+url.PathEscape(id)+"/json", nil, &v)
	if statusOf(err) == http.StatusNotFound {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, ErrNotFound{err.Error()})
	}
	if err != nil {
		return nil, fmt.Errorf("docker inspect %.12s: %w", id, err)
	}
	if v.Config == nil || v.State == nil || v.HostConfig == nil {
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
// stream is the raw one: multiplexed frames, or plain bytes for a TTY.
func (c *Client) Logs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error) {
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
