package pump

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// Multiline is logspout's multiline adapter configuration (MULTILINE_*),
// shared by every multiline+ route. Lines are grouped per container and
// per stream: stdout and stderr never mix.
type Multiline struct {
	EnableDefault bool           // MULTILINE_ENABLE_DEFAULT (true)
	Pattern       *regexp.Regexp // MULTILINE_PATTERN (^\s)
	// MatchFirst: the pattern decides which line starts a group (first,
	// nonfirst); else which line ends one (last, nonlast).
	MatchFirst bool
	Negate     bool          // nonfirst, nonlast
	Separator  string        // MULTILINE_SEPARATOR ("\n")
	FlushAfter time.Duration // MULTILINE_FLUSH_AFTER: a group quiet that long is shipped (500 ms)
	MaxBytes   int           // a group is cut at this size (1 MiB)
	// OnCut is called when a group is cut at MaxBytes.
	OnCut func()
}

// ParseMultiline reads logspout's settings with its defaults and errors
// (setting names the one at fault). Empty strings take the defaults;
// flushAfterMS is in milliseconds.
func ParseMultiline(enableDefault, pattern, match, separator, flushAfterMS string, maxBytes int) (m *Multiline, setting string, err error) {
	m, err = parseMultiline(enableDefault, pattern, match, separator, flushAfterMS, maxBytes)
	if err == nil {
		return m, "", nil
	}
	for _, s := range []string{"ENABLE_DEFAULT", "PATTERN", "MATCH", "multiline_timeout", "FLUSH_AFTER"} {
		if strings.Contains(err.Error(), s) {
			if s == "multiline_timeout" {
				s = "FLUSH_AFTER"
			}
			return nil, "multiline_" + strings.ToLower(s), err
		}
	}
	return nil, "multiline_max_bytes", err
}

func parseMultiline(enableDefault, pattern, match, separator, flushAfterMS string, maxBytes int) (*Multiline, error) {
	m := &Multiline{EnableDefault: true, Separator: separator, FlushAfter: 500 * time.Millisecond, MaxBytes: maxBytes}
	if enableDefault != "" {
		b, err := strconv.ParseBool(enableDefault)
		if err != nil {
			return nil, errors.New("multiline: invalid value for MULTILINE_ENABLE_DEFAULT (must be true|false): " + enableDefault)
		}
		m.EnableDefault = b
	}
	if pattern == "" {
		pattern = `^\s`
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, errors.New("multiline: invalid value for MULTILINE_PATTERN (must be regexp): " + pattern)
	}
	m.Pattern = re
	if m.Separator == "" {
		m.Separator = "\n"
	}
	if match == "" {
		match = "nonfirst"
	}
	switch strings.ToLower(match) {
	case "first":
		m.MatchFirst = true
	case "last":
	case "nonfirst":
		m.MatchFirst, m.Negate = true, true
	case "nonlast":
		m.Negate = true
	default:
		return nil, errors.New("multiline: invalid value for MULTILINE_MATCH (must be one of first|last|nonfirst|nonlast): " + strings.ToLower(match))
	}
	if flushAfterMS != "" {
		ms, err := strconv.Atoi(flushAfterMS)
		if err != nil {
			return nil, errors.New("multiline: invalid value for multiline_timeout (must be number): " + flushAfterMS)
		}
		m.FlushAfter = time.Duration(ms) * time.Millisecond
	}
	if m.FlushAfter <= 0 {
		return nil, fmt.Errorf("multiline: MULTILINE_FLUSH_AFTER must be positive: %s", flushAfterMS)
	}
	if m.MaxBytes < 1 {
		return nil, fmt.Errorf("multiline: the group size cap must be positive: %d", maxBytes)
	}
	if m.OnCut == nil {
		m.OnCut = func() {}
	}
	return m, nil
}

func (m *Multiline) matches(line []byte) bool { return m.Pattern.Match(line) != m.Negate }

// enabled is logspout's per-container switch: LOGSPOUT_MULTILINE=true|false
// in the container's environment (or as a label), else the default.
func (m *Multiline) enabled(info *logs.ContainerInfo) bool {
	v, ok := info.EnvValue("LOGSPOUT_MULTILINE")
	if !ok {
		v, ok = info.Labels["LOGSPOUT_MULTILINE"]
	}
	if ok {
		switch strings.ToLower(v) {
		case "true":
			return true
		case "false":
			return false
		}
	}
	return m.EnableDefault
}

