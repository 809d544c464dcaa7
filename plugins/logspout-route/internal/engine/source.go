package engine

import (
	"context"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// LogsAPI is the one daemon call Source needs (Client has it; tests fake it).
type LogsAPI interface {
	Logs(ctx context.Context, id string, o LogsOptions) (io.ReadCloser, error)
}

// DefaultTailSteps are the windows tried before tail=all when resuming.
func DefaultTailSteps() []string { return []string{"16384", "262144"} }

// Source reads a container's log through the Engine API: every log driver
// the daemon can read back (json-file, local, journald, any with dual
// logging). It implements logs.Source.
type Source struct {
	API LogsAPI
	// TailSteps are the tail windows tried, in order, before tail=all when
	// resuming (DefaultTailSteps).
	TailSteps []string
}

// Name is how the log names this source.
func (s *Source) Name() string { return "engine-api" }

// Accepts takes every container: the daemon says no itself.
func (s *Source) Accepts(*logs.ContainerInfo) bool { return true }

// Open reads info's log from start (see logs.Source).
//
// With tail=all dockerd decodes the whole retained log to filter by since
// (3 s per 1M lines), on every re-attach. Open tries reading only the last
// entries, from a second before the resume point, and accepts the result
// when its first line is older than the resume point: then the window
// holds every line stamped at the resume point, which the skip count needs
// (a window starting between two lines of the same nanosecond would skip
// one too many). Otherwise it asks for more. Nothing is returned before
// that check.
func (s *Source) Open(ctx context.Context, info *logs.ContainerInfo, start logs.Pos, o logs.ReadOptions) (logs.EntryReader, error) {
	follow := o.Follow
	var since time.Time
	if start.NS > 0 {
		since = time.Unix(0, start.NS)
	}
	tails := []string{"all"}
	switch {
	case o.Tail > 0:
		since, tails = time.Time{}, []string{strconv.Itoa(o.Tail)}
	case start.NS > 0 && start.N > 0:
		tails = append(append([]string{}, s.TailSteps...), "all")
	}
	for i, tail := range tails {
		from := since
		if i < len(tails)-1 {
			from = since.Add(-time.Second)
		}
		rc, err := s.API.Logs(ctx, info.ID, LogsOptions{Follow: follow, Since: from, Tail: tail})
		if err != nil {
			return nil, err
		}
		r := &reader{rc: rc}
		if info.Tty {
			r.next = newTTYReader(rc).Next
		} else {
			r.next = newFrameReader(rc).Next
		}
		if i == len(tails)-1 {
			return r, nil
		}
		ok, err := r.peekBefore(start.NS)
		if err != nil {
			rc.Close()
			return nil, err
		}
		if ok {
			return r, nil
		}
		rc.Close() // the window began after our position: read further back
	}
	panic("unreachable: the last tail is all")
}

// reader is an EntryReader over a frame or TTY decoder, with one entry
// that may wait from the window check.
type reader struct {
	rc     io.ReadCloser
	next   func() (byte, []byte, error)
	peeked bool
	pErr   error // io.EOF peeked: the window is empty
	pS     byte
	pNS    int64
	pData  []byte
}

// peekBefore reads the first entry and reports whether the window starts
// before ns (or is empty: nothing after since among the last entries means
// nothing new at all).
func (r *reader) peekBefore(ns int64) (bool, error) {
	s, ens, data, err := r.Next()
	if errors.Is(err, io.EOF) {
		r.peeked, r.pErr = true, io.EOF
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if ens < ns {
		r.peeked, r.pS, r.pNS, r.pData = true, s, ens, append([]byte(nil), data...)
		return true, nil
	}
	return false, nil
}

// Next implements logs.EntryReader.
func (r *reader) Next() (stream byte, ns int64, data []byte, err error) {
	if r.peeked {
		r.peeked = false
		if r.pErr != nil {
			return 0, 0, nil, r.pErr
		}
		return r.pS, r.pNS, r.pData, nil
	}
	for {
		stream, payload, err := r.next()
		if err != nil {
			return 0, 0, nil, err
		}
		if stream != logs.StreamStdout && stream != logs.StreamStderr {
			continue
		}
		ns, _, data, err := logs.SplitTimestamp(payload)
		if err != nil {
			return 0, 0, nil, err
		}
		return stream, ns, data, nil
	}
}

func (r *reader) Close() error { return r.rc.Close() }
