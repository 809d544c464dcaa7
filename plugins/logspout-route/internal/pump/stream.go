package pump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
	"github.com/sirupsen/logrus"
)

// maxLine caps a reassembled line; beyond it the rest becomes a new line.
const maxLine = 1 << 20

// errRouteGone ends a lagging route's reader when the route was deleted.
var errRouteGone = errors.New("route deleted")

// stream reads one log stream of r's container from its read position (or
// only's). With follow false it also flushes a final line that has no '\n'.
func (p *Pump) stream(ctx context.Context, r *reader, follow bool, only logs.Target) error {
	c := r.c
	start := c.Position()
	skip := c.Skip()
	if only != nil {
		dp, ok := c.DetachedPosition(only)
		if !ok {
			return errRouteGone
		}
		start, skip = dp, logs.Both(dp)
	}
	src := p.source(r, only)
	if src == nil {
		return fmt.Errorf("no source reads container %s", short(c.ID))
	}
	o := logs.ReadOptions{Follow: follow}
	if only == nil {
		r.mu.Lock()
		o.Tail, r.tail = r.tail, 0
		r.mu.Unlock()
	}
	er, err := src.Open(ctx, c.Info, start, o)
	if err != nil {
		return err
	}
	file, _ := er.(logs.FileReader)
	if follow && p.cfg.InactivityTimeout > 0 && file == nil {
		// A daemon's follow can hang (moby#23913); a file reader cannot, and
		// its positions advance with every entry it returns, so it is not
		// cut by the watchdog.
		er = newWatchdog(er, p.cfg.InactivityTimeout)
	}
	defer er.Close()
	d := &dispatcher{p: p, r: r, skip: skip, only: only}
	if file != nil {
		d.file = file
		if file.Exact() {
			// Reading resumes right after start: count on from it (each
			// stream still skips what it delivered past start).
			d.last = start
		}
	}
	defer d.flush(ctx)
	return d.run(ctx, er, follow, c.Info.Tty)
}

// run reassembles entries into lines and emits them. Docker splits lines at
// 16 KiB; each piece is an entry with the same timestamp, only the last
// ending in '\n'. Pieces are joined per stream, keeping the first's time.
func (d *dispatcher) run(ctx context.Context, er logs.EntryReader, follow, tty bool) error {
	var j joiner
	for {
		if d.gone.Load() {
			return errRouteGone
		}
		stream, ns, data, err := er.Next()
		if errors.Is(err, io.EOF) {
			if !follow {
				// The last line of a stopped container may lack its '\n'.
				j.flush(func(ns int64, s byte, line []byte) { d.emit(ctx, ns, s, line) })
			}
			return nil
		}
		if err != nil {
			return err
		}
		if d.file != nil {
			d.filePos = d.file.Resume()
		}
		stream %= 3
		if tty {
			// A TTY's entries are what the terminal wrote at once: each one
			// is an entry of its own, with or without its "\r\n".
			d.emit(ctx, ns, stream, trimEOL(data))
			continue
		}
		if line, lineNS, ok := j.add(stream, ns, data); ok {
			d.emit(ctx, lineNS, stream, line)
			j.done(stream)
		}
	}
}

// joiner joins the daemon's 16 KiB pieces of a line, per stream.
type joiner struct {
	partial   [3][]byte
	partialNS [3]int64
	open      [3]bool // the line returned by add is the stream's partial
}

// add takes one entry of stream; ok: a line is complete (with the time of
// its first piece), valid until done(stream).
func (j *joiner) add(stream byte, ns int64, data []byte) (line []byte, lineNS int64, ok bool) {
	p := &j.partial[stream]
	if len(*p) == 0 {
		if l := len(data); l > 0 && data[l-1] == '\n' {
			return data[:l-1], ns, true
		}
		j.partialNS[stream] = ns
	}
	*p = append(*p, data...)
	l := len(*p)
	switch {
	case l == 0:
		return nil, 0, false // an empty entry
	case (*p)[l-1] == '\n':
		j.open[stream] = true
		return (*p)[:l-1], j.partialNS[stream], true
	case l >= maxLine:
		j.open[stream] = true
		return *p, j.partialNS[stream], true
	}
	return nil, 0, false
}

