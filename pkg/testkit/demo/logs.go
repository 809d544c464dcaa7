package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"
)

// The app's start-up stack trace, as scripts/demo/app prints it: a first
// line, then indented frames (logspout's default MULTILINE_PATTERN ^\s).
const (
	traceFirst = "ERROR feature flags not loaded"
	traceFrame = "\tat main.main ("
	traceCause = "\tcaused by: "
)

// event is what both sinks receive per log event (logstash JSON, beats).
type event struct {
	Message string `json:"message"`
	Stream  string `json:"stream"`
}

// traceEvents returns the events holding any line of the stack trace.
func traceEvents(lines [][]byte) []event {
	var out []event
	for _, l := range lines {
		var e event
		if json.Unmarshal(l, &e) != nil {
			continue
		}
		if strings.Contains(e.Message, traceFirst) || strings.Contains(e.Message, "\tat ") || strings.Contains(e.Message, traceCause) {
			out = append(out, e)
		}
	}
	return out
}

// traceWhole reports whether events are the trace as one event.
func traceWhole(evs []event) bool {
	return len(evs) == 1 && strings.HasPrefix(evs[0].Message, traceFirst) &&
		strings.Contains(evs[0].Message, traceFrame) && strings.Contains(evs[0].Message, traceCause)
}

// traceArrived: the whole trace reached both sinks as one event each.
func (r *run) traceArrived() bool {
	return traceWhole(traceEvents(r.sandbox.json.Lines())) && traceWhole(traceEvents(r.sandbox.beats.Lines()))
}

// reportTrace shows how the stack trace arrived and fails when a
// multiline+ route split it.
func (r *run) reportTrace() error {
	js, bs := traceEvents(r.sandbox.json.Lines()), traceEvents(r.sandbox.beats.Lines())
	fmt.Fprintf(r.out, "\n[ELK] the app's start-up stack trace (multiline+ routes): %d event(s) at the Logstash JSON sink, %d at the lumberjack sink\n",
		len(js), len(bs))
	if len(js) > 0 {
		fmt.Fprintf(r.out, "  stream %s, message:\n", js[0].Stream)
		for _, l := range strings.Split(js[0].Message, "\n") {
			fmt.Fprintf(r.out, "  │ %s\n", strings.ReplaceAll(l, "\t", "    "))
		}
	}
	if len(js) == 0 || len(bs) == 0 {
		return errors.New("logs: the app's stack trace did not reach both sinks")
	}
	if !traceWhole(js) || !traceWhole(bs) {
		return fmt.Errorf("logs: the multiline+ routes split the stack trace: %d events at the JSON sink, %d at the lumberjack sink, want 1 whole trace each", len(js), len(bs))
	}
	return nil
}

// reportSource shows which source logspout-route read the app's container
// from, and fails unless it is the container's json-file log on disk.
func (r *run) reportSource(ctx context.Context, appID string) error {
	rc, err := r.docker.cli.ContainerLogs(ctx, r.logspoutID, container.LogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return fmt.Errorf("logs: logspout-route's own log: %w", err)
	}
	defer rc.Close()
	var b bytes.Buffer
	if _, err := stdcopy.StdCopy(&b, &b, rc); err != nil {
		return fmt.Errorf("logs: logspout-route's own log: %w", err)
	}
	for _, l := range strings.Split(b.String(), "\n") {
		if strings.Contains(l, "reading container") && strings.Contains(l, appID[:12]) {
			fmt.Fprintf(r.out, "\n[logspout-route] %s\n", strings.TrimSpace(l))
			if !strings.Contains(l, "source=json-file") {
				return errors.New("logs: logspout-route did not read the app from its json-file log")
			}
			return nil
		}
	}
	return fmt.Errorf("logs: logspout-route never said how it reads container %.12s", appID)
}
