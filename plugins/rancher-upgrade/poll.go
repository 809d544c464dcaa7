package main

import (
	"context"
	"time"

	"github.com/lightship-ci/lightship/pkg/backoff"
	"github.com/lightship-ci/lightship/pkg/plugin"
	"github.com/lightship-ci/lightship/pkg/retry"
)

// poller reads one object (a v2-beta service, a v3 workload) while a
// rollout is waited for.
type poller[T any] struct {
	// get reads the object again.
	get func(ctx context.Context, cur T) (T, error)
	// status is the line printed when it changes.
	status func(T) string
	// done says whether the wait is over, or that it failed.
	done func(T) (bool, error)
}

// waitFor polls, one read per poll interval, printing a line per status
// change, until done says so or fails, or deadline passes. A failed read
// that may pass (pkg/retry's rule; httpx already repeated it) is tried
// again at the next poll.
func waitFor[T any](ctx context.Context, j *job, env *plugin.Env, ref, what string, deadline time.Time, cur T, p poller[T]) (T, error) {
	start := time.Now()
	last := p.status(cur)
	for {
		if done, err := p.done(cur); done || err != nil {
			return cur, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return cur, &errTimeout{what: what, after: j.rolloutTimeout, last: p.status(cur)}
		}
		if err := backoff.Sleep(ctx, min(j.poll, left)); err != nil {
			return cur, err
		}
		next, err := p.get(ctx, cur)
		if err != nil {
			if ctx.Err() != nil || !retry.Transient(err) {
				return cur, err
			}
			env.Log.Warnf("%s: poll failed, trying again: %v", ref, err)
			continue
		}
		cur = next
		if st := p.status(cur); st != last {
			env.Report("progress").Printf("  %s: %s [%.1fs]\n", ref, st, time.Since(start).Seconds())
			last = st
		}
	}
}