// done ends the line add returned: a joined one's buffer is reused.
func (j *joiner) done(stream byte) {
	if j.open[stream] {
		j.partial[stream], j.open[stream] = j.partial[stream][:0], false
	}
}

// flush hands over each stream's unfinished line.
func (j *joiner) flush(emit func(ns int64, stream byte, line []byte)) {
	for s := range j.partial {
		if len(j.partial[s]) > 0 {
			emit(j.partialNS[s], byte(s), j.partial[s])
			j.partial[s] = j.partial[s][:0]
		}
	}
}

// trimEOL drops a TTY entry's "\n" or "\r\n".
func trimEOL(b []byte) []byte {
	if l := len(b); l > 0 && b[l-1] == '\n' {
		b = b[:l-1]
		if l := len(b); l > 0 && b[l-1] == '\r' {
			b = b[:l-1]
		}
	}
	return b
}

// dispatcher hands one stream's lines to the matching routes: every
// attached route (main reader) or one lagging route (only). Multiline
// routes get groups from its grouper instead of lines.
type dispatcher struct {
	p        *Pump
	r        *reader
	only     logs.Target
	skip     logs.Streams // per stream, lines up to here were delivered before: drop them
	last     logs.Pos
	version  uint64
	resolved bool
	gone     atomic.Bool // a lagging route was deleted (the flush timer may see it)
	plain    []target
	grouped  []target
	buf      []logs.Target
	line     logs.Line
	groups   *grouper
	// file: the reader knows each entry's file position (file source);
	// filePos is where to resume after the last entry read.
	file    logs.FileReader
	filePos logs.FilePos
	// retargeted: the routes fed changed (resolved, or one detached);
	// unneeded: the main reader feeds none, so its file reader does not
	// count what it lets go (see countLost).
	retargeted, unneeded bool
}

type target struct {
	t    logs.Target
	mask uint8
}

// emit counts a complete line, drops it when it was delivered before the
// resume point, and queues it on every matching route. A full queue blocks
// here: back-pressure on this container's reader.
func (d *dispatcher) emit(ctx context.Context, ns int64, stream byte, data []byte) {
	n := uint32(1)
	if ns == d.last.NS {
		n = d.last.N + 1
	}
	prev := d.last
	d.last = logs.Pos{NS: ns, N: n, File: d.filePos}
	// Docker's `since` keeps lines stamped exactly at since: skip the ones
	// already delivered, counted at that timestamp. Without this every
	// resume repeats the boundary line(s).
	if sk := d.skip[stream]; ns < sk.NS || (ns == sk.NS && n <= sk.N) {
		return
	}
	if v := d.p.router.Version(); v != d.version || !d.resolved {
		d.resolve()
		d.version, d.resolved = v, true
	}
	c := d.r.c
	d.line = logs.Line{Pos: d.last, TimeNS: ns, Stream: stream, Data: data}
	d.plain = d.pushAll(ctx, d.plain, &d.line, nil, true)
	if d.groups != nil {
		d.groups.add(ctx, stream, prev, d.last, ns, data)
	}
	if d.only != nil {
		c.DetachedRead(d.only, d.last)
	} else {
		c.Read(d.last)
	}
	if d.retargeted {
		d.retargeted = false
		d.countLost()
	}
}

// countLost has the main reader's file reader count the lines it lets go
// unread only while it feeds a route. Once every route has a reader of its
// own, those count what they miss, and the main reader counting too would
// count lines twice (or count lines that arrived).
func (d *dispatcher) countLost() {
	if d.file == nil || d.only != nil {
		return
	}
	n := len(d.plain)
	if d.groups != nil {
		d.groups.mu.Lock() // the timer ships groups
		n += len(d.grouped)
		d.groups.mu.Unlock()
	}
	if unneeded := n == 0; unneeded != d.unneeded {
		d.unneeded = unneeded
		d.file.CountLost(!unneeded)
	}
}

