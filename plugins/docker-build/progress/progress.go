// Package progress prints BuildKit solve status the way `docker buildx
// --progress=plain` does (BuildKit's own progressui printer: `#5 [2/3] RUN
// ...`, `#5 CACHED`, `#5 DONE 0.3s`), or as BuildKit's raw JSON status
// lines, and decodes the Engine API's moby.buildkit.trace aux messages
// into that status.
package progress

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	controlapi "github.com/moby/buildkit/api/services/control"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/util/progress/progressui"
)

// Mode selects the output.
type Mode string

const (
	// Plain is BuildKit's plain text printer.
	Plain Mode = "plain"
	// RawJSON is one JSON SolveStatus per line (progressui's rawjson).
	RawJSON Mode = "rawjson"
)

// TraceID is the aux id of BuildKit status in the Engine API's build stream.
const TraceID = "moby.buildkit.trace"

// Print writes every status read from ch to w (which should go through
// the run's redactor) until ch is closed, and returns the warnings BuildKit
// reported. It never writes to a terminal's control sequences: plain and
// raw JSON are both line oriented.
func Print(ctx context.Context, ch chan *client.SolveStatus, w io.Writer, mode Mode) ([]client.VertexWarning, error) {
	if mode == "" {
		mode = Plain
	}
	var pm progressui.DisplayMode
	switch mode {
	case Plain:
		pm = progressui.PlainMode
	case RawJSON:
		pm = progressui.RawJSONMode
	default:
		return nil, fmt.Errorf("progress mode %q: want %s or %s", mode, Plain, RawJSON)
	}
	d, err := progressui.NewDisplay(noConsole{w}, pm)
	if err != nil {
		return nil, fmt.Errorf("progress display: %w", err)
	}
	// Drain ch even when the display stops early, so the sender never blocks.
	ws, err := d.UpdateFrom(ctx, ch)
	go func() {
		for range ch { //nolint:revive // drain
		}
	}()
	if err != nil {
		return ws, fmt.Errorf("progress: %w", err)
	}
	return ws, nil
}

// noConsole hides a writer's file-ness so progressui never picks its tty
// display (and never reads the terminal size) for a CI log.
type noConsole struct{ w io.Writer }

func (n noConsole) Write(p []byte) (int, error) { return n.w.Write(p) }

// DecodeTrace turns the aux payload of a moby.buildkit.trace message (a
// JSON string holding a base64 protobuf controlapi.StatusResponse) into a
// SolveStatus.
func DecodeTrace(aux json.RawMessage) (*client.SolveStatus, error) {
	var dt []byte
	if err := json.Unmarshal(aux, &dt); err != nil {
		return nil, fmt.Errorf("buildkit trace: %w", err)
	}
	var resp controlapi.StatusResponse
	if err := resp.UnmarshalVT(dt); err != nil {
		return nil, fmt.Errorf("buildkit trace: %w", err)
	}
	return client.NewSolveStatus(&resp), nil
}