// group is one stream's multiline group being gathered.
type group struct {
	open   bool
	first  logs.Pos // its first line
	before logs.Pos // where a reader sees the first line again (with its file offset)
	last   logs.Pos // its last line so far
	timeNS int64    // its first line's time
	data   []byte
	// Quiet is judged per stream: a busy stdout must not keep stderr's
	// last group (a stack trace) from being flushed.
	appends uint64 // lines gathered on this stream
	seen    uint64 // appends at the last tick
	quiet   int    // ticks without a line on this stream
}

// grouper gathers one reader's lines into groups for its multiline routes.
// A timer ships a group that stayed quiet for FlushAfter; the reader and
// the timer take mu in turn.
type grouper struct {
	m      *Multiline
	d      *dispatcher
	mu     sync.Mutex
	groups [3]group
	timer  *time.Timer
	line   logs.Line
}

// add gathers a line (at p, read at ns, right after prev) of stream s.
func (g *grouper) add(ctx context.Context, s byte, prev, p logs.Pos, ns int64, data []byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	gr := &g.groups[s]
	match := g.m.matches(data)
	if g.m.MatchFirst && match && gr.open {
		g.ship(ctx, s, true)
	}
	switch {
	case !gr.open:
		g.start(ctx, s, prev, p, ns, data)
	case len(gr.data)+len(g.m.Separator)+len(data) > g.m.MaxBytes:
		g.m.OnCut()
		g.ship(ctx, s, true)
		g.start(ctx, s, prev, p, ns, data)
	default:
		gr.data = append(append(gr.data, g.m.Separator...), data...)
		gr.last = p
	}
	g.groups[s].appends++
	if !g.m.MatchFirst && match {
		g.ship(ctx, s, true)
	}
}

func (g *grouper) start(ctx context.Context, s byte, prev, p logs.Pos, ns int64, data []byte) {
	gr := &g.groups[s]
	gr.open, gr.first, gr.last, gr.timeNS = true, p, p, ns
	// Before the first line: the line read just before it (its file offset
	// is where the first line starts), or, at the start of a read, the
	// count one lower.
	gr.before = prev
	if prev == (logs.Pos{}) {
		gr.before = logs.Before(p)
	}
	if len(data) > g.m.MaxBytes {
		data = data[:g.m.MaxBytes]
		g.m.OnCut()
	}
	gr.data = append(gr.data[:0], data...)
	if cap(gr.data) > 4*g.m.MaxBytes {
		gr.data = append([]byte(nil), gr.data...)
	}
	g.d.r.c.Hold(s, gr.before)
	if g.timer == nil {
		g.timer = time.AfterFunc(g.m.FlushAfter/2, func() { g.tick(ctx) })
	}
}

// ship queues stream s's open group on the multiline routes.
func (g *grouper) ship(ctx context.Context, s byte, mayDetach bool) {
	gr := &g.groups[s]
	if !gr.open {
		return
	}
	g.line = logs.Line{Pos: gr.last, TimeNS: gr.timeNS, Stream: s, Data: gr.data}
	before := gr.before
	g.d.grouped = g.d.pushAll(ctx, g.d.grouped, &g.line, &before, mayDetach)
	gr.open = false
	g.d.r.c.Release(s)
}

// tick ships the groups that stayed quiet for FlushAfter: two ticks, half
// of it apart, without a new line on their stream.
func (g *grouper) tick(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.groups {
		gr := &g.groups[s]
		if gr.appends == gr.seen {
			gr.quiet++
		} else {
			gr.seen, gr.quiet = gr.appends, 0
		}
		if gr.quiet >= 2 && gr.open {
			g.ship(ctx, byte(s), false)
			gr.quiet = 0
		}
	}
	for s := range g.groups {
		if g.groups[s].open {
			if g.timer == nil {
				g.timer = time.AfterFunc(g.m.FlushAfter/2, func() { g.tick(ctx) })
			} else {
				g.timer.Reset(g.m.FlushAfter / 2)
			}
			return
		}
	}
	g.timer = nil
}

// flush ships every open group (the stream ended) and stops the timer.
func (g *grouper) flush(ctx context.Context) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	for s := range g.groups {
		g.ship(ctx, byte(s), false)
	}
}
