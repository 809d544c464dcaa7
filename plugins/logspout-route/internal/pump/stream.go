package pump

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	if only != nil {
		dp, ok := c.DetachedPosition(only)
		if !ok {
			return errRouteGone
		}
		start = dp
	}
	src := p.source(c.Info)
	if src == nil {
		return fmt.Errorf("no source reads container %s", short(c.ID))
	}
	er, err := src.Open(ctx, c.Info, start, follow)
	if err != nil {
		return err
	}
	defer er.Close()
	d := dispatcher{p: p, r: r, skip: start, only: only}
	return d.run(ctx, er, follow, c.Info.Tty)
}

// run reassembles entries into lines and emits them. Docker splits lines at
// 16 KiB; each piece is an entry with the same timestamp, only the last
// ending in '\n'. Pieces are joined per stream, keeping the first's time.
func (d *dispatcher) run(ctx context.Context, er logs.EntryReader, follow, tty bool) error {
	var partial [3][]byte
	var partialNS [3]int64
	for {
		if d.gone {
			return errRouteGone
		}
		stream, ns, data, err := er.Next()
		if errors.Is(err, io.EOF) {
			if !follow {
				// The last line of a stopped container may lack its '\n'.
				for s := range partial {
					if len(partial[s]) > 0 {
						d.emit(ctx, partialNS[s], byte(s), partial[s])
						partial[s] = partial[s][:0]
					}
				}
			}
			return nil
		}
		if err != nil {
			return err
		}
		stream %= 3
		if len(partial[stream]) > 0 {
			partial[stream] = append(partial[stream], data...)
			if l := len(partial[stream]); partial[stream][l-1] == '\n' {
				d.emit(ctx, partialNS[stream], stream, partial[stream][:l-1])
				partial[stream] = partial[stream][:0]
			} else if l >= maxLine {
				d.emit(ctx, partialNS[stream], stream, partial[stream])
				partial[stream] = partial[stream][:0]
			}
			continue
		}
		if l := len(data); l > 0 && data[l-1] == '\n' {
			l--
			if tty && l > 0 && data[l-1] == '\r' {
				l-- // a TTY ends its lines in "\r\n"
			}
			d.emit(ctx, ns, stream, data[:l])
			continue
		}
		partial[stream] = append(partial[stream], data...)
		partialNS[stream] = ns
	}
}

// dispatcher hands one stream's lines to the matching routes: every
// attached route (main reader) or one lagging route (only).
type dispatcher struct {
	p        *Pump
	r        *reader
	only     logs.Target
	skip     logs.Pos // lines up to here were delivered before: drop them
	last     logs.Pos
	version  uint64
	resolved bool
	gone     bool
	targets  []target
	buf      []logs.Target
	line     logs.Line
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
	d.last = logs.Pos{NS: ns, N: n}
	// Docker's `since` keeps lines stamped exactly at since: skip the ones
	// already delivered, counted at that timestamp. Without this every
	// resume repeats the boundary line(s).
	if ns < d.skip.NS || (ns == d.skip.NS && n <= d.skip.N) {
		return
	}
	if v := d.p.router.Version(); v != d.version || !d.resolved {
		d.resolve()
		d.version, d.resolved = v, true
	}
	d.line = logs.Line{Pos: d.last, TimeNS: ns, Stream: stream, Data: data}
	c := d.r.c
	for i := 0; i < len(d.targets); i++ {
		t := d.targets[i]
		if t.mask&(1<<stream) == 0 {
			continue
		}
		if !d.push(ctx, t.t) {
			d.targets = append(d.targets[:i], d.targets[i+1:]...)
			i--
		}
	}
	if d.only != nil {
		c.DetachedRead(d.only, d.last)
	} else {
		c.Read(d.last)
	}
}

// push queues the current line on t; false when t got a reader of its own.
func (d *dispatcher) push(ctx context.Context, t logs.Target) bool {
	c := d.r.c
	c.Queued(t)
	res := t.Push(c, &d.line, d.only != nil)
	// A queue full for a moment is normal while history is read faster
	// than a sink takes it: wait a little before giving up on the route.
	if res == logs.QueueFull {
		for deadline := time.Now().Add(d.p.cfg.DetachAfter); res == logs.QueueFull && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
			res = t.Push(c, &d.line, false)
		}
	}
	switch res {
	case logs.Pushed:
		t.CountRead()
	case logs.QueueFull:
		// Only the main reader gets here: hand this line and the rest to a
		// reader of the route's own.
		c.Unqueued(t)
		d.p.detach(ctx, d.r, t, c.Position())
		return false
	case logs.QueueClosed:
		c.Unqueued(t) // route deleted meanwhile
		if d.only != nil {
			d.gone = true
		}
	}
	return true
}

// resolve picks the routes this reader feeds.
func (d *dispatcher) resolve() {
	c := d.r.c
	d.buf = d.p.router.Targets(c, d.buf[:0])
	d.targets = d.targets[:0]
	for _, t := range d.buf {
		switch {
		case d.only != nil && t == d.only:
			d.targets = append(d.targets, target{t: t, mask: t.Sources()})
		case d.only == nil && !c.IsDetached(t):
			d.targets = append(d.targets, target{t: t, mask: t.Sources()})
		}
	}
	if d.only != nil && len(d.targets) == 0 {
		d.gone = true
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