// pushAll queues l on every target taking its stream and returns the
// targets left: one whose queue stayed full gets a reader of its own
// (mayDetach, main reader only) and is dropped from the list.
// before is where the event's first line follows (nil: the read position).
func (d *dispatcher) pushAll(ctx context.Context, ts []target, l *logs.Line, before *logs.Pos, mayDetach bool) []target {
	for i := 0; i < len(ts); i++ {
		t := ts[i]
		if t.mask&(1<<l.Stream) == 0 {
			continue
		}
		if !d.push(ctx, t.t, l, before, mayDetach) {
			ts = append(ts[:i], ts[i+1:]...)
			i--
		}
	}
	return ts
}

// push queues l on t; false when t got a reader of its own.
func (d *dispatcher) push(ctx context.Context, t logs.Target, l *logs.Line, before *logs.Pos, mayDetach bool) bool {
	c := d.r.c
	if before == nil {
		c.QueuedNext(t, l.Stream)
	} else {
		c.Queued(t, l.Stream, *before)
	}
	block := d.only != nil || !mayDetach
	res := t.Push(c, l, block)
	// A queue full for a moment is normal while history is read faster
	// than a sink takes it: wait a little before giving up on the route.
	if res == logs.QueueFull {
		for deadline := time.Now().Add(d.p.cfg.DetachAfter); res == logs.QueueFull && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			res = t.Push(c, l, false)
		}
	}
	switch res {
	case logs.Pushed:
		t.CountRead()
	case logs.QueueFull:
		// Only the main reader gets here: hand this line and the rest to a
		// reader of the route's own, from before any group being gathered.
		c.Unqueued(t, l.Stream)
		d.p.detach(ctx, d.r, t, c.SafePosition())
		d.retargeted = true
		return false
	case logs.QueueClosed:
		c.Unqueued(t, l.Stream) // route deleted meanwhile
		if d.only != nil {
			d.gone.Store(true)
		}
	}
	return true
}

// flush ships the groups still being gathered (the stream ended).
func (d *dispatcher) flush(ctx context.Context) {
	if d.groups != nil {
		d.groups.flush(ctx)
	}
}

// resolve picks the routes this reader feeds.
func (d *dispatcher) resolve() {
	c := d.r.c
	d.buf = d.p.router.Targets(c, d.buf[:0])
	ml := d.p.cfg.Multiline != nil && d.p.cfg.Multiline.enabled(c.Info)
	if d.groups != nil {
		d.groups.mu.Lock() // the timer reads grouped
		defer d.groups.mu.Unlock()
	}
	d.plain, d.grouped = d.plain[:0], d.grouped[:0]
	d.retargeted = true
	for _, t := range d.buf {
		if (d.only != nil && t != d.only) || (d.only == nil && c.IsDetached(t)) {
			continue
		}
		tt := target{t: t, mask: t.Sources()}
		if ml && t.Multiline() {
			d.grouped = append(d.grouped, tt)
		} else {
			d.plain = append(d.plain, tt)
		}
	}
	if len(d.grouped) > 0 && d.groups == nil {
		d.groups = &grouper{m: d.p.cfg.Multiline, d: d}
	}
	if d.only != nil && len(d.plain)+len(d.grouped) == 0 {
		d.gone.Store(true)
	}
}

// ReadOnce reads c's whole log from src once, without follow, into the
// routes (benchmarks and tools; the pump itself follows containers).
func ReadOnce(ctx context.Context, src logs.Source, rt Router, c *logs.Container) error {
	log := logrus.New()
	log.SetOutput(io.Discard)
	p := New(nil, log, rt, nil, logs.NewRegistry(), Config{Sources: []logs.Source{src}})
	return p.stream(ctx, &reader{c: c}, false, nil)
}
