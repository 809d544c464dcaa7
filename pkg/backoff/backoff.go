// Package backoff is the one way Lightship waits between attempts: an
// exponential delay with jitter, and a sleep that ends with its context.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Exponential returns the wait before retry number attempt (0 for the
// first retry): base doubled per attempt, capped at max, then jittered to a
// random point in its upper half so that clients retrying together spread out.
func Exponential(base, max time.Duration, attempt int) time.Duration {
	d := max
	if attempt < 62 {
		if v := base << attempt; v > 0 && v < max {
			d = v
		}
	}
	return d/2 + rand.N(d/2+1)
}

// Sleep waits d, or until ctx ends, and then returns ctx's error.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
